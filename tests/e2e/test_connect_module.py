"""azcmagent_connect through ansible-playbook, from the built collection, against local stand-ins."""

import json
import os

import pytest

from tests.lib.playbook import run
from tests.lib import fleet
from tests.lib.onboarding import APP, OTHER_SUB, SECRET, SUB, TENANT, TOKEN, assert_no_secret, host, invocations

pytestmark = pytest.mark.onboarding

SHOW_VARIANTS = {
    "camel-empty": {},
    "idcaps-null": {"show_json_keys": "id_caps", "show_json_empty": "null"},
    "display-absent": {"show_json_keys": "display", "show_json_empty": "absent"},
}


def task(exe, **options):
    args = dict(executable=exe, tenant_id=TENANT, subscription_id=SUB, resource_group="rg-arc",
                location="westeurope", service_principal_id=APP, service_principal_secret=SECRET)
    args.update(options)
    return {"arcguard.azcmagent.azcmagent_connect": {k: v for k, v in args.items() if v is not None}}


def config_files(root):
    return [e["config_file"] for e in invocations(root) if "config_file" in e]


def test_connect_then_idempotent(tmp_path):
    root, exe = host(tmp_path)
    out = run(tmp_path, [task(exe, tags={"Owner": "Platform Team", "Env": "prod"})], diff=True, verbosity=4)
    r = out.result()
    assert r["changed"] and not r.get("failed"), r
    assert r["status"] == "Connected"
    assert r["resource_id"] == "/subscriptions/%s/resourceGroups/rg-arc/providers/Microsoft.HybridCompute/machines/web01" % SUB
    assert r["diff"]["before"]["status"] == "Disconnected" and r["diff"]["after"]["status"] == "Connected"
    argvs = [e["argv"] for e in invocations(root)]
    assert argvs[0] == ["show", "--json"] and argvs[-1] == ["show", "--json"]
    connect = argvs[1]
    assert connect[:2] == ["connect", "--config"]
    assert "--service-principal-secret" not in connect and "--tags" in connect
    assert connect[connect.index("--tags") + 1] == "Env=prod,Owner='Platform Team'"
    files = config_files(root)
    assert len(files) == 1 and files[0]["mode"] == "0600" and files[0]["uid"] == os.geteuid()
    assert not os.path.exists(files[0]["path"])
    assert_no_secret(root, out, SECRET)
    assert any("(temporary file)" in c for c in r["commands"])
    fleet.clear_log(root)
    again = run(tmp_path, [task(exe)]).result()
    assert again["changed"] is False and again["status"] == "Connected", again
    assert [e["argv"] for e in invocations(root)] == [["show", "--json"]]


@pytest.mark.parametrize("variant", sorted(SHOW_VARIANTS))
def test_show_variants_decide_the_same(tmp_path, variant):
    root, exe = host(tmp_path, variants=SHOW_VARIANTS[variant])
    first = run(tmp_path, [task(exe, resource_name="web-01")]).result()
    assert first["changed"] and first["status"] == "Connected", first
    fleet.clear_log(root)
    second = run(tmp_path, [task(exe, resource_name="WEB-01", resource_group="RG-ARC")]).result()
    assert second["changed"] is False, second
    assert len(invocations(root)) == 1


def test_access_token(tmp_path):
    root, exe = host(tmp_path)
    out = run(tmp_path, [task(exe, service_principal_id=None, service_principal_secret=None, access_token=TOKEN)],
              verbosity=4)
    r = out.result()
    assert r["changed"] and r["status"] == "Connected", r
    assert [e.get("auth") for e in invocations(root) if e["argv"][0] == "connect"] == ["access_token"]
    assert_no_secret(root, out, TOKEN)


def test_connected_elsewhere_refused_without_writes(tmp_path):
    root, exe = host(tmp_path)
    run(tmp_path, [task(exe)])
    before = open(os.path.join(fleet.config_dir(root), "standin-connection.json")).read()
    fleet.clear_log(root)
    r = run(tmp_path, [task(exe, subscription_id=OTHER_SUB, resource_group="rg-other")]).result()
    assert r["failed"] and r["changed"] is False
    assert "/subscriptions/%s/resourceGroups/rg-arc/" % SUB in r["msg"] and OTHER_SUB in r["msg"]
    assert "reconnect" in r["msg"]
    assert [e["argv"] for e in invocations(root)] == [["show", "--json"]]
    assert open(os.path.join(fleet.config_dir(root), "standin-connection.json")).read() == before


def test_reconnect_moves_the_machine(tmp_path):
    root, exe = host(tmp_path)
    run(tmp_path, [task(exe)])
    fleet.clear_log(root)
    r = run(tmp_path, [task(exe, subscription_id=OTHER_SUB, reconnect=True)]).result()
    assert r["changed"] and r["resource_id"].startswith("/subscriptions/%s/" % OTHER_SUB), r
    assert [e["argv"][0] for e in invocations(root)] == ["show", "disconnect", "connect", "show"]
    assert all(not os.path.exists(f["path"]) for f in config_files(root))


