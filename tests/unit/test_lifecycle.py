"""The extension catalog's lifecycle data, the warnings it drives, azcmagent_info's and the audit report's use of it,
and the generated catalog page."""

import datetime
import importlib.util
import json
import os
import re
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, strategies as st

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _catalog as catalog
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _info as info
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _planner as planner
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _profiles as profiles
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _report as report

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Written from the reference (azcmagent-reference.md, section 8), not from the catalog:
# alias -> (status, ISO date, the date as Microsoft writes it, replacement alias, source articles)
OUTDATED = {
    "log_analytics": ("retired", "2024-08-31", "August 31, 2024", "azure_monitor_agent",
                      ["virtual-machines/extensions/oms-windows", "defender-for-cloud/prepare-deprecation-log-analytics-mma-agent"]),
    "qualys": ("deprecated", "2024-05-01", "May 1, 2024", None, ["defender-for-cloud/deploy-vulnerability-assessment-vm"]),
    # field-2026.md, section 3
    "dependency_agent": ("deprecated", "2028-06-30", "June 30, 2028", None, ["azure-monitor/vm/vminsights-maps-retirement"]),
    "automanage": ("deprecated", "2027-09-30", "September 30, 2027", None, []),
    # "no longer available" on Arc, with no date in Microsoft's words
    "dsc": ("retired", None, None, None, ["azure-arc/servers/manage-vm-extensions"]),
}
NAMES = {
    "log_analytics": {"windows": "Microsoft.EnterpriseCloud.Monitoring/MicrosoftMonitoringAgent",
                      "linux": "Microsoft.EnterpriseCloud.Monitoring/OMSAgentForLinux"},
    "qualys": {"windows": "Qualys/WindowsAgent.AzureSecurityCenter", "linux": "Qualys/LinuxAgent.AzureSecurityCenter"},
}
AMA = {"windows": "Microsoft.Azure.Monitor/AzureMonitorWindowsAgent", "linux": "Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"}
OSES = ("linux", "windows")


def lifecycle_warnings(args, os_name="linux"):
    return [w for w in planner.desired_state(args, os_name).warnings if " is deprecated: " in w or " is retired: " in w]


# ------------------------------------------------------------------ the catalog, as a table

def test_every_extension_has_a_lifecycle_and_nothing_else_has_one():
    assert set(catalog.LIFECYCLE) == set(catalog.EXTENSIONS)


@pytest.mark.parametrize("alias", sorted(catalog.EXTENSIONS))
def test_lifecycle_entry(alias):
    entry = catalog.LIFECYCLE[alias]
    assert entry["status"] in catalog.STATUSES
    if alias not in OUTDATED:
        assert entry["status"] == "current"
        assert entry["date"] is entry["notice"] is entry["replacement"] is entry["event"] is None
        return
    status, date, written, replacement, articles = OUTDATED[alias]
    assert entry["status"] == status
    assert entry["date"] == date
    if date is None:
        assert entry["event"] == "no longer available on Azure Arc-enabled servers"
        assert "no longer available" in entry["notice"]
    else:
        # the date is a real date, and the same one that Microsoft's own words give
        parsed = datetime.date.fromisoformat(entry["date"])
        assert "%s %d, %d" % (parsed.strftime("%B"), parsed.day, parsed.year) == written
        assert written in entry["notice"]
        assert entry["event"] and entry["event"] in ("not supported after", "deprecated as of", "retired on")
    assert entry["replacement"] == replacement
    if entry["replacement"]:
        assert catalog.LIFECYCLE[entry["replacement"]]["status"] == "current"
    assert entry["sources"], "every deprecated or retired entry names its source"
    urls = [s["url"] for s in entry["sources"] if s["url"]]
    assert urls == ["https://learn.microsoft.com/azure/" + a for a in articles]
    for source in entry["sources"]:
        assert source["document"]


def test_lifecycle_of_names_aliases_and_casings():
    for alias, names in NAMES.items():
        for name in names.values():
            assert catalog.lifecycle_of(name)["alias"] == alias
            assert catalog.lifecycle_of(name.upper())["status"] == OUTDATED[alias][0]
        assert catalog.lifecycle_of(alias.upper())["alias"] == alias
    assert catalog.lifecycle_of("Contoso/Agent") is None
    assert catalog.lifecycle_facts("Contoso/Agent", "linux")["status"] == "unknown"
    # the documentation's misspelt Hybrid Worker is the Hybrid Worker
    assert catalog.lifecycle_of("Microsoft.Azure.Automation/HybridWorkerForLinux")["alias"] == "hybrid_worker"


