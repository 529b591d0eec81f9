"""Windows command lines stay within what WinRM passes intact.

WinRM hands the command line to cmd.exe, which takes at most 8191 characters: a longer command fails or is
cut short. Our PowerShell goes as `PowerShell ... -EncodedCommand <base64 of UTF-16>`, about 2.7 characters
per script character, so a plan with many writes would not fit in one command. These tests run the runner
with Ansible's own PowerShell shell plugin and execute every command it sends with the test endpoint's
interpreter against the Windows stand-in.
"""

import json
import os

import pytest
from ansible.plugins.shell.powershell import ShellModule

from tests.lib.winrm_endpoint import decode_command, run_script

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _runner as runner
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _scripts as scripts

pytestmark = pytest.mark.windows

CMD_EXE_LIMIT = 8191
BLOCK = ["Microsoft.CPlat.Core/RunCommandHandlerWindows", "Microsoft.Compute/CustomScriptExtension",
         "Microsoft.Azure.Automation.HybridWorker/HybridWorkerForWindows",
         "Microsoft.EnterpriseCloud.Monitoring/MicrosoftMonitoringAgent", "Microsoft.Azure.Extensions/CustomScript",
         "Microsoft.CPlat.Core/RunCommandHandlerLinux", "Microsoft.Azure.Automation/HybridWorkerForLinux",
         "Microsoft.EnterpriseCloud.Monitoring/OMSAgentForLinux"]
# every local setting differs from the defaults: the longest plan a drifted host can need
DRIFTED_PLAN = [
    ["config", "set", "incomingconnections.enabled", "false"],
    ["config", "set", "incomingconnections.ports", "22,3389,5985"],
    ["config", "set", "proxy.url", scripts.Secret("http://user:pa$$@proxy.contoso.com:3128", "http://****@proxy")],
    ["config", "set", "proxy.bypass", "AAD,ARM,Arc"],
    ["config", "set", "guestconfiguration.enabled", "false"],
    ["config", "set", "extensions.enabled", "true"],
    ["config", "set", "guestconfiguration.agent.cpulimit", "10"],
    ["config", "set", "extensions.agent.cpulimit", "15"],
    ["config", "set", "extensions.allowlist",
     "Microsoft.Azure.Monitor/AzureMonitorWindowsAgent,Microsoft.Azure.AzureDefenderForServers/MDE.Windows"],
    ["config", "set", "extensions.blocklist", ",".join(BLOCK)],
    ["config", "set", "config.mode", "full"],
    ["config", "list", "--json"],
]


class WindowsAction:
    """What the runner needs of an action plugin: a PowerShell connection to one test host."""

    def __init__(self, host):
        self._connection = type("Connection", (), {"_shell": ShellModule()})()
        self.host = host
        self.sent = []

    def _low_level_execute_command(self, cmd, sudoable=True, in_data=None):
        self.sent.append({"cmd": cmd, "sudoable": sudoable, "stdin": in_data or b""})
        if len(cmd) > CMD_EXE_LIMIT:
            return {"rc": 1, "stdout": "", "stderr": "The command line is too long.\r\n"}
        program, _space, arguments = cmd.partition(" ")
        rc, out, err = run_script(self.host, decode_command(program, arguments), in_data or b"")
        return {"rc": rc, "stdout": out.decode("utf-8"), "stderr": err.decode("utf-8")}


def stored(host):
    path = os.path.join(host.root, "ProgramData", "AzureConnectedMachineAgent", "Config", "localconfig.json")
    with open(path) as handle:
        return json.load(handle)


def invocations(host):
    path = os.path.join(host.root, "ProgramData", "AzureConnectedMachineAgent", "Config",
                        "standin-invocations.log")
    with open(path) as handle:
        return [json.loads(line)["argv"] for line in handle]


