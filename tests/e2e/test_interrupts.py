"""Promise 4: interrupts leave nothing broken.

A remove_blocked plan (write the allowlist, stop the extension service, remove two blocked extensions, start the
service, read back) is interrupted at each of its steps: the stand-in hangs in that step (its hang hooks) and writes
standin-hangs.log, then the test interrupts. Linux hosts over the local connection, one host per step in the same
play, with SIGINT to the whole process group (Ctrl-C), SIGHUP (a terminal or session gone) and SIGKILL of the whole
process group (the play and every remote process it started die at once: what a dropped connection does to the
remote side at worst). A Windows host over WinRM (the test endpoint) loses its whole endpoint with SIGKILL in the
middle of the removals and comes back.

After each interrupt: the agent is never weaker than before the run (its allowlist only lost entries); once the
remote side has settled, the extension service is either running or the interrupted run left its stop marker; a
rerun of the same play converges, starts a service left stopped and says so (``repaired``), and a third run
changes nothing at one azcmagent invocation per host.
"""

import json
import os
import signal
import subprocess
import sys
import time

from tests.lib import logic_env  # noqa: F401  pylint: disable=unused-import
import pytest

from tests.lib.playbook import VENV_BIN, env
from tests.lib import fleet
from tests.lib.endpoint import ENDPOINT, STANDIN, Endpoint

pytestmark = [pytest.mark.hostile, pytest.mark.slow]

AMA = ("Microsoft.Azure.Monitor", "AzureMonitorLinuxAgent", "1.33.2")
CUSTOM = ("Microsoft.Azure.Extensions", "CustomScript", "2.1.10")
RUN_COMMAND = ("Microsoft.CPlat.Core", "RunCommandHandlerLinux", "1.3.2")
START = {"extensions.allowlist": ["Microsoft.Azure.Monitor/AzureMonitorLinuxAgent",
                                  "Microsoft.Azure.Extensions/CustomScript",
                                  "Microsoft.CPlat.Core/RunCommandHandlerLinux"]}
HANG = 6
STEPS = {
    "set": {"hang_at": {"command": "config set", "seconds": HANG, "times": 1}},
    "stop": {"hang_service": {"service": "extd", "action": "stop", "seconds": HANG, "times": 1}},
    "remove": {"hang_at": {"command": "extension remove", "seconds": HANG, "times": 1}},
    "start": {"hang_service": {"service": "extd", "action": "start", "seconds": HANG, "times": 1}},
}


def make_hosts(tmp_path):
    hosts = {}
    for step, faults in STEPS.items():
        root = str(tmp_path / step)
        exe = fleet.make_host(root, control={"faults": faults}, state=START)
        for entry in (AMA, CUSTOM, RUN_COMMAND):
            fleet.add_extension(root, *entry)
        hosts[step] = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                       "root": root, "exe": exe, "bin": fleet.service_shims(root),
                       "ext": fleet.extensions_dir(root)}
    return hosts


def write_play(tmp_path, hosts):
    inventory = {"all": {"hosts": hosts}}
    (tmp_path / "inventory.json").write_text(json.dumps(inventory))
    play = [{"hosts": "all", "gather_facts": False,
             "environment": {"PATH": "{{ bin }}:" + os.environ["PATH"]},
             "tasks": [{"name": "lock down", "register": "r",
                        "arcguard.azcmagent.azcmagent_config": {
                            "extensions_allowlist": ["azure_monitor_agent"], "remove_blocked": True,
                            "executable": "{{ exe }}", "extensions_path": "{{ ext }}"}},
                       {"name": "save", "delegate_to": "localhost", "changed_when": False,
                        "ansible.builtin.copy": {"content": "{{ r | to_json }}",
                                                 "dest": str(tmp_path) + "/{{ inventory_hostname }}.json"}}]}]
    (tmp_path / "play.json").write_text(json.dumps(play))
    return [os.path.join(VENV_BIN, "ansible-playbook"), "-f", "8", "-i", str(tmp_path / "inventory.json"),
            str(tmp_path / "play.json")]


def hung(root, flavour="linux"):
    path = os.path.join(fleet.config_dir(root, flavour), "standin-hangs.log")
    return os.path.exists(path) and os.path.getsize(path) > 0


