"""Linux hosts reached over OpenSSH on loopback, for tests and the benchmark.

Every host has its own loopback address (127.0.0.N; all of 127.0.0.0/8 is loopback on Linux). sshd
listens on at most 16 addresses per daemon, so one daemon serves each block of 16 hosts. The daemons run
with their own configuration in a temporary directory, key authentication only, as root (login as root,
an ordinary shell: commands run on this machine, against the stand-in of each host's own directory).

Needs Debian's openssh-server (scripts/bootstrap.sh sshd) and root.

    ssh = SshFleet(["h0000", "h0001"])
    ssh.host_vars("h0000")  # -> ansible_host, ansible_port, ansible_user, key, ...
    ssh.stop()
"""

import os
import shutil
import signal
import subprocess
import tempfile
import time

from tests.lib import sshd
from tests.lib.sshd import PRIVSEP_DIR, free_port, keygen, sshd_binary

PER_DAEMON = 16  # sshd's limit of ListenAddress entries


def unavailable():
    """Why no loopback SSH host can run here, or None."""
    return sshd.unavailable()


class SshFleet:
    """``names`` reached at 127.0.0.<first>, <first+1>, ...: one sshd per 16 of them."""

    def __init__(self, names, first=2, key_mode=0o600):
        names = list(names)
        if first < 1 or first + len(names) > 255:
            raise ValueError("127.0.0.%d-%d is not a usable range of addresses" % (first, first + len(names) - 1))
        # the control sockets of Ansible's ssh live in here: keep the path short (Unix sockets: 107 bytes)
        self.dir = tempfile.mkdtemp(prefix="arcsshf-")
        os.chmod(self.dir, 0o755)
        self.key = os.path.join(self.dir, "client_ed25519")
        self.host_key = os.path.join(self.dir, "host_ed25519")
        keygen(self.key)
        keygen(self.host_key)
        # a key readable by another user (an execution environment's unprivileged user) when asked
        os.chmod(self.key, key_mode)
        shutil.copyfile(self.key + ".pub", os.path.join(self.dir, "authorized_keys"))
        os.makedirs(PRIVSEP_DIR, mode=0o755, exist_ok=True)
        self.address = {name: "127.0.0.%d" % (first + i) for i, name in enumerate(names)}
        self.port = {}
        self.daemons = []
        try:
            for index in range(0, len(names), PER_DAEMON):
                block = names[index:index + PER_DAEMON]
                port, proc, log = self._daemon(len(self.daemons), [self.address[n] for n in block])
                self.daemons.append((proc, log))
                for name in block:
                    self.port[name] = port
        except BaseException:
            self.stop()
            raise

    def _config(self, path, port, addresses):
        with open(path, "w") as handle:
            handle.write("\n".join(
                ["Port %d" % port] + ["ListenAddress %s" % a for a in addresses] + [
                    "HostKey %s" % self.host_key,
                    "PidFile none",
                    "AuthorizedKeysFile %s" % os.path.join(self.dir, "authorized_keys"),
                    "AuthenticationMethods publickey",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PermitRootLogin prohibit-password",
                    "AllowUsers root",
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
                    # many forks open connections at once
                    "MaxStartups 200:30:400",
                    "MaxSessions 64",
                    "Subsystem sftp internal-sftp",
                    "LogLevel INFO",
                    "",
                ]))

    def _daemon(self, index, addresses):
        config = os.path.join(self.dir, "sshd_config.%d" % index)
        log = os.path.join(self.dir, "sshd.%d.log" % index)
        for _attempt in range(5):
            port = free_port()
            self._config(config, port, addresses)
            open(log, "w").close()
            proc = subprocess.Popen([sshd_binary(), "-D", "-f", config, "-E", log], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                text = _read(log)
                if all("Server listening on %s port %d" % (a, port) in text for a in addresses):
                    return port, proc, log
                if proc.poll() is not None:
                    break  # for example the port was taken on one of the addresses: try another one
                time.sleep(0.05)
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        raise RuntimeError("sshd did not start on %s: %s" % (", ".join(addresses), _read(log)[-2000:]))

    def host_vars(self, name, control_path_dir=None):
        """Inventory variables for host ``name``: Ansible's ssh connection, as users configure it."""
        out = {"ansible_connection": "ssh", "ansible_host": self.address[name], "ansible_port": self.port[name],
               "ansible_user": "root", "ansible_ssh_private_key_file": self.key,
               "ansible_host_key_checking": False,
               "ansible_ssh_common_args": "-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no"}
        if control_path_dir:
            out["ansible_control_path_dir"] = control_path_dir
        return out

    def ssh(self, name, command, extra=()):
        """Run ``command`` on host ``name`` with the plain ssh client: CompletedProcess with text."""
        cmd = ["ssh", "-p", str(self.port[name]), "-i", self.key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
               "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
               *extra, "root@%s" % self.address[name], command]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)

    def sessions(self):
        """Accepted logins so far, over all daemons (one per SSH connection, not per command)."""
        return sum(_read(log).count("Accepted publickey") for _proc, log in self.daemons)

    @staticmethod
    def close_masters(control_path_dir):
        """Close the ControlPersist masters Ansible's ssh left in ``control_path_dir``."""
        if not os.path.isdir(control_path_dir):
            return
        for name in os.listdir(control_path_dir):
            subprocess.run(["ssh", "-o", "ControlPath=" + os.path.join(control_path_dir, name), "-O", "exit", "x"],
                           capture_output=True, timeout=30, check=False)

    def stop(self):
        for proc, _log in self.daemons:
            if proc.poll() is None:
                for pid in _children(proc.pid):
                    try:
                        os.kill(pid, signal.SIGTERM)
                    except ProcessLookupError:
                        pass
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.daemons = []
        shutil.rmtree(self.dir, ignore_errors=True)


def _read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except FileNotFoundError:
        return ""


def _children(parent):
    """Processes ``parent`` forked (one per connection still open)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            pids.append(int(entry))
    return pids
