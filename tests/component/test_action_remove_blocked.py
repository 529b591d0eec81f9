"""remove_blocked in the action plugin, for both shells, running the real scripts against stand-in hosts.

POSIX scripts run with /bin/sh; PowerShell scripts run in the WinRM test endpoint's interpreter (which refuses
any construct our runner does not emit). Every remote command is counted.
"""

import os

import pytest

from tests.lib import actions, fleet

AMA = {"linux": ("Microsoft.Azure.Monitor", "AzureMonitorLinuxAgent"),
       "windows": ("Microsoft.Azure.Monitor", "AzureMonitorWindowsAgent")}
CUSTOM = {"linux": ("Microsoft.Azure.Extensions", "CustomScript"),
          "windows": ("Microsoft.Compute", "CustomScriptExtension")}
SERVICE = {"linux": "extd", "windows": "ExtensionService"}


class Target(actions.Target):
    """A stand-in host whose azcmagent_config tasks remove blocked extensions unless told not to."""

    def run(self, check=False, environment=None, **args):  # pylint: disable=arguments-differ
        args.setdefault("remove_blocked", True)
        return super().run("azcmagent_config", check=check, environment=environment, **args)


@pytest.fixture(params=["linux", "windows"])
def target(request, tmp_path):
    return Target(tmp_path / "host", request.param)


def ama_allowed(flavour):
    return {"extensions.allowlist": ["%s/%s" % AMA[flavour]]}


def test_nothing_blocked_costs_one_command_and_one_invocation(tmp_path, target):
    fleet.set_state(target.root, ama_allowed(target.flavour), target.flavour)
    target.add(AMA[target.flavour])
    result = target.run(extensions_allowlist=["azure_monitor_agent"])
    assert not result.get("failed"), result
    assert result["changed"] is False and result["removed_extensions"] == []
    assert len(target.commands) == 1
    assert target.invocations() == [["config", "list", "--json"]]
    assert target.services() == []


def test_blocked_extension_removed_in_the_apply_command_then_converged(target):
    target.add(AMA[target.flavour])
    target.add(CUSTOM[target.flavour], "2.1.10")
    result = target.run(extensions_allowlist=["azure_monitor_agent"])
    assert not result.get("failed"), result
    publisher, ext_type = CUSTOM[target.flavour]
    assert result["removed_extensions"] == [{"publisher": publisher, "type": ext_type, "version": "2.1.10"}]
    assert len(target.commands) == 2
    assert target.invocations() == [
        ["config", "list", "--json"], ["config", "set", "extensions.allowlist", "%s/%s" % AMA[target.flavour]],
        ["extension", "remove", "--name", "%s.%s" % CUSTOM[target.flavour]], ["config", "list", "--json"]]
    assert target.services() == [["stop", SERVICE[target.flavour]], ["start", SERVICE[target.flavour]]]
    assert fleet.service_status(target.root, SERVICE[target.flavour], target.flavour) == "running"
    assert len(target.installed()) == 1

    again = target.run(extensions_allowlist=["azure_monitor_agent"])
    assert again["changed"] is False and len(target.commands) == 1


def test_only_removals_cost_one_more_command_without_writes(target):
    fleet.set_state(target.root, ama_allowed(target.flavour), target.flavour)
    target.add(CUSTOM[target.flavour])
    result = target.run(extensions_allowlist=["azure_monitor_agent"])
    assert result["changed"] is True and result["changes"] == [] and len(result["removed_extensions"]) == 1, result
    assert len(target.commands) == 2
    assert target.invocations()[1:] == [["extension", "remove", "--name", "%s.%s" % CUSTOM[target.flavour]],
                                        ["config", "list", "--json"]]


def test_check_mode_reports_and_removes_nothing(target):
    target.add(CUSTOM[target.flavour])
    result = target.run(check=True, extensions_blocklist=["custom_script"])
    assert result["changed"] is True and len(result["removed_extensions"]) == 1, result
    assert any("extension" in c and "remove" in c for c in result["commands"])
    assert len(target.commands) == 1 and target.services() == [] and len(target.installed()) == 1


@pytest.mark.parametrize("action, given, removed", [
    ("add", "run_command", ["CustomScript", "RunCommandHandlerLinux"]),
    ("remove", "custom_script", []),
])
def test_list_actions_are_planned_on_top_of_the_current_lists(tmp_path, action, given, removed):
    host = Target(tmp_path / "h", "linux", state={"extensions.blocklist": ["Microsoft.Azure.Extensions/CustomScript"]})
    host.add(CUSTOM["linux"])
    host.add(("Microsoft.CPlat.Core", "RunCommandHandlerLinux"))
    # removing the last blocklist entry leaves no list at all: allowed on purpose here (docs/security.md)
    result = host.run(check=True, extensions_blocklist=[given], list_action=action,
                      allow_empty_allowlist=action == "remove")
    assert sorted(e["type"] for e in result["removed_extensions"]) == removed, result


def test_allow_none_blocks_every_installed_extension(tmp_path):
    host = Target(tmp_path / "h", "linux")
    host.add(AMA["linux"])
    host.add(CUSTOM["linux"])
    result = host.run(extensions_allowlist=["Allow/None"])
    assert not result.get("failed"), result
    assert len(result["removed_extensions"]) == 2 and host.installed() == []


def test_monitor_mode_now_and_after_removes_nothing(tmp_path):
    host = Target(tmp_path / "h", "linux", state={"config.mode": "monitor",
                                                  "extensions.blocklist": ["Microsoft.Azure.Extensions/CustomScript"]})
    host.add(CUSTOM["linux"])
    result = host.run(guestconfiguration_enabled=None, extensions_enabled=True)
    assert result["changed"] is False and result["removed_extensions"] == [], result
    assert any("not published" in n for n in result["notes"])
    assert len(host.commands) == 1


def test_only_the_environments_path_reaches_the_service_commands(tmp_path):
    host = Target(tmp_path / "h", "linux")
    host.add(CUSTOM["linux"])
    environment = [{"PATH": host.bin + os.pathsep + os.environ["PATH"],
                    "http_proxy": "http://user:s3cret-word@proxy:3128", "NOT A NAME": "x"}]
    result = host.run(environment=environment, extensions_blocklist=["custom_script"])
    assert not result.get("failed") and len(result["removed_extensions"]) == 1, result
    assert "export PATH=" in host.commands[1]
    assert not any("s3cret-word" in c or "NOT A NAME" in c for c in host.commands)


def test_the_listing_rides_on_the_read_only_when_asked(tmp_path):
    host = Target(tmp_path / "h", "linux")
    host.run(remove_blocked=False, extensions_blocklist=["custom_script"])
    # (every read checks for the stop marker in the extension folder, docs/security.md; only this lists it)
    assert "for d in" not in host.commands[0] and "X=1" not in host.commands[1]
    host.run(extensions_blocklist=["custom_script"])
    assert "for d in" in host.commands[0]
