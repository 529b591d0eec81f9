"""The remote scripts that remove blocked extensions: stop the extension service, remove, always start it again."""

import json
import os
import subprocess

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _scripts as scripts

from tests.lib.powershell_ast import ARG, PS, _text, _walk, ps_commands

pytestmark = pytest.mark.slow

# Extension folder names as they reach the script: Publisher.Type (any text the planner lets through).
NAME = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,30}\.[A-Za-z0-9][A-Za-z0-9_-]{0,20}\Z")


WRITES = (("config", "set", "guestconfiguration.enabled", "false"),)


def removal_steps(names, service="extd", environment=None, writes=WRITES):
    steps = [list(w) for w in writes]
    steps.append(scripts.Service("stop", service, environment))
    steps += [scripts.WhileStopped(["extension", "remove", "--name", n]) for n in names]
    steps.append(scripts.Service("start", service, environment))
    steps += [["config", "list", "--json"], scripts.Listing("/nonexistent")]
    return steps


# ---------------------------------------------------------------- POSIX

@pytest.fixture
def host(tmp_path):
    """A fake agent and service manager that append what they were asked to one journal."""
    journal = tmp_path / "journal"
    tools = tmp_path / "tools"
    tools.mkdir()
    agent = tmp_path / "azcmagent"
    agent.write_text("#!/bin/sh\necho \"agent $*\" >> '%s'\n"
                     "case \"$*\" in *FAILING*) echo 'AZCM0001: cannot remove' >&2; exit 1;; esac\n"
                     "case \"$*\" in *WRITEFAIL*) exit 69;; esac\nexit 0\n" % journal)
    agent.chmod(0o755)

    def tool(name, rc=0):
        path = tools / name
        path.write_text("#!/bin/sh\necho \"%s $*\" >> '%s'\nexit %d\n" % (name, journal, rc))
        path.chmod(0o755)

    def run(steps, timeout=None):
        script = scripts.posix_script(steps, executable=str(agent), timeout=timeout)
        proc = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, check=False)
        lines = journal.read_text().splitlines() if journal.exists() else []
        return proc, scripts.ScriptResult(proc.returncode, proc.stdout, proc.stderr), lines

    return {"tools": str(tools), "tool": tool, "run": run}


def test_posix_order_stop_remove_start_then_read_back(host):
    host["tool"]("systemctl")
    names = ["Microsoft.Azure.Extensions.CustomScript", "Microsoft.CPlat.Core.RunCommandHandlerLinux"]
    proc, result, journal = host["run"](removal_steps(names, environment={"PATH": host["tools"] + ":/usr/bin:/bin"}),
                                        timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert journal == ["agent config set guestconfiguration.enabled false", "systemctl stop extd",
                       "agent extension remove --name Microsoft.Azure.Extensions.CustomScript",
                       "agent extension remove --name Microsoft.CPlat.Core.RunCommandHandlerLinux",
                       "systemctl start extd", "agent config list --json"]
    assert [s.rc for s in result.steps] == [0] * 7


def test_posix_falls_back_to_service_without_systemctl(host):
    host["tool"]("service")
    # only the tools directory on PATH: no systemctl anywhere
    _proc, result, journal = host["run"](removal_steps(["A.B"], environment={"PATH": host["tools"]}))
    assert journal[1:4] == ["service extd stop", "agent extension remove --name A.B", "service extd start"]
    assert result.step(2).rc == 0 and result.step(4).rc == 0


def test_posix_a_failing_removal_keeps_going_and_the_service_is_started_again(host):
    host["tool"]("systemctl")
    proc, result, journal = host["run"](removal_steps(["A.FAILING", "C.D"], environment={"PATH": host["tools"]}))
    assert journal[1:] == ["systemctl stop extd", "agent extension remove --name A.FAILING",
                           "agent extension remove --name C.D", "systemctl start extd", "agent config list --json"]
    assert proc.returncode == 1
    assert [s.rc for s in result.steps] == [0, 0, 1, 0, 0, 0, 0]
    assert "AZCM0001" in result.step(3).stderr


def test_posix_no_removal_when_stopping_fails_but_start_still_runs(host):
    host["tool"]("systemctl", rc=5)
    proc, result, journal = host["run"](removal_steps(["A.B", "C.D"], environment={"PATH": host["tools"]}))
    assert journal[1:] == ["systemctl stop extd", "systemctl start extd", "agent config list --json"]
    assert proc.returncode == 5
    assert result.step(2).rc == 5
    assert result.step(3) is None and result.step(4) is None  # skipped: no markers at all
    assert result.step(5).rc == 5 and result.step(6).rc == 0


def test_posix_a_failing_write_stops_before_the_service_is_touched(host):
    host["tool"]("systemctl")
    proc, result, journal = host["run"](removal_steps(["A.B"], environment={"PATH": host["tools"]},
                                                      writes=[("config", "set", "x", "WRITEFAIL")]))
    assert proc.returncode == 69
    assert journal == ["agent config set x WRITEFAIL"]
    assert [s.number for s in result.steps] == [1]


@settings(max_examples=60)
@given(st.lists(NAME, min_size=1, max_size=3),
       st.dictionaries(st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,10}\Z"), ARG.filter(lambda a: "\n" not in a),
                       max_size=2))
