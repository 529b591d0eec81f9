"""The demo: a small fleet of stand-in agents in different states, locked down with the lockdown
playbook of the installed collection, then run again to show that nothing changes the second time.

Each demo host is a local directory with its own stand-in agent (roles/emulator/files/azcmagent_standin/__main__.py)
and its own settings file; the playbook reaches it over the local connection. The Windows hosts are WinRM
test endpoints on loopback (tests/lib/winrm_endpoint.py).

  scripts/demo.sh            the demo; the WinRM endpoints stop when it ends
  scripts/demo.sh --keep     the demo, then leave the fleet and its endpoints running for playbooks of your own
                             (docs/playground.md): prints the inventory path and how to stop them
  scripts/demo.sh --stop     stop the endpoints a --keep run left running
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STANDIN = os.path.join(ROOT, "roles", "emulator", "files", "azcmagent_standin")

# host -> (profile, description, initial settings, control)
FLEET = {
    "dc01": ("defender", "domain controller, agent just installed (defaults)", {}, {}),
    "web01": ("defender", "web server, someone allowed Custom Script by hand",
              {"extensions.allowlist": ["Microsoft.Azure.Extensions/CustomScript"]}, {}),
    "sql01": ("defender_sql", "database server, a blog's Windows names pasted into Linux",
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
# Windows hosts, reached over WinRM through the test endpoint (tests/lib/winrm_endpoint.py)
WINDOWS = {
    "dc02": ("defender", "Windows domain controller, agent just installed", {}),
    "esu2012": ("esu", "Windows Server 2012 onboarded for ESU only",
                {"extensions.allowlist": ["Microsoft.Compute/CustomScriptExtension"]}),
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


def agent_settings(exe, home=None):
    if home:  # a Windows host: ask its stand-in directly, in its Windows flavour
        env = dict(os.environ, AZCMAGENT_STANDIN_ROOT=home, AZCMAGENT_STANDIN_FLAVOUR="windows")
        out = subprocess.run([sys.executable, STANDIN, "config", "list", "--json"], capture_output=True, text=True,
                             check=True, env=env)
    else:
        out = subprocess.run([exe, "config", "list", "--json"], capture_output=True, text=True, check=True)
    doc = json.loads(out.stdout)
    return {e["Key"]: e["Value"] for e in doc["LocalSettings"]}


def start_windows_host(base, name, settings, keep=False):
    home = os.path.join(base, name)
    config = os.path.join(home, "ProgramData", "AzureConnectedMachineAgent", "Config")
    os.makedirs(config, exist_ok=True)
    with open(os.path.join(config, "localconfig.json"), "w") as handle:
        json.dump(settings, handle)
    password = "Demo-%s-pw" % name
    # the endpoint's output goes to a file, so that a kept endpoint outlives the demo's own output pipe;
    # a kept endpoint runs in its own session: Ctrl-C in the terminal that started the demo does not stop it
    log = os.path.join(home, "winrm-endpoint.log")
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "lib", "winrm_endpoint.py"),
                                 "--listen", "127.0.0.1:0", "--user", "arcadmin", "--password", password,
                                 "--azcmagent", "%s %s" % (sys.executable, STANDIN), "--root", home],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                                start_new_session=keep)
    port = None
    deadline = time.monotonic() + 60
    while port is None:
        with open(log) as handle:
            for line in handle:
                if line.startswith("listening on "):
                    port = int(line.split()[2].rsplit(":", 1)[1])
        if port is None:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                sys.exit("the WinRM test endpoint for %s did not start; see %s" % (name, log))
            time.sleep(0.05)
    host_vars = {"ansible_connection": "winrm", "ansible_host": "127.0.0.1", "ansible_port": port,
                 "ansible_user": "arcadmin", "ansible_password": password, "ansible_winrm_transport": "basic",
                 "ansible_winrm_scheme": "http", "ansible_winrm_server_cert_validation": "ignore"}
    return proc, home, host_vars


def pid_file(base):
    return os.path.join(base, "endpoints.pid")


def stop_kept(base):
    """Stop the endpoints a --keep run left in BASE: only processes that are our endpoint serving that folder."""
    try:
        with open(pid_file(base)) as handle:
            pids = [int(line) for line in handle if line.strip()]
    except FileNotFoundError:
        return 0
    stopped = 0
    for pid in pids:
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as handle:
                argv = handle.read().split(b"\0")
        except OSError:
            continue
        if not any(a.endswith(b"winrm_endpoint.py") for a in argv) or \
                not any(a.startswith(os.path.abspath(base).encode() + b"/") for a in argv):
            continue  # the pid now belongs to another process
        try:
            os.kill(pid, signal.SIGTERM)
            stopped += 1
        except ProcessLookupError:
            pass
    os.unlink(pid_file(base))
    return stopped


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
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", default=os.path.join(ROOT, "build", "demo"), help="where the demo fleet lives")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--keep", action="store_true",
                        help="leave the fleet and its WinRM endpoints running after the demo (see docs/playground.md)")
    action.add_argument("--stop", action="store_true", help="stop the endpoints a --keep run left running")
    args = parser.parse_args()
    args.dir = os.path.abspath(args.dir)
    stopped = stop_kept(args.dir)
    if args.stop:
        print("stopped %d WinRM test endpoint(s) of the demo fleet in %s" % (stopped, args.dir))
        return
    shutil.rmtree(args.dir, ignore_errors=True)
    os.makedirs(args.dir)
    hosts = {}
    for name, (profile, what, settings, control) in FLEET.items():
        home, exe = make_host(args.dir, name, settings, control)
        hosts[name] = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                       "lockdown_executable": exe, "lockdown_profile": profile}
    endpoints, homes = [], {}
    try:
        for name, (profile, what, settings) in WINDOWS.items():
            proc, home, host_vars = start_windows_host(args.dir, name, settings, keep=args.keep)
            endpoints.append(proc)
            homes[name] = home
            hosts[name] = dict(host_vars, lockdown_profile=profile)
        if args.keep:
            with open(pid_file(args.dir), "w") as handle:
                handle.writelines("%d\n" % proc.pid for proc in endpoints)
        inventory = os.path.join(args.dir, "inventory.json")
        with open(inventory, "w") as handle:
            json.dump({"all": {"hosts": hosts}}, handle, indent=2)
        run_demo(args, hosts, homes, inventory)
    except BaseException:
        args.keep = False
        raise
    finally:
        if not args.keep:
            for proc in endpoints:
                proc.terminate()
            for proc in endpoints:
                proc.wait()
            if os.path.exists(pid_file(args.dir)):
                os.unlink(pid_file(args.dir))
    if args.keep:
        print_kept(args.dir, inventory)


def print_kept(base, inventory):
    here = os.getcwd()
    rel = os.path.relpath(inventory, here) if inventory.startswith(here + os.sep) else inventory
    print("\n=== The demo fleet is still running (docs/playground.md)")
    print("inventory: %s" % inventory)
    print("  . %s/scripts/env.sh        # the built collection and its ansible-playbook" % ROOT)
    print("  ansible-inventory -i %s --graph" % rel)
    print("  ansible-playbook arcguard.azcmagent.audit -i %s -e audit_report_dir=build/demo-report" % rel)
    print("stop the Windows hosts' WinRM endpoints with:")
    where = "" if base == os.path.join(ROOT, "build", "demo") else " --dir " + base
    print("  bash %s/scripts/demo.sh --stop%s" % (ROOT, where))


def run_demo(args, hosts, homes, inventory):
    every = dict((n, (p, w)) for n, (p, w, _s, _c) in FLEET.items())
    every.update((n, (p, w)) for n, (p, w, _s) in WINDOWS.items())

    def settings(name):
        return agent_settings(hosts[name].get("lockdown_executable"), homes.get(name))

    def log_of(name):
        if name in homes:
            return os.path.join(homes[name], "ProgramData", "AzureConnectedMachineAgent", "Config",
                                "standin-invocations.log")
        return log_path(os.path.join(args.dir, name))

    print("Demo fleet in %s (Linux hosts over the local connection, Windows hosts over WinRM):" % args.dir)
    for name, (profile, what) in every.items():
        print("  %-9s %-20s %s" % (name, profile, what))
    before = {name: settings(name) for name in every}
    for name in every:
        open(log_of(name), "w").close()

    run_playbook(inventory, "Check mode first: what would change (nothing is written)", ["--check"])
    run_playbook(inventory, "Apply the profiles")
    calls_first = {name: count_lines(log_of(name)) for name in every}
    after = {name: settings(name) for name in every}

    print("\n=== What changed on each host (read back from the agents)")
    for name in every:
        changed = [k for k in after[name] if json.dumps(after[name][k]) != json.dumps(before[name].get(k))]
        print("%s (%s):" % (name, every[name][0]))
        if not changed:
            print("    nothing: already compliant")
        for key in changed:
            print("    %-28s %s -> %s" % (key, fmt(before[name].get(key)), fmt(after[name][key])))

    for name in every:
        open(log_of(name), "w").close()
    run_playbook(inventory, "Run again: a converged fleet changes nothing")
    calls_second = {name: count_lines(log_of(name)) for name in every}
    print("\n=== azcmagent invocations per host (from each stand-in's log)")
    print("  %-9s %18s %18s" % ("host", "check + apply", "second run"))
    for name in every:
        print("  %-9s %18d %18d" % (name, calls_first[name], calls_second[name]))


def count_lines(path):
    try:
        with open(path) as handle:
            return sum(1 for line in handle if line.strip())
    except FileNotFoundError:
        return 0


if __name__ == "__main__":
    main()
