"""azcmagent_connect and the onboard role over Ansible's winrm connection, against the test endpoint."""

import json
import os

import pytest

from tests.lib.playbook import run
from tests.lib.onboarding import APP, SECRET, SUB, TENANT, TOKEN
from tests.lib import fleet
from tests.lib.endpoint import Endpoint

pytestmark = [pytest.mark.windows, pytest.mark.onboarding]

# what PowerShell 5.1 cannot pass to a native program intact is refused on Windows; the secret is not an argument
WIN_SECRET = SECRET + ' "quoted" trailing\\'


@pytest.fixture
def win(tmp_path):
    ep = Endpoint(tmp_path / "win")
    fleet.write_control(ep.root, {"connected": "Disconnected", "hostname": "dc01",
                                  "credentials": {"service_principals": {APP: WIN_SECRET}, "access_tokens": [TOKEN]}},
                        "windows")
    yield ep
    ep.stop()


def task(**options):
    args = dict(tenant_id=TENANT, subscription_id=SUB, resource_group="rg-arc", location="westeurope",
                service_principal_id=APP, service_principal_secret=WIN_SECRET)
    args.update(options)
    return {"arcguard.azcmagent.azcmagent_connect": {k: v for k, v in args.items() if v is not None}}


def log(ep):
    return fleet.read_log(ep.root, "windows")


def file_events(ep):
    path = os.path.join(ep.root, "endpoint-files.log")
    if not os.path.exists(path):
        return []
    return [json.loads(line) for line in open(path)]


def assert_private_and_removed(ep):
    events = file_events(ep)
    writes = [e for e in events if e["op"] == "write"]
    assert writes and all(e["private"] for e in writes), events
    for write in writes:
        folder = write["path"].rsplit("\\", 1)[0]
        ops = [e["op"] for e in events if e["path"].startswith(folder)]
        assert ops.index("acl") < ops.index("write") < ops.index("remove"), ops
    assert not [n for n in os.listdir(os.path.join(ep.root, "Windows", "Temp")) if n.startswith("arcguard-")]


def test_connect_then_idempotent(tmp_path, win):
    hosts = {"dc01": win.host_vars()}
    out = run(tmp_path, [task(tags={"Role": "domain controller"})], hosts=hosts, diff=True, verbosity=4)
    r = out.result("dc01")
    assert r["changed"] and r["status"] == "Connected" and r["os"] == "windows", r
    assert r["resource_id"].endswith("/resourceGroups/rg-arc/providers/Microsoft.HybridCompute/machines/dc01")
    connect = [e for e in log(win) if e["argv"][0] == "connect"][0]
    assert connect["argv"][:3] == ["connect", "--config", connect["config_file"]["path"]] or \
        connect["argv"][1] == "--config"
    assert connect["auth"] == "service_principal"
    assert WIN_SECRET not in out.stdout and WIN_SECRET not in out.stderr
    assert all(WIN_SECRET not in json.dumps(e["argv"]) for e in log(win))
    assert_private_and_removed(win)
    fleet.clear_log(win.root, "windows")
    again = run(tmp_path, [task()], hosts=hosts).result("dc01")
    assert again["changed"] is False, again
    assert [e["argv"] for e in log(win)] == [["show", "--json"]]


def test_failing_connect_removes_the_folder(tmp_path, win):
    control = json.load(open(fleet.control_file(win.root, "windows")))
    control["faults"] = {"fail_connect": {"rc": 41, "message": "Invalid client secret is provided"}}
    fleet.write_control(win.root, control, "windows")
    r = run(tmp_path, [task()], hosts={"dc01": win.host_vars()}).result("dc01")
    assert r["failed"] and r["azcm_code"] == "AZCM0041" and "What to do" in r["msg"], r
    assert_private_and_removed(win)


def test_connected_elsewhere_refused(tmp_path, win):
    hosts = {"dc01": win.host_vars()}
    run(tmp_path, [task()], hosts=hosts)
    fleet.clear_log(win.root, "windows")
    r = run(tmp_path, [task(resource_group="rg-other")], hosts=hosts).result("dc01")
    assert r["failed"] and "rg-arc" in r["msg"] and "rg-other" in r["msg"], r
    assert [e["argv"] for e in log(win)] == [["show", "--json"]]


def test_access_token_and_disconnect(tmp_path, win):
    hosts = {"dc01": win.host_vars()}
    token = task(service_principal_id=None, service_principal_secret=None, access_token=TOKEN)
    out = run(tmp_path, [token], hosts=hosts, verbosity=4)
    assert out.result("dc01")["changed"], out.result("dc01")
    assert TOKEN not in out.stdout
    gone = run(tmp_path, [task(state="disconnected", service_principal_id=None, service_principal_secret=None,
                               access_token=TOKEN)], hosts=hosts).result("dc01")
    assert gone["changed"] and gone["status"] == "Disconnected", gone
    assert_private_and_removed(win)


def test_check_mode_runs_nothing(tmp_path, win):
    r = run(tmp_path, [task()], hosts={"dc01": win.host_vars()}, check=True).result("dc01")
    assert r["changed"] and r["planned"], r
    assert [e["argv"] for e in log(win)] == [["show", "--json"]]
    assert file_events(win) == []


def test_onboard_role_over_winrm(tmp_path, win):
    role = {"ansible.builtin.include_role": {"name": "arcguard.azcmagent.onboard"}}
    hosts = {"dc01": dict(win.host_vars(), onboard_profile="defender", onboard_tenant_id=TENANT,
                          onboard_subscription_id=SUB, onboard_resource_group="rg-arc", onboard_location="westeurope",
                          onboard_service_principal_id=APP, onboard_service_principal_secret=WIN_SECRET,
                          onboard_wait_timeout=0)}
    first = run(tmp_path, [role], hosts=hosts, verbosity=4)
    assert first.rc == 0 and "failed=0" in first.stdout, first.stdout[-3000:]
    argvs = [e["argv"] for e in log(win)]
    writes = [i for i, a in enumerate(argvs) if a[:2] == ["config", "set"]]
    connect = [i for i, a in enumerate(argvs) if a[0] == "connect"]
    assert writes and connect and max(writes) < connect[0]
    assert WIN_SECRET not in first.stdout
    fleet.clear_log(win.root, "windows")
    second = run(tmp_path, [role], hosts=hosts)
    assert second.rc == 0 and "changed=0" in second.stdout
    assert [e["argv"] for e in log(win)] == [["config", "list", "--json"], ["show", "--json"]]
