"""The drift watch's event source as ansible-rulebook loads it, with the fake Azure and a queue double: shared by
the component tests of the source (tests/component/test_source.py, test_extension_events.py).

The source is loaded as ansible-rulebook loads it (runpy.run_path of the file below an ansible_collections
folder). Polls are short through the test-only minimum interval (ARCGUARD_DRIFT_TEST_MIN_INTERVAL).
"""

import asyncio
import json
import os
import runpy

import pytest

from tests.lib import fakeazure
from tests.lib.drift_env import SRC

SOURCE_PATH = os.path.join(SRC, "ansible_collections", "arcguard", "azcmagent", "extensions", "eda", "plugins",
                           "event_source", "arc_drift.py")
SOURCE = runpy.run_path(SOURCE_PATH)
SUB = "5f0c0c2e-1111-2222-3333-444444444444"
SECRET = "s3cret-Vx9!q"
AMA = "Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"
MDE = "Microsoft.Azure.AzureDefenderForServers/MDE.Linux"
SCRIPT = "Microsoft.Compute/CustomScriptExtension"
AMA_WIN = "Microsoft.Azure.Monitor/AzureMonitorWindowsAgent"
MDE_WIN = "Microsoft.Azure.AzureDefenderForServers/MDE.Windows"
DEFENDER = {"config.mode": "full", "extensions.allowlist": [AMA, MDE], "guestconfiguration.enabled": False}
DEFENDER_WIN = {"config.mode": "full", "extensions.allowlist": [AMA_WIN, MDE_WIN], "guestconfiguration.enabled": False}
INTERVAL = 0.3


def machine(name, config=None, os_name="linux", status="Connected", tags=None):
    return {"name": name, "subscription": SUB, "resource_group": "arc-prod", "os": os_name, "status": status,
            "tags": tags or {}, "config": dict(DEFENDER if config is None else config)}


def rid(name):
    return "/subscriptions/%s/resourceGroups/arc-prod/providers/Microsoft.HybridCompute/machines/%s" % (SUB, name)


def state(machines, **extra):
    doc = {"tenant": fakeazure.TENANT, "identities": {"app1": {"secret": SECRET, "subscriptions": [SUB]}},
           "subscriptions": {SUB: {}}, "machines": machines, "throttle": {"quota": 1000, "window": 5}}
    doc.update(extra)
    return doc


class QueueDouble:
    """What ansible-rulebook gives a source: an object with an async put(). Events must survive JSON."""

    def __init__(self):
        self.events = []

    async def put(self, event):
        self.events.append(json.loads(json.dumps(event)))


@pytest.fixture
def fake(monkeypatch, tmp_path):
    (tmp_path / "azure").mkdir()
    with fakeazure.FakeAzure(state=state([]), workdir=str(tmp_path / "azure")) as server:
        for key, value in server.env(secret=SECRET).items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("ARCGUARD_DRIFT_TEST_MIN_INTERVAL", "0")
        yield server


def args_for(fake, **args):
    base = {"auth_source": "env", "authority_host": fake.url, "arm_endpoint": fake.url, "subscriptions": [SUB],
            "profile": "defender", "interval": INTERVAL}
    base.update(args)
    return {k: v for k, v in base.items() if v is not None}


def polls(fake):
    """Polls so far: the machine queries (each poll also reads the extension resources, a query of its own)."""
    return len([r for r in fake.graph_requests() if "hybridcompute" in json.dumps(r.get("body", "")).lower()
                and "machines/extensions" not in json.dumps(r.get("body", "")).lower()])


def run(args, until, timeout=30, queue=None, during=None):
    """Run main() until ``until(queue)`` holds (or timeout); returns (queue, still_running)."""
    queue = queue or QueueDouble()

    async def go():
        task = asyncio.ensure_future(SOURCE["main"](queue, args))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        steps = list(during or [])
        while loop.time() < deadline:
            if task.done():
                task.result()
                return False
            if steps and steps[0][0](queue):
                steps.pop(0)[1]()
            elif not steps and until(queue):
                break
            await asyncio.sleep(0.02)
        running = not task.done()
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        return running

    running = asyncio.run(go())
    return queue, running


def drift_of(queue, name):
    return [e for e in queue.events if "arc_drift" in e and e["meta"]["hosts"] == name]


def set_config(fake, name, config):
    def change(doc):
        for m in doc["machines"]:
            if m["name"] == name:
                m["config"] = dict(config)
    fake.update_state(change)
