"""Jobs run the way Automation Platform runs them, inside the execution environment image.

- ``navigator``: ``ansible-navigator run`` in stdout mode with the local image (pull policy never).
- ``stream``: ``ansible-runner transmit | <worker> | ansible-runner process``, the streaming Receptor
  carries between a controller and an execution node. The worker is either ``ansible-runner worker``
  inside the image (``worker="ee"``) or on this machine with process isolation, starting the image for
  the job as an execution node does (``worker="isolated"``).

The hosts are stand-ins (tests/lib/fleet.py) reached over OpenSSH on loopback (tests/lib/sshfleet.py); the
containers use the host's network, so 127.0.0.N is this machine's loopback inside them too.
"""

import glob
import json
import os
import subprocess
import uuid

from tests.lib import fleet
from tests.lib.sshfleet import SshFleet

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMAGE = os.environ.get("ARCGUARD_EE_IMAGE", "localhost/arcguard-ee:latest")
TOOLS = os.path.join(ROOT, "build", "venvs", "navigator", "bin")
LOCKDOWN_TASK = "Apply the azcmagent profile"
AMA = "Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"
MDE = "Microsoft.Azure.AzureDefenderForServers/MDE.Linux"
# the defender profile as the agent stores it on Linux
DEFENDER = {"extensions.allowlist": [AMA, MDE], "guestconfiguration.enabled": False,
            "incomingconnections.enabled": False}
DRIFTS = [{"extensions.allowlist": ["Microsoft.Azure.Extensions/CustomScript"]},
          {"guestconfiguration.enabled": True, "extensions.allowlist": [AMA]},
          {"incomingconnections.enabled": True, "extensions.blocklist": ["Contoso/Legacy"],
           "extensions.allowlist": [AMA, MDE]}]


def tool(name):
    return os.path.join(TOOLS, name)


def env():
    # a controller's environment: none of this project's Ansible settings leak into the job
    e = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    e.setdefault("CONTAINERS_CONF", os.path.join(ROOT, "tests", "containers.conf"))
    e["ANSIBLE_NOCOLOR"] = "1"
    e["PATH"] = TOOLS + os.pathsep + e.get("PATH", "")
    return e


class Fleet:
    """Stand-in hosts below ``base``, each reached over SSH at its own 127.0.0.N."""

    def __init__(self, base, names, first=100):
        self.base = str(base)
        self.names = list(names)
        self.roots = {n: os.path.join(self.base, n) for n in self.names}
        self.exes = {n: fleet.make_host(self.roots[n], state=dict(DEFENDER)) for n in self.names}
        self.ssh = SshFleet(self.names, first=first)

    def drift(self, names=None):
        for i, name in enumerate(names or self.names):
            fleet.set_state(self.roots[name], dict(DEFENDER, **DRIFTS[i % len(DRIFTS)]))

    def converge(self, names=None):
        for name in names or self.names:
            fleet.set_state(self.roots[name], dict(DEFENDER))

    def clear_logs(self):
        for root in self.roots.values():
            fleet.clear_log(root)

    def state(self, name):
        return fleet.read_state(self.roots[name])

    def calls(self, name):
        return [e["argv"] for e in fleet.read_log(self.roots[name])]

    def writes(self, name):
        return [a for a in self.calls(name) if a[:2] in (["config", "set"], ["config", "clear"])]

    def inventory(self, path, key=True, extra_vars=None):
        hosts = {}
        for name in self.names:
            host = self.ssh.host_vars(name)
            if not key:  # the machine credential comes with the job (ssh-agent), as on the platform
                del host["ansible_ssh_private_key_file"]
            host["lockdown_executable"] = self.exes[name]
            hosts[name] = host
        group_vars = {"lockdown_profile": "defender", "ansible_pipelining": True}
        group_vars.update(extra_vars or {})
        with open(path, "w") as handle:
            json.dump({"all": {"vars": group_vars, "hosts": hosts}}, handle)
        return path

    def stop(self):
        self.ssh.stop()


def navigator(workdir, fleet_, playbook="arcguard.azcmagent.lockdown", args=()):
    """Run ``playbook`` with ansible-navigator in the image. Returns (CompletedProcess, artifact dict)."""
    workdir = str(workdir)
    inventory = fleet_.inventory(os.path.join(workdir, "inventory.json"))
    artifact = os.path.join(workdir, "artifact.json")
    if os.path.exists(artifact):
        os.unlink(artifact)
    cmd = [tool("ansible-navigator"), "run", playbook, "-i", inventory, "--mode", "stdout",
           "--execution-environment", "true", "--execution-environment-image", IMAGE, "--pull-policy", "never",
           "--container-engine", "podman", "--container-options=--net=host",
           # the client key is read where the inventory says it is
           "--execution-environment-volume-mounts", "%s:%s:ro" % (fleet_.ssh.dir, fleet_.ssh.dir),
           "--set-environment-variable", "ANSIBLE_NOCOLOR=1",
           "--playbook-artifact-enable", "true", "--playbook-artifact-save-as", artifact,
           "--log-file", os.path.join(workdir, "navigator.log"), *args]
    proc = subprocess.run(cmd, cwd=workdir, env=env(), capture_output=True, text=True, timeout=600, check=False)
    doc = None
    if os.path.exists(artifact):
        with open(artifact) as handle:
            doc = json.load(handle)
    return proc, doc


