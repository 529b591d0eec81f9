"""The Azure-side audit reads each host's variables once, in time linear in the hosts, and gets what Ansible's
hostvars give: group and host variables of the inventory, group_vars/host_vars beside the inventory and the
playbook, group depth and priority, templates, extra variables."""

import json
import os
import subprocess

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


def audit(tmp_path, extra=()):
    inv = tmp_path / "inv"
    (inv / "host_vars").mkdir(parents=True, exist_ok=True)
    (inv / "group_vars").mkdir(exist_ok=True)
    (inv / "hosts.ini").write_text(INVENTORY)
    (inv / "host_vars" / "h4.yml").write_text("lockdown_profile: p_hostfile\n")
    (inv / "group_vars" / "g2.yml").write_text("lockdown_profile: p_g2file\n")
    play_dir = tmp_path / "play"
    (play_dir / "group_vars").mkdir(parents=True, exist_ok=True)
    (play_dir / "group_vars" / "g4.yml").write_text("lockdown_profile: p_playdir\n")
    dest = tmp_path / "report"
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [{"arcguard.azcmagent.azcmagent_report": {
        "dest": str(dest), "hosts": "{{ query('ansible.builtin.inventory_hostnames', 'all') }}", "source": "azure",
        "azure_machines": [], "formats": ["json"]}}]}]
    (play_dir / "audit.yml").write_text(json.dumps(play))
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", str(inv / "hosts.ini"),
                           str(play_dir / "audit.yml")] + list(extra), capture_output=True, text=True, env=env(),
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads((dest / "report.json").read_text())


def test_each_host_gets_the_variables_hostvars_give(tmp_path):
    data = audit(tmp_path)
    assert {name: entry["profile"] for name, entry in data["hosts"].items()} == EXPECTED
    assert data["summary"]["profiles"] == {p: 1 for p in sorted(EXPECTED.values())}


def test_extra_variables_win(tmp_path):
    data = audit(tmp_path, ["-e", "lockdown_profile=p_extra"])
    assert {entry["profile"] for entry in data["hosts"].values()} == {"p_extra"}
