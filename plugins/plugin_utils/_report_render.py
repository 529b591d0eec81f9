# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit's renderers: report.json, JUnit XML and one self-contained HTML page from a ``_report_model.Report``.

Internal to arcguard.azcmagent: not a public API, may change without notice.

Renderers decide nothing: every verdict and count comes from the model. Each one is a single pass over the
hosts (plus one sort), so writing is linear in the fleet; the HTML page puts the summary and the findings
first, the hosts to look at next (drifted first), and folds the compliant ones away.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from typing import List, Optional
from xml.sax.saxutils import escape, quoteattr

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _extreport as extreport
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _report_model as model
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._arcmachine import NOT_REPORTED

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
    memo = {}

    def text(item):
        out = memo.get(item)
        if out is None:
            out = memo[item] = item if _UNSAFE.search(item) is None else _UNSAFE.sub(_visible, item)
        return out

    def walk(item):
        kind = type(item)
        if kind is str:
            return text(item)
        if item is None or kind is bool or kind is int or kind is float:
            return item
        if isinstance(item, dict):
            out = {}
            for key, sub in item.items():
                name = safe_text(key) if isinstance(key, (bytes, bytearray)) else text(key) if isinstance(key, str) else key
                while name in out:  # two names that read the same once made safe stay two entries
                    name = "%s (%d)" % (name, len(out))
                out[name] = walk(sub)
            return out
        if isinstance(item, (list, tuple)):
            return [walk(sub) for sub in item]
        if isinstance(item, (bool, int, float)):
            return item
        return safe_text(item)
    return walk(value)


# In JSON written with ensure_ascii, what may stand for a character ``safe_text`` would change (a false alarm,
# such as an escaped backslash before a "b", only costs the full walk).
_MAYBE_UNSAFE = re.compile(r"\\[bf]|\\u00[01]|\\u007f|\\u00[89]|\\ud[89a-f]|\\ufff[ef]", re.IGNORECASE)


def safe_report(report):
    """(the safe report.json document, the safe model, report.json's text or None): what every renderer draws.

    A report whose every string is already safe (checked on report.json's own text, written once by the C JSON
    encoder, ASCII only) is used as it is, with that text; any other is made safe and read back into a model."""
    data = report.as_dict()
    try:
        text = to_json(data)
    except (TypeError, ValueError):
        text = None
    if text is not None and _MAYBE_UNSAFE.search(text) is None:
        return data, report, text
    data = safe(data)
    return data, model.from_dict(data), None


def to_json(data):
    """report.json from the safe document: keys sorted, one host (or one machine name) a line, so that it is
    written by the C encoder in time linear in the fleet and still reads and diffs line by line."""
    parts = ["{\n"]
    keys = sorted(data)
    for index, key in enumerate(keys):
        value = data[key]
        parts.append("  %s: " % json.dumps(key))
        if isinstance(value, dict) and key == "hosts":
            names = sorted(value)
            rows = ["    %s: %s" % (json.dumps(n), json.dumps(value[n], sort_keys=True)) for n in names]
            parts.append("{\n" + ",\n".join(rows) + ("\n  }" if names else "}"))
        else:
            parts.append(json.dumps(value, sort_keys=True))
        parts.append(",\n" if index < len(keys) - 1 else "\n")
    parts.append("}\n")
    return "".join(parts)


def short(value):
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def difference_text(diff):
    """One difference as a line: list entries missing and extra, else expected and actual."""
    if "missing" in diff:
        parts = []
        if diff["missing"]:
            parts.append("missing " + ", ".join(str(v) for v in diff["missing"]))
        if diff["extra"]:
            parts.append("extra " + ", ".join(str(v) for v in diff["extra"]))
        return "%s: %s" % (diff["property"], "; ".join(parts) or "same entries, another order")
    return "%s: expected %s, actual %s" % (diff["property"], short(diff["expected"]), short(diff["actual"]))


# -------------------------------------------------------------------------------------------------- JUnit

