"""The endpoint's Stop-Service and Start-Service: only the form our runner emits, acting on the stand-in's services."""

import os

import pytest

from tests.lib import fleet
from tests.lib.winrm_endpoint import run_script

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _scripts

pytestmark = pytest.mark.windows


def run(host, script):
    rc, out, err = run_script(host, script)
    return rc, out.decode("utf-8"), err.decode("utf-8")


def test_stop_and_start_set_the_stand_ins_service_status(host):
    rc, out, _err = run(host, "Stop-Service -Name 'ExtensionService'\r\nif ($?) { Write-Output 'stopped' }\r\nexit 0")
    assert rc == 0 and out == "stopped\r\n"
    assert fleet.service_status(host.root, "ExtensionService", "windows") == "stopped"
    rc, out, _err = run(host, "Start-Service -Name 'ExtensionService'\r\nif ($?) { Write-Output 'started' }")
    assert out == "started\r\n"
    assert fleet.service_status(host.root, "ExtensionService", "windows") == "running"
    assert [e["argv"] for e in fleet.read_service_log(host.root, "windows")] == [
        ["stop", "ExtensionService"], ["start", "ExtensionService"]]


def test_an_unknown_service_is_an_error_record_and_dollar_question_is_false(host):
    _rc, out, err = run(host, "$r = 1\r\nStop-Service -Name 'NoSuchService'\r\nif ($?) { $r = 0 }\r\n"
                              "Write-Output ('' + $r)")
    assert out == "1\r\n"
    assert "Stop-Service : Cannot find any service with service name 'NoSuchService'." in err


def test_without_the_agent_its_services_do_not_exist(host):
    os.unlink(os.path.join(host.root, "Program Files", "AzureConnectedMachineAgent", "azcmagent.exe"))
    _rc, _out, err = run(host, "Stop-Service -Name 'ExtensionService'")
    assert "Cannot find any service" in err


@pytest.mark.parametrize("script", [
    "Stop-Service ExtensionService", "Stop-Service -Name $X", "Stop-Service -Name 'ExtensionService' -Force",
    "Restart-Service -Name 'ExtensionService'", "Get-Service -Name 'ExtensionService'",
    "Stop-Service -DisplayName 'Guest Configuration Extension Service'", "Start-Service -Name \"ExtensionService\"",
])
def test_other_forms_are_refused_before_anything_runs(host, script):
    rc, _out, err = run(host, "$X = 'ExtensionService'\r\n" + script)
    assert rc == 1 and "refused" in err
    assert fleet.read_service_log(host.root, "windows") == []


def test_our_removal_script_end_to_end(host):
    fleet.add_extension(host.root, "Microsoft.Compute", "CustomScriptExtension", "1.10.12", "windows")
    fleet.add_extension(host.root, "Microsoft.Azure.Monitor", "AzureMonitorWindowsAgent", "1.22.0.0", "windows")
    steps = [_scripts.Service("stop", "ExtensionService"),
             _scripts.WhileStopped(["extension", "remove", "--name", "Microsoft.Compute.CustomScriptExtension"]),
             _scripts.Service("start", "ExtensionService"), ["config", "list", "--json"], _scripts.Listing()]
    rc, out, err = run(host, _scripts.powershell_script(steps))
    assert rc == 0, err
    result = _scripts.ScriptResult(rc, out, err)
    assert [s.rc for s in result.steps] == [0, 0, 0, 0, 0]
    assert result.step(5).stdout.split("\r\n") == ["Microsoft.Azure.Monitor.AzureMonitorWindowsAgent",
                                                   "Microsoft.Azure.Monitor.AzureMonitorWindowsAgent\\1.22.0.0"]
    assert fleet.service_status(host.root, "ExtensionService", "windows") == "running"


def test_our_removal_script_without_a_stop_removes_nothing_and_still_starts(host):
    fleet.add_extension(host.root, "Microsoft.Compute", "CustomScriptExtension", "1.10.12", "windows")
    fleet.write_control(host.root, {"faults": {"fail_service": {"service": "ExtensionService", "action": "stop"}}},
                        "windows")
    steps = [_scripts.Service("stop", "ExtensionService"),
             _scripts.WhileStopped(["extension", "remove", "--name", "Microsoft.Compute.CustomScriptExtension"]),
             _scripts.Service("start", "ExtensionService")]
    rc, out, err = run(host, _scripts.powershell_script(steps))
    result = _scripts.ScriptResult(rc, out, err)
    assert rc == 1
    assert result.step(1).rc == 1 and result.step(2) is None and result.step(3).rc == 0
    assert fleet.installed_extensions(host.root, "windows") == ["Microsoft.Compute.CustomScriptExtension\\1.10.12"]
    assert [e["argv"][0] for e in fleet.read_service_log(host.root, "windows")] == ["stop", "start"]
