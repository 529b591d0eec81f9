"""arc_machine_info as a task against the fake Azure: its filters, and bad options refused before any request."""

import json
import os
import subprocess

import pytest

from tests.lib.azure_env import SECRET, SUB_A, SUB_B, VENV_BIN, ansible_env

pytestmark = pytest.mark.azure


def run_task(fake, tmp_path, options):
    """One play on localhost running arc_machine_info with ``options``; returns (proc, registered result)."""
    out = tmp_path / "result.json"
    tasks = [{"name": "machines", "arcguard.azcmagent.arc_machine_info": options, "register": "r",
              "ignore_errors": True},
             {"name": "save", "ansible.builtin.copy": {"dest": str(out), "content": "{{ r | to_json }}"}}]
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": tasks,
             "vars": {"ansible_python_interpreter": os.path.join(VENV_BIN, "python")}}]
    path = tmp_path / "play.json"
    path.write_text(json.dumps(play))
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local", str(path)],
                          capture_output=True, text=True, env=ansible_env(fake), timeout=300, check=False,
                          cwd=str(tmp_path))
    assert out.exists(), proc.stdout + proc.stderr
    return proc, json.loads(out.read_text())


def test_filters_and_a_status_azure_never_gives(fake, tmp_path):
    proc, everyone = run_task(fake, tmp_path, {"subscriptions": [SUB_A, SUB_B]})
    assert not everyone.get("failed"), everyone
    statuses = {m["status"] for m in everyone["machines"]}
    assert "Connected" in statuses and len(statuses) > 1, statuses
    _proc, connected = run_task(fake, tmp_path, {"subscriptions": [SUB_A, SUB_B], "include_statuses": ["connected"]})
    assert connected["machines"] == [m for m in everyone["machines"] if m["status"] == "Connected"]
    assert not connected.get("warnings")
    # a typo is not an error (Azure's statuses may grow) but is said, and matches nothing
    proc, typo = run_task(fake, tmp_path, {"subscriptions": [SUB_A], "include_statuses": ["Conected"]})
    assert typo["machines"] == []
    assert any("'Conected' is not a status Azure is known to give" in w for w in typo["warnings"]), typo
    assert "Conected" in proc.stderr   # shown as a warning


@pytest.mark.parametrize("options, words", [
    ({"subscriptions": ["Production"]}, ["subscriptions", "GUID", "'Production'"]),
    ({"subscriptions": [SUB_A, 5]}, ["subscriptions", "'5'"]),
    ({"subscriptions": SUB_A + "x"}, ["subscriptions", "GUID"]),
    ({"arm_endpoint": "not a url"}, ["arm_endpoint", "https URL"]),
    ({"arm_endpoint": "https://arm.example.com:70000"}, ["arm_endpoint"]),
    ({"authority_host": "https://app:%s@login.example.com" % SECRET}, ["authority_host", "********@login"]),
    ({"authority_host": "http://login.example.com"}, ["authority_host", "TLS"]),
    ({"tags": ["env"]}, ["tags", "dictionary", "got list"]),
    ({"auth_source": "password"}, ["auth_source"]),
])
def test_bad_options_are_refused_before_any_request(fake, tmp_path, options, words):
    before = len(fake.requests)
    proc, result = run_task(fake, tmp_path, options)
    assert result.get("failed") is True, result
    assert all(w in result["msg"] for w in words), result["msg"]
    assert len(fake.requests) == before, "a request reached Azure before the options were checked"
    assert "Traceback" not in proc.stdout + proc.stderr and "_AnsibleTagged" not in result["msg"]
    assert SECRET not in proc.stdout + proc.stderr + json.dumps(result)


def test_host_names_agree_with_the_inventory_and_tag_names_match_in_any_case(fake, tmp_path):
    """A clone of web01 in another resource group, a machine named all: arc_machine_info names them as the
    inventory plugin does (one rule), and a tags filter matches the tag name in any case."""
    from tests.lib.azure_env import inventory, write_inventory

    def hostile(state):
        state["machines"].append({"name": "web01", "subscription": SUB_B, "resource_group": "rg-clone", "os": "linux",
                                  "status": "Connected", "tags": {"ENV": "prod"}})
        state["machines"].append({"name": "all", "subscription": SUB_A, "resource_group": "rg-x", "os": "linux",
                                  "status": "Connected", "tags": {}})
    fake.update_state(hostile)
    _proc, result = run_task(fake, tmp_path, {"subscriptions": [SUB_A, SUB_B]})
    names = {m["resource_id"].lower(): m["host_name"] for m in result["machines"]}
    assert "web01" not in names.values() and "all" not in names.values()
    assert "web01~RG-Web~%s" % SUB_A in names.values() and "web01~rg-clone~%s" % SUB_B in names.values()
    assert any("2 machines are named 'web01'" in w for w in result["warnings"])
    proc, listed = inventory(fake, write_inventory(tmp_path / "fleet.arc.yml", subscriptions=[SUB_A, SUB_B]), "--list")
    assert proc.returncode == 0, proc.stderr
    assert {v["arc_resource_id"].lower(): h for h, v in listed["_meta"]["hostvars"].items()} == names
    _proc, tagged = run_task(fake, tmp_path, {"subscriptions": [SUB_A, SUB_B], "tags": {"env": "prod"}})
    assert "web01~rg-clone~%s" % SUB_B in [m["host_name"] for m in tagged["machines"]]
    _proc, wrong_value = run_task(fake, tmp_path, {"subscriptions": [SUB_A, SUB_B], "tags": {"env": "PROD"}})
    assert wrong_value["machines"] == []
