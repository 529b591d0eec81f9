"""Hostile: Azure names are data, never identities or patterns (issue: every machine addressed by its resource ID).

Random fleets with colliding names (across resource groups and subscriptions, in other letter cases), names
that are ``all``, ``ungrouped``, the collection's groups, the user's keyed groups, or pattern characters, and
tag names in any case are pushed at once through the arc inventory plugin (in process, into a real
InventoryData, with keyed groups), the audit's matching and the drift source's evaluation; the event's limit
is resolved by Ansible's own InventoryManager as ``ansible-playbook --limit`` would.
"""

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ansible.errors import AnsibleError
from ansible.inventory.data import InventoryData
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

from ansible_collections.arcguard.azcmagent.plugins.inventory import arc
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _arcmachine as arcmachine
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _drift as drift
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _naming as naming
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._profiles import PROFILES
from tests.lib.logic_env import examples

try:
    from ansible.template import trust_as_template
except ImportError:  # ansible-core before 2.19: a string given to the inventory is a template as it is
    def trust_as_template(text):
        return text

pytestmark = [pytest.mark.hostile, pytest.mark.azure]

SUBS = ("aaaaaaaa-0000-4000-8000-000000000001", "bbbbbbbb-0000-4000-8000-000000000002")
DEFENDER = {"config.mode": "full", "extensions.allowlist": ["Microsoft.Azure.Monitor/AzureMonitorLinuxAgent",
                                                            "Microsoft.Azure.AzureDefenderForServers/MDE.Linux"],
            "extensions.blocklist": [], "extensions.enabled": True, "guestconfiguration.enabled": False,
            "incomingconnections.ports": [], "proxy.bypass": [], "proxy.url": ""}
HOSTILE_NAMES = ["pay01", "PAY01", "all", "ungrouped", "localhost", "arc_linux", "arc_connected", "payments",
                 "web*", "db?", "h[0:2]", "a,b", "x:y", "~.*", "!prod", "&db", "@f", "role_web", "web01"]
PATTERN_CHARS = set(",:*?[]!&~@ ")


def machine(name, group, sub, tags, drifted):
    rid = "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.HybridCompute/machines/%s" % (sub, group, name)
    config = dict(DEFENDER)
    if drifted:
        config["guestconfiguration.enabled"] = True
    return {"name": name, "resource_id": rid, "subscription_id": sub, "resource_group": group, "location": "x",
            "tags": tags, "status": "Connected", "agent_version": "1.64", "os_type": "linux", "os_name": "linux",
            "os_version": "6", "last_status_change": None, "machine_fqdn": name, "dns_fqdn": None,
            "agent_configuration": config, "unreadable": []}


TAG_NAMES = st.sampled_from(["role", "Role", "ROLE"])
FLEETS = st.lists(st.tuples(st.sampled_from(HOSTILE_NAMES), st.sampled_from(["rg1", "RG1", "dev"]),
                            st.sampled_from(SUBS), TAG_NAMES, st.sampled_from(["web01", "payments", "db"]),
                            st.booleans()),
                  min_size=1, max_size=14)


class Plugin(arc.InventoryModule):
    """The real plugin with its options given directly (what an arc.yml file would set)."""

    def __init__(self, options):
        super().__init__()
        self._given = options
        self.inventory = InventoryData()
        self.inventory.add_group("payments")     # a group of the user's, from another source
        self.loader = DataLoader()
        self.templar = Templar(loader=self.loader)

    def get_option(self, option, hostvars=None):
        return self._given.get(option)


