# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: arc
short_description: Azure Arc-enabled servers as an inventory, from Azure Resource Graph
version_added: 0.1.0
description:
  - Lists every C(Microsoft.HybridCompute/machines) resource (Azure Arc-enabled server) of the given
    subscriptions and management groups, or of everything the identity can read when both are empty, with one
    Azure Resource Graph query (1000 machines a page, all pages).
  - The inventory hostname is the machine's resource name; C(ansible_host) is the first non-empty of
    O(hostnames). Host variables start with C(arc_); C(arc_agent_configuration) holds the agent settings that the
    agent reports to Azure, keyed by azcmagent property name like the C(config) return of
    M(arcguard.azcmagent.azcmagent_config). Settings that Azure does not report are absent.
  - Groups C(arc_linux), C(arc_windows) and one per status (C(arc_connected), C(arc_disconnected), C(arc_error),
    C(arc_awaiting_connection)), plus the usual constructed features.
  - Throttling is honoured (C(Retry-After), the C(x-ms-user-quota-*) headers) with bounded retries. A scope the
    identity may not read is a warning naming it; the rest still loads.
  - Uses a file whose name ends in C(arc.yml) or C(arc.yaml).
requirements:
  - azure-identity (Python, on the controller)
  - azure-mgmt-resourcegraph (Python, on the controller)
extends_documentation_fragment:
  - constructed
  - inventory_cache
  - arcguard.azcmagent.azure
  - arcguard.azcmagent.azure.filters
options:
  plugin:
    description: Marks the file as an inventory source for this plugin.
    type: str
    required: true
    choices: [arcguard.azcmagent.arc]
  auth_source:
    default: auto
    env:
      - name: ANSIBLE_AZURE_AUTH_SOURCE
  client_id:
    env:
      - name: AZURE_CLIENT_ID
  secret:
    env:
      - name: AZURE_SECRET
      - name: AZURE_CLIENT_SECRET
  tenant:
    env:
      - name: AZURE_TENANT
      - name: AZURE_TENANT_ID
  cloud:
    default: AzureCloud
    env:
      - name: AZURE_CLOUD_ENVIRONMENT
  arm_endpoint:
    env:
      - name: AZURE_ARM_ENDPOINT
  authority_host:
    env:
      - name: AZURE_AUTHORITY_HOST
  hostnames:
    description:
      - Where C(ansible_host) comes from, the first non-empty wins; C(machineFqdn), C(dnsFqdn) and C(name) are the
        machine's properties, C(tag:NAME) a tag's value.
    type: list
    elements: str
    default: [machineFqdn, dnsFqdn, name]
"""

EXAMPLES = r"""
# prod.arc.yml: every Arc-enabled server of two subscriptions, signed in from the environment
plugin: arcguard.azcmagent.arc
subscriptions:
  - 5f0c0c2e-1111-2222-3333-444444444444
  - 7d1e2a3b-5555-6666-7777-888888888888
include_statuses: [Connected]
keyed_groups:
  - key: arc_tags.env | default('none')
    prefix: env
compose:
  ansible_connection: "'winrm' if arc_os_type == 'windows' else 'ssh'"