def test_lifecycle_facts_resolve_the_replacement_per_os():
    for os_name in OSES:
        facts = catalog.lifecycle_facts(NAMES["log_analytics"][os_name], os_name)
        assert facts["replacement"] == "azure_monitor_agent" and facts["replacement_name"] == AMA[os_name]
    # the returned facts are copies: changing them does not change the catalog
    facts["sources"].append({"document": "x", "url": None})
    assert len(catalog.LIFECYCLE["log_analytics"]["sources"]) == 3


# ------------------------------------------------------------------ warnings

@pytest.mark.parametrize("os_name", OSES)
def test_monitoring_security_warns_of_both_with_dates_and_replacement(os_name):
    found = lifecycle_warnings(profiles.PROFILES["monitoring_security"]["options"], os_name)
    assert len(found) == 2
    mma, qualys = found
    assert mma.startswith("extensions_allowlist: %s (Log Analytics agent) is retired" % NAMES["log_analytics"][os_name])
    assert "2024-08-31" in mma and "August 31, 2024" in mma
    assert "azure_monitor_agent" in mma and AMA[os_name] in mma
    assert "https://learn.microsoft.com/azure/virtual-machines/extensions/oms-windows" in mma
    assert qualys.startswith("extensions_allowlist: %s (Qualys vulnerability assessment) is deprecated"
                             % NAMES["qualys"][os_name])
    assert "2024-05-01" in qualys and "May 1, 2024" in qualys and "names no replacement" in qualys


@pytest.mark.parametrize("os_name", OSES)
def test_log_analytics_warns_of_the_log_analytics_agent_and_the_dependency_agent(os_name):
    found = lifecycle_warnings(profiles.PROFILES["log_analytics"]["options"], os_name)
    assert len(found) == 2 and NAMES["log_analytics"][os_name] in found[0] and "2024-08-31" in found[0]
    assert "Dependency agent" in found[1] and "is deprecated: retired on 2028-06-30" in found[1]


@pytest.mark.parametrize("os_name", OSES)
@pytest.mark.parametrize("name", ["ama_only", "defender", "defender_sql", "block_scripts", "esu", "defaults",
                                  "extensions_off", "monitor"])
def test_current_profiles_do_not_warn_about_the_lifecycle(name, os_name):
    desired = planner.desired_state(profiles.PROFILES[name]["options"], os_name)
    assert lifecycle_warnings(profiles.PROFILES[name]["options"], os_name) == []
    if name in ("ama_only", "defender", "defender_sql"):
        assert desired.warnings == []


def test_block_scripts_blocks_the_log_analytics_agent_without_warning():
    blocklist = profiles.PROFILES["block_scripts"]["options"]["extensions_blocklist"]
    assert NAMES["log_analytics"]["linux"] in blocklist
    assert lifecycle_warnings({"extensions_blocklist": ["log_analytics", "qualys"]}) == []


def test_removing_from_the_allowlist_does_not_warn_adding_does():
    assert lifecycle_warnings({"extensions_allowlist": ["log_analytics"], "list_action": "remove"}) == []
    assert len(lifecycle_warnings({"extensions_allowlist": ["log_analytics"], "list_action": "add"})) == 1


def test_exact_names_in_any_casing_and_settings_warn():
    assert len(lifecycle_warnings({"extensions_allowlist": ["qualys/linuxagent.azuresecuritycenter"]})) == 1
    found = lifecycle_warnings({"settings": {"extensions.allowlist": [NAMES["log_analytics"]["linux"]]}})
    assert len(found) == 1 and found[0].startswith("settings.extensions.allowlist: ")
    # a Windows name on Linux: the OS warning and the lifecycle warning both
    desired = planner.desired_state({"extensions_allowlist": [NAMES["log_analytics"]["windows"]]}, "linux")
    assert any("this host runs Linux" in w for w in desired.warnings)
    assert any("is retired" in w for w in desired.warnings)


@given(st.lists(st.sampled_from(sorted(catalog.EXTENSIONS)), min_size=1, unique=True), st.sampled_from(OSES),
       st.booleans())
def test_a_warning_for_exactly_each_outdated_extension_allowed(aliases, os_name, upper):
    present = [a for a in aliases if catalog.resolve_alias(a, os_name)]
    if not present:
        return  # an allowlist left empty is an error of its own
    given_names = [a.upper() if upper else a for a in aliases]
    found = lifecycle_warnings({"extensions_allowlist": given_names}, os_name)
    outdated = [a for a in present if catalog.LIFECYCLE[a]["status"] != "current"]
    assert len(found) == len(outdated)
    for alias, warning in zip(outdated, found):
        assert catalog.resolve_alias(alias, os_name) in warning
        assert (catalog.LIFECYCLE[alias]["date"] or catalog.LIFECYCLE[alias]["event"]) in warning


# ------------------------------------------------------------------ profiles

