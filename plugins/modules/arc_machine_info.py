# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is implemented by the action plugin of the same name (plugins/action/arc_machine_info.py).

DOCUMENTATION = r"""
module: arc_machine_info
short_description: List Azure Arc-enabled servers and the agent settings they report to Azure
version_added: 0.1.0
description:
  - Runs the query of the P(arcguard.azcmagent.arc#inventory) inventory plugin on the controller and returns
    the machines, for playbooks that do not use that inventory. No host is contacted.
  - Reads every C(Microsoft.HybridCompute/machines) resource of the scopes from Azure Resource Graph (all pages),
    honouring throttling with bounded retries. A scope the identity may not read is a warning naming it; the
    rest still loads.
  - In the same pass it reads the machines' extension resources (C(Microsoft.HybridCompute/machines/extensions))
    and classifies each against the lockdown its machine reports (RV(machines[].extensions)). Their C(settings)
    are never read.
  - Options left unset are taken from the same environment variables as the inventory plugin's.
requirements:
  - azure-identity (Python, on the controller)
  - azure-mgmt-resourcegraph (Python, on the controller)
author:
  - arcguard maintainers (@arcguard)
options:
  names:
    description: Only machines with these resource names (case-insensitive); empty is all.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - arcguard.azcmagent.azure
  - arcguard.azcmagent.azure.filters
  - arcguard.azcmagent.azcmagent.controller_attributes
  - arcguard.azcmagent.azcmagent.read_only_attributes
attributes:
  check_mode:
    support: full
    description: Only reads.
seealso:
  - plugin: arcguard.azcmagent.arc
    plugin_type: inventory
"""

EXAMPLES = r"""
- name: The Windows servers of a subscription as Azure sees them
  arcguard.azcmagent.arc_machine_info:
    subscriptions: [5f0c0c2e-1111-2222-3333-444444444444]
    include_os: [windows]
  register: arc
  run_once: true
  delegate_to: localhost

- name: Those whose extension manager is on
  ansible.builtin.debug:
    msg: "{{ arc.machines | selectattr('agent_configuration.extensions.enabled', 'defined')
             | selectattr('agent_configuration.extensions.enabled') | map(attribute='name') }}"
  run_once: true
"""

RETURN = r"""
machines:
  description: The machines, sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Resource name (data chosen by whoever onboarded the machine, not an identity).
      type: str
    host_name:
      description:
        - The inventory hostname the P(arcguard.azcmagent.arc#inventory) inventory plugin gives this machine (same
          scopes, same O(host_naming)); never a host pattern. Names are computed over every machine the query
          lists, before the filters.
      type: str
    unreadable:
      description:
        - The agent settings Azure reports in a form the collection cannot read; audits and the drift watch count
          them as not compliant.
      type: list
      elements: str
    resource_id:
      description: Azure resource ID.
      type: str
    subscription_id:
      description: Subscription ID.
      type: str
    resource_group:
      description: Resource group, as the resource ID spells it.
      type: str
    location:
      description: Azure region.
      type: str
    tags:
      description: Resource tags.
      type: dict
    status:
      description: As Azure spells it (C(Connected), C(Disconnected), C(Error), C(AwaitingConnection)).
      type: str
    agent_version:
      description: Agent version the machine reported.
      type: str
    os_type:
      description: C(linux) or C(windows).
      type: str
    os_name:
      description: OS name as reported.
      type: str
    os_version:
      description: OS version as reported.
      type: str
    last_status_change:
      description: When the status last changed (UTC, ISO 8601).
      type: str
    machine_fqdn:
      description: The machine's FQDN as reported.
      type: str
    dns_fqdn:
      description: The DNS FQDN as reported.
      type: str
    agent_configuration:
      description:
        - The agent settings reported to Azure, by azcmagent property name, typed like the C(config) return of
          M(arcguard.azcmagent.azcmagent_config) (booleans, lists of C(Publisher/Type), port numbers); proxy
          credentials replaced by C(********). Settings Azure does not report (C(incomingconnections.enabled))
          are absent.
      type: dict
      sample: {"config.mode": "full", "extensions.allowlist": ["Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"],
               "extensions.enabled": true, "guestconfiguration.enabled": false}
    extensions:
      description:
        - The machine's extension resources in Azure, sorted by name, each classified against the lockdown the
          machine reports (its allowlist, blocklist, mode and extension manager, with the catalog's aliases for
          its OS and C(Allow/None)).
        - See the extension clean-up documentation (docs/extensions.md) for how to read them.
      type: list
      elements: dict
      contains:
        name:
          description: The extension resource's name.
          type: str
        publisher:
          description: Publisher.
          type: str
        type:
          description: Type.
          type: str
        version:
          description: Version (the instance view's, else the resource's C(typeHandlerVersion)).
          type: str
        provisioning_state:
          description: As Azure spells it (C(Succeeded), C(Failed), C(Creating), C(Deleting)...).
          type: str
        status_level:
          description: The instance view's status level (C(Information), C(Info), C(Warning), C(Error)), or null.
          type: str
        status_message:
          description: The instance view's status message, or null.
          type: str
        created_by:
          description: Who created it (C(systemData.createdBy)), null where Azure does not say.
          type: str
        last_modified_by:
          description: Who last changed it (C(systemData.lastModifiedBy)), null where Azure does not say.
          type: str
        classification:
          description:
            - V(allowed); V(installed_but_blocked) (present, and the lists would refuse it now);
              V(refused_by_lockdown) (failed, and the lists forbid it); V(failed) (failed for another reason);
              V(unknown) (the machine's reported settings are missing or unreadable, or it is in monitor mode,
              where Microsoft's unpublished allowlist applies).
          type: str
          choices: [allowed, installed_but_blocked, refused_by_lockdown, failed, unknown]
        retired:
          description: Microsoft has retired this extension (the collection's catalog).
          type: bool
"""
