# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Extension resources as Azure sees them, judged against each machine's lockdown. Pure: no I/O, no Azure SDK.

Internal to arcguard.azcmagent: not a public API, may change without notice.

- ``QUERY``: the Resource Graph query for ``microsoft.hybridcompute/machines/extensions`` (projected columns:
  never the extension's ``settings``, which may hold commands and secrets); ``QUERIES``: it and its fallbacks.
- ``normalise_row(row, warnings)``: one extension row (the projected Resource Graph row or an ARM GET body)
  as a flat record, with ``resource_id`` and ``machine_id`` (the ID up to ``/extensions/``), or None.
- ``attach(machines, rows, warnings)``: each machine gets ``extensions`` (classified, sorted by name), joined by
  resource ID, compared case-insensitively; rows of machines not listed are dropped.
- ``permitted(name, os_type, agent_configuration)``: True, False or None (cannot be known) for one
  ``Publisher/Type`` under the lockdown a machine reports; ``classify(record, machine)``: the classification.
- ``public(record)``: the keys arc_machine_info and the audit return (``PUBLIC_KEYS``).
- ``refused_installs(entries)``: the fleet's refused installs grouped by extension and requester.
- ``RefusalTracker``: the drift source's ``arc_extension_refused`` events, once per resource and change.
"""

from __future__ import annotations

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _catalog as catalog
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _naming as naming

TYPE = "microsoft.hybridcompute/machines/extensions"
_COLUMNS = ("id, name, type, publisher = properties.publisher, extensionType = properties.type, "
            "version = properties.typeHandlerVersion, provisioningState = properties.provisioningState, "
            "instanceView = properties.instanceView")
# column_ifexists: whether Resource Graph rows carry systemData is not documented; a missing column is null
QUERY = "resources | where type =~ '%s' | project %s, systemData = column_ifexists('systemData', dynamic(null))" \
    % (TYPE, _COLUMNS)
# the same query in forms a Resource Graph (or a stand-in of it) that refuses the first may still take, in order:
# the plain column, then the whole rows (normalise_row reads ARM-shaped rows; their settings are never read)
QUERIES = (QUERY, "resources | where type =~ '%s' | project %s, systemData" % (TYPE, _COLUMNS),
           "resources | where type =~ '%s'" % TYPE)

ALLOWED = "allowed"
INSTALLED_BUT_BLOCKED = "installed_but_blocked"
REFUSED_BY_LOCKDOWN = "refused_by_lockdown"
FAILED = "failed"
UNKNOWN = "unknown"
CLASSIFICATIONS = (ALLOWED, INSTALLED_BUT_BLOCKED, REFUSED_BY_LOCKDOWN, FAILED, UNKNOWN)
# what arc_extension_cleanup may delete: never allowed (nor unknown, nor failed for another reason)
DELETABLE = (INSTALLED_BUT_BLOCKED, REFUSED_BY_LOCKDOWN)
DEFAULT_CLEANUP = list(DELETABLE)

PUBLIC_KEYS = ("name", "publisher", "type", "version", "provisioning_state", "status_level", "status_message",
               "created_by", "last_modified_by", "classification", "retired")

# the agent's reported settings a judgement needs; any of them missing or unreadable -> unknown
NEEDED = ("extensions.allowlist", "extensions.blocklist", "extensions.enabled", "config.mode")


# a key of an Azure object, any casing
_get = naming.get_any_case


def _text(value):
    """A scalar from Azure as text, None for null, empty or a structure (data, never trusted to be a string)."""
    if value is None or isinstance(value, (dict, list, tuple, set)):
        return None
    if isinstance(value, bool):
        value = "true" if value else "false"
    text = " ".join(str(value).split())
    return text or None


def machine_id_of(extension_id):
    """The machine's resource ID of an extension resource ID (up to ``/extensions/``, any casing), or None."""
    text = str(extension_id or "")
    low = text.lower()
    marker = "/providers/microsoft.hybridcompute/machines/"
    at = low.find(marker)
    if at < 0:
        return None
    rest = low.find("/extensions/", at + len(marker))
    if rest < 0 or "/" in text[at + len(marker):rest] or not text[rest + len("/extensions/"):] \
            or "/" in text[rest + len("/extensions/"):]:
        return None
    return text[:rest]


def normalise_row(row, warnings=None):
    """A flat record of one extension resource, or None (with a warning) for a row that is not one."""
    if not isinstance(row, dict):
        if warnings is not None:
            warnings.append("an extension row from Azure is not an object (%s); left out" % type(row).__name__)
        return None
    rid = _text(_get(row, "id"))
    machine = machine_id_of(rid)
    if machine is None:
        if warnings is not None:
            warnings.append("an extension row from Azure has no usable resource ID (%r); left out" % (rid,))
        return None
    props = _get(row, "properties")
    props = props if isinstance(props, dict) else {}
    view = _get(row, "instanceView")
    if not isinstance(view, dict):
        view = _get(props, "instanceView")
    view = view if isinstance(view, dict) else {}
    status = _get(view, "status")
    status = status if isinstance(status, dict) else {}
    system = _get(row, "systemData")
    system = system if isinstance(system, dict) else {}

    def first(*values):
        for value in values:
            text = _text(value)
            if text:
                return text
        return None
    ext_type = first(_get(row, "extensionType"), _get(props, "type"), _get(view, "type"))
    return {
        "resource_id": rid,
        "machine_id": machine,
        "name": first(_get(row, "name")) or rid.rsplit("/", 1)[-1],
        "publisher": first(_get(row, "publisher"), _get(props, "publisher")),
        "type": ext_type,
        "version": first(_get(view, "typeHandlerVersion"), _get(row, "version"), _get(props, "typeHandlerVersion")),
        "provisioning_state": first(_get(row, "provisioningState"), _get(props, "provisioningState")),
        "status_level": first(_get(status, "level")),
        "status_message": first(_get(status, "message"), _get(status, "displayStatus")),
        "created_by": first(_get(system, "createdBy")),
        "last_modified_by": first(_get(system, "lastModifiedBy")),
    }


# ------------------------------------------------------------------------------------------------ judging

def _entry_key(entry):
    return str(entry).strip().lower()


def _list_entries(value):
    """The reported list as text entries, or None when it is not a list of names (unreadable)."""
    if not isinstance(value, list):
        return None
    out = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            return None
        out.append(item.strip())
    return out


def _matches(entry, name, os_type, dotted):
    """Does one list entry name the extension ``name``? Aliases resolve for the machine's OS; Publisher/Type
    compares case-insensitively; a dotted ``Publisher.Type`` entry counts only when ``dotted`` (the agent's
    handling of it is not documented, so the caller tries both)."""
    key = _entry_key(entry)
    if key in catalog.EXTENSIONS:
        resolved = catalog.resolve_alias(key, os_type) if os_type in ("linux", "windows") else None
        return bool(resolved) and resolved.lower() == name.lower()
    if "/" in key:
        return key == name.lower()
    return dotted and key == name.replace("/", ".").lower()


def _verdict(name, os_type, allow, block, dotted):
    if any(_matches(b, name, os_type, dotted) for b in block):
        return False
    if not allow:
        return True
    if any(_entry_key(a) == catalog.ALLOW_NONE.lower() for a in allow):
        return False
    return any(_matches(a, name, os_type, dotted) for a in allow)


def permitted(name, os_type, agent_configuration):
    """Would the agent, with the settings it reports, install ``name`` (``Publisher/Type``) now?

    True or False; None where that cannot be known: a needed setting is missing or unreadable, monitor mode
    (Microsoft's managed allowlist applies, whose contents are not published), a name without publisher or
    type, or a list entry whose meaning to the agent is not documented and decides the answer.
    """
    config = agent_configuration
    if not isinstance(config, dict) or not name or "/" not in name:
        return None
    if any(prop not in config for prop in NEEDED):
        return None
    enabled = config.get("extensions.enabled")
    mode = config.get("config.mode")
    if not isinstance(enabled, bool) or not isinstance(mode, str):
        return None
    if enabled is False:
        return False            # the extension manager is off: it installs nothing
    if mode.strip().lower() != "full":
        return None             # monitor (or a mode we do not know)
    allow = _list_entries(config.get("extensions.allowlist"))
    block = _list_entries(config.get("extensions.blocklist"))
    if allow is None or block is None:
        return None
    strict, loose = (_verdict(name, os_type, allow, block, dotted) for dotted in (False, True))
    return strict if strict == loose else None


def retired(publisher_type):
    entry = catalog.lifecycle_of(publisher_type) if publisher_type else None
    return bool(entry and entry["status"] == "retired")


def classify(record, machine):
    """(classification, retired) of one extension record on its machine (the normalised machine dict)."""
    name = "%s/%s" % (record["publisher"], record["type"]) if record.get("publisher") and record.get("type") else None
    machine = machine if isinstance(machine, dict) else {}
    allowed = permitted(name, machine.get("os_type"), machine.get("agent_configuration"))
    if any(prop in NEEDED for prop in machine.get("unreadable") or ()):
        allowed = None          # Azure reports a needed setting in a form that cannot be read: fail closed
    state = str(record.get("provisioning_state") or "").lower()
    if allowed is None:
        out = UNKNOWN
    elif state == "failed":
        out = FAILED if allowed else REFUSED_BY_LOCKDOWN
    else:
        out = ALLOWED if allowed else INSTALLED_BUT_BLOCKED
    return out, retired(name)


def public(record):
    return {key: record.get(key) for key in PUBLIC_KEYS}


def extension_name(record):
    return "%s/%s" % (record.get("publisher") or "?", record.get("type") or "?")


def attach(machines, rows, warnings=None):
    """Give each machine ``extensions``: its classified records (full records, see ``public``), sorted by name.

    Rows are joined to machines by resource ID, compared case-insensitively; a resource seen twice counts once.
    """
    by_id = {}
    for machine in machines:
        machine["extensions"] = []
        rid = str(machine.get("resource_id") or "").lower()
        if rid:
            by_id.setdefault(rid, machine)
    seen = set()
    for row in rows:
        record = normalise_row(row, warnings)
        if record is None or record["resource_id"].lower() in seen:
            continue
        seen.add(record["resource_id"].lower())
        machine = by_id.get(record["machine_id"].lower())
        if machine is None:
            continue        # a machine outside the listing (filtered out, or not readable)
        record["classification"], record["retired"] = classify(record, machine)
        machine["extensions"].append(record)
    for machine in machines:
        machine["extensions"].sort(key=lambda r: (str(r["name"]).lower(), r["resource_id"].lower()))
    return machines


def requested_by(record):
    return record.get("last_modified_by") or record.get("created_by") or None


def refused_installs(entries):
    """The refused installs of a fleet, grouped: [{extension, requested_by, machines, count}].

    ``entries``: [(host name, [extension records])]. ``count`` is the number of machines; the list is sorted by
    count (largest first), then extension and requester.
    """
    groups = {}
    for host, records in entries:
        for record in records or ():
            if record.get("classification") != REFUSED_BY_LOCKDOWN:
                continue
            who = requested_by(record)
            key = (extension_name(record).lower(), (who or "").lower())
            group = groups.setdefault(key, {"extension": extension_name(record), "requested_by": who,
                                            "machines": []})
            if host not in group["machines"]:
                group["machines"].append(host)
    out = []
    for group in groups.values():
        group["machines"].sort(key=lambda h: (str(h).lower(), str(h)))
        group["count"] = len(group["machines"])
        out.append(group)
    out.sort(key=lambda g: (-g["count"], g["extension"].lower(), str(g["requested_by"] or "").lower()))
    return out


# ------------------------------------------------------------------------------------------------ drift events

EVENT_REFUSED = "arc_extension_refused"


# text from Azure made inert for whoever templates it next (one rule, in _naming)
defuse = naming.defuse


def refused_event(host, machine, record):
    details = {
        "machine": host,
        "resource_id": machine.get("resource_id"),
        "extension_id": record["resource_id"],
        "extension": extension_name(record),
        "extension_name": record.get("name"),
        "requested_by": requested_by(record),
        "provisioning_state": record.get("provisioning_state"),
        "status_message": record.get("status_message"),
        "os_type": machine.get("os_type"),
    }
    return {EVENT_REFUSED: {key: defuse(value) for key, value in details.items()}, "meta": {"hosts": host}}


class RefusalTracker:
    """One ``arc_extension_refused`` event per extension resource and change of its provisioning state or status
    message, never a storm.

    ``observe(now, machines, host_of)`` takes one poll's machines (each with ``extensions``) and returns the events:
    a resource classified ``refused_by_lockdown`` whose (provisioning state, status message) differs from the last
    seen for it sends one event. Every resource's last state is remembered, refused or not, so a retry that fails
    again after ``Creating`` is a new event, while the same failure seen at every poll is one. Records of
    resources absent for ``forget_after`` seconds are dropped.
    """

    FORGET_AFTER = 7 * 86400

    def __init__(self, forget_after=FORGET_AFTER):
        self.forget_after = forget_after
        self.seen = {}   # extension resource ID (lower case) -> {"signature", "at"}

    def observe(self, now, machines, host_of):
        events = []
        present = set()
        for machine in machines:
            for record in machine.get("extensions") or ():
                key = str(record.get("resource_id") or "").lower()
                if not key or key in present:
                    continue
                present.add(key)
                signature = (str(record.get("provisioning_state") or "").lower(), record.get("status_message") or "")
                last = self.seen.get(key)
                self.seen[key] = {"signature": signature, "at": now}
                if record.get("classification") != REFUSED_BY_LOCKDOWN:
                    continue
                if last is None or last["signature"] != signature:
                    events.append(refused_event(host_of(machine), machine, record))
        for key in [k for k, r in self.seen.items() if k not in present and now - r["at"] >= self.forget_after]:
            del self.seen[key]
        return events
