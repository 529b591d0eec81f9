import pytest

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _catalog as catalog
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _planner as planner
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._scripts import argv_of
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._secrets import Secret

DEFAULTS = {
    "incomingconnections.enabled": True, "incomingconnections.ports": [], "connection.type": "default",
    "proxy.url": "", "proxy.bypass": [], "extensions.allowlist": [], "extensions.blocklist": [],
    "guestconfiguration.enabled": True, "extensions.enabled": True, "config.mode": "full",
    "guestconfiguration.agent.cpulimit": 5, "extensions.agent.cpulimit": 5,
}


def state(**changes):
    out = dict(DEFAULTS)
    for key, value in changes.items():
        out[key.replace("__", ".")] = value
    return out


def steps(args, current=None, os_name="linux"):
    desired = planner.desired_state(args, os_name)
    return [argv_of(s) for s in planner.plan(desired, current or state()).steps]


# ------------------------------------------------------------------ bad input

BAD = [
    ({"extensions_allowlist": [""]}, "empty entry"),
    ({"extensions_allowlist": ["   "]}, "empty entry"),
    ({"extensions_allowlist": ["NoSlash"]}, "neither an extension alias"),
    ({"extensions_allowlist": ["a/b/c"]}, "exactly one '/'"),
    ({"extensions_allowlist": ["a/b,c/d"]}, "contains a comma"),
    ({"extensions_allowlist": ["a/b\nc/d"]}, "control character"),
    ({"extensions_allowlist": ["a/b\x00"]}, "control character"),
    ({"extensions_allowlist": ["a/$(reboot)"]}, "not a valid Publisher/Type"),
    ({"extensions_allowlist": ["a/b;rm"]}, "not a valid Publisher/Type"),
    ({"extensions_allowlist": ["a/b`whoami`"]}, "quote character"),
    ({"extensions_allowlist": ["a/b|x"]}, "not a valid Publisher/Type"),
    ({"extensions_allowlist": ["a/b & calc"]}, "not a valid Publisher/Type"),
    ({"extensions_allowlist": ["Microsoft.Azure.Monitor\u2215AzureMonitorLinuxAgent"]}, "DIVISION SLASH"),
    ({"extensions_allowlist": ["Microsoft.Azure.Monitor\uff0fAzureMonitorLinuxAgent"]}, "FULLWIDTH SOLIDUS"),
    ({"extensions_allowlist": ["\u201cMicrosoft.Azure.Monitor/AzureMonitorLinuxAgent\u201d"]}, "quote character"),
    ({"extensions_allowlist": ["\u2018Qualys/LinuxAgent.AzureSecurityCenter\u2019"]}, "quote character"),
    ({"extensions_allowlist": ["-j/x"]}, "start with '-'"),
    ({"extensions_allowlist": ["Allow/None", "azure_monitor_agent"]}, "cannot be combined"),
    ({"extensions_blocklist": ["Allow/None"]}, "only meaningful in the allowlist"),
    ({"extensions_allowlist": ["azure_monitor"]}, "neither an extension alias"),
    ({"extensions_allowlist": ["defender_sql"]}, "empty allowlist would allow every extension"),
    ({"incomingconnections_ports": [0]}, "between 1 and 65535"),
    ({"incomingconnections_ports": [65536]}, "between 1 and 65535"),
    ({"incomingconnections_ports": ["ssh"]}, "must be an integer"),
    ({"guestconfiguration_enabled": "maybe"}, "must be a boolean"),
    ({"extensions_enabled": "yes please"}, "must be a boolean"),
    ({"mode": "audit"}, "must be one of"),
    ({"mode": "monitor", "extensions_allowlist": ["azure_monitor_agent"]}, "cannot be combined"),
    ({"mode": "monitor", "extensions_blocklist": []}, "cannot be combined"),
    ({"mode": "monitor", "guestconfiguration_enabled": False}, "cannot be combined"),
    ({"settings": {"no.such.property": 1}}, None),
    ({"settings": {"Not A Property": 1}}, "not an azcmagent property name"),
    ({"settings": {"extensions.agent.cpulimit": 0}}, "between 1 and 100"),
    ({"settings": {"extensions.agent.cpulimit": "ten"}}, "must be an integer"),
    ({"settings": {"proxy.url": "http://a:1"}, "proxy_url": "http://b:2"}, "give it once"),
    ({"proxy_url": "proxy.example.com:3128"}, "must look like http://host:port"),
    ({"proxy_url": "ftp://proxy:21"}, "must look like http://host:port"),
    ({"proxy_url": "http://proxy:99999"}, "invalid port"),
    ({"proxy_url": "http://proxy:3128/path"}, "nothing after it"),
    ({"proxy_url": "http://pro xy:3128"}, "white space"),
    ({"proxy_bypass": ["AzureAD"]}, "not a proxy bypass value"),
    ({"list_action": "merge"}, "list_action"),
    ({"list_action": "add", "extensions_allowlist": []}, "needs at least one item"),
]


