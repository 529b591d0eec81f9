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
