"""The world of late 2026 (field-2026.md): settings Azure decides, the catalog completed and corrected, ESU for
Windows Server 2016, Essential Machine Management, the agent's support window, and profile names of any YAML type.

Expected values are written from the reference (field-2026.md, sections 1, 3 and 4), not read from the catalog,
and checked against stand-in hosts through the action plugins in tests/component/test_field2026_hosts.py.
"""

import datetime

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _catalog as catalog
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _drift as drift
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _planner as planner
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _profiles as profiles
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _report_model as model

OSES = ("linux", "windows")
AZURE_OWNED = ("connection.type", "proxy.bypass", "incomingconnections.ports")

# field-2026.md, section 3: the extensions Microsoft lists for Arc, per OS
LISTED = {
    "Microsoft.Azure.Security/IaaSAntimalware": "windows",
    "Microsoft.Azure.NetworkWatcher/NetworkWatcherAgentWindows": "windows",
    "Microsoft.Azure.NetworkWatcher/NetworkWatcherAgentLinux": "linux",
    "Microsoft.Azure.Security.WindowsAttestation/GuestAttestation": "windows",
    "Microsoft.Azure.Security.LinuxAttestation/GuestAttestation": "linux",
    "Microsoft.Azure.OpenSSH/WindowsOpenSSH": "windows",
    "Microsoft.SiteRecovery.Dra/Windows": "windows",
    "Microsoft.Azure.RecoveryServices.WorkloadBackup/AzureBackupWindowsWorkload": "windows",
    "Microsoft.Azure.ChangeTrackingAndInventory/ChangeTracking-Windows": "windows",
    "Microsoft.Azure.ChangeTrackingAndInventory/ChangeTracking-Linux": "linux",
    "Microsoft.CPlat.Core/WindowsPatchExtension": "windows",
    "Microsoft.CPlat.Core/LinuxPatchExtension": "linux",
    "Microsoft.AzureData/WindowsAgent.SqlServer": "windows",
    "Microsoft.AzureData/LinuxAgent.SqlServer": "linux",
}
HYBRID_WORKER = {"windows": "Microsoft.Azure.Automation.HybridWorker/HybridWorkerForWindows",
                 "linux": "Microsoft.Azure.Automation.HybridWorker/HybridWorkerForLinux"}
MISSPELT = {"Microsoft.Compute/HybridWorkerForWindows": HYBRID_WORKER["windows"],
            "Microsoft.Azure.Automation/HybridWorkerForLinux": HYBRID_WORKER["linux"]}
AMA = {"windows": "Microsoft.Azure.Monitor/AzureMonitorWindowsAgent", "linux": "Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"}
ALL_NAMES = sorted({e[o] for e in catalog.EXTENSIONS.values() for o in OSES if e.get(o)})


# ------------------------------------------------------------------ settings Azure decides

def test_the_catalog_marks_exactly_the_settings_azure_decides():
    assert set(catalog.AZURE_OWNED) == set(AZURE_OWNED)
    assert catalog.azure_owned({}) == ("connection.type", "incomingconnections.ports")
    # proxy.bypass is Azure's only while a gateway is in use; incomingconnections.enabled stays local
    assert "proxy.bypass" in catalog.azure_owned({"connection.type": "Gateway"})
    assert catalog.azure_owner("incomingconnections.enabled", {"connection.type": "gateway"}) is None


@pytest.mark.parametrize("os_name", OSES)
@pytest.mark.parametrize("name", sorted(profiles.PROFILES))
def test_no_built_in_profile_sets_a_setting_azure_decides(name, os_name):
    desired = planner.desired_state(profiles.PROFILES[name]["options"], os_name)
    assert not set(desired.managed()) & set(AZURE_OWNED), name


def test_the_audit_shows_azure_owned_differences_as_managed_in_azure():
    check = {"changed": True, "changes": [
        {"property": "incomingconnections.ports", "before": [22], "after": []},
        {"property": "guestconfiguration.enabled", "before": True, "after": False}]}
    info = {"agent": {"installed": True, "version": "1.67.1.1"}, "config": {}, "errors": []}
    verdict = model.from_host("mine", info, check)
    assert [d["property"] for d in verdict.differences] == ["guestconfiguration.enabled"]
    owned = verdict.extra["managed_in_azure"]
    assert owned[0]["property"] == "incomingconnections.ports" and owned[0]["status"] == "managed in Azure"
    only_owned = model.from_host("mine", info, dict(check, changes=check["changes"][:1]))
    assert only_owned.compliant and only_owned.status == model.COMPLIANT


