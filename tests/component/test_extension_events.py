"""The arc_extension_refused events of the arc_drift source (main() with a queue double) against the fake Azure."""

import pytest

from tests.lib.drift_source import AMA, args_for, machine, polls, rid, run, state
from tests.lib.drift_source import fake  # noqa: F401  pylint: disable=unused-import

pytestmark = pytest.mark.drift


CSE_L = "Microsoft.Azure.Extensions/CustomScript"
POLICY = "/providers/Microsoft.Authorization/policyAssignments/dine-cse"


def ext(full, state_="Failed", message="Extension blocked by the allowlist", name=None, who=POLICY):
    publisher, _s, ext_type = full.partition("/")
    out = {"name": name or ext_type, "publisher": publisher, "type": ext_type, "state": state_,
           "last_modified_by": who, "system_data": who is not None}
    if message is not None:
        out["message"] = message
    return out


def refused(queue):
    return [e for e in queue.events if "arc_extension_refused" in e]


def with_extensions(m, *exts):
    return dict(m, extensions=list(exts))


def set_extensions(fake, name, *exts):
    def change(doc):
        for m in doc["machines"]:
            if m["name"] == name:
                m["extensions"] = list(exts)
    fake.update_state(change)


def test_one_event_per_refused_extension_and_change_never_a_storm(fake):
    fake.write_state(state([
        with_extensions(machine("web01"), ext(CSE_L), ext(AMA, state_="Succeeded", message=None)),
        with_extensions(machine("web02"), ext(CSE_L, message=None, who=None)),        # no message, no systemData
        with_extensions(machine("web03", config={"config.mode": "monitor"}), ext(CSE_L)),  # unknown: no event
        with_extensions(machine("web04"), ext(AMA, message="disk full")),             # failed, allowed: no event
    ]))
    steps = [
        (lambda q: polls(fake) >= 4, lambda: set_extensions(fake, "web01", ext(CSE_L, message="blocked, try 2"))),
        (lambda q: polls(fake) >= 8, lambda: set_extensions(fake, "web01", ext(CSE_L, state_="Creating",
                                                                               message=None))),
        (lambda q: polls(fake) >= 11, lambda: set_extensions(fake, "web01", ext(CSE_L, message="blocked, try 2"))),
    ]
    queue, running = run(args_for(fake), lambda q: polls(fake) >= 15, during=steps, timeout=60)
    assert running
    events = refused(queue)
    by_host = {}
    for event in events:
        by_host.setdefault(event["meta"]["hosts"], []).append(event["arc_extension_refused"])
    assert sorted(by_host) == ["web01", "web02"]
    # web01: first failure, a new message, then (after a retry that went through Creating) the same failure again
    assert [e["status_message"] for e in by_host["web01"]] == ["Extension blocked by the allowlist",
                                                               "blocked, try 2", "blocked, try 2"]
    first = by_host["web01"][0]
    assert first["machine"] == "web01" and first["resource_id"] == rid("web01")
    assert first["extension"] == CSE_L and first["requested_by"] == POLICY
    assert first["extension_id"].lower() == (rid("web01") + "/extensions/CustomScript").lower()
    assert len(by_host["web02"]) == 1 and by_host["web02"][0]["requested_by"] is None
    # drift events are unaffected: only web03 (monitor mode) drifted from its profile
    assert {e["meta"]["hosts"] for e in queue.events if "arc_drift" in e} == {"web03"}


def test_machines_sharing_a_name_get_events_by_the_naming_rule(fake):
    twin = dict(machine("web01"), resource_group="arc-dev", extensions=[ext(CSE_L)])
    fake.write_state(state([with_extensions(machine("web01"), ext(CSE_L)), twin]))
    queue, _running = run(args_for(fake), lambda q: len(refused(q)) >= 2, timeout=30)
    hosts = sorted(e["meta"]["hosts"] for e in refused(queue))
    assert len(hosts) == 2 and "web01" not in hosts and all(h.startswith("web01~") for h in hosts), hosts


def test_extension_events_can_be_turned_off(fake):
    fake.write_state(state([with_extensions(machine("web01"), ext(CSE_L))]))
    queue, running = run(args_for(fake, extension_events=False), lambda q: polls(fake) >= 3, timeout=30)
    assert running and refused(queue) == []
    assert not [r for r in fake.graph_requests() if "machines/extensions" in str(r.get("body"))]


@pytest.mark.parametrize("value", ["maybe", 3, ["x"]])
def test_a_bad_extension_events_value_is_refused_naming_it(fake, value):
    with pytest.raises(Exception) as info:
        run(args_for(fake, extension_events=value), lambda q: False, timeout=10)
    assert "extension_events" in str(info.value)
