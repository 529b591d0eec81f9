# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for arcguard.azcmagent.azcmagent_report: writes the audit reports on the controller."""

from __future__ import annotations

import os

from ansible.plugins.action import ActionBase

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _report as report


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _supports_async = False

    ARGUMENT_SPEC = dict(
        dest=dict(type="path", required=True),
        hosts=dict(type="list", elements="str", required=True),
        profile=dict(type="str"),
        info_var=dict(type="str", default="azcmagent_audit_info"),
        check_var=dict(type="str", default="lockdown_result"),
        profile_var=dict(type="str", default="lockdown_profile"),
        formats=dict(type="list", elements="str", default=["json", "xml", "html"], choices=["json", "xml", "html"]),
    )

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        _validation, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)
        hostvars = (task_vars or {}).get("hostvars", {})
        hosts = {}
        for name in args["hosts"]:
            try:
                host = hostvars[name]
            except KeyError:
                host = {}
            hosts[name] = (host.get(args["profile_var"]) if hasattr(host, "get") else None,
                           host.get(args["info_var"]) if hasattr(host, "get") else None,
                           host.get(args["check_var"]) if hasattr(host, "get") else None)
        built = report.build(hosts, profile=args.get("profile"))
        dest = args["dest"]
        writers = {"json": ("report.json", report.to_json), "xml": ("report.xml", report.to_junit),
                   "html": ("report.html", report.to_html)}
        files = []
        os.makedirs(dest, exist_ok=True)
        for fmt in args["formats"]:
            filename, writer = writers[fmt]
            path = os.path.join(dest, filename)
            with open(path + ".tmp", "w", encoding="utf-8") as handle:
                handle.write(writer(built))
            os.replace(path + ".tmp", path)
            files.append(path)
        result.update(changed=False, summary=built["summary"], files=files,
                      drifted=sorted(n for n, e in built["hosts"].items() if not e["compliant"] and not e["error"]),
                      errors=sorted(n for n, e in built["hosts"].items() if e["error"]))
        return result
