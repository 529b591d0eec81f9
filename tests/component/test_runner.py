"""The runner: one remote command per list of steps, the agent's settings read, failures explained.

Driven through an action plugin against stand-in hosts (tests/lib/actions.py), for both shells.
"""

import os
import shutil

import pytest

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _runner as runner_mod
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _scripts as scripts
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._planner import Step
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._runner import AgentError, Runner, read_state
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._secrets import Secret

from tests.lib.actions import Target


@pytest.fixture(params=["linux", "windows"])
def target(request, tmp_path):
    return Target(tmp_path / "host", request.param)


def make_runner(target, **kwargs):
    kwargs.setdefault("executable", target.exe)
    return Runner(target.action("azcmagent_info"), **kwargs)


class Clock:
    """A clock for read_state's waiting that moves only when read_state sleeps."""

    def __init__(self, on_sleep=None):
        self.now = 0.0
        self.sleeps = []
        self.on_sleep = on_sleep

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep:
            self.on_sleep()


def test_the_os_comes_from_the_connections_shell(target):
    runner = make_runner(target)
    assert runner.os == target.flavour
    assert runner.family == ("powershell" if target.flavour == "windows" else "sh")


def test_read_state_costs_one_command_with_its_extras(target):
    target.add(("Microsoft.Azure.Monitor", "AzureMonitorLinuxAgent"))
    runner = make_runner(target)
    state, result = read_state(runner, extras=[scripts.Listing(None if target.flavour == "windows"
                                                               else os.path.join(target.root, "var/lib/waagent"))])
    assert state["config.mode"] == "full" and state["extensions.allowlist"] == []
    assert len(target.commands) == 1 and target.invocations() == [["config", "list", "--json"]]
    assert "Microsoft.Azure.Monitor.AzureMonitorLinuxAgent" in result.step(2).stdout
    assert runner.resolved_executable.endswith("azcmagent" if target.flavour == "linux" else "azcmagent.exe")


@pytest.mark.parametrize("flavour", ["linux", "windows"])
def test_a_missing_agent_is_named_and_waited_for_only_when_asked(tmp_path, flavour):
    target = Target(tmp_path / "host", flavour, installed=False)
    with pytest.raises(AgentError, match="azcmagent was not found") as info:
        read_state(make_runner(target))
    assert "Install the Azure Connected Machine agent" in info.value.msg
    clock = Clock()
    with pytest.raises(AgentError) as info:
        read_state(make_runner(target), wait_timeout=12, sleep=clock.sleep, clock=clock)
    assert info.value.msg.startswith("waited 12 seconds for the agent: azcmagent was not found")
    assert clock.sleeps and all(0.5 <= s <= 5 for s in clock.sleeps)


def test_an_agent_installed_while_waiting_is_read(tmp_path):
    target = Target(tmp_path / "host", "linux", installed=False)

    def install():
        if len(clock.sleeps) == 2:
            os.makedirs(os.path.dirname(target.exe), exist_ok=True)
            shutil.copy(os.path.join(target.root, "bin", "azcmagent"), target.exe)
    clock = Clock(install)
    state, _result = read_state(make_runner(target), wait_timeout=60, sleep=clock.sleep, clock=clock)
    assert state["config.mode"] == "full"
    assert len(clock.sleeps) == 2 and len(target.commands) == 3


def test_not_elevated_is_not_waited_for_and_says_what_to_do(tmp_path, target):
    target.control({"elevated": False})
    clock = Clock()
    with pytest.raises(AgentError) as info:
        read_state(make_runner(target), wait_timeout=60, sleep=clock.sleep, clock=clock)
    assert "administrative privileges required (AZCM0018)" in info.value.msg and "become: true" in info.value.msg
    assert info.value.details["rc"] == 18 and clock.sleeps == []


