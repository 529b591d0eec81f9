"""The audit playbook with audit_source host, azure and both, against the fake Azure and stand-in agents."""

import json
import os
import subprocess
import xml.etree.ElementTree as ET

import pytest

from tests.lib.azure_env import (AMA_LINUX, MDE_LINUX, SECRET, SUB_A, SUB_B, VENV_BIN, ansible_env,
                                 write_inventory)
from tests.lib import fleet

pytestmark = pytest.mark.azure

# what the defender profile asks on Linux
COMPLIANT = {"extensions.allowlist": [AMA_LINUX, MDE_LINUX], "guestconfiguration.enabled": False,
             "incomingconnections.enabled": False}


def make_fleet(tmp_path):
    """Static inventory vars for stand-in hosts named like (some of) the fake's machines."""
    hosts = {}

    def add(name, state):
        root = str(tmp_path / "hosts" / name)
        exe = fleet.make_host(root, state=state)
        hosts[name] = {"ansible_connection": "local", "lockdown_executable": exe,
                       "audit_extensions_path": os.path.join(root, "var", "lib", "waagent"), "_root": root}
    add("web01", dict(COMPLIANT, **{"incomingconnections.ports": [22], "proxy.bypass": ["AAD", "ARM"],
                                    "proxy.url": "http://svc:Pr0xyPass@proxy.corp:3128"}))  # Azure: compliant
    add("web02", dict(COMPLIANT, **{"guestconfiguration.enabled": True}))  # drifted, and Azure agrees
    add("db01", COMPLIANT)           # compliant here, but Azure says extensions.enabled false: disagree
    add("lonely", COMPLIANT)         # no Arc machine
    # DC01 is in Azure but unreachable from Ansible
    hosts["dc01"] = {"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": 1,
                     "ansible_ssh_common_args": "-o ConnectTimeout=3"}
    hosts["pay01"] = {"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": 1,
                      "ansible_ssh_common_args": "-o ConnectTimeout=3"}
    return hosts


def run_audit(fake, tmp_path, source, hosts=None, extra=(), env=None, inventories=None, verbosity=0):
    hosts = hosts if hosts is not None else make_fleet(tmp_path)
    static = {name: {k: v for k, v in hv.items() if not k.startswith("_")} for name, hv in hosts.items()}
    inv = tmp_path / "static.json"
    inv.write_text(json.dumps({"all": {"hosts": static}}))
    report = tmp_path / ("report-" + source)
    cmd = [os.path.join(VENV_BIN, "ansible-playbook"), "arcguard.azcmagent.audit", "-e", "lockdown_profile=defender",
           "-e", "audit_report_dir=%s" % report, "-e", "audit_source=%s" % source,
           "-e", json.dumps({"audit_azure_subscriptions": [SUB_A, SUB_B]})]
    for path in inventories or [inv]:
        cmd += ["-i", str(path)]
    if verbosity:
        cmd.append("-" + "v" * verbosity)
    cmd += list(extra)
    for name, hv in hosts.items():
        if "_root" in hv:
            fleet.clear_log(hv["_root"])
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env or ansible_env(fake), timeout=600,
                          check=False, cwd=str(tmp_path))
    data = None
    if (report / "report.json").exists():
        data = json.loads((report / "report.json").read_text())
    return proc, data, report, hosts


def invocations(hosts):
    return sum(len(fleet.read_log(hv["_root"])) for hv in hosts.values() if "_root" in hv)


def test_source_azure_touches_no_host_and_judges_the_unreachable(fake, tmp_path):
    proc, data, report, hosts = run_audit(fake, tmp_path, "azure")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert invocations(hosts) == 0
    # one computation on the controller: no task ran (or was skipped) once per host of the inventory
    recap = proc.stdout[proc.stdout.index("PLAY RECAP"):]
    assert [line.split()[0] for line in recap.splitlines()[1:] if line.strip()] == ["localhost"]
    assert not any(("[%s]" % name) in proc.stdout for name in hosts)
    # the machines listed once, and their extension resources once, in the same pass
    queries = [r["body"]["query"] for r in fake.graph_requests()]
    assert len(queries) == 2 and sum("machines/extensions" in q for q in queries) == 1, queries
    h = data["hosts"]
    assert h["web01"]["compliant"] is True and h["web01"]["azure"]["compliant"] is True
    # Azure does not report incomingconnections.enabled: not drift, shown as not reported
    assert h["web01"]["azure"]["not_reported"] == ["incomingconnections.enabled"]
    assert h["web02"]["compliant"] is False
    assert h["web02"]["differences"] == [{"property": "guestconfiguration.enabled", "expected": False,
                                          "actual": True}]
    # the unreachable Windows server, judged from what its agent reported (Windows names resolved)
    assert h["dc01"]["compliant"] is True and h["dc01"]["error"] is None
    assert h["dc01"]["azure"]["status"] == "Connected"
    assert h["pay01"]["compliant"] is False and h["pay01"]["azure"]["status"] == "Disconnected"
    assert h["pay01"]["azure"]["last_status_change"] == "2026-10-02T11:00:00Z"
    assert {"property": "config.mode", "expected": "full", "actual": "monitor"} in h["pay01"]["differences"]
    assert h["lonely"]["findings"] == ["not in Azure"] and h["lonely"]["compliant"] is False
    assert data["not_in_inventory"] == ["new01"]
    assert data["summary"]["source"] == "azure" and data["summary"]["not_in_azure"] == 1


