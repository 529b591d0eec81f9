"""_connect: validation, argv and --config file building for both shells, and every decision of the show read."""

import json
import os
import subprocess
import sys

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _connect as connect
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _scripts as scripts
from tests.lib import fleet

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
standin = fleet.load_standin()

pytestmark = pytest.mark.onboarding

TENANT = "11111111-1111-1111-1111-111111111111"
SUB = "22222222-2222-2222-2222-222222222222"
APP = "44444444-4444-4444-4444-444444444444"


def options(**over):
    opts = {k: v.get("default") for k, v in connect.ARGUMENT_SPEC.items()}
    opts.update(tenant_id=TENANT, subscription_id=SUB, resource_group="rg-arc", location="westeurope",
                service_principal_id=APP, service_principal_secret="s3cret")
    opts.update(over)
    return opts


def shown(status="Connected", sub=SUB, rg="rg-arc", name="web01", tenant=TENANT, location="westeurope",
          cloud="AzureCloud"):
    if status == "Disconnected":
        return {k: "" for k in connect.CONNECTION_KEYS} | {"status": "Disconnected"}
    rid = "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.HybridCompute/machines/%s" % (sub, rg, name)
    return {"status": status, "resource_id": rid, "resource_name": name, "resource_group": rg,
            "subscription_id": sub, "tenant_id": tenant, "location": location, "cloud": cloud}


# ----------------------------------------------------------------------------- decisions

@pytest.mark.parametrize("current, over, action", [
    (shown("Disconnected"), {}, "connect"),
    (shown(), {}, "none"),
    (shown(), {"resource_name": "web01"}, "none"),
    (shown(rg="RG-ARC", name="WEB01"), {"resource_name": "web01"}, "none"),
    (shown(tenant=TENANT.upper()), {}, "none"),
    (shown(), {"resource_name": "web02"}, "fail"),
    (shown(), {"resource_name": "web02", "reconnect": True}, "reconnect"),
    (shown(sub="33333333-3333-3333-3333-333333333333"), {}, "fail"),
    (shown(rg="rg-other"), {}, "fail"),
    (shown(tenant="55555555-5555-5555-5555-555555555555"), {}, "fail"),
    (shown(rg="rg-other"), {"reconnect": True}, "reconnect"),
    (shown("Expired"), {}, "fail"),
    (shown("Expired"), {"reconnect": True}, "reconnect"),
    (shown("Expired", rg="rg-other"), {"reconnect": True}, "reconnect"),
    (shown("connected"), {}, "none"),
    (shown("Installing"), {}, "fail"),
    (shown("Disconnected"), {"state": "disconnected"}, "none"),
    (shown(), {"state": "disconnected"}, "disconnect"),
    (shown("Expired"), {"state": "disconnected"}, "disconnect"),
])
def test_decide(current, over, action):
    assert connect.decide(current, options(**over)).action == action


def test_connected_elsewhere_names_both_resources():
    decision = connect.decide(shown(rg="rg-other"), options(resource_name="web01"))
    assert "/resourceGroups/rg-other/" in decision.msg and "/resourceGroups/rg-arc/" in decision.msg
    assert "reconnect: true" in decision.msg and "Nothing was changed" in decision.msg


def test_expired_says_what_to_do():
    decision = connect.decide(shown("Expired"), options())
    assert "expired" in decision.msg and "reconnect: true" in decision.msg and "--force-local-only" in decision.msg


def test_unknown_status_is_named():
    assert "'Installing'" in connect.decide(shown("Installing"), options()).msg


def test_same_resource_other_location_warns():
    decision = connect.decide(shown(location="eastus"), options())
    assert decision.action == "none" and "eastus" in decision.warnings[0]


# ----------------------------------------------------------------------------- show parsing

CONNECTED = {"resourceName": "web01", "resourceGroup": "rg-arc", "resourceId": shown()["resource_id"],
             "subscriptionId": SUB, "tenantId": TENANT, "location": "westeurope", "cloud": "AzureCloud",
             "status": "Connected", "agentVersion": "1.64.03414.2961"}


@pytest.mark.parametrize("variant", [
    {}, {"show_json_keys": "id_caps"}, {"show_json_keys": "display"}, {"show_json_empty": "null"},
    {"show_json_empty": "absent"}, {"show_json_keys": "display", "show_json_empty": "absent"}])
