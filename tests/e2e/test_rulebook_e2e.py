"""End to end: the real ansible-rulebook (Java 17) runs the collection's enforce rulebook against the fake Azure.

A machine's settings are weakened on its stand-in agent (as root on the server could) and Azure reports the
weakened settings; the arc_drift source sends the event, the rulebook runs arcguard.azcmagent.lockdown on that
host only, the stand-in ends compliant; the test then reports the fixed settings to the fake Azure as the agent
would, and no further drift event follows (one resolved event does). The seconds from weakening to fixed are
printed.

ansible-rulebook comes from the tool environment the suite builds (tests/suites/23-drift.sh,
ARCGUARD_RULEBOOK_BIN). The poll interval is 2 s through the test-only ARCGUARD_DRIFT_TEST_MIN_INTERVAL.
"""

import os
import subprocess
import time

import pytest
import yaml

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _arcmachine as arcmachine
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _parsers as parsers
from tests.lib import fakeazure, fleet
from tests.lib.drift_env import ROOT
from tests.lib import rulebook
from tests.lib.rulebook import INTERVAL, SECRET, SUB, rulebook_bin, wait_for

pytestmark = [pytest.mark.drift, pytest.mark.slow]

AMA = "Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"
MDE = "Microsoft.Azure.AzureDefenderForServers/MDE.Linux"
SCRIPT = "Microsoft.Compute/CustomScriptExtension"
REPORTED = tuple(fakeazure.AGENT_KEYS)   # what Azure reports of the agent's settings


def agent_settings(exe):
    out = subprocess.run([exe, "config", "list", "--json"], capture_output=True, text=True, check=True).stdout
    return parsers.parse_config_list(out)


def as_azure_reports(settings):
    """The stand-in's settings as the agent reports them to Azure (the fake's compact config)."""
    return {prop: settings[prop] for prop in REPORTED if prop in settings}


def test_rulebook_puts_the_lockdown_back(tmp_path):
    bin_dir = rulebook_bin()
    host = tmp_path / "web01"
    exe = fleet.make_host(str(host))
    other = tmp_path / "web02"
    other_exe = fleet.make_host(str(other))
    # both hosts locked down to defender first, as the lockdown playbook left them
    for agent in (exe, other_exe):
        for args in (["extensions.allowlist", AMA + "," + MDE], ["guestconfiguration.enabled", "false"],
                     ["incomingconnections.enabled", "false"]):
            subprocess.run([agent, "config", "set"] + args, check=True, capture_output=True)
    assert arcmachine.differences({"profile": "defender"}, "linux", agent_settings(exe)) == []

    def azure_machine(name, agent):
        return {"name": name, "subscription": SUB, "resource_group": "arc-prod", "os": "linux",
                "status": "Connected", "config": as_azure_reports(agent_settings(agent))}

    (tmp_path / "azure").mkdir()
    state = {"tenant": fakeazure.TENANT, "identities": {"app1": {"secret": SECRET, "subscriptions": [SUB]}},
             "subscriptions": {SUB: {}}, "throttle": {"quota": 1000, "window": 5},
             "machines": [azure_machine("web01", exe), azure_machine("web02", other_exe)]}
    with fakeazure.FakeAzure(state=state, workdir=str(tmp_path / "azure")) as fake:
        inventory = {"all": {"hosts": {
            name: {"ansible_connection": "local", "ansible_python_interpreter": os.path.join(bin_dir, "python"),
                   "lockdown_executable": agent,
                   "arc_resource_id": fakeazure.machine_id(azure_machine(name, agent))}
            for name, agent in (("web01", exe), ("web02", other_exe))}}}
        with rulebook.running(tmp_path, fake, "arcguard.azcmagent.enforce", inventory,
                              rulebook.drift_vars(fake)) as run:
            output, proc = run.output, run.proc
            # the source polls, and a compliant fleet sends nothing
            assert wait_for(lambda: len(fake.graph_requests()) >= 2 or proc.poll() is not None, 90), output()
            assert proc.poll() is None, output()
            assert "PLAY [" not in output()

            # root on web01 weakens the agent; the agent reports it to Azure
            subprocess.run([exe, "config", "set", "extensions.allowlist", ",".join([AMA, MDE, SCRIPT])], check=True,
                           capture_output=True)
            subprocess.run([exe, "config", "set", "guestconfiguration.enabled", "true"], check=True,
                           capture_output=True)
            weakened_at = time.monotonic()
            fake.update_state(lambda d: d["machines"][0].update(config=as_azure_reports(agent_settings(exe))))

            fixed = wait_for(lambda: arcmachine.differences({"profile": "defender"}, "linux",
                                                            agent_settings(exe)) == [], 120, step=0.1)
            fixed_at = time.monotonic()
            assert fixed, output()
            print("\ndrift watch: weakened to fixed in %.1f s (poll interval %d s)"
                  % (fixed_at - weakened_at, INTERVAL))
            # the agent reports its fixed settings; from now on nothing more may happen
            wait_for(lambda: "PLAY RECAP" in output(), 60)
            fake.update_state(lambda d: d["machines"][0].update(config=as_azure_reports(agent_settings(exe))))
            reported_at = len(fake.graph_requests())
            assert wait_for(lambda: len(fake.graph_requests()) >= reported_at + 4, 60), output()
            text = output()
        # exactly one lockdown run, limited to web01; one resolved message; web02 untouched
        assert text.count("PLAY [Lock down the Azure Connected Machine agent]") == 1, text
        assert "web02" not in text.split("PLAY [Lock down")[1].split("PLAY RECAP")[1].split("\n\n")[0], text
        assert "ok: [web01]" in text or "changed: [web01]" in text, text
        assert "web01 matches profile defender again" in text, text
        assert [r["argv"][:2] for r in fleet.read_log(str(other)) if r["argv"][:2] == ["config", "set"]] == \
            [["config", "set"]] * 3    # only the test's own setup
        assert SECRET not in text
        assert "1 event(s)" in text


