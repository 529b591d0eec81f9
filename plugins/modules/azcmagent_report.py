# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is implemented by the action plugin of the same name (plugins/action/azcmagent_report.py).

DOCUMENTATION = r"""
module: azcmagent_report
short_description: Write the fleet audit reports (JSON, JUnit XML, HTML) on the controller
version_added: 0.1.0
description:
  - Builds the audit report of the C(arcguard.azcmagent.audit) playbook from each host's M(arcguard.azcmagent.azcmagent_info)
    result and check-mode M(arcguard.azcmagent.azcmagent_config) result, and writes C(report.json), C(report.xml)
    (JUnit, one test case per host) and C(report.html) (one self-contained page) into O(dest).
  - Runs on the controller only; use it once per play (C(run_once)). Building and writing are linear in the number
    of hosts; each host's variables are read once.
  - With O(source=azure) it is the whole audit in one action, touching no host - it lists the Arc machines once with
    the Azure options below (unless O(azure_machines) is given), judges every host of O(hosts) from what its agent
    reports to Azure, and writes the reports.
  - The HTML page puts the counts and the findings first, then the hosts to look at (drifted first) with a filter,
    and folds the compliant hosts away, so that it opens quickly at 10,000 hosts.
author:
  - arcguard maintainers (@arcguard)
options:
  dest:
    description: Directory to write the reports to (created if missing).
    type: path
    required: true
  hosts:
    description: The inventory names of the hosts to report on, usually C(ansible_play_hosts_all).
    type: list
    elements: str
    required: true
  profile:
    description: The profile the fleet was compared with, for the report's title (hosts may have their own).
    type: str
  info_var:
    description: The host variable holding the registered M(arcguard.azcmagent.azcmagent_info) result.
    type: str
    default: azcmagent_audit_info
  check_var:
    description: The host variable holding the registered check-mode M(arcguard.azcmagent.azcmagent_config) result.
    type: str
    default: lockdown_result
  profile_var:
    description: The host variable holding the host's profile name.
    type: str
    default: lockdown_profile
  formats:
    description: Which reports to write.
    type: list
    elements: str
    choices: [json, xml, html]
    default: [json, xml, html]
  source:
    description:
      - V(host) judges each host from its own results (O(info_var), O(check_var)).
      - V(azure) judges each host from what its agent reports to Azure (O(azure_machines)); no host result is needed.
      - V(both) judges from the host and adds Azure's view, with the findings C(unreachable, judged from Azure) and
        C(host and Azure disagree).
      - With V(azure) and V(both) each host gains C(azure) and C(findings) (C(not in Azure) for a host without an
        Arc machine), and the report gains C(not_in_inventory).
    type: str
    choices: [host, azure, both]
    default: host
    version_added: 0.1.0
  azure_machines:
    description:
      - The machines returned by M(arcguard.azcmagent.arc_machine_info). With O(source=azure) or O(source=both)
        and no O(azure_machines), the action lists the machines itself with the Azure sign-in and filter options
        (O(subscriptions), O(management_groups), O(auth_source)...), once.
      - A host matches the machine whose resource ID is its O(resource_id_var); a host without one matches the machine
        whose host name (as the P(arcguard.azcmagent.arc#inventory) inventory names it) or resource name is its
        inventory hostname (case-insensitive). A name that several machines have is no match - the host gets the
        finding C(ambiguous in Azure) and, with O(source=azure), an error naming the machines.
    type: list
    elements: dict
    version_added: 0.1.0
  inventory_hosts:
    description: The hosts the inventory knows, for C(not_in_inventory); default all hosts of the inventory.
    type: list
    elements: str
    version_added: 0.1.0
  profiles_var:
    description: The host variable holding the host's own profiles (for Azure's view).
    type: str
    default: lockdown_profiles
    version_added: 0.1.0
  overrides_var:
    description: The host variable holding the host's profile overrides (for Azure's view).
    type: str
    default: lockdown_overrides
    version_added: 0.1.0
  resource_id_var:
    description: The host variable holding the Arc resource ID (set by the P(arcguard.azcmagent.arc#inventory) inventory).
    type: str
    default: arc_resource_id
    version_added: 0.1.0
extends_documentation_fragment:
  - arcguard.azcmagent.azure
  - arcguard.azcmagent.azure.filters
  - arcguard.azcmagent.azcmagent.controller_attributes
  - arcguard.azcmagent.azcmagent.read_only_attributes
attributes:
  check_mode:
    support: full
    description: Writes the reports in check mode too; it changes nothing on the hosts.
seealso:
  - module: arcguard.azcmagent.azcmagent_info
"""

EXAMPLES = r"""
- name: Write the reports
  arcguard.azcmagent.azcmagent_report:
    dest: "{{ audit_report_dir }}"
    hosts: "{{ ansible_play_hosts_all }}"
    profile: defender
  run_once: true
  delegate_to: localhost
"""

RETURN = r"""
summary:
  description:
    - Counts of hosts (C(hosts), C(compliant), C(drifted), C(errors), C(no_agent), C(blocked_installed),
      C(lifecycle)), C(profiles) (hosts per profile), C(profile) and C(generated); with O(source=azure) or
      O(source=both) also C(source), C(not_in_inventory), C(azure_compliant), C(azure_drifted), C(not_in_azure),
      C(judged_from_azure) and C(disagree).
  returned: always
  type: dict
files:
  description: The files written.
  returned: always
  type: list
  elements: str
drifted:
  description: Hosts whose settings differ from their profile.
  returned: always
  type: list
  elements: str
errors:
  description: Hosts that could not be audited (unreachable, failed, no agent).
  returned: always
  type: list
  elements: str
not_in_inventory:
  description: Names of the Arc machines in Azure that no host of the inventory matches.
  returned: when O(source) is V(azure) or V(both)
  type: list
  elements: str
  version_added: 0.1.0
"""
