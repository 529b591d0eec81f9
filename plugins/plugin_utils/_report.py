# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet audit reports: JSON, JUnit XML and a self-contained HTML page. Pure and linear in the fleet size.

Internal to arcguard.azcmagent: not a public API, may change without notice.
"""

from __future__ import annotations

import html
import json
import re
import time
from xml.sax.saxutils import escape, quoteattr

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _arcmachine as arcmachine
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _catalog as catalog
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _info as agent_info
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _planner as planner
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._secrets import redact_url

try:
    import jmespath
except ImportError:  # the report still builds; the summary is then counted by hand
    jmespath = None

SUMMARY_QUERIES = {
    "compliant": "length(values(hosts)[?compliant])",
    "drifted": "length(values(hosts)[?!compliant && !error])",
    "errors": "length(values(hosts)[?error])",
    "no_agent": "length(values(hosts)[?agent.installed == `false`])",
    "blocked_installed": "length(values(hosts)[?length(blocked_installed) > `0`])",
    "lifecycle": "length(values(hosts)[?length(lifecycle) > `0`])",
}
OUTDATED = ("deprecated", "retired")


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


def host_entry(profile, info, check):
    """One host of the report from its azcmagent_info and check-mode azcmagent_config results."""
    entry = {"profile": profile, "compliant": False, "differences": [], "blocked_installed": [],
             "agent": {"installed": None, "version": None, "status": None}, "error": None, "lifecycle": []}
    info = info or {}
    if info.get("unreachable"):
        entry["error"] = "unreachable: %s" % (info.get("msg") or "no connection",)
        return entry
    if info.get("failed"):
        entry["error"] = str(info.get("msg") or "azcmagent_info failed")
        return entry
    agent = info.get("agent") or {}
    entry["agent"] = {"installed": agent.get("installed"), "version": agent.get("version"),
                      "status": agent.get("status")}
    entry["blocked_installed"] = [str(e.get("name") if isinstance(e, dict) else e)
                                  for e in info.get("blocked_installed") or []]
    entry["lifecycle"] = lifecycle_findings(info)
    if agent.get("installed") is False:
        entry["error"] = "the Azure Connected Machine agent is not installed"
        return entry
    if info.get("errors"):
        entry["error"] = "; ".join(str(e) for e in info["errors"])
        return entry
    check = check or {}
    if not check or check.get("skipped"):
        entry["error"] = "the profile could not be compared"
        return entry
    if check.get("unreachable") or check.get("failed"):
        entry["error"] = str(check.get("msg") or "the comparison failed")
        return entry
    entry["differences"] = [{"property": c.get("property"), "expected": c.get("after"), "actual": c.get("before")}
                            for c in check.get("changes") or []]
    if check.get("notes"):
        entry["notes"] = [str(n) for n in check["notes"]]
    entry["compliant"] = not entry["differences"]
    return entry


# ------------------------------------------------------------------------------------- the view from Azure

FINDING_UNREACHABLE = "unreachable, judged from Azure"
FINDING_DISAGREE = "host and Azure disagree"
FINDING_NOT_IN_AZURE = "not in Azure"
FINDING_NOT_IN_INVENTORY = "in Azure, not in this inventory"
FINDING_AMBIGUOUS = "ambiguous in Azure"

AZURE_SUMMARY_QUERIES = {
    "azure_compliant": "length(values(hosts)[?azure.compliant])",
    "azure_drifted": "length(values(hosts)[?azure && azure.compliant == `false`])",
    "not_in_azure": "length(values(hosts)[?contains(findings, 'not in Azure')])",
    "judged_from_azure": "length(values(hosts)[?contains(findings, 'unreachable, judged from Azure')])",
    "disagree": "length(values(hosts)[?contains(findings, 'host and Azure disagree')])",
}


def azure_view(machine, options):
    """Azure's judgement of one machine against the lockdown ``options`` (profile, profiles, overrides...)."""
    config = machine.get("agent_configuration") or {}
    view = {"compliant": False, "differences": [], "not_reported": [], "status": machine.get("status"),
            "last_status_change": machine.get("last_status_change"), "agent_version": machine.get("agent_version"),
            "resource_id": machine.get("resource_id"), "error": None}
    if not options.get("profile") and not any(v for k, v in options.items() if k not in ("profiles", "overrides")):
        view["error"] = "no lockdown profile for this host (lockdown_profile)"
        return view
    if not config and not machine.get("unreadable"):
        view["error"] = "Azure reports no agent settings for this machine (status %s)" % (machine.get("status"),)
        return view
    try:
        view["differences"], view["not_reported"], _warnings = arcmachine.compare(
            options, machine.get("os_type"), config, machine.get("unreadable") or ())
    except planner.PlanError as exc:
        view["error"] = str(exc)
        return view
    view["compliant"] = not view["differences"]
    return view


