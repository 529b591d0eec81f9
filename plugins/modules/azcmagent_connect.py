# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is implemented by the action plugin of the same name (plugins/action/azcmagent_connect.py).

DOCUMENTATION = r"""
module: azcmagent_connect
short_description: Connect the Azure Connected Machine agent to Azure, or disconnect it, without exposing secrets
version_added: 0.1.0
description:
  - Connects the agent to Azure Arc (C(azcmagent connect)) or disconnects it (C(azcmagent disconnect)) as desired
    state.
  - One C(azcmagent show --json) read decides. Already connected to the same tenant, subscription, resource group
    and resource name, nothing runs. Connected to another resource, the task fails before anything is written,
    naming both resources, unless O(reconnect=true). An expired connection is renewed only with O(reconnect=true).
  - The secret (O(service_principal_secret) or O(access_token)) never appears on a command line, in the task's
    output or in a log. It travels on the remote command's standard input into a file passed with azcmagent's
    C(--config) option. On Linux that file is created by C(mktemp) under C(umask 077) and set to mode C(0600)
    before anything is written to it; on Windows it is written inside a new directory below
    C(%SystemRoot%\Temp) whose ACL allows only SYSTEM and Administrators (set with C(icacls), inheritance
    removed) before the file exists. The file is removed when the remote command ends, whether connect succeeded,
    failed or timed out (a shell C(trap) on Linux, C(finally) on Windows). The command line carries only the
    non-secret flags.
  - After connecting, a read back (in the same remote command) verifies that the agent shows C(Connected) and the
    requested resource. Failures carry the exit code, the C(AZCM) code and what to do.
  - Apply local settings (M(arcguard.azcmagent.azcmagent_config)) before connecting, so that Azure never sees the
    machine unprotected; the role P(arcguard.azcmagent.onboard#role) does it in that order.
  - Runs on the controller and needs no Python on the target (Linux through C(/bin/sh), Windows through
    PowerShell).
author:
  - arcguard maintainers (@arcguard)
extends_documentation_fragment:
  - arcguard.azcmagent.azcmagent.attributes
options:
  state:
    description:
      - V(connected) connects the agent unless it already is, to this resource.
      - V(disconnected) disconnects it. Without O(force_local_only), that deletes the machine's resource in Azure and
        needs credentials, passed as for connecting.
    type: str
    choices: [connected, disconnected]
    default: connected
  tenant_id:
    description:
      - The tenant (a GUID). Required with a service principal.
    type: str
  subscription_id:
    description:
      - The subscription's ID (a GUID). Required when O(state=connected). A subscription name is refused, because only
        the ID lets a later run recognise the connection.
    type: str
  resource_group:
    description:
      - The resource group of the machine's resource. Required when O(state=connected).
    type: str
  location:
    description:
      - The Azure region, for example V(westeurope). Required when O(state=connected).
    type: str
  resource_name:
    description:
      - The name of the machine's resource. Default, the agent's own choice (the host name). When set, it is part of
        what "the same resource" means.
    type: str
  cloud:
    description:
      - The Azure cloud.
    type: str
    choices: [AzureCloud, AzureUSGovernment, AzureChinaCloud]
    default: AzureCloud
  tags:
    description:
      - Tags of the machine's resource, set when connecting (C(--tags Name=Value,...)). Names and values cannot contain
        commas, equals signs or quotes (the C(--tags) format cannot carry them); values with spaces are quoted.
    type: dict
  correlation_id:
    description:
      - A GUID identifying the onboarding mechanism (telemetry only).
    type: str
  private_link_scope:
    description:
      - Resource ID of the Azure Arc private link scope, when using private endpoints.
    type: str
  gateway_id:
    description:
      - Resource ID of the Azure Arc gateway, when using one.
    type: str
  service_principal_id:
    description:
      - Application (client) ID of the service principal, with O(service_principal_secret) or
        O(service_principal_cert) and O(tenant_id). Give it the Azure Connected Machine Onboarding role, which can
        create machines but cannot manage extensions.
    type: str
  service_principal_secret:
    description:
      - The service principal's secret. Passed in a root-only C(--config) file, never on the command line. Keep it in
        Ansible Vault.
      - Give it through a variable (from Ansible Vault), not as a literal in the task.
        Where Ansible prints a task's arguments as written, before any plugin runs (C(display_args_to_stdout), the
        C(ansible.builtin.junit) callback's test case names), a literal would be shown; a variable shows as its
        expression.
    type: str
  service_principal_cert:
    description:
      - Path, on the target, of the service principal's certificate (PEM or PFX holding the private key; not password
        protected). Not a secret itself, so it goes on the command line; protect the file.
    type: str
  access_token:
    description:
      - A Microsoft Entra access token (short-lived), for example from C(az account get-access-token) in a pipeline.
        Passed in a root-only C(--config) file, never on the command line. Give it through a variable, as
        O(service_principal_secret).
    type: str
  reconnect:
    description:
      - When the agent is connected to another resource, or its connection expired, disconnect it (deleting that
        resource in Azure, with the same credentials) and connect it as requested. Without it, such a task fails
        before anything is written.
    type: bool
    default: false
  force_local_only:
    description:
      - With O(state=disconnected) (and when reconnecting), reset only the local agent, leaving the resource in Azure
        (C(azcmagent disconnect --force-local-only)). No credentials are needed then.
    type: bool
    default: false
  executable:
    description:
      - The azcmagent to run. Default, the documented locations (C(/opt/azcmagent/bin/azcmagent), then C(PATH) on
        Linux; C(%ProgramFiles%\AzureConnectedMachineAgent\azcmagent.exe) on Windows).
    type: str
  timeout:
    description:
      - Seconds each azcmagent invocation may take on POSIX targets (the agent allows connect up to 10 minutes).
        V(0) means no limit. On Windows use the task keyword C(timeout).
    type: int
    default: 600
  wait_timeout:
    description:
      - Seconds to wait for a freshly installed agent to answer C(azcmagent show) before deciding. V(0) does not wait.
    type: int
    default: 0
attributes:
  check_mode:
    support: full
    description: Reads the agent once and reports what would run; nothing else runs.
  diff_mode:
    support: full
    description: The connection (status, resource, tenant, location, cloud) before and after.
  idempotent:
    support: full
    description: Connected to the requested resource, a second run reads once and changes nothing.
notes:
  - "On Linux the agent needs root (C(become: true)); on Windows connect as an elevated Administrator."
  - If the remote command is killed outright (SIGKILL, a host crash) no trap can run; the file is in C(/tmp) (or
    C($TMPDIR)) as C(arcguard-*) with mode C(0600), on Windows below C(%SystemRoot%\Temp\arcguard-*).
seealso:
  - module: arcguard.azcmagent.azcmagent_config
  - module: arcguard.azcmagent.azcmagent_info
"""

