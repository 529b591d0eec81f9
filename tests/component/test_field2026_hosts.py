"""The world of late 2026 (field-2026.md) as a user sees it through the action plugins against stand-in hosts:
every built-in profile leaves the settings Azure decides as it found them, the owner warning, misspellings written
under the real name, dotted names and unknown aliases refused before anything runs, ESU on Windows Server 2016, an
old agent reported as a finding, profile names of any YAML type. The pure side is tests/unit/test_field2026.py.

Expected values are written from the reference (field-2026.md, sections 1, 3 and 4), not read from the catalog.
"""

import datetime

import pytest

from tests.lib.actions import Target

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _planner as planner
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _profiles as profiles

OSES = ("linux", "windows")
AZURE_OWNED = ("connection.type", "proxy.bypass", "incomingconnections.ports")
HYBRID_WORKER = {"windows": "Microsoft.Azure.Automation.HybridWorker/HybridWorkerForWindows",
                 "linux": "Microsoft.Azure.Automation.HybridWorker/HybridWorkerForLinux"}
MISSPELT = {"Microsoft.Compute/HybridWorkerForWindows": HYBRID_WORKER["windows"],
            "Microsoft.Azure.Automation/HybridWorkerForLinux": HYBRID_WORKER["linux"]}
AMA = {"windows": "Microsoft.Azure.Monitor/AzureMonitorWindowsAgent", "linux": "Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"}


def host(tmp_path, flavour="linux", **kwargs):
    return Target(tmp_path / "host", flavour, **kwargs)


def owner_warnings(result):
    return [w for w in result.get("warnings") or [] if "decided in Azure" in w]


@pytest.mark.parametrize("name", sorted(profiles.PROFILES))
def test_every_built_in_profile_leaves_them_as_it_found_them(tmp_path, name):
    found = {"connection.type": "direct", "proxy.bypass": ["Arc", "AAD"], "incomingconnections.ports": [22, 6516]}
    target = host(tmp_path, state=dict(found))
    result = target.run(profile=name)
    assert not result.get("failed"), result
    assert owner_warnings(result) == []
    state = target.state()
    for prop, value in found.items():
        assert state[prop] == value, (prop, state)
    assert not [argv for argv in target.invocations() if any(p in argv for p in AZURE_OWNED)]


@pytest.mark.parametrize("flavour", OSES)
def test_defaults_under_an_azure_gateway_converges_and_leaves_the_gateway(tmp_path, flavour):
    target = host(tmp_path, flavour, control={"azure_gateway": True},
                  state={"incomingconnections.ports": [22], "extensions.allowlist": [AMA[flavour]]})
    first = target.run(profile="defaults")
    assert not first.get("failed") and first["changed"], first
    again = target.run(profile="defaults")
    assert again["changed"] is False and not again.get("failed"), again
    assert target.state()["incomingconnections.ports"] == [22]


@pytest.mark.parametrize("task,owner", [
    ({"incomingconnections_ports": [22]}, "Hybrid Connectivity"),
    ({"settings": {"connection.type": "direct"}}, "Arc gateway"),
    ({"proxy_bypass": ["Arc"], "settings": {"connection.type": "gateway"}}, "gatewayBypass"),
])
def test_a_task_that_sets_one_is_warned_who_owns_it_and_where_to_set_it(tmp_path, task, owner):
    target = host(tmp_path)
    result = target.run(**task)
    assert not result.get("failed"), result
    warned = owner_warnings(result)
    assert warned and any(owner in w for w in warned), result.get("warnings")
    prop = "incomingconnections.ports" if "incomingconnections_ports" in task else \
        "proxy.bypass" if "proxy_bypass" in task else "connection.type"
    assert any(prop in w and "Set it there instead" in w for w in warned)


def test_proxy_bypass_without_a_gateway_is_ours(tmp_path):
    result = host(tmp_path).run(proxy_bypass=["Arc"])
    assert not result.get("failed") and owner_warnings(result) == [], result