def _disagreements(host_config, azure_config):
    """The properties that the host and Azure both report, with different values."""
    out = []
    for prop in sorted(set(host_config or {}) & set(azure_config or {})):
        ours, theirs = host_config[prop], azure_config[prop]
        if prop == "proxy.url":
            ours = redact_url(str(ours or ""))
        if not planner.same(prop, ours, theirs):
            out.append({"property": prop, "host": ours, "azure": theirs})
    return out


def with_azure(entry, source, machine, options, info):
    """A host's entry with Azure's view: ``azure``, ``findings`` (and, for source azure, Azure's verdict)."""
    entry["findings"] = []
    entry["azure"] = None
    if machine is None:
        entry["findings"].append(FINDING_NOT_IN_AZURE)
        if source == "azure":
            entry["error"] = "not in Azure: no Arc machine matches this host"
        return entry
    if machine.get("ambiguous"):
        # a name several machines share is never a match: an error, not compliant, naming the machines
        entry["findings"].append(FINDING_AMBIGUOUS)
        entry["azure"] = {"compliant": False, "differences": [], "not_reported": [], "status": None,
                          "last_status_change": None, "agent_version": None, "resource_id": None,
                          "error": machine["ambiguous"]}
        if source == "azure":
            entry["compliant"] = False
            entry["error"] = machine["ambiguous"]
        return entry
    view = azure_view(machine, options)
    entry["azure"] = view
    if source == "azure":
        entry["compliant"] = view["compliant"]
        entry["differences"] = view["differences"]
        entry["agent"] = {"installed": None, "version": view["agent_version"], "status": view["status"]}
        entry["error"] = view["error"]
        return entry
    info = info or {}
    if info.get("unreachable") or info.get("failed") or (entry["error"] and info.get("errors")):
        entry["findings"].append(FINDING_UNREACHABLE)
    elif (info.get("agent") or {}).get("installed") is False:
        entry["findings"].append(FINDING_DISAGREE)
        entry["disagreements"] = [{"property": "agent", "host": "not installed", "azure": view["status"]}]
    else:
        differ = _disagreements(info.get("config"), machine.get("agent_configuration"))
        if differ:
            entry["findings"].append(FINDING_DISAGREE)
            entry["disagreements"] = differ
    return entry


def build(hosts, profile=None, generated=None, azure=None):
    """The report: {"summary": {...}, "hosts": {name: entry}} for {name: (profile, info, check)}.

    ``azure`` (audit_source azure or both): {"source", "machines": {name: machine or None},
    "options": {name: lockdown options}, "not_in_inventory": [names]}.
    """
    entries = {}
    for name, (host_profile, info, check) in hosts.items():
        entries[name] = host_entry(host_profile or profile, info, check)
        if azure:
            options = dict((azure.get("options") or {}).get(name) or {})
            options.setdefault("profile", host_profile or profile)
            entries[name] = with_azure(entries[name], azure["source"], (azure.get("machines") or {}).get(name),
                                       options, info)
    report = {"summary": {}, "hosts": entries}
    if azure:
        report["not_in_inventory"] = sorted(azure.get("not_in_inventory") or [], key=str.lower)
    summary = {"hosts": len(entries)}
    if jmespath is not None:
        for key, query in SUMMARY_QUERIES.items():
            summary[key] = jmespath.search(query, report)
    else:
        values = list(entries.values())
        summary.update(compliant=sum(1 for e in values if e["compliant"]),
                       drifted=sum(1 for e in values if not e["compliant"] and not e["error"]),
                       errors=sum(1 for e in values if e["error"]),
                       no_agent=sum(1 for e in values if e["agent"].get("installed") is False),
                       blocked_installed=sum(1 for e in values if e["blocked_installed"]),
                       lifecycle=sum(1 for e in values if e["lifecycle"]))
    if azure:
        summary["source"] = azure["source"]
        summary["not_in_inventory"] = len(report["not_in_inventory"])
        if jmespath is not None:
            for key, query in AZURE_SUMMARY_QUERIES.items():
                summary[key] = jmespath.search(query, report)
        else:
            values = list(entries.values())
            summary.update(azure_compliant=sum(1 for e in values if (e["azure"] or {}).get("compliant")),
                           azure_drifted=sum(1 for e in values if e["azure"] and e["azure"]["compliant"] is False),
                           not_in_azure=sum(1 for e in values if FINDING_NOT_IN_AZURE in e["findings"]),
                           judged_from_azure=sum(1 for e in values if FINDING_UNREACHABLE in e["findings"]),
                           disagree=sum(1 for e in values if FINDING_DISAGREE in e["findings"]))
    summary["profile"] = profile
    summary["generated"] = generated or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    report["summary"] = summary
    return report


