"""Hostile tests' harness: one target host per connection (local, ssh to a loopback sshd, winrm to the WinRM
test endpoint), each with its own stand-in agent; playbook runs that record every output Ansible produces
(stdout, stderr, the ANSIBLE_LOG_PATH log, the junit callback's files, the audit reports); and the check that a
secret appears in none of them, in clear or in a common encoding.
"""

import base64
import html
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.parse

import pytest

from tests.lib import playbook
from tests.lib.sshd import unavailable
from tests.lib import fleet

CONNECTIONS = ("local", "ssh", "winrm")


class Target:
    """One host reachable over ``connection``; ``root`` is its stand-in's file system."""

    def __init__(self, connection, root):
        self.connection = connection
        self.root = str(root)
        self.flavour = "windows" if connection == "winrm" else "linux"
        self.server = None
        if connection == "winrm":
            from tests.lib.endpoint import Endpoint
            self.server = Endpoint(self.root)
            self.executable = None
            self.host_vars = self.server.host_vars()
        else:
            self.executable = fleet.make_host(self.root)
            self.host_vars = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
            if connection == "ssh":
                from tests.lib.sshd import Sshd
                self.server = Sshd()
                self.host_vars = self.server.host_vars()

    def args(self, **options):
        """Module options for this host (the executable of its stand-in where it has one)."""
        if self.executable:
            options.setdefault("executable", self.executable)
        return options

    def set_state(self, state):
        fleet.set_state(self.root, state, self.flavour)

    def state(self):
        return fleet.read_state(self.root, self.flavour)

    def write_control(self, control):
        fleet.write_control(self.root, control, self.flavour)

    def stop(self):
        if self.server is not None:
            self.server.stop()


class Outcome:
    """One ansible-playbook run: its process and everything it wrote."""

    def __init__(self, proc, files, results):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.files = files  # {path: text}
        self.results = results  # {register name: result}

    def texts(self):
        yield "stdout", self.stdout
        yield "stderr", self.stderr
        for path, text in self.files.items():
            yield path, text


def run(workdir, target, tasks, verbosity=0, check=False, diff=True, play_vars=None, env=None, name="run"):
    """Run ``tasks`` on ``target`` with every output sink switched on; each task is registered as ``rN``."""
    base = os.path.join(str(workdir), name)
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(base)
    sinks = {d: os.path.join(base, d) for d in ("junit", "reports", "results")}
    for path in sinks.values():
        os.makedirs(path)
    inventory = {"all": {"hosts": {"target": target.host_vars}}}
    with open(os.path.join(base, "inventory.json"), "w") as handle:
        json.dump(inventory, handle)
    play_tasks = []
    for index, task in enumerate(tasks):
        task = dict(task)
        task.setdefault("register", "r%d" % index)
        task.setdefault("ignore_errors", True)
        play_tasks.append(task)
    play_tasks.append({"name": "registered results", "delegate_to": "localhost", "check_mode": False,
                       "changed_when": False, "ansible.builtin.copy": {
                           "dest": sinks["results"] + "/results.json",
                           "content": "{{ {%s} | to_json }}" % ", ".join(
                               "'%s': %s | default(None)" % (t.get("register", "r%d" % i), t.get("register", "r%d" % i))
                               for i, t in enumerate(tasks))}})
    play_tasks.append({"name": "debug every result", "ansible.builtin.debug": {"var": "r0"}})
    play_tasks.append({"name": "audit reports", "run_once": True, "delegate_to": "localhost", "ignore_errors": True,
                       "arcguard.azcmagent.azcmagent_report": {"dest": sinks["reports"], "hosts": ["target"],
                                                               "info_var": "info", "check_var": "r0"}})
    play = [{"hosts": "all", "gather_facts": False, "vars": play_vars or {}, "tasks": play_tasks}]
    with open(os.path.join(base, "play.json"), "w") as handle:
        json.dump(play, handle)
    process_env = playbook.env()
    process_env.update({
        "ANSIBLE_LOG_PATH": os.path.join(base, "ansible.log"),
        "ANSIBLE_CALLBACKS_ENABLED": "ansible.builtin.junit",
        "JUNIT_OUTPUT_DIR": sinks["junit"],
        "ANSIBLE_HOST_KEY_CHECKING": "False",
    })
    process_env.update(env or {})
    cmd = playbook.command(os.path.join(base, "inventory.json"), os.path.join(base, "play.json"), check=check,
                           diff=diff, verbosity=verbosity)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=process_env, cwd=base, timeout=300, check=False)
    files = {}
    for folder, _dirs, names in os.walk(base):
        for filename in names:
            if filename in ("play.json", "inventory.json"):
                continue  # our own input
            path = os.path.join(folder, filename)
            with open(path, encoding="utf-8", errors="surrogateescape") as handle:
                files[os.path.relpath(path, base)] = handle.read()
    results = {}
    if "results/results.json" in files:
        results = json.loads(files["results/results.json"])
    return Outcome(proc, files, results)


_BASE64 = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}")


def _escapes(text):
    return {text, json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1], repr(text)[1:-1],
            repr(text.encode("utf-8"))[2:-1], html.escape(text), html.escape(text, quote=False),
            text.encode("unicode_escape").decode("ascii")}


def encodings(secret):
    """The forms in which a secret could show up in output: as is, URL-encoded, JSON-, repr-, XML-escaped, and each
    of those escaped once more (Ansible prints remote output as a repr of bytes, inside JSON, ...)."""
    forms = set()
    for base in (secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote(secret),
                 urllib.parse.quote_plus(secret)):
        for once in _escapes(base):
            forms |= _escapes(once)
    return {f for f in forms if len(f) >= 6}


def decoded_blobs(text):
    """What base64 runs in ``text`` decode to (as UTF-8 and as UTF-16LE, as -EncodedCommand carries scripts)."""
    for match in _BASE64.finditer(text):
        blob = match.group(0)
        for start in range(4):
            chunk = blob[start:]
            chunk = chunk[:len(chunk) - len(chunk) % 4]
            try:
                raw = base64.b64decode(chunk, validate=True)
            except ValueError:
                continue
            for codec in ("utf-8", "utf-16-le"):
                yield raw.decode(codec, "ignore")


def leaks(secrets, outcome):
    """[(where, form)] for every secret form found in any output of ``outcome``."""
    found = []
    for secret in secrets:
        forms = encodings(secret)
        for where, text in outcome.texts():
            for form in forms:
                if form in text:
                    found.append((where, form))
            if len(secret) >= 6:
                for decoded in decoded_blobs(text):
                    if secret in decoded:
                        found.append((where + " (base64)", secret))
                        break
    return found


@pytest.fixture(scope="module", params=CONNECTIONS)
def target(request, tmp_path_factory):
    """One stand-in host per connection (local, ssh, winrm) for the tests of a module; ssh must be available."""
    if request.param == "ssh" and unavailable():
        pytest.fail(unavailable())
    host = Target(request.param, tmp_path_factory.mktemp("host-" + request.param))
    yield host
    host.stop()
