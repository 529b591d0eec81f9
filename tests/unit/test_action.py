"""The action plugin driven with a mocked task and connection replaying agent outputs, for both shells."""

import base64
import json
import re
from unittest import mock

import pytest
import yaml

from ansible.playbook.task import Task
from ansible.plugins.shell.powershell import ShellModule as PowerShell
from ansible.plugins.shell.sh import ShellModule as Sh
from ansible.template import Templar
from ansible.parsing.dataloader import DataLoader

from ansible_collections.arcguard.azcmagent.plugins.action.azcmagent_config import ActionModule

DEFAULTS = {
    "incomingconnections.enabled": "true", "incomingconnections.ports": [], "proxy.url": "", "proxy.bypass": [],
    "extensions.allowlist": [], "extensions.blocklist": [], "guestconfiguration.enabled": "true",
    "extensions.enabled": "true", "config.mode": "full", "guestconfiguration.agent.cpulimit": "5",
    "extensions.agent.cpulimit": "5",
}


class FakeAgent:
    """Answers the runner's scripts like a shell running azcmagent would, from recorded formats."""

    def __init__(self, settings=None, fail_on=None, rc=69, garbage=False, missing=False, windows=False):
        self.settings = dict(DEFAULTS, **(settings or {}))
        self.fail_on = fail_on
        self.rc = rc
        self.garbage = garbage
        self.missing = missing
        self.windows = windows
        self.scripts = []
        self.stdin = []

    def listing(self):
        return json.dumps({"LocalSettings": [{"Key": k, "Value": v} for k, v in self.settings.items()]})

    def __call__(self, cmd, sudoable=True, in_data=None):
        if self.windows:
            assert cmd.startswith("PowerShell ") and "-EncodedCommand" in cmd
            script = base64.b64decode(cmd.split()[-1]).decode("utf-16-le")
        else:
            script = cmd
        self.scripts.append(script)
        self.stdin.append(in_data)
        secrets = (in_data or b"").decode().splitlines()
        if self.missing:
            return {"rc": 127, "stdout": "##arcguard:missing\n", "stderr": ""}
        out, err = ["##arcguard:exe /opt/azcmagent/bin/azcmagent"], []
        number = 0
        for line in script.splitlines():
            line = line.strip()
            if self.windows and line.startswith("& $A "):
                tokens = re.findall(r"'(?:[^']|'')*'|\$S\[\d+\]", line[5:])
                argv = [secrets[0] if t.startswith("$S[") else t[1:-1].replace("''", "'") for t in tokens]
            elif not self.windows and line.startswith('"$A" ') or line.startswith('$T "$A" '):
                argv = [secrets[0] if w == "$S0" else w for w in __import__("shlex").split(line.split('"$A" ', 1)[1])]
            else:
                continue
            number += 1
            out.append("##arcguard:begin %d" % number)
            err.append("##arcguard:begin %d" % number)
            rc = 0
            if argv[:2] == ["config", "list"]:
                out.append("garbage{" if self.garbage else self.listing())
            elif argv[:2] == ["config", "set"]:
                if argv[2] == self.fail_on:
                    rc = self.rc
                    err.append("AZCM00%d: could not update %s" % (self.rc, argv[2]))
                else:
                    value = argv[3]
                    if argv[2].endswith(("list", "ports", "bypass")):
                        value = [v for v in value.split(",") if v]
                    self.settings[argv[2]] = value
                    out.append("Config property %s set to value %s" % (argv[2], argv[3]))
            elif argv[:2] == ["config", "clear"]:
                self.settings[argv[2]] = [] if argv[2].endswith(("list", "ports", "bypass")) else ""
            out.append("##arcguard:end %d %d" % (number, rc))
            err.append("##arcguard:end %d %d" % (number, rc))
            if rc:
                return {"rc": rc, "stdout": "\n".join(out) + "\n", "stderr": "\n".join(err) + "\n"}
        return {"rc": 0, "stdout": "\n".join(out) + "\n", "stderr": "\n".join(err) + "\n"}


def make_action(args, agent, windows=False, check=False, diff=False):
    task = mock.MagicMock(Task)
    task.args = args
    task.check_mode = check
    task.diff = diff
    task.async_val = 0
    connection = mock.MagicMock()
    connection._shell = PowerShell() if windows else Sh()
    play_context = mock.MagicMock()
    play_context.check_mode = check
    action = ActionModule(task, connection, play_context, loader=DataLoader(), templar=Templar(loader=DataLoader()),
                          shared_loader_obj=None)
    action._low_level_execute_command = agent
    return action


@pytest.mark.parametrize("windows", [False, True])
def test_converged_host_costs_one_command(windows):
    agent = FakeAgent({"extensions.allowlist": ["Microsoft.Azure.Monitor/AzureMonitor%sAgent"
                                                % ("Windows" if windows else "Linux")]}, windows=windows)
    result = make_action({"extensions_allowlist": ["azure_monitor_agent"]}, agent, windows).run(task_vars={})
    assert not result.get("failed"), result
    assert result["changed"] is False
    assert len(agent.scripts) == 1
    assert result["os"] == ("windows" if windows else "linux")


@pytest.mark.parametrize("windows", [False, True])
def test_drift_costs_two_commands_and_reads_back(windows):
    agent = FakeAgent(windows=windows)
    result = make_action({"extensions_allowlist": ["azure_monitor_agent"], "guestconfiguration_enabled": False},
                         agent, windows).run(task_vars={})
    assert result["changed"] is True, result
    assert len(agent.scripts) == 2
    assert [c["property"] for c in result["changes"]] == ["guestconfiguration.enabled", "extensions.allowlist"]
    assert result["config"]["guestconfiguration.enabled"] is False
    assert "diff" not in result


