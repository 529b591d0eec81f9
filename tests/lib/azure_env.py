"""Fixtures for the Azure tests (the tier conftests import them): a fake Azure on loopback with a known fleet, and how to run Ansible against it."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
for path in (ROOT, os.path.join(ROOT, "build", "src-collections")):
    if path not in sys.path:
        sys.path.insert(0, path)

from tests.lib import fakeazure  # noqa: E402

VENV_BIN = os.path.join(ROOT, ".venv", "bin")
TENANT = "7a1c0de5-0000-4000-8000-00000000beef"
SUB_A = "11111111-aaaa-4aaa-8aaa-000000000001"
SUB_B = "22222222-bbbb-4bbb-8bbb-000000000002"
SUB_DENIED = "33333333-cccc-4ccc-8ccc-000000000003"
SECRET = "Sup3r~Secr3t.Value_9x"
CLIENT_ID = "0c1d2e3f-4444-4555-8666-777788889999"

AMA_LINUX = "Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"
AMA_WINDOWS = "Microsoft.Azure.Monitor/AzureMonitorWindowsAgent"
MDE_LINUX = "Microsoft.Azure.AzureDefenderForServers/MDE.Linux"
MDE_WINDOWS = "Microsoft.Azure.AzureDefenderForServers/MDE.Windows"


def fleet():
    """Machines of both OSes and every status, with known agent settings (azcmagent property names)."""
    return [
        {"name": "web01", "subscription": SUB_A, "resource_group": "RG-Web", "os": "linux", "status": "Connected",
         "tags": {"env": "prod", "tier": "web"},
         "config": {"extensions.allowlist": [AMA_LINUX, MDE_LINUX], "guestconfiguration.enabled": False,
                    "incomingconnections.ports": [22], "proxy.url": "http://svc:Pr0xyPass@proxy.corp:3128",
                    "proxy.bypass": ["AAD", "ARM"]}},
        {"name": "web02", "subscription": SUB_A, "resource_group": "RG-Web", "os": "linux", "status": "Connected",
         "tags": {"env": "prod", "tier": "web"},
         "config": {"extensions.allowlist": [AMA_LINUX, MDE_LINUX], "guestconfiguration.enabled": True}},
        {"name": "DC01", "subscription": SUB_B, "resource_group": "rg-ad", "os": "windows", "status": "Connected",
         "tags": {"env": "prod", "tier": "dc"}, "machine_fqdn": "dc01.ad.corp",
         "config": {"extensions.allowlist": [AMA_WINDOWS, MDE_WINDOWS], "guestconfiguration.enabled": False,
                    "extensions.blocklist": ["Microsoft.Compute/CustomScriptExtension"]}},
        {"name": "pay01", "subscription": SUB_B, "resource_group": "rg-pay", "os": "windows", "status": "Disconnected",
         "tags": {"env": "prod", "tier": "pci"}, "last_status_change": "2026-10-02T11:00:00Z",
         "config": {"config.mode": "monitor"}},
        {"name": "db01", "subscription": SUB_A, "resource_group": "rg-db", "os": "linux", "status": "Error",
         "tags": {"env": "test"}, "config": {"extensions.enabled": False}},
        {"name": "new01", "subscription": SUB_A, "resource_group": "rg-new", "os": "linux",
         "status": "AwaitingConnection", "tags": {}},
        {"name": "ghost01", "subscription": SUB_DENIED, "resource_group": "rg-x", "os": "linux", "status": "Connected"},
    ]


def base_state(machines=None, **extra):
    state = {
        "tenant": TENANT,
        "identities": {CLIENT_ID: {"secret": SECRET, "subscriptions": [SUB_A, SUB_B]}},
        "subscriptions": {SUB_A: {}, SUB_B: {}, SUB_DENIED: {}},
        "management_groups": {"mg-pay": [SUB_B]},
        "machines": fleet() if machines is None else machines,
        "throttle": {"quota": 1000, "window": 1},
        "variants": {},
    }
    state.update(extra)
    return state


@pytest.fixture
def fake(tmp_path):
    work = tmp_path / "fake"
    work.mkdir()
    with fakeazure.FakeAzure(state=base_state(), workdir=str(work)) as running:
        yield running


def ansible_env(fake, **extra):
    env = dict(os.environ)
    for key in list(env):
        if key.startswith(("AZURE_", "ANSIBLE_")) or key in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"):
            del env[key]
    env.update(fake.env(client_id=CLIENT_ID, secret=SECRET, tenant=TENANT))
    env.update({"ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, "build", "collections"), "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_RETRY_FILES_ENABLED": "0", "ANSIBLE_HOST_KEY_CHECKING": "0",
                "ANSIBLE_DEPRECATION_WARNINGS": "0", "PATH": VENV_BIN + os.pathsep + os.environ.get("PATH", "")})
    env.update(extra)
    return env


def write_inventory(path, **options):
    doc = {"plugin": "arcguard.azcmagent.arc"}
    doc.update(options)
    path.write_text(json.dumps(doc))   # JSON is YAML
    return path


def inventory(fake, path, *args, env=None):
    """Run ansible-inventory; returns (proc, parsed --list output or None)."""
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible-inventory"), "-i", str(path)] + list(args),
                          capture_output=True, text=True, env=env or ansible_env(fake), timeout=300, check=False)
    parsed = None
    if "--list" in args and proc.returncode == 0 and not any(a.startswith("-v") for a in args):
        parsed = unwrap(json.loads(proc.stdout))
    return proc, parsed


def unwrap(value):
    """ansible-inventory's JSON marks data that is not trusted as a template ({"__ansible_unsafe": text})."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value
