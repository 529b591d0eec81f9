"""Extension resources against the fake Azure: arc_machine_info's per-machine ``extensions`` (every state, systemData
present and absent, IDs in either casing) and arc_extension_cleanup in check mode and for real (202 with Location
or Azure-AsyncOperation, 204 for a resource already gone, 429 with Retry-After, 403 without the role)."""

import json
import os
import subprocess

import pytest

from tests.lib.azure_env import CLIENT_ID, SECRET, SUB_A, SUB_B, VENV_BIN, ansible_env, base_state
from tests.lib import fakeazure

pytestmark = pytest.mark.azure

AMA_L = "Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"
MDE_L = "Microsoft.Azure.AzureDefenderForServers/MDE.Linux"
AMA_W = "Microsoft.Azure.Monitor/AzureMonitorWindowsAgent"
CSE_W = "Microsoft.Compute/CustomScriptExtension"
SQL_W = "Microsoft.AzureData/WindowsAgent.SqlServer"
MMA_W = "Microsoft.EnterpriseCloud.Monitoring/MicrosoftMonitoringAgent"
CSE_L = "Microsoft.Azure.Extensions/CustomScript"
POLICY = "/providers/Microsoft.Authorization/policyAssignments/sql-auto-onboard"


def ext(full, state="Succeeded", message=None, name=None, who=None, creator=None, system=True):
    publisher, _s, ext_type = full.partition("/")
    out = {"name": name or ext_type, "publisher": publisher, "type": ext_type, "version": "1.4.2", "state": state,
           "system_data": system}
    if message is not None:
        out["message"] = message
    if who:
        out["last_modified_by"] = who
    if creator:
        out["created_by"] = creator
    return out


def fleet():
    allow_l = {"extensions.allowlist": [AMA_L, MDE_L]}
    allow_w = {"extensions.allowlist": [AMA_W], "extensions.blocklist": [CSE_W]}
    return [
        {"name": "web01", "subscription": SUB_A, "resource_group": "RG-Web", "os": "linux", "config": allow_l,
         "extensions": [ext(AMA_L), ext(CSE_L, name="cse"),                                   # blocked, installed
                        ext(MDE_L, state="Creating")]},
        {"name": "DC01", "subscription": SUB_B, "resource_group": "rg-ad", "os": "windows", "config": allow_w,
         "extensions": [ext(CSE_W, state="Failed", message="Extension is blocked by the allowlist",
                            creator="eve@corp.example", system=True),
                        ext(AMA_W, state="Failed", message="Install failed: disk full"),     # failed, allowed
                        ext(SQL_W, state="Failed", who=POLICY, creator="sql-onboarding"),   # refused, no message
                        ext(MMA_W, state="Deleting", system=False)]},                        # blocked, retired
        {"name": "sql01", "subscription": SUB_B, "resource_group": "rg-sql", "os": "windows", "config": allow_w,
         "extensions": [ext(SQL_W, state="Failed", message="blocked", who=POLICY)]},
        {"name": "pay01", "subscription": SUB_B, "resource_group": "rg-pay", "os": "windows",
         "config": {"config.mode": "monitor"}, "extensions": [ext(CSE_W, state="Failed")]},         # unknown
        {"name": "bare01", "subscription": SUB_A, "resource_group": "rg-x", "os": "linux", "config": None,
         "extensions": [ext(CSE_L, state="Failed")]},                                               # unknown
    ]


@pytest.fixture
def fake(tmp_path):
    work = tmp_path / "fake"
    work.mkdir()
    with fakeazure.FakeAzure(state=base_state(fleet()), workdir=str(work)) as running:
        yield running


def run_task(fake, tmp_path, module, options, check=False, diff=False):
    out = tmp_path / ("result-%d.json" % len(list(tmp_path.glob("result-*.json"))))
    task = {"name": "task", module: options, "register": "r", "ignore_errors": True}
    if check:
        task["check_mode"] = True
    if diff:
        task["diff"] = True
    tasks = [task, {"name": "save", "ansible.builtin.copy": {"dest": str(out), "content": "{{ r | to_json }}"},
                    "check_mode": False}]
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": tasks,
             "vars": {"ansible_python_interpreter": os.path.join(VENV_BIN, "python")}}]
    path = tmp_path / "play.json"
    path.write_text(json.dumps(play))
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local", str(path),
                           "-vvvv"], capture_output=True, text=True, env=ansible_env(fake), timeout=300, check=False,
                          cwd=str(tmp_path))
    assert out.exists(), proc.stdout + proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
    return proc, json.loads(out.read_text())