@dataclass
class JUnitCase:
    """One test case; its outcome is at most one of failure, error, skipped."""

    name: str
    classname: str
    failure: Optional[tuple] = None   # (message, text)
    error: Optional[str] = None
    skipped: Optional[str] = None
    system_out: str = ""


@dataclass
class JUnitSuite:
    """A test suite whose counts are derived from its cases."""

    name: str
    cases: List[JUnitCase] = field(default_factory=list)
    timestamp: Optional[str] = None

    @property
    def tests(self):
        return len(self.cases)

    @property
    def failures(self):
        return sum(1 for c in self.cases if c.failure is not None)

    @property
    def errors(self):
        return sum(1 for c in self.cases if c.error is not None)

    @property
    def skipped(self):
        return sum(1 for c in self.cases if c.skipped is not None)


def _field_lines(verdict):
    """The agent version finding and the settings decided in Azure, as lines (neither is drift)."""
    out = []
    for view in (verdict, verdict.azure):
        support = (view.extra.get("agent_support") or {}) if view is not None else {}
        if support.get("status") == "unsupported" and support["message"] not in out:
            out.append("agent version: " + support["message"])
        for diff in (view.extra.get("managed_in_azure") or []) if view is not None else []:
            out.append("managed in Azure (not drift): %s is %r, the profile says %r; decided by %s"
                       % (diff["property"], diff["actual"], diff["expected"], diff["owner"]))
    return out


def junit_model(report):
    """[JUnitSuite]: the hosts, their retired or deprecated extensions, the Arc machines no host is."""
    hosts = JUnitSuite("azcmagent audit: %s" % (report.profile or "per-host profiles"), timestamp=report.generated)
    lifecycle = JUnitSuite("azcmagent extension lifecycle", timestamp=report.generated)
    for name in sorted(report.hosts):
        verdict = report.hosts[name]
        case = JUnitCase(str(name), "azcmagent." + str(verdict.profile))
        if verdict.status == model.ERROR:
            case.error = str(verdict.error)
        elif verdict.status == model.DRIFTED:
            lines = [difference_text(d) for d in verdict.differences]
            case.failure = ("%d setting(s) differ from profile %s" % (len(lines), verdict.profile), "\n".join(lines))
        out = []
        if verdict.error_detail:
            out.append("error: " + verdict.error_detail)
        if verdict.blocked_installed:
            out.append("installed but no longer allowed: " + ", ".join(str(n) for n in verdict.blocked_installed))
        out.extend(_azure_lines(verdict))
        out.extend(_field_lines(verdict))
        case.system_out = "\n".join(out)
        hosts.cases.append(case)
        if verdict.lifecycle:
            found = verdict.lifecycle
            lifecycle.cases.append(JUnitCase(str(name), "azcmagent.lifecycle", failure=(
                "%d deprecated or retired extension(s): %s" % (
                    len(found), ", ".join("%s (%s %s)" % (f["name"], f["status"], f["date"] or f["event"])
                                          for f in found)),
                "\n".join(f["message"] for f in found))))
    suites = [hosts] + ([lifecycle] if lifecycle.cases else [])
    if report.with_azure:
        suites.append(JUnitSuite("Arc machines not in this inventory", [
            JUnitCase(str(n), "azure.not_in_inventory", skipped=model.FINDING_NOT_IN_INVENTORY)
            for n in report.not_in_inventory]))
    refused = extreport.junit_cases(report)
    if refused and refused[1]:
        suites.append(JUnitSuite(refused[0], [JUnitCase(n, c, failure=(m, t)) for n, c, m, t in refused[1]],
                                 timestamp=report.generated))
    return suites


def _azure_lines(verdict):
    """What Azure says about a host, as text lines (JUnit system-out)."""
    lines = ["finding: %s" % f for f in verdict.findings or []]
    view = verdict.azure
    if view:
        label = "error: " + view.error if view.error else view.verdict
        lines.append("azure: %s, status %s since %s" % (label, view.status, view.last_status_change))
        lines.extend("azure: " + difference_text(d) for d in view.differences)
        lines.extend("azure: %s: %s" % (p, NOT_REPORTED) for p in view.not_reported)
        lines.extend(extreport.junit_lines(view))
    for d in verdict.disagreements or []:
        lines.append("host and Azure disagree on %s: host %s, Azure %s" % (d["property"], short(d["host"]),
                                                                           short(d["azure"])))
    return lines


