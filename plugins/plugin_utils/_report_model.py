# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit's verdict model: one ``HostVerdict`` per host, one ``Report`` per run. Pure, linear in the fleet.

Internal to arcguard.azcmagent: not a public API, may change without notice.

Every verdict (a host's status, Azure's status, the summary, the profile header) is worked out here, once; the
renderers in ``_report_render`` only draw it. ``Report.as_dict()`` is report.json (keys users rely on:
``summary``, ``hosts``, each host's ``findings``, ``azure``, ``not_in_inventory``). Extending it: a host's or
Azure view's ``extra`` dict and the report's ``sections`` dict are written into the JSON as they are; findings
are generic strings counted per kind in ``Report.finding_counts``.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _arcmachine as arcmachine
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _catalog as catalog
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _info as agent_info
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _planner as planner
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._secrets import URL_PROPERTIES, redact_url

COMPLIANT, DRIFTED, ERROR = "compliant", "drifted", "error"
NOT_IN_AZURE = "not in Azure"
OUTDATED = ("deprecated", "retired")

FINDING_UNREACHABLE = "unreachable, judged from Azure"
FINDING_DISAGREE = "host and Azure disagree"
FINDING_NOT_IN_AZURE = NOT_IN_AZURE
FINDING_NOT_IN_INVENTORY = "in Azure, not in this inventory"
FINDING_AMBIGUOUS = "ambiguous in Azure"


# ------------------------------------------------------------------------------------------- small verdicts

def list_delta(prop, expected, actual):
    """(missing, extra) of two lists: entries the profile wants that are not there, and entries there that it
    does not want, compared as the planner compares that property. None unless both are lists."""
    if not isinstance(expected, list) or not isinstance(actual, list):
        return None
    missing = [e for e in expected if not any(planner.same(prop, [e], [a]) for a in actual)]
    extra = [a for a in actual if not any(planner.same(prop, [a], [e]) for e in expected)]
    return missing, extra


def difference(prop, expected, actual):
    """One difference as report.json writes it; lists also get ``missing`` and ``extra``."""
    out = {"property": prop, "expected": expected, "actual": actual}
    delta = list_delta(prop, expected, actual)
    if delta is not None:
        out["missing"], out["extra"] = delta
    return out


# What a connection error says, as one line: the first pattern found in the full text names what failed.
_CONNECTION_CAUSES = (
    (r"timed? ?out", "the connection timed out"),
    (r"connection refused|actively refused", "the connection was refused"),
    (r"no route to host|network is unreachable", "no route to the host"),
    (r"could not resolve|name or service not known|nodename nor servname|getaddrinfo failed|name resolution",
     "the host name does not resolve"),
    (r"permission denied|authentication failed|unauthorized|access is denied|401", "the login was refused"),
    (r"host key verification failed|remote host identification has changed", "the host key is not trusted"),
    (r"certificate verify failed|ssl", "the TLS handshake failed"),
    (r"connection reset|broken pipe|closed by remote host|connection closed", "the connection was closed"),
)


def one_line(text, limit=160):
    """The first non-empty line of ``text``, without a Python exception's wrapping, cut at ``limit`` characters."""
    lines = [line.strip() for line in str(text or "").splitlines() if line.strip()]
    line = lines[0] if lines else ""
    line = re.sub(r"<[a-zA-Z_.]+ object at 0x[0-9a-f]+>", "", line)
    return line if len(line) <= limit else line[:limit - 1].rstrip() + "\u2026"


def connection_error(msg):
    """(one line saying what failed, the full text) for an unreachable host's message."""
    full = str(msg or "no connection")
    lowered = full.lower()
    for pattern, cause in _CONNECTION_CAUSES:
        if re.search(pattern, lowered):
            return "unreachable: %s" % cause, full
    return "unreachable: %s" % (one_line(full) or "no connection"), full


def lifecycle_findings(info):
    """Deprecated and retired extensions a host allows (the allowlist in force) or has installed:
    [{name, where (allowlist or installed), version, status, date, event, replacement, replacement_name,
    sources, message}] from its azcmagent_info result."""
    os_name = info.get("os")
    config = info.get("config") or {}
    allow = agent_info.enforced_lists(config)[0] if config else None
    found = [(name, "allowlist", None) for name in allow or []]
    found += [(ext.get("name") or "", "installed", ext.get("version")) for ext in info.get("installed_extensions") or []]
    findings = []
    for name, where, version in found:
        facts = catalog.lifecycle_facts(name, os_name)
        if facts["status"] not in OUTDATED:
            continue
        subject = "%s %s" % (name, version) if version else name
        message = ("allowed by the allowlist: " if where == "allowlist" else "installed: ") + \
            catalog.lifecycle_text(name, os_name, subject=subject)
        findings.append({"name": name, "where": where, "version": version, "status": facts["status"],
                         "date": facts["date"], "event": facts["event"], "replacement": facts["replacement"],
                         "replacement_name": facts["replacement_name"], "sources": facts["sources"],
                         "message": message})
    return findings


# ------------------------------------------------------------------------------------------------ the model

@dataclass
class AzureView:
    """Azure's judgement of one machine (``azure`` of a host in report.json)."""

    compliant: bool = False
    differences: List[dict] = field(default_factory=list)
    not_reported: List[str] = field(default_factory=list)
    status: Optional[str] = None
    last_status_change: Optional[str] = None
    agent_version: Optional[str] = None
    resource_id: Optional[str] = None
    error: Optional[str] = None
    extra: Dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self):
        if self.error:
            return ERROR
        return COMPLIANT if self.compliant else DRIFTED

    def as_dict(self):
        out = {"compliant": self.compliant, "differences": self.differences, "not_reported": self.not_reported,
               "status": self.status, "last_status_change": self.last_status_change,
               "agent_version": self.agent_version, "resource_id": self.resource_id, "error": self.error}
        out.update(self.extra)
        return out