def by_machine(result):
    return {m["name"]: {e["name"]: e for e in m["extensions"]} for m in result["machines"]}


@pytest.mark.parametrize("variants", [
    {},
    {"extension_system_data": "absent", "extension_id_case": "title", "status_level": "Info"},
    {"extension_kql": "basic"},     # the plain systemData column: the same answer
    {"extension_kql": "basic", "extension_system_data": "absent"},   # whole rows at last: settings still unread
])
def test_machine_info_classifies_every_extension(fake, tmp_path, variants):
    fake.update_state(lambda s: s.update(variants=variants))
    _proc, result = run_task(fake, tmp_path, "arcguard.azcmagent.arc_machine_info", {"subscriptions": [SUB_A, SUB_B]})
    assert not result.get("failed"), result
    got = by_machine(result)
    classes = {(m, n): e["classification"] for m, exts in got.items() for n, e in exts.items()}
    assert classes == {
        ("web01", "AzureMonitorLinuxAgent"): "allowed", ("web01", "cse"): "installed_but_blocked",
        ("web01", "MDE.Linux"): "allowed",
        ("DC01", "CustomScriptExtension"): "refused_by_lockdown", ("DC01", "AzureMonitorWindowsAgent"): "failed",
        ("DC01", "WindowsAgent.SqlServer"): "refused_by_lockdown",
        ("DC01", "MicrosoftMonitoringAgent"): "installed_but_blocked",
        ("sql01", "WindowsAgent.SqlServer"): "refused_by_lockdown",
        ("pay01", "CustomScriptExtension"): "unknown", ("bare01", "CustomScript"): "unknown",
    }
    for exts in got.values():
        for entry in exts.values():
            assert list(entry) == ["name", "publisher", "type", "version", "provisioning_state", "status_level",
                                   "status_message", "created_by", "last_modified_by", "classification", "retired"]
            assert "settings-are-never-read" not in json.dumps(entry)
    dc = got["DC01"]
    assert dc["MicrosoftMonitoringAgent"]["retired"] is True and dc["CustomScriptExtension"]["retired"] is False
    assert dc["CustomScriptExtension"]["status_message"] == "Extension is blocked by the allowlist"
    assert dc["WindowsAgent.SqlServer"]["status_message"] is None or "Provisioning failed" in \
        dc["WindowsAgent.SqlServer"]["status_message"]
    assert dc["MicrosoftMonitoringAgent"]["created_by"] is None      # no systemData on that resource
    if variants.get("extension_system_data") == "absent":
        assert all(e["created_by"] is None and e["last_modified_by"] is None for e in dc.values())
    else:
        assert dc["CustomScriptExtension"]["created_by"] == "eve@corp.example"
        assert dc["WindowsAgent.SqlServer"]["last_modified_by"] == POLICY
    assert got["web01"]["MDE.Linux"]["provisioning_state"] == "Creating"
    # the extension query is projected: never the resources' settings
    queries = [r["body"]["query"] for r in fake.graph_requests() if "extensions" in r["body"]["query"]]
    assert queries and "project" in queries[0] and all("settings" not in q for q in queries)
    if variants.get("extension_kql") == "basic":
        # one refusal per form that does not work, then the next form
        assert len(queries) == (3 if variants.get("extension_system_data") == "absent" else 2), queries
        assert "column_ifexists" not in queries[-1]


def graph_deletes(fake):
    return [r for r in fake.requests if r["method"] == "DELETE"]


BLOCKED = {("web01", "cse"), ("DC01", "CustomScriptExtension"), ("DC01", "WindowsAgent.SqlServer"),
           ("sql01", "WindowsAgent.SqlServer")}   # DC01's MicrosoftMonitoringAgent is being deleted already


