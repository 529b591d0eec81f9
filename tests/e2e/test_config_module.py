"""azcmagent_config through ansible-playbook, from the built collection, against the stand-in in every variant."""

import json

import pytest

from tests.lib.playbook import run
from tests.lib import fleet

VARIANTS = {
    "defaults": {},
    "literal-json": {"bool_json": "literal", "int_json": "literal", "json_extra_keys": True},
    "comma-text-lists": {"text_list_sep": "comma"},
    "lowercase-sorted-store": {"stored_case": "lower", "stored_order": "sorted"},
    "monitor-effective-27": {"monitor_list": "effective", "monitor_refusal_rc": 27},
    "object-get-message-set": {"get_json": "value", "set_json": "message"},
}

AMA = "Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"
MDE = "Microsoft.Azure.AzureDefenderForServers/MDE.Linux"
DOCS_BLOCKLIST = ("Microsoft.Cplat.Core/RunCommandHandlerWindows, Microsoft.Cplat.Core/RunCommandHandlerLinux,"
                  "Microsoft.Compute/CustomScriptExtension,Microsoft.Azure.Extensions/CustomScript,"
                  "Microsoft.Azure.Automation.HybridWorker/HybridWorkerForWindows, "
                  "Microsoft.Azure.Automation/HybridWorkerForLinux,"
                  "Microsoft.EnterpriseCloud.Monitoring/MicrosoftMonitoringAgent, "
                  "Microsoft.EnterpriseCloud.Monitoring/OMSAgentForLinux")


def host(tmp_path, variant="defaults", state=None, version=None, **control):
    root = str(tmp_path / "host")
    control = dict(control, variants=VARIANTS[variant])
    if version:
        control["version"] = version
    exe = fleet.make_host(root, control=control, state=state)
    return root, exe


def listing(exe):
    import subprocess
    out = subprocess.run([exe, "config", "list", "--json"], capture_output=True, text=True, check=True).stdout
    doc = json.loads(out)
    values = {}
    for entry in doc["LocalSettings"]:
        value = entry["Value"]
        if isinstance(value, str) and value in ("true", "false"):
            value = value == "true"
        if isinstance(value, list):
            value = sorted(str(v).lower() for v in value)
        values[entry["Key"]] = value
    return values


LOCKDOWN = {"mode": "full", "extensions_allowlist": ["azure_monitor_agent", "defender_endpoint"],
            "extensions_blocklist": DOCS_BLOCKLIST, "guestconfiguration_enabled": False,
            "incomingconnections_enabled": False, "incomingconnections_ports": [22, 6516],
            "proxy_bypass": ["ARM", "aad"], "settings": {"extensions.agent.cpulimit": 10}}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("start", ["fresh", "monitor"])
def test_converge_then_no_change_then_one_invocation(tmp_path, variant, start):
    root, exe = host(tmp_path, variant, state={"config.mode": "monitor"} if start == "monitor" else None)
    task = {"arcguard.azcmagent.azcmagent_config": dict(LOCKDOWN, executable=exe)}

    check = run(tmp_path, [task], check=True)
    planned = check.result()
    assert planned["changed"] is True and not planned.get("failed"), planned
    assert fleet.read_state(root) == ({"config.mode": "monitor"} if start == "monitor" else {})
    assert all(e["argv"][:2] == ["config", "list"] for e in fleet.read_log(root))

    first = run(tmp_path, [task]).result()
    assert first["changed"] is True and not first.get("failed"), first
    seen = listing(exe)
    assert seen["config.mode"] == "full"
    assert seen["extensions.allowlist"] == sorted([AMA.lower(), MDE.lower()])
    assert len(seen["extensions.blocklist"]) == 8
    assert seen["guestconfiguration.enabled"] is False
    assert seen["incomingconnections.enabled"] is False
    assert sorted(int(p) for p in seen["incomingconnections.ports"]) == [22, 6516]
    assert seen["proxy.bypass"] == ["aad", "arm"]
    assert first["config"]["extensions.agent.cpulimit"] == 10

    fleet.clear_log(root)
    second = run(tmp_path, [task]).result()
    assert second["changed"] is False and not second.get("failed"), second
    assert second["commands"] == []
    assert [e["argv"] for e in fleet.read_log(root)] == [["config", "list", "--json"]]


def test_diff_shows_before_and_after(tmp_path):
    _root, exe = host(tmp_path)
    out = run(tmp_path, [{"arcguard.azcmagent.azcmagent_config": {"executable": exe, "guestconfiguration_enabled": False}}], diff=True)
    assert '-    "guestconfiguration.enabled": true' in out.stdout
    assert '+    "guestconfiguration.enabled": false' in out.stdout


def test_monitor_with_lists_fails_before_any_write(tmp_path):
    root, exe = host(tmp_path)
    result = run(tmp_path, [{"arcguard.azcmagent.azcmagent_config": {
        "executable": exe, "mode": "monitor", "extensions_allowlist": ["azure_monitor_agent"]}}]).result()
    assert result["failed"] and "monitor cannot be combined" in result["msg"]
    assert fleet.read_log(root) == [] and fleet.read_state(root) == {}