@pytest.mark.parametrize("status", ["Connected", "Disconnected"])
def test_parse_show_every_stand_in_variant(tmp_path, variant, status):
    exe = make_agent(tmp_path, {"variants": variant, "connected": status})
    out = subprocess.run([exe, "show", "--json"], capture_output=True, text=True, check=True).stdout
    conn = connect.parse_show(out)
    assert conn["status"] == status
    if status == "Connected":
        assert conn["subscription_id"] == "00000000-0000-0000-0000-000000000000"
        assert conn["resource_group"] == "rg-arc" and conn["resource_name"] == "standin-host"
        assert conn["resource_id"].endswith("/machines/standin-host")
    else:
        assert conn["resource_id"] == "" and conn["resource_group"] == ""


def test_parse_show_text_layout(tmp_path):
    exe = make_agent(tmp_path, {})
    out = subprocess.run([exe, "show"], capture_output=True, text=True, check=True).stdout
    conn = connect.parse_show(out)
    assert conn["status"] == "Connected" and conn["resource_group"] == "rg-arc"


def test_parse_show_fills_from_the_resource_id():
    doc = {"status": "Connected", "resourceId": CONNECTED["resourceId"]}
    conn = connect.parse_show(json.dumps(doc))
    assert (conn["subscription_id"], conn["resource_group"], conn["resource_name"]) == (SUB, "rg-arc", "web01")


@pytest.mark.parametrize("text", ["", "{}", "[1]", "{\"resourceId\": \"x\"}", "garbage"])
def test_parse_show_refuses(text):
    with pytest.raises(connect.ShowError):
        connect.parse_show(text)


# ----------------------------------------------------------------------------- validation

@pytest.mark.parametrize("over, word", [
    ({"subscription_id": "Production"}, "subscription_id"),
    ({"tenant_id": "contoso.onmicrosoft.com"}, "tenant_id"),
    ({"correlation_id": "x"}, "correlation_id"),
    ({"location": "West Europe"}, "location"),
    ({"resource_group": "rg."}, "resource_group"),
    ({"resource_name": "a_"}, "resource_name"),
    ({"resource_name": "x" * 55}, "resource_name"),
    ({"private_link_scope": "scope"}, "private_link_scope"),
    ({"gateway_id": "/nope"}, "gateway_id"),
    ({"tags": {"a": "b,c"}}, "tags"),
    ({"tags": {"a": "it's"}}, "tags"),
    ({"tags": {"a=b": "c"}}, "tags"),
    ({"service_principal_secret": None}, "service_principal_secret"),
    ({"access_token": "t"}, "access_token"),
    ({"service_principal_id": None}, "service_principal_id"),
    ({"service_principal_id": None, "service_principal_secret": None}, "credentials"),
    ({"service_principal_secret": "two\nlines"}, "one line"),
    ({"tenant_id": None}, "tenant_id"),
    ({"location": None}, "location"),
    ({"service_principal_cert": "/etc/cert.pem"}, "service_principal_cert"),
    ({"state": "disconnected", "service_principal_id": None, "service_principal_secret": None}, "force_local_only"),
    ({"timeout": -1}, "timeout"),
])
def test_validate_names_the_option(over, word):
    with pytest.raises(connect.OptionError) as err:
        connect.validate(options(**over), "linux")
    assert word in str(err.value)


def test_validate_windows_arguments():
    with pytest.raises(connect.OptionError, match="service_principal_cert"):
        connect.validate(options(service_principal_secret=None, service_principal_cert='C:\\certs\\'), "windows")
    connect.validate(options(service_principal_secret=None, service_principal_cert="C:\\certs\\a.pem"), "windows")


@pytest.mark.parametrize("over", [{}, {"access_token": "tok", "service_principal_id": None,
                                       "service_principal_secret": None},
                                  {"state": "disconnected", "force_local_only": True, "service_principal_id": None,
                                   "service_principal_secret": None, "subscription_id": None}])
def test_validate_accepts(over):
    connect.validate(options(**over), "linux")


# ----------------------------------------------------------------------------- argv and the --config file

def test_connect_argv_has_no_secret():
    opts = options(resource_name="web01", tags={"Owner": "Platform Team", "Env": "prod"}, correlation_id=TENANT,
                   private_link_scope="/subscriptions/x/resourceGroups/y/providers/Microsoft.HybridCompute/"
                                      "privateLinkScopes/s")
    steps = connect.plan_steps("connect", opts, "linux", name="abcdef0123456789")
    argv = steps[0]
    assert steps[-1] == ["show", "--json"] and len(steps) == 2
    assert argv[:2] == ["connect", "--config"] and isinstance(argv[2], scripts.SecretFile)
    assert json.loads(argv[2].value) == {"service-principal-secret": "s3cret"}
    plain = [a for a in argv if isinstance(a, str)]
    assert "s3cret" not in " ".join(plain)
    assert plain[plain.index("--tags") + 1] == "Env=prod,Owner='Platform Team'"
    assert plain[plain.index("--service-principal-id") + 1] == APP
    assert plain[plain.index("--subscription-id") + 1] == SUB and plain[plain.index("--cloud") + 1] == "AzureCloud"


