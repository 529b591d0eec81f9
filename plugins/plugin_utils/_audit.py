# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit on the controller: azcmagent_report's options, each host's variables read once, the Arc machines
listed once and matched to hosts, the report built and written.

Internal to arcguard.azcmagent: not a public API, may change without notice.
"""

from __future__ import annotations

import os

import yaml

from ansible_collections.arcguard.azcmagent.plugins.doc_fragments import azure as azure_docs
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _arcmachine as arcmachine
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _azure as azure
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _naming as naming
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _report_model as model
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _report_render as render
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._options import spec_from_doc
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._secrets import scrub

REPORT_SPEC = dict(
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
    **spec_from_doc(yaml.safe_load(azure_docs.ModuleDocFragment.FILTERS)["options"]),
    **spec_from_doc(yaml.safe_load(azure_docs.ModuleDocFragment.DOCUMENTATION)["options"]),
)
REPORT_SPEC["secret"]["no_log"] = True
FILES = {"json": "report.json", "xml": "report.xml", "html": "report.html"}


class AuditError(Exception):
    """The audit cannot be judged (a missing option, Azure refused the listing); the message is scrubbed."""


def read_hosts(hostvars, names, variables):
    """{name: {variable: value}}: each host's ``variables`` read once (an unknown host or variable is None)."""
    out = {}
    for name in names:
        # Ansible's hostvars answers an unknown name with an undefined value that fails when used: ask first
        host = hostvars[name] if name in hostvars else None
        get = host.get if hasattr(host, "get") else (lambda _var: None)
        out[name] = {var: get(var) for var in variables}
    return out


def list_machines(args):
    """(machines, warnings) of the Azure options in ``args``, filtered as arc_machine_info filters them."""
    options = azure.with_environment({k: args.get(k) for k in azure.OPTION_NAMES})
    try:
        machines, warnings = azure.list_machines(options)
    except azure.AzureError as exc:
        raise AuditError(scrub(str(exc), [options.get("secret") or ""])) from None
    picked = [m for m in machines if arcmachine.matches(m, args.get("include_statuses"), args.get("include_os"),
                                                        args.get("tags"))]
    return picked, [scrub(w, [options.get("secret") or ""]) for w in warnings]


def judge(args, hostvars, all_hosts):
    """(Report, warnings) for the validated ``args`` with Ansible's ``hostvars``; ``all_hosts``: the names of every
    inventory host, whose resource IDs decide ``not_in_inventory``."""
    source = args["source"]
    keys = ("profile_var",) + (("info_var", "check_var") if source != "azure" else ()) + \
        (("profiles_var", "overrides_var", "resource_id_var") if source != "host" else ())
    names = list(dict.fromkeys(args["hosts"]))
    seen = read_hosts(hostvars, names, [args[k] for k in keys])

    def var(name, key):
        return seen[name].get(args[key]) if key in keys else None
    hosts = {n: (var(n, "profile_var"), var(n, "info_var"), var(n, "check_var")) for n in names}
    if source == "host":
        return model.build(hosts, profile=args.get("profile")), []
    warnings = []
    machines = args.get("azure_machines")
    if machines is None:
        machines, warnings = list_machines(args)
    play = {n: var(n, "resource_id_var") for n in names}
    others = [n for n in dict.fromkeys(args.get("inventory_hosts") or all_hosts or names) if n not in seen]
    everyone = dict(play)
    everyone.update((n, v[args["resource_id_var"]]) for n, v in read_hosts(hostvars, others,
                                                                           [args["resource_id_var"]]).items())
    found = naming.match_hosts(play, machines, candidates=everyone)
    options = {}
    for name in names:
        options[name] = {"profiles": var(name, "profiles_var") or {}, "overrides": var(name, "overrides_var") or None}
        if args.get("profile") or var(name, "profile_var"):
            options[name]["profile"] = args.get("profile") or var(name, "profile_var")
    built = model.build(hosts, profile=args.get("profile"), azure={
        "source": source, "machines": found.machines, "options": options,
        "not_in_inventory": [found.naming.host(m) or m.get("name") for m in found.not_in_inventory],
        "ambiguous": {n: found.ambiguity(n) for n in found.ambiguous}})
    return built, warnings


def write(report, dest, formats):
    """Write each format atomically into ``dest``: (the paths written, the summary)."""
    os.makedirs(dest, exist_ok=True)
    files = []
    texts, summary = render.render(report, formats)
    for fmt, text in texts.items():
        path = os.path.join(dest, FILES[fmt])
        with open(path + ".tmp", "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(path + ".tmp", path)
        files.append(path)
    return files, summary


def result(report, written, warnings):
    """The task result from ``write``'s answer: the summary, the files, the drifted and failed hosts (and
    not_in_inventory)."""
    files, summary = written
    out = dict(changed=False, summary=summary, files=files,
               drifted=sorted(n for n, v in report.hosts.items() if v.status == model.DRIFTED),
               errors=sorted(n for n, v in report.hosts.items() if v.status == model.ERROR))
    if report.with_azure:
        out["not_in_inventory"] = report.not_in_inventory
    if warnings:
        out["warnings"] = warnings
    return out
