"""Extension resources as Azure sees them: rows, the join to machines, the classification, the grouping, the events."""

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _extensions as ext

pytestmark = pytest.mark.azure

SUB = "11111111-aaaa-4aaa-8aaa-000000000001"
AMA_L = "Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"
AMA_W = "Microsoft.Azure.Monitor/AzureMonitorWindowsAgent"
CSE_W = "Microsoft.Compute/CustomScriptExtension"
MMA_W = "Microsoft.EnterpriseCloud.Monitoring/MicrosoftMonitoringAgent"
SQL_W = "Microsoft.AzureData/WindowsAgent.SqlServer"


def config(allow=(), block=(), enabled=True, mode="full", **extra):
    out = {"extensions.allowlist": list(allow), "extensions.blocklist": list(block), "extensions.enabled": enabled,
           "config.mode": mode}
    out.update(extra)
    return out


def mid(name, sub=SUB, rg="rg1"):
    return "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.HybridCompute/machines/%s" % (sub, rg, name)


def machine(name="m1", os_type="windows", cfg=None, rid=None):
    return {"name": name, "resource_id": rid or mid(name), "os_type": os_type,
            "agent_configuration": config() if cfg is None else cfg}


def row(machine_rid, full_name, state="Succeeded", message=None, ext_name=None, system=None, level=None):
    publisher, _s, ext_type = full_name.partition("/")
    ext_name = ext_name or ext_type
    status = {}
    if message is not None:
        status["message"] = message
    if level is not None:
        status["level"] = level
    return {"id": machine_rid + "/extensions/" + ext_name, "name": ext_name, "type": ext.TYPE, "publisher": publisher,
            "extensionType": ext_type, "version": "1.2.3", "provisioningState": state,
            "instanceView": {"status": status}, "systemData": system}


# ------------------------------------------------------------------------------------------ permitted

PERMITTED = [
    # (name, os, config, expected)
    (AMA_W, "windows", config(), True),                                      # no lists: everything allowed
    (AMA_W, "windows", config(allow=[AMA_W]), True),
    (AMA_W, "windows", config(allow=[AMA_W.upper()]), True),                 # Publisher/Type case-insensitive
    (CSE_W, "windows", config(allow=[AMA_W]), False),                        # not in the allowlist
    (CSE_W, "windows", config(block=[CSE_W]), False),
    (CSE_W, "windows", config(allow=[CSE_W], block=[CSE_W]), False),         # the blocklist wins
    (AMA_W, "windows", config(allow=["Allow/None"]), False),
    (AMA_W, "windows", config(allow=["allow/none"]), False),
    (AMA_W, "windows", config(allow=["azure_monitor_agent"]), True),         # an alias, for the machine's OS
    (AMA_L, "linux", config(allow=["azure_monitor_agent"]), True),
    (AMA_W, "linux", config(allow=["azure_monitor_agent"]), False),          # the alias means the Linux agent there
    (CSE_W, "windows", config(block=["custom_script"]), False),
    (AMA_W, "windows", config(enabled=False), False),                        # the extension manager is off
    (AMA_W, "windows", config(allow=[AMA_W], enabled=False), False),
    (AMA_W, "windows", config(allow=[AMA_W], mode="monitor"), None),         # Microsoft's list: unknown
    (AMA_W, "windows", config(mode="monitor", enabled=False), False),        # off is off, also in monitor mode
    (AMA_W, "windows", {"extensions.allowlist": [], "extensions.blocklist": [], "config.mode": "full"}, None),
    (AMA_W, "windows", {"extensions.blocklist": [], "extensions.enabled": True, "config.mode": "full"}, None),
    (AMA_W, "windows", dict(config(), **{"extensions.allowlist": AMA_W}), None),  # not a list
    (AMA_W, "windows", config(allow=[{"publisher": "x"}]), None),            # unreadable entry
    (AMA_W, "windows", config(enabled="true"), None),
    (AMA_W, "windows", config(mode=None), None),                        # not typed: unreadable
    (AMA_W, "windows", None, None),
    (AMA_W, "windows", "garbage", None),
    # a dotted entry: whether the agent reads it is not documented; only where it does not decide
    (AMA_W, "windows", config(allow=["Microsoft.Azure.Monitor.AzureMonitorWindowsAgent"]), None),
    (AMA_W, "windows", config(allow=["Microsoft.Azure.Monitor.AzureMonitorWindowsAgent", AMA_W]), True),
    (CSE_W, "windows", config(allow=[AMA_W], block=["Microsoft.Compute.CustomScriptExtension"]), False),
    (AMA_W, "windows", config(block=["Microsoft.Azure.Monitor.AzureMonitorWindowsAgent"]), None),
    # a name the documentation misspells is not the real extension to the agent
    ("Microsoft.Azure.Automation.HybridWorker/HybridWorkerForLinux", "linux",
     config(block=["Microsoft.Azure.Automation/HybridWorkerForLinux"]), True),
]


