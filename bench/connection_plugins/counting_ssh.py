# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible's ssh connection, counting remote commands: each exec_command appends a line to
$ARCGUARD_BENCH_COUNTS/<remote address>. Used by the benchmark only."""

from __future__ import annotations

import os
import re

from ansible.plugins.connection import ssh

# the ssh connection's own options (ControlPersist, pipelining, ...), under this plugin's name
DOCUMENTATION = re.sub(r"^(\s*)name: ssh$", r"\1name: counting_ssh", ssh.DOCUMENTATION, count=1, flags=re.M)


class Connection(ssh.Connection):

    transport = "counting_ssh"

    def exec_command(self, cmd, in_data=None, sudoable=True):
        directory = os.environ.get("ARCGUARD_BENCH_COUNTS")
        if directory:
            host = getattr(self._play_context, "remote_addr", None) or self.host
            with open(os.path.join(directory, str(host)), "a") as handle:
                handle.write("1\n")
        return super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
