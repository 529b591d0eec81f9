# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for arcguard.azcmagent.azcmagent_info: reads everything in one remote command.

The read engine is plugin_utils/_inspect.py; the result is scrubbed of every secret before it is returned.
"""

from __future__ import annotations

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._action import Action
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._inspect import inspect
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._options import INFO_SPEC
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._secrets import scrub


class ActionModule(Action):

    ARGUMENT_SPEC = INFO_SPEC

    def act(self, args, task_vars):
        runner = self.runner(args)
        return scrub(inspect(runner, args.get("extensions_path")), runner.secrets)
