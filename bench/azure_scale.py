"""Azure-side scale benchmark: the collection against the floor, on the project's fake Azure, in one run.

    python bench/azure_scale.py [--sizes 1000,10000] [--repeat 3]
                                [--kinds floor,inventory,inventory_cached,list_hosts,drift_poll,audit,audit_arc]
                                [--out bench/results]

The fake Azure (tests/lib/fakeazure.py, HTTPS on loopback, Entra ID sign-in, Resource Graph with 1,000-row
pages and its quota headers) holds N machines. Measured, interleaved round after round so that machine noise
hits every kind alike, each in a fresh process as users run them:

  floor       the Azure SDK (azure-identity + azure-mgmt-resourcegraph) paging every row of the collection's
              query into a list: the least any tool can do
  inventory   ansible-inventory --list over a plain ``*arc.yml`` file (output to a file)
  inventory_constructed   the same with a keyed group and a composed variable (constructed features)
  inventory_cached   the same with the inventory cache on (jsonfile, warmed before the first round): no
              Azure call at all, so what is left is ansible-core's own per-host work of ``--list``
  list_hosts  ansible-playbook --list-hosts over the same inventory
  audit       ansible-playbook arcguard.azcmagent.audit -e audit_source=azure over a static inventory of the
              machines' names: listing, judging every machine, writing JSON, JUnit and HTML (every machine checked)
  audit_arc   the same over the ``*arc.yml`` inventory (which lists Azure once more)
  drift_poll  one poll of the drift source: the query, the naming, every machine judged, the events; peak
              memory (max RSS) and the number of Resource Graph queries are reported with the time

Plus ``bytes``: the JSON size per machine of a whole Resource Graph row against the projected columns.

Wall times are medians over the rounds; a ratio is the median over the rounds of the kind's time over the
floor's time in the same round (both listed per round), and ``cpu_s`` the median CPU time (user + system) of the
command itself (not the fake Azure's). Each measured thing is
one function ``measure_<kind>(env, size)`` returning ``{"seconds": ..., ...}``; add a kind by adding a function
and its name to KINDS. Writes ``<out>/azure-scale.json`` and prints a Markdown table.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.lib import fakeazure  # noqa: E402

VENV_BIN = os.path.join(ROOT, ".venv", "bin")
PYTHON = os.path.join(VENV_BIN, "python")
TENANT = fakeazure.TENANT
SUBS = ("5f0c0c2e-1111-2222-3333-444444444444", "7d1e2a3b-5555-6666-7777-888888888888")
CLIENT_ID = "0c1d2e3f-4444-4555-8666-777788889999"
SECRET = "bench-Secret-9z"
SRC = os.path.join(ROOT, "build", "src-collections")

FLOOR = r"""
import json, os, sys, time
from azure.identity import ClientSecretCredential
from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions
query, subs = sys.argv[1], json.loads(sys.argv[2])
cred = ClientSecretCredential(os.environ["AZURE_TENANT_ID"], os.environ["AZURE_CLIENT_ID"],
                              os.environ["AZURE_CLIENT_SECRET"], authority=os.environ["AZURE_AUTHORITY_HOST"],
                              disable_instance_discovery=True)
url = os.environ["AZURE_ARM_ENDPOINT"]
client = ResourceGraphClient(cred, base_url=url, credential_scopes=[url + "/.default"])
rows, token = [], None
while True:
    options = QueryRequestOptions(top=1000, skip_token=token, result_format="objectArray")
    result = client.resources(QueryRequest(query=query, subscriptions=subs, options=options))
    rows.extend(result.data)
    token = result.skip_token
    if not token:
        break
