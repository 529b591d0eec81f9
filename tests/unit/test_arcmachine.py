"""Arc machine rows from Azure in the collection's terms (_arcmachine), and the pure parts of _azure."""

import copy

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _arcmachine as arcmachine
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _azure as azure
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._planner import PlanError

pytestmark = pytest.mark.azure

SUB1 = "aaaaaaaa-0000-4000-8000-000000000001"
SUB2 = "BBBBBBBB-0000-4000-8000-000000000002"
RID = "/subscriptions/5f0c0c2e-1111-2222-3333-444444444444/resourceGroups/Arc-Prod/providers/Microsoft.HybridCompute/machines/web01"

# a Resource Graph row as documented: envelope + ARG columns, properties as ARM has them
ROW = {
    "id": RID, "name": "web01", "type": "microsoft.hybridcompute/machines", "tenantId": "t",
    "kind": "", "location": "westeurope", "resourceGroup": "arc-prod",
    "subscriptionId": "5f0c0c2e-1111-2222-3333-444444444444", "managedBy": "", "sku": None, "plan": None,
    "tags": {"env": "prod"}, "identity": {"type": "SystemAssigned"}, "zones": None,
    "properties": {
        "status": "Connected", "lastStatusChange": "2025-11-19T23:34:02.9794112Z",
        "agentVersion": "1.58.03228.700", "osName": "linux", "osType": "linux", "osVersion": "6.8.0-87-generic",
        "machineFqdn": "web01.corp", "dnsFqdn": "web01", "displayName": "web01",
        "agentConfiguration": {"configMode": "full", "extensionsAllowList": [], "extensionsBlockList": [],
                               "extensionsEnabled": "true", "guestConfigurationEnabled": "true",
                               "incomingConnectionsPorts": [], "proxyBypass": [], "proxyUrl": ""},
    },
}


def row_with(config=None, **props):
    row = copy.deepcopy(ROW)
    row["properties"].update(props)
    if config is not None:
        row["properties"]["agentConfiguration"] = config
    return row


def test_envelope_keys_and_values():
    machine = arcmachine.normalise_row(ROW)
    assert sorted(machine) == sorted(arcmachine.KEYS)
    assert machine["name"] == "web01"
    assert machine["resource_id"] == RID
    assert machine["subscription_id"] == "5f0c0c2e-1111-2222-3333-444444444444"
    # Resource Graph lower-cases resourceGroup; the id keeps the real spelling
    assert machine["resource_group"] == "Arc-Prod"
    assert machine["location"] == "westeurope"
    assert machine["tags"] == {"env": "prod"}
    assert machine["status"] == "Connected"
    assert machine["agent_version"] == "1.58.03228.700"
    assert (machine["os_type"], machine["os_name"], machine["os_version"]) == ("linux", "linux", "6.8.0-87-generic")
    assert machine["last_status_change"] == "2025-11-19T23:34:02.9794112Z"
    assert (machine["machine_fqdn"], machine["dns_fqdn"]) == ("web01.corp", "web01")


