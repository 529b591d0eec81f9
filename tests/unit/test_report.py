import json
import xml.etree.ElementTree as ET

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _info as info
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _report as report

INFO_OK = {"agent": {"installed": True, "version": "1.64.1.1", "status": "Connected"}, "errors": [],
           "blocked_installed": []}


def check(*changes):
    return {"changed": bool(changes), "changes": [{"property": p, "before": b, "after": a} for p, b, a in changes]}


def sample():
    return report.build({
        "ok": ("defender", INFO_OK, check()),
        "drift": ("defender", INFO_OK, check(("guestconfiguration.enabled", True, False))),
        "gone": ("defender", {"unreachable": True, "msg": "ssh: connect refused"}, None),
        "noagent": ("defender", {"agent": {"installed": False}}, None),
    }, profile="defender")


def test_entries_and_summary():
    built = sample()
    assert built["summary"]["compliant"] == 1 and built["summary"]["drifted"] == 1 and built["summary"]["errors"] == 2
    assert built["hosts"]["drift"]["differences"] == [
        {"property": "guestconfiguration.enabled", "expected": False, "actual": True}]
    assert built["hosts"]["gone"]["error"].startswith("unreachable")
    json.loads(report.to_json(built))


def test_junit():
    root = ET.fromstring(report.to_junit(sample()))
    assert root.get("tests") == "4" and root.get("failures") == "1" and root.get("errors") == "2"


def test_html_is_self_contained_and_escapes_names():
    built = report.build({"<script>x</script>": ("p", INFO_OK, check(("a.b", "<i>", "</i>")))})
    page = report.to_html(built)
    assert "<script>x</script>" not in page and "&lt;script&gt;" in page
    assert "<link" not in page and "src=" not in page


def test_blocked_installed_rules():
    installed = info.parse_extension_folders("Microsoft.Azure.Extensions.CustomScript-2.1.10\n"
                                             "Microsoft.Azure.Monitor.AzureMonitorLinuxAgent-1.33.2\nnot-an-extension\n",
                                             "linux")
    assert [e["name"] for e in installed] == ["Microsoft.Azure.Extensions/CustomScript",
                                              "Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"]
    config = {"extensions.allowlist": ["microsoft.azure.monitor/azuremonitorlinuxagent"], "extensions.blocklist": []}
    assert [e["name"] for e in info.blocked_installed(installed, config)] == ["Microsoft.Azure.Extensions/CustomScript"]
    assert len(info.blocked_installed(installed, {"extensions.allowlist": ["Allow/None"]})) == 2
    assert info.blocked_installed(installed, {"extensions.allowlist": []}) == []
    windows = info.parse_extension_folders("Qualys.WindowsAgent.AzureSecurityCenter\n"
                                           "Qualys.WindowsAgent.AzureSecurityCenter\\1.0.0.5\n", "windows")
    assert windows == [{"publisher": "Qualys", "type": "WindowsAgent.AzureSecurityCenter", "version": "1.0.0.5",
                        "name": "Qualys/WindowsAgent.AzureSecurityCenter"}]
    linux = info.parse_extension_folders("Qualys.LinuxAgent.AzureSecurityCenter-1.0.2\nContoso.Tools.Agent-3.1\n",
                                         "linux", ["Contoso.Tools/Agent"])
    assert [e["name"] for e in linux] == ["Qualys/LinuxAgent.AzureSecurityCenter", "Contoso.Tools/Agent"]
