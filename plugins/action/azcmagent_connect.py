# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for arcguard.azcmagent.azcmagent_connect: one `show --json` read decides, one command acts.

The engine (plugin_utils/_onboard.py) reads, decides (plugin_utils/_connect.py), runs and reads back; the
result is scrubbed of the credentials before it is returned.
"""

from __future__ import annotations

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _connect as connect
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._action import Action
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._onboard import onboard
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._secrets import scrub


class ActionModule(Action):

    ARGUMENT_SPEC = connect.ARGUMENT_SPEC

    def act(self, args, task_vars):
        runner = self.runner(args, paths=())
        runner.stdin_fallback = runner.family != "powershell"  # POSIX: the --config file can be copied instead
        runner.secrets.extend(connect.secret_values(args))
        outcome = onboard(runner, args, check_mode=bool(self._play_context.check_mode), diff=bool(self._task.diff))
        return scrub(outcome, runner.secrets)
