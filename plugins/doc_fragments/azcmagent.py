# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation shared by the modules of arcguard.azcmagent.

The options below are also the argument spec of the action plugins that take them
(plugins/plugin_utils/_options.py builds the spec from this text), so the documentation and
the spec cannot drift apart. A module may set an option's default in its own DOCUMENTATION
(only the key it gives replaces the fragment's).
"""

from __future__ import annotations


class ModuleDocFragment:

    # The options of every module that runs azcmagent on the target.
    DOCUMENTATION = r"""
options:
  executable:
    description:
      - The azcmagent to run, a path on the target.
      - Default on Linux C(/opt/azcmagent/bin/azcmagent), then C(azcmagent) on C(PATH); on Windows
        C(%ProgramFiles%\AzureConnectedMachineAgent\azcmagent.exe) (using C($env:ProgramW6432) from 32-bit hosts).
    type: str
  extensions_path:
    description:
      - Where installed extensions live on the target. Default C(/var/lib/waagent) on Linux and
        C(%SystemDrive%\Packages\Plugins) on Windows, where the agent keeps them.
    type: str
  timeout:
    description:
      - Seconds each azcmagent invocation may take before it is stopped and the task fails. V(0) means no limit.
      - Applied on POSIX targets with C(timeout) from coreutils when it is present. On Windows use the task keyword
        C(timeout).
    type: int
"""

    # The attributes of every module that runs azcmagent on the target.
    ATTRIBUTES = r"""
attributes:
  action:
    support: full
    description: Implemented as an action plugin that runs on the controller.
  platform:
    support: full
    description: Linux and other POSIX targets through /bin/sh, Windows targets through PowerShell.
    platforms: [posix, windows]
"""

    # Where a module that runs on the controller only runs (it documents its own action attribute).
    CONTROLLER_ATTRIBUTES = r"""
attributes:
  action:
    support: full
    description: Implemented as an action plugin that runs on the controller; no host is contacted.
  platform:
    support: full
    description: Runs on the controller.
    platforms: [posix]
"""

    # The diff and idempotence of a module that only reads and reports (it documents its own check_mode).
    READ_ONLY_ATTRIBUTES = r"""
attributes:
  diff_mode:
    support: none
    description: Nothing to compare.
  idempotent:
    support: full
    description: Reports nothing as changed.
"""