def test_the_drift_watch_never_judges_azure_owned_settings():
    mine = {"options": {"incomingconnections_ports": [], "guestconfiguration_enabled": False}}
    settings_ = {"profile": "mine", "profiles": {"mine": mine},
                 "include_statuses": ["connected"], "tag": "x", "known_profiles": ["mine"]}
    machine = {"name": "m", "resource_id": "/s/1/m", "status": "Connected", "os_type": "linux",
               "agent_configuration": {"incomingconnections.ports": [22], "guestconfiguration.enabled": False}}

    def differences(_options, _os, reported, _unreadable=()):
        return [{"property": p, "expected": [], "actual": v} for p, v in reported.items() if p in AZURE_OWNED]
    evaluated, _skipped = drift.evaluate(settings_, [machine], differences)
    assert [(m["resource_id"], profile, found) for m, profile, found in evaluated] == [("/s/1/m", "mine", [])]


# ------------------------------------------------------------------ the catalog

@pytest.mark.parametrize("name,os_name", sorted(LISTED.items()))
def test_the_extensions_microsoft_lists_are_known_per_os_with_an_alias(name, os_name):
    found = catalog.lookup_name(name)
    assert found and found[1] == os_name, name
    alias = found[0]
    assert catalog.resolve_alias(alias, os_name) == name
    desired = planner.desired_state({"extensions_allowlist": [alias]}, os_name)
    assert desired.values["extensions.allowlist"] == [name]
    assert not [w for w in desired.warnings if "not in the extension catalog" in w]


@pytest.mark.parametrize("alias", ["antimalware", "openssh", "site_recovery", "backup_workload"])
def test_windows_only_extensions_are_left_out_on_linux(alias):
    desired = planner.desired_state({"extensions_allowlist": [alias, "azure_monitor_agent"]}, "linux")
    assert desired.values["extensions.allowlist"] == [AMA["linux"]]
    assert any(alias in n and "does not exist on Linux" in n for n in desired.notes)


def test_the_presets_name_the_hybrid_worker_by_its_real_names():
    blocklist = profiles.PROFILES["block_scripts"]["options"]["extensions_blocklist"]
    assert set(HYBRID_WORKER.values()) <= set(blocklist)
    assert not set(MISSPELT) & set(blocklist)
    for os_name in OSES:
        desired = planner.desired_state(profiles.PROFILES["block_scripts"]["options"], os_name)
        assert desired.warnings == [] or all("misspell" not in w for w in desired.warnings)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(ALL_NAMES), st.sampled_from(OSES), st.sampled_from(["extensions_allowlist",
                                                                           "extensions_blocklist"]),
       st.booleans(), st.sampled_from([".", "\\"]))
def test_a_name_without_its_slash_fails_naming_the_slash_form_whatever_strict_says(
        name, os_name, option, strict, sep):
    written = name.replace("/", sep)
    with pytest.raises(planner.PlanError) as caught:
        planner.desired_state({option: [written], "strict": strict}, os_name)
    text = str(caught.value)
    assert text.startswith(option) and "did you mean %s" % name in text, text


# ------------------------------------------------------------------ lifecycle

@pytest.mark.parametrize("name,status,when", [
    ("Microsoft.Azure.Monitoring.DependencyAgent/DependencyAgentLinux", "deprecated", "2028-06-30"),
    ("Microsoft.Azure.Monitoring.DependencyAgent/DependencyAgentWindows", "deprecated", "2028-06-30"),
    ("Microsoft.Powershell/DSC", "retired", "no longer available"),
    ("Microsoft.OSTCExtensions/DSCForLinux", "retired", "no longer available"),
])
def test_the_audit_finds_the_new_lifecycle_entries_installed_or_allowed(name, status, when):
    os_name = "windows" if "Windows" in name or "Powershell" in name else "linux"
    info = {"os": os_name, "config": {"extensions.allowlist": [name], "config.mode": "full"},
            "installed_extensions": [{"name": name, "version": "9.1"}]}
    found = model.lifecycle_findings(info)
    assert [(f["where"], f["status"]) for f in found] == [("allowlist", status), ("installed", status)]
    assert all(when in f["message"] for f in found)
    assert catalog.lifecycle_of("automanage")["date"] == "2027-09-30"


# ------------------------------------------------------------------ presets