def artifact_results(doc, task=LOCKDOWN_TASK):
    """The navigator artifact's results of ``task``: [(host, changed, result)]."""
    out = []
    for play in doc["plays"]:
        for result in play["tasks"]:
            if result["task"] == task:
                out.append((result["host"], result["res"].get("changed"), result["__result"]))
    return out


PROJECT_PLAYBOOK = """---
# a project's playbook, as a job template selects it: the collection's fleet playbook
- name: Lock down
  ansible.builtin.import_playbook: arcguard.azcmagent.lockdown
"""


def private_data_dir(path, fleet_, extra_vars=None, settings=None, cmdline=None):
    """An ansible-runner private data directory for the lockdown job, as the controller prepares it."""
    path = str(path)
    for sub in ("project", "inventory", "env"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    with open(os.path.join(path, "project", "lockdown.yml"), "w") as handle:
        handle.write(PROJECT_PLAYBOOK)
    fleet_.inventory(os.path.join(path, "inventory", "hosts.json"), key=False)
    # the machine credential: runner loads it into an ssh-agent for the job
    with open(fleet_.ssh.key) as handle:
        key = handle.read()
    with open(os.path.join(path, "env", "ssh_key"), "w") as handle:
        handle.write(key)
    with open(os.path.join(path, "env", "extravars"), "w") as handle:
        json.dump(extra_vars or {}, handle)
    with open(os.path.join(path, "env", "settings"), "w") as handle:
        json.dump(settings or {}, handle)
    if cmdline:
        with open(os.path.join(path, "env", "cmdline"), "w") as handle:
            handle.write(cmdline)
    return path


class Streamed:
    def __init__(self, out_dir, ident, stream, process_rc, process_stdout, stderr):
        self.dir = out_dir
        self.ident = ident
        self.stream = stream
        self.process_rc = process_rc
        self.process_stdout = process_stdout
        self.stderr = stderr
        self.artifacts = os.path.join(out_dir, "artifacts", ident)

    def read(self, name):
        with open(os.path.join(self.artifacts, name)) as handle:
            return handle.read()

    def events(self):
        out = []
        for path in glob.glob(os.path.join(self.artifacts, "job_events", "*.json")):
            with open(path) as handle:
                out.append(json.load(handle))
        return sorted(out, key=lambda e: e["counter"])

    def host_events(self, task=LOCKDOWN_TASK):
        """{event name: [(host, changed)]} for ``task``'s runner_on_* events."""
        out = {}
        for event in self.events():
            data = event.get("event_data") or {}
            if event["event"].startswith("runner_on_") and data.get("task") == task:
                out.setdefault(event["event"], []).append((data["host"], (data.get("res") or {}).get("changed")))
        return out


def stream(data_dir, out_dir, worker="ee", ident=None, verbosity=0, timeout=300):
    """transmit | worker | process; the worker in the image (``ee``) or isolated (``isolated``)."""
    data_dir, out_dir = str(data_dir), str(out_dir)
    # unique per job: an isolated job's container is named after it
    ident = ident or "job-%s" % uuid.uuid4().hex[:12]
    os.makedirs(out_dir, exist_ok=True)
    transmit = [tool("ansible-runner"), "transmit", data_dir, "-p", "lockdown.yml", "--ident", ident]
    if verbosity:
        transmit.append("-" + "v" * verbosity)
    if worker == "ee":
        # an execution node's worker, here in the image itself; it unpacks the job into a private directory
        work = ["podman", "run", "--rm", "-i", "--net=host", IMAGE, "ansible-runner", "worker"]
    else:
        work = [tool("ansible-runner"), "worker", "--private-data-dir", os.path.join(out_dir, "worker")]
    process = [tool("ansible-runner"), "process", out_dir, "--ident", ident]
    e = env()
    sent = subprocess.run(transmit, env=e, capture_output=True, timeout=timeout, check=True).stdout
    worked = subprocess.run(work, input=sent, env=e, capture_output=True, timeout=timeout, check=False)
    processed = subprocess.run(process, input=worked.stdout, env=e, capture_output=True, timeout=timeout,
                               check=False)
    return Streamed(out_dir, ident, worked.stdout, processed.returncode, processed.stdout.decode(errors="replace"),
                    worked.stderr.decode(errors="replace") + processed.stderr.decode(errors="replace"))