@pytest.mark.parametrize("how", ["location", "async_operation", "sync"])
def test_cleanup_check_mode_then_for_real_then_nothing(fake, tmp_path, how):
    fake.update_state(lambda s: s.update(variants={"extension_delete": how}, delete_polls=2,
                                         arm_throttle={"next": 1, "retry_after": 1}))
    options = {"subscriptions": [SUB_A, SUB_B]}
    _proc, check = run_task(fake, tmp_path, "arcguard.azcmagent.arc_extension_cleanup", options, check=True, diff=True)
    assert not check.get("failed"), check
    assert graph_deletes(fake) == []
    assert check["changed"] is True and check["deleted"] == []
    assert {(e["machine"], e["name"]) for e in check["would_delete"]} == BLOCKED
    assert [s["name"] for s in check["skipped"]] == ["MicrosoftMonitoringAgent"]
    assert "DC01: Microsoft.Compute/CustomScriptExtension" in check["diff"]["before"]

    _proc, real = run_task(fake, tmp_path, "arcguard.azcmagent.arc_extension_cleanup", options, diff=True)
    assert not real.get("failed"), real
    assert {(e["machine"], e["name"]) for e in real["deleted"]} == BLOCKED
    deletes = graph_deletes(fake)
    # one request per extension, plus the one answered 429 and retried after its Retry-After
    assert len(deletes) == len(BLOCKED) + 1
    assert all(r["query"]["api-version"] == "2025-01-13" for r in deletes)
    left = {(m["name"], e["name"]) for m in fake.read_state()["machines"] for e in m.get("extensions") or []}
    assert not left & BLOCKED
    assert ("web01", "AzureMonitorLinuxAgent") in left and ("DC01", "AzureMonitorWindowsAgent") in left
    assert ("pay01", "CustomScriptExtension") in left   # unknown: never deleted

    _proc, again = run_task(fake, tmp_path, "arcguard.azcmagent.arc_extension_cleanup", options)
    assert again["changed"] is False and again["deleted"] == [], again
    assert len(graph_deletes(fake)) == len(deletes)


def test_cleanup_limited_to_machines_and_classes(fake, tmp_path):
    rid = fakeazure.machine_id({"name": "DC01", "subscription": SUB_B, "resource_group": "rg-ad"}).upper()
    _proc, result = run_task(fake, tmp_path, "arcguard.azcmagent.arc_extension_cleanup",
                             {"subscriptions": [SUB_A, SUB_B], "machines": [rid, "WEB01"],
                              "classifications": ["refused_by_lockdown", "failed"]})
    assert not result.get("failed"), result
    assert {(e["machine"], e["name"]) for e in result["deleted"]} == {
        ("DC01", "CustomScriptExtension"), ("DC01", "WindowsAgent.SqlServer"), ("DC01", "AzureMonitorWindowsAgent")}


@pytest.mark.parametrize("options, words", [
    ({"classifications": ["allowed"]}, ["classifications", "allowed", "never deleted"]),
    ({"classifications": ["unknown", "refused_by_lockdown"]}, ["classifications", "unknown"]),
    ({"machines": ["nosuch"]}, ["machines", "nosuch", "names no machine"]),
])
def test_cleanup_bad_options_change_nothing(fake, tmp_path, options, words):
    _proc, result = run_task(fake, tmp_path, "arcguard.azcmagent.arc_extension_cleanup",
                             dict({"subscriptions": [SUB_A, SUB_B]}, **options))
    assert result.get("failed") is True, result
    assert all(w in result["msg"] for w in words), result["msg"]
    assert graph_deletes(fake) == []


def test_cleanup_without_the_role_names_the_permission(fake, tmp_path):
    fake.update_state(lambda s: s["identities"][CLIENT_ID].update(extension_delete=False))
    _proc, result = run_task(fake, tmp_path, "arcguard.azcmagent.arc_extension_cleanup",
                             {"subscriptions": [SUB_A, SUB_B]})
    assert result.get("failed") is True
    assert "Microsoft.HybridCompute/machines/extensions/delete" in result["msg"]
    assert result["deleted"] == []
    assert len(graph_deletes(fake)) == 1      # refused once: the next would be refused too