@pytest.mark.parametrize("args, message", BAD)
def test_bad_input_fails_before_anything_runs(args, message):
    with pytest.raises(planner.PlanError) as err:
        desired = planner.desired_state(args, "linux", known_properties=set(DEFAULTS))
        planner.plan(desired, state())
    if message:
        assert message in str(err.value)


@pytest.mark.parametrize("value", ['http://proxy:3128/"', "C:\\path\\", 'a"b'])
def test_values_windows_cannot_pass_intact_are_refused_on_windows(value):
    with pytest.raises(planner.PlanError):
        planner.desired_state({"settings": {"connection.type": value}}, "windows", known_properties=set(DEFAULTS))


def test_proxy_credentials_are_not_in_error_messages():
    with pytest.raises(planner.PlanError) as err:
        planner.desired_state({"proxy_url": "ftp://user:hunter2@proxy:21"}, "linux")
    assert "hunter2" not in str(err.value)


# ----------------------------------------------------------------- aliases

@pytest.mark.parametrize("alias", sorted(catalog.EXTENSIONS))
@pytest.mark.parametrize("os_name", ["windows", "linux"])
def test_every_alias_resolves_to_the_name_for_the_os(alias, os_name):
    expected = catalog.EXTENSIONS[alias][os_name]
    resolved = planner.resolve_names("extensions_blocklist", [alias], os_name, allowlist=False)
    assert resolved.names == ([expected] if expected else [])
    if expected is None:
        assert resolved.notes


def test_ama_on_each_os():
    assert steps({"extensions_allowlist": ["azure_monitor_agent"]}, os_name="windows") == [
        ["config", "set", "extensions.allowlist", "Microsoft.Azure.Monitor/AzureMonitorWindowsAgent"]]
    assert steps({"extensions_allowlist": ["azure_monitor_agent"]}, os_name="linux") == [
        ["config", "set", "extensions.allowlist", "Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"]]


# ----------------------------------------------------------------- warnings

def warnings_for(args, os_name="linux"):
    return planner.desired_state(args, os_name).warnings


def test_unknown_name_warns():
    assert any("not in the extension catalog" in w for w in warnings_for({"extensions_allowlist": ["Contoso/Agent"]}))


def test_windows_name_in_a_linux_allowlist_warns_with_the_right_name():
    found = warnings_for({"extensions_allowlist": ["Microsoft.Azure.AzureDefenderForServers/MDE.Windows"]})
    assert any("Microsoft.Azure.AzureDefenderForServers/MDE.Linux" in w for w in found)


def test_other_os_names_in_a_blocklist_do_not_warn():
    assert warnings_for({"extensions_blocklist": ["Microsoft.Compute/CustomScriptExtension"]}) == []


@pytest.mark.parametrize("alias", ["custom_script", "run_command", "hybrid_worker"])
def test_script_runners_in_an_allowlist_warn(alias):
    assert any("runs arbitrary scripts" in w for w in warnings_for({"extensions_allowlist": [alias]}))


def test_name_in_both_lists_warns():
    found = warnings_for({"extensions_allowlist": ["azure_monitor_agent"],
                          "extensions_blocklist": ["Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"]})
    assert any("both" in w for w in found)


def test_extension_manager_off_with_an_allowlist_warns():
    assert any("no effect" in w for w in warnings_for({"extensions_enabled": False,
                                                       "extensions_allowlist": ["azure_monitor_agent"]}))


def test_docs_hybrid_worker_name_warns_in_an_allowlist():
    found = warnings_for({"extensions_allowlist": ["Microsoft.Azure.Automation/HybridWorkerForLinux"]})
    assert any("Microsoft.Azure.Automation.HybridWorker/HybridWorkerForLinux" in w for w in found)


def test_catalog_names_do_not_warn():
    # current extensions: qualys, deprecated, warns (tests/unit/test_lifecycle.py)
    assert warnings_for({"extensions_allowlist": ["azure_monitor_agent", "defender_endpoint", "key_vault"]}) == []


# ------------------------------------------------------------------ planning