@dataclass
class HostVerdict:
    """One host of the report. ``status`` is compliant, drifted or error, worked out here only."""

    profile: Any = None
    compliant: bool = False
    differences: List[dict] = field(default_factory=list)
    blocked_installed: List[str] = field(default_factory=list)
    agent: Dict[str, Any] = field(default_factory=lambda: {"installed": None, "version": None, "status": None})
    error: Optional[str] = None
    error_detail: Optional[str] = None
    lifecycle: List[dict] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    findings: Optional[List[str]] = None   # None: the report has no Azure view
    azure: Optional[AzureView] = None
    disagreements: List[dict] = field(default_factory=list)
    extra: Dict[str, Any] = field(default_factory=dict)

    @property
    def status(self):
        if self.error:
            return ERROR
        return COMPLIANT if self.compliant else DRIFTED

    @property
    def azure_verdict(self):
        """compliant, drifted, error, or ``not in Azure``."""
        return NOT_IN_AZURE if self.azure is None else self.azure.verdict

    def fail(self, message, detail=None):
        self.error = message
        if detail is not None and detail != message:
            self.error_detail = detail
        return self

    def as_dict(self, with_azure):
        out = {"profile": self.profile, "compliant": self.compliant, "status": self.status,
               "differences": self.differences, "blocked_installed": self.blocked_installed, "agent": self.agent,
               "error": self.error, "lifecycle": self.lifecycle}
        if self.error_detail is not None:
            out["error_detail"] = self.error_detail
        if self.notes:
            out["notes"] = self.notes
        if with_azure:
            out["findings"] = list(self.findings or [])
            out["azure"] = None if self.azure is None else self.azure.as_dict()
            if self.disagreements:
                out["disagreements"] = self.disagreements
        out.update(self.extra)
        return out


