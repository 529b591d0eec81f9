# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for arcguard.azcmagent.azcmagent_report: writes the audit reports on the controller."""

from __future__ import annotations

import os

from ansible.errors import AnsibleActionFail
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _naming as naming
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _report as report
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._action import Action


class ActionModule(Action):

    _requires_connection = False

    ARGUMENT_SPEC = dict(
        dest=dict(type="path", required=True),
        hosts=dict(type="list", elements="str", required=True),
        profile=dict(type="str"),
        info_var=dict(type="str", default="azcmagent_audit_info"),
        check_var=dict(type="str", default="lockdown_result"),
        profile_var=dict(type="str", default="lockdown_profile"),
        formats=dict(type="list", elements="str", default=["json", "xml", "html"], choices=["json", "xml", "html"]),
        source=dict(type="str", choices=["host", "azure", "both"], default="host"),
        azure_machines=dict(type="list", elements="dict"),
        inventory_hosts=dict(type="list", elements="str"),
        profiles_var=dict(type="str", default="lockdown_profiles"),
        overrides_var=dict(type="str", default="lockdown_overrides"),
        resource_id_var=dict(type="str", default="arc_resource_id"),
    )

    def act(self, args, task_vars):
        result = {}
        hostvars = task_vars.get("hostvars", {})
        hosts = {name: tuple(_host_var(hostvars, name, args[var]) for var in ("profile_var", "info_var", "check_var"))
                 for name in args["hosts"]}
        azure = None
        if args["source"] != "host":
            azure = self._azure(args, hostvars, task_vars)
        built = report.build(hosts, profile=args.get("profile"), azure=azure)
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
        if azure:
            result["not_in_inventory"] = built["not_in_inventory"]
        result.update(changed=False, summary=built["summary"], files=files,
                      drifted=sorted(n for n, e in built["hosts"].items() if not e["compliant"] and not e["error"]),
                      errors=sorted(n for n, e in built["hosts"].items() if e["error"]))
        return result

    @staticmethod
    def _azure(args, hostvars, task_vars):
        """Which Arc machine each host is, the lockdown options to judge it by, the machines no host is."""
        if args.get("azure_machines") is None:
            raise AnsibleActionFail("source %s needs azure_machines (the machines of "
                                    "arcguard.azcmagent.arc_machine_info)" % args["source"])
        machines = args["azure_machines"]

        def host_var(name, var):
            return _host_var(hostvars, name, var)
        play = {name: host_var(name, args["resource_id_var"]) for name in args["hosts"]}
        everyone = args.get("inventory_hosts")
        if everyone is None:
            everyone = list((task_vars.get("groups") or {}).get("all") or args["hosts"])
        # one matching (plugin_utils/_naming): by resource ID, else by name; a shared name is ambiguous
        found = naming.match_hosts(play, machines,
                                   candidates={n: host_var(n, args["resource_id_var"]) for n in everyone})
        matched = {name: ({"ambiguous": found.ambiguity(name)} if name in found.ambiguous else machine)
                   for name, machine in found.machines.items()}
        rest = found.not_in_inventory
        options = {}
        for name in args["hosts"]:
            options[name] = {"profiles": host_var(name, args["profiles_var"]) or {},
                             "overrides": host_var(name, args["overrides_var"]) or None}
            if args.get("profile"):
                options[name]["profile"] = args["profile"]
            elif host_var(name, args["profile_var"]):
                options[name]["profile"] = host_var(name, args["profile_var"])
        return {"source": args["source"], "machines": matched, "options": options,
                "not_in_inventory": [found.naming.host(m) or m.get("name") for m in rest]}


def _host_var(hostvars, name, var):
    """A variable of an inventory host, None when the host or the variable is unknown."""
    # Ansible's hostvars answers an unknown name with an undefined value that fails when used: ask first
    if name not in hostvars:
        return None
    host = hostvars[name]
    return host.get(var) if hasattr(host, "get") else None