# (agentConfiguration as Azure sends it, agent_configuration as azcmagent_config's config return has it)
CONFIG_TABLE = [
    # the real capture: strings for booleans, empty lists, empty proxy
    (ROW["properties"]["agentConfiguration"],
     {"config.mode": "full", "extensions.allowlist": [], "extensions.blocklist": [], "extensions.enabled": True,
      "guestconfiguration.enabled": True, "incomingconnections.ports": [], "proxy.bypass": [], "proxy.url": ""}),
    # the specification's example: null lists, ports as strings
    ({"configMode": "full", "extensionsAllowList": None, "extensionsBlockList": None, "extensionsEnabled": "true",
      "guestConfigurationEnabled": "true", "incomingConnectionsPorts": ["22", "23"],
      "proxyBypass": ["proxy1", "proxy2"], "proxyUrl": "https://test.test"},
     {"config.mode": "full", "extensions.allowlist": [], "extensions.blocklist": [], "extensions.enabled": True,
      "guestconfiguration.enabled": True, "incomingconnections.ports": [22, 23], "proxy.bypass": ["proxy1", "proxy2"],
      "proxy.url": "https://test.test"}),
    # {publisher, type} objects in the lists, false as a string, monitor mode
    ({"configMode": "monitor", "extensionsEnabled": "false", "guestConfigurationEnabled": "False",
      "extensionsAllowList": [{"publisher": "Microsoft.Azure.Monitor", "type": "AzureMonitorLinuxAgent"}],
      "extensionsBlockList": [{"Publisher": "Microsoft.Compute", "Type": "CustomScriptExtension"},
                              {"publisher": "Microsoft.CPlat.Core", "type": "RunCommandHandlerWindows"}]},
     {"config.mode": "monitor", "extensions.enabled": False, "guestconfiguration.enabled": False,
      "extensions.allowlist": ["Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"],
      "extensions.blocklist": ["Microsoft.Compute/CustomScriptExtension",
                               "Microsoft.CPlat.Core/RunCommandHandlerWindows"]}),
    # real booleans and integers (another API version may send them)
    ({"extensionsEnabled": True, "guestConfigurationEnabled": False, "incomingConnectionsPorts": [22, 5985]},
     {"extensions.enabled": True, "guestconfiguration.enabled": False, "incomingconnections.ports": [22, 5985]}),
    # Publisher/Type strings in the lists; Allow/None
    ({"extensionsAllowList": ["Allow/None"], "extensionsBlockList": ["Qualys/LinuxAgent.AzureSecurityCenter"]},
     {"extensions.allowlist": ["Allow/None"], "extensions.blocklist": ["Qualys/LinuxAgent.AzureSecurityCenter"]}),
    # proxy credentials are redacted
    ({"proxyUrl": "http://user:p%40ss@proxy.corp:3128"}, {"proxy.url": "http://********@proxy.corp:3128"}),
    # null booleans and mode say nothing: absent; a null proxy is no proxy
    ({"extensionsEnabled": None, "configMode": None, "proxyUrl": None}, {"proxy.url": ""}),
    # what Azure does not report is absent, and unknown keys are not guessed into properties
    ({"configMode": "FULL", "someFutureSetting": "x"}, {"config.mode": "full"}),
    # a key this collection knows, if Azure starts reporting it
    ({"incomingConnectionsEnabled": "false"}, {"incomingconnections.enabled": False}),
    ({}, {}),
]


@pytest.mark.parametrize("raw, expected", CONFIG_TABLE)
def test_agent_configuration_table(raw, expected):
    assert arcmachine.normalise_row(row_with(config=raw))["agent_configuration"] == expected


def test_incoming_connections_enabled_is_never_guessed():
    config = arcmachine.normalise_row(ROW)["agent_configuration"]
    assert "incomingconnections.enabled" not in config


@pytest.mark.parametrize("props, os_type", [
    ({"osType": "linux"}, "linux"), ({"osType": "Windows"}, "windows"), ({"osType": None, "osName": "windows"},
                                                                         "windows"),
    ({"osType": None, "osName": None}, None), ({"osType": "", "osName": ""}, None),
])
def test_os_type_lower_case(props, os_type):
    assert arcmachine.normalise_row(row_with(**props))["os_type"] == os_type


@pytest.mark.parametrize("status", ["Connected", "Disconnected", "Error", "AwaitingConnection", "Expired"])
def test_status_as_azure_spells_it(status):
    assert arcmachine.normalise_row(row_with(status=status))["status"] == status


def test_machine_that_never_reported():
    row = copy.deepcopy(ROW)
    for key in ("agentConfiguration", "agentVersion", "lastStatusChange", "osVersion", "machineFqdn", "dnsFqdn"):
        del row["properties"][key]
    row["properties"]["status"] = "AwaitingConnection"
    row["tags"] = None
    machine = arcmachine.normalise_row(row)
    assert machine["agent_configuration"] == {}
    assert machine["agent_version"] is None and machine["last_status_change"] is None
    assert machine["tags"] == {}


