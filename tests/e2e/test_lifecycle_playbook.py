"""Deprecated and retired extensions through ansible-playbook, from the built collection, against stand-in hosts:
the warning for a task, a profile and an override; strict failing before any write; none for the current presets;
azcmagent_info's lifecycle of installed extensions; the audit report's finding."""

import json
import os
import re
import subprocess
import xml.etree.ElementTree as ET

import pytest

from tests.lib.playbook import VENV_BIN, env, run
from tests.lib import fleet

# from the reference (azcmagent-reference.md, section 8)
OMS = "Microsoft.EnterpriseCloud.Monitoring/OMSAgentForLinux"
QUALYS = "Qualys/LinuxAgent.AzureSecurityCenter"
DEPENDENCY = "Microsoft.Azure.Monitoring.DependencyAgent/DependencyAgentLinux"
AMA = "Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"
MDE = "Microsoft.Azure.AzureDefenderForServers/MDE.Linux"
OMS_DATE, QUALYS_DATE = "2024-08-31", "2024-05-01"
OMS_WORDS, QUALYS_WORDS = "August 31, 2024", "May 1, 2024"


def writes(root, flavour="linux"):
    """The stand-in's invocations that change something (config set / clear, extension remove)."""
    return [e["argv"] for e in fleet.read_log(root, flavour) if e["argv"][:2] in (["config", "set"], ["config", "clear"])
            or e["argv"][:1] == ["extension"]]


def says_oms(text):
    return OMS in text and OMS_DATE in text and OMS_WORDS in text and "azure_monitor_agent" in text and AMA in text


def says_qualys(text):
    return QUALYS in text and QUALYS_DATE in text and QUALYS_WORDS in text


def lifecycle(warnings):
    return [w for w in warnings or [] if " is retired: " in w or " is deprecated: " in w]


# ------------------------------------------------------------------ the module: a task, a profile, an override

CASES = {
    # host: (task options, strict)
    "task": ({"extensions_allowlist": ["azure_monitor_agent", "log_analytics"]}, False),
    "task_strict": ({"extensions_allowlist": ["azure_monitor_agent", "log_analytics"]}, True),
    "profile": ({"profile": "monitoring_security"}, False),
    "profile_strict": ({"profile": "monitoring_security"}, True),
    "override": ({"profile": "defender", "overrides": {"extensions_allowlist": ["azure_monitor_agent", "qualys"]}},
                 False),
    "override_strict": ({"profile": "defender",
                         "overrides": {"extensions_allowlist": ["azure_monitor_agent", "qualys"]}}, True),
    # an override that replaces a legacy profile's allowlist leaves nothing to warn about
    "override_fixes": ({"profile": "log_analytics", "overrides": {"extensions_allowlist": ["azure_monitor_agent"]}},
                       True),
    "defender": ({"profile": "defender"}, True),
    "ama_only": ({"profile": "ama_only"}, True),
    "defender_sql": ({"profile": "defender_sql"}, True),
    # taking the retired agent out of an allowlist is what we want: no warning, even with strict
    "remove": ({"extensions_allowlist": ["log_analytics"], "list_action": "remove"}, True),
}


@pytest.fixture(scope="module")
def module_runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lifecycle-module")
    hosts, roots = {}, {}
    for name, (options, strict) in CASES.items():
        root = str(tmp / name)
        state = {"extensions.allowlist": [AMA, OMS]} if name == "remove" else None
        exe = fleet.make_host(root, state=state)
        fleet.add_extension(root, "Microsoft.EnterpriseCloud.Monitoring", "OMSAgentForLinux", "1.19.0")
        fleet.add_extension(root, "Microsoft.Azure.Monitor", "AzureMonitorLinuxAgent", "1.33.2")
        roots[name] = root
        hosts[name] = {"exe": exe, "strict": strict, "opts": options,
                       "ext_path": os.path.join(root, "var", "lib", "waagent")}
    config = {"arcguard.azcmagent.azcmagent_config": {
        "executable": "{{ exe }}", "strict": "{{ strict }}",
        "extensions_allowlist": "{{ opts.extensions_allowlist | default(omit) }}",
        "list_action": "{{ opts.list_action | default(omit) }}",
        "profile": "{{ opts.profile | default(omit) }}",
        "overrides": "{{ opts.overrides | default(omit) }}"}}
    info = {"arcguard.azcmagent.azcmagent_info": {"executable": "{{ exe }}", "extensions_path": "{{ ext_path }}"}}
    before = {name: fleet.read_state(root) for name, root in roots.items()}
    (tmp / "check").mkdir()
    check = run(tmp / "check", [config], hosts=hosts, check=True)
    check_writes = {name: writes(root) for name, root in roots.items()}
    # the filter the module's EXAMPLES show
    select = "{{ r1.installed_extensions | selectattr('lifecycle.status', 'equalto', 'retired') | map(attribute='name') | list }}"
    retired = {"ansible.builtin.set_fact": {"retired": select}}
    applied = run(tmp, [config, info, retired], hosts=hosts)
    return {"roots": roots, "before": before, "check": check, "check_writes": check_writes, "run": applied}