def test_bad_argument_stops_ansible_rulebook_with_the_message(tmp_path):
    bin_dir = rulebook_bin()
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump({"all": {"hosts": {"web01": {}}}}))
    (tmp_path / "drift.yml").write_text(yaml.safe_dump({"drift_profile": "defender", "drift_interval": 5}))
    env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "build", "collections"),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"))
    env.pop("ARCGUARD_DRIFT_TEST_MIN_INTERVAL", None)
    proc = subprocess.run([os.path.join(bin_dir, "ansible-rulebook"), "-r", "arcguard.azcmagent.enforce",
                           "-i", str(tmp_path / "inventory.yml"), "--vars", str(tmp_path / "drift.yml")],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=180,
                          stdin=subprocess.DEVNULL, check=False)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0, text
    assert "arcguard.azcmagent.arc_drift: interval must be at least 30 seconds, got 5" in text, text


@pytest.mark.parametrize("hostile", ["all", "web*"])
def test_an_event_from_a_machine_named_like_a_pattern_changes_nothing_else(tmp_path, hostile):
    """A machine whose name is a pattern (or all) drifts: the event's limit is its qualified host name, which
    no host of this inventory is, so the lockdown runs nowhere; the fleet's agents see no configuration call.
    Then a host of the inventory that claims that host name with another machine's resource ID: the role's
    guard refuses before any change."""
    bin_dir = rulebook_bin()
    agents = {}
    for name in ("web01", "web02"):
        agents[name] = fleet.make_host(str(tmp_path / name))
        for args in (["extensions.allowlist", AMA + "," + MDE], ["guestconfiguration.enabled", "false"],
                     ["incomingconnections.enabled", "false"]):
            subprocess.run([agents[name], "config", "set"] + args, check=True, capture_output=True)
    good = as_azure_reports(agent_settings(agents["web01"]))
    machines = [{"name": n, "subscription": SUB, "resource_group": "arc-prod", "os": "linux", "status": "Connected",
                 "config": dict(good)} for n in ("web01", "web02")]
    # the hostile machine reports a weakened allowlist: drift under defender
    machines.append({"name": hostile, "subscription": SUB, "resource_group": "arc-rogue", "os": "linux",
                     "status": "Connected", "config": dict(good, **{"extensions.allowlist": [AMA, MDE, SCRIPT]})})
    expected_host = "%s~arc-rogue~%s" % (hostile.replace("*", "_"), SUB)
    (tmp_path / "azure").mkdir()
    state = {"tenant": fakeazure.TENANT, "identities": {"app1": {"secret": SECRET, "subscriptions": [SUB]}},
             "subscriptions": {SUB: {}}, "throttle": {"quota": 1000, "window": 5}, "machines": machines}
    with fakeazure.FakeAzure(state=state, workdir=str(tmp_path / "azure")) as fake:
        hosts = {name: {"ansible_connection": "local", "ansible_python_interpreter": os.path.join(bin_dir, "python"),
                        "lockdown_executable": agents[name], "arc_resource_id": fakeazure.machine_id(machines[i])}
                 for i, name in enumerate(("web01", "web02"))}
        # a host that claims the event's host name but is web02's machine: the guard must refuse
        decoy = dict(hosts["web02"])
        hosts[expected_host] = decoy
        with rulebook.running(tmp_path, fake, "arcguard.azcmagent.enforce", {"all": {"hosts": hosts}},
                              rulebook.drift_vars(fake)) as run:
            output, proc = run.output, run.proc
            assert wait_for(lambda: "PLAY RECAP" in output() or proc.poll() is not None, 120), output()
            wait_for(lambda: len(fake.graph_requests()) >= 4, 30)
            text = output()
    # the lockdown ran, limited to the qualified name (never the pattern), and the guard stopped it before any
    # change (ansible-rulebook logs a failed run's output twice)
    assert "PLAY [Check that the limit is the one machine of the drift event]" in text, text
    assert "Nothing changed: the drift event is about" in text, text
    assert "TASK [arcguard.azcmagent.lockdown : Apply the azcmagent profile]" not in text, text
    assert "[web01]" not in text and "[web02]" not in text, text
    assert "%s : ok=0    changed=0" % expected_host in text, text
    for name in ("web01", "web02"):
        assert [r["argv"][:2] for r in fleet.read_log(str(tmp_path / name)) if r["argv"][:2] == ["config", "set"]] \
            == [["config", "set"]] * 3    # only the test's own setup
    assert SECRET not in text