def test_source_both_findings(fake, tmp_path):
    proc, data, report, hosts = run_audit(fake, tmp_path, "both")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # nothing Azure-related per host: the machines listed once, by the one report task on the controller
    # the machines listed once, and their extension resources once, in the same pass
    queries = [r["body"]["query"] for r in fake.graph_requests()]
    assert len(queries) == 2 and sum("machines/extensions" in q for q in queries) == 1, queries
    assert proc.stdout.count("TASK [Write report.json, report.xml and report.html]") == 1
    h = data["hosts"]
    assert h["web01"]["compliant"] is True and h["web01"]["findings"] == []
    assert h["web02"]["compliant"] is False and h["web02"]["azure"]["compliant"] is False
    assert h["web02"]["findings"] == []
    # the host's own view stays the verdict; Azure's is beside it
    assert h["db01"]["compliant"] is True
    assert h["db01"]["findings"] == ["host and Azure disagree"]
    assert {"property": "extensions.enabled", "host": True, "azure": False} in h["db01"]["disagreements"]
    assert h["dc01"]["error"].startswith("unreachable")
    assert h["dc01"]["findings"] == ["unreachable, judged from Azure"]
    assert h["dc01"]["azure"]["compliant"] is True
    assert h["lonely"]["findings"] == ["not in Azure"] and h["lonely"]["compliant"] is True
    assert data["not_in_inventory"] == ["new01"]
    summary = data["summary"]
    assert (summary["disagree"], summary["judged_from_azure"], summary["not_in_azure"]) == (1, 2, 1)
    junit = ET.parse(str(report / "report.xml")).getroot()
    suites = junit.findall("testsuite")
    assert [c.get("name") for c in suites[1].findall("testcase")] == ["new01"]
    db = [c for c in suites[0].findall("testcase") if c.get("name") == "db01"][0]
    assert "finding: host and Azure disagree" in db.find("system-out").text
    page = (report / "report.html").read_text()
    assert "host and Azure disagree" in page and "not reported by Azure" in page and "new01" in page


def test_source_host_is_unchanged(fake, tmp_path):
    proc, data, _report, _hosts = run_audit(fake, tmp_path, "host")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "not_in_inventory" not in data and "findings" not in data["hosts"]["web01"]
    assert fake.graph_requests() == []


def test_drift_after_azure_changes_is_seen_live(fake, tmp_path):
    proc, data, _r, hosts = run_audit(fake, tmp_path, "azure")
    assert data["hosts"]["web01"]["compliant"] is True

    def weaken(state):
        for machine in state["machines"]:
            if machine["name"] == "web01":
                machine["config"]["extensions.allowlist"].append("Microsoft.Azure.Extensions/CustomScript")
    fake.update_state(weaken)
    proc, data, _r, _h = run_audit(fake, tmp_path, "azure", hosts=hosts)
    assert data["hosts"]["web01"]["compliant"] is False
    assert data["hosts"]["web01"]["differences"][0]["property"] == "extensions.allowlist"


def test_secret_absent_at_vvvv(fake, tmp_path):
    env = ansible_env(fake)
    del env["AZURE_CLIENT_SECRET"]
    # from a vars file (a secret on the command line is echoed by ansible-playbook itself at -vvvv)
    secret_file = tmp_path / "azure-secret.json"
    secret_file.write_text(json.dumps({"audit_azure_secret": SECRET}))
    proc, data, report, _h = run_audit(fake, tmp_path, "both", verbosity=4, env=env,
                                       extra=["-e", "@%s" % secret_file])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    assert data["hosts"]["web01"]["azure"]["compliant"] is True
    for text in [proc.stdout, proc.stderr] + [p.read_text() for p in report.iterdir()]:
        assert SECRET not in text
        assert "Pr0xyPass" not in text


