"""What the Windows tests share (the tier conftests import the fixtures): the test hosts as fixtures, and small helpers over a host's stand-in.

Fixtures: ``host`` (a Windows host's file system with the agent installed, for the endpoint's interpreter
alone), ``endpoint`` (the WinRM test endpoint serving one such host) and ``win`` (the Windows host of the
end-to-end tests: the WinRM endpoint; test_windows_ssh.py gives one behind a real sshd instead).
Helpers (``from tests.lib.windows_env import ...``): ``state``, ``log``, ``config``, and the task both
end-to-end suites converge a Windows host with (``NAMES_TASK``) with what it must store (``assert_windows_names``), ``prepare_info_host`` and ``assert_info``.
"""

import sys

import pytest

from tests.lib import fleet
from tests.lib.endpoint import Endpoint
from tests.lib.winrm_endpoint import Host, install_agent


def state(host):
    """The stand-in's stored settings on a Windows test host."""
    return fleet.read_state(host.root, "windows")


def log(host):
    """The azcmagent invocations on a Windows test host."""
    return fleet.read_log(host.root, "windows")


def config(args):
    """An azcmagent_config task."""
    return {"arcguard.azcmagent.azcmagent_config": args}


# aliases that resolve to Windows names, in both lists
NAMES_TASK = config({"mode": "full", "extensions_allowlist": ["azure_monitor_agent", "defender_endpoint", "defender_sql"],
                     "extensions_blocklist": ["custom_script", "run_command"], "guestconfiguration_enabled": False})


def assert_windows_names(got):
    """The settings NAMES_TASK stores on a Windows host."""
    assert got["extensions.allowlist"] == ["Microsoft.Azure.Monitor/AzureMonitorWindowsAgent",
                                           "Microsoft.Azure.AzureDefenderForServers/MDE.Windows",
                                           "Microsoft.Azure.AzureDefenderForSQL/AdvancedThreatProtection.Windows"]
    assert sorted(got["extensions.blocklist"]) == [
        "Microsoft.CPlat.Core/RunCommandHandlerWindows", "Microsoft.Compute/CustomScriptExtension"]
    assert got["guestconfiguration.enabled"] in (False, "false")


def prepare_info_host(host):
    """AMA allowed, and both AMA and Custom Script installed: what the info tests read."""
    fleet.set_state(host.root, {"extensions.allowlist": ["Microsoft.Azure.Monitor/AzureMonitorWindowsAgent"]}, "windows")
    fleet.add_extension(host.root, "Microsoft.Compute", "CustomScriptExtension", "1.10.12", "windows")
    fleet.add_extension(host.root, "Microsoft.Azure.Monitor", "AzureMonitorWindowsAgent", "1.22.0.0", "windows")


def assert_info(result):
    """What azcmagent_info reports for a host made by prepare_info_host."""
    assert not result.get("failed") and result["changed"] is False, result
    assert result["agent"]["installed"] and result["agent"]["version"].startswith("1.64")
    assert result["agent"]["status"] == "Connected"
    assert "extensions.allowlist" in result["supported_properties"]
    assert sorted(e["name"] for e in result["installed_extensions"]) == [
        "Microsoft.Azure.Monitor/AzureMonitorWindowsAgent", "Microsoft.Compute/CustomScriptExtension"]
    assert [e["name"] for e in result["blocked_installed"]] == ["Microsoft.Compute/CustomScriptExtension"]


@pytest.fixture
def host(tmp_path):
    root = str(tmp_path / "win")
    install_agent(root)
    return Host(root, [sys.executable, fleet.STANDIN])


@pytest.fixture
def endpoint(tmp_path):
    ep = Endpoint(tmp_path / "win")
    yield ep
    ep.stop()


@pytest.fixture
def win(endpoint):
    return endpoint
