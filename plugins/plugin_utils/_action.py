# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every action plugin of the collection shares: the flags, the argument check, the runner.

Internal to arcguard.azcmagent: not a public API, may change without notice.

An action plugin subclasses ``Action``, sets ``ARGUMENT_SPEC`` and implements ``act(args, task_vars)``, which
returns what goes into the task result (already scrubbed of secrets). ``run`` validates the arguments
first; ``refuse(task_args)`` may turn raw arguments down before that (azcmagent_config refuses a string
option given a list). The errors an action may raise (``PlanError``: bad options; ``AgentError``: the agent or
the target; ``OptionError``: azcmagent_connect's options) become a failed result here, once, scrubbed of the
secrets the task's runner has seen.
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._connect import OptionError
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._planner import PlanError
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._runner import AgentError, Runner
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._secrets import scrub


TIMEOUT_NEGATIVE = "timeout must be 0 (no limit) or more seconds"


class Action(ActionBase):
    """An action plugin of arcguard.azcmagent (targets a host unless ``_requires_connection`` is False)."""

    TRANSFERS_FILES = False
    _requires_connection = True
    _supports_check_mode = True
    _supports_async = False

    ARGUMENT_SPEC: dict = {}
    _arc_runner = None  # the task's Runner, once made: its secrets scrub an error result

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        refused = self.refuse(self._task.args)
        if refused:
            result.update(failed=True, changed=False, msg=refused)
            return result
        _validation, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)
        self._arc_runner = None
        try:
            result.update(self.act(args, task_vars or {}))
        except (PlanError, OptionError) as exc:
            result.update(failed=True, changed=False, msg=self._scrub(str(exc)))
        except AgentError as exc:
            details = dict(exc.details)
            changed = bool(details.pop("changed", False))
            result.update(self._scrub(dict(details, failed=True, changed=changed, msg=exc.msg)))
        return result

    def _scrub(self, value):
        return scrub(value, self._arc_runner.secrets if self._arc_runner is not None else ())

    def refuse(self, task_args):  # pylint: disable=unused-argument
        """A message refusing the raw task arguments before validation, or None."""
        return None

    def act(self, args, task_vars):
        """The task's result from the validated ``args``."""
        raise NotImplementedError

    def runner(self, options, paths=("executable", "extensions_path")):
        """A Runner for ``options`` (executable, timeout); refuses a negative timeout and the ``paths`` options the
        target would not find as given, before anything runs (raises AgentError)."""
        if options.get("timeout") is not None and options["timeout"] < 0:
            raise AgentError(TIMEOUT_NEGATIVE)
        runner = Runner(self, executable=options.get("executable"), timeout=options["timeout"] or None)
        self._arc_runner = runner
        for name in paths:
            runner.check_path(name, options.get(name))
        return runner


class AzureAction(Action):
    """An action plugin that only talks to Azure from the controller (arc_machine_info, arc_extension_cleanup):
    no host is contacted; ``tags`` must be a dictionary (or a string) before validation; ``azure_options``
    reads the sign-in and scope options, with the AZURE_* environment, and the secret to scrub."""

    _requires_connection = False

    def refuse(self, task_args):
        tags = task_args.get("tags")
        if tags is not None and not isinstance(tags, (dict, str)):
            return "tags must be a dictionary of tag names and values (null: the tag only has to exist), got %s" \
                % type(tags).__name__.replace("_AnsibleTagged", "").lower()
        return None

    @staticmethod
    def azure_options(args):
        """(the Azure options of ``args`` with the environment's, the secret among them or '')."""
        # pylint: disable=import-outside-toplevel
        from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _azure as azure
        options = azure.with_environment({k: args.get(k) for k in azure.OPTION_NAMES})
        return options, options.get("secret") or ""
