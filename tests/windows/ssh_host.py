"""Start and stop a test SSH "Windows host" for tests: OpenSSH's sshd on loopback, run with its own
configuration in a temporary directory, key authentication only, and ssh_shell.py as its ForceCommand
(the PowerShell Ansible sends is run by the WinRM test endpoint's interpreter against the stand-in).

Needs Debian's openssh-server (scripts/bootstrap.sh sshd) and root: sshd runs as root for its
privilege separation and the test logs in as root.
"""

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from tests.windows.winrm_endpoint import install_agent

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHELL = os.path.join(ROOT, "tests", "windows", "ssh_shell.py")
STANDIN = os.path.join(ROOT, "roles", "emulator", "files", "azcmagent_standin.py")
PRIVSEP_DIR = "/run/sshd"  # compiled into Debian's sshd


def sshd_binary():
    for path in (shutil.which("sshd"), "/usr/sbin/sshd"):
        if path and os.access(path, os.X_OK):
            return os.path.abspath(path)
    return None


def unavailable():
    """Why no test SSH host can run here, or None."""
    if sshd_binary() is None:
        return "OpenSSH's sshd is not installed (scripts/bootstrap.sh sshd installs Debian's openssh-server)"
    if os.geteuid() != 0:
        return "the test SSH host needs root (sshd's privilege separation, login as root)"
    if shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        return "the OpenSSH client (ssh, ssh-keygen) is not installed"
    return None


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def keygen(path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", os.path.basename(path), "-f", path],
                   check=True, capture_output=True)


class SshHost:
    """One Windows host reached over SSH. ``root`` is its Windows file system (C:\\X is ``root``/X)."""

    def __init__(self, root, no_agent=False, agent_command=None):
        self.root = str(root)
        os.makedirs(self.root, exist_ok=True)
        if not no_agent:
            install_agent(self.root)
        # sockets in here: keep the path short (Unix socket paths are limited to 107 bytes)
        self.dir = tempfile.mkdtemp(prefix="arcssh-")
        self.key = os.path.join(self.dir, "client_ed25519")
        self.host_key = os.path.join(self.dir, "host_ed25519")
        self.control_dir = os.path.join(self.dir, "cp")
        self.command_log = os.path.join(self.dir, "commands.jsonl")
        self.sshd_log = os.path.join(self.dir, "sshd.log")
        self.config = os.path.join(self.dir, "sshd_config")
        self.user = "root"
        self.proc = None
        os.makedirs(self.control_dir)
        keygen(self.key)
        keygen(self.host_key)
        shutil.copyfile(self.key + ".pub", os.path.join(self.dir, "authorized_keys"))
        os.makedirs(PRIVSEP_DIR, mode=0o755, exist_ok=True)
        self.force_command = " ".join(shlex.quote(w) for w in [
            sys.executable, SHELL, "--root", self.root, "--azcmagent",
            agent_command or "%s %s" % (sys.executable, STANDIN), "--log", self.command_log])
        for _attempt in range(5):
            self.port = free_port()
            if self._start():
                return
        raise RuntimeError("sshd did not start: %s" % self.log_text()[-2000:])

    def _start(self):
        with open(self.config, "w") as handle:
            handle.write("\n".join([
                "Port %d" % self.port,
                "ListenAddress 127.0.0.1",
                "HostKey %s" % self.host_key,
                "PidFile none",
                "AuthorizedKeysFile %s" % os.path.join(self.dir, "authorized_keys"),
                "AuthenticationMethods publickey",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PermitRootLogin prohibit-password",
                "AllowUsers root",
                "UsePAM no",
                # the key files are below /tmp, which is world-writable: StrictModes would refuse them
                "StrictModes no",
                "PermitUserEnvironment no",
                "AllowTcpForwarding no",
                "AllowAgentForwarding no",
                "X11Forwarding no",
                "PrintMotd no",
                # as on Windows; with ForceCommand a subsystem request reaches ssh_shell.py too (and is refused)
                "Subsystem sftp internal-sftp",
                "LogLevel VERBOSE",
                "ForceCommand %s" % self.force_command,
                "",
            ]))
        open(self.sshd_log, "w").close()
        self.proc = subprocess.Popen([sshd_binary(), "-D", "-f", self.config, "-E", self.sshd_log],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if "Server listening on 127.0.0.1 port %d" % self.port in self.log_text():
                return True
            if self.proc.poll() is not None:
                return False  # for example the port was taken in the meantime: try another one
            time.sleep(0.05)
        self.proc.kill()
        self.proc.wait()
        return False

    def host_vars(self):
        return {"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": self.port,
                "ansible_user": self.user, "ansible_ssh_private_key_file": self.key,
                "ansible_shell_type": "powershell",
                "ansible_host_key_checking": False, "ansible_ssh_common_args": "-o UserKnownHostsFile=/dev/null",
                "ansible_control_path_dir": self.control_dir}

    def ssh(self, command=None, stdin=b"", extra=()):
        """Run ``command`` on the host with the plain ssh client: CompletedProcess with bytes."""
        cmd = ["ssh", "-p", str(self.port), "-i", self.key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
               "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
               *extra, "%s@127.0.0.1" % self.user]
        if command is not None:
            cmd.append(command)
        return subprocess.run(cmd, input=stdin, capture_output=True, timeout=120, check=False)

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

    def log_text(self):
        try:
            with open(self.sshd_log, encoding="utf-8", errors="replace") as handle:
                return handle.read()
        except FileNotFoundError:
            return ""

    def _children(self):
        """Processes our sshd forked (one per connection still open)."""
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % entry) as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid:
                pids.append(int(entry))
        return pids

    def stop(self):
        # close the connections Ansible's ssh left open (ControlPersist) so nothing outlives the test
        for name in os.listdir(self.control_dir):
            subprocess.run(["ssh", "-o", "ControlPath=" + os.path.join(self.control_dir, name), "-O", "exit",
                            "127.0.0.1"], capture_output=True, timeout=30, check=False)
        if self.proc is not None and self.proc.poll() is None:
            for pid in self._children():
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
