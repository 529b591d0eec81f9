"""The audit playbook on a mixed fleet of stand-ins with known drift, and its HTML in a real Chromium."""

import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from tests.lib.playbook import VENV_BIN, env
from tests.lib import fleet

AMA = "Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"
MDE = "Microsoft.Azure.AzureDefenderForServers/MDE.Linux"
COMPLIANT = {"extensions.allowlist": [AMA, MDE], "guestconfiguration.enabled": False, "incomingconnections.enabled": False}


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("audit")
    hosts = {}

    def add(name, state=None, no_agent=False, **extra):
        root = str(tmp / name)
        exe = fleet.make_host(root, state=state)
        if no_agent:
            os.unlink(exe)
        hosts[name] = dict({"ansible_connection": "local", "lockdown_executable": exe,
                            "audit_extensions_path": os.path.join(root, "var", "lib", "waagent")}, **extra)
        return root

    add("ok1", COMPLIANT)
    add("ok2", COMPLIANT)
    add("drift_gc", dict(COMPLIANT, **{"guestconfiguration.enabled": True}))
    add("drift_lists", dict(COMPLIANT, **{"extensions.allowlist": [AMA, "Microsoft.Azure.Extensions/CustomScript"]}))
    add("monitor", dict(COMPLIANT, **{"config.mode": "monitor"}))
    root = add("blocked", COMPLIANT)
    fleet.add_extension(root, "Microsoft.Azure.Extensions", "CustomScript", "2.1.10")
    fleet.add_extension(root, "Microsoft.Azure.Monitor", "AzureMonitorLinuxAgent", "1.33.2")
    add("noagent", no_agent=True)
    add("esu_host", {"extensions.allowlist": ["Allow/None"]}, lockdown_profile="esu")
    hosts["unreachable"] = {"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": 1,
                            "ansible_ssh_common_args": "-o ConnectTimeout=3"}
    inventory = tmp / "inventory.json"
    inventory.write_text(json.dumps({"all": {"hosts": hosts}}))
    report_dir = tmp / "report"
    before = {name: fleet.read_state(str(tmp / name)) for name in hosts if name != "unreachable"}
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", str(inventory), "arcguard.azcmagent.audit",
                           "-e", "lockdown_profile=defender", "-e", "audit_report_dir=%s" % report_dir],
                          capture_output=True, text=True, env=env(), check=False, timeout=600)
    after = {name: fleet.read_state(str(tmp / name)) for name in hosts if name != "unreachable"}
    return {"proc": proc, "dir": report_dir, "before": before, "after": after}


def test_nothing_changes(audited):
    assert audited["before"] == audited["after"]


def test_report_json_flags_exactly_the_drifted_hosts_and_settings(audited):
    report = json.loads((audited["dir"] / "report.json").read_text())
    hosts = report["hosts"]
    assert sorted(n for n, e in hosts.items() if e["compliant"]) == ["blocked", "ok1", "ok2"]
    # -e lockdown_profile=defender applies to every host, over the host's own lockdown_profile
    assert hosts["esu_host"]["profile"] == "defender"
    assert sorted(d["property"] for d in hosts["esu_host"]["differences"]) == [
        "extensions.allowlist", "guestconfiguration.enabled", "incomingconnections.enabled"]
    assert [d["property"] for d in hosts["drift_gc"]["differences"]] == ["guestconfiguration.enabled"]
    assert hosts["drift_gc"]["differences"][0] == {"property": "guestconfiguration.enabled", "expected": False,
                                                   "actual": True}
    lists = hosts["drift_lists"]["differences"]
    assert [d["property"] for d in lists] == ["extensions.allowlist"]
    assert sorted(lists[0]["expected"]) == sorted([AMA, MDE])
    # in monitor mode the stored lists and switches cannot be read (config list may show Microsoft's managed
    # values): fail closed, each is a difference marked unknown beside config.mode, and the notes say why
    monitor = {d["property"]: d for d in hosts["monitor"]["differences"]}
    assert sorted(monitor) == ["config.mode", "extensions.allowlist", "guestconfiguration.enabled",
                               "incomingconnections.enabled"]
    assert monitor["config.mode"]["actual"] == "monitor"
    assert all("unknown" in str(d["actual"]) for p, d in monitor.items() if p != "config.mode")
    assert any("monitor mode" in n for n in hosts["monitor"]["notes"])
    assert hosts["blocked"]["blocked_installed"] == ["Microsoft.Azure.Extensions/CustomScript"]
    assert hosts["noagent"]["agent"]["installed"] is False and hosts["noagent"]["error"]
    assert hosts["unreachable"]["error"].startswith("unreachable")
    assert report["summary"]["hosts"] == 9
    assert report["summary"]["compliant"] == 3
    assert report["summary"]["drifted"] == 4
    assert report["summary"]["errors"] == 2
    assert report["summary"]["blocked_installed"] == 1