def test_bad_value_is_left_out_with_a_warning():
    warnings = []
    machine = arcmachine.normalise_row(row_with(config={"extensionsEnabled": "maybe", "configMode": "full",
                                                        "extensionsAllowList": [{"publisher": "x"}]}), warnings)
    assert machine["agent_configuration"] == {"config.mode": "full"}
    assert len(warnings) == 2 and all("web01" in w for w in warnings)


def test_arm_get_body_normalises_too():
    body = copy.deepcopy(ROW)
    for key in ("resourceGroup", "subscriptionId", "tenantId"):
        del body[key]
    body["type"] = "Microsoft.HybridCompute/machines"
    machine = arcmachine.normalise_row(body)
    assert machine["resource_group"] == "Arc-Prod" and machine["subscription_id"].startswith("5f0c")


# ------------------------------------------------------------------------------------------ differences

REPORTED = {"config.mode": "full", "extensions.allowlist": ["Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"],
            "extensions.blocklist": [], "extensions.enabled": True, "guestconfiguration.enabled": True,
            "incomingconnections.ports": [], "proxy.bypass": [], "proxy.url": ""}


def test_differences_profile_with_aliases_resolved_per_os():
    diffs, missing, _warnings = arcmachine.compare({"profile": "defender"}, "linux", REPORTED)
    by_prop = {d["property"]: d for d in diffs}
    assert by_prop["guestconfiguration.enabled"] == {"property": "guestconfiguration.enabled", "expected": False,
                                                     "actual": True}
    assert by_prop["extensions.allowlist"]["expected"] == ["Microsoft.Azure.Monitor/AzureMonitorLinuxAgent",
                                                           "Microsoft.Azure.AzureDefenderForServers/MDE.Linux"]
    # incomingconnections.enabled is in the profile but Azure does not report it: never drift
    assert "incomingconnections.enabled" not in by_prop
    assert missing == ["incomingconnections.enabled"]


def test_differences_windows_names_for_a_windows_machine():
    reported = dict(REPORTED, **{"extensions.allowlist": ["Microsoft.Azure.Monitor/AzureMonitorWindowsAgent"],
                                 "guestconfiguration.enabled": False})
    assert arcmachine.differences({"profile": "ama_only"}, "windows", reported) == []
    assert arcmachine.differences({"profile": "ama_only"}, "linux", reported)[0]["property"] == "extensions.allowlist"


def test_differences_lists_compare_as_sets_and_overrides_apply():
    reported = dict(REPORTED, **{"extensions.allowlist": ["microsoft.azure.monitor/azuremonitorlinuxagent"]})
    assert arcmachine.differences({"profile": "ama_only", "overrides": {"guestconfiguration_enabled": True}},
                                  "linux", reported) == []


def test_differences_proxy_compared_redacted():
    reported = dict(REPORTED, **{"proxy.url": "http://********@proxy:3128"})
    assert arcmachine.differences({"proxy_url": "http://u:secret@proxy:3128"}, "linux", reported) == []
    diffs = arcmachine.differences({"proxy_url": "http://u:secret@other:3128"}, "linux", reported)
    assert diffs == [{"property": "proxy.url", "expected": "http://********@other:3128",
                      "actual": "http://********@proxy:3128"}]
    assert "secret" not in repr(diffs)


def test_differences_nothing_reported_is_not_drift():
    assert arcmachine.compare({"profile": "defender"}, "linux", {})[0] == []


@pytest.mark.parametrize("options, os_type, message", [
    ({"profile": "nope"}, "linux", "profile nope is not a profile"),
    ({"profile": "defender"}, None, "no OS type"),
    ({"extensions_allowlist": ["not a name"]}, "linux", "extensions_allowlist"),
])
def test_differences_bad_input(options, os_type, message):
    with pytest.raises(PlanError, match=message):
        arcmachine.differences(options, os_type, REPORTED)


# ------------------------------------------------------------------------------------------ _azure, pure parts

