"""azcmagent_config's action plugin against stand-in hosts, for both shells (tests/lib/actions.py)."""

import json

import pytest
import yaml

from tests.lib.actions import Target

AMA = {"linux": "Microsoft.Azure.Monitor/AzureMonitorLinuxAgent",
       "windows": "Microsoft.Azure.Monitor/AzureMonitorWindowsAgent"}


@pytest.fixture(params=["linux", "windows"])
def target(request, tmp_path):
    return Target(tmp_path / "host", request.param)


def host(tmp_path, flavour="linux", **kwargs):
    return Target(tmp_path / "host", flavour, **kwargs)


@pytest.mark.parametrize("flavour", ["linux", "windows"])
def test_converged_host_costs_one_command(tmp_path, flavour):
    target = host(tmp_path, flavour, state={"extensions.allowlist": [AMA[flavour]]})
    result = target.run(extensions_allowlist=["azure_monitor_agent"])
    assert not result.get("failed"), result
    assert result["changed"] is False
    assert len(target.commands) == 1 and target.invocations() == [["config", "list", "--json"]]
    assert result["os"] == target.flavour


def test_drift_costs_two_commands_and_reads_back(target):
    result = target.run(extensions_allowlist=["azure_monitor_agent"], guestconfiguration_enabled=False)
    assert result["changed"] is True, result
    assert len(target.commands) == 2
    assert [c["property"] for c in result["changes"]] == ["guestconfiguration.enabled", "extensions.allowlist"]
    assert result["config"]["guestconfiguration.enabled"] is False
    assert target.state()["guestconfiguration.enabled"] is False
    assert "diff" not in result
    assert len(result["commands"]) == 2 and "guestconfiguration.enabled" in result["commands"][0]


def test_check_mode_plans_without_writing_and_shows_the_projection(target):
    result = target.run(check=True, diff=True, guestconfiguration_enabled=False, extensions_blocklist=["custom_script"])
    assert result["changed"] is True, result
    assert len(target.commands) == 1 and target.state() == {}
    assert "guestconfiguration.enabled" in result["commands"][0]
    assert result["diff"]["before"]["guestconfiguration.enabled"] is True
    assert result["diff"]["after"]["guestconfiguration.enabled"] is False
    assert result["diff"]["after"]["extensions.blocklist"] != []


def test_check_mode_reports_what_the_real_run_does(target):
    planned = target.run(check=True, diff=True, guestconfiguration_enabled=False, incomingconnections_ports=[22])
    done = target.run(diff=True, guestconfiguration_enabled=False, incomingconnections_ports=[22])
    assert planned["changes"] == done["changes"] and planned["commands"] == done["commands"]
    assert planned["diff"] == done["diff"]


def test_failure_in_the_middle_says_what_was_applied(tmp_path):
    target = host(tmp_path, control={"faults": {"fail_set": {"property": "extensions.allowlist", "rc": 69}}})
    result = target.run(guestconfiguration_enabled=False, extensions_allowlist=["azure_monitor_agent"],
                        extensions_enabled=False)
    assert result["failed"] is True
    assert result["changed"] is True
    assert [c["property"] for c in result["changes"]] == ["guestconfiguration.enabled", "extensions.enabled"]
    assert result["not_applied"] == ["extensions.allowlist"]
    assert "Applied before it: guestconfiguration.enabled, extensions.enabled" in result["msg"]
    assert result["rc"] == 69 and "AZCM0069" in result["stderr"]
    assert result["config"]["guestconfiguration.enabled"] is False  # read again after the failure


def test_not_elevated_says_what_to_do(tmp_path):
    target = host(tmp_path, control={"faults": {"fail_set": {"property": "guestconfiguration.enabled", "rc": 18}}})
    result = target.run(guestconfiguration_enabled=False)
    assert result["failed"] and "become: true" in result["msg"]


@pytest.mark.parametrize("flavour", ["linux", "windows"])
def test_missing_agent(tmp_path, flavour):
    result = host(tmp_path, flavour, installed=False).run(mode="full")
    assert result["failed"] and "azcmagent was not found" in result["msg"]


def test_garbage_output_fails_with_the_output(tmp_path):
    result = host(tmp_path, control={"faults": {"garbage_output": True}}).run(mode="full")
    assert result["failed"] and "could not understand" in result["msg"]
    assert "goroutine" in result["stdout"]


def test_bad_input_runs_nothing(target):
    result = target.run(extensions_allowlist=["Allow/None", "azure_monitor_agent"])
    assert result["failed"] and not target.commands


def test_proxy_password_never_in_the_result(target):
    result = target.run(diff=True, proxy_url="http://svc:S3cr3tPw@proxy.example.com:3128")
    assert result["changed"], result
    assert "S3cr3tPw" not in json.dumps(result)
    assert all("S3cr3tPw" not in s for s in target.scripts())
    assert b"S3cr3tPw" in target.stdin[1]
    assert target.state()["proxy.url"] == "http://svc:S3cr3tPw@proxy.example.com:3128"
    # the stored password is not shown either when the next run reads it
    again = target.run(diff=True, proxy_url="http://svc:S3cr3tPw@proxy.example.com:3128")
    assert again["changed"] is False and "S3cr3tPw" not in json.dumps(again)