def test_junit_has_one_case_per_host(audited):
    root = ET.parse(audited["dir"] / "report.xml").getroot()
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert len(cases) == 9
    assert cases["drift_gc"].find("failure") is not None
    assert cases["ok1"].find("failure") is None and cases["ok1"].find("error") is None
    assert cases["unreachable"].find("error") is not None


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None and os.environ.get("CI") != "true", reason="Chromium not installed here")
def test_html_renders_in_chromium_with_the_right_counts_and_sorts(audited, tmp_path):
    assert CHROMIUM, "Chromium is required in CI (scripts/bootstrap.sh chromium)"
    page = audited["dir"] / "report.html"
    html = page.read_text()
    assert "http://" not in html.replace("http://www.w3.org", "") and "<link" not in html and " src=" not in html
    # click the "Differences" header twice (descending), then dump the DOM the browser ended with
    probe = tmp_path / "probe.html"
    probe.write_text(html.replace("</body>", "<script>var th=document.querySelectorAll('#hosts th')[3];th.click();th.click();"
                                  "document.title='sorted:'+Array.prototype.map.call(document.querySelectorAll('#hosts tbody tr'),"
                                  "function(r){return r.cells[0].textContent+'='+r.cells[3].getAttribute('data-v');}).join(',');</script></body>"))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--user-data-dir=%s" % (tmp_path / "profile")]
    dom = subprocess.run([CHROMIUM] + flags + ["--dump-dom", probe.as_uri()], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert 'id="count-compliant"><div class="n">3<' in dom
    assert 'id="count-drifted"><div class="n">4<' in dom
    title = dom.split("<title>")[1].split("</title>")[0]
    order = [item.split("=") for item in title[len("sorted:"):].split(",")]
    counts = [int(c) for _name, c in order]
    # the monitor host has the most differences (config.mode and three unknown while in monitor mode)
    assert counts == sorted(counts, reverse=True) and counts[0] == 4 and order[0][0] == "monitor"
    # drifted hosts come first, then errors; compliant hosts are in their own (folded) table
    first = [name for name, _c in order]
    assert set(first) == {"esu_host", "drift_gc", "drift_lists", "monitor", "noagent", "unreachable"}
    # the filter box hides every row (compliant ones too) without the text typed, after its short pause
    filtered = tmp_path / "filtered.html"
    filtered.write_text(html.replace("</body>", "<script>var box=document.getElementById('filter');box.value='OK1';"
                                     "box.dispatchEvent(new Event('input'));setTimeout(function(){document.title='shown:'+"
                                     "Array.prototype.filter.call(document.querySelectorAll('tr.h'),function(r){return !r.hidden;})"
                                     ".map(function(r){return r.cells[0].textContent;}).join(',')+':'+"
                                     "document.getElementById('compliant-hosts').open;},400);</script></body>"))
    dom = subprocess.run([CHROMIUM] + flags + ["--virtual-time-budget=2000", "--dump-dom", filtered.as_uri()],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    assert dom.split("<title>")[1].split("</title>")[0] == "shown:ok1:true"
    shot = tmp_path / "report.png"
    subprocess.run([CHROMIUM] + flags + ["--window-size=1280,900", "--screenshot=%s" % shot, page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 10000
