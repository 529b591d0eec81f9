"""The Azure-side audit reads each host's variables once, in time linear in the hosts, and gets what Ansible's
hostvars give: group and host variables of the inventory, group_vars/host_vars beside the inventory and the
playbook, group depth and priority, templates, extra variables."""

import json
import os
import subprocess

import pytest

from tests.lib.playbook import env, VENV_BIN

INVENTORY = """
[all:vars]
lockdown_profile=p_all

[g1]
h2
h3
h8
h7 lockdown_profile=p_host

[g1:vars]
lockdown_profile=p_g1

[g1a]
h3

[g1a:vars]
lockdown_profile=p_g1a

[g1:children]
g1a

[g2]
h5

[g3]
h8

[g3:vars]
lockdown_profile=p_g3
ansible_group_priority=10

[g4]
h9

[ungrouped]
h1
h4
h6 lockdown_profile="{{ 'p_' ~ 'tmpl' }}"
"""

EXPECTED = {"h1": "p_all", "h2": "p_g1", "h3": "p_g1a", "h4": "p_hostfile", "h5": "p_g2file", "h6": "p_tmpl",
            "h7": "p_host", "h8": "p_g3", "h9": "p_playdir"}


def audit(tmp_path, extra=(), host_vars_at="inventory", with_hostvars=False):
    """The audit's report.json (and, ``with_hostvars``, {host: lockdown_profile} as hostvars give it); the
    host_vars directory beside the inventory, the playbook or nowhere (``host_vars_at``)."""
    inv = tmp_path / "inv"
    play_dir = tmp_path / "play"
    inv.mkdir(parents=True, exist_ok=True)
    (inv / "group_vars").mkdir(exist_ok=True)
    (inv / "hosts.ini").write_text(INVENTORY)
    if host_vars_at != "nowhere":
        host_vars = (inv if host_vars_at == "inventory" else play_dir) / "host_vars"
        host_vars.mkdir(parents=True, exist_ok=True)
        (host_vars / "h4.yml").write_text("lockdown_profile: p_hostfile\n")
    (inv / "group_vars" / "g2.yml").write_text("lockdown_profile: p_g2file\n")
    (play_dir / "group_vars").mkdir(parents=True, exist_ok=True)
    (play_dir / "group_vars" / "g4.yml").write_text("lockdown_profile: p_playdir\n")
    dest = tmp_path / "report"
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [{"arcguard.azcmagent.azcmagent_report": {
        "dest": str(dest), "hosts": "{{ query('ansible.builtin.inventory_hostnames', 'all') }}", "source": "azure",
        "azure_machines": [], "formats": ["json"]}}]}]
    if with_hostvars:
        play[0]["tasks"].append({"ansible.builtin.copy": {"dest": str(tmp_path / "hostvars.json"), "content": (
            "{{ dict(query('ansible.builtin.inventory_hostnames', 'all') | zip(query('ansible.builtin."
            "inventory_hostnames', 'all') | map('extract', hostvars, 'lockdown_profile'))) | to_json }}")}})
    (play_dir / "audit.yml").write_text(json.dumps(play))
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", str(inv / "hosts.ini"),
                           str(play_dir / "audit.yml")] + list(extra), capture_output=True, text=True, env=env(),
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads((dest / "report.json").read_text())
    if with_hostvars:
        return data, json.loads((tmp_path / "hostvars.json").read_text())
    return data


def test_each_host_gets_the_variables_hostvars_give(tmp_path):
    data = audit(tmp_path)
    assert {name: entry["profile"] for name, entry in data["hosts"].items()} == EXPECTED
    assert data["summary"]["profiles"] == {p: 1 for p in sorted(EXPECTED.values())}


def test_extra_variables_win(tmp_path):
    data = audit(tmp_path, ["-e", "lockdown_profile=p_extra"])
    assert {entry["profile"] for entry in data["hosts"].values()} == {"p_extra"}


@pytest.mark.parametrize("host_vars_at", ["inventory", "playbook", "nowhere"])
def test_host_vars_wherever_they_are_or_are_not(tmp_path, host_vars_at):
    """With no host_vars directory anywhere the audit skips the per-host vars plugin call; wherever one is, it is
    read: in every case each host's profile is the one Ansible's hostvars give."""
    data, hostvars = audit(tmp_path, host_vars_at=host_vars_at, with_hostvars=True)
    assert {name: entry["profile"] for name, entry in data["hosts"].items()} == hostvars
    assert hostvars["h4"] == ("p_all" if host_vars_at == "nowhere" else "p_hostfile")
    assert hostvars["h1"] == "p_all" and hostvars["h9"] == "p_playdir"


def test_host_vars_that_is_a_file_is_not_taken_for_absent(tmp_path):
    """A ``host_vars`` file (not a directory) beside the inventory: Ansible warns and reads nothing from it;
    the audit gives the same profiles as hostvars."""
    (tmp_path / "inv").mkdir()
    (tmp_path / "inv" / "host_vars").write_text("lockdown_profile: p_nothere\n")
    data, hostvars = audit(tmp_path, host_vars_at="nowhere", with_hostvars=True)
    assert {name: entry["profile"] for name, entry in data["hosts"].items()} == hostvars
    assert "p_nothere" not in hostvars.values()
