# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which Ansible host name each Azure Arc machine gets, and which machine an inventory host is.

Internal to arcguard.azcmagent: not a public API, may change without notice. Pure: no I/O, no Azure SDK.

A machine is its resource ID, compared case-insensitively (``machine_key``). Its resource name is data that
anyone allowed to onboard a machine chooses: it may repeat across resource groups and subscriptions, be
``all`` or the name of a group, or hold characters that Ansible reads as a host pattern. This module is the
ONE place that turns machines into host names; the ``arc`` inventory, ``arc_machine_info`` (``host_name``),
the audit's matching and the ``arc_drift`` event source all call it, so an event, a report line and an
inventory host agree whenever they see the same machines.

The rule (``host_names(machines, reserved=(), rule="name")``):

- ``rule="name"`` (the default): a machine keeps its bare resource name when that name is *safe* (only
  ``A-Z a-z 0-9 _ . -``, not starting with ``.`` or ``-``, at most 255 characters), is not reserved
  (``all``, ``ungrouped``, ``localhost``, the collection's groups, the caller's ``reserved`` names such as
  the inventory's group names; compared case-insensitively) and no other listed machine has the same name
  (case-insensitively). Otherwise it gets its *qualified* name (below), and the result says why.
- ``rule="qualified"``: every machine gets its qualified name.

The qualified name is ``NAME~RESOURCEGROUP~SUBSCRIPTION`` built from the machine's own resource ID, each part
with every character outside ``A-Z a-z 0-9 _ . -`` replaced by ``_``. ``~`` is never in a safe bare name (nor in a name Azure's ARM name rule accepts), so a
qualified name is never another machine's bare name; and it is derived from the machine's resource ID alone,
so it never moves to another machine. When two qualified names still collide (only possible after
replacing characters, or for names differing only in case), both get ``NAME~h<12 hex of the lower-cased
resource ID's SHA-256>`` instead. Consequence: a host name once given never silently moves to another
machine; when a new machine with the same name appears, the bare name is taken from every one of them and
the warning names them all.

Host names are never Ansible patterns: they never start with ``~ ! & @``, never contain ``, : * ? [ ]`` or
spaces, and never equal a reserved name.

Also here: ``tag_value`` / ``tags_match`` (Azure tag names are case-insensitive, values exact) and
``match_hosts`` (inventory host -> machine for the audit: by ``arc_resource_id`` when the host has one, else
by name; a name that fits several machines is ambiguous, never a match).
"""

from __future__ import annotations

import hashlib
import re

RULES = ("name", "qualified")
DEFAULT_RULE = "name"
SEPARATOR = "~"
# names Ansible itself gives a meaning
ANSIBLE_RESERVED = ("all", "ungrouped", "localhost")
# the groups the arc inventory creates itself (also reserved for the drift source and arc_machine_info)
COLLECTION_GROUPS = ("arc_linux", "arc_windows", "arc_connected", "arc_disconnected", "arc_error",
                     "arc_awaiting_connection", "arc_expired")
MAX_LENGTH = 255

_SAFE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9_.-]")

# reasons a machine does not keep its bare name
REASON_COLLISION = "collision"
REASON_UNSAFE = "pattern"
REASON_RESERVED = "reserved"
REASON_EMPTY = "empty"
REASON_RULE = "rule"


class NamingError(ValueError):
    """A bad naming option (the message names it)."""


def machine_key(machine_or_id):
    """The identity of a machine: its resource ID, lower-cased ('' when it has none)."""
    if isinstance(machine_or_id, dict):
        machine_or_id = machine_or_id.get("resource_id")
    return str(machine_or_id or "").strip().lower()


def check_rule(rule, option="host_naming"):
    """``rule`` validated (None: the default); NamingError naming ``option`` otherwise."""
    if rule is None or rule == "":
        return DEFAULT_RULE
    if not isinstance(rule, str) or rule.strip().lower() not in RULES:
        raise NamingError("%s must be one of %s, got %r" % (option, ", ".join(RULES), rule))
    return rule.strip().lower()


def is_safe(name):
    """Can ``name`` be a host name as it is (no pattern character, sensible length)? Reserved names aside."""
    return isinstance(name, str) and 0 < len(name) <= MAX_LENGTH and bool(_SAFE.match(name))


def _part(text):
    text = _UNSAFE_CHARS.sub("_", str(text or "").strip())
    return text or "_"


def _id_parts(machine):
    """(name, resource group, subscription) of a machine, from its resource ID first."""
    rid = str(machine.get("resource_id") or "")
    parts = rid.split("/")
    found = {}
    for index, part in enumerate(parts[:-1]):
        low = part.lower()
        if low in ("subscriptions", "resourcegroups") and low not in found:
            found[low] = parts[index + 1]
    name = machine.get("name") or (parts[-1] if rid else "")
    return (str(name or ""), found.get("resourcegroups") or machine.get("resource_group") or "",
            found.get("subscriptions") or machine.get("subscription_id") or "")


def qualified_name(machine):
    """``NAME~RESOURCEGROUP~SUBSCRIPTION`` of one machine (characters outside A-Z a-z 0-9 _ . - as ``_``)."""
    name, group, subscription = _id_parts(machine)
    return SEPARATOR.join((_part(name).lstrip(".-") or "_", _part(group), _part(subscription)))


def hashed_name(machine):
    """``NAME~h<12 hex>``: the last resort, a function of the lower-cased resource ID."""
    name = _id_parts(machine)[0]
    digest = hashlib.sha256(machine_key(machine).encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return "%s%sh%s" % (_part(name).lstrip(".-")[:200] or "_", SEPARATOR, digest)


class Naming:
    """The result of ``host_names``.

    ``names``: {machine_key: host name}; ``renamed``: [{"resource_id", "name", "host_name", "reason",
    "others"}] for every machine that did not keep its bare name under rule ``name`` (``others``: the resource
    IDs it collides with); ``warnings``: one line per colliding name (naming all its machines) and one per
    renamed unsafe or reserved name. ``host(machine)`` gives one machine's host name (None when the machine
    has no resource ID); ``machine(host)`` the machine of a host name.
    """

    def __init__(self, names, renamed, warnings, machines):
        self.names = names
        self.renamed = renamed
        self.warnings = warnings
        self._by_host = {}
        for machine in machines:
            host = names.get(machine_key(machine))
            if host is not None:
                self._by_host[host] = machine

    def host(self, machine):
        return self.names.get(machine_key(machine))

    def machine(self, host):
        return self._by_host.get(host)


def host_names(machines, reserved=(), rule=DEFAULT_RULE):
    """Host names for ``machines`` (dicts with ``resource_id``, ``name``, ``resource_group``,
    ``subscription_id``, as ``_arcmachine.normalise_row`` gives them) -> ``Naming``.

    Give it every machine the query listed (before any status, OS or tag filter), so that the names do not
    depend on filters; machines without a resource ID get no name; a resource ID listed twice counts once.
    ``reserved``: further names (the inventory's groups) that no host may take as they are.
    """
    rule = check_rule(rule)
    taken = {n.lower() for n in ANSIBLE_RESERVED + COLLECTION_GROUPS}
    taken.update(str(n).lower() for n in reserved or () if n is not None)
    unique = {}
    for machine in machines:
        key = machine_key(machine)
        if key and key not in unique:
            unique[key] = machine
    by_name = {}
    for key, machine in unique.items():
        by_name.setdefault(_id_parts(machine)[0].lower(), []).append(key)
    names, reasons = {}, {}
    for key, machine in unique.items():
        bare = _id_parts(machine)[0]
        if rule == "qualified":
            reason = REASON_RULE
        elif not bare:
            reason = REASON_EMPTY
        elif len(by_name[bare.lower()]) > 1:
            reason = REASON_COLLISION
        elif not is_safe(bare):
            reason = REASON_UNSAFE
        elif bare.lower() in taken:
            reason = REASON_RESERVED
        else:
            names[key] = bare
            continue
        reasons[key] = reason
        names[key] = qualified_name(machine)
    # qualified names that still collide (characters replaced, names differing only in case): hashed
    count = {}
    for key, host in names.items():
        count[host.lower()] = count.get(host.lower(), 0) + 1
    for key, host in list(names.items()):
        if count[host.lower()] > 1 or host.lower() in taken:
            names[key] = hashed_name(unique[key])
            reasons.setdefault(key, REASON_COLLISION)
    renamed, warnings = [], []
    for key in sorted(reasons, key=lambda k: (names[k].lower(), k)):
        bare = _id_parts(unique[key])[0]
        others = [unique[k].get("resource_id") for k in by_name.get(bare.lower(), []) if k != key]
        renamed.append({"resource_id": unique[key].get("resource_id"), "name": bare, "host_name": names[key],
                        "reason": reasons[key], "others": others})
    if rule == "name":
        done = set()
        for item in renamed:
            if item["reason"] == REASON_COLLISION and item["name"].lower() not in done:
                done.add(item["name"].lower())
                group = [r for r in renamed if r["name"].lower() == item["name"].lower()]
                warnings.append("%d machines are named %r, so none of them is host %r: %s"
                                % (len(group), item["name"], item["name"],
                                   "; ".join("%s is %s" % (r["resource_id"], r["host_name"]) for r in group)))
            elif item["reason"] in (REASON_UNSAFE, REASON_RESERVED, REASON_EMPTY):
                why = {REASON_UNSAFE: "holds characters Ansible reads as a host pattern",
                       REASON_RESERVED: "is a group name or a name Ansible reserves",
                       REASON_EMPTY: "is empty"}[item["reason"]]
                warnings.append("machine %s: its name %r %s; it is host %s"
                                % (item["resource_id"], item["name"], why, item["host_name"]))
    return Naming(names, renamed, warnings, unique.values())


# ------------------------------------------------------------------------------------------------ tags

def tag_value(tags, name):
    """(found, value) of tag ``name`` in ``tags``: the name compared case-insensitively, as Azure does.

    An exact-case key wins over other spellings (Azure keeps one, but a copied row may hold several)."""
    if not isinstance(tags, dict) or name is None:
        return False, None
    if name in tags:
        return True, tags[name]
    low = str(name).lower()
    for key in sorted(tags, key=str):
        if str(key).lower() == low:
            return True, tags[key]
    return False, None


def tags_match(tags, wanted):
    """Does every ``wanted`` tag match? Names case-insensitive; values exact; a None value only needs the tag."""
    for name, value in (wanted or {}).items():
        found, have = tag_value(tags, name)
        if not found or (value is not None and str(have) != str(value)):
            return False
    return True


# ------------------------------------------------------------------------------------------------ matching

class Match:
    """The result of ``match_hosts``.

    ``machines``: {host: machine or None}; ``ambiguous``: {host: [machines]} for hosts whose name fits several
    machines (never a match; ``machines[host]`` is None); ``not_in_inventory``: the machines that no host
    matched (neither by resource ID nor by name, ambiguous names included as matched); ``naming``: the
    ``Naming`` used, whose ``host(machine)`` names a machine in a report line as the inventory would.
    """

    def __init__(self, machines, ambiguous, not_in_inventory, naming=None):
        self.naming = naming
        self.machines = machines
        self.ambiguous = ambiguous
        self.not_in_inventory = not_in_inventory

    def ambiguity(self, host):
        """The error line for an ambiguous host, naming the machines, or None."""
        found = self.ambiguous.get(host)
        if not found:
            return None
        return ("ambiguous: %d Arc machines are named %s (%s); give the host its arc_resource_id"
                % (len(found), host, ", ".join(str(m.get("resource_id")) for m in found)))


def match_hosts(hosts, machines, naming=None, candidates=None):
    """Inventory hosts -> machines, for the audit.

    ``hosts``: {inventory host name: resource ID or None} (the host's ``arc_resource_id``). A host with a
    resource ID matches the machine with that ID (case-insensitive) or nothing. A host without one matches by
    name, case-insensitively: the machine whose host name (``naming``, computed here over ``machines`` when not
    given) is the host's name, else the machines whose resource name is the host's name; exactly one is a
    match, several are ambiguous, none is no match. ``candidates``: the hosts whose matches decide
    ``not_in_inventory`` (default: ``hosts``), so a play over part of an inventory can still list only the
    machines that no host of the whole inventory is.
    """
    if naming is None:
        naming = host_names(machines)
    by_id, by_name, by_host = {}, {}, {}
    for machine in machines:
        key = machine_key(machine)
        if not key or key in by_id:
            continue
        by_id[key] = machine
        by_name.setdefault(_id_parts(machine)[0].lower(), []).append(machine)
        host = naming.host(machine)
        if host:
            by_host[host.lower()] = machine

    def find(host, rid):
        if rid:
            machine = by_id.get(machine_key(rid))
            return ([machine] if machine is not None else []), True
        low = str(host).lower()
        if low in by_host:
            return [by_host[low]], False
        return list(by_name.get(low, [])), False

    matched, ambiguous = {}, {}
    for host, rid in hosts.items():
        found, _by_id = find(host, rid)
        matched[host] = found[0] if len(found) == 1 else None
        if len(found) > 1:
            ambiguous[host] = found
    used = set()
    for host, rid in (hosts if candidates is None else candidates).items():
        for machine in find(host, rid)[0]:
            used.add(machine_key(machine))
    rest = [m for key, m in by_id.items() if key not in used]
    return Match(matched, ambiguous, rest, naming)


_TEMPLATE_OPENERS = ("{{", "{%", "{#")


def defuse(value):
    """Text from Azure made inert for whoever templates it next: ansible-rulebook renders an action's arguments
    and Ansible renders extra variables, so ``{{``, ``{%`` and ``{#`` in a name, a tag, a reported setting or a
    status message (which whoever runs the machine or the extension writes) would run as a template. Each is
    broken up by a space: ``{ {``. Other text, and every value that is not text, is unchanged."""
    if not isinstance(value, str):
        return value
    while any(opener in value for opener in _TEMPLATE_OPENERS):
        for opener in _TEMPLATE_OPENERS:
            value = value.replace(opener, opener[0] + " " + opener[1])
    return value


def inert(value):
    """``value`` with every text in it, at any depth (dict keys too), passed through ``defuse``."""
    if isinstance(value, str):
        return defuse(value)
    if isinstance(value, dict):
        return {inert(k): inert(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [inert(v) for v in value]
    return value


def get_any_case(mapping, key):
    """The value of ``key`` in an Azure object, whatever the casing of its name there (Resource Graph and ARM do
    not always agree); None when ``mapping`` is no dictionary or has no such key."""
    if not isinstance(mapping, dict):
        return None
    if key in mapping:
        return mapping[key]
    low = key.lower()
    for name, value in mapping.items():
        if str(name).lower() == low:
            return value
    return None