@pytest.mark.parametrize("headers, seconds", [
    ({"Retry-After": "3"}, 3.0), ({"retry-after-ms": "1500"}, 1.5), ({"x-ms-retry-after-ms": "250"}, 0.25),
    ({"x-ms-user-quota-resets-after": "00:00:04"}, 4.0), ({"x-ms-user-quota-resets-after": "01:02:03"}, 3723.0),
    ({}, None), ({"Retry-After": "soon"}, None),
])
def test_retry_after(headers, seconds):
    assert azure.retry_after(headers) == seconds


@pytest.mark.parametrize("options, key, value", [
    ({}, "arm_endpoint", "https://management.azure.com"),
    ({}, "instance_discovery", True),
    ({"cloud": "AzureUSGovernment"}, "scope", "https://management.core.usgovcloudapi.net/.default"),
    ({"cloud": "azurechinacloud"}, "authority", "https://login.chinacloudapi.cn"),
    ({"arm_endpoint": "https://127.0.0.1:8443/", "authority_host": "127.0.0.1:8443"}, "scope",
     "https://127.0.0.1:8443/.default"),
    ({"authority_host": "https://127.0.0.1:8443"}, "instance_discovery", False),
    ({"subscriptions": "%s, %s,%s" % (SUB1, SUB2, SUB1.upper())}, "subscriptions", [SUB1, SUB2]),
    ({"arm_endpoint": "management.example.com:8443/base/"}, "arm_endpoint", "https://management.example.com:8443/base"),
    ({"arm_endpoint": "https://[::1]:8443"}, "arm_endpoint", "https://[::1]:8443"),
])
def test_settings(options, key, value):
    assert azure.settings(options)[key] == value


@pytest.mark.parametrize("options, message", [
    ({"auth_source": "password"}, "auth_source must be one of"),
    ({"cloud": "AzureGermanCloud"}, "cloud must be one of"),
    ({"authority_host": "http://127.0.0.1:8443"}, "authority_host must be an https URL"),
    ({"secret": "hunter2", "client_id": "app"}, "missing: tenant"),
    ({"secret": "hunter2"}, "missing: client_id, tenant"),
    ({"subscriptions": [SUB1, ""]}, "subscriptions: empty entry"),
    ({"subscriptions": ["Production"]}, "subscriptions must be subscription IDs .*'Production'"),
    ({"subscriptions": [5, SUB1]}, "not subscription names.*got '5'$"),
    ({"subscriptions": "aaaaaaaa-0000-4000-8000-0000000000010"}, "subscriptions must be subscription IDs"),
    ({"arm_endpoint": "not a url"}, "arm_endpoint must be an https URL such as"),
    ({"arm_endpoint": "https://arm.example.com:99999"}, "arm_endpoint must be an https URL such as"),
    ({"authority_host": "https://user:hunter2@login.example.com"}, "authority_host must be an https URL such as"),
])
def test_settings_errors(options, message):
    with pytest.raises(azure.AzureError, match=message) as caught:
        azure.settings(options)
    assert "hunter2" not in str(caught.value)


def _id_part_by_segment(rid, segment, row, key):
    """The ID part after ``segment`` found segment by segment, each lowered alone (the reference reading)."""
    parts = str(rid or "").split("/")
    for index, part in enumerate(parts[:-1]):
        if part.lower() == segment:
            return parts[index + 1]
    return row.get(key)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(["subscriptions", "SubScriptions", "resourceGroups", "RESOURCEGROUPS", "", "x",
                                 "\u212aey", "\u0130d", "\u03a3s", "s\u03a3", "r\u00df"]) | st.text(max_size=8),
                max_size=8))
def test_resource_id_parts_read_as_each_segment_lowered(segments):
    """The subscription and resource group come from the segment after ``subscriptions``/``resourceGroups`` in
    any case (Unicode case mappings that change a segment's length included), else from the row's column."""
    rid = "/".join(segments)
    row = {"subscriptionId": "from-row-sub", "resourceGroup": "from-row-rg"}
    for segment, key in (("subscriptions", "subscriptionId"), ("resourcegroups", "resourceGroup")):
        assert arcmachine._id_part(rid, segment, row, key) == _id_part_by_segment(rid, segment, row, key)