def wait_for(predicate, seconds, what):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def tree(pid):
    """``pid`` and every process below it (Ansible's workers run in sessions of their own, so no process group
    holds them all), read from /proc."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, []))
    return out


def alive(pids):
    living = []
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as handle:
                if handle.read().rsplit(")", 1)[1].split()[0] != "Z":
                    living.append(pid)
        except OSError:
            pass
    return living


def interrupt(proc, how):
    """Interrupt the play: Ctrl-C at its terminal, or every process it started (remote side included) gets
    SIGHUP (the session is gone) or SIGKILL. Returns the processes to wait for."""
    pids = tree(proc.pid)
    if how == "ctrl-c":
        os.killpg(proc.pid, signal.SIGINT)
        return pids
    for pid in pids:
        try:
            os.kill(pid, signal.SIGHUP if how == "hangup" else signal.SIGKILL)
        except ProcessLookupError:
            pass
    return pids


def clear_faults(root, flavour="linux"):
    path = fleet.control_file(root, flavour)
    with open(path) as handle:
        control = json.load(handle)
    control.pop("faults", None)
    with open(path, "w") as handle:
        json.dump(control, handle)


def allowlist(root, flavour="linux"):
    return {n.lower() for n in fleet.read_state(root, flavour).get("extensions.allowlist", [])}


def results(tmp_path, hosts):
    out = {}
    for name in hosts:
        path = tmp_path / ("%s.json" % name)
        out[name] = json.loads(path.read_text()) if path.exists() else None
        if path.exists():
            path.unlink()
    return out


def rerun_converges(tmp_path, hosts, cmd, stopped):
    for name, host in hosts.items():
        clear_faults(host["root"])
    again = subprocess.run(cmd, capture_output=True, text=True, env=env(), cwd=str(tmp_path), timeout=300,
                           check=False)
    assert again.returncode == 0, again.stdout[-4000:]
    rerun = results(tmp_path, hosts)
    for name, host in hosts.items():
        result = rerun[name]
        assert not result.get("failed"), (name, result)
        assert fleet.service_status(host["root"], "extd") == "running", name
        assert fleet.installed_extensions(host["root"]) == ["%s.%s-%s" % AMA], name
        assert allowlist(host["root"]) == {"microsoft.azure.monitor/azuremonitorlinuxagent"}, name
        assert not os.path.exists(os.path.join(host["ext"], ".arcguard-extension-service-stopped")), name
        if name in stopped:
            assert result["changed"] and result.get("repaired"), (name, result)
            assert "left stopped by an interrupted run" in result["repaired"][0]
            assert any("started again" in w for w in result.get("warnings", [])), result
        fleet.clear_log(host["root"])
    third = subprocess.run(cmd, capture_output=True, text=True, env=env(), cwd=str(tmp_path), timeout=300,
                           check=False)
    assert third.returncode == 0 and "changed=1" not in third.stdout, third.stdout[-3000:]
    for name, host in hosts.items():
        assert [e["argv"][:2] for e in fleet.read_log(host["root"])] == [["config", "list"]], name


@pytest.mark.parametrize("how", ["ctrl-c", "hangup", "kill"])
def test_interrupted_at_every_step_of_a_removal_then_a_rerun_repairs(tmp_path, how):
    hosts = make_hosts(tmp_path)
    cmd = write_play(tmp_path, hosts)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env(), cwd=str(tmp_path),
                            start_new_session=True)
    pids = [proc.pid]
    try:
        wait_for(lambda: all(hung(h["root"]) for h in hosts.values()), 120, "every host to hang in its step")
    finally:
        pids = interrupt(proc, how)
    proc.communicate(timeout=120)
    # what still runs on the remote side finishes: wait for every process of the play to be gone
    wait_for(lambda: not alive(pids), HANG * 4 + 60, "the remote side to settle")
    time.sleep(0.5)
    stopped = set()
    for name, host in hosts.items():
        # never weaker than before: the allowlist only lost entries and is not empty
        now = allowlist(host["root"])
        assert now and now <= {n.lower() for n in START["extensions.allowlist"]}, (name, now)
        marker = os.path.exists(os.path.join(host["ext"], ".arcguard-extension-service-stopped"))
        status = fleet.service_status(host["root"], "extd")
        # a stopped service is never left without the marker that makes the next run start it
        assert status == "running" or marker, (name, status)
        if status != "running":
            stopped.add(name)
        if how != "kill":
            # hang-ups and interrupts are ignored by the remote sequence once the service is touched
            assert status == "running" and not marker, (name, status, marker)
    if how == "kill":
        # killed while stopping (the hook hangs before the service manager acts), removing or starting
        assert stopped == {"remove", "start"}, stopped
    rerun_converges(tmp_path, hosts, cmd, stopped)


class DetachedEndpoint(Endpoint):
    """The WinRM test endpoint in a process group of its own, so that the whole "host" can be killed at once."""

    def __init__(self, root, port=0):  # pylint: disable=super-init-not-called
        self.root = str(root)
        self.user = "arcadmin"
        self.password = "P@ss-w0rd"
        cmd = [sys.executable, ENDPOINT, "--listen", "127.0.0.1:%d" % port, "--user", self.user, "--password",
               self.password, "--azcmagent", "%s %s" % (sys.executable, STANDIN), "--root", self.root]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)
        line = self.proc.stdout.readline()
        if not line.startswith("listening on"):
            raise RuntimeError("endpoint did not start: %s %s" % (line, self.proc.stderr.read()))
        self.port = int(line.split()[2].rsplit(":", 1)[1])

    def kill(self):
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)


WIN_CUSTOM = ("Microsoft.Compute", "CustomScriptExtension", "1.10.12")
WIN_AMA = ("Microsoft.Azure.Monitor", "AzureMonitorWindowsAgent", "1.20.0")


def test_windows_host_lost_in_the_middle_of_a_removal_is_repaired_by_the_next_run(tmp_path):
    root = tmp_path / "win"
    endpoint = DetachedEndpoint(root)
    fleet.write_control(str(root), {"faults": {"hang_at": {"command": "extension remove", "seconds": 60,
                                                           "times": 1}}}, "windows")
    fleet.set_state(str(root), {"extensions.allowlist": ["Microsoft.Azure.Monitor/AzureMonitorWindowsAgent",
                                                         "Microsoft.Compute/CustomScriptExtension"]}, "windows")
    for entry in (WIN_AMA, WIN_CUSTOM):
        fleet.add_extension(str(root), *entry, flavour="windows")
    task = {"arcguard.azcmagent.azcmagent_config": {"extensions_allowlist": ["azure_monitor_agent"],
                                                    "remove_blocked": True}}

    def play(port):
        inventory = {"all": {"hosts": {"win": dict(endpoint.host_vars(), ansible_port=port)}}}
        (tmp_path / "inventory.json").write_text(json.dumps(inventory))
        body = [{"hosts": "all", "gather_facts": False, "tasks": [
            dict(task, register="r"),
            {"delegate_to": "localhost", "changed_when": False,
             "ansible.builtin.copy": {"content": "{{ r | to_json }}", "dest": str(tmp_path / "win.json")}}]}]
        (tmp_path / "play.json").write_text(json.dumps(body))
        return [os.path.join(VENV_BIN, "ansible-playbook"), "-i", str(tmp_path / "inventory.json"),
                str(tmp_path / "play.json")]

    cmd = play(endpoint.port)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env(), cwd=str(tmp_path),
                            start_new_session=True)
    try:
        wait_for(lambda: hung(str(root), "windows"), 120, "the removal to hang")
        endpoint.kill()  # the host is gone, with every process it ran
    finally:
        proc.communicate(timeout=180)
    assert fleet.service_status(str(root), "ExtensionService", "windows") == "stopped"
    marker = root / "Packages" / "Plugins" / ".arcguard-extension-service-stopped"
    assert marker.exists()

    clear_faults(str(root), "windows")
    endpoint = DetachedEndpoint(root)
    try:
        again = subprocess.run(play(endpoint.port), capture_output=True, text=True, env=env(), cwd=str(tmp_path),
                               timeout=300, check=False)
        assert again.returncode == 0, again.stdout[-3000:]
        result = json.loads((tmp_path / "win.json").read_text())
        assert result["changed"] and result.get("repaired"), result
        assert fleet.service_status(str(root), "ExtensionService", "windows") == "running"
        assert not marker.exists()
        assert fleet.installed_extensions(str(root), "windows") == ["%s.%s\\%s" % WIN_AMA]
        third = subprocess.run(play(endpoint.port), capture_output=True, text=True, env=env(), cwd=str(tmp_path),
                               timeout=300, check=False)
        assert third.returncode == 0 and "changed=1" not in third.stdout, third.stdout[-3000:]
    finally:
        endpoint.kill()
