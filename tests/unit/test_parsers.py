import json

import pytest

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _parsers as parsers

TEXT_LIST = """Local Configuration Settings
  incomingconnections.enabled (preview)                 : true
  incomingconnections.ports (preview)                   : []
  connection.type (preview)                             : default
  proxy.url                                             : http://169.254.0.11:3128
  proxy.bypass                                          : []
  extensions.allowlist                                  : []
  extensions.blocklist                                  : [Microsoft.EnterpriseCloud.Monitoring/MicrosoftMonitoringAgent]
  guestconfiguration.enabled                            : true
  extensions.enabled                                    : true
  config.mode                                           : full
  guestconfiguration.agent.cpulimit                     : 5
  extensions.agent.cpulimit                             : 5
"""

# The capture from Microsoft's own test fixtures (agent 1.16)
JSON_116 = ('{"LocalSettings":[{"Key":"incomingconnections.ports","Value":[]},{"Key":"proxy.url","Value":""},'
            '{"Key":"extensions.allowlist","Value":[]},{"Key":"extensions.blocklist","Value":[]},'
            '{"Key":"proxy.bypass","Value":[]},{"Key":"guestconfiguration.enabled","Value":"true"}]}')


def test_text_layout_from_the_reference():
    got = parsers.parse_config_list(TEXT_LIST)
    assert got["proxy.url"] == "http://169.254.0.11:3128"
    assert got["extensions.blocklist"] == ["Microsoft.EnterpriseCloud.Monitoring/MicrosoftMonitoringAgent"]
    assert got["incomingconnections.enabled"] is True
    assert got["incomingconnections.ports"] == []
    assert got["config.mode"] == "full"
    assert got["extensions.agent.cpulimit"] == 5
    assert len(got) == 12


@pytest.mark.parametrize("shown, items", [
    ("[a/b c/d]", ["a/b", "c/d"]),
    ("[a/b,c/d]", ["a/b", "c/d"]),
    ("[a/b, c/d]", ["a/b", "c/d"]),
    ("[a/b]", ["a/b"]),
    ("[]", []),
])
def test_text_lists_with_either_separator(shown, items):
    text = "Local Configuration Settings\n  extensions.allowlist %s: %s\n" % (" " * 32, shown)
    assert parsers.parse_config_list(text)["extensions.allowlist"] == items


def test_empty_proxy_in_text_prints_nothing_after_the_colon():
    text = "Local Configuration Settings\n  proxy.url                                             :\n"
    assert parsers.parse_config_list(text)["proxy.url"] == ""
    assert parsers.parse_config_list(text.replace(":\n", ": \n"))["proxy.url"] == ""


def test_json_capture_from_agent_1_16():
    got = parsers.parse_config_list(JSON_116)
    assert got == {"incomingconnections.ports": [], "proxy.url": "", "extensions.allowlist": [],
                   "extensions.blocklist": [], "proxy.bypass": [], "guestconfiguration.enabled": True}


@pytest.mark.parametrize("value, expected", [("true", True), ("false", False), (True, True), (False, False),
                                             ("True", True), ("FALSE", False)])
def test_json_booleans_as_strings_or_literals(value, expected):
    doc = {"LocalSettings": [{"Key": "guestconfiguration.enabled", "Value": value}]}
    assert parsers.parse_config_list(json.dumps(doc))["guestconfiguration.enabled"] is expected


@pytest.mark.parametrize("value", ["7", 7, 7.0])
def test_json_integers_as_strings_or_literals(value):
    doc = {"LocalSettings": [{"Key": "extensions.agent.cpulimit", "Value": value}]}
    assert parsers.parse_config_list(json.dumps(doc))["extensions.agent.cpulimit"] == 7


def test_json_with_extra_keys_key_casing_preview_suffix_and_log_lines():
    doc = {"ConfigVersion": 3, "localSettings": [
        {"key": "incomingconnections.ports (preview)", "value": ["22", 6516]},
        {"KEY": "extensions.allowlist", "VALUE": ["a/b", "c/d"]}]}
    text = "INFO    reading configuration\n" + json.dumps(doc) + "\nINFO    done\n"
    got = parsers.parse_config_list(text)
    assert got == {"incomingconnections.ports": [22, 6516], "extensions.allowlist": ["a/b", "c/d"]}


def test_json_list_given_as_a_string():
    doc = {"LocalSettings": [{"Key": "extensions.blocklist", "Value": "[a/b c/d]"}]}
    assert parsers.parse_config_list(json.dumps(doc))["extensions.blocklist"] == ["a/b", "c/d"]


@pytest.mark.parametrize("garbage", [
    "", "   ", "panic: runtime error", '{"LocalSett', '{"Other": 1}', "[1, 2]",
    '{"LocalSettings": [{"Value": 1}]}', '{"LocalSettings": [{"Key": "guestconfiguration.enabled", "Value": "maybe"}]}',
    "Local Configuration Settings\n  this is not a setting line\n",
])
def test_garbage_is_a_parse_error(garbage):
    with pytest.raises(parsers.ParseError):
        parsers.parse_config_list(garbage)


def test_version_and_show():
    assert parsers.parse_version("azcmagent version 1.61.03319.2737") == (1, 61, 3319, 2737)
    assert parsers.parse_version("no version here") is None
    shown = parsers.parse_show("Agent Version                           : 1.64.03414.2961\n"
                               "Agent Status                            : Connected\n")
    assert shown["Agent Version"] == "1.64.03414.2961"
    assert shown["Agent Status"] == "Connected"
    assert parsers.parse_show('{"status": "Disconnected", "agentVersion": "1.50"}')["status"] == "Disconnected"


def test_config_info_names():
    doc = [{"DisplayName": "proxy.url", "IsRemote": False, "IsLocal": True, "InPreview": False,
            "Description": {"General": "x", "Example": "", "Default": "", "AdditionalInfo": ""}},
           {"DisplayName": "incomingconnections.ports (preview)"}]
    assert parsers.parse_config_info(json.dumps(doc)) == ["proxy.url", "incomingconnections.ports"]


@pytest.mark.parametrize("stdout, stderr, expected", [
    ("", "AZCM0023: invalid value 'x' for config.mode\n", "AZCM0023: invalid value 'x' for config.mode"),
    ('{"status":"failed","error":{"message":"cannot change lists in monitor mode"}}', "",
     "cannot change lists in monitor mode"),
    ("", "some\nlast line\n", "last line"),
])
def test_error_message(stdout, stderr, expected):
    assert parsers.error_message(stdout, stderr) == expected
