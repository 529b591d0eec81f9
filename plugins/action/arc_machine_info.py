# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for arcguard.azcmagent.arc_machine_info: the Arc inventory plugin's query, as a task.

Runs on the controller only; no host is contacted.
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _arcmachine as arcmachine
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _azure as azure

display = Display()


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _supports_async = False

    ARGUMENT_SPEC = dict(
        subscriptions=dict(type="list", elements="str", default=[]),
        management_groups=dict(type="list", elements="str", default=[]),
        auth_source=dict(type="str", choices=list(azure.AUTH_SOURCES)),
        client_id=dict(type="str"),
        secret=dict(type="str", no_log=True),
        tenant=dict(type="str"),
        cloud=dict(type="str", choices=list(azure.CLOUDS)),
        arm_endpoint=dict(type="str"),
        authority_host=dict(type="str"),
        include_statuses=dict(type="list", elements="str", default=[]),
        include_os=dict(type="list", elements="str", choices=["linux", "windows"], default=[]),
        tags=dict(type="dict", default={}),
        names=dict(type="list", elements="str", default=[]),
    )

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        _validation, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)
        options = azure.with_environment({k: args.get(k) for k in azure.OPTION_NAMES})
        secret = options.get("secret") or ""
        try:
            machines, warnings = azure.list_machines(options, log=display.vvv)
        except azure.AzureError as exc:
            result.update(failed=True, changed=False, msg=_scrub(str(exc), secret), machines=[])
            return result
        picked = [m for m in machines if arcmachine.matches(m, args["include_statuses"], args["include_os"],
                                                            args["tags"], args["names"])]
        result.update(changed=False, machines=picked)
        if warnings:
            result["warnings"] = [_scrub(w, secret) for w in warnings]
        return result


def _scrub(text, secret):
    return text.replace(secret, "********") if secret else text