def test_posix_removal_arguments_and_environment_reach_their_programs_exactly(tmp_path_factory, names, environment):
    tmp = tmp_path_factory.mktemp("h")
    dump = "#!/usr/bin/env python3\nimport json, os, sys\nprint(json.dumps([os.path.basename(sys.argv[0])] + " \
           "sys.argv[1:] + [dict(os.environ)]))\n"
    agent = tmp / "azcmagent"
    systemctl = tmp / "systemctl"
    for path in (agent, systemctl):
        path.write_text(dump)
        path.chmod(0o755)
    env = dict(environment, PATH="%s:%s" % (tmp, os.environ["PATH"]))
    script = scripts.posix_script(removal_steps(names, environment=env), executable=str(agent))
    proc = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, check=False)
    result = scripts.ScriptResult(proc.returncode, proc.stdout, proc.stderr)
    stop = json.loads(result.step(2).stdout)
    assert stop[:3] == ["systemctl", "stop", "extd"]
    for key, value in environment.items():
        if key != "PATH":
            assert stop[3].get(key) == value
    for number, name in enumerate(names, 3):
        assert json.loads(result.step(number).stdout)[:4] == ["azcmagent", "extension", "remove", "--name"]
        assert json.loads(result.step(number).stdout)[4] == name


def test_bad_service_steps_are_refused():
    with pytest.raises(ValueError):
        scripts.Service("restart", "extd")
    with pytest.raises(ValueError):
        scripts.Service("stop", "extd; reboot")
    with pytest.raises(ValueError):
        scripts.Service("stop", "extd", {"BAD NAME": "x"})


def test_scripts_without_service_steps_are_unchanged():
    """remove_blocked off: the read and apply scripts carry nothing of the removal machinery."""
    for build in (scripts.posix_script, scripts.powershell_script):
        script = build([["config", "list", "--json"]])
        assert "$X" not in script and "X=" not in script and "F=" not in script and "$F" not in script
        assert script.rstrip().endswith("exit 0")


# ---------------------------------------------------------------- PowerShell

def _statements_in_order(script):
    source = script.encode("utf-8")
    tree = PS.parse(source)
    assert not tree.root_node.has_error, script
    return [_text(n, source) for n in _walk(tree.root_node) if n.type == "command"]


@given(st.lists(NAME, min_size=1, max_size=4))
def test_powershell_removal_script_parses_cleanly_and_calls_exactly_the_intended_argv(names):
    script = scripts.powershell_script(removal_steps(names, service="ExtensionService", environment={"PATH": "x"}))
    calls = [words for text, words in ps_commands(script) if text.startswith("& $A")]
    assert calls == [["config", "set", "guestconfiguration.enabled", "false"]] + [
        ["extension", "remove", "--name", n] for n in names] + [["config", "list", "--json"]]
    names_used = {text.split()[0] for text, _words in ps_commands(script)}
    assert names_used <= {"&", "Test-Path", "Write-Output", "Get-ChildItem", "exit", "Stop-Service", "Start-Service",
                          "W"}
    commands = _statements_in_order(script)
    stop = commands.index("Stop-Service -Name 'ExtensionService'")
    start = commands.index("Start-Service -Name 'ExtensionService'")
    removes = [i for i, c in enumerate(commands) if c.startswith("& $A 'extension'")]
    assert stop < min(removes) and max(removes) < start


@given(st.lists(ARG, min_size=1, max_size=2))
def test_powershell_hostile_extension_names_stay_arguments(names):
    script = scripts.powershell_script(removal_steps(names, service="ExtensionService"))
    calls = [words for text, words in ps_commands(script) if text.startswith("& $A")]
    assert [c[3] for c in calls[1:-1]] == names


def test_powershell_removals_run_only_after_a_successful_stop_and_start_always_runs():
    script = scripts.powershell_script(removal_steps(["A.B"], service="ExtensionService"))
    lines = script.split("\r\n")
    stop = lines.index("Stop-Service -Name 'ExtensionService'")
    assert lines[stop + 1] == "if ($?) { $r = 0 }"
    assert "$X = $r" in lines[stop:]
    guard = lines.index("if (-not $X) {")
    assert lines[guard + 2] == "  W @(& $A 'extension' 'remove' '--name' 'A.B' 2>&1)"
    start = lines.index("Start-Service -Name 'ExtensionService'")
    # the start is not inside any guard, and nothing after the stop exits early
    assert lines[start - 1] == "$r = 1" and not lines[start].startswith(" ")
    assert not any(line.strip().startswith("if ($r -ne 0) { exit") for line in lines[stop:])
    assert lines[-2] == "exit $F"