# gov.arc.yml, a second inventory file: Azure Government, a management group, cached for an hour
# plugin: arcguard.azcmagent.arc
# cloud: AzureUSGovernment
# management_groups: [payments]
# include_os: [windows]
# tags:
#   tier: pci
# cache: true
# cache_plugin: ansible.builtin.jsonfile
# cache_connection: ~/.cache/arc-inventory
# cache_timeout: 3600
"""

import re

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.display import Display
from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _arcmachine as arcmachine
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _azure as azure
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._secrets import scrub

display = Display()

HOSTNAME_SOURCES = {"machinefqdn": "machine_fqdn", "machine_fqdn": "machine_fqdn", "dnsfqdn": "dns_fqdn",
                    "dns_fqdn": "dns_fqdn", "name": "name"}


STATUS_GROUPS = ("arc_connected", "arc_disconnected", "arc_error", "arc_awaiting_connection")


def snake(text):
    """AwaitingConnection -> awaiting_connection (a group name)."""
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", str(text))
    return re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_")


def host_vars(machine):
    """The arc_ host variables of one machine."""
    return {"arc_" + key: value for key, value in machine.items()}


def ansible_host(machine, sources):
    for source in sources:
        if source.lower().startswith("tag:"):
            value = (machine.get("tags") or {}).get(source[4:])
        else:
            value = machine.get(HOSTNAME_SOURCES.get(source.lower(), ""))
        if value:
            return str(value)
    return None


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):

    NAME = "arcguard.azcmagent.arc"

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(("arc.yml", "arc.yaml"))

    def _azure_options(self):
        return {name: self.get_option(name) for name in azure.OPTION_NAMES}

    def _fetch(self):
        options = self._azure_options()
        secret = options.get("secret") or ""
        try:
            machines, warnings = azure.list_machines(options, log=display.vvv)
        except azure.AzureError as exc:
            raise AnsibleParserError(scrub("arcguard.azcmagent.arc: %s" % exc, [secret]))
        for warning in warnings:
            display.warning(scrub("arcguard.azcmagent.arc: %s" % warning, [secret]))
        return machines

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        for hostname in self.get_option("hostnames"):
            if not (hostname.lower() in HOSTNAME_SOURCES or hostname.lower().startswith("tag:")):
                raise AnsibleParserError("arcguard.azcmagent.arc: hostnames: %r is not machineFqdn, dnsFqdn, name or "
                                         "tag:NAME" % hostname)
        try:
            azure.settings(self._azure_options())   # bad options fail before any network call or cache read
            azure.require_sdk()
        except azure.AzureError as exc:
            raise AnsibleParserError(scrub("arcguard.azcmagent.arc: %s" % exc, [self.get_option("secret") or ""]))

        cache_key = self.get_cache_key(path)
        use_cache = self.get_option("cache") and cache
        update_cache = self.get_option("cache") and not cache
        machines = None
        if use_cache:
            try:
                machines = self._cache[cache_key]
            except KeyError:
                update_cache = True
        if machines is None:
            machines = self._fetch()
        if update_cache:
            self._cache[cache_key] = machines
        self._populate(machines)

    def _populate(self, machines):
        statuses = self.get_option("include_statuses") or []
        unknown = azure.status_warning(statuses)
        if unknown:
            display.warning(unknown)
        os_types = [o.lower() for o in self.get_option("include_os") or []]
        tags = self.get_option("tags") or {}
        strict = self.get_option("strict")
        sources = self.get_option("hostnames")
        for group in ("arc_linux", "arc_windows") + STATUS_GROUPS:
            self.inventory.add_group(group)
        names = {}
        for machine in machines:
            if not arcmachine.matches(machine, statuses, os_types, tags):
                continue
            name = machine.get("name")
            if not name:
                continue
            if name.lower() in names:
                other = names[name.lower()]
                unique = "%s_%s_%s" % (name, machine.get("resource_group"), machine.get("subscription_id"))
                display.warning("arcguard.azcmagent.arc: two machines are named %s (%s and %s); the second is %s"
                                % (name, other, machine.get("resource_id"), unique))
                name = unique
            names[name.lower()] = machine.get("resource_id")
            self.inventory.add_host(name)
            variables = host_vars(machine)
            address = ansible_host(machine, sources)
            if address:
                variables["ansible_host"] = address
            for key, value in variables.items():
                # what Azure sends is data, never a template (a tag value of "{{ ... }}" stays text)
                self.inventory.set_variable(name, key, wrap_var(value))
            if machine.get("os_type") in ("linux", "windows"):
                self.inventory.add_child("arc_" + machine["os_type"], name)
            if machine.get("status"):
                group = self.inventory.add_group("arc_" + snake(machine["status"]))
                self.inventory.add_child(group, name)
            host = self.inventory.get_host(name)
            all_vars = host.get_vars()
            self._set_composite_vars(self.get_option("compose"), all_vars, name, strict=strict)
            all_vars = self.inventory.get_host(name).get_vars()
            self._add_host_to_composed_groups(self.get_option("groups"), all_vars, name, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), all_vars, name, strict=strict)
