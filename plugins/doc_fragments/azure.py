# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation shared by the plugins of arcguard.azcmagent that query Azure Resource Graph.

The P(arcguard.azcmagent.arc#inventory) inventory plugin and the M(arcguard.azcmagent.arc_machine_info)
module take the same sign-in and filter options. The options below are also the argument spec of
the arc_machine_info action plugin (plugins/plugin_utils/_options.py builds it from this text). The
inventory plugin adds to them only what an inventory source has: the environment variables it reads
(the same as ``_azure.ENVIRONMENT``, checked by a unit test) and its defaults.
"""

from __future__ import annotations


class ModuleDocFragment:

    # How to sign in to Azure.
    DOCUMENTATION = r"""
options:
  auth_source:
    description:
      - How to sign in to Azure.
      - V(auto) is azure-identity's default chain (environment, workload identity, managed identity, Azure CLI
        login), or a client secret when O(secret) is set.
      - V(env) reads C(AZURE_TENANT_ID), C(AZURE_CLIENT_ID) and C(AZURE_CLIENT_SECRET) or
        C(AZURE_CLIENT_CERTIFICATE_PATH).
      - V(cli) uses the Azure CLI's login; V(msi) a managed identity (user-assigned with O(client_id)).
      - When unset, taken from C(ANSIBLE_AZURE_AUTH_SOURCE), else V(auto).
    type: str
    choices: [auto, env, cli, msi]
  client_id:
    description:
      - Application (client) ID of a service principal, or of a user-assigned managed identity with V(msi).
      - When unset, taken from C(AZURE_CLIENT_ID).
    type: str
  secret:
    description:
      - Client secret of the service principal (with O(client_id) and O(tenant)). Never returned, displayed,
        logged or cached.
      - When unset, taken from C(AZURE_SECRET) or C(AZURE_CLIENT_SECRET).
    type: str
  tenant:
    description:
      - Tenant (directory) ID.
      - When unset, taken from C(AZURE_TENANT) or C(AZURE_TENANT_ID).
    type: str
  cloud:
    description:
      - The Azure cloud. O(arm_endpoint) and O(authority_host) override its endpoints.
      - When unset, taken from C(AZURE_CLOUD_ENVIRONMENT), else V(AzureCloud).
    type: str
    choices: [AzureCloud, AzureUSGovernment, AzureChinaCloud]
  arm_endpoint:
    description:
      - Azure Resource Manager endpoint of a custom cloud (Azure Stack Hub, an air-gapped cloud), an https URL.
        The token is requested for C(<arm_endpoint>/.default).
      - When unset, taken from C(AZURE_ARM_ENDPOINT).
    type: str
  authority_host:
    description:
      - Microsoft Entra ID authority of a custom cloud, an https URL. For a host that MSAL does not know, its
        instance discovery (a call to the public cloud) is turned off. TLS verification stays on; the CA bundle
        comes from C(REQUESTS_CA_BUNDLE) or C(SSL_CERT_FILE).
      - When unset, taken from C(AZURE_AUTHORITY_HOST).
    type: str
"""

    # Which machines: the scopes of the query and the filters applied to its rows.
    FILTERS = r"""
options:
  subscriptions:
    description:
      - Subscription IDs (GUIDs, not subscription names) to query. With O(management_groups) also empty, every
        subscription the identity can read.
      - Anything that is not a GUID is refused before Azure is asked.
    type: list
    elements: str
    default: []
  management_groups:
    description: Management group names to query (all their subscriptions).
    type: list
    elements: str
    default: []
  include_statuses:
    description:
      - Only machines with one of these statuses (as Azure spells them, case-insensitive); empty is all.
      - Azure gives C(Connected), C(Disconnected), C(Error), C(AwaitingConnection) and C(Expired). Another value
        is kept (Azure's list may grow) with a warning, since it likely matches no machine.
    type: list
    elements: str
    default: []
  include_os:
    description: Only machines of these OS types; empty is all.
    type: list
    elements: str
    choices: [linux, windows]
    default: []
  tags:
    description: Only machines with all of these tags; a null value only requires the tag to exist. Tag names are
      compared case-insensitively, as Azure compares them; values exactly.
    type: dict
    default: {}
  host_naming:
    description:
      - How machines become host names (the inventory's hostnames, C(host_name) of arc_machine_info, the drift
        source's C(meta.hosts)); use the same value, and the same scopes, everywhere so the names agree.
      - C(name) keeps a machine's resource name when no other listed machine has it (case-insensitively), it
        holds only C(A-Z a-z 0-9 _ . -) and it is not C(all), C(ungrouped), C(localhost) or a group name;
        otherwise the machine is C(NAME~RESOURCEGROUP~SUBSCRIPTION), with a warning. When machines share a
        name, none of them keeps it, so a name never moves to another machine.
      - C(qualified) names every machine C(NAME~RESOURCEGROUP~SUBSCRIPTION).
      - Names are computed over every machine the query lists, before the filters.
    type: str
    choices: [name, qualified]
    default: name
"""
