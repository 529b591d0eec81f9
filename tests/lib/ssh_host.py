"""Start and stop a test SSH "Windows host" for tests: OpenSSH's sshd on loopback (tests/lib/sshd.py) with
ssh_shell.py as its ForceCommand (the PowerShell Ansible sends is run by the WinRM test endpoint's interpreter
against the stand-in).

Needs Debian's openssh-server (scripts/bootstrap.sh sshd) and root: sshd runs as root for its
privilege separation and the test logs in as root.
"""

import json
import os
import shlex
import sys

# unavailable is imported by the tests from here
from tests.lib.sshd import Sshd, unavailable  # noqa: F401  pylint: disable=unused-import
from tests.lib.winrm_endpoint import install_agent

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHELL = os.path.join(ROOT, "tests", "lib", "ssh_shell.py")
STANDIN = os.path.join(ROOT, "roles", "emulator", "files", "azcmagent_standin")


class SshHost(Sshd):
    """One Windows host reached over SSH. ``root`` is its Windows file system (C:\\X is ``root``/X)."""

    def __init__(self, root, no_agent=False, agent_command=None):
        self.root = str(root)
        os.makedirs(self.root, exist_ok=True)
        if not no_agent:
            install_agent(self.root)
        log_dir = os.path.join(self.root, ".ssh-test-host")
        os.makedirs(log_dir, exist_ok=True)
        self.command_log = os.path.join(log_dir, "commands.jsonl")
        super().__init__(force_command=" ".join(shlex.quote(w) for w in [
            sys.executable, SHELL, "--root", self.root, "--azcmagent",
            agent_command or "%s %s" % (sys.executable, STANDIN), "--log", self.command_log]))

    def host_vars(self):
        return dict(super().host_vars(), ansible_shell_type="powershell")

    def agent_path(self):
        return os.path.join(self.root, "Program Files", "AzureConnectedMachineAgent", "azcmagent.exe")

    def commands(self):
        """What ssh_shell.py received: [{"command", "script", "rc", "refused"}], oldest first."""
        try:
            with open(self.command_log, encoding="utf-8") as handle:
                return [json.loads(line) for line in handle if line.strip()]
        except FileNotFoundError:
            return []

    def clear_commands(self):
        try:
            os.unlink(self.command_log)
        except FileNotFoundError:
            pass
