"""azcmagent_info and azcmagent_report as action plugins: real reads of stand-in hosts, then the reports.

Both shells for the reads (tests/lib/actions.py); the report from those very results, as the audit playbook
registers them.
"""

import json
import os
import xml.etree.ElementTree as ET

import pytest
import yaml

from tests.lib import fleet
from tests.lib.actions import Target

CUSTOM = {"linux": ("Microsoft.Azure.Extensions", "CustomScript"),
          "windows": ("Microsoft.Compute", "CustomScriptExtension")}
AMA = {"linux": ("Microsoft.Azure.Monitor", "AzureMonitorLinuxAgent"),
       "windows": ("Microsoft.Azure.Monitor", "AzureMonitorWindowsAgent")}


@pytest.fixture(params=["linux", "windows"])
def target(request, tmp_path):
    return Target(tmp_path / "host", request.param)


def test_info_reads_everything_in_one_command(target):
    target.add(AMA[target.flavour], "1.2.3")
    target.add(CUSTOM[target.flavour], "2.1.10")
    target.control({"flavour": target.flavour, "version": "1.64.03414.2961"})
    fleet.set_state(target.root, {"extensions.blocklist": ["%s/%s" % CUSTOM[target.flavour]]}, target.flavour)
    result = target.run("azcmagent_info")
    assert not result.get("failed"), result
    assert len(target.commands) == 1
    assert [a[:2] for a in target.invocations()] == [["version"], ["show", "--json"], ["config", "list"],
                                                     ["config", "info"]]
    assert result["changed"] is False and result["errors"] == [] and result["os"] == target.flavour
    assert result["agent"]["installed"] is True and result["agent"]["version"] == "1.64.03414.2961"
    assert result["agent"]["status"] == "Connected"
    assert result["config"]["extensions.blocklist"] == ["%s/%s" % CUSTOM[target.flavour]]
    assert "extensions.agent.cpulimit" in result["supported_properties"]
    assert sorted(e["type"] for e in result["installed_extensions"]) == sorted([AMA[target.flavour][1],
                                                                                CUSTOM[target.flavour][1]])
    assert [e["name"] for e in result["blocked_installed"]] == ["%s/%s" % CUSTOM[target.flavour]]
    assert result["effective"]["extensions_allowlist"] == []


def test_info_returns_what_it_documents(target):
    from ansible_collections.arcguard.azcmagent.plugins.modules import azcmagent_info
    documented = yaml.safe_load(azcmagent_info.RETURN)
    result = target.run("azcmagent_info")
    assert set(result) - {"invocation", "_ansible_verbose_always"} == set(documented)


@pytest.mark.parametrize("flavour", ["linux", "windows"])
def test_info_on_a_host_without_the_agent_is_a_result(tmp_path, flavour):
    result = Target(tmp_path / "host", flavour, installed=False).run("azcmagent_info")
    assert not result.get("failed") and result["agent"]["installed"] is False
    assert result["config"] == {} and result["installed_extensions"] == []


def test_info_never_shows_the_stored_proxy_password(target):
    fleet.set_state(target.root, {"proxy.url": "http://svc:St0red-Pw@proxy.example.com:3128"}, target.flavour)
    result = target.run("azcmagent_info")
    assert result["config"]["proxy.url"] == "http://********@proxy.example.com:3128"
    assert "St0red-Pw" not in json.dumps(result)


def test_info_reports_the_parts_it_could_not_read(target):
    target.control({"flavour": target.flavour, "elevated": False})
    result = target.run("azcmagent_info")
    assert not result.get("failed") and result["agent"]["installed"] is True
    assert result["config"] == {} and any("AZCM0018" in e for e in result["errors"]), result["errors"]


def test_info_names_unreadable_output(tmp_path):
    result = Target(tmp_path / "host", "linux", control={"faults": {"garbage_output": True}}).run("azcmagent_info")
    assert any(e.startswith("could not understand config list") for e in result["errors"]), result


def test_info_in_monitor_mode_reports_the_managed_allowlist(tmp_path):
    target = Target(tmp_path / "host", "linux", state={"config.mode": "monitor"})
    result = target.run("azcmagent_info")
    assert result["effective"]["extensions_allowlist"] == "managed by Microsoft (monitor mode)"
    assert result["effective"]["guestconfiguration_enabled"] is False


# ---------------------------------------------------------------------------- report

def audited(tmp_path):
    """Four hosts as the audit playbook registers them: info and a check-mode comparison with a profile."""
    hosts = {"clean": Target(tmp_path / "clean", "linux"), "drifted": Target(tmp_path / "drifted", "windows"),
             "bare": Target(tmp_path / "bare", "linux", installed=False)}
    hostvars = {}
    for name, target in hosts.items():
        if name == "clean":
            target.run("azcmagent_config", guestconfiguration_enabled=False)
        hostvars[name] = {"lockdown_profile": "mine",
                          "azcmagent_audit_info": target.run("azcmagent_info"),
                          "lockdown_result": target.run("azcmagent_config", check=True,
                                                        guestconfiguration_enabled=False)}
    hostvars["down"] = {"azcmagent_audit_info": {"unreachable": True, "msg": "ssh: connect refused"}}
    return hosts["clean"], hostvars


def test_report_from_real_results_writes_every_format(tmp_path):
    target, hostvars = audited(tmp_path)
    dest = tmp_path / "reports"
    result = target.run("azcmagent_report", task_vars={"hostvars": hostvars},
                        dest=str(dest), hosts=sorted(hostvars), profile="mine")
    assert not result.get("failed"), result
    assert result["changed"] is False
    assert result["drifted"] == ["drifted"] and result["errors"] == ["bare", "down"]
    assert result["summary"]["compliant"] == 1 and result["summary"]["no_agent"] == 1
    assert sorted(os.path.basename(f) for f in result["files"]) == ["report.html", "report.json", "report.xml"]
    report = json.loads((dest / "report.json").read_text())
    assert report["hosts"]["drifted"]["differences"] == [
        {"property": "guestconfiguration.enabled", "expected": False, "actual": True}]
    cases = ET.parse(str(dest / "report.xml")).getroot().iter("testcase")
    assert sorted(c.get("name") for c in cases) == sorted(hostvars)
    assert "drifted" in (dest / "report.html").read_text()
    assert not [f for f in os.listdir(dest) if f.endswith(".tmp")]


def test_report_writes_only_the_formats_asked_for_and_a_host_without_results_is_an_error(tmp_path):
    target, hostvars = audited(tmp_path)
    dest = tmp_path / "only-json"
    result = target.run("azcmagent_report", task_vars={"hostvars": hostvars}, dest=str(dest),
                        hosts=["clean", "never-seen"], formats=["json"])
    assert os.listdir(dest) == ["report.json"] and result["errors"] == ["never-seen"]


def test_report_refuses_an_unknown_format(tmp_path):
    target = Target(tmp_path / "host", "linux")
    with pytest.raises(Exception, match="formats"):
        target.run("azcmagent_report", task_vars={"hostvars": {}}, dest=str(tmp_path / "r"), hosts=[],
                   formats=["pdf"])