def test_converged_host_plans_nothing():
    current = state(extensions__allowlist=["Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"],
                    guestconfiguration__enabled=False)
    assert steps({"mode": "full", "extensions_allowlist": ["azure_monitor_agent"],
                  "guestconfiguration_enabled": False}, current) == []


def test_only_what_differs_is_written():
    assert steps({"guestconfiguration_enabled": False, "extensions_enabled": True}) == [
        ["config", "set", "guestconfiguration.enabled", "false"]]


def test_lists_compare_as_sets_trimmed_case_insensitive_without_duplicates():
    current = state(extensions__blocklist=["microsoft.compute/customscriptextension", "Microsoft.CPlat.Core/RunCommandHandlerLinux"])
    given = " Microsoft.Cplat.Core/RunCommandHandlerLinux,Microsoft.Compute/CustomScriptExtension , Microsoft.Compute/CustomScriptExtension"
    assert steps({"extensions_blocklist": given}, current) == []


def test_the_documentations_blocklist_string_with_stray_spaces():
    given = ("Microsoft.Cplat.Core/RunCommandHandlerWindows, Microsoft.Cplat.Core/RunCommandHandlerLinux,"
             "Microsoft.Compute/CustomScriptExtension,Microsoft.Azure.Extensions/CustomScript,"
             "Microsoft.Azure.Automation.HybridWorker/HybridWorkerForWindows, "
             "Microsoft.Azure.Automation/HybridWorkerForLinux,"
             "Microsoft.EnterpriseCloud.Monitoring/MicrosoftMonitoringAgent, "
             "Microsoft.EnterpriseCloud.Monitoring/OMSAgentForLinux")
    planned = steps({"extensions_blocklist": given})
    # the documentation's misspelt Hybrid Worker is written under its real name, never as given
    real = given.replace(", ", ",").replace("Microsoft.Azure.Automation/HybridWorkerForLinux",
                                            "Microsoft.Azure.Automation.HybridWorker/HybridWorkerForLinux")
    assert planned == [["config", "set", "extensions.blocklist", real]]


def test_empty_list_clears():
    assert steps({"extensions_allowlist": []}, state(extensions__allowlist=["a/b"])) == [
        ["config", "clear", "extensions.allowlist"]]
    assert steps({"extensions_allowlist": []}) == []


def test_add_sends_only_the_missing_items():
    current = state(extensions__allowlist=["Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"])
    assert steps({"extensions_allowlist": ["azure_monitor_agent", "defender_endpoint"], "list_action": "add"},
                 current) == [["config", "set", "extensions.allowlist",
                               "Microsoft.Azure.AzureDefenderForServers/MDE.Linux", "--add"]]


def test_remove_sends_the_stored_spelling_of_present_items():
    current = state(extensions__allowlist=["microsoft.azure.monitor/azuremonitorlinuxagent", "x/y"])
    assert steps({"extensions_allowlist": ["azure_monitor_agent", "not/there"], "list_action": "remove"},
                 current) == [["config", "set", "extensions.allowlist",
                               "microsoft.azure.monitor/azuremonitorlinuxagent", "--remove"]]
    assert steps({"extensions_allowlist": ["not/there"], "list_action": "remove"}, current) == []


def test_proxy_is_a_secret_and_empty_clears():
    desired = planner.desired_state({"proxy_url": "http://user:pw@proxy:3128"}, "linux")
    plan = planner.plan(desired, state())
    assert isinstance(argv_of(plan.steps[0])[-1], Secret)
    assert "pw" not in argv_of(plan.steps[0])[-1].shown
    assert steps({"proxy_url": ""}, state(proxy__url="http://proxy:3128")) == [["config", "clear", "proxy.url"]]


def test_settings_values_and_null_clears():
    current = state(extensions__agent__cpulimit=20)
    assert steps({"settings": {"extensions.agent.cpulimit": None, "guestconfiguration.agent.cpulimit": "10"}},
                 current) == [["config", "set", "guestconfiguration.agent.cpulimit", "10"],
                              ["config", "clear", "extensions.agent.cpulimit"]]
    assert steps({"settings": {"extensions.agent.cpulimit": None}}) == []


def test_leaving_monitor_mode_comes_first_and_lists_wait_for_a_second_pass():
    desired = planner.desired_state({"mode": "full", "extensions_allowlist": ["azure_monitor_agent"],
                                     "proxy_bypass": ["ARM"]}, "linux")
    plan = planner.plan(desired, state(config__mode="monitor"))
    assert argv_of(plan.steps[0]) == ["config", "set", "config.mode", "full"]
    assert ["config", "set", "proxy.bypass", "ARM"] in [argv_of(s) for s in plan.steps]
    assert all(s.prop != "extensions.allowlist" for s in plan.steps)
    assert plan.second_pass and plan.pending == ["extensions.allowlist"]
    # the projection: the pending list as given, the rest as the steps leave them
    assert plan.after["extensions.allowlist"] == ["Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"]
    assert plan.after["config.mode"] == "full" and plan.after["proxy.bypass"] == ["ARM"]