def test_a_fully_drifted_plan_fits_the_limit_and_runs_every_step_in_order(host):
    action = WindowsAction(host)
    out = runner.Runner(action).run(DRIFTED_PLAN)
    assert all(len(sent["cmd"]) <= runner.POWERSHELL_COMMAND_LIMIT for sent in action.sent)
    assert [s.number for s in out.steps] == list(range(1, len(DRIFTED_PLAN) + 1))
    assert all(out.step(n).rc == 0 for n in range(1, len(DRIFTED_PLAN) + 1)), out.stderr
    assert [argv[:3] for argv in invocations(host)] == [step[:3] for step in DRIFTED_PLAN]
    state = stored(host)
    assert [n.lower() for n in state["extensions.blocklist"]] == [n.lower() for n in BLOCK]
    assert json.loads(out.step(len(DRIFTED_PLAN)).stdout)  # the read-back came through whole
    # the credentials and the long list went on standard input, not on any command line
    decoded = [decode_command(*s["cmd"].split(" ", 1)) for s in action.sent]
    assert not any("pa$$" in script or BLOCK[0] in script for script in decoded)
    assert any(BLOCK[0].encode() in s["stdin"] for s in action.sent)


def test_one_remote_command_while_the_plan_fits(host):
    action = WindowsAction(host)
    runner.Runner(action).run(DRIFTED_PLAN[-4:])
    assert len(action.sent) == 1


def test_a_failing_step_stops_the_plan_and_later_commands_are_never_sent(host, monkeypatch):
    monkeypatch.setattr(runner, "POWERSHELL_COMMAND_LIMIT", 3000)
    plan = [["config", "set", "guestconfiguration.enabled", "false"],
            ["config", "set", "extensions.enabled", "maybe"],  # the agent refuses it (exit 23)
            ["config", "set", "config.mode", "full"],
            ["config", "set", "proxy.bypass", "AAD"],
            ["config", "list", "--json"]]
    action = WindowsAction(host)
    out = runner.Runner(action).run(plan)
    assert out.step(2).rc == 23
    assert out.step(3) is None and out.step(5) is None
    assert [argv[2] for argv in invocations(host)] == ["guestconfiguration.enabled", "extensions.enabled"]
    assert len(action.sent) < 4


def test_a_split_never_falls_while_a_service_is_stopped(host, monkeypatch):
    block = [scripts.Service("stop", "ExtensionService"),
             scripts.WhileStopped(["extension", "remove", "--name", "Contoso.One"]),
             scripts.WhileStopped(["extension", "remove", "--name", "Contoso.Two"]),
             scripts.Service("start", "ExtensionService")]
    plan = [["config", "set", "guestconfiguration.enabled", "false"],
            ["config", "set", "extensions.enabled", "true"]] + block + [["config", "list", "--json"]]
    # a limit the block fits in, the whole plan not
    probe = runner.Runner(WindowsAction(host))
    limit = probe._size(block, False) + 300
    assert probe._size(plan, False) > limit
    monkeypatch.setattr(runner, "POWERSHELL_COMMAND_LIMIT", limit)
    action = WindowsAction(host)
    runner.Runner(action).run(plan)
    assert len(action.sent) > 1
    scripts_sent = [decode_command(*s["cmd"].split(" ", 1)) for s in action.sent]
    with_stop = [s for s in scripts_sent if "Stop-Service" in s]
    assert len(with_stop) == 1 and "Start-Service" in with_stop[0]


def test_a_block_that_cannot_fit_is_refused_before_anything_runs(host, monkeypatch):
    monkeypatch.setattr(runner, "POWERSHELL_COMMAND_LIMIT", 3000)
    block = ([scripts.Service("stop", "ExtensionService")]
             + [scripts.WhileStopped(["extension", "remove", "--name", "Contoso.Ext%d" % i]) for i in range(8)]
             + [scripts.Service("start", "ExtensionService")])
    action = WindowsAction(host)
    with pytest.raises(runner.AgentError, match="nothing was run"):
        runner.Runner(action).run([["config", "set", "guestconfiguration.enabled", "false"]] + block)
    assert action.sent == []


def test_become_is_not_requested_for_powershell_targets(host):
    action = WindowsAction(host)
    runner.Runner(action).run([["config", "list", "--json"]])
    assert action.sent[0]["sudoable"] is False