def test_a_task_allowing_the_retired_agent_warns_and_applies(module_runs):
    result = module_runs["run"].result("task")
    assert not result.get("failed") and result["changed"] is True, result
    found = lifecycle(result.get("warnings"))
    assert len(found) == 1 and says_oms(found[0]), found
    assert found[0].startswith("extensions_allowlist: %s (Log Analytics agent) is retired" % OMS)
    assert sorted(fleet.read_state(module_runs["roots"]["task"])["extensions.allowlist"]) == sorted([AMA, OMS])


def test_a_profile_allowing_them_warns_of_each(module_runs):
    result = module_runs["run"].result("profile")
    assert not result.get("failed") and result["changed"] is True, result
    found = lifecycle(result.get("warnings"))
    assert len(found) == 2 and says_oms(found[0]) and says_qualys(found[1]), found
    assert "is deprecated" in found[1]


def test_an_override_allowing_qualys_warns(module_runs):
    result = module_runs["run"].result("override")
    assert not result.get("failed"), result
    found = lifecycle(result.get("warnings"))
    assert len(found) == 1 and says_qualys(found[0]), found


@pytest.mark.parametrize("name", ["task_strict", "profile_strict", "override_strict"])
@pytest.mark.parametrize("mode", ["check", "run"])
def test_strict_fails_before_any_write(module_runs, name, mode):
    result = module_runs[mode].result(name)
    assert result["failed"] is True and result["changed"] is False, result
    assert result["msg"].startswith("strict: extensions_allowlist: ")
    if name == "override_strict":
        assert says_qualys(result["msg"]) and OMS not in result["msg"]
    else:
        assert says_oms(result["msg"])
    if name == "profile_strict":
        assert says_qualys(result["msg"])
    root = module_runs["roots"][name]
    assert writes(root) == [] and module_runs["check_writes"][name] == []
    assert fleet.read_state(root) == module_runs["before"][name] == {}


@pytest.mark.parametrize("name", ["defender", "ama_only", "defender_sql", "override_fixes", "remove"])
def test_current_allowlists_and_removals_do_not_warn_even_with_strict(module_runs, name):
    for mode in ("check", "run"):
        result = module_runs[mode].result(name)
        assert not result.get("failed"), result
        assert lifecycle(result.get("warnings")) == [], result.get("warnings")
    assert module_runs["run"].result(name)["changed"] is True
    state = fleet.read_state(module_runs["roots"][name])
    if name == "remove":
        assert state["extensions.allowlist"] == [AMA]
    else:
        assert OMS not in state["extensions.allowlist"] and QUALYS not in state["extensions.allowlist"]


def test_check_mode_warns_like_the_run_and_writes_nothing(module_runs):
    check = module_runs["check"].result("profile")
    assert lifecycle(check.get("warnings")) == lifecycle(module_runs["run"].result("profile").get("warnings"))
    assert module_runs["check_writes"]["profile"] == []


def test_info_gives_the_lifecycle_of_installed_extensions(module_runs):
    result = module_runs["run"].result("task", 1)
    assert not result.get("failed"), result
    by_name = {e["name"]: e for e in result["installed_extensions"]}
    oms = by_name[OMS]["lifecycle"]
    assert oms["status"] == "retired" and oms["date"] == OMS_DATE and oms["alias"] == "log_analytics"
    assert oms["replacement"] == "azure_monitor_agent" and oms["replacement_name"] == AMA
    assert OMS_WORDS in oms["notice"]
    assert [s["url"] for s in oms["sources"] if s["url"]] == [
        "https://learn.microsoft.com/azure/virtual-machines/extensions/oms-windows",
        "https://learn.microsoft.com/azure/defender-for-cloud/prepare-deprecation-log-analytics-mma-agent"]
    assert by_name[AMA]["lifecycle"]["status"] == "current" and by_name[AMA]["lifecycle"]["date"] is None
    assert module_runs["run"].result("task", 2)["ansible_facts"]["retired"] == [OMS]
    # on the ama_only host the OMS agent is installed but no longer allowed: blocked, with its lifecycle
    blocked = module_runs["run"].result("ama_only", 1)["blocked_installed"]
    assert [(e["name"], e["lifecycle"]["status"]) for e in blocked] == [(OMS, "retired")]