@dataclass
class Report:
    """The whole audit: hosts by inventory name, and with an Azure view the machines no host matched."""

    hosts: Dict[str, HostVerdict]
    profile: Optional[str] = None
    generated: str = ""
    source: Optional[str] = None          # None: host results only (no Azure view)
    not_in_inventory: List[str] = field(default_factory=list)
    sections: Dict[str, Any] = field(default_factory=dict)

    @property
    def with_azure(self):
        return self.source is not None

    def ordered(self):
        """[(name, verdict)]: drifted hosts first, then errors, then compliant ones, each by name."""
        rank = {DRIFTED: 0, ERROR: 1, COMPLIANT: 2}
        return sorted(self.hosts.items(), key=lambda kv: (rank[kv[1].status], str(kv[0])))

    def profile_counts(self):
        """{profile: hosts}, by descending count then name."""
        counts = {}
        for verdict in self.hosts.values():
            key = "" if verdict.profile is None else str(verdict.profile)
            counts[key] = counts.get(key, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def profile_label(self):
        """The report's heading: the one profile, or ``mixed (a 3, b 2)`` when hosts have different ones."""
        counts = self.profile_counts()
        if len(counts) == 1:
            return next(iter(counts)) or (self.profile or "none")
        if not counts:
            return self.profile or "none"
        return "mixed (%s)" % ", ".join("%s %d" % (name or "none", n) for name, n in counts.items())

    def finding_counts(self):
        """{finding: hosts} over every host's findings, and {property: hosts} drifted on it."""
        findings, props = {}, {}
        for verdict in self.hosts.values():
            for finding in verdict.findings or []:
                findings[finding] = findings.get(finding, 0) + 1
            for prop in {str(d.get("property")) for d in verdict.differences}:
                props[prop] = props.get(prop, 0) + 1
        return findings, props

    def summary(self):
        """The counts, in one pass over the hosts."""
        count = dict.fromkeys(("compliant", "drifted", "errors", "no_agent", "blocked_installed", "lifecycle",
                               "unsupported_agent", "managed_in_azure"), 0)
        azure = dict.fromkeys(("azure_compliant", "azure_drifted", "not_in_azure", "judged_from_azure", "disagree"), 0)
        for verdict in self.hosts.values():
            status = verdict.status
            count["compliant" if status == COMPLIANT else "drifted" if status == DRIFTED else "errors"] += 1
            count["no_agent"] += verdict.agent.get("installed") is False
            count["blocked_installed"] += bool(verdict.blocked_installed)
            count["lifecycle"] += bool(verdict.lifecycle)
            support = verdict.extra.get("agent_support") or (verdict.azure.extra.get("agent_support") if verdict.azure
                                                             else None) or {}
            count["unsupported_agent"] += support.get("status") == "unsupported"
            count["managed_in_azure"] += bool(verdict.extra.get("managed_in_azure") or (
                verdict.azure is not None and verdict.azure.extra.get("managed_in_azure")))
            if self.with_azure:
                view = verdict.azure
                azure["azure_compliant"] += bool(view is not None and view.compliant)
                azure["azure_drifted"] += bool(view is not None and view.compliant is False)
                findings = verdict.findings or []
                azure["not_in_azure"] += FINDING_NOT_IN_AZURE in findings
                azure["judged_from_azure"] += FINDING_UNREACHABLE in findings
                azure["disagree"] += FINDING_DISAGREE in findings
        out = {"hosts": len(self.hosts)}
        out.update(count)
        if self.with_azure:
            out["source"] = self.source
            out["not_in_inventory"] = len(self.not_in_inventory)
            out.update(azure)
        out["profile"] = self.profile
        out["profiles"] = self.profile_counts()
        out["generated"] = self.generated
        return out

    def as_dict(self, summary=None):
        with_azure = self.with_azure
        out = {"summary": summary if summary is not None else self.summary(),
               "hosts": {name: verdict.as_dict(with_azure) for name, verdict in self.hosts.items()}}
        if with_azure:
            out["not_in_inventory"] = self.not_in_inventory
        out.update(self.sections)
        return out


# --------------------------------------------------------------------------------------- judging one host

def from_host(profile, info, check):
    """A host's verdict from its azcmagent_info and check-mode azcmagent_config results."""
    verdict = HostVerdict(profile=profile)
    info = info or {}
    if info.get("unreachable"):
        return verdict.fail(*connection_error(info.get("msg")))
    if info.get("failed"):
        full = str(info.get("msg") or "azcmagent_info failed")
        return verdict.fail(one_line(full, 300) or full, full)
    agent = info.get("agent") or {}
    verdict.agent = {"installed": agent.get("installed"), "version": agent.get("version"), "status": agent.get("status")}
    agent_support(verdict, agent.get("version"))
    verdict.blocked_installed = [str(e.get("name") if isinstance(e, dict) else e)
                                 for e in info.get("blocked_installed") or []]
    verdict.lifecycle = lifecycle_findings(info)
    if agent.get("installed") is False:
        return verdict.fail("the Azure Connected Machine agent is not installed")
    if info.get("errors"):
        return verdict.fail("; ".join(str(e) for e in info["errors"]))
    check = check or {}
    if not check or check.get("skipped"):
        return verdict.fail("the profile could not be compared")
    if check.get("unreachable"):
        return verdict.fail(*connection_error(check.get("msg")))
    if check.get("failed"):
        full = str(check.get("msg") or "the comparison failed")
        return verdict.fail(one_line(full, 300) or full, full)
    differences = [difference(c.get("property"), c.get("after"), c.get("before")) for c in check.get("changes") or []]
    verdict.differences = managed_in_azure(verdict, differences, info.get("config"))
    verdict.notes = [str(n) for n in check.get("notes") or []]
    verdict.compliant = not verdict.differences
    return verdict


def _freeze(value):
    if isinstance(value, dict):
        return ("{", tuple(sorted((str(k), _freeze(v)) for k, v in value.items())))
    if isinstance(value, (list, tuple)):
        return ("[", tuple(_freeze(v) for v in value))
    hash(value)
    return (type(value).__name__, value)


def managed_in_azure(verdict, differences, config):
    """``differences`` without the settings Azure decides (catalog.AZURE_OWNED): those go to ``managed_in_azure``
    of ``verdict`` (a HostVerdict or AzureView), each with who decides it and where, and are not drift."""
    kept, owned = [], []
    for diff in differences:
        owner = catalog.azure_owner(diff.get("property"), config)
        if owner is None:
            kept.append(diff)
        else:
            owned.append(dict(diff, status="managed in Azure", owner=owner["owner"], where=owner["where"]))
    if owned:
        verdict.extra["managed_in_azure"] = owned
    return kept


def agent_support(verdict, version):
    """The agent version finding (never an error, never drift): judged now, from the catalog's version table."""
    if version:
        support = catalog.agent_support(version)
        verdict.extra["agent_support"] = support
        return support
    return None


_KEY_ENCODER = json.JSONEncoder(sort_keys=True)


def _key(value):
    """A hashable key for a JSON-like value (None when it holds something that cannot be one)."""
    # the C encoder first (keys sorted; 1, 1.0, True and "1" stay apart), kept only when the text reads back as
    # the same value (a key True or 1 would become "true" or "1", a tuple a list, NaN unequal): else _freeze
    try:
        text = _KEY_ENCODER.encode(value)
        if json.loads(text) == value:
            return text
    except (TypeError, ValueError):
        pass
    try:
        return _freeze(value)
    except TypeError:
        return None


def azure_view(machine, options, cache=None):
    """Azure's judgement of one machine against the lockdown ``options`` (profile, profiles, overrides...).

    ``cache``: a dict kept over one fleet; hosts with the same options, OS type and reported settings (most
    of a fleet) share one comparison instead of resolving the profile again.
    """
    config = machine.get("agent_configuration") or {}
    view = AzureView(status=machine.get("status"), last_status_change=machine.get("last_status_change"),
                     agent_version=machine.get("agent_version"), resource_id=machine.get("resource_id"))
    agent_support(view, machine.get("agent_version"))
    if not options.get("profile") and not any(v for k, v in options.items() if k not in ("profiles", "overrides")):
        view.error = "no lockdown profile for this host (lockdown_profile)"
        return view
    unreadable = machine.get("unreadable") or ()
    if not config and not unreadable:
        view.error = "Azure reports no agent settings for this machine (status %s)" % (machine.get("status"),)
        return view
    key = None if cache is None else (_key(options), machine.get("os_type"), _key(config), _key(list(unreadable)))
    if key is not None and None not in key and key in cache:
        view.differences, view.not_reported, view.error = cache[key]
    else:
        try:
            diffs, view.not_reported, _warnings = arcmachine.compare(options, machine.get("os_type"), config,
                                                                     unreadable)
            view.differences = [difference(d["property"], d["expected"], d["actual"]) for d in diffs]
        except planner.PlanError as exc:
            view.error = str(exc)
        if key is not None and None not in key:
            cache[key] = (view.differences, view.not_reported, view.error)
    if view.error:
        view.differences = []
        return view
    view.differences = managed_in_azure(view, view.differences, config)
    view.compliant = not view.differences
    return view


def disagreements(host_config, azure_config):
    """The properties that the host and Azure both report, with different values."""
    out = []
    for prop in sorted(set(host_config or {}) & set(azure_config or {})):
        ours, theirs = host_config[prop], azure_config[prop]
        if prop in URL_PROPERTIES:
            ours = redact_url(str(ours or ""))
        if not planner.same(prop, ours, theirs):
            out.append({"property": prop, "host": ours, "azure": theirs})
    return out


def add_azure(verdict, source, machine, options, info, ambiguity=None, cache=None):
    """A host's verdict with Azure's view and findings (and, for source azure, Azure's verdict as its own).
    ``ambiguity``: why no machine matched although several have the host's name."""
    verdict.findings = []
    verdict.azure = None
    if machine is None:
        verdict.findings.append(FINDING_AMBIGUOUS if ambiguity else FINDING_NOT_IN_AZURE)
        if ambiguity:
            # a name several machines share is never a match: Azure's view is an error naming the machines
            verdict.azure = AzureView(error=ambiguity)
        if source == "azure":
            verdict.compliant = False
            verdict.error = ambiguity or "not in Azure: no Arc machine matches this host"
            verdict.error_detail = None
        return verdict
    view = azure_view(machine, options, cache)
    verdict.azure = view
    if source == "azure":
        verdict.compliant = view.compliant
        verdict.differences = view.differences
        verdict.agent = {"installed": None, "version": view.agent_version, "status": view.status}
        verdict.error = view.error
        verdict.error_detail = None
        return verdict
    info = info or {}
    if info.get("unreachable") or info.get("failed") or (verdict.error and info.get("errors")):
        verdict.findings.append(FINDING_UNREACHABLE)
    elif (info.get("agent") or {}).get("installed") is False:
        verdict.findings.append(FINDING_DISAGREE)
        verdict.disagreements = [{"property": "agent", "host": "not installed", "azure": view.status}]
    else:
        differ = disagreements(info.get("config"), machine.get("agent_configuration"))
        if differ:
            verdict.findings.append(FINDING_DISAGREE)
            verdict.disagreements = differ
    return verdict


def build(hosts, profile=None, generated=None, azure=None):
    """The ``Report`` for ``hosts`` = {name: (profile, info, check)}.

    ``azure`` (audit_source azure or both): {"source", "machines": {name: machine or None},
    "options": {name: lockdown options}, "not_in_inventory": [names]}.
    """
    verdicts, cache = {}, {}
    machines = (azure or {}).get("machines") or {}
    all_options = (azure or {}).get("options") or {}
    for name, (host_profile, info, check) in hosts.items():
        verdict = from_host(host_profile or profile, info, check)
        if azure:
            options = dict(all_options.get(name) or {})
            options.setdefault("profile", host_profile or profile)
            add_azure(verdict, azure["source"], machines.get(name), options, info,
                      (azure.get("ambiguous") or {}).get(name), cache)
        verdicts[name] = verdict
    return Report(hosts=verdicts, profile=profile,
                  generated=generated or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  source=azure["source"] if azure else None,
                  not_in_inventory=sorted((str(n) for n in (azure or {}).get("not_in_inventory") or []),
                                          key=str.lower))


# ------------------------------------------------------------------------------------ from report.json back

_HOST_FIELDS = ("profile", "compliant", "differences", "blocked_installed", "agent", "error", "error_detail",
                "lifecycle", "notes", "findings", "disagreements")
_AZURE_FIELDS = ("compliant", "differences", "not_reported", "status", "last_status_change", "agent_version",
                 "resource_id", "error")


def _view_from_dict(data):
    if data is None:
        return None
    view = AzureView(**{k: data[k] for k in _AZURE_FIELDS if k in data})
    view.extra = {k: v for k, v in data.items() if k not in _AZURE_FIELDS}
    return view


def from_dict(data):
    """The ``Report`` of a report.json document (what ``Report.as_dict`` wrote)."""
    summary = data.get("summary") or {}
    with_azure = "not_in_inventory" in data
    hosts = {}
    for name, entry in (data.get("hosts") or {}).items():
        verdict = HostVerdict(**{k: entry[k] for k in _HOST_FIELDS
                                 if k in entry and (entry[k] is not None or k in ("error", "profile"))})
        if with_azure:
            verdict.findings = list(entry.get("findings") or [])
            verdict.azure = _view_from_dict(entry.get("azure"))
        verdict.extra = {k: v for k, v in entry.items() if k not in _HOST_FIELDS and k not in ("azure", "status")}
        hosts[name] = verdict
    return Report(hosts=hosts, profile=summary.get("profile"), generated=summary.get("generated") or "",
                  source=(summary.get("source") or "both") if with_azure else None,
                  not_in_inventory=list(data.get("not_in_inventory") or []),
                  sections={k: v for k, v in data.items() if k not in ("summary", "hosts", "not_in_inventory")})