@pytest.mark.parametrize("name, os_type, cfg, expected", PERMITTED)
def test_permitted(name, os_type, cfg, expected):
    assert ext.permitted(name, os_type, cfg) is expected


def test_a_name_without_publisher_or_type_cannot_be_judged():
    assert ext.permitted(None, "windows", config()) is None
    assert ext.permitted("CustomScriptExtension", "windows", config(allow=[AMA_W])) is None


# ------------------------------------------------------------------------------------------ classify

CLASSIFY = [
    # (state, config, name, expected)
    ("Succeeded", config(allow=[AMA_W]), AMA_W, "allowed"),
    ("Creating", config(allow=[AMA_W]), AMA_W, "allowed"),
    ("Succeeded", config(allow=[AMA_W]), CSE_W, "installed_but_blocked"),
    ("Creating", config(allow=[AMA_W]), CSE_W, "installed_but_blocked"),
    ("Deleting", config(block=[CSE_W]), CSE_W, "installed_but_blocked"),
    (None, config(block=[CSE_W]), CSE_W, "installed_but_blocked"),
    ("Failed", config(allow=[AMA_W]), CSE_W, "refused_by_lockdown"),
    ("failed", config(allow=["Allow/None"]), AMA_W, "refused_by_lockdown"),
    ("Failed", config(enabled=False), AMA_W, "refused_by_lockdown"),
    ("Failed", config(allow=[AMA_W]), AMA_W, "failed"),
    ("Failed", config(), CSE_W, "failed"),
    ("Failed", config(mode="monitor"), CSE_W, "unknown"),
    ("Succeeded", config(mode="monitor"), CSE_W, "unknown"),
    ("Failed", {}, CSE_W, "unknown"),
]


@pytest.mark.parametrize("state, cfg, name, expected", CLASSIFY)
def test_classify(state, cfg, name, expected):
    m = machine(cfg=cfg)
    record = ext.normalise_row(row(m["resource_id"], name, state=state))
    assert ext.classify(record, m) == (expected, False)


def test_retired_comes_from_the_catalog_lifecycle():
    m = machine(cfg=config(allow=[MMA_W]))
    record = ext.normalise_row(row(m["resource_id"], MMA_W))
    assert ext.classify(record, m) == ("allowed", True)
    record = ext.normalise_row(row(m["resource_id"], AMA_W))
    assert ext.classify(record, m)[1] is False
    # qualys is deprecated, not retired
    record = ext.normalise_row(row(m["resource_id"], "Qualys/WindowsAgent.AzureSecurityCenter"))
    assert ext.classify(record, m)[1] is False


# ------------------------------------------------------------------------------------------ rows and join

def test_a_row_as_arm_sends_it_and_as_resource_graph_projects_it_read_the_same():
    rid = mid("dc01") + "/extensions/CustomScriptExtension"
    arm = {"id": rid, "name": "CustomScriptExtension", "type": "Microsoft.HybridCompute/machines/extensions",
           "properties": {"publisher": "Microsoft.Compute", "type": "CustomScriptExtension", "typeHandlerVersion": "1.10",
                          "provisioningState": "Failed", "settings": {"commandToExecute": "secret"},
                          "instanceView": {"typeHandlerVersion": "1.10.3", "status": {
                              "level": "Error", "message": "Extension blocked by allowlist"}}},
           "systemData": {"createdBy": "alice@corp", "lastModifiedBy": "policy-dine"}}
    projected = {"id": rid, "name": "CustomScriptExtension", "publisher": "Microsoft.Compute",
                 "extensionType": "CustomScriptExtension", "version": "1.10", "provisioningState": "Failed",
                 "instanceView": arm["properties"]["instanceView"], "systemData": arm["systemData"]}
    a, b = ext.normalise_row(arm), ext.normalise_row(projected)
    assert a == b
    assert a["version"] == "1.10.3" and a["machine_id"] == mid("dc01")
    assert a["created_by"] == "alice@corp" and a["last_modified_by"] == "policy-dine"
    assert "secret" not in repr(a)


