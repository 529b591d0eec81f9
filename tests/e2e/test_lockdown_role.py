"""The lockdown role with every built-in profile on Linux stand-ins (one per host), from the built collection."""

import json
import os
import subprocess
import sys

import pytest

from tests.lib.playbook import VENV_BIN, env, run
from tests.lib.profiles_expected import AZURE_OWNED, PROFILES, expected, matches
from tests.lib import fleet


def agent_listing(exe):
    out = subprocess.run([exe, "config", "list", "--json"], capture_output=True, text=True, check=True).stdout
    return {e["Key"]: e["Value"] for e in json.loads(out)["LocalSettings"]}


def role_task():
    return {"ansible.builtin.include_role": {"name": "arcguard.azcmagent.lockdown"}}


@pytest.mark.parametrize("start", ["fresh", "monitor", "drifted"])
def test_every_profile_on_a_fleet_converges_and_is_idempotent(tmp_path, start):
    initial = {"fresh": None, "monitor": {"config.mode": "monitor"},
               "drifted": {"extensions.allowlist": ["Microsoft.Azure.Extensions/CustomScript"],
                           "extensions.blocklist": ["Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"],
                           "guestconfiguration.enabled": False, "extensions.enabled": False,
                           # decided in Azure: no profile may touch them
                           "connection.type": "direct", "proxy.bypass": ["Arc"],
                           "incomingconnections.ports": [22, 6516]}}[start]
    hosts, roots = {}, {}
    for profile in PROFILES:
        root = str(tmp_path / profile)
        roots[profile] = root
        exe = fleet.make_host(root, state=initial)
        hosts[profile] = {"lockdown_profile": profile, "lockdown_executable": exe}

    check = run(tmp_path, [role_task()], hosts=hosts, check=True)
    assert check.rc == 0, check.stdout[-3000:]
    for profile in PROFILES:
        assert fleet.read_state(roots[profile]) == (initial or {}), profile
    first = run(tmp_path, [role_task()], hosts=hosts)
    assert first.rc == 0 and "failed=0" in first.stdout, first.stdout[-4000:]
    for profile in PROFILES:
        seen = agent_listing(hosts[profile]["lockdown_executable"])
        for prop, want in expected(profile, "linux").items():
            assert matches(prop, seen[prop], want), (profile, prop, seen[prop], want)
        for prop in AZURE_OWNED if start == "drifted" else ():
            assert matches(prop, seen[prop], initial[prop]), (profile, prop, seen[prop])
        fleet.clear_log(roots[profile])
    second = run(tmp_path, [role_task()], hosts=hosts)
    assert second.rc == 0 and "changed=1" not in second.stdout, second.stdout[-3000:]
    for profile in PROFILES:
        assert [e["argv"] for e in fleet.read_log(roots[profile])] == [["config", "list", "--json"]], profile


def test_check_mode_reports_changes_without_making_them(tmp_path):
    root = str(tmp_path / "h")
    exe = fleet.make_host(root)
    out = run(tmp_path, [role_task()], hosts={"h": {"lockdown_profile": "defender", "lockdown_executable": exe}},
              check=True)
    assert "changed=1" in out.stdout
    assert fleet.read_state(root) == {}


def test_overrides_and_user_profiles(tmp_path):
    root = str(tmp_path / "h")
    exe = fleet.make_host(root)
    hosts = {"h": {"lockdown_profile": "payments", "lockdown_executable": exe,
                   "lockdown_profiles": {"payments": {"description": "card data servers", "options": {
                       "mode": "full", "extensions_allowlist": ["azure_monitor_agent"],
                       "extensions_blocklist": ["run_command", "custom_script"]}}},
                   "lockdown_overrides": {"guestconfiguration_enabled": False}}}
    out = run(tmp_path, [role_task()], hosts=hosts)
    assert out.rc == 0 and "failed=0" in out.stdout, out.stdout[-3000:]
    state = fleet.read_state(root)
    assert state["extensions.allowlist"] == ["Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"]
    assert sorted(state["extensions.blocklist"]) == [
        "Microsoft.Azure.Extensions/CustomScript", "Microsoft.CPlat.Core/RunCommandHandlerLinux"]
    assert state["guestconfiguration.enabled"] is False


def test_unknown_profile_fails_with_the_list_of_profiles(tmp_path):
    root = str(tmp_path / "h")
    exe = fleet.make_host(root)
    out = run(tmp_path, [dict(role_task(), ignore_errors=False)],
              hosts={"h": {"lockdown_profile": "nope", "lockdown_executable": exe}})
    assert out.rc != 0
    assert "profile nope is not a profile" in out.stdout and "ama_only" in out.stdout
    assert fleet.read_log(root) == []


def test_bad_role_variables_fail_validation(tmp_path):
    root = str(tmp_path / "h")
    exe = fleet.make_host(root)
    out = run(tmp_path, [dict(role_task(), ignore_errors=False)],
              hosts={"h": {"lockdown_profile": "defender", "lockdown_executable": exe,
                           "lockdown_wait_timeout": "soon"}})
    assert out.rc != 0 and "lockdown_wait_timeout" in out.stdout
    assert fleet.read_log(root) == []


