# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for arcguard.azcmagent.azcmagent_config: runs on the controller.

Validates the options, merges the profile (plugin_utils/_profiles.py), and hands over to the converge
engine (plugin_utils/_converge.py), which reads the agent's settings with one remote command, plans on
the controller, and applies every needed write (then reads back) with at most one more. The result is
scrubbed of every secret before it is returned.
"""

from __future__ import annotations

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _profiles as profiles
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._action import Action
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._converge import converge
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._options import CONFIG_SPEC
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._runner import not_strings
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._secrets import scrub


class ActionModule(Action):

    ARGUMENT_SPEC = CONFIG_SPEC
    PROFILE_OPTIONS = profiles.PROFILE_OPTIONS

    def refuse(self, task_args):
        return not_strings(task_args, self.ARGUMENT_SPEC)

    def act(self, args, task_vars):
        # the raw arguments say which options the task gave itself (a value equal to the default included)
        options = profiles.resolve(args, self.ARGUMENT_SPEC, given=self._task.args)
        runner = self.runner(options)
        out = converge(runner, options, check_mode=bool(self._task.check_mode), diff=bool(self._task.diff))
        return scrub(out, runner.secrets)
