"""Windows over SSH: azcmagent_config, azcmagent_info and the lockdown role through Ansible's ssh connection with
``ansible_shell_type: powershell``, against a real OpenSSH sshd whose ForceCommand (ssh_shell.py) runs the
PowerShell it receives with the WinRM test endpoint's interpreter and the Windows stand-in.

Every test also checks what reached the host: each command must be the one form our runner sends
(PowerShell ... -EncodedCommand), none refused, so anything else Ansible sent over SSH would fail here.
"""

import base64
import io
import json
import os
import re

import pytest

from tests.lib.playbook import run
from tests.lib.profiles_expected import expected, matches
from tests.lib import fleet
from tests.lib import ssh_shell
from tests.lib.windows_env import (NAMES_TASK, assert_info, assert_windows_names, config, log,
                                   prepare_info_host, state)
from tests.lib.ssh_host import SshHost, unavailable

pytestmark = pytest.mark.windows

COMMAND = re.compile(r"^PowerShell -NoProfile -NonInteractive -ExecutionPolicy Unrestricted -EncodedCommand "
                     r"[A-Za-z0-9+/]+=*$")
# cmd.exe (OpenSSH's own default shell, and what WinRM starts commands with) takes at most 8191 characters;
# PowerShell as OpenSSH's default shell would allow 32767. Every command must fit the smaller.
COMMAND_LINE_LIMIT = 8191
EXE = "C:\\Program Files\\AzureConnectedMachineAgent\\azcmagent.exe"
DEFAULTS = {"config.mode": "full", "guestconfiguration.enabled": True, "extensions.enabled": True,
            "incomingconnections.enabled": True, "extensions.allowlist": [], "extensions.blocklist": []}

# Skipped on a developer's machine without sshd; in CI (CI=true) a missing sshd fails these tests instead,
# since tests/suites/30-windows.sh installs it.
needs_sshd = pytest.mark.skipif(unavailable() is not None and not os.environ.get("CI"), reason=str(unavailable()))


@pytest.fixture
def win(tmp_path):
    host = SshHost(tmp_path / "win")
    yield host
    host.stop()


def received(host, count=None):
    """The scripts the host ran, after checking every command was our runner's form and none was refused."""
    commands = host.commands()
    for entry in commands:
        assert COMMAND.match(entry["command"]), entry["command"][:200]
        assert entry["refused"] is None, entry
        # what WinRM and cmd.exe pass intact (see COMMAND_LINE_LIMIT and docs/windows.md)
        assert len(entry["command"]) < COMMAND_LINE_LIMIT, len(entry["command"])
    if count is not None:
        assert len(commands) == count, [e["script"] for e in commands]
    return [e["script"] for e in commands]


def encoded(script):
    return ("PowerShell -NoProfile -NonInteractive -ExecutionPolicy Unrestricted -EncodedCommand "
            + base64.b64encode(script.encode("utf-16-le")).decode())


# ------------------------------------------------------------------ ssh_shell.py on its own (no sshd)

class NoInput(io.BytesIO):
    def read(self, *args):
        raise AssertionError("standard input read for a script without $input")


def shell(tmp_path, command, stdin=None, unset=False):
    out, err = io.BytesIO(), io.BytesIO()
    environ = {} if unset else {"SSH_ORIGINAL_COMMAND": command}
    rc = ssh_shell.main(["--root", str(tmp_path), "--azcmagent", "false", "--log", str(tmp_path / "log")],
                        environ=environ, stdin=stdin or NoInput(), stdout=out, stderr=err)
    return rc, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("command", [
    "id", "cmd.exe /c dir", "internal-sftp", "PowerShell -Command Get-Process", "powershell.exe -EncodedCommand QQA=",
    "PowerShell -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand QQA=",
    "PowerShell -NoProfile -NonInteractive -ExecutionPolicy Unrestricted -EncodedCommand QQA= extra",
    "PowerShell -NoProfile -NonInteractive -ExecutionPolicy Unrestricted -EncodedCommand not*base64",
    "PowerShell -NoProfile -NonInteractive -ExecutionPolicy Unrestricted -EncodedCommand QQ==",
])
def test_shell_refuses_any_other_command(tmp_path, command):
    rc, out, err = shell(tmp_path, command)
    assert rc == 1 and out == b""
    assert err.startswith(b"ssh test host refused the command: "), err
    assert json.loads((tmp_path / "log").read_text())["refused"]


def test_shell_refuses_a_login_without_a_command(tmp_path):
    rc, _out, err = shell(tmp_path, None, unset=True)
    assert rc == 1 and b"not a login shell" in err


