"""The drift watch's pure logic (_drift): arguments, profile per machine, events per poll, backoff.

Fed with plain machine dicts (the keys _arcmachine.normalise_row gives), compared with the collection's
own comparison (_arcmachine.differences): no Azure here.
"""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _arcmachine as arcmachine
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _drift as drift
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._profiles import PROFILES

pytestmark = pytest.mark.drift

AMA = "Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"
MDE = "Microsoft.Azure.AzureDefenderForServers/MDE.Linux"
DEFENDER_LINUX = {"config.mode": "full", "extensions.allowlist": [AMA, MDE], "extensions.blocklist": [],
                  "extensions.enabled": True, "guestconfiguration.enabled": False,
                  "incomingconnections.ports": [], "proxy.bypass": [], "proxy.url": ""}


def machine(name, config=None, status="Connected", os_type="linux", tags=None):
    return {"name": name, "resource_id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.HybridCompute/"
                                         "machines/%s" % name,
            "subscription_id": "s", "resource_group": "rg", "location": "westeurope", "tags": tags or {},
            "status": status, "agent_version": "1.64.03414.2961", "os_type": os_type, "os_name": os_type,
            "os_version": "x", "last_status_change": "2026-11-30T08:15:02Z", "machine_fqdn": name,
            "dns_fqdn": name, "agent_configuration": dict(DEFENDER_LINUX if config is None else config)}


def weakened(**changes):
    config = dict(DEFENDER_LINUX)
    config.update(changes)
    return config


def settings(**args):
    args.setdefault("profile", "defender")
    return drift.parse_args(args, PROFILES)


def poll(tracker, now, machines, conf=None):
    evaluated, _skipped = drift.evaluate(conf or settings(), machines, arcmachine.differences)
    return tracker.observe(now, evaluated)


# ------------------------------------------------------------------------------------------------ arguments

@pytest.mark.parametrize("args, words", [
    ({}, "exactly one of profile and profile_by_tag"),
    ({"profile": "defender", "profile_by_tag": {"tag": "t"}}, "exactly one of profile and profile_by_tag"),
    ({"profile": "nope"}, "profile 'nope' is not a profile; known profiles: ama_only"),
    ({"profile": 3}, "profile 3 is not a profile"),
    ({"profile_by_tag": "arc-lockdown"}, "profile_by_tag must be a dictionary with one key, tag"),
    ({"profile_by_tag": {"tag": ""}}, "profile_by_tag must be a dictionary with one key, tag"),
    ({"profile_by_tag": {"tag": "a", "default": "esu"}}, "profile_by_tag must be a dictionary with one key, tag"),
    ({"profile": "defender", "interval": 29}, "interval must be at least 30 seconds, got 29"),
    ({"profile": "defender", "interval": "soon"}, "interval must be a number of seconds, got 'soon'"),
    ({"profile": "defender", "interval": True}, "interval must be a number of seconds, got True"),
    ({"profile": "defender", "interval": float("nan")}, "interval must be at least 30 seconds"),
    ({"profile": "defender", "repeat_after": -1}, "repeat_after must be at least 0 seconds, got -1"),
    ({"profile": "defender", "timeout": 0}, "timeout must be at least 1 seconds, got 0"),
    ({"profile": "defender", "include_statuses": []}, "include_statuses must list at least one status"),
    ({"profile": "defender", "include_statuses": [""]}, "include_statuses must be a list of non-empty strings"),
    ({"profile": "defender", "include_statuses": {"a": 1}}, "include_statuses must be a list of non-empty strings"),
    ({"profile": "defender", "profiles": ["x"]}, "profiles must be a dictionary of profiles, got 'list'"),
    ({"profile": "defender", "profiles": {"x": "y"}}, "profiles: x must be a dictionary with an options dictionary"),
    ({"profile": "defender", "intervall": 60}, "unknown argument intervall; known arguments: arm_endpoint"),
])
def test_bad_arguments_name_the_argument(args, words):
    with pytest.raises(drift.DriftArgumentError) as err:
        drift.parse_args(args, PROFILES)
    assert words in str(err.value)


def test_not_a_dict():
    with pytest.raises(drift.DriftArgumentError, match="must be a dictionary, got 'list'"):
        drift.parse_args(["profile"], PROFILES)


def test_defaults_and_pass_through():
    conf = drift.parse_args({"profile": "esu", "subscriptions": ["s1"], "secret": "x", "cloud": None}, PROFILES)
    assert conf["interval"] == 300 and conf["repeat_after"] == 3600 and conf["timeout"] == 120
    assert conf["include_statuses"] == {"connected"}
    assert conf["azure"] == {"subscriptions": ["s1"], "secret": "x"}   # None = not given
    assert drift.parse_args({"profile": "esu", "interval": "30"}, PROFILES)["interval"] == 30


