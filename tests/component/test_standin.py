"""The stand-in plays the agent as the reference documents it."""

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.lib import fleet

STANDIN = fleet.STANDIN


def az(root, *args, flavour="linux", control=None):
    if control is not None:
        fleet.write_control(root, control, flavour)
    env = dict(os.environ, AZCMAGENT_STANDIN_ROOT=str(root))
    if flavour == "windows":
        env["AZCMAGENT_STANDIN_FLAVOUR"] = "windows"
    return subprocess.run([sys.executable, STANDIN] + list(args), capture_output=True, text=True, env=env, check=False)


def test_config_list_text_layout(tmp_path):
    out = az(tmp_path, "config", "list", "--no-color", control={"version": "1.50.02863.1416"})
    lines = out.stdout.splitlines()
    assert out.returncode == 0
    assert lines[0] == "Local Configuration Settings"
    assert lines[1] == "  %-53s : %s" % ("incomingconnections.enabled (preview)", "true")
    assert lines[3] == "  %-53s : %s" % ("connection.type (preview)", "default")
    assert lines[4].rstrip() == "  %-53s :" % "proxy.url"
    assert [l.split(":")[0].split()[0] for l in lines[1:]] == [
        "incomingconnections.enabled", "incomingconnections.ports", "connection.type", "proxy.url", "proxy.bypass",
        "extensions.allowlist", "extensions.blocklist", "guestconfiguration.enabled", "extensions.enabled",
        "config.mode", "guestconfiguration.agent.cpulimit", "extensions.agent.cpulimit"]


def test_connection_type_leaves_preview_in_1_58(tmp_path):
    out = az(tmp_path, "config", "list", control={"version": "1.58.0.0"})
    assert "connection.type (preview)" not in out.stdout and "connection.type " in out.stdout


@pytest.mark.parametrize("sep, shown", [("space", "[a/b c/d]"), ("comma", "[a/b,c/d]")])
def test_list_separator_variant(tmp_path, sep, shown):
    az(tmp_path, "config", "set", "extensions.allowlist", "a/b, c/d", control={"variants": {"text_list_sep": sep}})
    assert shown in az(tmp_path, "config", "list").stdout


@pytest.mark.parametrize("variant, expected", [("string", "true"), ("literal", True)])
def test_json_boolean_variant(tmp_path, variant, expected):
    out = az(tmp_path, "config", "list", "--json", control={"variants": {"bool_json": variant}})
    doc = json.loads(out.stdout)
    assert {e["Key"]: e["Value"] for e in doc["LocalSettings"]}["guestconfiguration.enabled"] == expected


def test_json_keys_are_bare_and_lists_are_arrays(tmp_path):
    az(tmp_path, "config", "set", "incomingconnections.ports", "22,6516")
    doc = json.loads(az(tmp_path, "config", "list", "-j").stdout)
    values = {e["Key"]: e["Value"] for e in doc["LocalSettings"]}
    assert "incomingconnections.ports" in values and values["incomingconnections.ports"] == ["22", "6516"]


def test_set_prints_the_documented_message(tmp_path):
    out = az(tmp_path, "config", "set", "proxy.url", "http://169.254.0.11:3128")
    assert out.stdout.splitlines() == ["Config property proxy.url set to value http://169.254.0.11:3128",
                                       "INFO    Updating service configuration: Azure Arc Proxy"]


def test_get_prints_the_bare_value(tmp_path):
    az(tmp_path, "config", "set", "config.mode", "monitor")
    assert az(tmp_path, "config", "get", "config.mode").stdout == "monitor\n"


@pytest.mark.parametrize("args, rc, code", [
    (["config", "set", "guestconfiguration.enabled", "maybe"], 23, "AZCM0023"),
    (["config", "set", "no.such", "x"], 23, "AZCM0023"),
    (["config", "set", "extensions.allowlist", "NoSlash"], 23, "AZCM0023"),
    (["config", "set", "extensions.allowlist", "a/b/c"], 23, "AZCM0023"),
    (["config", "set", "extensions.allowlist", "Allow/None,a/b"], 23, "AZCM0023"),
    (["config", "set", "extensions.blocklist", "Allow/None"], 23, "AZCM0023"),
    (["config", "set", "incomingconnections.ports", "70000"], 23, "AZCM0023"),
    (["config", "set", "extensions.agent.cpulimit", "0"], 23, "AZCM0023"),
    (["config", "set", "proxy.url", "proxy:3128"], 23, "AZCM0023"),
    (["config", "set", "proxy.bypass", "AzureAD"], 23, "AZCM0023"),
    (["config", "set", "guestconfiguration.enabled", "true", "--add"], 23, "AZCM0023"),
    (["config", "set", "extensions.allowlist", "a/b", "--add", "--remove"], 23, "AZCM0023"),
    (["config", "bogus"], 23, "AZCM0023"),
    (["config", "list", "--config", "/nonexistent.json"], 19, "AZCM0019"),
])
def test_validation_errors_and_exit_codes(tmp_path, args, rc, code):
    out = az(tmp_path, *args)
    assert out.returncode == rc
    assert out.stderr.startswith(code + ": ")
    assert fleet.read_state(str(tmp_path)) == {}


