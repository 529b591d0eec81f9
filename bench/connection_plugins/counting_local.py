# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The local connection, counting remote commands: each exec_command appends a line to
$ARCGUARD_BENCH_COUNTS/<inventory host>. Used by the benchmark only."""

from __future__ import annotations

DOCUMENTATION = """
name: counting_local
short_description: local connection that counts the commands it runs (benchmark only)
description:
  - Runs commands on the controller like ansible.builtin.local and appends one line per command to a file
    named after the inventory host in the directory given by the ARCGUARD_BENCH_COUNTS environment variable.
author: arcguard maintainers
extends_documentation_fragment:
  - connection_pipelining
options: {}
"""

import os

from ansible.plugins.connection.local import Connection as LocalConnection


class Connection(LocalConnection):

    transport = "counting_local"

    def exec_command(self, cmd, in_data=None, sudoable=True):
        directory = os.environ.get("ARCGUARD_BENCH_COUNTS")
        if directory:
            host = self.get_option("remote_addr") if self.has_option("remote_addr") else "unknown"
            host = getattr(self._play_context, "remote_addr", None) or host
            with open(os.path.join(directory, str(host)), "a") as handle:
                handle.write("1\n")
        return super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