def test_minimum_interval_is_lowered_only_when_asked():
    with pytest.raises(drift.DriftArgumentError):
        drift.parse_args({"profile": "esu", "interval": 0.5}, PROFILES)
    assert drift.parse_args({"profile": "esu", "interval": 0.5}, PROFILES, min_interval=0)["interval"] == 0.5


def test_user_profiles_are_known_names():
    conf = drift.parse_args({"profile": "mine", "profiles": {"mine": {"options": {"mode": "monitor"}}}}, PROFILES)
    assert conf["profile"] == "mine"


# ------------------------------------------------------------------------------------------------ profile per machine

@pytest.mark.parametrize("tags, expected", [
    ({"arc-lockdown": "esu"}, ("esu", None)),
    ({"ARC-Lockdown": "esu"}, ("esu", None)),         # Azure tag names are case-insensitive
    ({"arc-lockdown": " esu "}, ("esu", None)),
    ({}, (None, "untagged")),
    ({"other": "esu"}, (None, "untagged")),
    ({"arc-lockdown": ""}, (None, "tag arc-lockdown is empty")),
    ({"arc-lockdown": "Esu"}, (None, "tag arc-lockdown names 'Esu', which is not a profile")),
])
def test_profile_by_tag(tags, expected):
    conf = drift.parse_args({"profile_by_tag": {"tag": "arc-lockdown"}}, PROFILES)
    assert drift.profile_for(conf, machine("m", tags=tags)) == expected


def test_evaluate_skips_what_cannot_be_compared():
    conf = drift.parse_args({"profile_by_tag": {"tag": "arc-lockdown"}, "include_statuses": ["Connected", "Error"]},
                            PROFILES)
    machines = [
        machine("ok", tags={"arc-lockdown": "defender"}),
        machine("drifted", weakened(**{"guestconfiguration.enabled": True}), tags={"arc-lockdown": "defender"}),
        machine("untagged"),
        machine("off", status="Disconnected", tags={"arc-lockdown": "defender"}),
        machine("error", status="error", tags={"arc-lockdown": "defender"}),   # statuses compared case-insensitively
        machine("silent", config={}, tags={"arc-lockdown": "defender"}),
        machine("noos", os_type=None, tags={"arc-lockdown": "defender"}),
    ]
    evaluated, skipped = drift.evaluate(conf, machines, arcmachine.differences)
    assert [(m["name"], p, d) for m, p, d in evaluated] == [
        ("ok", "defender", []),
        ("drifted", "defender", [{"property": "guestconfiguration.enabled", "expected": False, "actual": True}]),
        ("error", "defender", []),
    ]
    reasons = {m["name"]: r for m, r in skipped}
    assert reasons["untagged"] == "untagged"
    assert reasons["silent"] == "Azure reports no agent settings"
    assert reasons["noos"].startswith("profile defender: Azure reports no OS type")
    assert "off" not in reasons


def test_settings_azure_does_not_report_are_never_drift():
    # defender also wants incomingconnections.enabled false: Azure does not report it, so it is not drift
    conf = settings()
    config = dict(DEFENDER_LINUX)
    del config["extensions.allowlist"]
    evaluated, skipped = drift.evaluate(conf, [machine("m", config)], arcmachine.differences)
    assert evaluated[0][2] == [] and skipped == []


# ------------------------------------------------------------------------------------------------ events

def test_one_event_per_drifted_machine_with_the_exact_differences():
    tracker = drift.DriftTracker(3600)
    events = poll(tracker, 0, [machine("web01"), machine("web02", weakened(**{"extensions.allowlist": [AMA]})),
                               machine("web03", weakened(**{"config.mode": "monitor"}))])
    assert events == [
        {"arc_drift": {"name": "web02", "resource_id": machine("web02")["resource_id"], "os_type": "linux",
                       "profile": "defender", "status": "Connected", "agent_version": "1.64.03414.2961",
                       "last_status_change": "2026-11-30T08:15:02Z", "host_name": "web02", "overrides": {},
                       "differences": [{"property": "extensions.allowlist", "expected": [AMA, MDE],
                                        "actual": [AMA]}]},
         "meta": {"hosts": "web02"}},
        {"arc_drift": dict(events[1]["arc_drift"], name="web03", host_name="web03"), "meta": {"hosts": "web03"}},
    ]
    assert events[1]["arc_drift"]["differences"] == [{"property": "config.mode", "expected": "full",
                                                      "actual": "monitor"}]
    json.dumps(events)   # events go through ansible-rulebook as JSON