@pytest.mark.parametrize("variant", ["defaults", "monitor-effective-27"])
def test_lists_on_a_monitor_host_need_mode_full(tmp_path, variant):
    root, exe = host(tmp_path, variant, state={"config.mode": "monitor"})
    result = run(tmp_path, [{"arcguard.azcmagent.azcmagent_config": {
        "executable": exe, "extensions_allowlist": ["azure_monitor_agent"]}}]).result()
    assert result["failed"] and "add mode: full" in result["msg"]
    assert fleet.read_state(root) == {"config.mode": "monitor"}


def test_allow_none_and_mixing_it(tmp_path):
    _root, exe = host(tmp_path)
    ok = run(tmp_path, [{"arcguard.azcmagent.azcmagent_config": {"executable": exe, "extensions_allowlist": ["Allow/None"]}}]).result()
    assert ok["changed"] and ok["config"]["extensions.allowlist"] == ["Allow/None"]
    assert any("Extended Security Updates" in w for w in ok.get("warnings", []))
    bad = run(tmp_path, [{"arcguard.azcmagent.azcmagent_config": {
        "executable": exe, "extensions_allowlist": ["Allow/None", "azure_monitor_agent"]}}]).result()
    assert bad["failed"] and "cannot be combined" in bad["msg"]


def test_allow_none_on_an_agent_before_1_35_fails_with_a_hint(tmp_path):
    _root, exe = host(tmp_path, version="1.30.02204.1")
    bad = run(tmp_path, [{"arcguard.azcmagent.azcmagent_config": {"executable": exe, "extensions_allowlist": ["Allow/None"]}}]).result()
    assert bad["failed"] and "1.35" in bad["msg"] and bad["rc"] == 23


def test_list_action_add_and_remove(tmp_path):
    _root, exe = host(tmp_path, state={"extensions.allowlist": [AMA]})
    added = run(tmp_path, [{"arcguard.azcmagent.azcmagent_config": {
        "executable": exe, "extensions_allowlist": ["defender_endpoint"], "list_action": "add"}}]).result()
    assert added["changed"] and sorted(added["config"]["extensions.allowlist"]) == sorted([AMA, MDE])
    assert any("--add" in c for c in added["commands"])
    removed = run(tmp_path, [{"arcguard.azcmagent.azcmagent_config": {
        "executable": exe, "extensions_allowlist": ["azure_monitor_agent"], "list_action": "remove"}}]).result()
    assert removed["config"]["extensions.allowlist"] == [MDE]


def test_unsupported_property_on_an_old_agent_names_the_version(tmp_path):
    _root, exe = host(tmp_path, version="1.30.02204.1")
    result = run(tmp_path, [{"arcguard.azcmagent.azcmagent_config": {
        "executable": exe, "settings": {"extensions.agent.cpulimit": 10}}}]).result()
    assert result["failed"] and "1.39 or later" in result["msg"]


def test_settings_null_resets_to_default(tmp_path):
    root, exe = host(tmp_path, state={"extensions.agent.cpulimit": 20})
    result = run(tmp_path, [{"arcguard.azcmagent.azcmagent_config": {
        "executable": exe, "settings": {"extensions.agent.cpulimit": None}}}]).result()
    assert result["changed"] and result["config"]["extensions.agent.cpulimit"] == 5
    assert "extensions.agent.cpulimit" not in fleet.read_state(root)


def test_agent_missing(tmp_path):
    result = run(tmp_path, [{"arcguard.azcmagent.azcmagent_config": {
        "executable": str(tmp_path / "no-agent"), "mode": "full"}}]).result()
    assert result["failed"] and "azcmagent was not found" in result["msg"]


def test_not_elevated(tmp_path):
    _root, exe = host(tmp_path, elevated=False)
    result = run(tmp_path, [{"arcguard.azcmagent.azcmagent_config": {"executable": exe, "mode": "full"}}]).result()
    assert result["failed"] and result["rc"] == 18 and "become: true" in result["msg"]


def test_garbage_output(tmp_path):
    _root, exe = host(tmp_path, faults={"garbage_output": True})
    result = run(tmp_path, [{"arcguard.azcmagent.azcmagent_config": {"executable": exe, "mode": "full"}}]).result()
    assert result["failed"] and "could not understand" in result["msg"] and "goroutine" in result["stdout"]


def test_invalid_value_refused_by_the_agent_is_reported(tmp_path):
    # a bypass value the agent knows only from 1.45 on: our validation lets it through, the agent refuses
    root, exe = host(tmp_path, version="1.40.02664.1629")
    result = run(tmp_path, [{"arcguard.azcmagent.azcmagent_config": {"executable": exe, "proxy_bypass": ["AMA"]}}]).result()
    assert result["failed"] and result["rc"] == 23 and "invalid arguments" in result["msg"]
    assert fleet.read_state(root) == {}


def test_the_built_collection_is_what_runs(tmp_path):
    import os
    import subprocess
    from tests.lib.playbook import ROOT, env
    out = subprocess.run([os.path.join(ROOT, ".venv", "bin", "ansible-doc"), "-j", "arcguard.azcmagent.azcmagent_config"],
                         capture_output=True, text=True, env=env(), check=True).stdout
    doc = json.loads(out)["arcguard.azcmagent.azcmagent_config"]
    assert doc["doc"]["filename"].startswith(os.path.join(ROOT, "build", "collections"))