EXAMPLES = r"""
- name: Connect with a service principal (secret from Ansible Vault)
  arcguard.azcmagent.azcmagent_connect:
    tenant_id: "{{ arc_tenant_id }}"
    subscription_id: "{{ arc_subscription_id }}"
    resource_group: rg-arc-servers
    location: westeurope
    tags:
      Environment: production
      Owner: Platform Team
    service_principal_id: "{{ arc_sp_id }}"
    service_principal_secret: "{{ vault_arc_sp_secret }}"
  become: true

- name: Connect with an access token obtained by the pipeline
  arcguard.azcmagent.azcmagent_connect:
    tenant_id: "{{ arc_tenant_id }}"
    subscription_id: "{{ arc_subscription_id }}"
    resource_group: rg-arc-servers
    location: westeurope
    access_token: "{{ lookup('ansible.builtin.env', 'ARC_ACCESS_TOKEN') }}"
  become: true

- name: Move a machine to another resource group (deletes the old resource)
  arcguard.azcmagent.azcmagent_connect:
    tenant_id: "{{ arc_tenant_id }}"
    subscription_id: "{{ arc_subscription_id }}"
    resource_group: rg-arc-dc
    location: westeurope
    service_principal_id: "{{ arc_sp_id }}"
    service_principal_secret: "{{ vault_arc_sp_secret }}"
    reconnect: true
  become: true

- name: Reset a cloned machine's agent without touching Azure
  arcguard.azcmagent.azcmagent_connect:
    state: disconnected
    force_local_only: true
  become: true
"""

RETURN = r"""
changed:
  description: Whether connect or disconnect ran (in check mode, would run).
  returned: always
  type: bool
status:
  description: The agent's status after the task (C(Connected), C(Disconnected), C(Expired)); in check mode, the one
    expected.
  returned: when the agent could be read
  type: str
  sample: Connected
resource_id:
  description: The machine's resource ID in Azure; empty when disconnected.
  returned: when the agent could be read
  type: str
  sample: /subscriptions/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee/resourceGroups/rg-arc/providers/Microsoft.HybridCompute/machines/web01
connection:
  description: The connection as read (after the change, read back), with the keys C(status), C(resource_id),
    C(resource_name), C(resource_group), C(subscription_id), C(tenant_id), C(location) and C(cloud).
  returned: when the agent could be read
  type: dict
show:
  description: The document printed by C(azcmagent show --json) (after the change, the read back), with secrets
    redacted.
  returned: when the agent could be read
  type: dict
commands:
  description: The azcmagent commands that ran, in order, as shown (the C(--config) file as C((temporary file))).
  returned: always
  type: list
  elements: str
  sample: ["/opt/azcmagent/bin/azcmagent show --json"]
planned:
  description: The azcmagent commands that would run, in check mode.
  returned: in check mode, when something would change
  type: list
  elements: str
os:
  description: The target's OS family, from the connection's shell.
  returned: when the agent could be read
  type: str
  sample: linux
azcm_code:
  description: The C(AZCMnnnn) code azcmagent printed when it failed.
  returned: on failure of connect or disconnect, when printed
  type: str
  sample: AZCM0041
rc:
  description: The exit code of the failing azcmagent command.
  returned: on failure
  type: int
"""