def test_reconnect_shares_one_file():
    steps = connect.plan_steps("reconnect", options(), "linux", name="abcdef0123456789")
    assert [s[0] for s in steps] == ["disconnect", "connect", "show"]
    assert steps[0][2] is steps[1][2]
    assert "--tenant-id" not in steps[0]


def test_token_and_cert_and_local_only():
    token = connect.plan_steps("connect", options(service_principal_id=None, service_principal_secret=None,
                                                  access_token="tok"), "linux", name="abcdef0123456789")
    assert json.loads(token[0][2].value) == {"access-token": "tok"}
    cert = connect.plan_steps("connect", options(service_principal_secret=None, service_principal_cert="/c.pem"))
    assert "--config" not in cert[0] and cert[0][1:5] == ["--service-principal-id", APP, "--service-principal-cert",
                                                          "/c.pem"]
    local = connect.plan_steps("disconnect", options(state="disconnected", force_local_only=True))
    assert local[0] == ["disconnect", "--force-local-only"]


@given(st.dictionaries(st.text(st.characters(blacklist_characters=",='\"\r\n\x00", blacklist_categories=("Cs",)),
                               min_size=1, max_size=12).filter(lambda k: k.strip()),
                       st.text(st.characters(blacklist_characters=",='\"\r\n\x00", blacklist_categories=("Cs",)),
                               max_size=12), max_size=5))
def test_tags_round_trip_through_the_stand_in_parser(tags):
    text = connect.tags_argument(tags)
    if not tags:
        assert text is None
        return
    parsed = standin.parse_tags(text)
    assert parsed == {k.strip() if " " not in k and "\t" not in k else k: v.strip() if " " not in v and "\t" not in v
                      else v for k, v in tags.items()}


def make_agent(tmp_path, control):
    sys.path.insert(0, ROOT)
    from tests.lib import fleet
    return fleet.make_host(str(tmp_path / "host"), control=control)


def capture_exe(tmp_path):
    """An 'azcmagent' that records its argv and the --config file's mode and content."""
    exe = tmp_path / "azcmagent"
    exe.write_text("#!/bin/sh\n"
                   "out=%s\n"
                   "printf '%%s\\n' \"$@\" > \"$out.argv\"\n"
                   "while [ $# -gt 0 ]; do if [ \"$1\" = --config ]; then stat -c %%a \"$2\" > \"$out.mode\"; "
                   "cat \"$2\" > \"$out.content\"; echo \"$2\" > \"$out.path\"; fi; shift; done\n"
                   "echo '{\"status\": \"Connected\"}'\n" % (tmp_path / "cap"))
    exe.chmod(0o755)
    return str(exe)


@settings(max_examples=40, deadline=None)
@given(secret=st.text(st.characters(blacklist_characters="\r\n\x00", blacklist_categories=("Cs",))).map(
    lambda text: "Secret-7f3a" + text))
def test_posix_secret_reaches_a_root_only_file_that_is_removed(tmp_path_factory, secret):
    tmp_path = tmp_path_factory.mktemp("sh")
    exe = capture_exe(tmp_path)
    steps = connect.plan_steps("connect", options(service_principal_secret=secret), "linux")
    script = scripts.build_script("sh", steps, exe)
    assert secret not in script
    proc = subprocess.run(["/bin/sh", "-c", script], input=scripts.stdin_data(steps).encode("utf-8"),
                          capture_output=True, check=False, env=dict(os.environ, TMPDIR=str(tmp_path)))
    assert proc.returncode == 0, proc.stderr
    cap = str(tmp_path / "cap")
    assert json.loads(open(cap + ".content", encoding="utf-8").read()) == {"service-principal-secret": secret}
    assert open(cap + ".mode").read().strip() == "600"
    assert not os.path.exists(open(cap + ".path").read().strip())
    assert secret not in open(cap + ".argv", encoding="utf-8").read()


