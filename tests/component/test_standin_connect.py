"""The stand-in's connect, disconnect and show against the reference (sections 1 to 3)."""

import json
import os
import subprocess
import sys

import pytest

from tests.lib import fleet

pytestmark = pytest.mark.onboarding

STANDIN = fleet.STANDIN
SUB = "22222222-2222-2222-2222-222222222222"
TENANT = "11111111-1111-1111-1111-111111111111"
APP = "44444444-4444-4444-4444-444444444444"
PLACE = ["--subscription-id", SUB, "--resource-group", "rg-arc", "--location", "westeurope"]
SP = ["--service-principal-id", APP, "--tenant-id", TENANT]


def az(root, *args, flavour="linux"):
    env = dict(os.environ, AZCMAGENT_STANDIN_ROOT=str(root))
    if flavour == "windows":
        env["AZCMAGENT_STANDIN_FLAVOUR"] = "windows"
    return subprocess.run([sys.executable, STANDIN] + list(args), capture_output=True, text=True, env=env, check=False)


def agent(tmp_path, **control):
    control.setdefault("connected", "Disconnected")
    control.setdefault("hostname", "web01")
    fleet.write_control(str(tmp_path), control, control.get("flavour", "linux"))
    return tmp_path


def show(root, flavour="linux"):
    return json.loads(az(root, "show", "--json", flavour=flavour).stdout)


def config(tmp_path, doc, name="c.json"):
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return str(path)


def test_fresh_agent_shows_disconnected_with_empty_fields(tmp_path):
    root = agent(tmp_path)
    doc = show(root)
    assert doc["status"] == "Disconnected" and doc["resourceId"] == "" and doc["tenantId"] == ""
    text = az(root, "show").stdout
    assert "Agent Status                            : Disconnected" in text
    assert "Resource Id                             :\n" in text


def test_connect_with_secret_in_a_json_config_file(tmp_path):
    root = agent(tmp_path)
    path = config(tmp_path, {"service-principal-secret": "s3cret"})
    out = az(root, "connect", "--config", path, *SP, *PLACE, "--tags", "Env=prod,Owner='Platform Team'")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "INFO    Connected machine to Azure" in out.stdout and "Machine overview page: https://portal" in out.stdout
    doc = show(root)
    assert doc["status"] == "Connected" and doc["resourceName"] == "web01" and doc["tenantId"] == TENANT
    assert doc["resourceId"] == "/subscriptions/%s/resourceGroups/rg-arc/providers/Microsoft.HybridCompute/machines/web01" % SUB
    state = json.load(open(os.path.join(fleet.config_dir(str(root)), "standin-connection.json")))
    assert state["tags"] == {"Env": "prod", "Owner": "Platform Team"}
    entry = fleet.read_log(str(root))[-2]
    assert entry["config_keys"] == ["service-principal-secret"] and entry["config_file"]["exists"]


@pytest.mark.parametrize("text", [
    "service-principal-secret: s3cret\nsubscription-id: '%s'\nresource-group: rg-arc\nlocation: westeurope\n" % SUB,
    "---\n# onboarding\nservice-principal-secret: \"s3cret\"\nsubscription-id: %s\nresource-group: rg-arc\n"
    "location: westeurope\nverbose: true\n" % SUB,
])
def test_yaml_config_file(tmp_path, text):
    root = agent(tmp_path, credentials={"service_principals": {APP: "s3cret"}})
    out = az(root, "connect", "--config", config(tmp_path, text, "c.yaml"), *SP)
    assert out.returncode == 0, out.stdout
    assert show(root)["resourceGroup"] == "rg-arc"


def test_command_line_wins_over_the_config_file(tmp_path):
    root = agent(tmp_path)
    path = config(tmp_path, {"service-principal-secret": "s", "resource-group": "from-file",
                             "subscription-id": SUB, "location": "eastus"})
    assert az(root, "connect", "--config", path, *SP, "--resource-group", "from-cli").returncode == 0
    doc = show(root)
    assert doc["resourceGroup"] == "from-cli" and doc["location"] == "eastus"


