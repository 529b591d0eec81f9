# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every event of the arc_drift source is data for whoever templates it next (ansible-rulebook renders an
action's arguments, Ansible renders extra variables): no text that Azure or the agent gave may open a template."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _arcmachine as arcmachine
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _drift as drift
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _naming as naming
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._profiles import PROFILES

pytestmark = pytest.mark.drift

OPENERS = ("{{", "{%", "{#")
# text built from the characters that matter: braces, percent, hash, and ordinary letters
hostile = st.text(alphabet="{}%# a7*\n", min_size=0, max_size=24)


def _texts(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _texts(key)
            yield from _texts(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _texts(item)


def _machine(name_suffix, status, allow, version):
    return {"name": "m1", "resource_id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.HybridCompute/"
                                         "machines/m1" + name_suffix,
            "subscription_id": "s", "resource_group": "rg", "tags": {}, "status": status,
            "agent_version": version, "os_type": "linux", "last_status_change": "2026-11-30T08:15:02Z",
            "agent_configuration": {"config.mode": "full", "extensions.allowlist": allow,
                                    "extensions.blocklist": [], "extensions.enabled": True,
                                    "guestconfiguration.enabled": True, "incomingconnections.enabled": True}}


@settings(max_examples=200, deadline=None)
@given(suffix=hostile, status=hostile, allow=st.lists(hostile, min_size=1, max_size=3), version=hostile)
def test_drift_and_resolved_events_open_no_template(suffix, status, allow, version):
    conf = drift.parse_args({"profile": "defender", "include_statuses": [status.strip() or "x"]}, PROFILES)
    machine = _machine(suffix, status.strip() or "x", allow, version)
    evaluated, skipped = drift.evaluate(conf, [machine], arcmachine.differences)
    assert evaluated, skipped
    events = []
    for found_machine, profile, differences in evaluated:
        events.append(drift.drift_event(found_machine, profile, differences, "m1"))
        events.append(drift.resolved_event(found_machine, profile, differences, "m1"))
    for event in events:
        for text in _texts(event):
            assert not any(opener in text for opener in OPENERS), json.dumps(event)


def test_a_drift_event_keeps_ordinary_text_and_breaks_templates():
    machine = _machine("", "Connected", ["{{ lookup('pipe', 'id') }}"], "1.64.0")
    event = drift.drift_event(machine, "defender", [{"property": "extensions.allowlist",
                                                     "expected": ["Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"],
                                                     "actual": ["{{ lookup('pipe', 'id') }}"]}], "m1")
    details = event["arc_drift"]
    assert details["differences"][0]["actual"] == ["{ { lookup('pipe', 'id') }}"]
    assert details["differences"][0]["expected"] == ["Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"]
    assert details["resource_id"] == machine["resource_id"]
    assert event["meta"]["hosts"] == "m1"


@given(st.text())
def test_inert_is_idempotent_and_leaves_no_opener(text):
    once = naming.inert({"k" + text: [text, {"x": text}]})
    assert naming.inert(once) == once
    assert not any(opener in t for t in _texts(once) for opener in OPENERS)
