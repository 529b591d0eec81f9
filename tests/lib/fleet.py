"""Test fleets of azcmagent stand-ins: one directory per host, each with its own agent.

A host is a directory used as the stand-in's file-system root (AZCMAGENT_STANDIN_ROOT): its
settings live where the real agent keeps them, below that directory. ``make_host`` writes a
wrapper executable that tests pass to the module as ``executable``.
"""

import importlib.util
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# the stand-in is a folder run as a program (python3 FOLDER runs its __main__.py)
STANDIN = os.path.join(ROOT, "roles", "emulator", "files", "azcmagent_standin")


def load_standin():
    """The stand-in's code as a module, for tests of its parts (it imports nothing of the collection)."""
    spec = importlib.util.spec_from_file_location("azcmagent_standin", os.path.join(STANDIN, "__main__.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def config_dir(root_dir, flavour="linux"):
    if flavour == "windows":
        return os.path.join(root_dir, "ProgramData", "AzureConnectedMachineAgent", "Config")
    return os.path.join(root_dir, "var", "opt", "azcmagent")


def state_file(root_dir, flavour="linux"):
    return os.path.join(config_dir(root_dir, flavour), "localconfig.json")


def log_file(root_dir, flavour="linux"):
    return os.path.join(config_dir(root_dir, flavour), "standin-invocations.log")


def control_file(root_dir, flavour="linux"):
    return os.path.join(config_dir(root_dir, flavour), "standin.json")


def write_control(root_dir, control, flavour="linux"):
    os.makedirs(config_dir(root_dir, flavour), exist_ok=True)
    control = dict(control or {})
    control.setdefault("flavour", flavour)
    with open(control_file(root_dir, flavour), "w") as handle:
        json.dump(control, handle)


def set_state(root_dir, state, flavour="linux"):
    os.makedirs(config_dir(root_dir, flavour), exist_ok=True)
    with open(state_file(root_dir, flavour), "w") as handle:
        json.dump(state, handle)


def read_state(root_dir, flavour="linux"):
    try:
        with open(state_file(root_dir, flavour)) as handle:
            return json.load(handle)
    except FileNotFoundError:
        return {}


def read_log(root_dir, flavour="linux"):
    try:
        with open(log_file(root_dir, flavour)) as handle:
            return [json.loads(line) for line in handle if line.strip()]
    except FileNotFoundError:
        return []


def clear_log(root_dir, flavour="linux"):
    try:
        os.unlink(log_file(root_dir, flavour))
    except FileNotFoundError:
        pass


def make_host(root_dir, flavour="linux", control=None, state=None, python=None):
    """Create a stand-in host below ``root_dir``; returns the path of its azcmagent wrapper."""
    os.makedirs(root_dir, exist_ok=True)
    if control is not None or flavour != "linux":
        write_control(root_dir, control or {}, flavour)
    if state is not None:
        set_state(root_dir, state, flavour)
    exe = os.path.join(root_dir, "bin", "azcmagent")
    os.makedirs(os.path.dirname(exe), exist_ok=True)
    with open(exe, "w") as handle:
        handle.write("#!/bin/sh\nAZCMAGENT_STANDIN_ROOT='%s' exec '%s' '%s' \"$@\"\n"
                     % (root_dir, python or sys.executable, STANDIN))
    os.chmod(exe, 0o755)
    return exe


def add_extension(root_dir, publisher, ext_type, version="1.0.0", flavour="linux"):
    """Make an installed extension's folder where the agent keeps it."""
    if flavour == "windows":
        path = os.path.join(root_dir, "Packages", "Plugins", "%s.%s" % (publisher, ext_type), version)
    else:
        path = os.path.join(root_dir, "var", "lib", "waagent", "%s.%s-%s" % (publisher, ext_type, version))
    os.makedirs(path, exist_ok=True)
    return path


def service_shims(root_dir, tools=("systemctl",), python=None):
    """Write the host's own service manager commands (``systemctl``, ``service``) into ``<root>/usr/bin``.

    They are the stand-in's service-manager test hook for this host: stopping or starting the agent's
    services sets their status in its control file. A play puts the directory first on PATH (play-level
    ``environment``). Returns the directory.
    """
    bin_dir = os.path.join(root_dir, "usr", "bin")
    os.makedirs(bin_dir, exist_ok=True)
    for tool in tools:
        path = os.path.join(bin_dir, tool)
        with open(path, "w") as handle:
            handle.write("#!/bin/sh\nAZCMAGENT_STANDIN_ROOT='%s' AZCMAGENT_STANDIN_SERVICE_TOOL=%s "
                         "exec '%s' '%s' \"$@\"\n" % (root_dir, tool, python or sys.executable, STANDIN))
        os.chmod(path, 0o755)
    return bin_dir


def service_status(root_dir, name, flavour="linux"):
    """A service's status as the stand-in sees it (running unless recorded otherwise)."""
    try:
        with open(control_file(root_dir, flavour)) as handle:
            control = json.load(handle)
    except FileNotFoundError:
        control = {}
    return (control.get("services") or {}).get(name, "running")


def read_service_log(root_dir, flavour="linux"):
    """What the service manager hook was asked to do: [{"tool", "argv", "rc", "time"}]."""
    try:
        with open(os.path.join(config_dir(root_dir, flavour), "standin-services.log")) as handle:
            return [json.loads(line) for line in handle if line.strip()]
    except FileNotFoundError:
        return []


def extensions_dir(root_dir, flavour="linux"):
    if flavour == "windows":
        return os.path.join(root_dir, "Packages", "Plugins")
    return os.path.join(root_dir, "var", "lib", "waagent")


def installed_extensions(root_dir, flavour="linux"):
    """The extension folders present: Linux `Publisher.Type-version`, Windows `Publisher.Type\\version`."""
    base = extensions_dir(root_dir, flavour)
    if not os.path.isdir(base):
        return []
    if flavour != "windows":
        return sorted(os.listdir(base))
    return sorted("%s\\%s" % (folder, version) for folder in os.listdir(base)
                  for version in os.listdir(os.path.join(base, folder)))