def test_posix_file_removed_when_connect_fails_or_is_killed(tmp_path):
    exe = tmp_path / "azcmagent"
    exe.write_text("#!/bin/sh\nfor a; do case $a in /*) echo \"$a\" > %s;; esac; done\n"
                   "[ \"$1\" = connect ] && { [ -n \"$HANG\" ] && sleep 30; exit 41; }\necho '{}'\n"
                   % (tmp_path / "path"))
    exe.chmod(0o755)
    steps = connect.plan_steps("connect", options(), "linux")
    for env, timeout in (({}, None), ({"HANG": "1"}, 1)):
        script = scripts.build_script("sh", steps, str(exe), timeout=timeout)
        proc = subprocess.run(["/bin/sh", "-c", script], input=scripts.stdin_data(steps).encode(), capture_output=True,
                              check=False, env=dict(os.environ, TMPDIR=str(tmp_path), **env))
        assert proc.returncode in (41, 124, 137)
        assert not os.path.exists(open(tmp_path / "path").read().strip())


def test_posix_file_removed_on_sigterm(tmp_path):
    import signal
    import time
    exe = tmp_path / "azcmagent"
    exe.write_text("#!/bin/sh\nfor a; do case $a in /*) echo \"$a\" > %s;; esac; done\nsleep 30\n"
                   % (tmp_path / "path"))
    exe.chmod(0o755)
    steps = connect.plan_steps("connect", options(), "linux")
    script = scripts.build_script("sh", steps, str(exe))
    proc = subprocess.Popen(["/bin/sh", "-c", script], stdin=subprocess.PIPE, env=dict(os.environ, TMPDIR=str(tmp_path)))
    proc.stdin.write(scripts.stdin_data(steps).encode())
    proc.stdin.close()
    for _attempt in range(100):
        if os.path.exists(tmp_path / "path") and open(tmp_path / "path").read().strip():
            break
        time.sleep(0.05)
    path = open(tmp_path / "path").read().strip()
    assert os.path.exists(path)
    proc.send_signal(signal.SIGTERM)
    proc.wait(10)
    assert not os.path.exists(path)


def test_powershell_script_shape():
    steps = connect.plan_steps("connect", options(), "windows", name="abcdef0123456789")
    script = scripts.build_script("powershell", steps)
    lines = script.split("\r\n")
    assert "s3cret" not in script
    acl = next(i for i, line in enumerate(lines) if line.startswith("& $I $D0"))
    write = next(i for i, line in enumerate(lines) if "WriteAllText" in line)
    assert acl < write and "'*S-1-5-18:(OI)(CI)F'" in lines[acl] and "'*S-1-5-32-544:(OI)(CI)F'" in lines[acl]
    assert "'/inheritance:r'" in lines[acl]
    assert lines[write + 1] == "try {" and "Remove-Item -LiteralPath $D0 -Recurse -Force" in script
    assert "& $A 'connect' '--config' $C0 " in script


def test_failure_messages():
    out = ("INFO    Exit Code:  AZCM0041: Failed to obtain access token\nINFO    For troubleshooting, see x\n"
           "FATAL   Invalid client secret is provided\n")
    msg, code = connect.failure(41, out, "", "azcmagent connect")
    assert code == "AZCM0041" and "Invalid client secret" in msg and "credentials" in msg
    msg, code = connect.failure(26, "", "AZCM0026: network", "azcmagent connect")
    assert code == "AZCM0026" and "network" in msg
    msg, code = connect.failure(9, "", "", "azcmagent connect")
    assert code is None and "exit code 9" in msg


def test_posix_without_standard_input_runs_nothing(tmp_path):
    exe = capture_exe(tmp_path)
    steps = connect.plan_steps("connect", options(), "linux")
    script = scripts.build_script("sh", steps, exe)
    proc = subprocess.run(["/bin/sh", "-c", script], input=b"", capture_output=True, check=False,
                          env=dict(os.environ, TMPDIR=str(tmp_path)))
    result = scripts.ScriptResult(proc.returncode, proc.stdout.decode(), proc.stderr.decode())
    assert proc.returncode == 1 and scripts.MARK + "nostdin" in result.preamble_stdout and result.steps == []
    assert not os.path.exists(str(tmp_path / "cap.argv"))
    assert not [n for n in os.listdir(tmp_path) if n.startswith("arcguard-secret-")]


def test_posix_with_a_copied_file_uses_it_and_removes_its_folder(tmp_path):
    exe = capture_exe(tmp_path)
    folder = tmp_path / "arcguard-secret-abc"
    folder.mkdir(mode=0o700)
    (folder / "config0.json").write_text('{"service-principal-secret": "s3cret"}\n')
    steps = connect.plan_steps("connect", options(), "linux")
    steps[0][2].placed = str(folder / "config0.json")
    assert scripts.stdin_data(steps) is None
    script = scripts.build_script("sh", steps, exe)
    proc = subprocess.run(["/bin/sh", "-c", script], capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert open(tmp_path / "cap.path").read().strip() == str(folder / "config0.json")
    assert not folder.exists()