def test_expired_needs_reconnect(tmp_path):
    root, exe = host(tmp_path)
    run(tmp_path, [task(exe)])
    control = json.load(open(fleet.control_file(root)))
    control["faults"] = {"expired": True}
    fleet.write_control(root, control)
    r = run(tmp_path, [task(exe)]).result()
    assert r["failed"] and "expired" in r["msg"] and "reconnect: true" in r["msg"]
    control["faults"] = {"expired": True}
    r = run(tmp_path, [task(exe, reconnect=True)]).result()
    assert r["changed"], r


def test_check_mode_runs_nothing(tmp_path):
    root, exe = host(tmp_path)
    r = run(tmp_path, [task(exe)], check=True, diff=True).result()
    assert r["changed"] and r["status"] == "Connected" and r["planned"][0].split()[1] == "connect", r
    assert r["diff"]["after"]["subscription_id"] == SUB
    assert [e["argv"] for e in invocations(root)] == [["show", "--json"]]


@pytest.mark.parametrize("fault, code", [({"rc": 41, "message": "Invalid client secret is provided"}, "AZCM0041"),
                                         ({"rc": 26}, "AZCM0026"), ({"rc": 42}, "AZCM0042")])
def test_failing_connect_removes_the_file(tmp_path, fault, code):
    root, exe = host(tmp_path, faults={"fail_connect": fault})
    out = run(tmp_path, [task(exe)], verbosity=4)
    r = out.result()
    assert r["failed"] and r["rc"] == fault["rc"] and r["azcm_code"] == code, r
    assert "What to do" in r["msg"]
    files = config_files(root)
    assert files and not any(os.path.exists(f["path"]) for f in files)
    assert_no_secret(root, out, SECRET)


def test_wrong_secret(tmp_path):
    root, exe = host(tmp_path)
    r = run(tmp_path, [task(exe, service_principal_secret="wrong-one")]).result()
    assert r["failed"] and r["azcm_code"] == "AZCM0041" and "credentials" in r["msg"], r


def test_timeout_removes_the_file(tmp_path):
    root, exe = host(tmp_path, faults={"hang_connect": 30})
    r = run(tmp_path, [task(exe, timeout=2)]).result()
    assert r["failed"] and "did not finish" in r["msg"], r
    files = config_files(root)
    assert files and files[0]["mode"] == "0600"
    assert all(not os.path.exists(f["path"]) for f in files)


def test_disconnect(tmp_path):
    root, exe = host(tmp_path)
    run(tmp_path, [task(exe)])
    fleet.clear_log(root)
    r = run(tmp_path, [task(exe, state="disconnected", tenant_id=None, subscription_id=None, resource_group=None,
                            location=None)]).result()
    assert r["changed"] and r["status"] == "Disconnected", r
    disconnect = [e for e in invocations(root) if e["argv"][0] == "disconnect"][0]
    assert disconnect["argv"][:2] == ["disconnect", "--config"] and "--tenant-id" not in disconnect["argv"]
    again = run(tmp_path, [task(exe, state="disconnected", force_local_only=True, service_principal_id=None,
                                service_principal_secret=None)]).result()
    assert again["changed"] is False


def test_force_local_only(tmp_path):
    root, exe = host(tmp_path)
    run(tmp_path, [task(exe)])
    r = run(tmp_path, [task(exe, state="disconnected", force_local_only=True, service_principal_id=None,
                            service_principal_secret=None)]).result()
    assert r["changed"] and r["status"] == "Disconnected"
    assert ["disconnect", "--force-local-only"] in [e["argv"] for e in invocations(root)]


@pytest.mark.parametrize("options, word", [
    ({"subscription_id": "Production"}, "subscription_id"),
    ({"location": "West Europe"}, "location"),
    ({"resource_name": "web01-"}, "resource_name"),
    ({"tags": {"a,b": "c"}}, "tags"),
    ({"service_principal_secret": None}, "service_principal_secret"),
    ({"access_token": TOKEN}, "access_token"),
    ({"tenant_id": None}, "tenant_id"),
    ({"resource_group": None}, "resource_group"),
    ({"private_link_scope": "scope"}, "private_link_scope"),
    ({"correlation_id": "nope"}, "correlation_id"),
])
def test_bad_input_names_the_option_before_anything_runs(tmp_path, options, word):
    root, exe = host(tmp_path)
    r = run(tmp_path, [task(exe, **options)]).result()
    assert r["failed"] and word in r["msg"], r
    assert invocations(root) == []


def test_agent_missing(tmp_path):
    r = run(tmp_path, [task(str(tmp_path / "nowhere" / "azcmagent"))]).result()
    assert r["failed"] and "not found" in r["msg"]
