# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is implemented by the action plugin of the same name (plugins/action/arc_extension_cleanup.py).

DOCUMENTATION = r"""
module: arc_extension_cleanup
short_description: Delete from Azure the extension resources that the Arc machines' lockdown refuses
version_added: 0.1.0
description:
  - Reads the Arc machines of the scopes and their extension resources from Azure Resource Graph, in one pass, as
    M(arcguard.azcmagent.arc_machine_info) does, and classifies each extension against the lockdown its machine
    reports to Azure (allowlist, blocklist, mode, extension manager).
  - Deletes from Azure exactly the extension resources of the classes in O(classifications), one C(DELETE)
    request per extension resource (ARM C(MachineExtensions_Delete), api-version C(2025-01-13)). An extension
    classified C(allowed) or C(unknown) is never deleted.
  - Removing a blocked extension only on the server is not enough while Azure still expects it; deleting its
    resource from Azure is the documented way. The order for a machine with blocked extensions is lock down
    (M(arcguard.azcmagent.azcmagent_config) or the C(lockdown) role), delete from Azure (this module), then,
    optionally, remove the local copy (O(arcguard.azcmagent.azcmagent_config#module:remove_blocked)).
  - Throttled answers (HTTP 429) are retried after the C(Retry-After) Azure gives, server errors and dropped
    connections a bounded number of times. A delete that Azure accepts as a long-running operation (HTTP 202) is
    followed through C(Azure-AsyncOperation) or C(Location) until it ends, on the ARM endpoint's host only.
    A resource already gone (HTTP 204) is not counted as deleted, so a second run changes nothing.
  - The identity needs C(Microsoft.HybridCompute/machines/extensions/delete) on the machines (for example the
    Azure Connected Machine Resource Administrator role); without it Azure answers 403 and the task fails naming
    that permission. The inventory's identity still needs only Reader.
requirements:
  - azure-identity (Python, on the controller)
  - azure-mgmt-resourcegraph (Python, on the controller)
author:
  - arcguard maintainers (@arcguard)
options:
  machines:
    description:
      - Only the extension resources of these machines, each a host name (as the P(arcguard.azcmagent.arc#inventory)
        inventory names the machine), a resource name or a resource ID (compared case-insensitively). Empty is
        every machine of the scopes that passes the filters.
      - An entry that names no machine, or a name shared by several machines, fails the task before anything is
        deleted; give the resource ID then.
    type: list
    elements: str
    default: []
  classifications:
    description:
      - Which extension resources to delete, by their classification against the machine's reported lockdown.
      - V(installed_but_blocked) is present and would be refused by the lists now; V(refused_by_lockdown) failed
        because the lists forbid it; V(failed) failed for another reason.
      - V(allowed) and V(unknown) (the machine's reported settings are missing, unreadable or in monitor mode) are
        never deleted, and refused with a message naming this option.
    type: list
    elements: str
    choices: [installed_but_blocked, refused_by_lockdown, failed]
    default: [installed_but_blocked, refused_by_lockdown]
extends_documentation_fragment:
  - arcguard.azcmagent.azure
  - arcguard.azcmagent.azure.filters
  - arcguard.azcmagent.azcmagent.controller_attributes
attributes:
  check_mode:
    support: full
    description: Reads and classifies, sends no C(DELETE), and returns RV(would_delete).
  diff_mode:
    support: full
    description: The extension resources that go, one line each.
  idempotent:
    support: full
    description: A second run finds nothing of the classes left and deletes nothing.
seealso:
  - module: arcguard.azcmagent.arc_machine_info
  - module: arcguard.azcmagent.azcmagent_config
"""

EXAMPLES = r"""
- name: What would go (check mode)
  arcguard.azcmagent.arc_extension_cleanup:
    subscriptions: [5f0c0c2e-1111-2222-3333-444444444444]
  check_mode: true
  diff: true
  register: would
  run_once: true
  delegate_to: localhost

- name: Delete the blocked and refused extension resources of two machines
  arcguard.azcmagent.arc_extension_cleanup:
    subscriptions: [5f0c0c2e-1111-2222-3333-444444444444]
    machines:
      - web01
      - /subscriptions/5f0c0c2e-1111-2222-3333-444444444444/resourceGroups/rg-ad/providers/Microsoft.HybridCompute/machines/DC01
  register: cleanup
  run_once: true
  delegate_to: localhost
"""

RETURN = r"""
deleted:
  description: The extension resources deleted by this run (empty in check mode).
  returned: always
  type: list
  elements: dict
  contains:
    machine:
      description: The machine's host name, as the inventory names it.
      type: str
    machine_id:
      description: The machine's resource ID.
      type: str
    resource_id:
      description: The extension resource's ID.
      type: str
    name:
      description: The name of the deleted extension resource (its last resource ID segment).
      type: str
    extension:
      description: The extension it held, as C(Publisher/Type), the form the agent's lists use.
      type: str
    publisher:
      description: The extension's publisher alone, as Azure listed it.
      type: str
    type:
      description: The extension's type alone, as Azure listed it.
      type: str
    version:
      description: The extension version Azure reported before the deletion.
      type: str
    provisioning_state:
      description: Provisioning state when it was listed.
      type: str
    status_level:
      description: Status level of the instance view.
      type: str
    status_message:
      description: Status message of the instance view.
      type: str
    created_by:
      description: Who created the resource, where Azure says so (C(systemData.createdBy)).
      type: str
    last_modified_by:
      description: Who last changed it, where Azure says so (C(systemData.lastModifiedBy)).
      type: str
    requested_by:
      description: C(last_modified_by), else C(created_by), else null.
      type: str
    classification:
      description: Its classification (one of O(classifications)).
      type: str
    retired:
      description: Microsoft has retired the extension (the collection's catalog).
      type: bool
would_delete:
  description: In check mode, the extension resources a run would delete (same keys as RV(deleted)).
  returned: check mode
  type: list
  elements: dict
skipped:
  description: Extension resources of the classes left alone, with a C(reason) (already being deleted).
  returned: always
  type: list
  elements: dict
"""
