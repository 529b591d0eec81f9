"""The demo: a small fleet of stand-in agents in different states, locked down with the lockdown
playbook of the installed collection, then run again to show that nothing changes the second time.

Each demo host is a local directory with its own stand-in agent (roles/emulator/files/azcmagent_standin.py)
and its own settings file; the playbook reaches it over the local connection.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STANDIN = os.path.join(ROOT, "roles", "emulator", "files", "azcmagent_standin.py")

# host -> (profile, description, initial settings, control)
FLEET = {
    "dc01": ("defender", "domain controller, agent just installed (defaults)", {}, {}),
    "web01": ("defender", "web server, someone allowed Custom Script by hand",
              {"extensions.allowlist": ["Microsoft.Azure.Extensions/CustomScript"]}, {}),
    "sql01": ("monitoring_security", "database server, a blog's Windows names pasted into Linux",
              {"extensions.allowlist": ["Microsoft.Azure.Monitor/AzureMonitorWindowsAgent",
                                        "Microsoft.Azure.AzureDefenderForServers/MDE.Windows"],
               "guestconfiguration.enabled": False}, {}),
    "legacy01": ("ama_only", "in monitor mode, to be moved to AMA only",
                 {"config.mode": "monitor"}, {}),
    "build01": ("block_scripts", "build agent, script runners to be blocked",
                {"extensions.blocklist": ["Microsoft.Compute/CustomScriptExtension"]}, {}),
    "pay01": ("ama_only", "payment server, already compliant",
              {"extensions.allowlist": ["Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"],
               "guestconfiguration.enabled": False}, {}),
}


def state_path(home):
    return os.path.join(home, "var", "opt", "azcmagent", "localconfig.json")


def log_path(home):
    return os.path.join(home, "var", "opt", "azcmagent", "standin-invocations.log")


def make_host(base, name, settings, control):
    home = os.path.join(base, name)
    os.makedirs(os.path.dirname(state_path(home)), exist_ok=True)
    with open(state_path(home), "w") as handle:
        json.dump(settings, handle)
    if control:
        with open(os.path.join(os.path.dirname(state_path(home)), "standin.json"), "w") as handle:
            json.dump(control, handle)
    exe = os.path.join(home, "bin", "azcmagent")
    os.makedirs(os.path.dirname(exe), exist_ok=True)
    with open(exe, "w") as handle:
        handle.write("#!/bin/sh\nAZCMAGENT_STANDIN_ROOT='%s' exec '%s' '%s' \"$@\"\n"
                     % (home, sys.executable, STANDIN))
    os.chmod(exe, 0o755)
    return home, exe


def agent_settings(exe):
    out = subprocess.run([exe, "config", "list", "--json"], capture_output=True, text=True, check=True)
    doc = json.loads(out.stdout)
    return {e["Key"]: e["Value"] for e in doc["LocalSettings"]}


def invocations(home):
    try:
        with open(log_path(home)) as handle:
            return [json.loads(line) for line in handle if line.strip()]
    except FileNotFoundError:
        return []


def run_playbook(inventory, label, extra=()):
    print("\n=== %s" % label, flush=True)
    cmd = [os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), "arcguard.azcmagent.lockdown",
           "-i", inventory, "--diff"] + list(extra)
    print("$ " + " ".join(cmd[1:]), flush=True)
    start = time.monotonic()
    proc = subprocess.run(cmd, text=True, check=False)
    print("(%.1f s)" % (time.monotonic() - start))
    if proc.returncode != 0:
        sys.exit("the playbook failed (exit %d)" % proc.returncode)


def fmt(value):
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", default=os.path.join(ROOT, "build", "demo"), help="where the demo fleet lives")
    args = parser.parse_args()
    shutil.rmtree(args.dir, ignore_errors=True)
    os.makedirs(args.dir)
    hosts = {}
    for name, (profile, what, settings, control) in FLEET.items():
        home, exe = make_host(args.dir, name, settings, control)
        hosts[name] = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                       "lockdown_executable": exe, "lockdown_profile": profile}
    inventory = os.path.join(args.dir, "inventory.json")
    with open(inventory, "w") as handle:
        json.dump({"all": {"hosts": hosts}}, handle, indent=2)

    print("Demo fleet in %s:" % args.dir)
    for name, (profile, what, _s, _c) in FLEET.items():
        print("  %-9s %-20s %s" % (name, profile, what))
    before = {name: agent_settings(hosts[name]["lockdown_executable"]) for name in FLEET}
    for name in FLEET:
        open(log_path(os.path.join(args.dir, name)), "w").close()

    run_playbook(inventory, "Check mode first: what would change (nothing is written)", ["--check"])
    run_playbook(inventory, "Apply the profiles")
    calls_first = {name: len(invocations(os.path.join(args.dir, name))) for name in FLEET}
    after = {name: agent_settings(hosts[name]["lockdown_executable"]) for name in FLEET}

    print("\n=== What changed on each host (read back from the agents)")
    for name in FLEET:
        changed = [k for k in after[name] if json.dumps(after[name][k]) != json.dumps(before[name].get(k))]
        print("%s (%s):" % (name, FLEET[name][0]))
        if not changed:
            print("    nothing: already compliant")
        for key in changed:
            print("    %-28s %s -> %s" % (key, fmt(before[name].get(key)), fmt(after[name][key])))

    for name in FLEET:
        open(log_path(os.path.join(args.dir, name)), "w").close()
    run_playbook(inventory, "Run again: a converged fleet changes nothing")
    calls_second = {name: len(invocations(os.path.join(args.dir, name))) for name in FLEET}
    print("\n=== azcmagent invocations per host (from each stand-in's log)")
    print("  %-9s %18s %18s" % ("host", "check + apply", "second run"))
    for name in FLEET:
        print("  %-9s %18d %18d" % (name, calls_first[name], calls_second[name]))


if __name__ == "__main__":
    main()