# ------------------------------------------------------------------ the lockdown playbook: the built-in profiles

def lockdown(tmp, profiles, strict):
    hosts, roots = {}, {}
    for name, profile in profiles.items():
        root = str(tmp / name)
        hosts[name] = {"ansible_connection": "local", "lockdown_executable": fleet.make_host(root),
                       "lockdown_profile": profile, "lockdown_strict": strict}
        roots[name] = root
    inventory = tmp / "inventory.json"
    inventory.write_text(json.dumps({"all": {"hosts": hosts}}))
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", str(inventory),
                           "arcguard.azcmagent.lockdown"], capture_output=True, text=True, env=env(), check=False,
                          timeout=600)
    return proc, roots


def warnings_printed(proc):
    """Ansible prints warnings on standard error, each distinct one once."""
    return [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("[WARNING]")]


def test_the_legacy_profiles_warn_naming_the_retired_extensions_and_dates(tmp_path):
    proc, roots = lockdown(tmp_path, {"ms": "monitoring_security", "la": "log_analytics"}, strict=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    printed = warnings_printed(proc)
    assert any(says_oms(w) for w in printed) and any(says_qualys(w) for w in printed), proc.stdout + proc.stderr
    # the Dependency agent is deprecated (retired 2028-06-30): warned about, named with its date, still written
    assert any(DEPENDENCY in w and "2028-06-30" in w for w in printed), proc.stdout + proc.stderr
    assert sorted(fleet.read_state(roots["la"])["extensions.allowlist"]) == sorted([OMS, DEPENDENCY])


def test_the_legacy_profiles_fail_before_any_write_under_strict(tmp_path):
    proc, roots = lockdown(tmp_path, {"ms": "monitoring_security", "la": "log_analytics", "ok": "defender"},
                           strict=True)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    fatal = {m.group(1): json.loads(m.group(2))
             for m in re.finditer(r"^fatal: \[(\w+)\]: FAILED! => (\{.*\})$", proc.stdout, re.M)}
    assert sorted(fatal) == ["la", "ms"], proc.stdout
    assert says_oms(fatal["ms"]["msg"]) and says_qualys(fatal["ms"]["msg"])
    assert says_oms(fatal["la"]["msg"]) and QUALYS not in fatal["la"]["msg"]
    for name in ("ms", "la"):
        assert writes(roots[name]) == [] and fleet.read_state(roots[name]) == {}
    assert sorted(fleet.read_state(roots["ok"])["extensions.allowlist"]) == sorted([AMA, MDE])


def test_the_current_profiles_print_no_warning_at_all(tmp_path):
    proc, roots = lockdown(tmp_path, {"d": "defender", "a": "ama_only", "s": "defender_sql"}, strict=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert warnings_printed(proc) == [] and "WARNING" not in proc.stderr, proc.stdout + proc.stderr
    assert fleet.read_state(roots["a"])["extensions.allowlist"] == [AMA]


# ------------------------------------------------------------------ the audit report

@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lifecycle-audit")
    defender = {"extensions.allowlist": [AMA, MDE], "guestconfiguration.enabled": False,
                "incomingconnections.enabled": False}
    states = {
        # set up by Microsoft's 2022 monitoring and security example
        "legacy_allow": {"extensions.allowlist": [OMS, QUALYS, MDE], "guestconfiguration.enabled": True},
        # locked down, but the retired agent is still installed from before
        "legacy_installed": defender,
        "clean": defender,
    }
    hosts, roots = {}, {}
    for name, state in states.items():
        root = str(tmp / name)
        roots[name] = root
        hosts[name] = {"ansible_connection": "local", "lockdown_executable": fleet.make_host(root, state=state),
                       "audit_extensions_path": os.path.join(root, "var", "lib", "waagent")}
    fleet.add_extension(roots["legacy_installed"], "Microsoft.EnterpriseCloud.Monitoring", "OMSAgentForLinux", "1.19.0")
    fleet.add_extension(roots["clean"], "Microsoft.Azure.Monitor", "AzureMonitorLinuxAgent", "1.33.2")
    inventory = tmp / "inventory.json"
    inventory.write_text(json.dumps({"all": {"hosts": hosts}}))
    report_dir = tmp / "report"
    before = {name: fleet.read_state(root) for name, root in roots.items()}
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", str(inventory), "arcguard.azcmagent.audit",
                           "-e", "lockdown_profile=defender", "-e", "audit_report_dir=%s" % report_dir],
                          capture_output=True, text=True, env=env(), check=False, timeout=600)
    return {"proc": proc, "dir": report_dir, "roots": roots, "before": before}


