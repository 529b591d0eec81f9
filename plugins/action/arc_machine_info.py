# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for arcguard.azcmagent.arc_machine_info: the Arc inventory plugin's query, as a task.

Runs on the controller only; no host is contacted.
"""

from __future__ import annotations

from ansible.utils.display import Display

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _arcmachine as arcmachine
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _azure as azure
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _extensions as extensions
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _naming as naming
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._action import AzureAction
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._options import MACHINE_INFO_SPEC
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._secrets import scrub

display = Display()


class ActionModule(AzureAction):

    ARGUMENT_SPEC = MACHINE_INFO_SPEC

    def act(self, args, task_vars):
        options, secret = self.azure_options(args)
        try:
            machines, warnings = azure.list_machines(options, log=display.vvv, extensions=True)
        except azure.AzureError as exc:
            return dict(failed=True, changed=False, msg=scrub(str(exc), [secret]), machines=[])
        names = naming.host_names(machines, rule=args["host_naming"])
        picked = [dict(m, host_name=names.host(m), extensions=[extensions.public(r) for r in m.get("extensions") or []])
                  for m in machines
                  if arcmachine.matches(m, args["include_statuses"], args["include_os"], args["tags"], args["names"])]
        result = dict(changed=False, machines=picked)
        warnings = [w for w in [azure.status_warning(args["include_statuses"])] if w] + warnings + names.warnings
        if warnings:
            result["warnings"] = [scrub(w, [secret]) for w in warnings]
        return result