# Characters no report may carry as they are: C0 and C1 controls (except tab, newline, carriage return), lone
# surrogates (what invalid UTF-8 becomes when decoded with surrogateescape), and U+FFFE/U+FFFF. XML 1.0 forbids
# most of them outright, HTML calls them parse errors, and a UTF-8 writer cannot encode a lone surrogate.
_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def _visible(match):
    ch = match.group(0)
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, as surrogateescape carries it
        return "\\x%02x" % (code - 0xDC00)
    return "\\x%02x" % code if code < 0x100 else "\\u%04x" % code


def safe_text(value):
    """``value`` as text any report format can hold: unsafe characters become visible ``\\xNN`` escapes.

    Bytes are decoded as UTF-8, their undecodable bytes shown as ``\\xNN``.
    """
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "surrogateescape")
    elif not isinstance(value, str):
        value = str(value)
    return _UNSAFE.sub(_visible, value)


def safe(value):
    """A copy of a report (or any part of one) whose every string, keys included, is ``safe_text``."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            name = safe_text(key) if isinstance(key, (str, bytes, bytearray)) else key
            while name in out:  # two names that read the same once made safe stay two entries
                name = "%s (%d)" % (name, len(out))
            out[name] = safe(item)
        return out
    if isinstance(value, (list, tuple)):
        return [safe(item) for item in value]
    if isinstance(value, (str, bytes, bytearray)):
        return safe_text(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return safe_text(value)


def to_json(report):
    return json.dumps(safe(report), indent=2, sort_keys=True) + "\n"


def _short(value):
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _azure_lines(entry):
    """What Azure says about a host, as text lines (JUnit system-out)."""
    lines = ["finding: %s" % f for f in entry.get("findings") or []]
    view = entry.get("azure")
    if view:
        lines.append("azure: %s, status %s since %s" % (
            "error: " + view["error"] if view["error"] else ("compliant" if view["compliant"] else "drifted"),
            view["status"], view["last_status_change"]))
        lines.extend("azure: %s: expected %s, actual %s" % (d["property"], _short(d["expected"]), _short(d["actual"]))
                     for d in view["differences"])
        lines.extend("azure: %s: %s" % (p, arcmachine.NOT_REPORTED) for p in view["not_reported"])
    for d in entry.get("disagreements") or []:
        lines.append("host and Azure disagree on %s: host %s, Azure %s" % (d["property"], _short(d["host"]),
                                                                           _short(d["azure"])))
    return lines


def to_junit(report):
    """JUnit XML: one test case per host; a drifted host fails, an unreachable one is an error."""
    report = safe(report)
    summary = report["summary"]
    lifecycle = _junit_lifecycle(report)
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n',
             '<testsuites name="azcmagent audit" tests="%d" failures="%d" errors="%d">\n'
             % (summary["hosts"] + lifecycle[1], summary["drifted"] + lifecycle[1], summary["errors"]),
             '  <testsuite name=%s tests="%d" failures="%d" errors="%d" timestamp=%s>\n'
             % (quoteattr("azcmagent audit: %s" % (summary.get("profile") or "per-host profiles")), summary["hosts"],
                summary["drifted"], summary["errors"], quoteattr(summary["generated"]))]
    for name in sorted(report["hosts"]):
        entry = report["hosts"][name]
        parts.append('    <testcase classname=%s name=%s>' % (quoteattr("azcmagent." + str(entry["profile"])),
                                                              quoteattr(str(name))))
        if entry["error"]:
            parts.append('<error message=%s/>' % quoteattr(str(entry["error"])))
        elif not entry["compliant"]:
            lines = ["%s: expected %s, actual %s" % (d["property"], _short(d["expected"]), _short(d["actual"]))
                     for d in entry["differences"]]
            parts.append('<failure message=%s>%s</failure>' % (
                quoteattr("%d setting(s) differ from profile %s" % (len(lines), entry["profile"])),
                escape("\n".join(lines))))
        out_lines = []
        if entry["blocked_installed"]:
            out_lines.append("installed but no longer allowed: " + ", ".join(str(n) for n in entry["blocked_installed"]))
        out_lines.extend(_azure_lines(entry))
        if out_lines:
            parts.append('<system-out>%s</system-out>' % escape("\n".join(out_lines)))
        parts.append("</testcase>\n")
    parts.append("  </testsuite>\n")
    parts.append(lifecycle[0])
    if "not_in_inventory" in report:
        missing = report["not_in_inventory"]
        parts.append('  <testsuite name="Arc machines not in this inventory" tests="%d" failures="0" errors="0" '
                     'skipped="%d">\n' % (len(missing), len(missing)))
        for name in missing:
            parts.append('    <testcase classname="azure.not_in_inventory" name=%s><skipped message=%s/></testcase>\n'
                         % (quoteattr(name), quoteattr(FINDING_NOT_IN_INVENTORY)))
        parts.append("  </testsuite>\n")
    parts.append("</testsuites>\n")
    return "".join(parts)


def _junit_lifecycle(report):
    """(text, count): a test suite with one failing case per host that allows or runs deprecated or retired
    extensions; no suite when there is none."""
    hosts = [(name, report["hosts"][name]) for name in sorted(report["hosts"]) if report["hosts"][name].get("lifecycle")]
    if not hosts:
        return "", 0
    parts = ['  <testsuite name="azcmagent extension lifecycle" tests="%d" failures="%d" errors="0" timestamp=%s>\n'
             % (len(hosts), len(hosts), quoteattr(report["summary"]["generated"]))]
    for name, entry in hosts:
        findings = entry["lifecycle"]
        parts.append('    <testcase classname="azcmagent.lifecycle" name=%s><failure message=%s>%s</failure>'
                     '</testcase>\n' % (quoteattr(name), quoteattr(
                         "%d deprecated or retired extension(s): %s" % (
                             len(findings), ", ".join("%s (%s %s)" % (f["name"], f["status"], f["date"])
                                                      for f in findings))),
                         escape("\n".join(f["message"] for f in findings))))
    parts.append("  </testsuite>\n")
    return "".join(parts), len(hosts)


_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem;color:#1b1f24;background:#fafbfc}
h1{font-size:1.5rem;margin:0 0 .25rem}p.meta{color:#57606a;margin:0 0 1.5rem}
.cards{display:flex;gap:1rem;flex-wrap:wrap;margin-bottom:1.5rem}
.card{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:.75rem 1.25rem;min-width:8rem}
.card .n{font-size:2rem;font-weight:600}.card .l{color:#57606a;font-size:.85rem}
.ok .n{color:#1a7f37}.bad .n{color:#cf222e}.err .n{color:#9a6700}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #d0d7de}
th,td{text-align:left;padding:.45rem .7rem;border-bottom:1px solid #eaeef2;vertical-align:top;font-size:.9rem}
th{background:#f6f8fa;cursor:pointer;user-select:none;white-space:nowrap}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
.s-compliant{color:#1a7f37;font-weight:600}.s-drifted{color:#cf222e;font-weight:600}.s-error{color:#9a6700;font-weight:600}
code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.82rem}
h2{font-size:1.15rem;margin:2rem 0 .5rem}h3{font-size:1rem;margin:1.25rem 0 .4rem}
"""