print(json.dumps({"rows": len(rows), "bytes": len(json.dumps(rows))}))
"""

DRIFT_POLL = r"""
import json, os, resource, sys, time
sys.path.insert(0, sys.argv[1])
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _arcmachine, _azure, _drift, _naming
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._profiles import PROFILES
settings = _drift.parse_args({"profile": "defender", "subscriptions": json.loads(sys.argv[2]),
                              "auth_source": "env", "arm_endpoint": os.environ["AZURE_ARM_ENDPOINT"],
                              "authority_host": os.environ["AZURE_AUTHORITY_HOST"]}, PROFILES)
lines = []
machines, warnings = _azure.list_machines(dict(settings["azure"]), log=lines.append)
names = _naming.host_names(machines, rule=settings["host_naming"])
evaluated, skipped = _drift.evaluate(settings, machines, _arcmachine.differences, names)
events = _drift.DriftTracker(settings["repeat_after"]).observe(0.0, evaluated)
queries = [l for l in lines if " page " in l]
print(json.dumps({"machines": len(machines), "events": len(events), "queries": len(queries),
                  "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}))
"""


def fleet_state(size):
    machines = fakeazure.make_machines(size, subscriptions=SUBS)
    for index, machine in enumerate(machines):
        # a third drifted from defender, the rest compliant
        machine["config"] = {"extensions.allowlist": ["Microsoft.Azure.Monitor/AzureMonitorLinuxAgent",
                                                      "Microsoft.Azure.AzureDefenderForServers/MDE.Linux"]
                             if machine["os"] == "linux" else
                             ["Microsoft.Azure.Monitor/AzureMonitorWindowsAgent",
                              "Microsoft.Azure.AzureDefenderForServers/MDE.Windows"],
                             "guestconfiguration.enabled": index % 3 == 0}
    return {"tenant": TENANT, "identities": {CLIENT_ID: {"secret": SECRET, "subscriptions": list(SUBS)}},
            "subscriptions": {s: {} for s in SUBS}, "throttle": {"quota": 100000, "window": 5}, "machines": machines}


LAST_CPU = [0.0]   # CPU seconds (user + system) of the last command run, for the table


def run(argv, env, cwd=None):
    """(seconds, completed process) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False, timeout=3600)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    LAST_CPU[0] = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    if proc.returncode != 0:
        raise RuntimeError("%s failed (%d): %s %s" % (argv[:3], proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:]))
    return seconds, proc


# ------------------------------------------------------------------------------------------- measured things

def measure_floor(env, size, workdir):
    from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _azure as azure
    seconds, proc = run([PYTHON, "-c", FLOOR, azure.QUERY, json.dumps(list(SUBS))], env)
    out = json.loads(proc.stdout)
    assert out["rows"] == size, out
    return {"seconds": seconds}


def measure_inventory(env, size, workdir):
    path = inventory_file(workdir)
    seconds, proc = run([os.path.join(VENV_BIN, "ansible-inventory"), "-i", path, "--list",
                         "--output", os.path.join(workdir, "inventory.json")], env)
    with open(os.path.join(workdir, "inventory.json"), encoding="utf-8") as handle:
        hosts = len(json.load(handle)["_meta"]["hostvars"])
    assert hosts == size, hosts
    return {"seconds": seconds}


def measure_inventory_cached(env, size, workdir):
    path = inventory_file(workdir, cached=True)
    output = os.path.join(workdir, "cached.json")
    seconds, _proc = run([os.path.join(VENV_BIN, "ansible-inventory"), "-i", path, "--list", "--output", output], env)
    with open(output, encoding="utf-8") as handle:
        hosts = len(json.load(handle)["_meta"]["hostvars"])
    assert hosts == size, hosts
    return {"seconds": seconds}


def measure_inventory_constructed(env, size, workdir):
    path = inventory_file(workdir, constructed=True)
    seconds, _proc = run([os.path.join(VENV_BIN, "ansible-inventory"), "-i", path, "--list",
                          "--output", os.path.join(workdir, "constructed.json")], env)
    return {"seconds": seconds}


def measure_list_hosts(env, size, workdir):
    path = inventory_file(workdir)
    playbook = os.path.join(workdir, "noop.yml")
    with open(playbook, "w", encoding="utf-8") as handle:
        handle.write("- hosts: all\n  gather_facts: false\n  tasks: [{ansible.builtin.ping: {}}]\n")
    seconds, proc = run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", path, playbook, "--list-hosts"], env)
    assert "hosts (%d)" % size in proc.stdout, proc.stdout[:300]
    return {"seconds": seconds}


def measure_drift_poll(env, size, workdir):
    seconds, proc = run([PYTHON, "-c", DRIFT_POLL, SRC, json.dumps(list(SUBS))], env)
    out = json.loads(proc.stdout)
    assert out["machines"] == size, out
    return {"seconds": seconds, "queries": out["queries"], "max_rss_mb": round(out["max_rss_mb"], 1),
            "events": out["events"]}


def measure_bytes(env, size, workdir):
    """JSON bytes per machine: whole rows against the projected columns (the same SDK paging)."""
    from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _azure as azure
    out = {}
    for name, query in (("whole", azure.FULL_QUERY), ("projected", azure.QUERY)):
        _s, proc = run([PYTHON, "-c", FLOOR, query, json.dumps(list(SUBS))], env)
        out[name] = round(json.loads(proc.stdout)["bytes"] / size)
    return out


def _audit(env, size, workdir, inventory):
    """The whole ``audit_source: azure`` run over ``inventory``: listing, judging every machine, writing JSON, JUnit
    and HTML; checks that every machine was judged."""
    report = os.path.join(workdir, "audit-report")
    seconds, _proc = run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", inventory, "arcguard.azcmagent.audit",
                          "-e", "audit_source=azure", "-e", "lockdown_profile=defender", "-e", "audit_report_dir=" + report,
                          "-e", json.dumps({"audit_azure_subscriptions": list(SUBS)})], env)
    with open(os.path.join(report, "report.json"), encoding="utf-8") as handle:
        data = json.load(handle)
    judged = sum(1 for entry in data["hosts"].values() if entry.get("azure") is not None)
    assert len(data["hosts"]) == size and judged == size, (len(data["hosts"]), judged)
    sizes = {f: os.path.getsize(os.path.join(report, f)) for f in ("report.json", "report.xml", "report.html")}
    return {"seconds": seconds, "html_mb": round(sizes["report.html"] / 1e6, 1), "drifted": data["summary"]["drifted"]}