@pytest.mark.parametrize("bad", [None, 3, "x", [], {"id": None}, {"id": "/subscriptions/s/resourceGroups/r"},
                                 {"id": mid("m") + "/extensions/"}, {"id": mid("m") + "/extensions/a/b"},
                                 {"id": mid("m")}])
def test_a_row_that_is_not_an_extension_is_left_out_with_a_warning(bad):
    warnings = []
    assert ext.normalise_row(bad, warnings) is None
    assert len(warnings) == 1


def test_odd_values_from_azure_stay_data():
    rid = mid("m") + "/extensions/e"
    record = ext.normalise_row({"id": rid, "publisher": {"x": 1}, "extensionType": ["a"], "provisioningState": 7,
                                "instanceView": "nope", "systemData": "nope"})
    assert record["publisher"] is None and record["type"] is None and record["provisioning_state"] == "7"
    assert record["created_by"] is None and record["status_message"] is None
    assert ext.classify(record, machine(cfg=config()))[0] == "unknown"


def test_join_by_resource_id_any_case_and_machines_that_share_a_name_keep_their_own():
    a = machine("web01", rid=mid("web01", rg="rg-a"), cfg=config(allow=[AMA_W]))
    b = machine("web01", rid=mid("web01", rg="rg-b"), cfg=config())
    rows = [row(mid("web01", rg="rg-a").upper().replace("/EXTENSIONS", "/extensions"), CSE_W),
            row(mid("web01", rg="RG-B").replace("/machines/", "/Machines/"), CSE_W, ext_name="cse"),
            row(mid("other"), CSE_W)]
    rows[0]["id"] = rows[0]["id"].replace("/extensions/", "/Extensions/")
    warnings = []
    ext.attach([a, b], rows + [rows[0]], warnings)
    assert [e["classification"] for e in a["extensions"]] == ["installed_but_blocked"]
    assert [(e["name"], e["classification"]) for e in b["extensions"]] == [("cse", "allowed")]
    assert warnings == []


def test_public_keys_are_exactly_the_documented_ones():
    m = machine(cfg=config())
    ext.attach([m], [row(m["resource_id"], AMA_W, system={"createdBy": "x"})])
    assert list(ext.public(m["extensions"][0])) == list(ext.PUBLIC_KEYS)
    assert set(ext.PUBLIC_KEYS) == {"name", "publisher", "type", "version", "provisioning_state", "status_level",
                                    "status_message", "created_by", "last_modified_by", "classification", "retired"}


# ------------------------------------------------------------------------------------------ grouping

def test_refused_installs_group_by_extension_and_requester_count_machines():
    def rec(name, who=None, created=None, cls="refused_by_lockdown"):
        publisher, _s, ext_type = name.partition("/")
        return {"publisher": publisher, "type": ext_type, "classification": cls, "last_modified_by": who,
                "created_by": created}
    entries = [("sql%03d" % i, [rec(SQL_W, "policy-sql"), rec(SQL_W, "policy-sql")]) for i in range(400)]
    entries += [("dc01", [rec(CSE_W, None, "eve@corp"), rec(AMA_W, cls="allowed")]),
                ("dc02", [rec(CSE_W.lower(), None, "EVE@corp"), rec(CSE_W, None, None)]),
                ("web01", [rec(AMA_W, cls="installed_but_blocked")])]
    out = ext.refused_installs(entries)
    assert out[0]["extension"] == SQL_W and out[0]["requested_by"] == "policy-sql" and out[0]["count"] == 400
    assert len(out[0]["machines"]) == 400
    assert out[1] == {"extension": CSE_W, "requested_by": "eve@corp", "machines": ["dc01", "dc02"], "count": 2}
    assert out[2] == {"extension": CSE_W, "requested_by": None, "machines": ["dc02"], "count": 1}
    assert len(out) == 3


NAMES = st.sampled_from([AMA_W, CSE_W, SQL_W, MMA_W, AMA_L])
STATES = st.sampled_from(["Succeeded", "Failed", "Creating", "Deleting", None])
CONFIGS = st.one_of(
    st.builds(config, allow=st.lists(NAMES | st.just("Allow/None") | st.sampled_from(["custom_script", "sql_server"]),
                                     max_size=3),
              block=st.lists(NAMES, max_size=2), enabled=st.booleans(), mode=st.sampled_from(["full", "monitor"])),
    st.just({}), st.just(None))