_SCRIPT = """
(function(){
  var table=document.getElementById('hosts');
  var heads=table.tHead.rows[0].cells;
  function key(cell,type){var v=cell.getAttribute('data-v');if(v===null){v=cell.textContent;}
    return type==='num'?parseFloat(v)||0:v.toLowerCase();}
  Array.prototype.forEach.call(heads,function(th,col){
    th.addEventListener('click',function(){
      var asc=th.getAttribute('aria-sort')!=='ascending';
      Array.prototype.forEach.call(heads,function(h){h.removeAttribute('aria-sort');});
      th.setAttribute('aria-sort',asc?'ascending':'descending');
      var type=th.getAttribute('data-type');
      var rows=Array.prototype.slice.call(table.tBodies[0].rows);
      rows.sort(function(a,b){var x=key(a.cells[col],type),y=key(b.cells[col],type);
        return (x<y?-1:x>y?1:0)*(asc?1:-1);});
      rows.forEach(function(r){table.tBodies[0].appendChild(r);});
    });
  });
})();
"""


def _status(entry):
    if entry["error"]:
        return "error"
    return "compliant" if entry["compliant"] else "drifted"


def _azure_cells(entry):
    esc = html.escape
    view = entry.get("azure")
    if view is None:
        verdict = "not in Azure"
    elif view["error"]:
        verdict = "error"
    else:
        verdict = "compliant" if view["compliant"] else "drifted"
    status = "" if view is None else "%s (since %s)" % (view["status"] or "", view["last_status_change"] or "")
    return '<td class="s-%s">%s</td><td>%s</td><td>%s</td>' % (
        "error" if verdict in ("error", "not in Azure") else verdict, esc(verdict), esc(status),
        esc("; ".join(entry.get("findings") or [])))


