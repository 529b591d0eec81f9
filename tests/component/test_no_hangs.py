"""Promise: no hangs. Standard input that cannot arrive fails at once (controller and target side); POSIX targets
get the same command-length discipline as Windows: long values travel on standard input, long plans run as
several commands within the target's argument limit, and a plan that cannot be cut fails before anything runs.
"""

import os
import pty
import subprocess
import time
from unittest import mock

import pytest

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _runner as runner_mod
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _scripts as scripts
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._planner import Step
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._runner import AgentError, Runner
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._secrets import Secret

from tests.lib.actions import Target

pytestmark = pytest.mark.hostile


def fast_agent(directory):
    """An agent that answers at once (for plans of thousands of steps)."""
    path = os.path.join(str(directory), "azcmagent")
    with open(path, "w") as handle:
        handle.write("#!/bin/sh\necho \"ok $#\"\n")
    os.chmod(path, 0o755)
    return path


def test_a_terminal_instead_of_standard_input_fails_at_once_on_the_target(tmp_path):
    steps = [["config", "set", "proxy.url", Secret("http://u:p@h:1")]]
    script = scripts.posix_script(steps, executable=fast_agent(tmp_path))
    primary, secondary = pty.openpty()
    try:
        start = time.monotonic()
        proc = subprocess.run(["/bin/sh", "-c", script], stdin=secondary, capture_output=True, timeout=20, check=False)
    finally:
        os.close(primary)
        os.close(secondary)
    assert time.monotonic() - start < 15
    assert proc.returncode == scripts.NOSTDIN_RC
    result = scripts.ScriptResult(proc.returncode, proc.stdout.decode(), proc.stderr.decode())
    assert result.no_stdin and not result.steps


@pytest.mark.parametrize("stdin", [b"", b"\n\n\n"], ids=["closed", "empty lines"])
def test_standard_input_dropped_by_the_connection_stops_before_anything_runs(tmp_path, stdin):
    """A connection that runs the command without our data (containers.podman does) must never set an empty proxy."""
    agent = fast_agent(tmp_path)
    log = tmp_path / "ran"
    with open(agent, "w") as handle:
        handle.write("#!/bin/sh\necho \"$@\" >> %s\necho ok\n" % log)
    steps = [["config", "set", "proxy.url", Secret("http://u:p@h:1")]]
    mask = scripts.Mask("u:p")
    script = scripts.posix_script(steps, executable=agent, mask=mask)
    proc = subprocess.run(["/bin/sh", "-c", script], input=stdin, capture_output=True, timeout=20, check=False)
    assert proc.returncode == scripts.NOSTDIN_RC
    result = scripts.ScriptResult(proc.returncode, proc.stdout.decode(), proc.stderr.decode())
    assert result.no_stdin and not result.steps
    assert not log.exists(), "the agent ran without the value that should have come on standard input"


def _local_become_with_password(target, pipelining):
    action = target.action("azcmagent_config")
    connection = action._connection
    connection.transport = "local"
    connection.become = mock.MagicMock()
    connection.become.expect_prompt.return_value = True
    connection.get_option.side_effect = lambda name: pipelining if name == "pipelining" else None
    return action


def test_local_become_with_a_password_fails_before_running_when_stdin_is_needed(tmp_path):
    target = Target(tmp_path / "host")
    runner = Runner(_local_become_with_password(target, pipelining=False), executable=target.exe)
    with pytest.raises(AgentError, match="terminal.*pipelining"):
        runner.run([["config", "set", "proxy.url", Secret("http://u:p@h:1")]])
    runner.expect_proxy("http://u:p@h:1")
    with pytest.raises(AgentError, match="pipelining"):
        runner.run([["config", "list", "--json"]])
    assert target.commands == []
    # nothing on standard input: runs as usual; with pipelining Ansible delivers standard input
    assert Runner(_local_become_with_password(target, pipelining=False), executable=target.exe).run(
        [["config", "list", "--json"]]).step(1).rc == 0
    runner = Runner(_local_become_with_password(target, pipelining=True), executable=target.exe)
    runner.expect_proxy("http://u:p@h:1")
    assert runner.run([["config", "list", "--json"]]).step(1).rc == 0


def test_the_task_says_why_under_local_become_with_a_password(tmp_path):
    target = Target(tmp_path / "host")
    action = _local_become_with_password(target, pipelining=False)
    action._task.args = {"executable": target.exe, "proxy_url": "http://arc:Pw-1234567@proxy:3128"}
    target.commands = []
    result = action.run(task_vars={})
    assert result["failed"] and "pipelining" in result["msg"] and "Pw-1234567" not in str(result)
    assert target.commands == []


def test_posix_long_values_travel_on_stdin(tmp_path):
    target = Target(tmp_path / "host")
    names = ["Publisher%04d.Example/Type%04d" % (i, i) for i in range(300)]
    out = Runner(target.action("azcmagent_info"), executable=target.exe).run(
        [Step("extensions.blocklist", [], names, names)])
    assert out.step(1).rc == 0, out.stderr
    joined = ",".join(names)
    assert len(joined) > runner_mod.POSIX_STDIN_ARG_LENGTH
    assert joined not in target.commands[0] and joined.encode() in target.stdin[0]
    assert target.state()["extensions.blocklist"] == names


def test_posix_plans_too_long_for_one_command_run_as_several_numbered_as_one(tmp_path):
    target = Target(tmp_path / "host")
    runner = Runner(target.action("azcmagent_info"), executable=fast_agent(tmp_path))
    count = 1500
    out = runner.run([["version", "x" * 40]] * count)
    assert len(target.commands) > 1
    assert all(runner._size([], False) < len(c) and len(c.encode()) < runner_mod.POSIX_COMMAND_LIMIT
               for c in target.commands)
    assert [s.number for s in out.steps] == list(range(1, count + 1)) and all(s.rc == 0 for s in out.steps)
    assert all(s.stdout.strip() == "ok 2" for s in out.steps)


def test_posix_never_splits_while_a_service_is_stopped_and_says_so_before_running(tmp_path):
    target = Target(tmp_path / "host")
    removes = [scripts.WhileStopped(["extension", "remove", "--name", "Publisher.Type%04d" % i]) for i in range(1200)]
    steps = [scripts.Service("stop", "extd")] + removes + [scripts.Service("start", "extd")]
    with pytest.raises(AgentError, match="bytes long, over the 120000"):
        Runner(target.action("azcmagent_info"), executable=target.exe).run(steps)
    assert target.commands == []
