# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit on the controller: azcmagent_report's options, each host's variables read once, the Arc machines
listed once and matched to hosts, the report built and written.

Internal to arcguard.azcmagent: not a public API, may change without notice.
"""

from __future__ import annotations

import contextlib
import gc
import os
import threading

import yaml

from ansible_collections.arcguard.azcmagent.plugins.doc_fragments import azure as azure_docs
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _arcmachine as arcmachine
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _azure as azure
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _extreport as extreport
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


@contextlib.contextmanager
def no_cycle_collection():
    """No cyclic garbage collection while one audit runs (restored after, as it was).

    The audit makes a few objects per host and frees them by reference counting; with tens of thousands of live
    objects (the inventory, the machines, the verdicts) each full collection walks them all, and Python starts
    one every few thousand allocations: normalising and judging 10,000 machines beside a loaded inventory took
    1.8 s with it and 0.9-1.1 s without."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class AuditError(Exception):
    """The audit cannot be judged (a missing option, Azure refused the listing); the message is scrubbed."""


def _exact(hostvars, name, variables):
    """A host's ``variables`` as its hostvars give them (every variable source, templated), None when unknown."""
    # Ansible's hostvars answers an unknown name with an undefined value that fails when used: ask first
    host = hostvars[name] if name in hostvars else None
    get = host.get if hasattr(host, "get") else (lambda _var: None)
    return {var: get(var) for var in variables}


