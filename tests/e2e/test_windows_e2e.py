"""azcmagent_config and the lockdown role over Ansible's winrm connection, against the test endpoint."""

import json
import os

import pytest

from tests.lib.playbook import run
from tests.lib.profiles_expected import PROFILES, expected, matches
from tests.lib import fleet
from tests.lib.windows_env import (NAMES_TASK, assert_info, assert_windows_names, config, log,
                                   prepare_info_host, state)
from tests.lib.endpoint import Endpoint

pytestmark = pytest.mark.windows


def test_module_converges_with_windows_names_and_is_idempotent(tmp_path, win):
    task = NAMES_TASK
    hosts = {"dc01": win.host_vars()}
    check = run(tmp_path, [task], hosts=hosts, check=True, diff=True).result("dc01")
    assert check["changed"] and check["os"] == "windows", check
    assert state(win) == {}
    first = run(tmp_path, [task], hosts=hosts).result("dc01")
    assert first["changed"] and not first.get("failed"), first
    assert_windows_names(state(win))
    assert first["executable"] == "C:\\Program Files\\AzureConnectedMachineAgent\\azcmagent.exe"
    fleet.clear_log(win.root, "windows")
    second = run(tmp_path, [task], hosts=hosts).result("dc01")
    assert second["changed"] is False
    assert [e["argv"] for e in log(win)] == [["config", "list", "--json"]]


def test_every_profile_yields_the_windows_names(tmp_path):
    endpoints = {}
    try:
        hosts = {}
        for profile in PROFILES:
            endpoints[profile] = Endpoint(tmp_path / profile)
            hosts[profile] = dict(endpoints[profile].host_vars(), lockdown_profile=profile)
        role = {"ansible.builtin.include_role": {"name": "arcguard.azcmagent.lockdown"}}
        out = run(tmp_path, [role], hosts=hosts)
        assert out.rc == 0 and "failed=0" in out.stdout, out.stdout[-3000:]
        for profile, ep in endpoints.items():
            got = fleet.read_state(ep.root, "windows")
            for prop, want in expected(profile, "windows").items():
                seen = got.get(prop, {"config.mode": "full", "guestconfiguration.enabled": True,
                                      "extensions.enabled": True, "incomingconnections.enabled": True,
                                      "extensions.allowlist": [], "extensions.blocklist": []}.get(prop))
                assert matches(prop, seen, want), (profile, prop, seen, want)
            fleet.clear_log(ep.root, "windows")
        again = run(tmp_path, [role], hosts=hosts)
        assert "changed=1" not in again.stdout
        for profile, ep in endpoints.items():
            assert len(fleet.read_log(ep.root, "windows")) == 1, profile
    finally:
        for ep in endpoints.values():
            ep.stop()


def test_monitor_mode_ordering_over_winrm(tmp_path, win):
    fleet.set_state(win.root, {"config.mode": "monitor"}, "windows")
    fleet.write_control(win.root, {"variants": {"monitor_list": "effective", "monitor_refusal_rc": 27}}, "windows")
    result = run(tmp_path, [config({"mode": "full", "extensions_allowlist": ["azure_monitor_agent"]})],
                 hosts={"w": win.host_vars()}).result("w")
    assert result["changed"] and not result.get("failed"), result
    assert state(win)["config.mode"] == "full"
    assert state(win)["extensions.allowlist"] == ["Microsoft.Azure.Monitor/AzureMonitorWindowsAgent"]


@pytest.mark.parametrize("case", ["not_elevated", "invalid_value", "monitor_refusal", "agent_missing", "garbage"])
def test_errors_propagate(tmp_path, case):
    ep = Endpoint(tmp_path / "win", no_agent=(case == "agent_missing"))
    try:
        args = {"guestconfiguration_enabled": False}
        if case == "not_elevated":
            fleet.write_control(ep.root, {"elevated": False}, "windows")
        if case == "invalid_value":
            fleet.write_control(ep.root, {"version": "1.40.02664.1629"}, "windows")
            args = {"proxy_bypass": ["AMA"]}
        if case == "monitor_refusal":
            # the agent's lists are refused in monitor mode; the module refuses before any write
            fleet.set_state(ep.root, {"config.mode": "monitor"}, "windows")
            args = {"extensions_blocklist": ["custom_script"]}
        if case == "garbage":
            fleet.write_control(ep.root, {"faults": {"garbage_output": True}}, "windows")
        result = run(tmp_path, [config(args)], hosts={"w": ep.host_vars()}).result("w")
        assert result["failed"], result
        message = {"not_elevated": "elevated Administrator", "invalid_value": "invalid arguments",
                   "monitor_refusal": "monitor mode", "agent_missing": "azcmagent was not found",
                   "garbage": "could not understand"}[case]
        assert message in result["msg"], result["msg"]
        if case == "not_elevated":
            assert result["rc"] == 18
    finally:
        ep.stop()


STRESS = [
    "http://proxy.example.com:3128",
    "http://user:p a s s@proxy.example.com:3128",
    "http://user:it's@proxy.example.com:3128",
    "http://user:a,b;c$d`e@proxy.example.com:3128",
    "http://üser:pässwörd漢@proxy.example.com:3128",
    "http://user:\u2019curly\u2018@proxy.example.com:3128",
]