def test_reset_and_lockdown_playbooks_from_the_collection(tmp_path):
    import os
    from tests.lib.playbook import VENV_BIN, env
    root = str(tmp_path / "h")
    exe = fleet.make_host(root)
    inv = tmp_path / "inv.json"
    host_vars = {"ansible_connection": "local", "lockdown_executable": exe, "ansible_python_interpreter": "/usr/bin/python3"}
    inv.write_text(json.dumps({"all": {"hosts": {"h": host_vars}}}))
    ansible_playbook = os.path.join(VENV_BIN, "ansible-playbook")
    subprocess.run([ansible_playbook, "-i", str(inv), "arcguard.azcmagent.lockdown", "-e", "lockdown_profile=esu"],
                   check=True, env=env(), capture_output=True)
    assert fleet.read_state(root)["extensions.allowlist"] == ["Allow/None"]
    subprocess.run([ansible_playbook, "-i", str(inv), "arcguard.azcmagent.reset"], check=True, env=env(),
                   capture_output=True)
    assert "extensions.allowlist" not in fleet.read_state(root)


def playbook(tmp_path, hosts, *extra):
    inv = tmp_path / "inventory.json"
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inv.write_text(json.dumps({"all": {"hosts": {name: dict(local, **v) for name, v in hosts.items()}}}))
    return subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", str(inv),
                           "arcguard.azcmagent.lockdown"] + list(extra),
                          capture_output=True, text=True, env=env(), check=False)


@pytest.mark.parametrize("bad, says", [
    ({"lockdown_strict": "maybe"}, "lockdown_strict"),
    ({"lockdown_wait_timeout": "soon"}, "lockdown_wait_timeout"),
    ({"lockdown_overrides": ["guestconfiguration_enabled"]}, "lockdown_overrides"),
    ({}, "lockdown_profile"),
])
def test_the_role_validates_its_variables_before_anything_runs(tmp_path, bad, says):
    root = str(tmp_path / "h")
    exe = fleet.make_host(root)
    host = dict({"lockdown_profile": "defender", "lockdown_executable": exe}, **bad)
    if not bad:
        del host["lockdown_profile"]
    out = run(tmp_path, [role_task()], hosts={"h": host})
    assert out.rc != 0 and "failed=1" in out.stdout
    assert "Validating arguments against arg spec" in out.stdout and says in out.stdout, out.stdout[-2000:]
    assert fleet.read_log(root) == [] and fleet.read_state(root) == {}


@pytest.mark.parametrize("bad, says", [
    ({"lockdown_strict": "maybe"}, "strict"),
    ({"lockdown_wait_timeout": "soon"}, "wait_timeout"),
    ({"lockdown_overrides": ["guestconfiguration_enabled"]}, "overrides"),
    ({"lockdown_profile": "defendr"}, "known profiles"),
    ({"lockdown_profile": None}, "lockdown_profile"),
])
def test_the_fleet_playbook_checks_the_same_values_per_host_before_anything_runs(tmp_path, bad, says):
    good, bad_root = str(tmp_path / "good"), str(tmp_path / "bad")
    hosts = {"good": {"lockdown_profile": "defender", "lockdown_executable": fleet.make_host(good)},
             "bad": dict({"lockdown_profile": "defender", "lockdown_executable": fleet.make_host(bad_root)}, **bad)}
    if bad.get("lockdown_profile", "") is None:
        del hosts["bad"]["lockdown_profile"]
    out = playbook(tmp_path, hosts)
    assert out.returncode != 0
    recap = {line.split()[0]: line for line in out.stdout.splitlines() if " : ok=" in line}
    assert "failed=1" in recap["bad"] and "failed=0" in recap["good"], out.stdout[-2000:]
    assert says in out.stdout, out.stdout[-2000:]
    assert fleet.read_log(bad_root) == [] and fleet.read_state(bad_root) == {}
    assert fleet.read_state(good)["guestconfiguration.enabled"] is False


def test_the_fleet_playbook_runs_one_task_per_host(tmp_path):
    root = str(tmp_path / "h")
    out = playbook(tmp_path, {"h": {"lockdown_profile": "ama_only", "lockdown_executable": fleet.make_host(root)}})
    assert out.returncode == 0, out.stdout[-2000:]
    assert "TASK [" in out.stdout and out.stdout.count("TASK [") == 1, out.stdout
    assert "ok=1" in out.stdout and "changed=1" in out.stdout


RID = "/subscriptions/5f0c0c2e-1111-2222-3333-444444444444/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/%s"


@pytest.mark.parametrize("case", ["two_hosts", "other_machine", "no_resource_id", "the_machine"])
def test_the_drift_guard_changes_nothing_unless_the_limit_is_the_events_one_machine(tmp_path, case):
    """lockdown_expected_resource_id (what the drift rulebooks pass): exactly one host, whose arc_resource_id is
    the event's (case-insensitively), or no agent is touched at all."""
    hosts, roots = {}, {}
    names = ["a", "b"] if case == "two_hosts" else ["a"]
    for name in names:
        roots[name] = str(tmp_path / name)
        hosts[name] = {"lockdown_profile": "defender", "lockdown_executable": fleet.make_host(roots[name])}
        if case != "no_resource_id":
            hosts[name]["arc_resource_id"] = RID % (name if case != "other_machine" else "somewhere-else")
    out = playbook(tmp_path, hosts, "-e", "lockdown_expected_resource_id=" + (RID % "a").upper())
    if case == "the_machine":
        assert out.returncode == 0, out.stdout[-3000:]
        assert "Apply the azcmagent profile" in out.stdout, out.stdout[-3000:]
        assert fleet.read_state(roots["a"]).get("extensions.allowlist"), out.stdout[-3000:]
        return
    assert out.returncode != 0, out.stdout[-3000:]
    assert "Nothing changed: the drift event is about" in out.stdout, out.stdout[-3000:]
    assert "Apply the azcmagent profile" not in out.stdout, out.stdout[-3000:]
    for name in names:
        assert fleet.read_log(roots[name]) == [], name
