"""A real OpenSSH sshd on loopback for tests: its own configuration, host key and client key in a temporary
directory, key authentication only, login as root.

``Sshd()`` is a Linux host: the login runs the user's shell, so Ansible's ``ssh`` connection runs our POSIX
scripts as it would on any server. ``Sshd(force_command=...)`` runs that command instead of every command a
client sends (tests/lib/ssh_host.py uses it to play a Windows host). Needs Debian's openssh-server
(scripts/bootstrap.sh sshd) and root: sshd runs as root for its privilege separation.

The pieces (``Keys``, ``Daemon``, ``login_vars``, ``client_argv``, ``close_masters``) also serve
tests/lib/sshfleet.py, which runs one daemon per 16 loopback addresses.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

PRIVSEP_DIR = "/run/sshd"  # compiled into Debian's sshd
USER = "root"


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


def read_text(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except FileNotFoundError:
        return ""


class Keys:
    """A client key, a host key and the authorized_keys that lets the client in, all in ``directory``.

    ``key_mode``: the client key's mode (0o644 lets another user, such as an execution environment's
    unprivileged user, read it).
    """

    def __init__(self, directory, key_mode=0o600):
        self.key = os.path.join(directory, "client_ed25519")
        self.host_key = os.path.join(directory, "host_ed25519")
        self.authorized_keys = os.path.join(directory, "authorized_keys")
        keygen(self.key)
        keygen(self.host_key)
        os.chmod(self.key, key_mode)
        shutil.copyfile(self.key + ".pub", self.authorized_keys)


def settings(keys, log_level="VERBOSE", extra=()):
    """The sshd_config lines (but Port and ListenAddress) of a test host that ``keys`` log in to as root."""
    return [
        "HostKey %s" % keys.host_key,
        "PidFile none",
        "AuthorizedKeysFile %s" % keys.authorized_keys,
        "AuthenticationMethods publickey",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password",
        "AllowUsers %s" % USER,
        "UsePAM no",
        "UseDNS no",
        # the key files are below /tmp, which is world-writable: StrictModes would refuse them
        "StrictModes no",
        "PermitUserEnvironment no",
        "AllowTcpForwarding no",
        "AllowAgentForwarding no",
        "X11Forwarding no",
        "PrintMotd no",
        "PrintLastLog no",
        # a fleet's forks open many connections at once
        "MaxStartups 200:30:400",
        "MaxSessions 64",
        "Subsystem sftp internal-sftp",
        "LogLevel %s" % log_level,
    ] + list(extra)


class Daemon:
    """One sshd listening on every one of ``addresses`` at one free port, configured by ``lines`` (see
    ``settings``); its configuration is written to ``config`` and its log to ``log``."""

    def __init__(self, config, log, addresses, lines):
        self.config = config
        self.log = log
        self.addresses = list(addresses)
        self.lines = list(lines)
        self.proc = None
        self.port = None
        os.makedirs(PRIVSEP_DIR, mode=0o755, exist_ok=True)
        for _attempt in range(5):
            self.port = free_port()
            if self._start():
                return
        raise RuntimeError("sshd did not start on %s: %s" % (", ".join(self.addresses), self.log_text()[-2000:]))

    def _start(self):
        with open(self.config, "w") as handle:
            handle.write("\n".join(["Port %d" % self.port] + ["ListenAddress %s" % a for a in self.addresses]
                                   + self.lines + [""]))
        open(self.log, "w").close()
        self.proc = subprocess.Popen([sshd_binary(), "-D", "-f", self.config, "-E", self.log],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            text = self.log_text()
            if all("Server listening on %s port %d" % (a, self.port) in text for a in self.addresses):
                return True
            if self.proc.poll() is not None:
                return False  # for example the port was taken on one of the addresses: try another one
            time.sleep(0.05)
        self.proc.kill()
        self.proc.wait()
        return False

    def log_text(self):
        return read_text(self.log)

    def children(self):
        """Processes this sshd forked (one per connection still open)."""
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
        """End the open connections, then the daemon."""
        if self.proc is None or self.proc.poll() is not None:
            return
        for pid in self.children():
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


def login_vars(address, port, key, control_path_dir=None):
    """Inventory variables to reach a test host with Ansible's ssh connection, as users configure it."""
    out = {"ansible_connection": "ssh", "ansible_host": address, "ansible_port": port,
           "ansible_user": USER, "ansible_ssh_private_key_file": key,
           "ansible_host_key_checking": False,
           "ansible_ssh_common_args": "-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no"}
    if control_path_dir:
        out["ansible_control_path_dir"] = control_path_dir
    return out


def client_argv(address, port, key, extra=()):
    """The plain ssh client's command line to log in to a test host (the remote command goes after it)."""
    return ["ssh", "-p", str(port), "-i", key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            *extra, "%s@%s" % (USER, address)]


def close_masters(control_path_dir):
    """Close the ControlPersist masters Ansible's ssh left in ``control_path_dir``."""
    if not os.path.isdir(control_path_dir):
        return
    for name in os.listdir(control_path_dir):
        subprocess.run(["ssh", "-o", "ControlPath=" + os.path.join(control_path_dir, name), "-O", "exit",
                        "127.0.0.1"], capture_output=True, timeout=30, check=False)


class Sshd:
    """One sshd on 127.0.0.1 and a free port. ``host_vars()`` are the inventory variables to reach it."""

    ADDRESS = "127.0.0.1"

    def __init__(self, force_command=None, extra_config=()):
        # sockets in here: keep the path short (Unix socket paths are limited to 107 bytes)
        self.dir = tempfile.mkdtemp(prefix="arcssh-")
        self.control_dir = os.path.join(self.dir, "cp")
        self.user = USER
        self.force_command = force_command
        self.daemon = None
        try:
            os.makedirs(self.control_dir)
            self.keys = Keys(self.dir)
            self.key, self.host_key = self.keys.key, self.keys.host_key
            self.config = os.path.join(self.dir, "sshd_config")
            self.sshd_log = os.path.join(self.dir, "sshd.log")
            extra = list(extra_config) + (["ForceCommand %s" % force_command] if force_command else [])
            self.daemon = Daemon(self.config, self.sshd_log, [self.ADDRESS], settings(self.keys, "VERBOSE", extra))
        except BaseException:
            self.stop()
            raise
        self.port = self.daemon.port

    @property
    def proc(self):
        return self.daemon.proc if self.daemon else None

    def host_vars(self):
        return login_vars(self.ADDRESS, self.port, self.key, self.control_dir)

    def ssh(self, command=None, stdin=b"", extra=()):
        """Run ``command`` on the host with the plain ssh client: CompletedProcess with bytes."""
        cmd = client_argv(self.ADDRESS, self.port, self.key, extra)
        if command is not None:
            cmd.append(command)
        return subprocess.run(cmd, input=stdin, capture_output=True, timeout=120, check=False)

    def log_text(self):
        return self.daemon.log_text() if self.daemon else ""

    def stop(self):
        # close the connections Ansible's ssh left open (ControlPersist) so nothing outlives the test
        close_masters(self.control_dir)
        if self.daemon is not None:
            self.daemon.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