@pytest.mark.parametrize("value", STRESS)
def test_values_that_stress_quoting_reach_the_agent_exactly_or_are_refused(tmp_path, win, value):
    result = run(tmp_path, [config({"proxy_url": value})], hosts={"w": win.host_vars()}).result("w")
    if " " in value:
        assert result["failed"] and "white space" in result["msg"]
        assert state(win) == {}
        return
    assert not result.get("failed"), result
    assert state(win)["proxy.url"] == value
    assert value.split("@")[0].split(":")[-1] not in json.dumps(result) or "@" not in value


@pytest.mark.parametrize("value", ['http://user:"quoted"@proxy:3128', "http://proxy:3128\\"])
def test_values_windows_would_mangle_are_refused_before_anything_runs(tmp_path, win, value):
    result = run(tmp_path, [config({"proxy_url": value})], hosts={"w": win.host_vars()}).result("w")
    assert result["failed"]
    assert log(win) == []


def test_mixed_fleet_in_one_run(tmp_path, win):
    linux_root = str(tmp_path / "linux")
    exe = fleet.make_host(linux_root)
    hosts = {"lin01": {"ansible_connection": "local", "lockdown_executable": exe, "lockdown_profile": "defender"},
             "win01": dict(win.host_vars(), lockdown_profile="defender")}
    role = {"ansible.builtin.include_role": {"name": "arcguard.azcmagent.lockdown"}}
    out = run(tmp_path, [role], hosts=hosts)
    assert out.rc == 0 and "failed=0" in out.stdout, out.stdout[-3000:]
    assert fleet.read_state(linux_root)["extensions.allowlist"] == [
        "Microsoft.Azure.Monitor/AzureMonitorLinuxAgent", "Microsoft.Azure.AzureDefenderForServers/MDE.Linux"]
    assert state(win)["extensions.allowlist"] == [
        "Microsoft.Azure.Monitor/AzureMonitorWindowsAgent", "Microsoft.Azure.AzureDefenderForServers/MDE.Windows"]
    assert os.path.exists(win.agent_path())


def test_info_over_winrm(tmp_path, win):
    prepare_info_host(win)
    result = run(tmp_path, [{"arcguard.azcmagent.azcmagent_info": {}}], hosts={"w": win.host_vars()}, check=True).result("w")
    assert_info(result)
    assert len(log(win)) == 4


def test_info_without_the_agent_is_a_result(tmp_path):
    ep = Endpoint(tmp_path / "win", no_agent=True)
    try:
        result = run(tmp_path, [{"arcguard.azcmagent.azcmagent_info": {}}], hosts={"w": ep.host_vars()}).result("w")
        assert not result.get("failed") and result["agent"]["installed"] is False
    finally:
        ep.stop()


def test_remove_blocked_over_winrm_stops_removes_starts_and_is_idempotent(tmp_path, win):
    fleet.add_extension(win.root, "Microsoft.Compute", "CustomScriptExtension", "1.10.12", "windows")
    fleet.add_extension(win.root, "Microsoft.Azure.Monitor", "AzureMonitorWindowsAgent", "1.22.0.0", "windows")
    task = config({"extensions_allowlist": ["azure_monitor_agent"], "remove_blocked": True})
    hosts = {"w": win.host_vars()}
    custom = {"publisher": "Microsoft.Compute", "type": "CustomScriptExtension", "version": "1.10.12"}

    check = run(tmp_path, [task], hosts=hosts, check=True).result("w")
    assert check["changed"] and check["removed_extensions"] == [custom], check
    assert len(fleet.installed_extensions(win.root, "windows")) == 2
    assert fleet.read_service_log(win.root, "windows") == []

    first = run(tmp_path, [task], hosts=hosts).result("w")
    assert first["changed"] and not first.get("failed"), first
    assert first["removed_extensions"] == [custom]
    assert "& 'C:\\Program Files\\AzureConnectedMachineAgent\\azcmagent.exe' 'extension' 'remove' '--name' " \
           "'Microsoft.Compute.CustomScriptExtension'" in first["commands"]
    assert fleet.installed_extensions(win.root, "windows") == [
        "Microsoft.Azure.Monitor.AzureMonitorWindowsAgent\\1.22.0.0"]
    assert fleet.service_status(win.root, "ExtensionService", "windows") == "running"
    assert [(e["argv"], e["rc"]) for e in fleet.read_service_log(win.root, "windows")] == [
        (["stop", "ExtensionService"], 0), (["start", "ExtensionService"], 0)]
    assert state(win)["extensions.allowlist"] == ["Microsoft.Azure.Monitor/AzureMonitorWindowsAgent"]

    fleet.clear_log(win.root, "windows")
    second = run(tmp_path, [task], hosts=hosts).result("w")
    assert second["changed"] is False and second["removed_extensions"] == [], second
    assert [e["argv"] for e in log(win)] == [["config", "list", "--json"]]
