"""Linux hosts reached over OpenSSH on loopback, for tests and the benchmark.

Every host has its own loopback address (127.0.0.N; all of 127.0.0.0/8 is loopback on Linux). sshd
listens on at most 16 addresses per daemon, so one daemon serves each block of 16 hosts. The daemons are
tests/lib/sshd.py's: their own configuration in a temporary directory, key authentication only, as root
(login as root, an ordinary shell: commands run on this machine, against the stand-in of each host's own
directory).

Needs Debian's openssh-server (scripts/bootstrap.sh sshd) and root.

    ssh = SshFleet(["h0000", "h0001"])
    ssh.host_vars("h0000")  # -> ansible_host, ansible_port, ansible_user, key, ...
    ssh.stop()
"""

import os
import shutil
import subprocess
import tempfile

from tests.lib import sshd

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
        self.address = {name: "127.0.0.%d" % (first + i) for i, name in enumerate(names)}
        self.port = {}
        self.daemons = []
        try:
            keys = sshd.Keys(self.dir, key_mode)
            self.key = keys.key
            lines = sshd.settings(keys, log_level="INFO")
            for index in range(0, len(names), PER_DAEMON):
                block = names[index:index + PER_DAEMON]
                number = len(self.daemons)
                daemon = sshd.Daemon(os.path.join(self.dir, "sshd_config.%d" % number),
                                     os.path.join(self.dir, "sshd.%d.log" % number),
                                     [self.address[n] for n in block], lines)
                self.daemons.append(daemon)
                for name in block:
                    self.port[name] = daemon.port
        except BaseException:
            self.stop()
            raise

    def host_vars(self, name, control_path_dir=None):
        """Inventory variables for host ``name``: Ansible's ssh connection, as users configure it."""
        return sshd.login_vars(self.address[name], self.port[name], self.key, control_path_dir)

    def ssh(self, name, command, extra=()):
        """Run ``command`` on host ``name`` with the plain ssh client: CompletedProcess with text."""
        cmd = sshd.client_argv(self.address[name], self.port[name], self.key, extra) + [command]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)

    def sessions(self):
        """Accepted logins so far, over all daemons (one per SSH connection, not per command)."""
        return sum(daemon.log_text().count("Accepted publickey") for daemon in self.daemons)

    close_masters = staticmethod(sshd.close_masters)

    def stop(self):
        for daemon in self.daemons:
            daemon.stop()
        self.daemons = []
        shutil.rmtree(self.dir, ignore_errors=True)
