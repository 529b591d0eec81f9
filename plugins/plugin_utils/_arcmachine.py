# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An Arc machine as Azure reports it, in the collection's terms. Pure: no I/O, no Azure SDK.

Internal to arcguard.azcmagent: not a public API, may change without notice.

``normalise_row(row)`` turns a Resource Graph ``resources`` row (or an ARM GET body) of type
``Microsoft.HybridCompute/machines`` into a flat dict; its ``agent_configuration`` is keyed by azcmagent
property name with the values typed like ``azcmagent_config``'s ``config`` return. Azure reports only part
of the agent's settings (no ``incomingconnections.enabled``, for one): what it does not report is absent.

``differences(options, os_type, agent_configuration)`` compares a lockdown (azcmagent_config options,
profile included) with what Azure reports, through the planner, over the reported properties only;
``compare()`` also says which wanted properties Azure does not report.
"""

from __future__ import annotations

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _catalog as catalog
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _naming as naming
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _parsers as parsers
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _planner as planner

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _profiles as profiles
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._secrets import URL_PROPERTIES, redact_url

KEYS = ("name", "resource_id", "subscription_id", "resource_group", "location", "tags", "status", "agent_version",
        "os_type", "os_name", "os_version", "last_status_change", "machine_fqdn", "dns_fqdn", "agent_configuration",
        "unreadable")

# agentConfiguration keys are the property names in camel case without the dots:
# extensionsAllowList -> extensions.allowlist, guestConfigurationEnabled -> guestconfiguration.enabled
_BY_FOLDED = {prop.replace(".", ""): prop for prop in catalog.PROPERTIES}
_LIST_DEFAULT_ON_NULL = (catalog.PORTS, catalog.NAMES, catalog.BYPASS)

NOT_REPORTED = "not reported by Azure"
# what a comparison shows as the actual value of a setting Azure reports in a form the collection cannot read
UNREADABLE = "unreadable"


# a key of an Azure object, any casing (Resource Graph and ARM do not always agree)
_get = naming.get_any_case


def _text(value):
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _extension_name(item):
    """``{publisher, type}`` (any casing) or a ``Publisher/Type`` string -> ``Publisher/Type``."""
    if isinstance(item, dict):
        publisher, ext_type = _text(_get(item, "publisher")), _text(_get(item, "type"))
        if not publisher or not ext_type:
            raise parsers.ParseError("extension entry without publisher and type: %r" % (item,))
        return "%s/%s" % (publisher, ext_type)
    text = _text(item)
    if not text:
        raise parsers.ParseError("empty extension entry")
    return text


def agent_configuration(raw, warnings=None, name="?", unreadable=None):
    """``properties.agentConfiguration`` as {azcmagent property: value}; unreported properties absent.

    A setting Azure reports in a form that cannot be read is left out of the result and, when ``unreadable``
    (a dict) is given, recorded there as {property: the raw value as text}: fail closed, the comparisons count
    it as a difference, never as "not reported". An ``agentConfiguration`` that is not an object makes every
    known setting unreadable."""
    out = {}
    if raw is None:
        return out
    if not isinstance(raw, dict):
        if unreadable is not None:
            for prop in catalog.PROPERTIES:
                unreadable[prop] = str(raw)[:200]
        if warnings is not None:
            warnings.append("machine %s: agentConfiguration is not an object (%s); its settings are unreadable"
                            % (name, type(raw).__name__))
        return out
    for key, value in raw.items():
        prop = _BY_FOLDED.get(str(key).replace(".", "").replace("_", "").lower())
        if prop is None:
            continue        # a setting this collection does not know: not guessed
        kind = catalog.PROPERTIES[prop]["type"]
        try:
            if value is None:
                if kind in _LIST_DEFAULT_ON_NULL:
                    out[prop] = []
                elif prop in URL_PROPERTIES:
                    out[prop] = ""
                continue    # a null boolean or mode says nothing
            if kind == catalog.NAMES:
                items = value if isinstance(value, list) else parsers.to_list(value)
                out[prop] = [_extension_name(item) for item in items if item not in (None, "")]
            elif prop in URL_PROPERTIES:
                out[prop] = redact_url(str(value).strip())
            elif kind == catalog.ENUM:
                out[prop] = str(value).strip().lower()
            else:
                out[prop] = parsers.normalise(prop, value)
        except (parsers.ParseError, ValueError, TypeError) as exc:
            out.pop(prop, None)
            if unreadable is not None:
                unreadable[prop] = str(value)[:200]
            if warnings is not None:
                warnings.append("machine %s: agentConfiguration.%s is not understood (%s); counted as unreadable, "
                                "never compliant" % (name, key, exc))
    return out


def _os_type(props):
    for key in ("osType", "osName"):
        text = _text(_get(props, key))
        if text and text.lower() in ("linux", "windows"):
            return text.lower()
    text = _text(_get(props, "osType"))
    return text.lower() if text else None


def _id_part(rid, segment, row, key):
    """The name after ``segment`` (``resourcegroups``, ``subscriptions``) in the resource ID, else the row's ``key``."""
    text = str(rid or "")
    # lowering is per character and never makes or removes a "/": the lowered parts line up with the parts
    lowered = text.lower().split("/")
    try:
        index = lowered.index(segment, 0, len(lowered) - 1)
    except ValueError:
        return _text(_get(row, key))
    return text.split("/")[index + 1]


