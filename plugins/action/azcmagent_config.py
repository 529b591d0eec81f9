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

from ansible.plugins.action import ActionBase

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _profiles as profiles
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._converge import converge
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._options import CONFIG_SPEC
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._planner import PlanError
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._runner import AgentError, Runner, not_strings
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._secrets import scrub


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = True
    _supports_check_mode = True
    _supports_async = False

    ARGUMENT_SPEC = CONFIG_SPEC
    PROFILE_OPTIONS = profiles.PROFILE_OPTIONS

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        wrong = not_strings(self._task.args, self.ARGUMENT_SPEC)
        if wrong:
            result.update(failed=True, changed=False, msg=wrong)
            return result
        _validation, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)
        try:
            # the raw arguments say which options the task gave itself (a value equal to the default included)
            options = profiles.resolve(args, self.ARGUMENT_SPEC, given=self._task.args)
        except PlanError as exc:
            result.update(failed=True, changed=False, msg=str(exc))
            return result
        runner = Runner(self, executable=options.get("executable"), timeout=options["timeout"] or None)
        try:
            runner.check_path("executable", options.get("executable"))
            runner.check_path("extensions_path", options.get("extensions_path"))
        except AgentError as exc:
            result.update(failed=True, changed=False, msg=exc.msg)
            return result
        out = converge(runner, options, check_mode=bool(self._task.check_mode), diff=bool(self._task.diff))
        result.update(scrub(out, runner.secrets))
        return result
