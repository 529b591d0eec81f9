"""Fleet benchmark: the lockdown role against the naive approach and the floor, on a simulated fleet.

    python bench/fleet.py [--hosts 200] [--repeat 3] [--forks 10] [--connection local,ssh]
                          [--plot-sizes 25,50,100,200]

Each host is a local stand-in agent (tests/lib/fleet.py) reached over a counting connection: ``local``
(Ansible's local connection: a host answers in microseconds) or ``ssh`` (Ansible's ssh connection to
OpenSSH on loopback, every host its own 127.0.0.N, one sshd per 16 hosts, ControlPersist and pipelining
on as users configure them; each run starts without open connections, as a job in a fresh execution
environment does). Runs, interleaved round after round so that machine noise hits all of them alike:

  floor       ansible.builtin.raw "<azcmagent> config list --json", facts off: the least any tool can do
  module      arcguard.azcmagent.azcmagent_config with the defender options, fleet converged
  role        the lockdown role in a play's roles: list (Ansible adds its argument validation task), converged
  playbook    the fleet playbook, ansible-playbook arcguard.azcmagent.lockdown, profile defender, converged
  drifted     the lockdown role on a fleet where every host drifted (reset before each round)
  naive       one ansible.builtin.command task per `azcmagent config set` line, as blog posts do

Wall times are medians over the rounds; azcmagent invocations per host come from the stand-ins'
invocation logs, remote commands per host from the connection's count, changed hosts from the recap.
Writes bench/results/fleet-<hosts>.json (and a plot with --plot-sizes).
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.lib import fleet  # noqa: E402
from tests.lib.sshfleet import SshFleet  # noqa: E402

VENV_BIN = os.path.join(ROOT, ".venv", "bin")
AMA = "Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"
MDE = "Microsoft.Azure.AzureDefenderForServers/MDE.Linux"
CONVERGED = {"extensions.allowlist": [AMA, MDE], "guestconfiguration.enabled": False,
             "incomingconnections.enabled": False}
DRIFTED = {"extensions.allowlist": ["Microsoft.Azure.Extensions/CustomScript"], "guestconfiguration.enabled": True,
           "extensions.blocklist": ["Contoso/Legacy"]}
DEFENDER = {"mode": "full", "extensions_allowlist": ["azure_monitor_agent", "defender_endpoint"],
            "guestconfiguration_enabled": False, "incomingconnections_enabled": False}
NAIVE_LINES = [["config", "set", "config.mode", "full"],
               ["config", "set", "extensions.allowlist", "%s,%s" % (AMA, MDE)],
               ["config", "set", "guestconfiguration.enabled", "false"],
               ["config", "set", "incomingconnections.enabled", "false"]]

PLAYS = {
    "floor": [{"name": "floor", "ansible.builtin.raw": "{{ lockdown_executable }} config list --json",
               "changed_when": False}],
    "module": [{"name": "module", "arcguard.azcmagent.azcmagent_config": dict(DEFENDER,
                                                                              executable="{{ lockdown_executable }}")}],
    "role": {"roles": [{"role": "arcguard.azcmagent.lockdown"}]},
    "naive": [{"name": "naive %d" % i, "ansible.builtin.command": {"argv": ["{{ lockdown_executable }}"] + line}}
              for i, line in enumerate(NAIVE_LINES)],
}
PLAYS["drifted"] = PLAYS["role"]
PLAYS["playbook"] = "arcguard.azcmagent.lockdown"  # the collection's own playbook, run as users run it
ORDER = ["floor", "module", "role", "playbook", "drifted", "naive"]


def env(counts):
    e = dict(os.environ)
    e.update(ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "build", "collections"),
             ANSIBLE_CONNECTION_PLUGINS=os.path.join(ROOT, "bench", "connection_plugins"),
             ANSIBLE_HOST_KEY_CHECKING="0", ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0",
             ARCGUARD_BENCH_COUNTS=counts, PATH=VENV_BIN + os.pathsep + e.get("PATH", ""))
    return e


class Fleet:
    def __init__(self, base, size, connection="local"):
        self.base = base
        self.hosts = {}
        self.ssh = None
        self.runs = 0
        shutil.rmtree(base, ignore_errors=True)
        os.makedirs(base)
        for i in range(size):
            name = "h%04d" % i
            root = os.path.join(base, name)
            exe = fleet.make_host(root, state=CONVERGED)
            self.hosts[name] = {"root": root, "exe": exe, "addr": name}
        hosts = {}
        if connection == "ssh":
            self.ssh = SshFleet(sorted(self.hosts))
        for name, h in self.hosts.items():
            if self.ssh:
                host = dict(self.ssh.host_vars(name), ansible_connection="counting_ssh", ansible_pipelining=True)
                h["addr"] = host["ansible_host"]
            else:
                host = {"ansible_connection": "counting_local", "ansible_host": name}
            host.update(ansible_python_interpreter=sys.executable, lockdown_executable=h["exe"])
            hosts[name] = host
        inventory = {"all": {"vars": {"lockdown_profile": "defender"}, "hosts": hosts}}
        self.inventory = os.path.join(base, "inventory.json")
        with open(self.inventory, "w") as handle:
            json.dump(inventory, handle)
        self.counts = os.path.join(base, "counts")

    def reset(self, state):
        for h in self.hosts.values():
            fleet.set_state(h["root"], state)

    def clear(self):
        shutil.rmtree(self.counts, ignore_errors=True)
        os.makedirs(self.counts)
        for h in self.hosts.values():
            fleet.clear_log(h["root"])

    def run(self, kind, forks):
        if isinstance(PLAYS[kind], str):
            path = PLAYS[kind]
        else:
            play = {"hosts": "all", "gather_facts": False}
            play.update(PLAYS[kind] if isinstance(PLAYS[kind], dict) else {"tasks": PLAYS[kind]})
            path = os.path.join(self.base, "%s.json" % kind)
            with open(path, "w") as handle:
                json.dump([play], handle)
        self.reset(DRIFTED if kind == "drifted" else CONVERGED)
        self.clear()
        run_env = env(self.counts)
        if self.ssh:  # no connection left open by an earlier run
            self.runs += 1
            control = os.path.join(self.ssh.dir, "cp%d" % self.runs)
            os.makedirs(control)
            run_env["ANSIBLE_SSH_CONTROL_PATH_DIR"] = control
        start = time.perf_counter()
        proc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", self.inventory, "-f", str(forks), path],
                              capture_output=True, text=True, env=run_env, check=False)
        wall = time.perf_counter() - start
        if self.ssh:
            self.ssh.close_masters(control)
        if proc.returncode != 0:
            raise SystemExit("%s failed:\n%s" % (kind, proc.stdout[-3000:]))
        changed = sum(1 for m in re.finditer(r"changed=(\d+)", proc.stdout) if int(m.group(1)) > 0)
        invocations, writes, commands = [], [], []
        for name, h in self.hosts.items():
            log = fleet.read_log(h["root"])
            invocations.append(len(log))
            writes.append(sum(1 for e in log if e["argv"][:2] in (["config", "set"], ["config", "clear"])))
            try:
                with open(os.path.join(self.counts, h["addr"])) as handle:
                    commands.append(len(handle.readlines()))
            except FileNotFoundError:
                commands.append(0)
        n = len(self.hosts)
        return {"wall": wall, "azcmagent_per_host": sum(invocations) / n, "writes_per_host": sum(writes) / n,
                "remote_commands_per_host": sum(commands) / n, "hosts_changed": changed,
                "max_azcmagent_per_host": max(invocations)}

    def stop(self):
        if self.ssh:
            self.ssh.stop()


def measure(size, repeat, forks, kinds=None, connection="local"):
    kinds = kinds or ORDER
    f = Fleet(os.path.join(ROOT, "build", "bench", "%s-%d" % (connection, size)), size, connection)
    samples = {k: [] for k in kinds}
    try:
        for _round in range(repeat):
            for kind in kinds:
                samples[kind].append(f.run(kind, forks))
    finally:
        f.stop()
    out = {}
    for kind, runs in samples.items():
        last = dict(runs[-1])
        last["wall"] = statistics.median(r["wall"] for r in runs)
        last["walls"] = [round(r["wall"], 3) for r in runs]
        out[kind] = last
    return out


def table(size, results, connection="local"):
    floor = results["floor"]["wall"]
    lines = ["fleet of %d hosts over the %s connection (median wall time; ratio to the floor)" % (size, connection),
             "%-8s %9s %7s %13s %12s %9s %8s" % ("run", "wall s", "ratio", "azcmagent/h", "commands/h", "writes/h",
                                                 "changed")]
    for kind in ORDER:
        r = results.get(kind)
        if not r:
            continue
        row = (kind, r["wall"], r["wall"] / floor, r["azcmagent_per_host"], r["remote_commands_per_host"],
               r["writes_per_host"], r["hosts_changed"])
        lines.append("%-8s %9.2f %7.2f %13.2f %12.2f %9.2f %8d" % row)
    for kind in ("role", "playbook"):
        if "naive" in results and kind in results:
            lines.append("naive / %s (no-op): %.2f" % (kind, results["naive"]["wall"] / results[kind]["wall"]))
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--forks", type=int, default=10)
    parser.add_argument("--connection", default="local,ssh", help="comma-separated: local, ssh")
    parser.add_argument("--kinds", default=",".join(ORDER), help="comma-separated runs (default: all)")
    parser.add_argument("--plot-sizes", default="", help="comma-separated fleet sizes for the scaling plot")
    parser.add_argument("--scaling-kinds", default=",".join(SCALING), help="runs measured at every plot size")
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results"))
    parser.add_argument("--replot", metavar="JSON", help="only draw the scaling plot again from a results file")
    args = parser.parse_args()
    if args.replot:
        with open(args.replot) as handle:
            plot(json.load(handle)["scaling"], os.path.join(args.out, "fleet-scaling.png"))
        return 0
    connections = [c for c in args.connection.split(",") if c]
    kinds = [k for k in ORDER if k in args.kinds.split(",")]
    if "floor" not in kinds:
        parser.error("--kinds must include floor: every ratio is to the floor")
    os.makedirs(args.out, exist_ok=True)
    doc = {"hosts": args.hosts, "repeat": args.repeat, "forks": args.forks, "results": {}}
    out = os.path.join(args.out, "fleet-%d.json" % args.hosts)

    def save():  # after every measurement: a long run that is cut short keeps what it measured
        with open(out, "w") as handle:
            json.dump(doc, handle, indent=2)

    for connection in connections:
        results = measure(args.hosts, args.repeat, args.forks, kinds, connection)
        print(table(args.hosts, results, connection), flush=True)
        doc["results"][connection] = results
        save()
    if args.plot_sizes:
        sizes = [int(s) for s in args.plot_sizes.split(",")]
        doc["scaling"] = {}
        for connection in connections:
            scaling = doc["scaling"][connection] = {}
            for size in sizes:
                if size == args.hosts:  # measured above (median of the rounds)
                    runs = {k: v for k, v in doc["results"][connection].items() if k in SCALING}
                else:
                    runs = measure(size, 1, args.forks, [k for k in ORDER if k in args.scaling_kinds.split(",")],
                                   connection)
                scaling[size] = runs
                save()
                walls = ", ".join("%s %.1fs" % (k, v["wall"]) for k, v in runs.items())
                print("%s, size %d: %s" % (connection, size, walls), flush=True)
        plot(doc["scaling"], os.path.join(args.out, "fleet-scaling.png"))
    save()
    return 0


SCALING = ["floor", "role", "playbook", "drifted", "naive"]
LABELS = {"naive": "naive (command per set line)", "drifted": "lockdown role, drifted fleet",
          "role": "lockdown role, converged fleet", "playbook": "lockdown playbook, converged fleet",
          "floor": "floor (raw config list)"}


def plot(scaling, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(scaling), figsize=(6.5 * len(scaling), 4.5), dpi=110, squeeze=False)
    for ax, (connection, by_size) in zip(axes[0], scaling.items()):
        by_size = {int(k): v for k, v in by_size.items()}  # JSON keys are strings
        sizes = sorted(by_size)
        for kind in ("naive", "drifted", "role", "playbook", "floor"):
            points = [(s, by_size[s][kind]["wall"]) for s in sizes if kind in by_size[s]]
            if points:
                ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=LABELS[kind])
        ax.set_xlabel("hosts")
        ax.set_ylabel("wall time (s)")
        ax.set_title("%s connection" % ("OpenSSH on loopback" if connection == "ssh" else "local"))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle("arcguard.azcmagent: wall time against fleet size (-f 10)")
    fig.tight_layout()
    fig.savefig(path)
    print("plot written to %s" % path)


if __name__ == "__main__":
    sys.exit(main())