def test_lists_on_a_monitor_host_without_mode_full_fail():
    with pytest.raises(planner.PlanError, match="add mode: full"):
        steps({"extensions_allowlist": ["azure_monitor_agent"]}, state(config__mode="monitor"))


def test_entering_monitor_mode_comes_last():
    assert steps({"mode": "monitor", "proxy_bypass": ["ARM"]}) == [
        ["config", "set", "proxy.bypass", "ARM"], ["config", "set", "config.mode", "monitor"]]


def test_a_name_moving_to_the_allowlist_leaves_the_blocklist_first():
    current = state(extensions__blocklist=["Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"], extensions__allowlist=["a/b"])
    assert steps({"extensions_allowlist": ["azure_monitor_agent"], "extensions_blocklist": []}, current) == [
        ["config", "clear", "extensions.blocklist"],
        ["config", "set", "extensions.allowlist", "Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"]]


def test_a_name_moving_to_the_blocklist_leaves_the_allowlist_first():
    current = state(extensions__allowlist=["Microsoft.Azure.Extensions/CustomScript", "a/b"])
    assert steps({"extensions_blocklist": ["custom_script"], "extensions_allowlist": ["a/b"]}, current) == [
        ["config", "set", "extensions.allowlist", "a/b"],
        ["config", "set", "extensions.blocklist", "Microsoft.Azure.Extensions/CustomScript"]]


def test_unsupported_property_names_the_version_that_added_it():
    old = {k: v for k, v in DEFAULTS.items() if k not in ("extensions.agent.cpulimit", "guestconfiguration.agent.cpulimit")}
    with pytest.raises(planner.PlanError, match="1.39 or later"):
        steps({"settings": {"extensions.agent.cpulimit": 10}}, old)


def test_agent_without_config_mode_is_in_full_mode():
    old = {k: v for k, v in DEFAULTS.items() if k != "config.mode"}
    assert steps({"mode": "full"}, old) == []
    with pytest.raises(planner.PlanError, match="1.18"):
        steps({"mode": "monitor"}, old)


def test_verify_compares_like_the_planner():
    expected = {"extensions.allowlist": ["A/b", "c/d"], "guestconfiguration.enabled": False}
    assert planner.verify(expected, {"extensions.allowlist": ["c/d", "a/b"], "guestconfiguration.enabled": False}) == []
    assert planner.verify(expected, {"extensions.allowlist": ["c/d"], "guestconfiguration.enabled": False}) == [
        ("extensions.allowlist", ["A/b", "c/d"], ["c/d"])]


def test_redact_url():
    from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._secrets import redact_url
    assert redact_url is planner.redact_url
    assert planner.redact_url("http://user:pass@proxy:3128") == "http://********@proxy:3128"
    assert planner.redact_url("http://proxy:3128") == "http://proxy:3128"


def test_profile_options_come_from_the_catalog_and_the_spec_in_the_messages_order():
    from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _profiles as profiles
    assert profiles.PROFILE_OPTIONS == (
        "mode", "extensions_allowlist", "extensions_blocklist", "list_action", "guestconfiguration_enabled",
        "extensions_enabled", "incomingconnections_enabled", "incomingconnections_ports", "proxy_url", "proxy_bypass",
        "settings", "timeout")
    assert set(catalog.OPTION_PROPERTIES) < set(profiles.PROFILE_OPTIONS)


def test_resolve_checks_only_what_the_profile_brings_and_the_task_wins():
    from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _profiles as profiles
    from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._options import CONFIG_SPEC
    task = {k: v.get("default") for k, v in CONFIG_SPEC.items()}
    task.update(profile="p", profiles={"p": {"options": {"timeout": "30", "guestconfiguration_enabled": "no"}}},
                guestconfiguration_enabled=True)
    out = profiles.resolve(task, CONFIG_SPEC)
    assert out["timeout"] == 30 and out["guestconfiguration_enabled"] is True and out["mode"] is None
    task["profiles"]["p"]["options"]["timeout"] = "soon"
    with pytest.raises(planner.PlanError, match="^profile p: .*timeout"):
        profiles.resolve(task, CONFIG_SPEC)