def _azure_sections(report, ordered):
    """Azure's differences and unreported settings per host, disagreements, and the machines the inventory lacks."""
    esc = html.escape
    out = []
    shown = [(n, e) for n, e in ordered
             if e.get("azure") and (e["azure"]["differences"] or e["azure"]["not_reported"] or e.get("disagreements"))]
    if shown:
        out.append("<h2>As Azure reports it</h2>")
    for name, entry in shown:
        view = entry["azure"]
        out.append('<h3 id="azure-%s">%s</h3><table class="azure"><thead><tr><th>Setting</th><th>Expected</th>'
                   '<th>Azure reports</th></tr></thead><tbody>' % (esc(name, quote=True), esc(name)))
        for diff in view["differences"]:
            out.append("<tr><td><code>%s</code></td><td><code>%s</code></td><td><code>%s</code></td></tr>"
                       % (esc(str(diff["property"])), esc(_short(diff["expected"])), esc(_short(diff["actual"]))))
        for prop in view["not_reported"]:
            out.append('<tr class="not-reported"><td><code>%s</code></td><td></td><td>%s</td></tr>'
                       % (esc(prop), esc(arcmachine.NOT_REPORTED)))
        for diff in entry.get("disagreements") or []:
            out.append('<tr class="disagree"><td><code>%s</code></td><td>host: <code>%s</code></td>'
                       '<td><code>%s</code> (%s)</td></tr>' % (esc(str(diff["property"])), esc(_short(diff["host"])),
                                                               esc(_short(diff["azure"])), esc(FINDING_DISAGREE)))
        out.append("</tbody></table>")
    missing = report.get("not_in_inventory") or []
    out.append('<h2 id="not-in-inventory">%s (%d)</h2>' % (esc(FINDING_NOT_IN_INVENTORY.capitalize()), len(missing)))
    if missing:
        out.append("<ul>%s</ul>" % "".join("<li>%s</li>" % esc(n) for n in missing))
    return "".join(out)