def test_strict_turns_warnings_into_failures_before_anything_runs(target):
    result = target.run(extensions_allowlist=["custom_script"], strict=True)
    assert result["failed"] and "runs arbitrary scripts" in result["msg"]
    assert not target.commands


def test_return_documents_what_success_returns(tmp_path):
    from ansible_collections.arcguard.azcmagent.plugins.modules import azcmagent_config
    ret = yaml.safe_load(azcmagent_config.RETURN)
    result = host(tmp_path).run(guestconfiguration_enabled=False, remove_blocked=True)
    for key in result:
        if key in ("failed", "warnings", "invocation", "_ansible_verbose_always", "diff"):
            continue
        assert key in ret, key


def test_builtin_profile_resolves_per_os(target):
    result = target.run(profile="defender")
    assert result["changed"], result
    suffix = "Windows" if target.flavour == "windows" else "Linux"
    assert sorted(result["config"]["extensions.allowlist"]) == sorted([
        "Microsoft.Azure.Monitor/AzureMonitor%sAgent" % suffix,
        "Microsoft.Azure.AzureDefenderForServers/MDE.%s" % suffix])
    assert result["config"]["incomingconnections.enabled"] is False


def test_user_profile_overrides_and_explicit_options_win(tmp_path):
    result = host(tmp_path).run(profile="mine", profiles={"mine": {"options": {
        "extensions_allowlist": ["qualys"], "guestconfiguration_enabled": False}}},
        overrides={"guestconfiguration_enabled": True}, extensions_enabled=False)
    assert result["config"]["extensions.allowlist"] == ["Qualys/LinuxAgent.AzureSecurityCenter"]
    assert result["config"]["guestconfiguration.enabled"] is True
    assert result["config"]["extensions.enabled"] is False


@pytest.mark.parametrize("args, message", [
    ({"profile": "nope"}, "nope is not a profile"),
    ({"profile": "mine", "profiles": {"mine": {"options": {"executable": "/bin/sh"}}}}, "cannot be set by a profile"),
    ({"profile": "mine", "profiles": {"mine": {"options": {"guestconfiguration_enabled": "maybe"}}}}, "profile mine"),
    ({"overrides": {"mode": "full"}}, "overrides needs profile"),
])
def test_bad_profiles_fail_before_anything_runs(tmp_path, args, message):
    target = host(tmp_path)
    result = target.run(**args)
    assert result["failed"] and message in result["msg"], result
    assert not target.commands


def test_leaving_monitor_mode_with_lists_plans_them_again_in_a_second_pass(tmp_path):
    target = host(tmp_path, state={"config.mode": "monitor"})
    planned = target.run(check=True, diff=True, mode="full", extensions_allowlist=["azure_monitor_agent"])
    assert any("once it has left monitor mode" in n for n in planned["notes"]), planned
    assert planned["diff"]["after"] == {"config.mode": "full", "extensions.allowlist": [AMA["linux"]]}
    result = target.run(diff=True, mode="full", extensions_allowlist=["azure_monitor_agent"])
    assert result["diff"]["after"] == planned["diff"]["after"]
    assert not result.get("failed"), result
    assert [c["property"] for c in result["changes"]] == ["config.mode", "extensions.allowlist"]
    assert len(target.commands) == 3
    assert target.state()["extensions.allowlist"] == [AMA["linux"]]


def test_unknown_property_of_a_newer_agent_is_checked_against_its_listing(tmp_path):
    result = host(tmp_path).run(settings={"no.such.property": "1"})
    assert result["failed"] and "unknown property no.such.property" in result["msg"], result


def test_vvv_shows_each_step_and_its_rc_never_the_password(target, capsys, monkeypatch):
    from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _runner
    monkeypatch.setattr(_runner.display, "verbosity", 3)
    result = target.run(proxy_url="http://svc:S3cr3tPw@proxy.example.com:3128")
    assert result["changed"], result
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "S3cr3tPw" not in text
    lines = [line for line in text.splitlines() if "azcmagent: step " in line]
    words = [line.replace("'", "").split() for line in lines]
    assert ["config", "set", "proxy.url", "http://********@proxy.example.com:3128:", "rc=0"] in [w[-5:] for w in words]
    assert sum(1 for w in words if w[-4:] == ["config", "list", "--json:", "rc=0"]) == 2, lines
    assert "host>" in text  # shown for the host, as ansible-core's actions do


def test_nothing_is_shown_below_vvv(target, capsys):
    target.run(guestconfiguration_enabled=False)
    assert "azcmagent: step" not in capsys.readouterr().out
