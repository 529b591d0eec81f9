# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for arcguard.azcmagent.arc_extension_cleanup: delete from Azure the extension resources that the
machines' lockdown refuses.

Runs on the controller only; no host is contacted.
"""

from __future__ import annotations

from ansible.utils.display import Display

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _azure as azure
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _extcleanup as extcleanup
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._action import AzureAction
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._options import EXTENSION_CLEANUP_SPEC
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._secrets import scrub

display = Display()


class ActionModule(AzureAction):

    ARGUMENT_SPEC = EXTENSION_CLEANUP_SPEC

    def refuse(self, task_args):
        classes = task_args.get("classifications")
        if isinstance(classes, list):
            message = extcleanup.check_args({"classifications": classes, "machines": []})
            if message:
                return message
        return super().refuse(task_args)

    def act(self, args, task_vars):
        options, secret = self.azure_options(args)
        message = extcleanup.check_args(args)
        if message:
            return dict(failed=True, changed=False, msg=message, deleted=[])
        try:
            result = extcleanup.cleanup(options, args, self._task.check_mode, self._task.diff, log=display.vvv)
        except (azure.AzureError, extcleanup.CleanupError) as exc:
            return dict(failed=True, changed=False, msg=scrub(str(exc), [secret]), deleted=[])
        warnings = [w for w in [azure.status_warning(args["include_statuses"])] if w] + result.pop("warnings", [])
        if warnings:
            result["warnings"] = warnings
        return scrub(result, [secret])