def test_shell_refuses_constructs_our_runner_does_not_emit_before_running_anything(tmp_path):
    rc, out, err = shell(tmp_path, encoded("Write-Output 'first'\nGet-Process"))
    assert rc == 1 and out == b""
    assert b"refused the script" in err
    assert "Get-Process" in json.loads((tmp_path / "log").read_text())["refused"]


def test_shell_passes_output_and_exit_code_and_reads_stdin_only_for_input(tmp_path):
    rc, out, err = shell(tmp_path, encoded("Write-Output 'hello'; [Console]::Error.WriteLine('to stderr'); exit 3"))
    assert (rc, out, err) == (3, b"hello\r\n", b"to stderr\r\n")
    rc, out, _err = shell(tmp_path, encoded("$S = @($input)\nWrite-Output ('got ' + $S[1])\nexit 0"),
                          stdin=io.BytesIO(b"one\ntwo\n"))
    assert (rc, out) == (0, b"got two\r\n")
    rc, out, _err = shell(tmp_path, encoded("Write-Output 'a literal $input is no input'"))  # NoInput: not read
    assert (rc, out) == (0, b"a literal $input is no input\r\n")


# ------------------------------------------------------------------ Ansible over a real sshd

@needs_sshd
def test_plain_ssh_client_gets_refusals_streams_and_exit_codes(win):
    posix = win.ssh("id")
    assert posix.returncode == 1 and b"only PowerShell commands are accepted" in posix.stderr
    login = win.ssh(None, extra=("-T",))
    assert login.returncode == 1 and b"not a login shell" in login.stderr
    sftp = win.ssh("sftp", extra=("-s",))  # sshd drops a subsystem's stderr: the refusal is in our log
    assert sftp.returncode == 1
    assert [(e["command"], bool(e["refused"])) for e in win.commands()] == [
        ("id", True), ("", True), ("internal-sftp", True)]
    done = win.ssh(encoded("$A = $env:ProgramW6432 + '\\AzureConnectedMachineAgent\\azcmagent.exe'\n"
                           "$S = @($input)\n& $A 'config' 'set' 'proxy.url' $S[0]\n$r = $LASTEXITCODE\nexit $r"),
                   stdin=b"http://proxy.example.com:3128\n")
    assert done.returncode == 0, done.stderr
    assert state(win)["proxy.url"] == "http://proxy.example.com:3128"
    assert [e["argv"] for e in log(win)] == [["config", "set", "proxy.url", "http://proxy.example.com:3128"]]


@needs_sshd
def test_module_converges_with_windows_names_check_mode_first_and_is_idempotent(tmp_path, win):
    task = NAMES_TASK
    hosts = {"dc01": win.host_vars()}

    check = run(tmp_path, [task], hosts=hosts, check=True, diff=True).result("dc01")
    assert check["changed"] and check["os"] == "windows" and not check.get("failed"), check
    assert state(win) == {}
    assert [e["argv"] for e in log(win)] == [["config", "list", "--json"]]
    received(win, count=1)

    win.clear_commands()
    first = run(tmp_path, [task], hosts=hosts).result("dc01")
    assert first["changed"] and not first.get("failed"), first
    assert first["executable"] == EXE
    assert_windows_names(state(win))
    scripts = received(win, count=2)
    assert "& $A 'config' 'set' 'extensions.blocklist' " in scripts[1]

    fleet.clear_log(win.root, "windows")
    win.clear_commands()
    second = run(tmp_path, [task], hosts=hosts).result("dc01")
    assert second["changed"] is False and not second.get("failed"), second
    assert [e["argv"] for e in log(win)] == [["config", "list", "--json"]]
    received(win, count=1)


@needs_sshd
def test_secret_travels_on_standard_input_not_on_the_command_line(tmp_path, win):
    value = "http://user:it's-s3cr3t;$x@proxy.example.com:3128"
    result = run(tmp_path, [config({"proxy_url": value})], hosts={"w": win.host_vars()}).result("w")
    assert result["changed"] and not result.get("failed"), result
    assert state(win)["proxy.url"] == value
    scripts = received(win, count=2)
    assert "$S = @($input)" in scripts[1] and "$S[0]" in scripts[1]
    assert all("s3cr3t" not in e["command"] and "s3cr3t" not in e["script"] for e in win.commands())
    assert "s3cr3t" not in json.dumps(result)