def test_cleanup_of_a_resource_already_gone_is_not_a_change(fake, tmp_path):
    # a resource deleted by someone else between the listing and the request: 204, not counted
    rid = fakeazure.machine_id({"name": "sql01", "subscription": SUB_B, "resource_group": "rg-sql"})
    _proc, result = run_task(fake, tmp_path, "arcguard.azcmagent.arc_extension_cleanup",
                             {"subscriptions": [SUB_B], "machines": [rid]}, check=True)
    assert len(result["would_delete"]) == 1
    fake.update_state(lambda s: [m.update(extensions=[]) for m in s["machines"] if m["name"] == "sql01"])
    import requests   # straight at the fake, as the module does: 204 for a resource that does not exist
    token = requests.post("%s/%s/oauth2/v2.0/token" % (fake.url, base_state()["tenant"]), verify=fake.ca,
                          data={"client_id": CLIENT_ID, "client_secret": SECRET, "grant_type": "client_credentials",
                                "scope": "x"}).json()["access_token"]
    answer = requests.delete("%s%s/extensions/WindowsAgent.SqlServer?api-version=2025-01-13" % (fake.url, rid),
                             headers={"Authorization": "Bearer " + token}, verify=fake.ca)
    assert answer.status_code == 204


def run_azure_audit(fake, tmp_path, hosts):
    inv = tmp_path / "static.json"
    inv.write_text(json.dumps({"all": {"hosts": {h: {} for h in hosts}}}))
    report = tmp_path / "report"
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "arcguard.azcmagent.audit", "-i", str(inv),
                           "-e", "lockdown_profile=defender", "-e", "audit_report_dir=%s" % report,
                           "-e", "audit_source=azure", "-e", json.dumps({"audit_azure_subscriptions": [SUB_A, SUB_B]})],
                          capture_output=True, text=True, env=ansible_env(fake), timeout=600, check=False,
                          cwd=str(tmp_path))
    assert (report / "report.json").exists(), proc.stdout + proc.stderr
    return (json.loads((report / "report.json").read_text()), (report / "report.xml").read_text(),
            (report / "report.html").read_text())


def test_audit_reports_each_hosts_extensions_and_the_fleets_refused_installs(fake, tmp_path):
    # 30 more SQL servers the same policy failed on: one line, not 31
    more = [{"name": "sql%02d" % i, "subscription": SUB_B, "resource_group": "rg-sql", "os": "windows",
             "config": {"extensions.allowlist": [AMA_W]},
             "extensions": [ext(SQL_W, state="Failed", message="blocked", who=POLICY)]} for i in range(2, 32)]
    fake.update_state(lambda s: s["machines"].extend(more))
    data, junit, html = run_azure_audit(fake, tmp_path, ["web01", "DC01", "pay01"])
    dc = {e["name"]: e for e in data["hosts"]["DC01"]["azure"]["extensions"]}
    assert dc["CustomScriptExtension"]["classification"] == "refused_by_lockdown"
    assert dc["AzureMonitorWindowsAgent"]["classification"] == "failed"
    assert dc["MicrosoftMonitoringAgent"]["retired"] is True
    assert [e["classification"] for e in data["hosts"]["pay01"]["azure"]["extensions"]] == ["unknown"]
    refused = data["refused_installs"]
    # over every machine the audit listed, also those that are no host of this inventory (sql01..sql31)
    assert refused[0] == {"extension": SQL_W, "requested_by": POLICY, "count": 32,
                          "machines": sorted(["DC01", "sql01"] + ["sql%02d" % i for i in range(2, 32)],
                                             key=str.lower)}
    assert refused[1] == {"extension": CSE_W, "requested_by": "eve@corp.example", "count": 1, "machines": ["DC01"]}
    assert len(refused) == 2
    totals = data["extension_totals"]
    assert totals["refused_by_lockdown"] == 33 and totals["machines_with_refused_installs"] == 32
    assert totals["installed_but_blocked"] == 2 and totals["unknown"] == 2 and totals["retired"] == 1
    assert 'name="Extension installs the lockdown refused"' in junit and "refused by the lockdown on 32 machine(s)" in junit
    assert "azure extension: Microsoft.Compute/CustomScriptExtension (CustomScriptExtension) refused_by_lockdown" in junit
    assert 'id="refused-installs"' in html and "<td>32</td>" in html and "and 12 more" in html
    assert "settings-are-never-read" not in junit + html + json.dumps(data)