def test_exactly_microsofts_2022_presets_are_legacy():
    legacy = {name: [alias for alias, _e in profiles.legacy(p)] for name, p in profiles.PROFILES.items()
              if profiles.legacy(p)}
    assert legacy == {"monitoring_security": ["log_analytics", "qualys"],
                      "log_analytics": ["log_analytics", "dependency_agent"]}
    for name in legacy:
        description = profiles.PROFILES[name]["description"]
        assert description.startswith("Legacy: ") and "retired" in description
    for name in ("ama_only", "defender", "defender_sql"):
        assert "legacy" not in profiles.PROFILES[name]["description"].lower()


def test_defender_sql_adds_defender_for_sql_on_windows_only():
    windows = planner.desired_state(profiles.PROFILES["defender_sql"]["options"], "windows")
    linux = planner.desired_state(profiles.PROFILES["defender_sql"]["options"], "linux")
    assert windows.values["extensions.allowlist"] == [
        AMA["windows"], "Microsoft.Azure.AzureDefenderForServers/MDE.Windows",
        "Microsoft.Azure.AzureDefenderForSQL/AdvancedThreatProtection.Windows"]
    assert linux.values["extensions.allowlist"] == [AMA["linux"], "Microsoft.Azure.AzureDefenderForServers/MDE.Linux"]
    assert any("defender_sql" in n for n in linux.notes)


# ------------------------------------------------------------------ azcmagent_info and the audit report

LISTING = ("Microsoft.EnterpriseCloud.Monitoring.OMSAgentForLinux-1.19.0\n"
           "Qualys.LinuxAgent.AzureSecurityCenter-1.0.2\n"
           "Microsoft.Azure.Monitor.AzureMonitorLinuxAgent-1.33.2\n"
           "Contoso.Tools.Agent-3.1\n")


def test_installed_extensions_carry_their_lifecycle():
    installed = info.with_lifecycle(info.parse_extension_folders(LISTING, "linux"), "linux")
    status = {e["name"]: e["lifecycle"]["status"] for e in installed}
    assert status == {NAMES["log_analytics"]["linux"]: "retired", NAMES["qualys"]["linux"]: "deprecated",
                      AMA["linux"]: "current", "Contoso.Tools/Agent": "unknown"}
    mma = installed[0]["lifecycle"]
    assert mma["date"] == "2024-08-31" and mma["replacement_name"] == AMA["linux"] and mma["sources"]
    json.dumps(installed)


def info_result(allowlist, listing="", mode="full", os_name="linux"):
    config = {"extensions.allowlist": allowlist, "extensions.blocklist": [], "config.mode": mode}
    installed = info.with_lifecycle(info.parse_extension_folders(listing, os_name), os_name)
    return {"os": os_name, "agent": {"installed": True, "version": "1.64.1.1", "status": "Connected"}, "errors": [],
            "config": config, "installed_extensions": installed,
            "blocked_installed": info.blocked_installed(installed, config)}


def sample():
    return report.build({
        "legacy": ("monitoring_security", info_result([NAMES["log_analytics"]["linux"], NAMES["qualys"]["linux"]]),
                   {"changed": False, "changes": []}),
        "installed": ("defender", info_result([AMA["linux"]], LISTING), {"changed": False, "changes": []}),
        "monitor": ("defender", info_result([NAMES["log_analytics"]["linux"]], mode="monitor"),
                    {"changed": False, "changes": []}),
        "clean": ("defender", info_result([AMA["linux"]]), {"changed": False, "changes": []}),
        "gone": ("defender", {"unreachable": True, "msg": "no route"}, None),
    }, profile=None)


def test_report_json_lists_allowed_and_installed_outdated_extensions():
    built = json.loads(report.to_json(sample()))
    hosts = built["hosts"]
    legacy = hosts["legacy"]["lifecycle"]
    assert [(f["name"], f["where"], f["status"], f["date"]) for f in legacy] == [
        (NAMES["log_analytics"]["linux"], "allowlist", "retired", "2024-08-31"),
        (NAMES["qualys"]["linux"], "allowlist", "deprecated", "2024-05-01")]
    assert legacy[0]["replacement_name"] == AMA["linux"] and "2024-08-31" in legacy[0]["message"]
    assert legacy[0]["message"].startswith("allowed by the allowlist: ")
    # compliance with the profile is a separate question: the legacy host matches its profile
    assert hosts["legacy"]["compliant"] is True
    installed = hosts["installed"]["lifecycle"]
    assert [(f["name"], f["where"], f["version"]) for f in installed] == [
        (NAMES["log_analytics"]["linux"], "installed", "1.19.0"), (NAMES["qualys"]["linux"], "installed", "1.0.2")]
    assert installed[0]["message"].startswith("installed: %s 1.19.0 " % NAMES["log_analytics"]["linux"])
    # in monitor mode the stored allowlist does not apply
    assert hosts["monitor"]["lifecycle"] == [] and hosts["clean"]["lifecycle"] == [] and hosts["gone"]["lifecycle"] == []
    assert built["summary"]["lifecycle"] == 2