@needs_sshd
def test_lockdown_role_with_two_profiles_on_two_hosts(tmp_path):
    profiles = ["defender", "block_scripts"]
    hosts = {}
    try:
        for profile in profiles:
            hosts[profile] = SshHost(tmp_path / profile)
        inventory = {p: dict(h.host_vars(), lockdown_profile=p) for p, h in hosts.items()}
        role = {"ansible.builtin.include_role": {"name": "arcguard.azcmagent.lockdown"}}
        out = run(tmp_path, [role], hosts=inventory)
        assert out.rc == 0 and "failed=0" in out.stdout, out.stdout[-3000:]
        for profile, host in hosts.items():
            got = state(host)
            for prop, want in expected(profile, "windows").items():
                seen = got.get(prop, DEFAULTS.get(prop))
                assert matches(prop, seen, want), (profile, prop, seen, want)
            received(host, count=2)
            fleet.clear_log(host.root, "windows")
            host.clear_commands()
        again = run(tmp_path, [role], hosts=inventory)
        assert again.rc == 0 and "changed=1" not in again.stdout, again.stdout[-3000:]
        for profile, host in hosts.items():
            assert [e["argv"] for e in log(host)] == [["config", "list", "--json"]], profile
            received(host, count=1)
    finally:
        for host in hosts.values():
            host.stop()


@needs_sshd
def test_not_elevated_exit_code_18_propagates(tmp_path, win):
    fleet.write_control(win.root, {"elevated": False}, "windows")
    result = run(tmp_path, [config({"guestconfiguration_enabled": False})], hosts={"w": win.host_vars()}).result("w")
    assert result["failed"], result
    assert result["rc"] == 18
    assert "administrative privileges required" in result["msg"] and "elevated Administrator" in result["msg"]
    assert state(win) == {}
    received(win, count=1)
    assert [e["rc"] for e in win.commands()] == [18]


@needs_sshd
def test_missing_agent_is_reported(tmp_path):
    host = SshHost(tmp_path / "win", no_agent=True)
    try:
        result = run(tmp_path, [config({"guestconfiguration_enabled": False})],
                     hosts={"w": host.host_vars()}).result("w")
        assert result["failed"] and "azcmagent was not found" in result["msg"], result
        assert log(host) == []
        received(host, count=1)
    finally:
        host.stop()


@needs_sshd
def test_info_reads_the_host(tmp_path, win):
    prepare_info_host(win)
    result = run(tmp_path, [{"arcguard.azcmagent.azcmagent_info": {}}], hosts={"w": win.host_vars()}).result("w")
    assert_info(result)
    # read only: the agent was asked, nothing was written, and all of it in one SSH command
    assert ["config", "list", "--json"] in [e["argv"] for e in log(win)]
    assert not [e["argv"] for e in log(win) if e["argv"][:2] in (["config", "set"], ["config", "clear"])
                or e["argv"][:1] in (["extension"], ["connect"], ["disconnect"])]
    assert state(win) == {"extensions.allowlist": ["Microsoft.Azure.Monitor/AzureMonitorWindowsAgent"]}
    received(win, count=1)


@needs_sshd
def test_a_play_wide_become_does_not_break_windows_hosts(tmp_path, win):
    """A mixed fleet's play says ``become: true`` (sudo, another user): Ansible's sudo cannot wrap PowerShell, so
    the modules do not ask for become on Windows hosts, where the connection's user must be an elevated
    Administrator as the agent requires."""
    task = dict(config({"extensions_allowlist": ["azure_monitor_agent"]}), become=True)
    hosts = {"sudo": dict(win.host_vars(), ansible_become_user="Administrator")}
    out = run(tmp_path, [task], hosts=hosts)
    result = out.result("sudo")
    assert result["changed"] and not result.get("failed"), result
    assert state(win)["extensions.allowlist"] == ["Microsoft.Azure.Monitor/AzureMonitorWindowsAgent"]
    received(win, count=2)  # the read, then the write with its read-back


@needs_sshd
def test_shell_type_cmd_sends_the_very_same_command_line(tmp_path, win):
    """ansible_shell_type: cmd (cmd.exe, OpenSSH's own default shell) changes nothing in what is sent."""
    task = config({"extensions_allowlist": ["azure_monitor_agent"]})
    for shell_type in ("powershell", "cmd"):
        result = run(tmp_path, [task], hosts={"w": dict(win.host_vars(), ansible_shell_type=shell_type)},
                     check=True).result("w")
        assert result["changed"] and result["os"] == "windows" and not result.get("failed"), result
    received(win, count=2)
    assert win.commands()[0]["command"] == win.commands()[1]["command"]