def _templated(value):
    """Might ``value`` hold a template (then only Ansible's own hostvars read it right)?"""
    if isinstance(value, str):
        return "{{" in value or "{%" in value or "{#" in value
    if isinstance(value, dict):
        return any(_templated(k) or _templated(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_templated(v) for v in value)
    return False


def _no_host_vars(loader, paths):
    """Can no vars plugin give any host a variable? True only when the one vars plugin that runs is Ansible's
    host_group_vars and no ``host_vars`` exists (not even as a file) beside any inventory source or playbook
    directory in ``paths``: then each host's plugin call (a stat and a plugin look-up, ~10 us a host) answers {}.
    """
    # pylint: disable=import-outside-toplevel,protected-access
    from ansible.plugins.loader import vars_loader
    from ansible.utils.path import basedir
    from ansible.vars.plugins import get_vars_from_path
    try:
        get_vars_from_path(loader, loader.get_basedir(), [], "task")  # the plugins found, as Ansible finds them
        plugins = [vars_loader.get(name) for name in list(vars_loader._plugin_instance_cache)]
        if not plugins or any(p is None or p.ansible_name != "ansible.builtin.host_group_vars" for p in plugins):
            return False
        for path in paths:
            if path is None or ("," in path and not os.path.exists(path)):
                continue
            base = basedir(path if os.path.isdir(path) else os.path.dirname(path))
            if os.path.lexists(os.path.join(os.path.realpath(base), "host_vars")):
                return False
    except Exception:  # pylint: disable=broad-exception-caught
        return False
    return True


class _InventoryVars:
    """The variables of many hosts, as Ansible's hostvars give them, in time linear in the hosts.

    Ansible computes every variable of a host each time one is asked for (group variables, vars plugins, facts,
    ~0.5 ms a host). Here the group part is computed once per set of groups, in Ansible's precedence
    (``VARIABLE_PRECEDENCE``), then each host's own variables (inventory, host_vars through the vars plugins)
    and the extra variables go on top. A host with facts or a value that may be a template is read through
    hostvars itself, so every answer is the one hostvars gives.
    """

    def __init__(self, hostvars):
        # pylint: disable=import-outside-toplevel
        from ansible import constants as C
        from ansible.inventory.helpers import get_group_vars, sort_groups
        from ansible.utils.vars import combine_vars
        from ansible.vars.plugins import get_vars_from_inventory_sources, get_vars_from_path
        self.hostvars = hostvars
        self.inventory = hostvars._inventory  # pylint: disable=protected-access
        manager = hostvars._variable_manager  # pylint: disable=protected-access
        loader = hostvars._loader  # pylint: disable=protected-access
        if C.DEFAULT_HASH_BEHAVIOUR != "replace" or not set(C.VARIABLE_PRECEDENCE) <= set(self.PARTS):
            raise ValueError("variables combine in a way only hostvars follows")
        basedirs = [loader.get_basedir()] if manager.safe_basedir else []
        sources = self.inventory._sources  # pylint: disable=protected-access
        self.combine, self.sort_groups, self.manager = combine_vars, sort_groups, manager
        self.precedence = list(C.VARIABLE_PRECEDENCE)

        def plugins_play(entities):
            data = {}
            for path in basedirs:
                data = combine_vars(data, get_vars_from_path(loader, path, entities, "task"))
            return data
        all_group = self.inventory.groups.get("all")
        self.parts = {
            "all_inventory": lambda groups: all_group.get_vars(),
            "all_plugins_inventory": lambda groups: get_vars_from_inventory_sources(loader, sources, [all_group], "task"),
            "all_plugins_play": lambda groups: plugins_play([all_group]),
            "groups_inventory": get_group_vars,
            "groups_plugins_inventory": lambda groups: get_vars_from_inventory_sources(loader, sources, groups, "task"),
            "groups_plugins_play": plugins_play,
        }
        self.host_plugins = lambda host: combine_vars(get_vars_from_inventory_sources(loader, sources, [host], "task"),
                                                      plugins_play([host]))
        if _no_host_vars(loader, list(sources) + basedirs):
            self.host_plugins = lambda host: {}
        self.groups = {}

    PARTS = ("all_inventory", "all_plugins_inventory", "all_plugins_play", "groups_inventory",
             "groups_plugins_inventory", "groups_plugins_play")

    def _facts(self, name):
        try:
            facts = self.manager._fact_cache.get(name)  # pylint: disable=protected-access
        except KeyError:
            facts = None
        return facts or self.manager._nonpersistent_fact_cache.get(name)  # pylint: disable=protected-access

    def read(self, name, variables):
        host = self.inventory.get_host(name)
        if host is None:
            return dict.fromkeys(variables)
        if self._facts(name):
            return _exact(self.hostvars, name, variables)
        groups = self.sort_groups([g for g in host.get_groups() if g.name != "all"])
        key = tuple(g.name for g in groups)
        if key not in self.groups:
            data = {}
            for entry in self.precedence:
                data = self.combine(data, self.parts[entry](groups))
            self.groups[key] = {k: v for k, v in data.items() if k in self.wanted}
        data = dict(self.groups[key])
        for layer in (host.get_vars(), self.host_plugins(host), self.manager.extra_vars):
            data.update((k, v) for k, v in layer.items() if k in self.wanted)
        out = {var: data.get(var) for var in variables}
        if any(_templated(v) for v in out.values()):
            return _exact(self.hostvars, name, variables)
        return out

    wanted = frozenset()


def read_hosts(hostvars, names, variables):
    """{name: {variable: value}}: each host's ``variables`` read once (an unknown host or variable is None), as
    Ansible's hostvars give them; with Ansible's hostvars, in time linear in the hosts (``_InventoryVars``)."""
    try:
        reader = _InventoryVars(hostvars)
        reader.wanted = frozenset(variables)
    except (AttributeError, ImportError, ValueError, TypeError):
        return {name: _exact(hostvars, name, variables) for name in names}
    return {name: reader.read(name, variables) for name in names}


def list_machines(args):
    """(machines, their host names, warnings) of the Azure options in ``args``: the names computed over every
    machine listed (``host_naming``), then the machines filtered as arc_machine_info filters them."""
    options = azure.with_environment({k: args.get(k) for k in azure.OPTION_NAMES})
    secret = options.get("secret") or ""
    try:
        machines, warnings = azure.list_machines(options, extensions=True)
    except azure.AzureError as exc:
        raise AuditError(scrub(str(exc), [secret])) from None
    names = naming.host_names(machines, rule=args.get("host_naming") or naming.DEFAULT_RULE)
    picked = [m for m in machines if arcmachine.matches(m, args.get("include_statuses"), args.get("include_os"),
                                                        args.get("tags"))]
    return picked, names, [scrub(w, [secret]) for w in warnings + names.warnings]


class _Listing(threading.Thread):
    """``list_machines`` in a thread; ``answer()`` returns its result or raises its AuditError."""

    def __init__(self, args):
        super().__init__(name="arc-machine-listing", daemon=True)
        self.args, self.result, self.error = args, None, None

    def run(self):
        try:
            self.result = list_machines(self.args)
        except AuditError as exc:
            self.error = exc
        except Exception as exc:  # pylint: disable=broad-exception-caught
            self.error = AuditError(scrub("listing the Arc machines failed: %s: %s" % (type(exc).__name__, exc),
                                          [self.args.get("secret") or ""]))

    def answer(self):
        if self.error is not None:
            raise self.error
        return self.result


def judge(args, hostvars, all_hosts):
    """(Report, warnings) for the validated ``args`` with Ansible's ``hostvars``; ``all_hosts``: the names of every
    inventory host, whose resource IDs decide ``not_in_inventory``."""
    source = args["source"]
    keys = ("profile_var",) + (("info_var", "check_var") if source != "azure" else ()) + \
        (("profiles_var", "overrides_var", "resource_id_var") if source != "host" else ())
    names = list(dict.fromkeys(args["hosts"]))
    listing = None
    if source != "host" and args.get("azure_machines") is None:
        # the listing waits on Azure most of its time: read the hosts' variables meanwhile
        listing = _Listing(args)
        listing.start()
    try:
        seen = read_hosts(hostvars, names, [args[k] for k in keys])
    finally:
        if listing is not None:
            listing.join()

    def var(name, key):
        return seen[name].get(args[key]) if key in keys else None
    hosts = {n: (var(n, "profile_var"), var(n, "info_var"), var(n, "check_var")) for n in names}
    if source == "host":
        return model.build(hosts, profile=args.get("profile")), []
    warnings = []
    machines = args.get("azure_machines")
    if listing is not None:
        machines, machine_names, warnings = listing.answer()
    else:
        machine_names = naming.host_names(machines, rule=args.get("host_naming") or naming.DEFAULT_RULE)
    play = {n: var(n, "resource_id_var") for n in names}
    others = [n for n in dict.fromkeys(args.get("inventory_hosts") or all_hosts or names) if n not in seen]
    everyone = dict(play)
    everyone.update((n, v[args["resource_id_var"]]) for n, v in read_hosts(hostvars, others,
                                                                           [args["resource_id_var"]]).items())
    found = naming.match_hosts(play, machines, naming=machine_names, candidates=everyone)
    options = {}
    for name in names:
        options[name] = {"profiles": var(name, "profiles_var") or {}, "overrides": var(name, "overrides_var") or None}
        if args.get("profile") or var(name, "profile_var"):
            options[name]["profile"] = args.get("profile") or var(name, "profile_var")
    built = model.build(hosts, profile=args.get("profile"), azure={
        "source": source, "machines": found.machines, "options": options,
        "not_in_inventory": [found.naming.host(m) or m.get("name") for m in found.not_in_inventory],
        "ambiguous": {n: found.ambiguity(n) for n in found.ambiguous}})
    # extension resources (plugin_utils/_extreport.py): per host under azure.extensions, and refused_installs
    hosts_of = {naming.machine_key(m): n for n, m in found.machines.items() if m is not None}
    extreport.add_to_report(built, found.machines, machines, lambda m: hosts_of.get(naming.machine_key(m))
                            or found.naming.host(m) or m.get("name"))
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