def normalise_row(row, warnings=None):
    """One machine of Resource Graph (or ARM) as the collection's flat dict (keys: ``KEYS``)."""
    if not isinstance(row, dict):
        raise ValueError("a machine row must be an object, got %r" % (row,))
    props = _get(row, "properties")
    if not isinstance(props, dict):
        # the collection's own query projects the properties it reads as columns of the row
        props = row
    rid = _text(_get(row, "id"))
    name = _text(_get(row, "name")) or (rid.rsplit("/", 1)[-1] if rid else None)
    tags = _get(row, "tags")
    unreadable = {}
    config = agent_configuration(_get(props, "agentConfiguration"), warnings, name, unreadable)
    return {
        "name": name,
        "resource_id": rid,
        "subscription_id": _id_part(rid, "subscriptions", row, "subscriptionId"),
        "resource_group": _id_part(rid, "resourcegroups", row, "resourceGroup"),
        "location": _text(_get(row, "location")),
        "tags": dict(tags) if isinstance(tags, dict) else {},
        "status": _text(_get(props, "status")),
        "agent_version": _text(_get(props, "agentVersion")),
        "os_type": _os_type(props),
        "os_name": _text(_get(props, "osName")),
        "os_version": _text(_get(props, "osVersion")),
        "last_status_change": _text(_get(props, "lastStatusChange")),
        "machine_fqdn": _text(_get(props, "machineFqdn")),
        "dns_fqdn": _text(_get(props, "dnsFqdn")),
        "agent_configuration": config,
        "unreadable": sorted(unreadable),
    }


def matches(machine, statuses=(), os_types=(), tags=None, names=()):
    """Does a machine pass the filters? Statuses and names case-insensitive; all tags must match, tag names
    case-insensitive as Azure compares them, values exact (a None value only requires the tag)."""
    statuses = {str(s).lower() for s in statuses or ()}
    names = {str(n).lower() for n in names or ()}
    if statuses and str(machine.get("status") or "").lower() not in statuses:
        return False
    if os_types and machine.get("os_type") not in set(os_types):
        return False
    if names and str(machine.get("name") or "").lower() not in names:
        return False
    return naming.tags_match(machine.get("tags") or {}, tags)


def match(hosts, machines):
    """({host: machine or None}, [machines no host matched]) for ``hosts`` = {inventory name: resource ID or None}.

    Kept for callers of the old interface: ``_naming.match_hosts`` is the matching (by resource ID, else by
    the naming rule's host name or the resource name; a name several machines share matches none of them).
    """
    result = naming.match_hosts(hosts, machines)
    return result.machines, result.not_in_inventory


# ------------------------------------------------------------------------------------------------ comparing

def compare(options, os_type, agent_configuration, unreadable=()):
    """(differences, not_reported, warnings) of a lockdown against what Azure reports.

    ``differences``: [{"property", "expected", "actual"}] over the properties Azure reports;
    ``not_reported``: the wanted properties it does not report (never drift); a wanted property in
    ``unreadable`` (Azure reports it, the collection cannot read it) is a difference whose ``actual`` is
    ``UNREADABLE``: fail closed. Raises ``PlanError`` for bad
    options or an OS type other than linux/windows (aliases resolve per OS).
    """
    os_name = str(os_type or "").lower()
    if os_name not in ("linux", "windows"):
        raise planner.PlanError("Azure reports no OS type (linux or windows) for this machine, so the profile's "
                                "extension aliases cannot be resolved")
    args = profiles.resolve(dict(options or {}))
    desired = planner.desired_state(args, os_name)
    reported = dict(agent_configuration or {})
    unreadable = {p for p in unreadable or () if p not in reported}
    managed = desired.managed()
    cannot_read = [{"property": p, "expected": desired.values.get(p), "actual": UNREADABLE}
                   for p in managed if p in unreadable]
    not_reported = [p for p in managed if p not in reported and p not in unreadable]
    for prop in [p for p in managed if p not in reported]:
        desired.values.pop(prop, None)
        desired.clear.discard(prop)
    for prop in URL_PROPERTIES:
        if prop in desired.values:
            # Azure's view is redacted: compare like with like
            desired.values[prop] = redact_url(desired.values[prop])
    result = planner.plan(desired, reported)
    differences = [{"property": c["property"], "expected": c["after"], "actual": c["before"]}
                   for c in result.changes]
    if result.second_pass:
        # the agent reports monitor mode: the lists it reports then are not the stored ones
        pending = [p for p in catalog.MONITOR_SHADOWED if p in desired.managed()]
        for prop in pending:
            if prop in reported and not planner.same(prop, reported[prop], desired.values.get(prop)):
                differences.append({"property": prop, "expected": desired.values.get(prop),
                                    "actual": reported[prop]})
    return differences + cannot_read, not_reported, list(desired.warnings)


def differences(options, os_type, agent_configuration, unreadable=()):
    """[{"property", "expected", "actual"}]: where what Azure reports differs from the lockdown."""
    return compare(options, os_type, agent_configuration, unreadable)[0]
