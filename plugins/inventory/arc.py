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
  - The inventory hostname follows O(host_naming). By default it is the machine's resource name when that name
    is unique among the listed machines (case-insensitively), holds only C(A-Z a-z 0-9 _ . -) and is not
    C(all), C(ungrouped), C(localhost) or a group name; otherwise the machine is C(NAME~RESOURCEGROUP~SUBSCRIPTION)
    (from its resource ID) and a warning names it. When two machines share a name, neither keeps it. The machine
    itself is C(arc_resource_id); C(ansible_host) is the first non-empty of O(hostnames). Host variables start
    with C(arc_); C(arc_agent_configuration) holds the agent settings that the agent reports to Azure, keyed by
    azcmagent property name like the C(config) return of M(arcguard.azcmagent.azcmagent_config). Settings that Azure does not report are absent.
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
        machine's properties, C(tag:NAME) a tag's value (the tag name compared case-insensitively, as Azure does).
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

import copy
import re

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.display import Display
from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _arcmachine as arcmachine
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _azure as azure
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _naming as naming
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._secrets import scrub

display = Display()

try:   # ansible-core 2.19+: only strings tagged as trusted are ever templates
    from ansible.template import trust_as_template as _trust  # noqa: F401  pylint: disable=unused-import
    UNTRUSTED_BY_DEFAULT = True
except ImportError:
    UNTRUSTED_BY_DEFAULT = False

HOSTNAME_SOURCES = {"machinefqdn": "machine_fqdn", "machine_fqdn": "machine_fqdn", "dnsfqdn": "dns_fqdn",
                    "dns_fqdn": "dns_fqdn", "name": "name"}


