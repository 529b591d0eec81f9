"""A real OpenSSH sshd on loopback for tests: its own configuration, host key and client key in a temporary
directory, key authentication only, login as root.

``Sshd()`` is a Linux host: the login runs the user's shell, so Ansible's ``ssh`` connection runs our POSIX
scripts as it would on any server. ``Sshd(force_command=...)`` runs that command instead of every command a
client sends (tests/windows/ssh_host.py uses it to play a Windows host). Needs Debian's openssh-server
(scripts/bootstrap.sh sshd) and root: sshd runs as root for its privilege separation.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

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


class Sshd:
    """One sshd on 127.0.0.1 and a free port. ``host_vars()`` are the inventory variables to reach it."""

    def __init__(self, force_command=None, extra_config=()):
        # sockets in here: keep the path short (Unix socket paths are limited to 107 bytes)
        self.dir = tempfile.mkdtemp(prefix="arcssh-")
        self.key = os.path.join(self.dir, "client_ed25519")
        self.host_key = os.path.join(self.dir, "host_ed25519")
        self.control_dir = os.path.join(self.dir, "cp")
        self.sshd_log = os.path.join(self.dir, "sshd.log")
        self.config = os.path.join(self.dir, "sshd_config")
        self.user = "root"
        self.proc = None
        self.force_command = force_command
        self.extra_config = list(extra_config)
        os.makedirs(self.control_dir)
        keygen(self.key)
        keygen(self.host_key)
        shutil.copyfile(self.key + ".pub", os.path.join(self.dir, "authorized_keys"))
        os.makedirs(PRIVSEP_DIR, mode=0o755, exist_ok=True)
        for _attempt in range(5):
            self.port = free_port()
            if self._start():
                return
        raise RuntimeError("sshd did not start: %s" % self.log_text()[-2000:])

    def _start(self):
        lines = [
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
            "Subsystem sftp internal-sftp",
            "LogLevel VERBOSE",
        ] + self.extra_config
        if self.force_command:
            lines.append("ForceCommand %s" % self.force_command)
        with open(self.config, "w") as handle:
            handle.write("\n".join(lines + [""]))
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
