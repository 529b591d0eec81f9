"""Faults injected into the stand-in: failures mid-plan, hangs, JSON error bodies, concurrent runs."""

import itertools
import json
import threading

import pytest

from tests.lib.playbook import run
from tests.lib import fleet

PLAN = {"mode": "full", "extensions_allowlist": ["azure_monitor_agent"], "extensions_blocklist": ["custom_script"],
        "guestconfiguration_enabled": False, "extensions_enabled": True, "incomingconnections_enabled": False,
        "proxy_bypass": ["ARM"]}
WRITES = ["guestconfiguration.enabled", "incomingconnections.enabled", "proxy.bypass",
          "extensions.allowlist", "extensions.blocklist"]


@pytest.mark.parametrize("failing", WRITES)
def test_a_write_failing_mid_plan_is_reported_exactly_and_a_rerun_converges(tmp_path, failing):
    root = str(tmp_path / "host")
    exe = fleet.make_host(root, control={"faults": {"fail_set": {"property": failing, "rc": 69, "times": 1}}})
    task = {"arcguard.azcmagent.azcmagent_config": dict(PLAN, executable=exe)}
    first = run(tmp_path, [task]).result()
    assert first["failed"] and first["rc"] == 69, first
    applied = [c["property"] for c in first["changes"]]
    assert failing not in applied
    assert first["not_applied"][0] == failing
    assert set(applied) | set(first["not_applied"]) == set(WRITES)
    # what the result says was applied is what the agent has
    state = fleet.read_state(root)
    for prop in WRITES:
        assert (prop in state) == (prop in applied), (prop, state)
    assert first["config"]["guestconfiguration.enabled"] is ("guestconfiguration.enabled" not in applied)

    second = run(tmp_path, [task]).result()
    assert not second.get("failed") and second["changed"], second
    assert sorted(c["property"] for c in second["changes"]) == sorted(first["not_applied"])
    third = run(tmp_path, [task]).result()
    assert third["changed"] is False


@pytest.mark.parametrize("order", list(itertools.permutations(["extensions.allowlist", "config.mode"]))[:1])
def test_a_failure_while_leaving_monitor_mode_can_always_be_retried(tmp_path, order):
    root = str(tmp_path / "host")
    exe = fleet.make_host(root, state={"config.mode": "monitor"},
                          control={"faults": {"fail_set": {"property": "config.mode", "rc": 69, "times": 1}}})
    task = {"arcguard.azcmagent.azcmagent_config": dict(PLAN, executable=exe)}
    first = run(tmp_path, [task]).result()
    assert first["failed"] and first["changes"] == []
    assert fleet.read_state(root) == {"config.mode": "monitor"}
    second = run(tmp_path, [task]).result()
    assert not second.get("failed") and second["config"]["config.mode"] == "full", second


def test_a_hanging_agent_is_stopped_by_timeout(tmp_path):
    root = str(tmp_path / "host")
    exe = fleet.make_host(root, control={"faults": {"hang_seconds": 60}})
    result = run(tmp_path, [{"arcguard.azcmagent.azcmagent_config": {"executable": exe, "mode": "full", "timeout": 2}}]).result()
    assert result["failed"] and "did not finish within 2 seconds" in result["msg"]


def test_non_zero_exit_with_a_json_error_body(tmp_path):
    root = str(tmp_path / "host")
    exe = fleet.make_host(root, control={"faults": {"error_json": True,
                                                    "fail_set": {"property": "*", "rc": 69}}})
    result = run(tmp_path, [{"arcguard.azcmagent.azcmagent_config": {"executable": exe, "guestconfiguration_enabled": False}}]).result()
    assert result["failed"] and "failed to set guestconfiguration.enabled" in result["msg"]
    assert json.loads(result["stdout"].strip())["status"] == "failed"


def test_two_runs_at_the_same_time_end_consistent_and_truthful(tmp_path):
    root = str(tmp_path / "host")
    exe = fleet.make_host(root)
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    tasks = {
        a: {"extensions_allowlist": ["azure_monitor_agent"], "list_action": "add", "guestconfiguration_enabled": False},
        b: {"extensions_allowlist": ["defender_endpoint"], "list_action": "add", "incomingconnections_enabled": False},
    }
    results = {}

    def go(path):
        results[path] = run(path, [{"arcguard.azcmagent.azcmagent_config": dict(tasks[path], executable=exe)}]).result()

    threads = [threading.Thread(target=go, args=(p,)) for p in tasks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for path in tasks:
        assert not results[path].get("failed"), results[path]
        assert results[path]["changed"] is True
    state = fleet.read_state(root)
    assert sorted(state["extensions.allowlist"]) == sorted(["Microsoft.Azure.Monitor/AzureMonitorLinuxAgent",
                                                            "Microsoft.Azure.AzureDefenderForServers/MDE.Linux"])
    assert state["guestconfiguration.enabled"] is False and state["incomingconnections.enabled"] is False
    # and a later run of either changes nothing
    for path in tasks:
        again = run(path, [{"arcguard.azcmagent.azcmagent_config": dict(tasks[path], executable=exe)}]).result()
        assert again["changed"] is False