@settings(max_examples=300, deadline=None)
@given(fleet=st.lists(st.tuples(CONFIGS, st.sampled_from(["linux", "windows"]),
                                st.lists(st.tuples(NAMES, STATES, st.sampled_from([None, "pol", "POL", "bob"])),
                                         max_size=4)), max_size=6))
def test_property_classification_and_totals(fleet):
    machines, rows = [], []
    for index, (cfg, os_type, exts) in enumerate(fleet):
        m = machine("m%d" % index, os_type, cfg)
        machines.append(m)
        for j, (name, state, who) in enumerate(exts):
            rows.append(row(m["resource_id"], name, state=state, ext_name="e%d" % j,
                            system={"lastModifiedBy": who} if who else None))
    ext.attach(machines, list(reversed(rows)))
    for m in machines:
        for record in m["extensions"]:
            verdict = ext.permitted("%s/%s" % (record["publisher"], record["type"]), m["os_type"],
                                    m["agent_configuration"])
            failed = record["provisioning_state"] == "Failed"
            expected = {None: "unknown", True: "failed" if failed else "allowed",
                        False: "refused_by_lockdown" if failed else "installed_but_blocked"}[verdict]
            assert record["classification"] == expected
            # fail closed: a machine without readable settings never has a judged extension
            if not isinstance(m["agent_configuration"], dict) or not m["agent_configuration"]:
                assert record["classification"] == "unknown"
    groups = ext.refused_installs([(m["name"], m["extensions"]) for m in machines])
    refused = {(m["name"], "%s/%s" % (r["publisher"], r["type"]), (r["last_modified_by"] or "").lower())
               for m in machines for r in m["extensions"] if r["classification"] == "refused_by_lockdown"}
    assert sum(g["count"] for g in groups) == len(refused)
    for group in groups:
        assert group["count"] == len(group["machines"]) == len(set(group["machines"]))


# ------------------------------------------------------------------------------------------ events

def test_one_event_per_resource_and_change():
    m = machine(cfg=config(allow=[AMA_W]))
    tracker = ext.RefusalTracker()

    def poll(now, state, message):
        m.pop("extensions", None)
        ext.attach([m], [row(m["resource_id"], CSE_W, state=state, message=message, system={"createdBy": "eve"})])
        return tracker.observe(now, [m], lambda machine: machine["name"])
    first = poll(0, "Failed", "blocked")
    assert len(first) == 1
    event = first[0]
    assert event["meta"] == {"hosts": "m1"}
    assert event["arc_extension_refused"]["extension"] == CSE_W
    assert event["arc_extension_refused"]["requested_by"] == "eve"
    assert event["arc_extension_refused"]["status_message"] == "blocked"
    assert event["arc_extension_refused"]["resource_id"] == m["resource_id"]
    assert [poll(t, "Failed", "blocked") for t in (300, 600, 10 ** 6)] == [[], [], []]
    assert len(poll(10 ** 6 + 1, "Failed", "blocked again")) == 1
    assert poll(10 ** 6 + 2, "Creating", None) == []          # installed_but_blocked: no refusal event
    assert len(poll(10 ** 6 + 3, "Failed", "blocked again")) == 1   # the retry failed again: a new event


def test_a_needed_setting_azure_reports_unreadably_makes_every_extension_unknown():
    m = dict(machine(cfg=config(block=[CSE_W])), unreadable=["extensions.allowlist"])
    ext.attach([m], [row(m["resource_id"], CSE_W, state="Failed")])
    assert m["extensions"][0]["classification"] == "unknown"
    m = dict(machine(cfg=config(block=[CSE_W])), unreadable=["proxy.url"])
    ext.attach([m], [row(m["resource_id"], CSE_W, state="Failed")])
    assert m["extensions"][0]["classification"] == "refused_by_lockdown"


@pytest.mark.parametrize("text, expected", [
    ("plain text {not a template}", "plain text {not a template}"),
    ("{{ lookup('pipe', 'id') }}", "{ { lookup('pipe', 'id') }}"),
    ("{% for x in y %}{# c #}", "{ % for x in y %}{ # c #}"),
    ("{{{", "{ { {"),
    (None, None),
])
def test_defuse_leaves_no_template_opener(text, expected):
    assert ext.defuse(text) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="{}%# ab", max_size=30))
def test_property_defused_text_opens_no_template(text):
    out = ext.defuse(text)
    assert not any(o in out for o in ("{{", "{%", "{#"))
    assert out.replace(" ", "") == text.replace(" ", "")