def test_the_owner_warning_fails_under_strict_before_any_write(tmp_path):
    target = host(tmp_path, state={"incomingconnections.ports": [6516]})
    result = target.run(incomingconnections_ports=[22], strict=True)
    assert result["failed"] and "decided in Azure" in result["msg"], result
    assert target.invocations() == [["config", "list", "--json"]]
    assert target.state()["incomingconnections.ports"] == [6516]


@pytest.mark.parametrize("given_name,real", sorted(MISSPELT.items()))
@pytest.mark.parametrize("option", ["extensions_allowlist", "extensions_blocklist"])
def test_documented_misspellings_are_written_under_the_real_name_with_a_warning(tmp_path, given_name, real, option):
    target = host(tmp_path)
    result = target.run(**{option: [given_name, "azure_monitor_agent"]})
    assert not result.get("failed"), result
    stored = target.state()[option.replace("_", ".", 1)]
    assert real in stored and given_name not in stored, stored
    assert any(real in w and given_name in w for w in result["warnings"]), result["warnings"]


@pytest.mark.parametrize("flavour", OSES)
def test_a_dotted_name_is_refused_before_anything_runs_on_the_host(tmp_path, flavour):
    target = host(tmp_path, flavour)
    result = target.run(extensions_allowlist=["Microsoft.Azure.Monitor.AzureMonitorLinuxAgent"])
    assert result["failed"] and "did you mean Microsoft.Azure.Monitor/AzureMonitorLinuxAgent" in result["msg"]
    assert target.commands == [] and target.invocations() == []


def test_an_unknown_alias_fails_with_the_closest_aliases(tmp_path):
    target = host(tmp_path)
    result = target.run(extensions_blocklist=["custom_scirpt"])
    assert result["failed"] and "did you mean custom_script" in result["msg"], result
    assert target.commands == []
    with pytest.raises(planner.PlanError, match="extensions_allowlist: 'contoso'"):
        planner.desired_state({"extensions_allowlist": ["contoso"]}, "linux")


def test_esu_on_a_windows_server_2016_host(tmp_path):
    target = host(tmp_path, "windows", state={"extensions.allowlist": [AMA["windows"]]})
    result = target.run(profile="esu")
    assert not result.get("failed") and not result.get("warnings"), result
    assert target.state()["extensions.allowlist"] == ["Allow/None"]
    assert target.run(profile="esu")["changed"] is False


def test_azcmagent_info_reports_an_old_agent_as_a_finding_judged_at_every_run(tmp_path):
    target = host(tmp_path, control={"version": "1.30.02519.1234"})
    old = target.run("azcmagent_info")
    assert not old.get("failed"), old
    assert old["agent"]["support"]["status"] == "unsupported"
    assert old["findings"] and "12 months" in old["findings"][0]
    # the agent upgraded itself between two runs: nothing is remembered
    target.control({"version": "1.67.03600.1"})
    new = target.run("azcmagent_info")
    assert new["agent"]["version"].startswith("1.67") and new["findings"] == []
    assert new["agent"]["support"]["status"] in ("supported", "unknown")


# ------------------------------------------------------------------ profile names of any YAML type

@pytest.mark.parametrize("key,name", [(2022, "2022"), (1.5, "1.5"), (True, "True"), (None, "None"),
                                      (datetime.date(2026, 8, 3), "2026-08-03"), ("web", "web")])
def test_a_profile_name_of_any_yaml_type_works(tmp_path, key, name):
    mine = {key: {"options": {"guestconfiguration_enabled": False}}, "other": {"options": {}}}
    resolved = profiles.resolve({"profile": name, "profiles": mine})
    assert resolved["guestconfiguration_enabled"] is False
    result = host(tmp_path).run(profile=name, profiles=mine)
    assert not result.get("failed"), result