def test_unchanged_drift_is_not_resent_until_repeat_after():
    tracker = drift.DriftTracker(100)
    bad = [machine("web02", weakened(**{"guestconfiguration.enabled": True}))]
    assert len(poll(tracker, 0, bad)) == 1
    assert poll(tracker, 50, bad) == []
    assert poll(tracker, 99.9, bad) == []
    again = poll(tracker, 100, bad)
    assert [e["arc_drift"]["name"] for e in again] == ["web02"]
    assert poll(tracker, 150, bad) == []


def test_changed_drift_is_sent_at_once():
    tracker = drift.DriftTracker(3600)
    assert len(poll(tracker, 0, [machine("m", weakened(**{"guestconfiguration.enabled": True}))])) == 1
    more = weakened(**{"guestconfiguration.enabled": True, "config.mode": "monitor"})
    events = poll(tracker, 1, [machine("m", more)])
    assert sorted(d["property"] for d in events[0]["arc_drift"]["differences"]) == [
        "config.mode", "guestconfiguration.enabled"]


def test_order_of_differences_does_not_make_new_drift():
    tracker = drift.DriftTracker(3600)
    a = {"property": "a", "expected": 1, "actual": 2}
    b = {"property": "b", "expected": [1], "actual": []}
    m = machine("m")
    assert len(tracker.observe(0, [(m, "p", [a, b])])) == 1
    assert tracker.observe(1, [(m, "p", [b, a])]) == []
    assert len(tracker.observe(2, [(m, "other", [b, a])])) == 1   # another profile: new drift


def test_resolved_once_then_drift_again():
    tracker = drift.DriftTracker(3600)
    bad = [machine("web02", weakened(**{"guestconfiguration.enabled": True}))]
    good = [machine("web02")]
    poll(tracker, 0, bad)
    resolved = poll(tracker, 1, good)
    assert resolved == [{"arc_drift_resolved": {
        "name": "web02", "resource_id": good[0]["resource_id"], "os_type": "linux", "profile": "defender",
        "status": "Connected", "agent_version": "1.64.03414.2961", "last_status_change": "2026-11-30T08:15:02Z",
        "host_name": "web02", "resolved_differences": [{"property": "guestconfiguration.enabled", "expected": False, "actual": True}]},
        "meta": {"hosts": "web02"}}]
    assert poll(tracker, 2, good) == []
    assert [list(e)[0] for e in poll(tracker, 3, bad)] == ["arc_drift"]   # drifted again: sent again at once


def test_compliant_machine_never_sent_as_resolved():
    tracker = drift.DriftTracker(3600)
    assert poll(tracker, 0, [machine("m")]) == []
    assert poll(tracker, 1, [machine("m")]) == []


def test_machine_missing_from_a_poll_keeps_its_record():
    tracker = drift.DriftTracker(100)
    bad = [machine("m", weakened(**{"guestconfiguration.enabled": True}))]
    poll(tracker, 0, bad)
    assert poll(tracker, 10, []) == []       # disconnected or filtered out: neither resolved nor forgotten
    assert poll(tracker, 20, bad) == []      # back, same drift: not resent
    assert poll(tracker, 500, []) == []
    assert [list(e)[0] for e in poll(tracker, 600, [machine("m")])] == ["arc_drift_resolved"]


def test_records_of_machines_gone_for_a_week_are_dropped():
    tracker = drift.DriftTracker(100)
    poll(tracker, 0, [machine("m", weakened(**{"guestconfiguration.enabled": True}))])
    assert poll(tracker, 7 * 86400 - 1, []) == [] and tracker.sent
    assert poll(tracker, 7 * 86400, []) == [] and tracker.sent == {}


def test_same_machine_twice_in_a_poll_counts_once():
    tracker = drift.DriftTracker(3600)
    bad = machine("m", weakened(**{"guestconfiguration.enabled": True}))
    assert len(poll(tracker, 0, [bad, dict(bad, resource_id=bad["resource_id"].upper())])) == 1


@given(st.lists(st.tuples(st.floats(0, 50), st.lists(st.tuples(st.sampled_from("abc"), st.sampled_from([0, 1, 2])),
                                                     max_size=5)), max_size=25),
       st.floats(0, 120))
