# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is implemented by the action plugin of the same name (plugins/action/azcmagent_info.py).

DOCUMENTATION = r"""
module: azcmagent_info
short_description: Read the Azure Connected Machine agent's state, settings and installed extensions
version_added: 0.1.0
description:
  - Reads, in one remote command, the agent's version and connection status (C(azcmagent version),
    C(azcmagent show --json)), its local settings (C(azcmagent config list --json)), the properties this agent
    version supports (C(azcmagent config info --json)), and the extensions installed in the documented folders.
  - Reports the installed extensions that the current allowlist and blocklist would no longer allow. Setting a
    list never removes what is already installed, so these keep running until they are removed.
  - Gives each installed extension its lifecycle from the collection's extension catalog (V(current),
    V(deprecated) or V(retired), with the date, Microsoft's replacement and the source).
  - A host without the agent is a result (RV(agent.installed=false)), not a failure. Parts that cannot be read
    (for example the settings without elevation) are reported in RV(errors).
  - Read-only. Runs on the controller and needs no Python on the target (Linux through C(/bin/sh), Windows through
    PowerShell).
author:
  - arcguard maintainers (@arcguard)
extends_documentation_fragment:
  - arcguard.azcmagent.azcmagent
  - arcguard.azcmagent.azcmagent.attributes
options:
  timeout:
    default: 120
attributes:
  check_mode:
    support: full
    description: Read-only; the same in check mode.
  diff_mode:
    support: none
    description: Nothing to compare.
  idempotent:
    support: full
    description: Never changes anything.
seealso:
  - module: arcguard.azcmagent.azcmagent_config
"""

EXAMPLES = r"""
- name: Read the agent
  arcguard.azcmagent.azcmagent_info:
  register: arc
  become: true

- name: Fail when an installed extension is no longer allowed
  ansible.builtin.assert:
    that: arc.blocked_installed | length == 0
    fail_msg: "Remove {{ arc.blocked_installed | map(attribute='name') | join(', ') }}"

- name: Say which installed extensions Microsoft has retired, and what replaces them
  ansible.builtin.debug:
    msg: "{{ item.name }} is retired ({{ item.lifecycle.event }} {{ item.lifecycle.date }}); use {{ item.lifecycle.replacement_name }}"
  loop: "{{ arc.installed_extensions | selectattr('lifecycle.status', 'equalto', 'retired') }}"
  loop_control:
    label: "{{ item.name }}"
"""

RETURN = r"""
changed:
  description: Always false.
  returned: always
  type: bool
  sample: false
os:
  description: The target's OS family, from the connection's shell.
  returned: always
  type: str
  sample: linux
agent:
  description: The agent itself.
  returned: always
  type: dict
  contains:
    installed:
      description: Whether the agent was found.
      type: bool
    version:
      description: The agent version, C(major.minor.build.revision).
      type: str
      sample: 1.64.03414.2961
    status:
      description: The connection status reported by C(azcmagent show) (C(Connected), C(Disconnected), C(Expired)).
      type: str
    executable:
      description: The azcmagent that was run.
      type: str
    support:
      description:
        - Whether Microsoft still supports this agent version (only versions released in the last 12 months are),
          judged at every run from the version read now (the agent may upgrade itself) and the collection's table of
          release dates (docs/extensions.md). Never a failure.
      type: dict
      contains:
        version:
          description: The version judged, as the agent printed it.
          type: str
        status:
          description:
            - V(supported) (released within the window for certain), V(unsupported) (released before it for
              certain), or V(unknown) (the version cannot be read, or the table cannot place its release date).
          type: str
        released_from:
          description: The earliest date it can have been released (ISO 8601), or null.
          type: str
        released_by:
          description: The latest date it can have been released (ISO 8601), or null.
          type: str
        support_ends:
          description: The latest date its support can end (ISO 8601), or null.
          type: str
        message:
          description: What to do, for V(unsupported) and V(unknown); null for V(supported).
          type: str
  sample: {installed: true, version: 1.64.03414.2961, status: Connected}
findings:
  description:
    - Advice that needs attention but is no failure (also where C(strict) is set elsewhere) - an agent older than
      Microsoft's 12-month support window, or one whose version cannot be read.
  returned: always
  type: list
  elements: str
config:
  description: The local settings by azcmagent property name (lists as lists, booleans as booleans); proxy credentials
    replaced by C(********).
  returned: always
  type: dict
effective:
  description:
    - What the agent enforces. In monitor mode the allowlist is Microsoft's (C(managed by Microsoft (monitor mode))),
      and guest configuration and incoming connections are off, whatever is stored.
  returned: always
  type: dict
supported_properties:
  description: The properties this agent version supports.
  returned: always
  type: list
  elements: str
installed_extensions:
  description: Extensions found in the documented extension folders.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: C(Publisher/Type).
      type: str
    publisher:
      description: The publisher.
      type: str
    type:
      description: The type.
      type: str
    version:
      description: The installed version.
      type: str
    lifecycle:
      description:
        - What Microsoft has said about the extension's future, from the collection's extension catalog (the
          collection's docs/extensions.md lists every entry).
      type: dict
      contains:
        status:
          description:
            - V(current) (no deprecation or retirement notice known), V(deprecated), V(retired) (past the date after
              which Microsoft no longer supports it), or V(unknown) (not in the catalog).
          type: str
          sample: retired
        alias:
          description: The catalog alias, V(null) when unknown.
          type: str
          sample: log_analytics
        date:
          description: The date of the notice's event (ISO 8601), V(null) for a current or unknown extension.
          type: str
          sample: "2024-08-31"
        event:
          description: What happens at RV(installed_extensions[].lifecycle.date).
          type: str
          sample: not supported after
        notice:
          description: Microsoft's own words.
          type: str
          sample: on a deprecation path and won't be supported after August 31, 2024
        replacement:
          description: The alias of the extension Microsoft names instead, V(null) where it names none.
          type: str
          sample: azure_monitor_agent
        replacement_name:
          description: The replacement's C(Publisher/Type) on this host's OS.
          type: str
          sample: Microsoft.Azure.Monitor/AzureMonitorLinuxAgent
        advice:
          description: What else the notice recommends, if anything.
          type: str
        sources:
          description: Where Microsoft says so, each with C(document) and C(url) (V(null) where there is no single page).
          type: list
          elements: dict
blocked_installed:
  description:
    - Installed extensions that the current lists would no longer allow, with a C(reason), each as in
      RV(installed_extensions).
  returned: always
  type: list
  elements: dict
errors:
  description: Parts that could not be read, and why.
  returned: always
  type: list
  elements: str
"""