def test_a_hung_agent_is_stopped_by_the_timeout(tmp_path):
    target = Target(tmp_path / "host", "linux", control={"faults": {"hang_seconds": 30}})
    with pytest.raises(AgentError) as info:
        read_state(make_runner(target, timeout=1))
    assert "did not finish within 1 seconds and was stopped (timeout option)" in info.value.msg


def test_a_failed_step_is_explained_with_the_agents_message(target):
    target.control({"faults": {"fail_set": {"property": "guestconfiguration.enabled", "rc": 69}}})
    runner = make_runner(target)
    step = Step("guestconfiguration.enabled", True, False, False)
    out = runner.run([step])
    error = runner.step_error(out, out.step(1), step, "Nothing else ran.")
    assert "failed with exit code 69 (error updating the local configuration)" in error.msg
    assert "failed to set guestconfiguration.enabled (injected fault)" in error.msg
    assert error.msg.endswith(". Nothing else ran.") and error.details["rc"] == 69
    assert "guestconfiguration.enabled" in error.details["cmd"] and "false" in error.details["cmd"]


def test_secrets_travel_on_stdin_are_collected_and_never_shown(target):
    runner = make_runner(target)
    url = "http://svc:Pw-on-stdin@proxy.example.com:3128"
    step = Step("proxy.url", "", url, url)
    out = runner.run([step])
    assert out.step(1).rc == 0, out.stdout + out.stderr
    assert target.state()["proxy.url"] == url
    assert "Pw-on-stdin" not in target.scripts()[0] and b"Pw-on-stdin" in target.stdin[0]
    assert url in runner.secrets
    assert "Pw-on-stdin" not in runner.describe(step) and "http://********@proxy.example.com:3128" in runner.describe(step)


def test_powershell_long_values_travel_on_stdin(tmp_path):
    target = Target(tmp_path / "host", "windows")
    names = ["Publisher%02d.Example/Type%02d" % (i, i) for i in range(4)]
    out = make_runner(target).run([Step("extensions.blocklist", [], names, names)])
    assert out.step(1).rc == 0
    assert ",".join(names) not in target.scripts()[0] and ",".join(names).encode() in target.stdin[0]
    assert target.state()["extensions.blocklist"] == names


def test_powershell_plans_too_long_for_one_command_run_as_several_numbered_as_one(tmp_path):
    target = Target(tmp_path / "host", "windows")
    runner = make_runner(target)
    out = runner.run([["version"]] * 60)
    assert len(target.commands) > 1 and all(len(c) <= runner_mod.POWERSHELL_COMMAND_LIMIT for c in target.commands)
    assert [s.number for s in out.steps] == list(range(1, 61)) and all(s.rc == 0 for s in out.steps)
    assert out.commands == len(target.commands)


def test_powershell_never_splits_while_a_service_is_stopped(tmp_path):
    target = Target(tmp_path / "host", "windows")
    removes = [scripts.WhileStopped(["extension", "remove", "--name", "Publisher.Type%03d" % i]) for i in range(80)]
    steps = [scripts.Service("stop", "ExtensionService")] + removes + [scripts.Service("start", "ExtensionService")]
    with pytest.raises(AgentError, match="would be .* characters long, over the 8000"):
        make_runner(target).run(steps)
    assert target.commands == []


def test_describe_shows_the_command_as_the_target_runs_it(target):
    runner = make_runner(target, executable="/opt/x y/azcmagent" if target.flavour == "linux" else "C:\\A B\\a.exe")
    described = runner.describe(Step("extensions.allowlist", [], ["a/b"], ["a/b", "c/d"]))
    if target.flavour == "linux":
        assert described == "'/opt/x y/azcmagent' config set extensions.allowlist a/b,c/d"
    else:
        assert described == "& 'C:\\A B\\a.exe' 'config' 'set' 'extensions.allowlist' 'a/b,c/d'"
    assert runner.describe(["config", "set", "proxy.url", Secret("http://u:p@h:1", "http://********@h:1")]).endswith(
        "'http://********@h:1'")