def _counts(suite_or_total, skipped=True):
    text = 'tests="%d" failures="%d" errors="%d"' % (suite_or_total[0], suite_or_total[1], suite_or_total[2])
    return text + (' skipped="%d"' % suite_or_total[3] if skipped and suite_or_total[3] else "")


def to_junit(report):
    """JUnit XML from the safe model: one test case per host; a drifted host fails, an unreachable one errs."""
    suites = junit_model(report)
    total = [sum(getattr(s, k) for s in suites) for k in ("tests", "failures", "errors", "skipped")]
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="azcmagent audit" %s>\n' % _counts(total)]
    for suite in suites:
        stamp = " timestamp=%s" % quoteattr(suite.timestamp) if suite.timestamp else ""
        parts.append("  <testsuite name=%s %s%s>\n" % (quoteattr(suite.name), _counts(
            (suite.tests, suite.failures, suite.errors, suite.skipped)), stamp))
        for case in suite.cases:
            parts.append("    <testcase classname=%s name=%s>" % (quoteattr(case.classname), quoteattr(case.name)))
            if case.error is not None:
                parts.append("<error message=%s/>" % quoteattr(case.error))
            elif case.failure is not None:
                parts.append("<failure message=%s>%s</failure>" % (quoteattr(case.failure[0]), escape(case.failure[1])))
            elif case.skipped is not None:
                parts.append("<skipped message=%s/>" % quoteattr(case.skipped))
            if case.system_out:
                parts.append("<system-out>%s</system-out>" % escape(case.system_out))
            parts.append("</testcase>\n")
        parts.append("  </testsuite>\n")
    parts.append("</testsuites>\n")
    return "".join(parts)