def test_audit_changes_nothing(audited):
    assert audited["proc"].returncode == 0, audited["proc"].stdout + audited["proc"].stderr
    for name, root in audited["roots"].items():
        assert writes(root) == [] and fleet.read_state(root) == audited["before"][name]


def test_audit_json_flags_the_retired_allowlist_and_the_retired_install(audited):
    report = json.loads((audited["dir"] / "report.json").read_text())
    hosts = report["hosts"]
    allow = hosts["legacy_allow"]["lifecycle"]
    assert [(f["name"], f["where"], f["status"], f["date"]) for f in allow] == [
        (OMS, "allowlist", "retired", OMS_DATE), (QUALYS, "allowlist", "deprecated", QUALYS_DATE)]
    assert allow[0]["replacement_name"] == AMA and says_oms(allow[0]["message"])
    installed = hosts["legacy_installed"]["lifecycle"]
    assert [(f["name"], f["where"], f["version"], f["status"]) for f in installed] == [
        (OMS, "installed", "1.19.0", "retired")]
    assert hosts["legacy_installed"]["compliant"] is True  # its settings match the profile
    assert hosts["clean"]["lifecycle"] == []
    assert report["summary"]["lifecycle"] == 2


def test_audit_junit_fails_the_lifecycle_case_of_each_flagged_host(audited):
    root = ET.parse(audited["dir"] / "report.xml").getroot()
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    cases = {c.get("name"): c for c in suites["azcmagent extension lifecycle"].iter("testcase")}
    assert sorted(cases) == ["legacy_allow", "legacy_installed"]
    assert OMS in cases["legacy_allow"].find("failure").get("message")
    assert OMS_DATE in cases["legacy_installed"].find("failure").get("message")
    assert len(list(suites["azcmagent audit: defender"].iter("testcase"))) == 3
    assert root.get("tests") == "5" and root.get("failures") == str(1 + 2)


def test_audit_html_lists_the_findings(audited):
    page = (audited["dir"] / "report.html").read_text()
    assert 'id="count-lifecycle"><div class="n">2<' in page
    section = page[page.index('<h2 id="lifecycle">'):]
    assert section.count("<tr><td>legacy_allow</td>") == 2 and section.count("<tr><td>legacy_installed</td>") == 1
    assert "<tr><td>clean</td>" not in section
    assert OMS in section and OMS_DATE in section and AMA in section


# ------------------------------------------------------------------ Windows, over WinRM (the test endpoint)

def test_windows_hosts_warn_with_the_windows_names_and_fail_under_strict(tmp_path):
    from tests.lib.endpoint import Endpoint
    mma, qualys = "Microsoft.EnterpriseCloud.Monitoring/MicrosoftMonitoringAgent", "Qualys/WindowsAgent.AzureSecurityCenter"
    endpoints = {name: Endpoint(tmp_path / name) for name in ("lenient", "strict", "current")}
    try:
        hosts = {name: ep.host_vars() for name, ep in endpoints.items()}
        hosts["lenient"].update(profile="monitoring_security", strict=False)
        hosts["strict"].update(profile="monitoring_security", strict=True)
        hosts["current"].update(profile="defender_sql", strict=True)
        task = {"arcguard.azcmagent.azcmagent_config": {"profile": "{{ profile }}", "strict": "{{ strict }}"}}
        out = run(tmp_path, [task], hosts=hosts)
        lenient = out.result("lenient")
        assert not lenient.get("failed") and lenient["changed"] is True, lenient
        found = lifecycle(lenient.get("warnings"))
        assert len(found) == 2 and mma in found[0] and OMS_DATE in found[0] and qualys in found[1], found
        assert "Microsoft.Azure.Monitor/AzureMonitorWindowsAgent" in found[0]
        strict = out.result("strict")
        assert strict["failed"] is True and mma in strict["msg"] and QUALYS_DATE in strict["msg"], strict
        assert writes(endpoints["strict"].root, "windows") == []
        assert fleet.read_state(endpoints["strict"].root, "windows") == {}
        current = out.result("current")
        assert not current.get("failed") and lifecycle(current.get("warnings")) == [], current
    finally:
        for ep in endpoints.values():
            ep.stop()
