"""The endpoint itself: protocol, refusals, argument passing rules."""

import pytest
import winrm

from tests.windows.endpoint import Endpoint
from tests.windows.winrm_endpoint import msvcrt_argv, ps51_command_line


@pytest.fixture
def endpoint(tmp_path):
    ep = Endpoint(tmp_path / "win")
    yield ep
    ep.stop()


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
