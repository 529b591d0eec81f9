# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Extension resources in the audit report: per host under ``azure.extensions``, and the fleet's ``refused_installs``.

Internal to arcguard.azcmagent: not a public API, may change without notice. Pure.

- ``add_to_report(report, matched, machines, host_of)``: puts each matched host's classified extensions into its
  Azure view (``extra["extensions"]``) and the report's sections ``refused_installs`` (grouped by extension and
  requester over every machine the audit listed) and ``extension_totals`` (resources per classification).
- ``junit_lines(view)``, ``junit_cases(report)``, ``html_sections(report, esc)``: what the JUnit and HTML renderers
  draw of them (they stay thin: these functions decide the text).
"""

from __future__ import annotations

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _extensions as extensions

SECTION = "refused_installs"
TOTALS = "extension_totals"
# what a reader should look at, in this order; allowed ones are not listed line by line
SHOWN = (extensions.REFUSED_BY_LOCKDOWN, extensions.INSTALLED_BUT_BLOCKED, extensions.FAILED, extensions.UNKNOWN)


def _public(records):
    return [extensions.public(r) for r in records or ()]


def add_to_report(report, matched, machines, host_of):
    """``matched``: {host: machine or None}; ``machines``: every machine the audit listed (each with ``extensions``,
    full or public records); ``host_of(machine)``: its host name (the inventory host it matched, else the naming
    rule's)."""
    for name, machine in (matched or {}).items():
        verdict = report.hosts.get(name)
        if verdict is None or verdict.azure is None or machine is None:
            continue
        verdict.azure.extra["extensions"] = _public(machine.get("extensions"))
    entries = [(host_of(m), m.get("extensions") or []) for m in machines or ()]
    report.sections[SECTION] = extensions.refused_installs(entries)
    totals = dict.fromkeys(extensions.CLASSIFICATIONS, 0)
    totals["retired"] = 0
    for _host, records in entries:
        for record in records:
            cls = record.get("classification")
            if cls in totals:
                totals[cls] += 1
            totals["retired"] += bool(record.get("retired"))
    totals["machines_with_refused_installs"] = sum(
        1 for _h, records in entries if any(r.get("classification") == extensions.REFUSED_BY_LOCKDOWN for r in records))
    report.sections[TOTALS] = totals
    return report


def _line(entry):
    who = entry.get("last_modified_by") or entry.get("created_by")
    return "%s/%s (%s) %s, %s%s%s" % (
        entry.get("publisher"), entry.get("type"), entry.get("name"), entry.get("classification"),
        entry.get("provisioning_state"), ": %s" % entry["status_message"] if entry.get("status_message") else "",
        "; requested by %s" % who if who else "")


def junit_lines(view):
    """Lines for a host's system-out: its extensions that are not simply allowed."""
    records = (getattr(view, "extra", None) or {}).get("extensions") or []
    return ["azure extension: " + _line(e) for cls in SHOWN for e in records if e.get("classification") == cls]


def junit_cases(report):
    """(suite name, [(case name, classname, failure message, text)]) for the refused installs, or None."""
    groups = report.sections.get(SECTION)
    if groups is None:
        return None
    cases = []
    for group in groups:
        cases.append(("%s requested by %s" % (group["extension"], group["requested_by"] or "unknown"),
                      "azure.refused_installs",
                      "refused by the lockdown on %d machine(s)" % group["count"], "\n".join(group["machines"])))
    return "Extension installs the lockdown refused", cases


def html_sections(report, esc):
    """The HTML of the refused installs (one line per extension and requester) and of the hosts' extensions that
    are not allowed."""
    groups = report.sections.get(SECTION)
    if groups is None:
        return []
    out = ['<h2 id="refused-installs">Extension installs the lockdown refused (%d)</h2>' % len(groups)]
    if groups:
        out.append('<table class="refused"><thead><tr><th>Extension</th><th>Requested by</th><th>Machines</th>'
                   '<th>Which</th></tr></thead><tbody>')
        for group in groups:
            names = group["machines"]
            more = " and %d more" % (len(names) - 20) if len(names) > 20 else ""
            which = ", ".join(esc(n) for n in names[:20]) + more
            out.append("<tr><td><code>%s</code></td><td>%s</td><td>%d</td><td>%s</td></tr>"
                       % (esc(group["extension"]), esc(group["requested_by"] or "unknown"), group["count"], which))
        out.append("</tbody></table>")
    else:
        out.append("<p>None.</p>")
    rows = []
    for name, verdict in sorted(report.hosts.items()):
        for entry in (verdict.azure.extra.get("extensions") or [] if verdict.azure is not None else []):
            if entry.get("classification") in SHOWN:
                rows.append((name, entry))
    if rows:
        out.append('<h2 id="extensions">Extension resources to look at (%d)</h2><table class="extensions"><thead><tr>'
                   '<th>Host</th><th>Extension</th><th>Classification</th><th>State</th><th>Message</th>'
                   '<th>Requested by</th><th>Retired</th></tr></thead><tbody>' % len(rows))
        for name, entry in rows:
            out.append("<tr><td>%s</td><td><code>%s/%s</code> (%s)</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td>"
                       "<td>%s</td></tr>" % (
                           esc(name), esc(entry.get("publisher")), esc(entry.get("type")), esc(entry.get("name")),
                           esc(entry.get("classification")), esc(entry.get("provisioning_state") or ""),
                           esc(entry.get("status_message") or ""),
                           esc(entry.get("last_modified_by") or entry.get("created_by") or "unknown"),
                           "yes" if entry.get("retired") else ""))
        out.append("</tbody></table>")
    return out