def build(rows, tag_filter):
    fleet, seen = [], set()
    for name, group, sub, tag_name, tag_value, drifted in rows:
        m = machine(name, group, sub, {tag_name: tag_value}, drifted)
        if m["resource_id"].lower() not in seen:
            seen.add(m["resource_id"].lower())
            fleet.append(m)
    # strict: a keyed group that cannot be built fails the test instead of being skipped
    options = {"include_statuses": [], "include_os": [], "tags": tag_filter, "strict": True,
               "hostnames": ["machineFqdn", "tag:ROLE"], "compose": {}, "groups": {},
               "keyed_groups": [{"key": trust_as_template("arc_tags.role | default('none')"), "prefix": "",
                                 "separator": ""}],
               "host_naming": "name"}
    plugin = Plugin(options)
    plugin._populate(fleet)
    return fleet, plugin.inventory


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(FLEETS, st.sampled_from([{}, {"ROLE": "web01"}, {"role": None}]))
def test_property_inventory_audit_and_drift_agree_and_never_reach_another_machine(rows, tag_filter):
    fleet, inventory = build(rows, tag_filter)
    hosts = inventory.hosts
    groups = {g.lower() for g in inventory.groups}
    by_rid = {}
    # inventory: never a pattern, never a group, one host per machine, tags filtered by name in any case
    for name, host in hosts.items():
        assert not set(name) & PATTERN_CHARS - {"~"} and name[0] not in "~!&@", name
        assert name.lower() not in groups, name
        rid = str(host.vars["arc_resource_id"]).lower()
        assert rid not in by_rid, "two hosts for one machine"
        by_rid[rid] = name
    wanted = [m for m in fleet if naming.tags_match(m["tags"], tag_filter)]
    assert set(by_rid) == {m["resource_id"].lower() for m in wanted}
    for m in wanted:
        found, value = naming.tag_value(m["tags"], "role")
        assert found and hosts[by_rid[m["resource_id"].lower()]].vars.get("ansible_host") in (value, m["name"])

    # audit: hosts with arc_resource_id match their machine; a bare name shared by machines is ambiguous
    play = {name: host.vars["arc_resource_id"] for name, host in hosts.items()}
    result = naming.match_hosts(play, fleet)
    for name, matched in result.machines.items():
        assert matched is not None and matched["resource_id"] == play[name]
    assert result.ambiguous == {}
    listed = {m["resource_id"].lower() for m in result.not_in_inventory}
    assert listed == {m["resource_id"].lower() for m in fleet} - set(by_rid)
    static = naming.match_hosts({m["name"]: None for m in fleet}, fleet)
    for name, matched in static.machines.items():
        sharing = [m for m in fleet if m["name"].lower() == name.lower()]
        if len(sharing) > 1:
            assert matched is None and len(static.ambiguous[name]) == len(sharing)
            assert all(m["resource_id"] in static.ambiguity(name) for m in sharing)
        else:
            assert matched is sharing[0]

    # drift: each event's limit, resolved by Ansible, reaches at most the event's own machine once the
    # role's guard has looked (exactly one host, whose arc_resource_id is the event's resource ID)
    conf = drift.parse_args({"profile": "defender"}, PROFILES)
    evaluated, _skipped = drift.evaluate(conf, fleet, arcmachine.differences)
    events = drift.DriftTracker(3600).observe(0, evaluated)
    manager = InventoryManager(loader=DataLoader(), sources=[])
    manager._inventory = inventory
    drifted = {m["resource_id"].lower() for m in fleet if DEFENDER["guestconfiguration.enabled"]
               != m["agent_configuration"]["guestconfiguration.enabled"]}
    assert {e["arc_drift"]["resource_id"].lower() for e in events} == drifted
    for event in events:
        limit = event["meta"]["hosts"]
        assert not set(limit) & PATTERN_CHARS - {"~"} and limit[0] not in "~!&@"
        manager.clear_pattern_cache()
        try:
            reached = [h.name for h in manager.get_hosts(pattern=limit)]
        except AnsibleError as exc:
            # HOST_PATTERN_MISMATCH=error (as under ansible-test): a limit matching no host reaches none
            if "Could not match supplied host pattern" not in str(exc):
                raise
            reached = []
        guard = len(reached) == 1 and str(hosts[reached[0]].vars["arc_resource_id"]).lower() \
            == event["arc_drift"]["resource_id"].lower()
        rid = event["arc_drift"]["resource_id"].lower()
        if guard:
            assert by_rid.get(rid) == reached[0]
        # the names agree whenever the inventory did not have to rename for a group of its own
        if rid in by_rid and by_rid[rid] == limit:
            assert reached == [limit] and guard


@pytest.mark.parametrize("name", ["all", "ungrouped", "payments", "web*", "a,b", "~.*"])
def test_a_single_hostile_machine_keeps_the_inventory_loading(name):
    fleet, inventory = build([(name, "rg1", SUBS[0], "role", "db", True)], {})
    assert list(inventory.hosts) == ["%s~rg1~%s" % (name.replace("*", "_").replace(",", "_").replace("~", "_"),
                                                    SUBS[0])]
    assert list(inventory.hosts.values())[0].vars["arc_resource_id"] == fleet[0]["resource_id"]


def test_a_machine_named_like_a_keyed_group_is_renamed_with_a_warning():
    rows = [("web01", "rg1", SUBS[0], "role", "db", False), ("pay01", "rg1", SUBS[0], "role", "web01", False)]
    _fleet, inventory = build(rows, {})
    assert "web01" in inventory.groups and "web01" not in inventory.hosts
    assert "web01~rg1~%s" % SUBS[0] in inventory.hosts
    assert [h.name for h in inventory.groups["web01"].get_hosts()] == ["pay01"]