def to_html(report):
    """One self-contained page: summary counts, a sortable table of hosts, each drifted host's differences."""
    report = safe(report)
    summary = report["summary"]
    with_azure_view = "not_in_inventory" in report
    esc = html.escape
    out = ['<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           '<title>azcmagent audit: %s</title><style>%s</style></head><body>'
           % (esc(str(summary.get("profile") or "per-host profiles")), _STYLE),
           '<h1>Azure Arc agent audit</h1><p class="meta">Profile: <b>%s</b> &middot; generated %s</p>'
           % (esc(str(summary.get("profile") or "per-host profiles")), esc(summary["generated"])),
           '<div class="cards">']
    for key, label, css in (("hosts", "hosts", ""), ("compliant", "compliant", "ok"), ("drifted", "drifted", "bad"),
                            ("errors", "unreachable or failed", "err"), ("no_agent", "without the agent", "err"),
                            ("blocked_installed", "with blocked extensions installed", "bad"),
                            ("lifecycle", "allowing or running retired or deprecated extensions", "bad")):
        out.append('<div class="card %s" id="count-%s"><div class="n">%d</div><div class="l">%s</div></div>'
                   % (css, key, summary.get(key, 0), esc(label)))
    out.append('</div><table id="hosts"><thead><tr>'
               '<th data-type="text">Host</th><th data-type="text">Status</th><th data-type="text">Profile</th>'
               '<th data-type="num">Differences</th><th data-type="text">Agent version</th>'
               '<th data-type="text">Blocked but installed</th><th data-type="text">Error</th>%s</tr></thead><tbody>'
               % ('<th data-type="text">Azure</th><th data-type="text">Azure status</th>'
                  '<th data-type="text">Findings</th>' if with_azure_view else ""))
    rank = {"drifted": 0, "error": 1, "compliant": 2}
    ordered = sorted(report["hosts"].items(), key=lambda kv: (rank[_status(kv[1])], kv[0]))
    for name, entry in ordered:
        status = _status(entry)
        out.append('<tr><td><a href="#host-%s">%s</a></td><td class="s-%s" data-v="%d%s">%s</td><td>%s</td>'
                   '<td data-v="%d">%d</td><td>%s</td><td>%s</td><td>%s</td>%s</tr>'
                   % (esc(name, quote=True), esc(name), status, rank[status], status, status,
                      esc(str(entry["profile"] or "")), len(entry["differences"]), len(entry["differences"]),
                      esc(str(entry["agent"].get("version") or "")), esc(", ".join(str(n) for n in entry["blocked_installed"])),
                      esc(str(entry["error"] or "")), _azure_cells(entry) if with_azure_view else ""))
    out.append("</tbody></table>")
    if with_azure_view:
        out.append(_azure_sections(report, ordered))
    drifted = [(n, e) for n, e in ordered if e["differences"]]
    if drifted:
        out.append("<h2>Differences</h2>")
    for name, entry in drifted:
        out.append('<h3 id="host-%s">%s</h3><table class="diff"><thead><tr><th>Setting</th><th>Expected</th>'
                   '<th>Actual</th></tr></thead><tbody>' % (esc(name, quote=True), esc(name)))
        for diff in entry["differences"]:
            out.append("<tr><td><code>%s</code></td><td><code>%s</code></td><td><code>%s</code></td></tr>"
                       % (esc(str(diff["property"])), esc(_short(diff["expected"])), esc(_short(diff["actual"]))))
        out.append("</tbody></table>")
    out.extend(_html_lifecycle(ordered))
    out.append("<script>%s</script></body></html>\n" % _SCRIPT)
    return "".join(out)


def _html_lifecycle(ordered):
    """The section listing each host's deprecated and retired extensions, allowed or installed."""
    rows = [(name, f) for name, entry in ordered for f in entry.get("lifecycle") or []]
    if not rows:
        return []
    esc = html.escape
    out = ['<h2 id="lifecycle">Retired and deprecated extensions</h2><table class="lifecycle"><thead><tr><th>Host</th>'
           '<th>Extension</th><th>Where</th><th>Status</th><th>Date</th><th>Microsoft\'s replacement</th>'
           '<th>Source</th></tr></thead><tbody>']
    for name, finding in rows:
        where = "allowlist" if finding["where"] == "allowlist" else "installed %s" % (finding["version"] or "")
        links = " ".join('<a href="%s">%s</a>' % (esc(s["url"], quote=True), esc(s["document"]))
                         for s in finding["sources"] if s.get("url"))
        out.append('<tr><td>%s</td><td><code>%s</code></td><td>%s</td><td class="s-%s">%s</td><td>%s %s</td>'
                   '<td>%s</td><td>%s</td></tr>'
                   % (esc(name), esc(finding["name"]), esc(where.strip()),
                      "drifted" if finding["status"] == "retired" else "error", esc(finding["status"]),
                      esc(finding["event"] or ""), esc(finding["date"] or ""),
                      esc(finding["replacement_name"] or finding["replacement"] or "none named"), links))
    out.append("</tbody></table>")
    return out