STATUS_GROUPS = ("arc_connected", "arc_disconnected", "arc_error", "arc_awaiting_connection")
PREFIX = "arcguard.azcmagent.arc: "


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
            value = naming.tag_value(machine.get("tags") or {}, source[4:])[1]
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
            raise AnsibleParserError(scrub(PREFIX + str(exc), [secret]))
        for warning in warnings:
            display.warning(scrub(PREFIX + warning, [secret]))
        return machines

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        for hostname in self.get_option("hostnames"):
            if not (hostname.lower() in HOSTNAME_SOURCES or hostname.lower().startswith("tag:")):
                raise AnsibleParserError(PREFIX + "hostnames: %r is not machineFqdn, dnsFqdn, name or tag:NAME"
                                         % hostname)
        try:
            naming.check_rule(self.get_option("host_naming"))
            azure.settings(self._azure_options())   # bad options fail before any network call or cache read
            azure.require_sdk()
        except (azure.AzureError, naming.NamingError) as exc:
            raise AnsibleParserError(scrub(PREFIX + str(exc), [self.get_option("secret") or ""]))

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
        restore = self._compile_once()
        try:
            self._populate(machines)
        finally:
            restore()

    def _compile_once(self):
        """compose, groups and keyed_groups hold a few expressions evaluated for every host: compile each once
        for the whole fleet instead of once per host (ansible-core 2.19 compiles on every evaluation; at 1,000
        hosts that was most of the inventory's time). The trust check of each expression still runs on every
        evaluation, before the compiled code is used. Older ansible-core: nothing to do. Returns the undo."""
        engine = getattr(getattr(self, "templar", None), "_engine", None)
        original = getattr(engine, "_compile_expression", None)
        if original is None or getattr(original, "_arc_cached", False):
            return lambda: None
        compiled = {}

        def compile_expression(expression, options):
            key = (str(expression), repr(options))
            found = compiled.get(key)
            if found is None:
                found = compiled[key] = original(expression, options)
            return found
        compile_expression._arc_cached = True
        engine._compile_expression = compile_expression

        def restore():
            try:
                del engine._compile_expression
            except AttributeError:
                pass
        return restore

    def _populate(self, machines):
        """Hosts, variables and groups for ``machines`` (every listed machine: the names do not depend on the
        filters). Per-fleet work is done once: the option reads, the naming, the groups of the collection.

        A host name may not be a group name, and compose/keyed_groups/groups make groups from the machines'
        data: when a run made a group that has a host's name, the inventory is put back as it was and filled
        again with that group reserved (the machine gets its qualified name), so a pattern never means both."""
        reserved = set()
        before = copy.deepcopy(self.inventory.__dict__)
        for _attempt in range(5):
            names = self._fill(machines, reserved)
            clash = {g for g in self.inventory.groups if g.lower() in names} - reserved
            if not clash:
                break
            for group in sorted(clash):
                display.warning(PREFIX + "machine %s: its name is also the group %s of this inventory; it is "
                                "host %s instead" % (names[group.lower()][0], group, names[group.lower()][1]))
            reserved |= clash
            self.inventory.__dict__.clear()
            self.inventory.__dict__.update(copy.deepcopy(before))
        else:
            raise AnsibleParserError(PREFIX + "host names keep colliding with group names: %s"
                                     % ", ".join(sorted(reserved)))

    def _fill(self, machines, reserved):
        """One run of the population; returns {host name lower-cased: (resource ID, its qualified name)}."""
        inventory = self.inventory
        statuses = self.get_option("include_statuses") or []
        unknown = azure.status_warning(statuses)
        if unknown and not reserved:
            display.warning(unknown)
        os_types = [o.lower() for o in self.get_option("include_os") or []]
        tags = self.get_option("tags") or {}
        strict = self.get_option("strict")
        sources = self.get_option("hostnames")
        compose = self.get_option("compose")
        composed = self.get_option("groups")
        keyed = self.get_option("keyed_groups")
        rule = naming.check_rule(self.get_option("host_naming"))
        for group in ("arc_linux", "arc_windows") + STATUS_GROUPS:
            inventory.add_group(group)
        # group names of this inventory (other sources, ours) are never host names as they are
        names = naming.host_names(machines, reserved=list(inventory.groups) + sorted(reserved), rule=rule)
        if not reserved:
            for warning in names.warnings:
                display.warning(PREFIX + warning)
        # ansible-core 2.19 hands every value to a visitor that tags where it came from, value by value
        # (most of this plugin's time at 10,000 hosts); the data needs none of it (plain JSON types, never
        # trusted as templates), so it goes to the inventory data itself
        # and straight to each host (Host.set_variable: the name check and the merge rule of the inventory's own
        # setter, without its lookup of the name among every group and host and its debug line per variable)
        wrap = (lambda value: value) if UNTRUSTED_BY_DEFAULT else wrap_var
        status_groups = {}
        added = {}
        for machine in machines:
            name = names.host(machine)
            if not name or not arcmachine.matches(machine, statuses, os_types, tags):
                continue
            inventory.add_host(name)
            host = inventory.get_host(name)
            setter = host.set_variable
            variables = host_vars(machine)
            address = ansible_host(machine, sources)
            if address:
                variables["ansible_host"] = address
            # what Azure sends is data, never a template (a tag value of "{{ ... }}" stays text): before
            # ansible-core 2.19 wrapped as unsafe; from 2.19 on a string is a template only when trusted as
            # one, which nothing from Azure is, so the values go in as they are (no per-value tagging)
            for key, value in variables.items():
                setter(key, wrap(value))
            if machine.get("os_type") in ("linux", "windows"):
                inventory.add_child("arc_" + machine["os_type"], name)
            status = machine.get("status")
            if status:
                group = status_groups.get(status)
                if group is None:
                    group = status_groups[status] = inventory.add_group("arc_" + snake(status))
                inventory.add_child(group, name)
            added[name.lower()] = (machine.get("resource_id"), naming.qualified_name(machine))
            if compose or composed or keyed:
                self._set_composite_vars(compose, host.get_vars(), name, strict=strict)
                all_vars = host.get_vars()
                self._add_host_to_composed_groups(composed, all_vars, name, strict=strict)
                self._add_host_to_keyed_groups(keyed, all_vars, name, strict=strict)
        return added
