"""The endpoint itself: protocol, refusals, argument passing rules."""

import pytest
import winrm

from tests.lib.winrm_endpoint import msvcrt_argv, ps51_command_line

pytestmark = pytest.mark.windows


def session(ep, password=None):
    return winrm.Session("http://127.0.0.1:%d/wsman" % ep.port, auth=(ep.user, password or ep.password),
                         transport="basic")


def test_runs_our_constructs_and_returns_streams_and_exit_code(endpoint):
    result = session(endpoint).run_ps("Write-Output 'hello'; [Console]::Error.WriteLine('to stderr'); exit 3")
    assert result.std_out == b"hello\r\n"
    assert b"to stderr" in result.std_err
    assert result.status_code == 3


def test_runs_the_agent_with_windows_locations(endpoint):
    result = session(endpoint).run_ps("$A = $env:ProgramW6432 + '\\AzureConnectedMachineAgent\\azcmagent.exe'\n"
                                      "& $A 'config' 'list'\n$r = $LASTEXITCODE\nexit $r")
    assert result.status_code == 0, result.std_err
    assert result.std_out.startswith(b"Local Configuration Settings\r\n")


@pytest.mark.parametrize("script", [
    "Get-Process", "Invoke-Expression 'calc'", "Write-Output \"$(whoami)\"", "& 'C:\\Windows\\calc.exe'",
    "$x = 1; while ($true) { }", "Write-Output hello'world", "iex ('ca' + 'lc')",
    # redirections other than a captured call's 2>&1, and script blocks outside a function definition
    "$A = 'x'; & $A 'config' 'list' 2>$null", "$A = 'x'; & $A 'config' 'list' 2>&1",
    "$A = 'x'; $O = @(& $A 'config' 'list' > 'C:\\out.txt')", "$b = { Get-Process }",
    "function F($P) { Write-Output $P }; F 'a' 'b'",
])
def test_refuses_anything_else(endpoint, script):
    result = session(endpoint).run_ps(script)
    assert result.status_code == 1
    assert b"refused" in result.std_err


def test_refusal_happens_before_anything_runs(endpoint, tmp_path):
    script = ("$A = 'C:\\Program Files\\AzureConnectedMachineAgent\\azcmagent.exe'\n"
              "& $A 'config' 'set' 'guestconfiguration.enabled' 'false'\nGet-Process")
    result = session(endpoint).run_ps(script)
    assert result.status_code == 1
    assert not (tmp_path / "win" / "ProgramData").exists()


def test_wrong_password_is_rejected(endpoint):
    with pytest.raises(winrm.exceptions.InvalidCredentialsError):
        session(endpoint, password="wrong").run_ps("Write-Output 'x'")


@pytest.mark.parametrize("args", [
    ["plain"], ["with space"], ["comma,separated"], ["$dollar", "`backtick", "semi;colon"], ["non-ASCII é ü 漢字"],
    ["trailing\\backslash"], ["a\\\\b c"],
])
def test_argument_passing_keeps_values_without_double_quotes(args):
    assert msvcrt_argv(ps51_command_line("C:\\x.exe", args))[1:] == args


@pytest.mark.parametrize("args, mangled", [
    (['say "hi"'], ["say hi"]),
    (["ends with\\"], None),
    ([""], []),
])
def test_argument_passing_mangles_what_windows_powershell_mangles(args, mangled):
    got = msvcrt_argv(ps51_command_line("C:\\x.exe", args))[1:]
    assert got != args
    if mangled is not None:
        assert got == mangled


def test_ansible_raw_round_trip_of_our_runner_script(endpoint, tmp_path):
    import json
    import os
    import subprocess
    import sys
    from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _scripts
    script = _scripts.powershell_script([["config", "list", "--json"]])
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"all": {"hosts": {"win": endpoint.host_vars()}}}))
    tree = tmp_path / "tree"
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_DEPRECATION_WARNINGS="0")
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible"), "-i", str(inventory), "win",
                           "-m", "ansible.builtin.raw", "-a", script, "-t", str(tree)],
                          capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads((tree / "win").read_text())
    assert result["rc"] == 0
    assert "##arcguard:begin 1\r\n" in result["stdout"]
    assert '"LocalSettings"' in result["stdout"]


def test_a_command_line_over_cmd_exe_limit_is_refused_as_windows_does(endpoint):
    short = "Write-Output '%s'" % ("x" * 2900)   # about 7,900 characters once encoded: runs
    long_ = "Write-Output '%s'" % ("x" * 3100)   # about 8,400: cmd.exe refuses it
    ok = session(endpoint).run_ps(short)
    assert ok.status_code == 0 and ok.std_out.strip() == b"x" * 2900
    refused = session(endpoint).run_ps(long_)
    assert refused.status_code == 1
    assert refused.std_err == b"The command line is too long.\r\n"


def test_merged_standard_error_comes_back_as_error_records(endpoint):
    """``@(& $A ... 2>&1)``: the agent's stderr lines are items told apart by -is ErrorRecord, written nowhere else."""
    script = ("$A = $env:ProgramW6432 + '\\AzureConnectedMachineAgent\\azcmagent.exe'\n"
              "function W($Q) { foreach ($L in $Q) { $T = [string]$L -creplace 'unknown', 'UNKNOWN'; "
              "if ($L -is [Management.Automation.ErrorRecord]) { [Console]::Error.WriteLine('err: ' + $T) } "
              "else { Write-Output ('out: ' + $T) } } }\n"
              "W @(& $A 'config' 'get' 'no.such.property' 2>&1)\n$r = $LASTEXITCODE\nexit $r")
    result = session(endpoint).run_ps(script)
    assert result.status_code == 23, result.std_err
    errors = result.std_err.decode("utf-8").splitlines()
    assert errors and all(line.startswith("err: ") for line in errors), errors
    assert "UNKNOWN" in errors[0] and "unknown" not in errors[0]
    assert not [line for line in result.std_out.decode("utf-8").splitlines() if not line.startswith("out: ")]
