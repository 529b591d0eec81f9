"""The onboard role on Linux stand-ins (agent installed): lockdown first, then connect; idempotent; no secret leaks."""

import json
import os

import pytest

from tests.lib.playbook import run
from tests.lib.onboarding import APP, SECRET, SUB, TENANT, TOKEN, assert_no_secret, host
from tests.lib import fleet

pytestmark = pytest.mark.onboarding


def role_task():
    return {"ansible.builtin.include_role": {"name": "arcguard.azcmagent.onboard"}}


def role_vars(exe, **over):
    data = {"onboard_profile": "defender", "onboard_executable": exe, "onboard_tenant_id": TENANT,
            "onboard_subscription_id": SUB, "onboard_resource_group": "rg-arc", "onboard_location": "westeurope",
            "onboard_service_principal_id": APP, "onboard_service_principal_secret": SECRET,
            "onboard_wait_timeout": 0}
    data.update(over)
    return data


def test_lockdown_before_connect_then_no_change(tmp_path):
    root, exe = host(tmp_path)
    first = run(tmp_path, [role_task()], hosts={"h": role_vars(exe)}, verbosity=4)
    assert first.rc == 0 and "failed=0" in first.stdout, first.stdout[-4000:]
    argvs = [e["argv"] for e in fleet.read_log(root)]
    writes = [i for i, a in enumerate(argvs) if a[:2] == ["config", "set"] or a[:2] == ["config", "clear"]]
    connects = [i for i, a in enumerate(argvs) if a[0] == "connect"]
    assert writes and connects and max(writes) < connects[0], argvs
    assert fleet.read_state(root)["extensions.allowlist"]
    assert_no_secret(root, first, SECRET)
    assert all(not os.path.exists(e["config_file"]["path"]) for e in fleet.read_log(root) if "config_file" in e)
    fleet.clear_log(root)
    second = run(tmp_path, [role_task()], hosts={"h": role_vars(exe)})
    assert second.rc == 0 and "changed=0" in second.stdout, second.stdout[-3000:]
    assert [e["argv"] for e in fleet.read_log(root)] == [["config", "list", "--json"], ["show", "--json"]]


def test_failing_lockdown_never_connects(tmp_path):
    root, exe = host(tmp_path, faults={"fail_set": {"property": "*", "rc": 69}})
    out = run(tmp_path, [role_task()], hosts={"h": role_vars(exe)})
    assert out.rc != 0
    assert not [e for e in fleet.read_log(root) if e["argv"][0] in ("connect", "show")]


def test_check_mode_writes_nothing(tmp_path):
    root, exe = host(tmp_path)
    out = run(tmp_path, [role_task()], hosts={"h": role_vars(exe)}, check=True)
    assert out.rc == 0 and "changed=2" in out.stdout, out.stdout[-3000:]
    assert sorted(e["argv"][0] for e in fleet.read_log(root)) == ["config", "show"]
    assert fleet.read_state(root) == {}


def test_connected_elsewhere_refused(tmp_path):
    root, exe = host(tmp_path)
    run(tmp_path, [role_task()], hosts={"h": role_vars(exe)})
    fleet.clear_log(root)
    out = run(tmp_path, [role_task()], hosts={"h": role_vars(exe, onboard_resource_group="rg-other")})
    assert out.rc != 0 and "already connected to /subscriptions/%s/resourceGroups/rg-arc/" % SUB in out.stdout
    assert [e["argv"] for e in fleet.read_log(root)] == [["config", "list", "--json"], ["show", "--json"]]


def test_access_token_and_absent(tmp_path):
    root, exe = host(tmp_path)
    token = role_vars(exe, onboard_service_principal_id="", onboard_service_principal_secret="",
                      onboard_access_token=TOKEN)
    first = run(tmp_path, [role_task()], hosts={"h": token}, verbosity=4)
    assert first.rc == 0, first.stdout[-3000:]
    assert_no_secret(root, first, TOKEN)
    gone = run(tmp_path, [role_task()], hosts={"h": dict(token, onboard_state="absent")})
    assert gone.rc == 0 and "changed=1" in gone.stdout, gone.stdout[-3000:]
    state = json.load(open(os.path.join(fleet.config_dir(root), "standin-connection.json")))
    assert state["status"] == "Disconnected"


def test_profile_required(tmp_path):
    root, exe = host(tmp_path)
    data = role_vars(exe)
    del data["onboard_profile"]
    out = run(tmp_path, [role_task()], hosts={"h": data})
    assert out.rc != 0 and "onboard_profile" in out.stdout
    assert fleet.read_log(root) == []
