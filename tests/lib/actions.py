"""The one harness for driving the action plugins in unit tests: a stand-in host behind a connection double.

A ``Target`` is one host with the project's azcmagent stand-in installed. Its connection runs every remote
command the way the real shells would: POSIX scripts with /bin/sh, PowerShell scripts (decoded from
-EncodedCommand) in the WinRM test endpoint's interpreter, which refuses any construct the runner does not
emit. Standard input reaches the script as it would over the connection. Every remote command is recorded.
"""

import os
import subprocess
import sys
from unittest import mock

from ansible.parsing.dataloader import DataLoader
from ansible.playbook.task import Task
from ansible.plugins.shell.powershell import ShellModule as PowerShell
from ansible.plugins.shell.sh import ShellModule as Sh
from ansible.template import Templar

from tests.lib import fleet
from tests.lib.winrm_endpoint import Host, decode_command, install_agent, run_script

PREFIX = "ansible_collections.arcguard.azcmagent.plugins.action."
# the actions whose task takes the path options (where the stand-in host keeps its agent and extensions)
TARGET_ACTIONS = ("azcmagent_config", "azcmagent_info")


def action_class(name):
    module = __import__(PREFIX + name, fromlist=["ActionModule"])
    return module.ActionModule


class Target:
    """One stand-in host (``linux`` or ``windows``) and a connection to it that records remote commands.

    ``control``: the stand-in's control file (variants, faults, version; see docs/standin.md); ``state``: its
    stored settings; ``installed=False``: no agent on the host.
    """

    def __init__(self, root, flavour="linux", control=None, state=None, installed=True):
        self.root = str(root)
        self.flavour = flavour
        self.commands = []
        self.stdin = []
        if flavour == "windows":
            os.makedirs(self.root, exist_ok=True)
            if installed:
                install_agent(self.root)
            fleet.write_control(self.root, control or {}, "windows")
            if state:
                fleet.set_state(self.root, state, "windows")
            self.host = Host(self.root, [sys.executable, fleet.STANDIN])
            self.exe = None
        else:
            self.exe = fleet.make_host(self.root, control=control, state=state)
            if not installed:
                self.exe = os.path.join(self.root, "opt", "azcmagent", "bin", "azcmagent")
            self.bin = fleet.service_shims(self.root)

    # ---------------------------------------------------------------- the connection
    def __call__(self, cmd, sudoable=True, in_data=None):
        self.commands.append(cmd)
        self.stdin.append(in_data)
        if self.flavour == "windows":
            rc, out, err = run_script(self.host, decode_command(cmd, ""), in_data or b"")
            return {"rc": rc, "stdout": out.decode("utf-8"), "stderr": err.decode("utf-8")}
        proc = subprocess.run(["/bin/sh", "-c", cmd], input=in_data, capture_output=True, check=False)
        return {"rc": proc.returncode, "stdout": proc.stdout.decode("utf-8"), "stderr": proc.stderr.decode("utf-8")}

    def scripts(self):
        """The scripts that ran, decoded (PowerShell from -EncodedCommand)."""
        if self.flavour == "windows":
            return [decode_command(c, "") for c in self.commands]
        return list(self.commands)

    # ---------------------------------------------------------------- the host
    def add(self, entry, version="1.0.0"):
        fleet.add_extension(self.root, entry[0], entry[1], version, self.flavour)

    def state(self):
        return fleet.read_state(self.root, self.flavour)

    def control(self, control):
        fleet.write_control(self.root, control, self.flavour)

    def invocations(self):
        return [e["argv"] for e in fleet.read_log(self.root, self.flavour)]

    def services(self):
        return [e["argv"] for e in fleet.read_service_log(self.root, self.flavour)]

    def installed(self):
        return fleet.installed_extensions(self.root, self.flavour)

    def environment(self):
        return None if self.flavour == "windows" else [{"PATH": self.bin + os.pathsep + os.environ["PATH"]}]

    # ---------------------------------------------------------------- running an action
    def action(self, name="azcmagent_config", args=None, check=False, diff=False, environment=None):
        """The action plugin ``name`` set up for one task against this host (Linux: the stand-in's paths)."""
        args = dict(args or {})
        if self.exe and name in TARGET_ACTIONS:
            args.setdefault("executable", self.exe)
            args.setdefault("extensions_path", fleet.extensions_dir(self.root))
        task = mock.MagicMock(Task)
        task.args = args
        task.action = "arcguard.azcmagent." + name
        task.check_mode = check
        task.diff = diff
        task.async_val = 0
        task.environment = environment if environment is not None else self.environment()
        connection = mock.MagicMock()
        connection._shell = PowerShell() if self.flavour == "windows" else Sh()
        play_context = mock.MagicMock(check_mode=check, remote_addr=os.path.basename(self.root))
        action = action_class(name)(task, connection, play_context, loader=DataLoader(),
                                    templar=Templar(loader=DataLoader()), shared_loader_obj=None)
        action._low_level_execute_command = self
        return action

    def run(self, name="azcmagent_config", check=False, diff=False, environment=None, task_vars=None, **args):
        """Run one task of ``name`` with ``args``; the commands and the stand-in's log start empty."""
        action = self.action(name, args, check=check, diff=diff, environment=environment)
        self.commands, self.stdin = [], []
        fleet.clear_log(self.root, self.flavour)
        return action.run(task_vars=task_vars if task_vars is not None else {})