def test_not_elevated(tmp_path):
    out = az(tmp_path, "config", "list", control={"elevated": False})
    assert out.returncode == 18 and out.stderr.startswith("AZCM0018")
    assert az(tmp_path, "show").returncode == 0
    assert az(tmp_path, "version").returncode == 0


def test_json_failure_body(tmp_path):
    out = az(tmp_path, "config", "set", "config.mode", "audit", "--json")
    assert out.returncode == 23
    doc = json.loads(out.stdout)
    assert doc["status"] == "failed" and doc["error"]["code"] == "AZCM0023"


@pytest.mark.parametrize("rc", [23, 27])
def test_monitor_mode_refuses_list_edits(tmp_path, rc):
    fleet.write_control(str(tmp_path), {"variants": {"monitor_refusal_rc": rc}})
    az(tmp_path, "config", "set", "extensions.blocklist", "a/b")
    az(tmp_path, "config", "set", "config.mode", "monitor")
    for args in (["config", "set", "extensions.allowlist", "c/d"], ["config", "set", "extensions.blocklist", "c/d", "--add"],
                 ["config", "clear", "extensions.blocklist"]):
        out = az(tmp_path, *args)
        assert out.returncode == rc and "monitor mode" in out.stderr
    assert az(tmp_path, "config", "set", "proxy.bypass", "ARM").returncode == 0
    az(tmp_path, "config", "set", "config.mode", "full")
    assert fleet.read_state(str(tmp_path))["extensions.blocklist"] == ["a/b"]


def test_monitor_mode_effective_view(tmp_path):
    az(tmp_path, "config", "set", "extensions.allowlist", "a/b", control={"variants": {"monitor_list": "effective"}})
    az(tmp_path, "config", "set", "config.mode", "monitor")
    values = {e["Key"]: e["Value"] for e in json.loads(az(tmp_path, "config", "list", "-j").stdout)["LocalSettings"]}
    assert values["extensions.allowlist"] != ["a/b"] and values["guestconfiguration.enabled"] == "false"


def test_lists_before_1_22_are_dropped_when_leaving_monitor(tmp_path):
    fleet.write_control(str(tmp_path), {"version": "1.20.0.0"})
    az(tmp_path, "config", "set", "extensions.allowlist", "a/b")
    az(tmp_path, "config", "set", "config.mode", "monitor")
    az(tmp_path, "config", "set", "config.mode", "full")
    assert "extensions.allowlist" not in fleet.read_state(str(tmp_path))


@pytest.mark.parametrize("version, prop, known", [
    ("1.15.0.0", "extensions.allowlist", False), ("1.16.0.0", "extensions.allowlist", True),
    ("1.17.0.0", "config.mode", False), ("1.18.0.0", "config.mode", True),
    ("1.38.0.0", "extensions.agent.cpulimit", False), ("1.39.0.0", "extensions.agent.cpulimit", True),
])
def test_older_agents_lack_newer_properties(tmp_path, version, prop, known):
    out = az(tmp_path, "config", "list", "--json", control={"version": version})
    keys = [e["Key"] for e in json.loads(out.stdout)["LocalSettings"]]
    assert (prop in keys) == known


def test_allow_none_needs_1_35(tmp_path):
    assert az(tmp_path, "config", "set", "extensions.allowlist", "Allow/None", control={"version": "1.34.0.0"}).returncode == 23
    assert az(tmp_path, "config", "set", "extensions.allowlist", "Allow/None", control={"version": "1.35.0.0"}).returncode == 0