def measure_audit(env, size, workdir):
    """The audit over a static inventory of the machines' names (one listing: the audit's own)."""
    path = os.path.join(workdir, "static-%d.json" % size)
    if not os.path.exists(path):
        state = fleet_state(size)
        with open(path, "w", encoding="utf-8") as handle:
            json.dump({"all": {"hosts": {m["name"]: None for m in state["machines"]}}}, handle)
    return _audit(env, size, workdir, path)


def measure_audit_arc(env, size, workdir):
    """The audit over the arc inventory (two listings: the inventory's and the audit's)."""
    return _audit(env, size, workdir, inventory_file(workdir))


KINDS = {"floor": measure_floor, "inventory": measure_inventory, "inventory_constructed": measure_inventory_constructed,
         "inventory_cached": measure_inventory_cached,
         "list_hosts": measure_list_hosts, "drift_poll": measure_drift_poll, "audit": measure_audit,
         "audit_arc": measure_audit_arc}


def inventory_file(workdir, constructed=False, cached=False):
    """A plain ``*arc.yml`` file, one with a keyed group and a composed variable (``constructed``), or one with
    the inventory cache on (``cached``: jsonfile in the work directory, an hour)."""
    name = "constructed.arc.yml" if constructed else "cached.arc.yml" if cached else "fleet.arc.yml"
    path = os.path.join(workdir, name)
    if not os.path.exists(path):
        doc = {"plugin": "arcguard.azcmagent.arc", "subscriptions": list(SUBS), "auth_source": "env"}
        if cached:
            doc.update({"cache": True, "cache_plugin": "ansible.builtin.jsonfile", "cache_timeout": 3600,
                        "cache_connection": os.path.join(workdir, "inventory-cache")})
        if constructed:
            doc.update({"keyed_groups": [{"key": "arc_tags.env | default('none')", "prefix": "env"}],
                        "compose": {"ansible_connection": "'winrm' if arc_os_type == 'windows' else 'ssh'"}})
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(doc, handle)
    return path


