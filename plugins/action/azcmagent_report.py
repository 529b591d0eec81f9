# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for arcguard.azcmagent.azcmagent_report: the audit's verdicts and reports, on the controller.

One action judges every host: each host's variables are read once, the Arc machines listed once (or taken
from ``azure_machines``), and the reports written; the work is in ``plugin_utils/_audit.py``.
"""

from __future__ import annotations

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _audit as audit
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._action import Action


class ActionModule(Action):

    _requires_connection = False

    ARGUMENT_SPEC = audit.REPORT_SPEC

    def act(self, args, task_vars):
        everyone = list((task_vars.get("groups") or {}).get("all") or [])
        with audit.no_cycle_collection():
            try:
                built, warnings = audit.judge(args, task_vars.get("hostvars") or {}, everyone)
            except audit.AuditError as exc:
                return dict(failed=True, changed=False, msg=str(exc))
            return audit.result(built, audit.write(built, args["dest"], args["formats"]), warnings)
