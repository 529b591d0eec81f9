"""The one naming rule: machines -> host names, tags as Azure reads them, inventory hosts -> machines."""

import re

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _naming as naming

pytestmark = pytest.mark.azure

SUB_A = "aaaaaaaa-0000-0000-0000-000000000001"
SUB_B = "bbbbbbbb-0000-0000-0000-000000000002"
PATTERN = re.compile(r"[,:*?\[\]\s!&]|^[~@]")


def machine(name, group="rg1", sub=SUB_A, **extra):
    rid = "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.HybridCompute/machines/%s" % (sub, group, name)
    return dict({"name": name, "resource_id": rid, "resource_group": group, "subscription_id": sub}, **extra)


def test_unique_safe_names_are_kept():
    result = naming.host_names([machine("web01"), machine("db-01.corp")])
    assert sorted(result.names.values()) == ["db-01.corp", "web01"]
    assert result.renamed == [] and result.warnings == []


def test_a_collision_takes_the_bare_name_from_every_machine_and_names_them_all():
    first, clone = machine("pay01"), machine("PAY01", group="dev", sub=SUB_B)
    result = naming.host_names([first, clone])
    assert result.host(first) == "pay01~rg1~" + SUB_A
    assert result.host(clone) == "PAY01~dev~" + SUB_B
    assert len(result.warnings) == 1
    assert first["resource_id"] in result.warnings[0] and clone["resource_id"] in result.warnings[0]


def test_a_name_never_moves_to_a_machine_that_appears_later():
    prod = machine("pay01", group="prod")
    before = naming.host_names([prod]).host(prod)
    newcomer = machine("pay01", group="aaa-first")
    after = naming.host_names([newcomer, prod])
    assert before == "pay01"
    assert after.host(newcomer) != before and after.host(prod) != before


@pytest.mark.parametrize("name", ["all", "ALL", "ungrouped", "localhost", "arc_linux", "Arc_Windows", "arc_connected"])
def test_reserved_names_are_qualified(name):
    m = machine(name)
    result = naming.host_names([m])
    assert result.host(m) == "%s~rg1~%s" % (name, SUB_A)
    assert "group name" in result.warnings[0]


def test_the_callers_group_names_are_reserved_case_insensitively():
    m = machine("Payments")
    assert naming.host_names([m], reserved=["payments"]).host(m).startswith("Payments~")


@pytest.mark.parametrize("name", ["web*", "a,b", "x:y", "~.*", "!prod", "&db", "h[0:9]", "@file", "a b", "é", "-x"])
def test_pattern_characters_never_reach_a_host_name(name):
    m = machine(name)
    host = naming.host_names([m]).host(m)
    assert not PATTERN.search(host)
    assert "~" in host and host[0] not in "~!&@.-"


def test_qualified_rule_for_everyone():
    m = machine("web01")
    result = naming.host_names([m], rule="qualified")
    assert result.host(m) == "web01~rg1~" + SUB_A and result.warnings == []


def test_bad_rule_names_the_option():
    with pytest.raises(naming.NamingError, match="host_naming"):
        naming.host_names([], rule="bare")
    assert naming.check_rule(None) == "name"


def test_qualified_names_that_collide_after_replacement_are_hashed():
    one, two = machine("a*b"), machine("a?b")
    result = naming.host_names([one, two])
    assert result.host(one) != result.host(two)
    assert re.fullmatch(r"a_b~h[0-9a-f]{12}", result.host(one))


def test_the_resource_id_is_the_identity_case_insensitively():
    m = machine("web01")
    same = dict(m, resource_id=m["resource_id"].upper())
    result = naming.host_names([m, same])
    assert len(result.names) == 1 and result.host(same) == "web01"


def test_tags_names_case_insensitive_values_exact():
    tags = {"Env": "Prod"}
    assert naming.tag_value(tags, "env") == (True, "Prod")
    assert naming.tags_match(tags, {"ENV": "Prod"})
    assert not naming.tags_match(tags, {"env": "prod"})
    assert naming.tags_match(tags, {"eNv": None})
    assert not naming.tags_match(tags, {"tier": None})


def test_match_by_resource_id_by_name_and_ambiguity():
    pay, clone, web = machine("pay01"), machine("pay01", group="dev"), machine("web01")
    lonely = machine("lonely")
    fleet = [pay, clone, web, lonely]
    result = naming.match_hosts({"pay01": None, "WEB01": None, "byid": clone["resource_id"].upper(), "gone": None},
                                fleet)
    assert result.machines["pay01"] is None
    assert [m["resource_id"] for m in result.ambiguous["pay01"]] == [pay["resource_id"], clone["resource_id"]]
    assert pay["resource_id"] in result.ambiguity("pay01") and clone["resource_id"] in result.ambiguity("pay01")
    assert result.machines["WEB01"] is web and result.machines["byid"] is clone and result.machines["gone"] is None
    assert result.not_in_inventory == [lonely]


def test_a_static_host_named_by_the_qualified_name_matches_that_machine():
    pay, clone = machine("pay01"), machine("pay01", group="dev")
    result = naming.match_hosts({"pay01~dev~" + SUB_A: None}, [pay, clone])
    assert result.machines["pay01~dev~" + SUB_A] is clone
    assert result.not_in_inventory == [pay]


# ------------------------------------------------------------------------------------------------ properties

NAMES = st.one_of(st.sampled_from(["pay01", "PAY01", "all", "ungrouped", "arc_linux", "web*", "a,b", "x:y", "~r",
                                   "grp", "h[1:2]", "pay01~rg1~" + SUB_A, ""]),
                  st.text(alphabet="abAB01_.-*?~,:[] !", min_size=1, max_size=6))
FLEET = st.lists(st.tuples(NAMES, st.sampled_from(["rg1", "RG1", "dev", "a(b)"]), st.sampled_from([SUB_A, SUB_B])),
                 max_size=25)


@settings(max_examples=300, deadline=None)
@given(FLEET, st.lists(st.sampled_from(["grp", "Pay01", "web"]), max_size=2))
def test_property_names_are_unique_safe_and_owned(rows, groups):
    fleet = [machine(n, g, s) for n, g, s in rows]
    result = naming.host_names(fleet, reserved=groups)
    hosts = list(result.names.values())
    assert len({h.lower() for h in hosts}) == len(hosts)
    reserved = {g.lower() for g in groups} | set(naming.ANSIBLE_RESERVED) | set(naming.COLLECTION_GROUPS)
    for key, host in result.names.items():
        assert not PATTERN.search(host) and host.lower() not in reserved and host[0] not in ".-"
        m = result.machine(host)
        assert naming.machine_key(m) == key
        same_name = [x for x in fleet if x["name"].lower() == m["name"].lower()
                     and naming.machine_key(x) != key]
        if host == m["name"]:
            assert not same_name
        else:
            # a name that is not bare is derived from this machine alone: the same in any other fleet
            alone = naming.host_names([m], reserved=groups, rule="qualified").host(m)
            assert host in (alone, naming.hashed_name(m))


@settings(max_examples=200, deadline=None)
@given(FLEET, FLEET)
def test_property_a_host_name_never_moves_to_another_machine(before_rows, added_rows):
    before = [machine(n, g, s) for n, g, s in before_rows]
    after = before + [machine(n, g, s) for n, g, s in added_rows]
    old = naming.host_names(before)
    new = naming.host_names(after)
    owner = {host.lower(): key for key, host in old.names.items()}
    for key, host in new.names.items():
        if host.lower() in owner:
            assert owner[host.lower()] == key