def test_add_remove_trim_and_dedupe(tmp_path):
    az(tmp_path, "config", "set", "extensions.blocklist", " a/b ,c/d,A/B")
    assert fleet.read_state(str(tmp_path))["extensions.blocklist"] == ["a/b", "c/d"]
    az(tmp_path, "config", "set", "extensions.blocklist", "e/f", "--add")
    az(tmp_path, "config", "set", "extensions.blocklist", "C/D", "--remove")
    assert fleet.read_state(str(tmp_path))["extensions.blocklist"] == ["a/b", "e/f"]


@pytest.mark.parametrize("variant, stored", [({"stored_case": "lower"}, ["x/b", "a/c"]),
                                             ({"stored_order": "sorted"}, ["a/c", "X/B"])])
def test_storage_variants(tmp_path, variant, stored):
    az(tmp_path, "config", "set", "extensions.allowlist", "X/B,a/c", control={"variants": variant})
    assert fleet.read_state(str(tmp_path))["extensions.allowlist"] == stored


def test_clear_resets_to_default(tmp_path):
    az(tmp_path, "config", "set", "proxy.url", "http://p:1")
    out = az(tmp_path, "config", "clear", "proxy.url")
    assert "previous value" in out.stdout
    assert fleet.read_state(str(tmp_path)) == {}


def test_faults(tmp_path):
    fleet.write_control(str(tmp_path), {"faults": {"fail_set": {"property": "proxy.url", "rc": 69, "times": 1}}})
    assert az(tmp_path, "config", "set", "proxy.url", "http://p:1").returncode == 69
    assert az(tmp_path, "config", "set", "proxy.url", "http://p:1").returncode == 0
    fleet.write_control(str(tmp_path), {"faults": {"garbage_output": True}})
    with pytest.raises(ValueError):
        json.loads(az(tmp_path, "config", "list", "--json").stdout)


def test_windows_flavour_paths_and_line_endings(tmp_path):
    env = dict(os.environ, AZCMAGENT_STANDIN_ROOT=str(tmp_path), AZCMAGENT_STANDIN_FLAVOUR="windows")
    raw = subprocess.run([sys.executable, STANDIN, "config", "set", "guestconfiguration.enabled", "false"],
                         capture_output=True, env=env, check=False)
    assert raw.stdout.endswith(b"\r\n") and b"\n" not in raw.stdout.replace(b"\r\n", b"")
    assert os.path.exists(tmp_path / "ProgramData" / "AzureConnectedMachineAgent" / "Config" / "localconfig.json")


def test_show_and_version(tmp_path):
    assert az(tmp_path, "version").stdout.startswith("azcmagent version 1.")
    show = json.loads(az(tmp_path, "show", "-j").stdout)
    assert show["status"] == "Connected" and "agentVersion" in show and show["services"]
    text = az(tmp_path, "show").stdout
    assert "%-39s : %s" % ("Agent Status", "Connected") in text


def test_invocation_log(tmp_path):
    az(tmp_path, "config", "list")
    az(tmp_path, "config", "set", "config.mode", "sideways")
    entries = fleet.read_log(str(tmp_path))
    assert [e["argv"] for e in entries] == [["config", "list"], ["config", "set", "config.mode", "sideways"]]
    assert [e["rc"] for e in entries] == [0, 23]


def test_concurrent_adds_all_survive(tmp_path):
    names = ["P%d/T%d" % (i, i) for i in range(16)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda n: az(tmp_path, "config", "set", "extensions.allowlist", n, "--add"), names))
    assert all(r.returncode == 0 for r in results)
    assert sorted(fleet.read_state(str(tmp_path))["extensions.allowlist"]) == sorted(names)
    assert len(fleet.read_log(str(tmp_path))) == 16


def test_installed_extensions_and_remove(tmp_path):
    fleet.add_extension(str(tmp_path), "Microsoft.Azure.Extensions", "CustomScript", "2.1.10")
    listed = json.loads(az(tmp_path, "extension", "list", "--json").stdout)
    assert listed[0]["publisher"] == "Microsoft.Azure.Extensions" and listed[0]["version"] == "2.1.10"
    assert az(tmp_path, "extension", "remove", "--name", "Microsoft.Azure.Extensions.CustomScript").returncode == 27
    fleet.write_control(str(tmp_path), {"services": {"extd": "stopped"}})
    assert az(tmp_path, "extension", "remove", "--name", "Microsoft.Azure.Extensions.CustomScript").returncode == 0
    assert json.loads(az(tmp_path, "extension", "list", "--json").stdout) == []