@pytest.mark.parametrize("windows", [False, True])
def test_check_mode_plans_without_writing(windows):
    agent = FakeAgent(windows=windows)
    result = make_action({"guestconfiguration_enabled": False}, agent, windows, check=True, diff=True).run(task_vars={})
    assert result["changed"] is True
    assert len(agent.scripts) == 1
    assert agent.settings["guestconfiguration.enabled"] == "true"
    assert "guestconfiguration.enabled" in result["commands"][0]
    assert result["diff"]["before"]["guestconfiguration.enabled"] is True
    assert result["diff"]["after"]["guestconfiguration.enabled"] is False


def test_failure_in_the_middle_says_what_was_applied():
    agent = FakeAgent(fail_on="extensions.allowlist")
    result = make_action({"guestconfiguration_enabled": False, "extensions_allowlist": ["azure_monitor_agent"],
                          "extensions_enabled": False}, agent).run(task_vars={})
    assert result["failed"] is True
    assert result["changed"] is True
    assert [c["property"] for c in result["changes"]] == ["guestconfiguration.enabled", "extensions.enabled"]
    assert result["not_applied"] == ["extensions.allowlist"]
    assert "Applied before it: guestconfiguration.enabled, extensions.enabled" in result["msg"]
    assert result["rc"] == 69 and "AZCM0069" in result["stderr"]


def test_not_elevated_says_what_to_do():
    agent = FakeAgent(fail_on="guestconfiguration.enabled", rc=18)
    result = make_action({"guestconfiguration_enabled": False}, agent).run(task_vars={})
    assert result["failed"] and "become: true" in result["msg"]


def test_missing_agent():
    result = make_action({"mode": "full"}, FakeAgent(missing=True)).run(task_vars={})
    assert result["failed"] and "azcmagent was not found" in result["msg"]


def test_garbage_output_fails_with_the_output():
    result = make_action({"mode": "full"}, FakeAgent(garbage=True)).run(task_vars={})
    assert result["failed"] and "could not understand" in result["msg"]
    assert "garbage{" in result["stdout"]


def test_bad_input_runs_nothing():
    agent = FakeAgent()
    result = make_action({"extensions_allowlist": ["Allow/None", "azure_monitor_agent"]}, agent).run(task_vars={})
    assert result["failed"] and not agent.scripts


@pytest.mark.parametrize("windows", [False, True])
def test_proxy_password_never_in_the_result(windows):
    agent = FakeAgent(windows=windows)
    result = make_action({"proxy_url": "http://svc:S3cr3tPw@proxy.example.com:3128"}, agent, windows,
                         diff=True).run(task_vars={})
    assert result["changed"], result
    assert "S3cr3tPw" not in json.dumps(result)
    assert all("S3cr3tPw" not in s for s in agent.scripts)
    assert b"S3cr3tPw" in agent.stdin[1]


def test_strict_turns_warnings_into_failures_before_anything_runs():
    agent = FakeAgent()
    result = make_action({"extensions_allowlist": ["custom_script"], "strict": True}, agent).run(task_vars={})
    assert result["failed"] and "runs arbitrary scripts" in result["msg"]
    assert not agent.scripts


# --------------------------------------------------------------- docs

def _docs(name):
    import importlib
    module = importlib.import_module("ansible_collections.arcguard.azcmagent.plugins.modules.%s" % name)
    return yaml.safe_load(module.DOCUMENTATION), yaml.safe_load(module.RETURN)


def test_return_documents_what_success_returns():
    _doc, ret = _docs("azcmagent_config")
    agent = FakeAgent()
    result = make_action({"guestconfiguration_enabled": False}, agent).run(task_vars={})
    for key in result:
        if key in ("failed", "warnings", "invocation", "_ansible_verbose_always", "diff"):
            continue
        assert key in ret, key


@pytest.mark.parametrize("windows", [False, True])
def test_builtin_profile_resolves_per_os(windows):
    agent = FakeAgent(windows=windows)
    result = make_action({"profile": "defender"}, agent, windows).run(task_vars={})
    assert result["changed"], result
    suffix = "Windows" if windows else "Linux"
    assert sorted(result["config"]["extensions.allowlist"]) == sorted([
        "Microsoft.Azure.Monitor/AzureMonitor%sAgent" % suffix,
        "Microsoft.Azure.AzureDefenderForServers/MDE.%s" % suffix])
    assert result["config"]["incomingconnections.enabled"] is False


def test_user_profile_overrides_and_explicit_options_win():
    agent = FakeAgent()
    result = make_action({"profile": "mine", "profiles": {"mine": {"options": {
        "extensions_allowlist": ["qualys"], "guestconfiguration_enabled": False}}},
        "overrides": {"guestconfiguration_enabled": True}, "extensions_enabled": False}, agent).run(task_vars={})
    assert result["config"]["extensions.allowlist"] == ["Qualys/LinuxAgent.AzureSecurityCenter"]
    assert result["config"]["guestconfiguration.enabled"] is True
    assert result["config"]["extensions.enabled"] is False


@pytest.mark.parametrize("args, message", [
    ({"profile": "nope"}, "nope is not a profile"),
    ({"profile": "mine", "profiles": {"mine": {"options": {"executable": "/bin/sh"}}}}, "cannot be set by a profile"),
    ({"profile": "mine", "profiles": {"mine": {"options": {"guestconfiguration_enabled": "maybe"}}}}, "profile mine"),
    ({"overrides": {"mode": "full"}}, "overrides needs profile"),
])
def test_bad_profiles_fail_before_anything_runs(args, message):
    agent = FakeAgent()
    result = make_action(args, agent).run(task_vars={})
    assert result["failed"] and message in result["msg"], result
    assert not agent.scripts