def test_bad_audit_source(fake, tmp_path):
    proc, data, _r, _h = run_audit(fake, tmp_path, "cloud")
    assert proc.returncode != 0 and "audit_source must be host, azure or both" in proc.stdout


def test_plugin_hosts_with_stand_in_agents(fake, tmp_path):
    """The arc inventory's hosts, their agents stand-ins: a playbook over a plugin group, and the audit."""
    hosts = make_fleet(tmp_path)
    arc = write_inventory(tmp_path / "fleet.arc.yml", subscriptions=[SUB_A, SUB_B], include_os=["linux"],
                          include_statuses=["Connected", "Error"])
    # per-host connection details from a second source (the machines' own names)
    local = {n: {k: v for k, v in hv.items() if not k.startswith("_")} for n, hv in hosts.items()
             if n in ("web01", "web02", "db01")}
    static = tmp_path / "agents.json"
    static.write_text(json.dumps({"all": {"hosts": local}}))
    play = tmp_path / "play.yml"
    play.write_text(json.dumps([{
        "hosts": "arc_linux:&arc_connected", "gather_facts": False, "tasks": [
            {"name": "read", "arcguard.azcmagent.azcmagent_info": {"executable": "{{ lockdown_executable }}"},
             "register": "info"},
            {"name": "save", "delegate_to": "localhost", "ansible.builtin.copy": {
                "content": "{{ {'arc': arc_agent_configuration, 'host': info.config, 'id': arc_resource_id}"
                           " | to_json }}",
                "dest": str(tmp_path) + "/{{ inventory_hostname }}.json"}}]}]))
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", str(arc), "-i", str(static), str(play)],
                          capture_output=True, text=True, env=ansible_env(fake), timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(p.name for p in tmp_path.glob("*.json") if p.name != "agents.json") == ["web01.json",
                                                                                          "web02.json"]
    saved = json.loads((tmp_path / "web01.json").read_text())
    assert saved["host"]["extensions.allowlist"] == saved["arc"]["extensions.allowlist"]
    assert saved["id"].endswith("/machines/web01")
    # the audit over the plugin's hosts matches by arc_resource_id
    proc, data, _r, _h = run_audit(fake, tmp_path, "both", hosts=hosts, inventories=[arc, static])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert set(data["hosts"]) == {"web01", "web02", "db01"}
    assert data["hosts"]["db01"]["findings"] == ["host and Azure disagree"]
    # the filters left these out of this inventory
    assert data["not_in_inventory"] == ["DC01", "new01", "pay01"]


def test_source_azure_an_ambiguous_name_is_an_error_naming_the_machines_and_not_unmatched(fake, tmp_path):
    """Two Arc machines named web02 (two subscriptions): the host web02 matches neither, says why, and neither
    machine is listed as missing from the inventory."""
    state = fake.read_state()
    twin = dict([m for m in state["machines"] if m["name"] == "web02"][0], subscription=SUB_B)
    state["machines"].append(twin)
    fake.write_state(state)
    proc, data, _report, _hosts = run_audit(fake, tmp_path, "azure")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    web02 = data["hosts"]["web02"]
    assert web02["status"] == "error" and web02["error"].startswith("ambiguous: 2 Arc machines are named web02")
    assert SUB_A in web02["error"] and SUB_B in web02["error"]
    assert web02["findings"] == ["ambiguous in Azure"] and web02["azure"]["error"] == web02["error"]
    assert data["not_in_inventory"] == ["new01"]


def test_source_azure_a_refused_sign_in_fails_the_run_with_a_clear_line_and_no_secret(fake, tmp_path):
    env = ansible_env(fake)
    env["AZURE_CLIENT_SECRET"] = "Wr0ng-Secret-77"
    proc, data, report, _hosts = run_audit(fake, tmp_path, "azure", env=env, verbosity=3)
    assert proc.returncode != 0 and data is None and not report.exists()
    assert "Judge every host from what its agent reports to Azure" in proc.stdout
    assert "Wr0ng-Secret-77" not in proc.stdout + proc.stderr


def test_the_audit_leaves_garbage_collection_as_it_found_it():
    """The audit pauses cyclic garbage collection while it judges, and gives it back as it was, on an error too
    (a user's callback or another plugin in the same process may have turned it off on purpose)."""
    import gc  # pylint: disable=import-outside-toplevel
    from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _audit as audit
    was = gc.isenabled()
    try:
        for before in (True, False):
            (gc.enable if before else gc.disable)()
            try:
                with audit.no_cycle_collection():
                    assert not gc.isenabled()
                    raise audit.AuditError("refused")
            except audit.AuditError:
                pass
            assert gc.isenabled() is before
    finally:
        (gc.enable if was else gc.disable)()