def environment(fake):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "ANSIBLE_"))}
    env.update(fake.env(client_id=CLIENT_ID, secret=SECRET, tenant=TENANT))
    env.update({"ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, "build", "collections"), "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_DEPRECATION_WARNINGS": "0", "ANSIBLE_INVENTORY_UNPARSED_FAILED": "1",
                "PATH": VENV_BIN + os.pathsep + os.environ.get("PATH", "")})
    return env


def bench(size, kinds, repeat):
    sys.path.insert(0, SRC)
    with tempfile.TemporaryDirectory(prefix="azure-scale-") as workdir:
        os.makedirs(os.path.join(workdir, "fake"))
        with fakeazure.FakeAzure(state=fleet_state(size), workdir=os.path.join(workdir, "fake")) as fake:
            env = environment(fake)
            samples = {kind: [] for kind in kinds}
            KINDS["floor"](env, size, workdir)     # warm: the fake expands the rows once per state
            if "inventory_cached" in kinds:
                KINDS["inventory_cached"](env, size, workdir)   # fills the cache the measured runs read
            for _round in range(repeat):
                for kind in kinds:
                    sample = KINDS[kind](env, size, workdir)
                    sample["cpu"] = LAST_CPU[0]
                    samples[kind].append(sample)
            result = {}
            for kind, runs in samples.items():
                merged = {"seconds": statistics.median(r["seconds"] for r in runs),
                          "cpu_s": round(statistics.median(r["cpu"] for r in runs), 2)}
                for key in runs[0]:
                    if key not in ("seconds", "cpu"):
                        merged[key] = runs[-1][key]
                result[kind] = merged
            result["bytes_per_machine"] = measure_bytes(env, size, workdir)
            # each kind against the floor of the same round (interleaved, so both met the same machine load);
            # the ratio reported is the median of those per-round ratios
            for kind in kinds:
                rounds = [r["seconds"] / f["seconds"] for r, f in zip(samples[kind], samples["floor"])]
                result[kind]["x_floor"] = round(statistics.median(rounds), 2)
                result[kind]["rounds"] = "/".join("%.2f" % r for r in rounds)
            return result


def table(results):
    lines = ["| machines | kind | seconds (median) | x floor | notes |", "|---|---|---|---|---|"]
    for size, result in results.items():
        for kind, values in result.items():
            if kind == "bytes_per_machine":
                lines.append("| %s | bytes/machine | | | whole row %s, projected %s |"
                             % (size, values["whole"], values["projected"]))
                continue
            notes = ", ".join("%s %s" % (k, v) for k, v in values.items() if k not in ("seconds", "x_floor"))
            lines.append("| %s | %s | %.2f | %s | %s |"
                         % (size, kind, values["seconds"], values.get("x_floor", ""), notes))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results"))
    args = parser.parse_args(argv)
    kinds = [k for k in args.kinds.split(",") if k]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        parser.error("unknown kinds %s (known: %s)" % (", ".join(unknown), ", ".join(KINDS)))
    if "floor" not in kinds:
        kinds.insert(0, "floor")
    results = {}
    for size in [int(s) for s in args.sizes.split(",") if s]:
        results[size] = bench(size, kinds, args.repeat)
        print(table({size: results[size]}), flush=True)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "azure-scale.json"), "w", encoding="utf-8") as handle:
        json.dump({"results": results}, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
