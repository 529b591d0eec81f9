"""Run ansible-playbook against the installed (built) collection, on local stand-in hosts."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.join(ROOT, ".venv", "bin")


def env():
    e = dict(os.environ)
    e["ANSIBLE_COLLECTIONS_PATH"] = os.path.join(ROOT, "build", "collections")
    e["ANSIBLE_NOCOLOR"] = "1"
    e["ANSIBLE_FORCE_COLOR"] = "0"
    e["ANSIBLE_RETRY_FILES_ENABLED"] = "0"
    e["ANSIBLE_STDOUT_CALLBACK"] = "default"
    e["ANSIBLE_CALLBACK_RESULT_FORMAT"] = "json"
    e["ANSIBLE_DEPRECATION_WARNINGS"] = "0"
    e["PATH"] = VENV_BIN + os.pathsep + e.get("PATH", "")
    return e


def command(inventory, play, check=False, diff=False, verbosity=0, extra=()):
    """The ansible-playbook command line that runs ``play`` on ``inventory`` (paths)."""
    cmd = [os.path.join(VENV_BIN, "ansible-playbook"), "-i", str(inventory), str(play)]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    if verbosity:
        cmd.append("-" + "v" * verbosity)
    cmd.extend(extra)
    return cmd


class Run:
    def __init__(self, proc, results):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.results = results

    def result(self, host="localhost", index=0):
        return self.results[host][index]


def run(tmp_path, tasks, hosts=None, extra=(), check=False, diff=False, verbosity=0, play_vars=None,
        environment=None):
    """Run ``tasks`` on ``hosts`` ({name: vars}); each task result is saved for inspection.

    ``environment``: the play's ``environment`` keyword (templated per host, so it may use host variables).
    """
    hosts = hosts or {"localhost": {}}
    inventory = {"all": {"hosts": {}}}
    for name, host_vars in hosts.items():
        inventory["all"]["hosts"][name] = dict({"ansible_connection": "local",
                                               "ansible_python_interpreter": sys.executable}, **host_vars)
    inv_path = tmp_path / "inventory.json"
    inv_path.write_text(json.dumps(inventory))
    results_dir = tmp_path / "results"
    results_dir.mkdir(exist_ok=True)
    play_tasks = []
    for index, task in enumerate(tasks):
        task = dict(task)
        task["register"] = "r%d" % index
        task.setdefault("ignore_errors", True)
        play_tasks.append(task)
        play_tasks.append({"name": "save %d" % index, "delegate_to": "localhost",
                           "ansible.builtin.copy": {"content": "{{ r%d | to_json }}" % index,
                                                    "dest": str(results_dir) + "/{{ inventory_hostname }}-%d.json"
                                                    % index},
                           "check_mode": False, "changed_when": False})
    play = [{"hosts": "all", "gather_facts": False, "vars": play_vars or {}, "tasks": play_tasks}]
    if environment:
        play[0]["environment"] = environment
    pb = tmp_path / "play.json"
    pb.write_text(json.dumps(play))
    cmd = command(inv_path, pb, check=check, diff=diff, verbosity=verbosity, extra=extra)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env(), cwd=str(tmp_path), timeout=600,
                          check=False)
    results = {}
    for name in hosts:
        results[name] = []
        for index in range(len(tasks)):
            path = results_dir / ("%s-%d.json" % (name, index))
            results[name].append(json.loads(path.read_text()) if path.exists() else None)
    return Run(proc, results)