def test_event_stream_invariants(polls, repeat_after):
    """Over any sequence of polls: at most one event per machine per poll; a resolved event only after a drift
    event; an unchanged drift never twice within repeat_after; the latest drift of a machine is always sent."""
    tracker = drift.DriftTracker(repeat_after)
    now = 0.0
    last = {}        # name -> (signature, time) of the last drift event
    open_drift = set()
    for step, observed in polls:
        now += step
        evaluated = []
        state = {}
        for name, kind in observed:
            state[name] = kind
        for name, kind in state.items():
            diffs = [] if kind == 0 else [{"property": "p", "expected": kind, "actual": 0}]
            evaluated.append((dict(machine(name), host_name=name), "defender", diffs))   # as evaluate() gives them
        events = tracker.observe(now, evaluated)
        names = [e["meta"]["hosts"] for e in events]
        assert len(names) == len(set(names))
        for event in events:
            name = event["meta"]["hosts"]
            if "arc_drift_resolved" in event:
                assert name in open_drift and state[name] == 0
                open_drift.discard(name)
                last.pop(name, None)
            else:
                kind = event["arc_drift"]["differences"][0]["expected"]
                if name in last and last[name][0] == kind:
                    assert now - last[name][1] >= repeat_after
                last[name] = (kind, now)
                open_drift.add(name)
        for name, kind in state.items():
            if kind:
                assert name in last and last[name][0] == kind   # the current drift has been sent
            else:
                assert name not in open_drift


# ------------------------------------------------------------------------------------------------ backoff

def test_retry_delay_doubles_and_is_bounded():
    assert [drift.retry_delay(n, 300) for n in range(1, 8)] == [10, 20, 40, 80, 160, 300, 300]
    assert drift.retry_delay(1, 30) == 10
    assert drift.retry_delay(20, 3600) == 3600            # never retried less often than polled
    assert drift.retry_delay(1, 0.5) == 0.5                # short (test) intervals: short first retry
    assert drift.retry_delay(1, 300, retry_after=45) == 45  # Azure's Retry-After wins when longer
    assert drift.retry_delay(3, 300, retry_after=5) == 40


# ------------------------------------------------------------------------------------------------ issue: names, precedence

def test_the_overrides_win_over_the_profile_as_in_the_role():
    """A host with documented overrides is not drifted for what the overrides allow."""
    allowed = machine("web02", weakened(**{"guestconfiguration.enabled": True}))
    conf = settings()
    assert len(poll(drift.DriftTracker(3600), 0, [allowed], conf)) == 1
    with_overrides = drift.parse_args({"profile": "defender", "overrides": {"guestconfiguration_enabled": True}},
                                      PROFILES)
    assert poll(drift.DriftTracker(3600), 0, [allowed], with_overrides) == []
    per_host = drift.parse_args({"profile": "defender", "host_overrides": {
        allowed["resource_id"].upper(): {"overrides": {"guestconfiguration_enabled": True}}}}, PROFILES)
    assert poll(drift.DriftTracker(3600), 0, [allowed], per_host) == []
    events = poll(drift.DriftTracker(3600), 0, [dict(allowed, name="other", resource_id=allowed["resource_id"] + "x")],
                  per_host)
    assert len(events) == 1 and events[0]["arc_drift"]["overrides"] == {}


def test_an_unreadable_setting_is_drift():
    broken = dict(machine("web02"), unreadable=["guestconfiguration.enabled"])
    broken["agent_configuration"] = {k: v for k, v in broken["agent_configuration"].items()
                                     if k != "guestconfiguration.enabled"}
    events = poll(drift.DriftTracker(3600), 0, [broken])
    assert events[0]["arc_drift"]["differences"] == [{"property": "guestconfiguration.enabled", "expected": False,
                                                      "actual": "unreadable"}]


def test_the_signature_ignores_list_order_and_case():
    tracker = drift.DriftTracker(3600)
    one = [machine("web02", weakened(**{"extensions.allowlist": [AMA, MDE, "Contoso/Tool"]}))]
    other = [machine("web02", weakened(**{"extensions.allowlist": ["contoso/tool", MDE.upper(), AMA]}))]
    assert len(poll(tracker, 0, one)) == 1
    assert poll(tracker, 1, other) == []


def test_pattern_and_colliding_names_never_reach_meta_hosts():
    fleet = [machine("all", weakened(**{"guestconfiguration.enabled": True})),
             machine("web*", weakened(**{"guestconfiguration.enabled": True})),
             dict(machine("pay01", weakened(**{"guestconfiguration.enabled": True})),
                  resource_id="/subscriptions/s/resourceGroups/a/providers/Microsoft.HybridCompute/machines/pay01"),
             dict(machine("PAY01", weakened(**{"guestconfiguration.enabled": True})),
                  resource_id="/subscriptions/s/resourceGroups/b/providers/Microsoft.HybridCompute/machines/PAY01")]
    events = poll(drift.DriftTracker(3600), 0, fleet)
    assert sorted(e["meta"]["hosts"] for e in events) == ["PAY01~b~s", "all~rg~s", "pay01~a~s", "web_~rg~s"]
    assert all(e["meta"]["hosts"] == e["arc_drift"]["host_name"] for e in events)
