# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The drift watch's logic: arguments, which profile applies, which events a poll produces, backoff.

Internal to arcguard.azcmagent: not a public API, may change without notice.

Pure code: no I/O, no Azure, no clock of its own (the caller passes ``now``). The event source
``arcguard.azcmagent.arc_drift`` (extensions/eda/plugins/event_source/arc_drift.py) runs the loop;
everything it decides is decided here, so it can be tested with plain machine dicts.
"""

from __future__ import annotations

import json
import math

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _naming as naming
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _catalog as catalog

# Arguments passed through, unchanged, to the shared Azure client (_azure.list_machines).
AZURE_OPTIONS = ("subscriptions", "management_groups", "auth_source", "client_id", "secret", "tenant",
                 "cloud", "arm_endpoint", "authority_host")
WATCH_OPTIONS = ("profile", "profile_by_tag", "profiles", "interval", "include_statuses", "repeat_after", "timeout",
                 "overrides", "host_overrides", "host_naming", "extension_events")
DEFAULT_INTERVAL = 300
MIN_INTERVAL = 30
DEFAULT_REPEAT_AFTER = 3600
DEFAULT_STATUSES = ("Connected",)
DEFAULT_TIMEOUT = 120
# Test-only: an environment variable of this name lowers MIN_INTERVAL (the source reads it, logs a warning).
TEST_MIN_INTERVAL_ENV = "ARCGUARD_DRIFT_TEST_MIN_INTERVAL"

# Retries of a failed poll: first after FIRST_RETRY seconds (or the interval, if shorter), then doubling,
# never longer than MAX_RETRY (or the interval, if longer); a Retry-After from Azure is honoured.
FIRST_RETRY = 10
MAX_RETRY = 300

# Azure's warnings (a scope that cannot be read) are logged again at most this often while they last; while
# nothing at all can be read (every scope denied), at least this often.
WARN_REPEAT = 3600
WARN_REPEAT_ALL_DENIED = 900

EVENT_DRIFT = "arc_drift"
EVENT_RESOLVED = "arc_drift_resolved"


class DriftArgumentError(ValueError):
    """A bad argument of the event source: it stops at once with this message."""


def _str_list(args, name, default=None):
    value = args.get(name, default)
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v.strip() for v in value):
        raise DriftArgumentError("%s must be a list of non-empty strings, got %r" % (name, value))
    return [v.strip() for v in value]


def _seconds(args, name, default, minimum):
    value = args.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise DriftArgumentError("%s must be a number of seconds, got %r" % (name, value))
    try:
        number = float(value)
    except ValueError:
        raise DriftArgumentError("%s must be a number of seconds, got %r" % (name, value)) from None
    if not math.isfinite(number) or number < minimum:
        raise DriftArgumentError("%s must be at least %s seconds, got %r" % (name, _fmt(minimum), value))
    return number


def _flag(args, name, default):
    value = args.get(name, default)
    if value is None:
        return default
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
        return value.strip().lower() in ("true", "yes", "on", "1")
    if not isinstance(value, bool):
        raise DriftArgumentError("%s must be true or false, got %r" % (name, value))
    return value


def _fmt(number):
    return ("%d" % number) if float(number).is_integer() else ("%g" % number)


def parse_args(args, builtin_profiles, min_interval=MIN_INTERVAL):
    """Validate the source's arguments; returns the settings dict or raises DriftArgumentError.

    ``builtin_profiles``: the collection's profile table (names are checked here; each profile's
    content is checked by the caller through the shared profile resolution).
    """
    if not isinstance(args, dict):
        raise DriftArgumentError("the arguments of arcguard.azcmagent.arc_drift must be a dictionary, got %r"
                                 % type(args).__name__)
    known = set(AZURE_OPTIONS) | set(WATCH_OPTIONS)
    unknown = sorted(str(k) for k in args if k not in known)
    if unknown:
        raise DriftArgumentError("unknown argument%s %s; known arguments: %s"
                                 % ("s" if len(unknown) > 1 else "", ", ".join(unknown), ", ".join(sorted(known))))
    profiles = args.get("profiles") or {}
    if not isinstance(profiles, dict):
        raise DriftArgumentError("profiles must be a dictionary of profiles, got %r" % type(profiles).__name__)
    for name, entry in profiles.items():
        if not isinstance(name, str) or not isinstance(entry, dict) or not isinstance(entry.get("options", {}), dict):
            raise DriftArgumentError("profiles: %s must be a dictionary with an options dictionary" % (name,))
    known_profiles = set(builtin_profiles) | set(profiles)
    profile = args.get("profile")
    by_tag = args.get("profile_by_tag")
    if (profile is None) == (by_tag is None):
        raise DriftArgumentError("exactly one of profile and profile_by_tag is required")
    tag = None
    if profile is not None:
        if not isinstance(profile, str) or profile not in known_profiles:
            raise DriftArgumentError("profile %r is not a profile; known profiles: %s"
                                     % (profile, ", ".join(sorted(known_profiles))))
    else:
        if not isinstance(by_tag, dict) or set(by_tag) != {"tag"} or not isinstance(by_tag["tag"], str) \
                or not by_tag["tag"].strip():
            raise DriftArgumentError("profile_by_tag must be a dictionary with one key, tag (the name of the tag "
                                     "whose value names the profile), got %r" % (by_tag,))
        tag = by_tag["tag"].strip()
    overrides = args.get("overrides") or {}
    if not isinstance(overrides, dict):
        raise DriftArgumentError("overrides must be a dictionary of lockdown options (the role's lockdown_overrides), "
                                 "got %r" % type(overrides).__name__)
    host_overrides = args.get("host_overrides") or {}
    if not isinstance(host_overrides, dict):
        raise DriftArgumentError("host_overrides must be a dictionary of host names or resource IDs, got %r"
                                 % type(host_overrides).__name__)
    per_host = {}
    for key, entry in host_overrides.items():
        if not isinstance(key, str) or not isinstance(entry, dict) or set(entry) - {"profile", "overrides"} \
                or not isinstance(entry.get("overrides") or {}, dict) \
                or not isinstance(entry.get("profile", ""), (str, type(None))):
            raise DriftArgumentError("host_overrides: %r must be a dictionary with profile (a name) and/or overrides "
                                     "(a dictionary)" % (key,))
        if entry.get("profile") is not None and entry["profile"] not in known_profiles:
            raise DriftArgumentError("host_overrides: %s: profile %r is not a profile; known profiles: %s"
                                     % (key, entry["profile"], ", ".join(sorted(known_profiles))))
        per_host[key.lower() if key.startswith("/") else key] = entry
    try:
        rule = naming.check_rule(args.get("host_naming"))
    except naming.NamingError as exc:
        raise DriftArgumentError(str(exc)) from None
    statuses = _str_list(args, "include_statuses", list(DEFAULT_STATUSES))
    if not statuses:
        raise DriftArgumentError("include_statuses must list at least one status")
    settings = {
        "profile": profile,
        "tag": tag,
        "profiles": profiles,
        "known_profiles": known_profiles,
        "interval": _seconds(args, "interval", DEFAULT_INTERVAL, min_interval),
        "repeat_after": _seconds(args, "repeat_after", DEFAULT_REPEAT_AFTER, 0),
        "timeout": _seconds(args, "timeout", DEFAULT_TIMEOUT, 1),
        "include_statuses": {s.lower() for s in statuses},
        "overrides": overrides,
        "host_overrides": per_host,
        "host_naming": rule,
        "azure": {k: args[k] for k in AZURE_OPTIONS if args.get(k) is not None},
        "extension_events": _flag(args, "extension_events", True),
    }
    return settings


def profile_for(settings, machine):
    """The profile name that applies to ``machine``, or (None, reason) when it is skipped."""
    if settings["profile"] is not None:
        return settings["profile"], None
    tags = machine.get("tags") or {}
    wanted = settings["tag"].lower()
    # Azure tag names are case-insensitive; the value is taken as it is
    for key, value in tags.items():
        if isinstance(key, str) and key.lower() == wanted:
            if not isinstance(value, str) or not value.strip():
                return None, "tag %s is empty" % settings["tag"]
            if value.strip() not in settings["known_profiles"]:
                return None, "tag %s names %r, which is not a profile" % (settings["tag"], value)
            return value.strip(), None
    return None, "untagged"


def _key(machine):
    return naming.machine_key(machine)


def _canonical(value):
    """A value as the signature sees it: text in lower case, lists as sorted sets, dicts key by key."""
    if isinstance(value, dict):
        return {str(k).lower(): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        items = [_canonical(v) for v in value]
        return sorted({json.dumps(i, sort_keys=True, default=str) for i in items})
    if isinstance(value, str):
        return value.strip().lower()
    return value


def _signature(profile, differences):
    """What identifies one drift: the profile and the differences, whatever their order and letter case."""
    return json.dumps([str(profile).lower(), sorted(json.dumps(_canonical(d), sort_keys=True, default=str)
                                                    for d in differences)], sort_keys=True, default=str)


def _details(machine, profile):
    return {
        "name": machine.get("name"),
        "resource_id": machine.get("resource_id"),
        "os_type": machine.get("os_type"),
        "profile": profile,
        "status": machine.get("status"),
        "agent_version": machine.get("agent_version"),
        "last_status_change": machine.get("last_status_change"),
    }


def drift_event(machine, profile, differences, host=None):
    """The arc_drift event. ``meta.hosts`` is the machine's host name by the naming rule (never a pattern);
    ``host_name`` says it again and ``resource_id`` is the machine, which the enforcement checks."""
    details = _details(machine, profile)
    details["host_name"] = host
    details["overrides"] = dict(machine.get("lockdown_overrides") or {})
    details["differences"] = [dict(d) for d in differences]
    # everything Azure or the agent gave (names, statuses, reported values) is data: inert for any template
    return {EVENT_DRIFT: naming.inert(details), "meta": {"hosts": host}}


def resolved_event(machine, profile, previous, host=None):
    details = _details(machine, profile)
    details["host_name"] = host
    details["resolved_differences"] = [dict(d) for d in previous]
    return {EVENT_RESOLVED: naming.inert(details), "meta": {"hosts": host}}


def options_for(settings, machine, profile, host=None):
    """The lockdown options of one machine, with the role's precedence: the profile, then the overrides
    (``host_overrides`` for the host or resource ID, else ``overrides``)."""
    entry = settings.get("host_overrides", {}).get(naming.machine_key(machine)) \
        or (settings.get("host_overrides", {}).get(host) if host else None) or {}
    options = {"profile": entry.get("profile") or profile, "profiles": settings["profiles"]}
    overrides = entry["overrides"] if "overrides" in entry else settings.get("overrides")
    if overrides:
        options["overrides"] = overrides
    return options


def evaluate(settings, machines, differences, names=None):
    """One poll's machines -> ([(machine, profile, differences)], [(machine, reason)] skipped).

    ``names``: the poll's ``_naming.Naming`` (computed here over ``machines`` when not given); each evaluated
    machine gets its ``host_name``. A setting Azure reports but the collection cannot read (``unreadable``)
    is a difference: fail closed.

    ``differences(options, os_type, agent_configuration)`` is the shared comparison (_arcmachine): it
    looks only at what Azure reports, so a setting Azure does not report is never drift. Machines whose
    status is not in include_statuses, that have no profile (profile_by_tag) or that report no settings
    at all are skipped: neither drifted nor compliant.
    """
    if names is None:
        names = naming.host_names(machines, rule=settings.get("host_naming", naming.DEFAULT_RULE))
    evaluated, skipped = [], []
    for machine in machines:
        status = str(machine.get("status") or "")
        if status.lower() not in settings["include_statuses"]:
            continue
        host = names.host(machine)
        if host is None:
            skipped.append((machine, "Azure gives no resource ID"))
            continue
        machine = dict(machine, host_name=host)
        profile, reason = profile_for(settings, machine)
        entry = settings.get("host_overrides", {}).get(naming.machine_key(machine)) \
            or settings.get("host_overrides", {}).get(host) or {}
        if profile is None and entry.get("profile"):
            profile, reason = entry["profile"], None
        if profile is None:
            skipped.append((machine, reason))
            continue
        options = options_for(settings, machine, profile, host)
        profile = options["profile"]
        machine["lockdown_overrides"] = dict(options.get("overrides") or {})
        reported = machine.get("agent_configuration")
        unreadable = machine.get("unreadable") or ()
        if (not isinstance(reported, dict) or not reported) and not unreadable:
            skipped.append((machine, "Azure reports no agent settings"))
            continue
        try:
            found = differences(options, machine.get("os_type"), reported if isinstance(reported, dict) else {},
                                unreadable)
        except ValueError as exc:   # PlanError: the profile cannot be applied to this machine
            skipped.append((machine, "profile %s: %s" % (profile, exc)))
            continue
        # settings decided in Azure (catalog.AZURE_OWNED) are never judged: enforcing them would fight Azure
        evaluated.append((machine, profile, [d for d in found if not catalog.azure_owner(d.get("property"), reported)]))
    return evaluated, skipped


class DriftTracker:
    """Remembers what was sent per machine: repeat suppression and the resolved event.

    ``observe(now, machines)`` takes one poll's evaluated machines, each ``(machine, profile, differences)``
    with ``differences`` a list (empty: compliant), and returns the events to send, in input order:
    - drift not sent before, or different from what was sent (other differences or another profile), or the
      same as sent ``repeat_after`` seconds ago or more: one ``arc_drift`` event;
    - a machine sent as drifted that is now compliant: one ``arc_drift_resolved`` event, then forgotten;
    - a machine not in this poll (disconnected, filtered out, deleted) keeps its record: when it is back, the
      same drift is not re-sent before ``repeat_after`` and compliant settings still produce the resolved
      event. Records of machines absent for ``forget_after`` seconds (a week, or ``repeat_after`` if longer)
      are dropped, so deleted machines do not pile up.
    """

    FORGET_AFTER = 7 * 86400

    def __init__(self, repeat_after):
        self.repeat_after = repeat_after
        self.forget_after = max(repeat_after, self.FORGET_AFTER)
        self.sent = {}   # key -> {"signature", "at", "profile", "differences"}

    def observe(self, now, evaluated):
        events = []
        seen = set()
        for machine, profile, differences in evaluated:
            key = _key(machine)
            if not key or key in seen:
                continue
            seen.add(key)
            record = self.sent.get(key)
            if record is not None:
                record["seen"] = now
            if differences:
                signature = _signature(profile, differences)
                if record is None or record["signature"] != signature or now - record["at"] >= self.repeat_after:
                    self.sent[key] = {"signature": signature, "at": now, "seen": now, "profile": profile,
                                      "differences": [dict(d) for d in differences]}
                    events.append(drift_event(machine, profile, differences, machine.get("host_name")))
            elif record is not None:
                del self.sent[key]
                events.append(resolved_event(machine, profile, record["differences"], machine.get("host_name")))
        for key in [k for k, r in self.sent.items() if k not in seen and now - r["seen"] >= self.forget_after]:
            del self.sent[key]
        return events


def retry_delay(attempt, interval, retry_after=None):
    """Seconds to wait before retry number ``attempt`` (1, 2, ...) of a failed poll."""
    first = min(FIRST_RETRY, interval)
    cap = max(MAX_RETRY, interval)
    delay = min(cap, first * (2 ** (max(1, attempt) - 1)))
    if retry_after is not None and retry_after > delay:
        delay = float(retry_after)
    return delay