# --------------------------------------------------------------------------------------------------- HTML

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem;color:#1b1f24;background:#fafbfc}
h1{font-size:1.5rem;margin:0 0 .25rem}p.meta{color:#57606a;margin:0 0 1.5rem}
.cards{display:flex;gap:1rem;flex-wrap:wrap;margin-bottom:1.5rem}
.card{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:.75rem 1.25rem;min-width:8rem}
.card .n{font-size:2rem;font-weight:600}.card .l{color:#57606a;font-size:.85rem}
.ok .n{color:#1a7f37}.bad .n{color:#cf222e}.err .n{color:#9a6700}.card.zero .n{color:#8c959f}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #d0d7de}
th,td{text-align:left;padding:.45rem .7rem;border-bottom:1px solid #eaeef2;vertical-align:top;font-size:.9rem}
th{background:#f6f8fa;white-space:nowrap}tr.h td:first-child{white-space:nowrap}#hosts th{cursor:pointer;user-select:none}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
.s-compliant{color:#1a7f37;font-weight:600}.s-drifted{color:#cf222e;font-weight:600}.s-error{color:#9a6700;font-weight:600}
.miss{color:#cf222e}.extra{color:#9a6700}.muted{color:#57606a}
code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.82rem;overflow-wrap:anywhere}
h2{font-size:1.15rem;margin:2rem 0 .5rem}summary{cursor:pointer;font-weight:600;margin:1rem 0 .5rem}
input.filter{font-size:1rem;padding:.35rem .6rem;width:24rem;max-width:100%;margin:.25rem 0 .75rem;
border:1px solid #d0d7de;border-radius:6px}
"""

_SCRIPT = """
(function(){
  var table=document.getElementById('hosts');
  if(table){var heads=table.tHead.rows[0].cells;
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
      var body=table.tBodies[0];body.textContent='';
      var frag=document.createDocumentFragment();rows.forEach(function(r){frag.appendChild(r);});body.appendChild(frag);
    });
  });}
  var box=document.getElementById('filter'),timer=null;
  if(box){box.addEventListener('input',function(){clearTimeout(timer);timer=setTimeout(function(){
    var q=box.value.toLowerCase();
    Array.prototype.forEach.call(document.querySelectorAll('tr.h'),function(r){
      r.hidden=q!==''&&r.textContent.toLowerCase().indexOf(q)<0;});
    if(q!==''){var d=document.getElementById('compliant-hosts');if(d){d.open=true;}}
  },150);});}
})();
"""

_CARDS = (("hosts", "hosts", ""), ("compliant", "compliant", "ok"), ("drifted", "drifted", "bad"),
          ("errors", "unreachable or failed", "err"), ("no_agent", "without the agent", "err"),
          ("blocked_installed", "with blocked extensions installed", "bad"),
          ("lifecycle", "allowing or running retired or deprecated extensions", "bad"))
_AZURE_CARDS = (("azure_drifted", "drifted as Azure reports", "bad"), ("not_in_azure", "not in Azure", "err"),
                ("disagree", "host and Azure disagree", "bad"), ("not_in_inventory", "in Azure, not in this inventory",
                                                                 "err"))
_FOLD_LIST = 50   # a list longer than this is folded


def _esc(value):
    return html.escape(str(value))


def _differences_html(diffs):
    out = []
    for diff in diffs:
        prop = "<code>%s</code>: " % _esc(diff["property"])
        if "missing" in diff:
            parts = []
            if diff["missing"]:
                parts.append('<span class="miss">missing</span> <code>%s</code>' % _esc(", ".join(map(str, diff["missing"]))))
            if diff["extra"]:
                parts.append('<span class="extra">extra</span> <code>%s</code>' % _esc(", ".join(map(str, diff["extra"]))))
            out.append("<div>%s%s</div>" % (prop, "; ".join(parts) or "same entries, another order"))
        else:
            out.append("<div>%sexpected <code>%s</code>, actual <code>%s</code></div>"
                       % (prop, _esc(short(diff["expected"])), _esc(short(diff["actual"]))))
    return "".join(out)


def _azure_html(verdict, source):
    """The Azure cells: Azure's verdict with its differences (already the host's with source azure), its status,
    the findings."""
    view = verdict.azure
    verdict_text = verdict.azure_verdict
    detail = []
    if view is not None:
        if view.error:
            detail.append("<div>%s</div>" % _esc(view.error))
        if source != "azure":
            detail.append(_differences_html(view.differences))
        detail.extend('<div class="muted"><code>%s</code>: %s</div>' % (_esc(p), _esc(NOT_REPORTED))
                      for p in view.not_reported)
    for diff in verdict.disagreements or []:
        detail.append('<div><code>%s</code>: host <code>%s</code>, Azure <code>%s</code> (%s)</div>'
                      % (_esc(diff["property"]), _esc(short(diff["host"])), _esc(short(diff["azure"])),
                         _esc(model.FINDING_DISAGREE)))
    status = "" if view is None else "%s (since %s)" % (view.status or "", view.last_status_change or "")
    css = model.ERROR if verdict_text in (model.ERROR, model.NOT_IN_AZURE) else verdict_text
    return '<td><span class="s-%s">%s</span>%s</td><td>%s</td><td>%s</td>' % (
        css, _esc(verdict_text), "".join(detail), _esc(status), _esc("; ".join(verdict.findings or [])))


def _row(name, verdict, source):
    status = verdict.status
    rank = {model.DRIFTED: 0, model.ERROR: 1, model.COMPLIANT: 2}[status]
    return ('<tr class="h" id="host-%s"><td>%s</td><td class="s-%s" data-v="%d%s">%s</td><td>%s</td>'
            '<td data-v="%d">%s</td><td>%s</td><td>%s</td><td>%s</td>%s</tr>'
            % (html.escape(str(name), quote=True), _esc(name), status, rank, status, status,
               _esc(verdict.profile if verdict.profile is not None else ""), len(verdict.differences),
               _differences_html(verdict.differences), _esc(verdict.agent.get("version") or ""),
               _esc(", ".join(str(n) for n in verdict.blocked_installed)), _esc(verdict.error or ""),
               _azure_html(verdict, source) if source else ""))


def _compliant_row(name, verdict, with_azure):
    azure = ""
    if with_azure:
        view = verdict.azure
        azure = "<td>%s%s</td><td>%s</td><td>%s</td>" % (
            _esc(verdict.azure_verdict), "".join('<div class="muted"><code>%s</code>: %s</div>' % (
                _esc(p), _esc(NOT_REPORTED)) for p in view.not_reported) if view is not None and len(
                    view.not_reported) < 3 else " (%d not reported)" % len(view.not_reported) if view else "",
            "" if view is None else _esc("%s (since %s)" % (view.status or "", view.last_status_change or "")),
            _esc("; ".join(verdict.findings or [])))
    return '<tr class="h" id="host-%s"><td>%s</td><td>%s</td><td>%s</td><td>%s</td>%s</tr>' % (
        html.escape(str(name), quote=True), _esc(name), _esc(verdict.profile if verdict.profile is not None else ""),
        _esc(verdict.agent.get("version") or ""), _esc(", ".join(str(n) for n in verdict.blocked_installed)), azure)


def _findings_html(report, summary):
    """What is wrong across the fleet, most hosts first: settings drifted, errors by kind, Azure findings."""
    findings, props = report.finding_counts()
    errors = {}
    for verdict in report.hosts.values():
        if verdict.error:
            errors[verdict.error] = errors.get(verdict.error, 0) + 1
    rows = [("<code>%s</code> differs from the profile" % _esc(p), n) for p, n in props.items()]
    rows += [(_esc(e), n) for e, n in errors.items()]
    rows += [(_esc(f), n) for f, n in findings.items() if not (report.source == "azure" and f == model.NOT_IN_AZURE)]
    for key, label in (("blocked_installed", "blocked extensions installed"),
                       ("lifecycle", "retired or deprecated extensions allowed or running"),
                       ("unsupported_agent", "agent older than Microsoft's 12-month support window"),
                       ("managed_in_azure", "settings decided in Azure differ from the profile (not drift)")):
        if summary.get(key):
            rows.append((_esc(label), summary[key]))
    if report.not_in_inventory:
        rows.append(('<a href="#not-in-inventory">%s</a>' % _esc(model.FINDING_NOT_IN_INVENTORY),
                     len(report.not_in_inventory)))
    if not rows:
        return '<h2 id="findings">Findings</h2><p>None: every host is compliant.</p>'
    rows.sort(key=lambda r: -r[1])
    return ('<h2 id="findings">Findings</h2><table class="findings"><thead><tr><th>Finding</th><th>Hosts</th></tr>'
            '</thead><tbody>%s</tbody></table>' % "".join("<tr><td>%s</td><td>%d</td></tr>" % r for r in rows))


def to_html(report, summary):
    """One self-contained page from the safe model and its summary."""
    with_azure = report.with_azure
    label = report.profile_label()
    out = ['<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           "<title>azcmagent audit: %s</title><style>%s</style></head><body>" % (_esc(label), _STYLE),
           '<h1>Azure Arc agent audit</h1><p class="meta">Profile: <b id="profile">%s</b>%s &middot; generated %s</p>'
           % (_esc(label), " &middot; judged from %s" % _esc({"azure": "Azure", "both": "the hosts and Azure"}.get(
               report.source, report.source)) if with_azure else "", _esc(report.generated)),
           '<div class="cards">']
    for key, text, css in _CARDS + (_AZURE_CARDS if with_azure else ()):
        count = summary.get(key, 0)
        out.append('<div class="card %s" id="count-%s"><div class="n">%d</div><div class="l">%s</div></div>'
                   % (css if count and css else "zero" if not count and key != "hosts" else css, key, count,
                      _esc(text)))
    out.append("</div>")
    out.append(_findings_html(report, summary))
    ordered = report.ordered()
    attention = [(n, v) for n, v in ordered if v.status != model.COMPLIANT]
    compliant = [(n, v) for n, v in ordered if v.status == model.COMPLIANT]
    head = ('<thead><tr><th data-type="text">Host</th><th data-type="text">Status</th><th data-type="text">Profile</th>'
            '<th data-type="num">Differences</th><th data-type="text">Agent version</th>'
            '<th data-type="text">Blocked but installed</th><th data-type="text">Error</th>%s</tr></thead>'
            % ('<th data-type="text">Azure</th><th data-type="text">Azure status</th><th data-type="text">Findings</th>'
               if with_azure else ""))
    out.append('<h2 id="attention">Hosts to look at (%d)</h2>' % len(attention))
    out.append('<input class="filter" id="filter" type="search" placeholder="Filter hosts by any text" '
               'aria-label="Filter hosts">')
    if attention:
        out.append('<table id="hosts">%s<tbody>' % head)
        out.extend(_row(n, v, report.source) for n, v in attention)
        out.append("</tbody></table>")
    else:
        out.append("<p>None.</p>")
    if compliant:
        # compact rows: a compliant host has no differences and no error to show
        out.append('<details id="compliant-hosts"%s><summary>Compliant hosts (%d)</summary><table><thead><tr>'
                   '<th>Host</th><th>Profile</th><th>Agent version</th><th>Blocked but installed</th>%s</tr></thead>'
                   '<tbody>' % (" open" if len(compliant) <= _FOLD_LIST else "", len(compliant),
                                "<th>Azure</th><th>Azure status</th><th>Findings</th>" if with_azure else ""))
        out.extend(_compliant_row(n, v, with_azure) for n, v in compliant)
        out.append("</tbody></table></details>")
    if with_azure:
        missing = report.not_in_inventory
        out.append('<h2 id="not-in-inventory">%s (%d)</h2>' % (_esc(model.FINDING_NOT_IN_INVENTORY.capitalize()),
                                                               len(missing)))
        if missing:
            items = "<ul>%s</ul>" % "".join("<li>%s</li>" % _esc(n) for n in missing)
            out.append(items if len(missing) <= _FOLD_LIST else
                       "<details><summary>%d machines</summary>%s</details>" % (len(missing), items))
    out.extend(extreport.html_sections(report, _esc))
    out.extend(_html_lifecycle(ordered))
    out.append("<script>%s</script></body></html>\n" % _SCRIPT)
    return "".join(out)


def _html_lifecycle(ordered):
    """The section listing each host's deprecated and retired extensions, allowed or installed."""
    rows = [(name, f) for name, verdict in ordered for f in verdict.lifecycle or []]
    if not rows:
        return []
    out = ['<h2 id="lifecycle">Retired and deprecated extensions</h2><table class="lifecycle"><thead><tr><th>Host</th>'
           '<th>Extension</th><th>Where</th><th>Status</th><th>Date</th><th>Microsoft\'s replacement</th>'
           '<th>Source</th></tr></thead><tbody>']
    for name, finding in rows:
        where = "allowlist" if finding["where"] == "allowlist" else "installed %s" % (finding["version"] or "")
        links = " ".join('<a href="%s">%s</a>' % (html.escape(s["url"], quote=True), _esc(s["document"]))
                         for s in finding["sources"] if s.get("url"))
        out.append('<tr><td>%s</td><td><code>%s</code></td><td>%s</td><td class="s-%s">%s</td><td>%s %s</td>'
                   '<td>%s</td><td>%s</td></tr>'
                   % (_esc(name), _esc(finding["name"]), _esc(where.strip()),
                      "drifted" if finding["status"] == "retired" else "error", _esc(finding["status"]),
                      _esc(finding["event"] or ""), _esc(finding["date"] or ""),
                      _esc(finding["replacement_name"] or finding["replacement"] or "none named"), links))
    out.append("</tbody></table>")
    return out


def render(report, formats):
    """({format: text} for ``formats`` (json, xml, html) of a ``Report``, its summary): counted once."""
    data, safe_model, text = safe_report(report)
    writers = {"json": lambda: to_json(data) if text is None else text, "xml": lambda: to_junit(safe_model),
               "html": lambda: to_html(safe_model, data["summary"])}
    return {fmt: writers[fmt]() for fmt in formats}, data["summary"]