@pytest.mark.parametrize("args, rc", [
    (["--resource-group", "rg", "--location", "westeurope"], 16),
    (["--subscription-id", SUB, "--location", "westeurope"], 16),
    (PLACE + ["--service-principal-id", APP, "--service-principal-secret", "s"], 16),  # no tenant
    (PLACE + SP, 23),  # no secret
    (PLACE + SP + ["--service-principal-secret", "s", "--access-token", "t"], 23),
    (PLACE + SP + ["--service-principal-secret", "s", "--bogus"], 23),
    (PLACE + SP + ["--service-principal-secret", "s", "--cloud", "Mars"], 23),
    (PLACE + SP + ["--service-principal-secret", "s", "--correlation-id", "x"], 23),
    (PLACE + SP + ["--service-principal-secret", "s", "--resource-name", "bad_"], 23),
    (PLACE + SP + ["--service-principal-secret", "s", "--tags", "novalue"], 23),
    (["--subscription-id", SUB, "--resource-group", "rg", "--location", "West Europe"] + SP +
     ["--service-principal-secret", "s"], 20),
    (["--subscription-id", "Production", "--resource-group", "rg", "--location", "westeurope"] + SP +
     ["--service-principal-secret", "s"], 68),
    (PLACE + ["--config", "/nonexistent.json"], 19),
    (PLACE, 41),  # device code: no one signs in
])
def test_connect_validation_and_codes(tmp_path, args, rc):
    root = agent(tmp_path)
    out = az(root, "connect", *args)
    assert out.returncode == rc, out.stdout + out.stderr
    assert "AZCM%04d" % rc in out.stdout + out.stderr
    assert show(root)["status"] == "Disconnected"


def test_missing_param_rc_variant(tmp_path):
    root = agent(tmp_path, variants={"missing_param_rc": 23})
    assert az(root, "connect", "--location", "westeurope").returncode == 23


def test_failure_layout_and_log_stderr(tmp_path):
    root = agent(tmp_path, faults={"fail_connect": {"rc": 42, "message": "boom"}})
    out = az(root, "connect", *PLACE, *SP, "--service-principal-secret", "s")
    lines = out.stdout.splitlines()
    assert out.returncode == 42
    assert "INFO    Exit Code:  AZCM0042: Failed to create Azure resource" in lines
    assert "FATAL   boom" in lines
    err = az(root, "connect", *PLACE, *SP, "--service-principal-secret", "s", "--log-stderr")
    assert "AZCM0042" in err.stderr and "AZCM0042" not in err.stdout


def test_fault_times(tmp_path):
    root = agent(tmp_path, faults={"fail_connect": {"rc": 26, "times": 1}})
    assert az(root, "connect", *PLACE, *SP, "-p", "s").returncode == 26
    assert az(root, "connect", *PLACE, *SP, "-p", "s").returncode == 0


def test_credentials_are_checked_when_known(tmp_path):
    root = agent(tmp_path, credentials={"service_principals": {APP: "right"}, "access_tokens": ["tok"]})
    wrong = az(root, "connect", *PLACE, *SP, "--service-principal-secret", "wrong")
    assert wrong.returncode == 41 and "Invalid client secret is provided" in wrong.stdout
    assert az(root, "connect", *PLACE, "--access-token", "nope").returncode == 12
    assert az(root, "connect", *PLACE, "--access-token", "tok").returncode == 0


def test_already_connected(tmp_path):
    root = agent(tmp_path)
    assert az(root, "connect", *PLACE, *SP, "-p", "s").returncode == 0
    again = az(root, "connect", *PLACE, *SP, "-p", "s")
    assert again.returncode == 67 and "AZCM0067" in again.stdout and "Resource ID=/subscriptions/" in again.stdout
    plain = agent(tmp_path, connected="Connected", variants={"already_connected_output": "plain"})
    assert "Resource ID=" not in az(plain, "connect", *PLACE, *SP, "-p", "s").stdout


def test_expired_fault_and_status(tmp_path):
    root = agent(tmp_path)
    az(root, "connect", *PLACE, *SP, "-p", "s")
    control = json.load(open(fleet.control_file(str(root))))
    control["faults"] = {"expired": True}
    fleet.write_control(str(root), control)
    assert show(root)["status"] == "Expired"
    assert az(root, "connect", *PLACE, *SP, "-p", "s").returncode == 67


def test_disconnect(tmp_path):
    root = agent(tmp_path)
    az(root, "connect", *PLACE, *SP, "-p", "s")
    out = az(root, "disconnect", "--config", config(tmp_path, {"service-principal-secret": "s"}), "-i", APP)
    assert out.returncode == 0 and "Disconnected machine from Azure" in out.stdout
    assert show(root)["status"] == "Disconnected"
    assert az(root, "disconnect", "--force-local-only").returncode == 63
    ok = agent(tmp_path, variants={"disconnect_when_disconnected": "ok"})
    assert az(ok, "disconnect", "--force-local-only").returncode == 0