def test_report_summary_is_what_the_host_entries_say():
    built = sample()
    entries = built["hosts"].values()
    assert built["summary"]["lifecycle"] == sum(1 for e in entries if e["lifecycle"])
    assert built["summary"]["blocked_installed"] == sum(1 for e in entries if e["blocked_installed"])
    for status, key in (("compliant", "compliant"), ("drifted", "drifted"), ("error", "errors")):
        assert built["summary"][key] == sum(1 for e in entries if e["status"] == status), key


def test_report_junit_fails_a_lifecycle_case_per_host_with_findings():
    root = ET.fromstring(report.to_junit(sample()))
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    life = suites["azcmagent extension lifecycle"]
    cases = {c.get("name"): c for c in life.iter("testcase")}
    assert sorted(cases) == ["installed", "legacy"]
    failure = cases["legacy"].find("failure")
    assert "%s (retired 2024-08-31)" % NAMES["log_analytics"]["linux"] in failure.get("message")
    assert "azure_monitor_agent" in failure.text
    assert root.get("tests") == str(5 + 2) and root.get("failures") == "2" and root.get("errors") == "1"
    assert life.get("tests") == "2" and life.get("failures") == "2"
    # no findings, no suite
    clean = report.build({"clean": ("defender", info_result([AMA["linux"]]), {"changed": False, "changes": []})})
    assert [s.get("name") for s in ET.fromstring(report.to_junit(clean)).iter("testsuite")] == [
        "azcmagent audit: per-host profiles"]


def test_report_html_has_the_lifecycle_card_and_section():
    page = report.to_html(sample())
    assert re.search(r'id="count-lifecycle"><div class="n">2<', page)
    section = page[page.index('<h2 id="lifecycle">'):]
    assert section.count("<tr><td>legacy</td>") == 2 and section.count("<tr><td>installed</td>") == 2
    assert "2024-08-31" in section and AMA["linux"] in section
    assert 'href="https://learn.microsoft.com/azure/defender-for-cloud/deploy-vulnerability-assessment-vm"' in section
    assert "monitor</td>" not in section
    clean = report.build({"clean": ("defender", info_result([AMA["linux"]]), {"changed": False, "changes": []})})
    assert 'id="lifecycle"' not in report.to_html(clean)


# ------------------------------------------------------------------ the generated catalog page

def test_the_committed_catalog_page_is_what_the_catalog_gives():
    spec = importlib.util.spec_from_file_location("catalog_docs", os.path.join(ROOT, "scripts", "catalog_docs.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with open(os.path.join(ROOT, "docs", "extensions.md"), encoding="utf-8") as handle:
        committed = handle.read()
    assert committed == module.render(catalog, profiles), \
        "docs/extensions.md is out of date: run python scripts/catalog_docs.py"
    for alias, entry in catalog.EXTENSIONS.items():
        assert "| `%s` | %s |" % (alias, entry["title"]) in committed
    assert "**retired** (not supported after 2024-08-31)" in committed
    assert "**deprecated** (deprecated as of 2024-05-01)" in committed


def test_azcmagent_info_documents_every_lifecycle_key():
    import yaml
    from ansible_collections.arcguard.azcmagent.plugins.modules import azcmagent_info
    documented = yaml.safe_load(azcmagent_info.RETURN)["installed_extensions"]["contains"]["lifecycle"]["contains"]
    for name in (NAMES["log_analytics"]["linux"], "Contoso/Agent"):
        assert set(catalog.lifecycle_facts(name, "linux")) == set(documented)
    for status in catalog.STATUSES + ("unknown",):
        assert "V(%s)" % status in " ".join(documented["status"]["description"])


ALL_NAMES = sorted({entry[o] for entry in catalog.EXTENSIONS.values() for o in OSES if entry.get(o)})


@given(st.lists(st.sampled_from(ALL_NAMES), unique=True), st.lists(st.sampled_from(ALL_NAMES), unique=True),
       st.sampled_from(OSES), st.sampled_from(["full", "monitor"]))
def test_report_findings_are_exactly_the_outdated_names(allowlist, installed, os_name, mode):
    found = report.lifecycle_findings({
        "os": os_name, "config": {"extensions.allowlist": allowlist, "config.mode": mode},
        "installed_extensions": [{"name": n, "version": "1.0"} for n in installed]})
    outdated = [n for n in (allowlist if mode == "full" else []) + installed
                if catalog.LIFECYCLE[catalog.lookup_name(n)[0]]["status"] != "current"]
    assert [f["name"] for f in found] == outdated
    for finding in found:
        assert (finding["date"] or finding["event"]) in finding["message"] and finding["sources"]
