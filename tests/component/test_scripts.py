"""The remote scripts: what the target's shell runs must be exactly the intended argv."""

import json
import os
import shlex
import subprocess
import tempfile

from hypothesis import given, settings, strategies as st

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _scripts as scripts
from tests.lib.powershell_ast import ARG, ps_commands

ARGV = st.lists(ARG, min_size=1, max_size=5)


# ---------------------------------------------------------------- POSIX

def _fake_agent(directory):
    """An agent that prints the arguments it got, hex-encoded: the target's output filter leaves that intact."""
    path = os.path.join(directory, "azcmagent")
    with open(path, "w") as handle:
        handle.write("#!/usr/bin/env python3\nimport json, os, sys\n"
                     "print(json.dumps([os.fsencode(a).hex() for a in sys.argv[1:]]))\n")
    os.chmod(path, 0o755)
    return path


def agent_argv(stdout):
    return [bytes.fromhex(a).decode("utf-8", "surrogateescape") for a in json.loads(stdout)]


def run_posix(steps, stdin=None, executable=None):
    script = scripts.posix_script(steps, executable=executable)
    proc = subprocess.run(["/bin/sh", "-c", script], input=stdin, capture_output=True, text=True, check=False)
    return proc, scripts.ScriptResult(proc.returncode, proc.stdout, proc.stderr)


@given(ARGV)
def test_posix_quoting_parses_back_to_the_same_words(argv):
    for arg in argv:
        assert shlex.split(scripts.posix_quote(arg)) == [arg]


@settings(max_examples=300)
@given(st.lists(ARG.filter(lambda a: "\n" not in a and "\r" not in a), min_size=1, max_size=4))
def test_posix_script_runs_exactly_the_intended_argv(argv):
    with tempfile.TemporaryDirectory() as tmp:
        fake = _fake_agent(tmp)
        marker = os.path.join(tmp, "PWNED")
        _proc, result = run_posix([argv], executable=fake)
        assert result.step(1).rc == 0
        assert agent_argv(result.step(1).stdout) == argv
        assert not os.path.exists(marker)


def test_posix_injection_attempts_stay_arguments(tmp_path):
    fake = _fake_agent(str(tmp_path))
    marker = tmp_path / "PWNED"
    hostile = ["$(touch %s)" % marker, "`touch %s`" % marker, "; touch %s" % marker, "' ; touch %s ; '" % marker,
               "\"$(touch %s)\"" % marker, "&& touch %s" % marker, "| touch %s" % marker]
    _proc, result = run_posix([["config", "set", "proxy.url", h] for h in hostile], executable=str(fake))
    for number, h in enumerate(hostile, 1):
        assert agent_argv(result.step(number).stdout) == ["config", "set", "proxy.url", h]
    assert not marker.exists()


def test_posix_secret_travels_on_stdin_not_in_the_script(tmp_path):
    fake = _fake_agent(str(tmp_path))
    secret = scripts.Secret("http://user:pa$$ 'w\"d@proxy:3128", "redacted")
    steps = [["config", "set", "proxy.url", secret]]
    script = scripts.posix_script(steps, executable=str(fake))
    assert "pa$$" not in script
    proc = subprocess.run(["/bin/sh", "-c", script], input=scripts.stdin_data(steps), capture_output=True, text=True,
                          check=False)
    result = scripts.ScriptResult(proc.returncode, proc.stdout, proc.stderr)
    assert agent_argv(result.step(1).stdout) == ["config", "set", "proxy.url", secret.value]


def test_posix_stops_at_the_first_failure(tmp_path):
    agent = tmp_path / "azcmagent"
    agent.write_text("#!/bin/sh\necho \"ran $*\"\n[ \"$2\" = fail ] && { echo 'AZCM0069: no' >&2; exit 69; }\nexit 0\n")
    agent.chmod(0o755)
    proc, result = run_posix([["config", "ok"], ["config", "fail"], ["config", "never"]], executable=str(agent))
    assert proc.returncode == 69
    assert [s.rc for s in result.steps] == [0, 69]
    assert result.step(2).stderr.strip() == "AZCM0069: no"
    assert "never" not in proc.stdout


def test_posix_missing_agent(tmp_path):
    proc, result = run_posix([["config", "list", "--json"]], executable=str(tmp_path / "nope"))
    assert proc.returncode == scripts.MISSING_RC
    assert result.missing and not result.steps


def test_posix_output_without_a_final_newline_is_kept_exactly(tmp_path):
    agent = tmp_path / "azcmagent"
    agent.write_text("#!/bin/sh\nprintf 'no newline'\n")
    agent.chmod(0o755)
    _proc, result = run_posix([["x"]], executable=str(agent))
    assert result.step(1).stdout == "no newline"


def test_timeout_stops_a_hanging_agent(tmp_path):
    agent = tmp_path / "azcmagent"
    agent.write_text("#!/bin/sh\nsleep 30\n")
    agent.chmod(0o755)
    script = scripts.posix_script([["config", "list"]], executable=str(agent), timeout=1)
    proc = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, timeout=20, check=False)
    result = scripts.ScriptResult(proc.returncode, proc.stdout, proc.stderr)
    assert result.step(1).rc in scripts.TIMEOUT_RCS


# ------------------------------------------------------------ PowerShell

@given(ARGV)
def test_powershell_quoting_parses_back_to_the_same_arguments(argv):
    script = scripts.powershell_script([argv], executable="C:\\Program Files\\AzureConnectedMachineAgent\\azcmagent.exe")
    agent_calls = [words for text, words in ps_commands(script) if text.startswith("& $A")]
    assert agent_calls == [argv]


@given(ARG)
def test_powershell_hostile_values_never_make_another_command(value):
    script = scripts.powershell_script([["config", "set", "proxy.url", value]])
    names = sorted({text.split()[0] for text, _words in ps_commands(script)})
    # only what the runner itself emits
    assert set(names) <= {"&", "Test-Path", "Write-Output", "exit", "W"}, names


def test_powershell_secret_is_read_from_input_not_written_in_the_script():
    secret = scripts.Secret("http://u:p4ss@proxy:3128", "x")
    script = scripts.powershell_script([["config", "set", "proxy.url", secret]])
    assert "p4ss" not in script
    assert "$S = @($input)" in script
    assert "& $A 'config' 'set' 'proxy.url' $S[0]" in script


def test_powershell_uses_programw6432_then_programfiles():
    script = scripts.powershell_script([["config", "list", "--json"]])
    assert script.index("$env:ProgramW6432") < script.index("$env:ProgramFiles")
    assert "\\AzureConnectedMachineAgent\\azcmagent.exe" in script


# ------------------------------------------------------------ result parsing

def test_result_parsing_windows_line_endings_and_missing_end():
    out = "##arcguard:exe C:\\x.exe\r\n##arcguard:begin 1\r\n{\"a\": 1}\r\n##arcguard:end 1 0\r\n##arcguard:begin 2\r\npartial\r\n"
    err = "##arcguard:begin 1\r\n##arcguard:end 1 0\r\n##arcguard:begin 2\r\nboom\r\n"
    result = scripts.ScriptResult(1, out, err)
    assert result.executable == "C:\\x.exe"
    assert result.step(1).rc == 0 and result.step(1).stdout.strip() == '{"a": 1}'
    assert result.step(2).rc is None and result.step(2).stderr.strip() == "boom"
