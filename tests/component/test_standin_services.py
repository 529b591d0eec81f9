"""The stand-in's service-manager test hook, and extension removal needing the extension service stopped."""

import json
import os
import subprocess
import sys

import pytest

from tests.lib import fleet

STANDIN = fleet.STANDIN
CUSTOM = "Microsoft.Azure.Extensions.CustomScript"


def tool(root, name, *args, flavour="linux"):
    env = dict(os.environ, AZCMAGENT_STANDIN_ROOT=str(root), AZCMAGENT_STANDIN_SERVICE_TOOL=name)
    if flavour == "windows":
        env["AZCMAGENT_STANDIN_FLAVOUR"] = "windows"
    return subprocess.run([sys.executable, STANDIN] + list(args), capture_output=True, text=True, env=env,
                          check=False)


def az(root, *args):
    env = dict(os.environ, AZCMAGENT_STANDIN_ROOT=str(root))
    return subprocess.run([sys.executable, STANDIN] + list(args), capture_output=True, text=True, env=env,
                          check=False)


def test_systemctl_stop_start_and_is_active(tmp_path):
    assert tool(tmp_path, "systemctl", "is-active", "extd").stdout == "active\n"
    assert tool(tmp_path, "systemctl", "stop", "extd.service").returncode == 0
    out = tool(tmp_path, "systemctl", "is-active", "extd")
    assert (out.returncode, out.stdout) == (3, "inactive\n")
    assert fleet.service_status(str(tmp_path), "extd") == "stopped"
    shown = json.loads(az(tmp_path, "show", "--json").stdout)["services"]
    assert {s["serviceName"]: s["status"] for s in shown}["extd"] == "stopped"
    assert tool(tmp_path, "systemctl", "start", "extd").returncode == 0
    assert fleet.service_status(str(tmp_path), "extd") == "running"


def test_service_grammar_and_unknown_services(tmp_path):
    assert tool(tmp_path, "service", "extd", "stop").returncode == 0
    assert fleet.service_status(str(tmp_path), "extd") == "stopped"
    unknown = tool(tmp_path, "service", "nosuch", "stop")
    assert unknown.returncode == 1 and "unrecognized service" in unknown.stderr
    unit = tool(tmp_path, "systemctl", "stop", "nosuch")
    assert unit.returncode == 5 and "Unit nosuch.service not loaded" in unit.stderr
    # Linux services are the Linux names: the Windows name is no unit there
    assert tool(tmp_path, "systemctl", "stop", "ExtensionService").returncode == 5


def test_windows_names_are_case_insensitive(tmp_path):
    assert tool(tmp_path, "windows", "stop", "extensionservice", flavour="windows").returncode == 0
    assert fleet.service_status(str(tmp_path), "ExtensionService", "windows") == "stopped"
    missing = tool(tmp_path, "windows", "stop", "extd", flavour="windows")
    assert missing.returncode == 1 and "Cannot find any service" in missing.stderr


def test_the_hook_keeps_the_rest_of_the_control_file(tmp_path):
    fleet.write_control(str(tmp_path), {"version": "1.50.02863.1416", "variants": {"bool_json": "literal"}})
    tool(tmp_path, "systemctl", "stop", "gcad")
    with open(fleet.control_file(str(tmp_path))) as handle:
        control = json.load(handle)
    assert control["version"] == "1.50.02863.1416" and control["variants"] == {"bool_json": "literal"}
    assert control["services"] == {"gcad": "stopped"}


def test_the_hook_is_not_an_azcmagent_invocation(tmp_path):
    tool(tmp_path, "systemctl", "stop", "extd")
    assert fleet.read_log(str(tmp_path)) == []
    assert [e["argv"] for e in fleet.read_service_log(str(tmp_path))] == [["stop", "extd"]]


def test_removal_needs_the_stopped_service_then_removes_the_folder(tmp_path):
    fleet.add_extension(str(tmp_path), "Microsoft.Azure.Extensions", "CustomScript", "2.1.10")
    refused = az(tmp_path, "extension", "remove", "--name", CUSTOM)
    assert refused.returncode == 27 and "AZCM0027" in refused.stderr
    tool(tmp_path, "systemctl", "stop", "extd")
    assert az(tmp_path, "extension", "remove", "--name", CUSTOM).returncode == 0
    assert fleet.installed_extensions(str(tmp_path)) == []


@pytest.mark.parametrize("target, hits", [("*", True), (CUSTOM.lower(), True), ("Other.Extension", False)])
def test_injected_removal_failure(tmp_path, target, hits):
    fleet.add_extension(str(tmp_path), "Microsoft.Azure.Extensions", "CustomScript", "2.1.10")
    fleet.write_control(str(tmp_path), {"faults": {"fail_remove": {"extension": target, "rc": 69}}})
    tool(tmp_path, "systemctl", "stop", "extd")
    out = az(tmp_path, "extension", "remove", "--name", CUSTOM)
    assert out.returncode == (69 if hits else 0)
    assert bool(fleet.installed_extensions(str(tmp_path))) == hits


def test_injected_service_failure_once(tmp_path):
    fleet.write_control(str(tmp_path), {"faults": {"fail_service": {"service": "extd", "action": "start",
                                                                    "rc": 1, "times": 1}}})
    assert tool(tmp_path, "systemctl", "stop", "extd").returncode == 0
    assert tool(tmp_path, "systemctl", "start", "extd").returncode == 1
    assert fleet.service_status(str(tmp_path), "extd") == "stopped"
    assert tool(tmp_path, "systemctl", "start", "extd").returncode == 0
    assert fleet.service_status(str(tmp_path), "extd") == "running"


def test_extension_command_needs_1_39(tmp_path):
    fleet.write_control(str(tmp_path), {"version": "1.38.0.0"})
    out = az(tmp_path, "extension", "list")
    assert out.returncode == 3


def test_fleet_shims_reach_the_hook(tmp_path):
    root = str(tmp_path / "h")
    fleet.make_host(root)
    bin_dir = fleet.service_shims(root, tools=("systemctl", "service"))
    env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ["PATH"])
    subprocess.run(["systemctl", "stop", "extd"], env=env, check=True)
    assert fleet.service_status(root, "extd") == "stopped"
    subprocess.run(["service", "extd", "start"], env=env, check=True)
    assert fleet.service_status(root, "extd") == "running"
