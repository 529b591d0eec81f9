"""The Azure-side audit at scale: ``audit_source: azure`` against the SDK paging floor, on the project's fake Azure.

    python bench/audit_scale.py [--machines 1000,10000] [--rounds 3] [--inventory static|arc]

For each size, a fake Azure (tests/lib/fakeazure.py) holds that many machines (both OSes, every status, a
third drifted from the defender profile) and, round after round, interleaved so that machine noise hits both
alike:

  floor   the Azure SDK (azure-mgmt-resourcegraph, through the collection's client) paging every row of the
          audit's own query into a list, in a fresh Python process: the least any tool can do
  audit   ansible-playbook arcguard.azcmagent.audit -e audit_source=azure -e lockdown_profile=defender over an
          inventory of every machine (``static``: a YAML file with the machines' names; ``arc``: the
          arcguard.azcmagent.arc inventory, which lists Azure once more), writing JSON, JUnit and HTML

Checks every round that every machine was judged (report.json has every host, with Azure's view).
Prints medians and the audit/floor ratio; writes bench/results/audit-scale.json.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
VENV_BIN = os.path.join(ROOT, ".venv", "bin")

from tests.lib import fakeazure  # noqa: E402

TENANT, CLIENT_ID, SECRET = "tenant-bench", "app-bench", "bench-s3cret"
SUB = "00000000-0000-0000-0000-0000000000b1"
DEFENDER_LINUX = {"extensions.allowlist": ["Microsoft.Azure.Monitor/AzureMonitorLinuxAgent",
                                           "Microsoft.Azure.AzureDefenderForServers/MDE.Linux"],
                  "guestconfiguration.enabled": False, "incomingconnections.enabled": False}

FLOOR = r"""
import sys, time
sys.path.insert(0, %(collections)r)
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _azure as azure
conf = azure.settings(azure.with_environment({"subscriptions": [%(sub)r]}))
client = azure.Client(conf)
rows = list(client.rows(azure.QUERY, {"subscriptions": [%(sub)r]}, "bench"))
print(len(rows))
"""


def machines(count):
    out = fakeazure.make_machines(count, subscriptions=(SUB,), config=DEFENDER_LINUX)
    for index, machine in enumerate(out):
        if index % 3 == 0:
            machine["config"] = dict(machine["config"], **{"guestconfiguration.enabled": True})
    return out


def environment(fake):
    env = dict(os.environ)
    for key in list(env):
        if key.startswith(("AZURE_", "ANSIBLE_")):
            del env[key]
    env.update(fake.env(client_id=CLIENT_ID, secret=SECRET, tenant=TENANT))
    env.update({"ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, "build", "collections"), "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_DEPRECATION_WARNINGS": "0", "ANSIBLE_RETRY_FILES_ENABLED": "0",
                "PATH": VENV_BIN + os.pathsep + os.environ.get("PATH", "")})
    return env


def timed(cmd, env, cwd):
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    took = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit("%s failed:\n%s\n%s" % (cmd[:3], proc.stdout[-3000:], proc.stderr[-3000:]))
    return took, proc


def one_size(count, rounds, kind, work):
    state = {"tenant": TENANT, "identities": {CLIENT_ID: {"secret": SECRET, "subscriptions": [SUB]}},
             "subscriptions": {SUB: {}}, "management_groups": {}, "machines": machines(count),
             "throttle": {"quota": 100000, "window": 1}, "variants": {}}
    fake_dir = os.path.join(work, "fake-%d" % count)
    os.makedirs(fake_dir, exist_ok=True)
    with fakeazure.FakeAzure(state=state, workdir=fake_dir) as fake:
        env = environment(fake)
        if kind == "arc":
            inventory = os.path.join(work, "fleet-%d.arc.yml" % count)
            with open(inventory, "w", encoding="utf-8") as handle:
                json.dump({"plugin": "arcguard.azcmagent.arc", "subscriptions": [SUB]}, handle)
        else:
            inventory = os.path.join(work, "fleet-%d.json" % count)
            with open(inventory, "w", encoding="utf-8") as handle:
                json.dump({"all": {"hosts": {m["name"]: None for m in state["machines"]}}}, handle)
        report = os.path.join(work, "report-%d" % count)
        audit = [os.path.join(VENV_BIN, "ansible-playbook"), "-i", inventory, "arcguard.azcmagent.audit",
                 "-e", "audit_source=azure", "-e", "lockdown_profile=defender", "-e", "audit_report_dir=" + report,
                 "-e", json.dumps({"audit_azure_subscriptions": [SUB]})]
        floor = [sys.executable, "-c", FLOOR % {"collections": os.path.join(ROOT, "build", "collections"), "sub": SUB}]
        times = {"floor": [], "audit": []}
        for _round in range(rounds):
            took, proc = timed(floor, env, work)
            assert int(proc.stdout.strip()) == count, proc.stdout
            times["floor"].append(took)
            took, proc = timed(audit, env, work)
            with open(os.path.join(report, "report.json"), encoding="utf-8") as handle:
                data = json.load(handle)
            judged = [h for h in data["hosts"].values() if h["azure"] is not None]
            assert len(data["hosts"]) == count and len(judged) == count, (len(data["hosts"]), len(judged))
            times["audit"].append(took)
        sizes = {f: os.path.getsize(os.path.join(report, f)) for f in ("report.json", "report.xml", "report.html")}
    medians = {k: statistics.median(v) for k, v in times.items()}
    return {"machines": count, "inventory": kind, "rounds": rounds, "median_s": medians, "samples_s": times,
            "ratio": medians["audit"] / medians["floor"], "report_bytes": sizes,
            "summary": data["summary"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", default="1000,10000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--inventory", choices=["static", "arc"], default="static")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="audit-scale-") as work:
        for count in [int(n) for n in args.machines.split(",")]:
            result = one_size(count, args.rounds, args.inventory, work)
            results.append(result)
            print("%6d machines (%s inventory): floor %.2f s, audit %.2f s, ratio %.2fx; html %.1f MB"
                  % (count, args.inventory, result["median_s"]["floor"], result["median_s"]["audit"], result["ratio"],
                     result["report_bytes"]["report.html"] / 1e6), flush=True)
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "results", "audit-scale.json"), "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