def test_disconnect_needs_credentials_unless_local_only(tmp_path):
    root = agent(tmp_path, connected="Connected")
    assert az(root, "disconnect").returncode == 41
    assert az(root, "disconnect", "-f").returncode == 0


def test_disconnect_fault_and_tenant_variant(tmp_path):
    root = agent(tmp_path, connected="Connected", faults={"fail_disconnect": True})
    out = az(root, "disconnect", "-i", APP, "-p", "s")
    assert out.returncode == 43 and "ScopeLocked" in out.stdout
    strict = agent(tmp_path, connected="Connected", variants={"disconnect_tenant_id": "reject"})
    assert az(strict, "disconnect", "-f", "--tenant-id", TENANT).returncode == 23


@pytest.mark.parametrize("doc, rc", [
    ({"bogus-key": 1}, 23), ({"tags": {"A": "1"}, "service-principal-secret": "s"}, 0),
    ({"tags": "A=1", "service-principal-secret": "s"}, 0), ({"verbose": "maybe"}, 23),
    ({"service-principal-secret": True}, 23), ("[1, 2]", 23), ("{not json", 23)])
def test_config_file_shapes(tmp_path, doc, rc):
    root = agent(tmp_path)
    out = az(root, "connect", "--config", config(tmp_path, doc), *PLACE, *SP)
    assert out.returncode == rc, out.stdout + out.stderr


@pytest.mark.parametrize("variant, doc, rc", [
    ({"config_unknown_keys": "ignore"}, {"bogus-key": 1, "service-principal-secret": "s"}, 0),
    ({"config_tags": "string"}, {"tags": {"A": "1"}, "service-principal-secret": "s"}, 23),
    ({"config_tags": "object"}, {"tags": "A=1", "service-principal-secret": "s"}, 23)])
def test_config_file_variants(tmp_path, variant, doc, rc):
    root = agent(tmp_path, variants=variant)
    assert az(root, "connect", "--config", config(tmp_path, doc), *PLACE, *SP).returncode == rc


@pytest.mark.parametrize("variant, key, empty", [
    ({"show_json_keys": "id_caps"}, "resourceID", ""), ({"show_json_keys": "display"}, "Resource Id", ""),
    ({"show_json_empty": "null"}, "resourceId", None)])
def test_show_json_variants(tmp_path, variant, key, empty):
    root = agent(tmp_path, variants=variant)
    assert show(root)[key] == empty
    absent = agent(tmp_path, variants={"show_json_empty": "absent"})
    assert "resourceId" not in show(absent) and show(absent)["status"] == "Disconnected"


def test_show_properties(tmp_path):
    root = agent(tmp_path, connected="Connected")
    out = az(root, "show", "Agent Status", "resourceName")
    assert out.stdout.splitlines() == ["%-39s : %s" % ("Agent Status", "Connected"),
                                       "%-39s : %s" % ("Resource Name", "standin-host")]
    assert json.loads(az(root, "show", "status", "-j").stdout) == {"status": "Connected"}


def test_windows_flavour_reads_a_windows_config_path(tmp_path):
    root = agent(tmp_path, flavour="windows")
    folder = tmp_path / "Windows" / "Temp" / "arcguard-x"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"service-principal-secret": "s"}))
    out = az(root, "connect", "--config", "C:\\Windows\\Temp\\arcguard-x\\config.json", *PLACE, *SP, flavour="windows")
    assert out.returncode == 0, out.stdout
    assert show(root, "windows")["status"] == "Connected"


def test_needs_elevation(tmp_path):
    root = agent(tmp_path, elevated=False)
    assert az(root, "connect", *PLACE, *SP, "-p", "s").returncode == 18
    assert az(root, "disconnect", "-f").returncode == 18
    assert az(root, "show").returncode == 0


def test_every_argv_is_logged(tmp_path):
    root = agent(tmp_path)
    az(root, "connect", *PLACE, *SP, "-p", "visible-on-purpose")
    az(root, "show", "-j")
    argvs = [e["argv"] for e in fleet.read_log(str(root))]
    assert argvs == [["connect"] + PLACE + SP + ["-p", "visible-on-purpose"], ["show", "-j"]]