def test_esu_covers_windows_server_2012_and_2016():
    description = profiles.PROFILES["esu"]["description"]
    assert "2012" in description and "2016" in description
    desired = planner.desired_state(profiles.PROFILES["esu"]["options"], "windows")
    assert desired.values["extensions.allowlist"] == ["Allow/None"] and desired.warnings == []
    linux = planner.desired_state(profiles.PROFILES["esu"]["options"], "linux")
    assert any("2012 and 2016" in w for w in linux.warnings)


@pytest.mark.parametrize("os_name", OSES)
def test_essential_machine_management_lets_exactly_its_extensions_through(os_name):
    cap = os_name.capitalize()
    wanted = {AMA[os_name], "Microsoft.SoftwareUpdateManagement/%sOsUpdateExtension" % cap,
              "Microsoft.CPlat.Core/%sPatchExtension" % cap,
              "Microsoft.Azure.ChangeTrackingAndInventory/ChangeTracking-%s" % cap}
    options = profiles.PROFILES["essential_machine_management"]["options"]
    desired = planner.desired_state(options, os_name)
    assert set(desired.values["extensions.allowlist"]) == wanted
    assert desired.values["guestconfiguration.enabled"] is True and desired.values["config.mode"] == "full"
    assert desired.warnings == []
    assert "Essential Machine Management" in profiles.PROFILES["essential_machine_management"]["description"]
    assert profiles.legacy(profiles.PROFILES["essential_machine_management"]) == []


def test_the_2022_presets_stay_as_legacy():
    for name in ("monitoring_security", "log_analytics"):
        assert profiles.PROFILES[name]["description"].startswith("Legacy: ") and profiles.legacy(profiles.PROFILES[name])


# ------------------------------------------------------------------ agent versions

VERSIONS = st.tuples(st.just(1), st.integers(0, 80))
DAYS = st.integers(0, 3000).map(lambda d: datetime.date(2022, 1, 1) + datetime.timedelta(days=d))


@given(VERSIONS, VERSIONS, DAYS, DAYS)
def test_support_is_monotone_in_version_and_time(older, newer, early, late):
    older, newer = sorted([older, newer])
    early, late = sorted([early, late])
    rank = {"unsupported": 0, "unknown": 1, "supported": 2}
    a = catalog.agent_support("%d.%d.0.0" % older, today=early)["status"]
    b = catalog.agent_support("%d.%d.0.0" % newer, today=early)["status"]
    c = catalog.agent_support("%d.%d.0.0" % older, today=late)["status"]
    assert rank[a] <= rank[b]       # a newer agent is never less supported on the same day
    assert rank[c] <= rank[a]       # an agent is never more supported later


def test_support_against_the_release_notes():
    today = datetime.date(2026, 12, 7)
    assert catalog.agent_support("1.42.01234.1", today)["status"] == "unsupported"
    assert catalog.agent_support("1.58.03228.700", today)["status"] == "unsupported"   # in use by 2025-11-19
    assert catalog.agent_support("1.67.03500.1", today)["status"] == "supported"       # August 2026
    assert catalog.agent_support("1.67.03500.1", datetime.date(2027, 9, 1))["status"] == "unsupported"
    for garbage in (None, "", "latest", "1", "1.x"):
        assert catalog.agent_support(garbage, today)["status"] == "unknown"


def test_the_audit_counts_old_agents_without_calling_them_drifted():
    info = {"agent": {"installed": True, "version": "1.30.1.1"}, "config": {}, "errors": []}
    verdict = model.from_host("defender", info, {"changed": False, "changes": []})
    assert verdict.compliant and verdict.extra["agent_support"]["status"] == "unsupported"
    report = model.Report(hosts={"old": verdict})
    assert report.summary()["unsupported_agent"] == 1 and report.summary()["compliant"] == 1


@pytest.mark.parametrize("mine", [{1: {}, "1": {}}, {True: {}, "True": {}}])
def test_two_keys_that_are_one_name_fail_naming_it(mine):
    with pytest.raises(planner.PlanError, match="same profile name"):
        profiles.resolve({"profile": "x", "profiles": mine})


def test_an_unknown_name_among_keys_of_mixed_types_fails_naming_it():
    with pytest.raises(planner.PlanError, match="profile nope is not a profile"):
        profiles.resolve({"profile": "nope", "profiles": {1: {}, None: {}, 2.5: {}, "a": {}}})
