"""Hostile and malformed input through ansible-playbook: clean failure, agent untouched, nothing injected runs."""


import pytest

from tests.lib.playbook import run
from tests.lib import fleet


def hostile(marker):
    return [
        ("extensions_allowlist", ["a/$(touch %s)" % marker]),
        ("extensions_allowlist", ["a/b`touch %s`" % marker]),
        ("extensions_allowlist", ["a/b; touch %s" % marker]),
        ("extensions_blocklist", ["a/b' ; touch %s ; '" % marker]),
        ("extensions_blocklist", ["a/b\ntouch %s" % marker]),
        ("extensions_allowlist", ["Microsoft.Azure.Monitor\u2215AzureMonitorLinuxAgent"]),
        ("extensions_allowlist", ["\u201cMicrosoft.Azure.Monitor/AzureMonitorLinuxAgent\u201d"]),
        ("extensions_allowlist", ["NoSlashHere"]),
        ("extensions_allowlist", ["a/b/c"]),
        ("extensions_allowlist", ["Allow/None", "a/b"]),
        ("extensions_allowlist", ["not_an_alias"]),
        ("proxy_url", "http://proxy:3128/$(touch %s)" % marker),
        ("proxy_url", "http://proxy:3128; touch %s" % marker),
        ("proxy_url", "-j"),
        ("proxy_bypass", ["ARM;touch %s" % marker]),
        ("incomingconnections_ports", [0]),
        ("incomingconnections_ports", [70000]),
        ("guestconfiguration_enabled", "perhaps"),
        ("settings", {"unknown.property": "x"}),
        ("settings", {"extensions.agent.cpulimit": "$(touch %s)" % marker}),
        ("settings", {"config.mode": "monitor; touch %s" % marker}),
        ("mode", "monitor"),
    ]


CASES = list(range(len(hostile("M"))))


@pytest.mark.parametrize("case", CASES)
def test_hostile_input_fails_cleanly_and_changes_nothing(tmp_path, case):
    marker = tmp_path / "PWNED"
    option, value = hostile(str(marker))[case]
    root = str(tmp_path / "host")
    exe = fleet.make_host(root, state={"extensions.allowlist": ["Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"]})
    before = open(fleet.state_file(root)).read()
    args = {"executable": exe, option: value}
    if option == "mode":
        args["extensions_blocklist"] = ["custom_script"]
    result = run(tmp_path, [{"arcguard.azcmagent.azcmagent_config": args}]).result()
    assert result["failed"] is True, result
    assert result.get("changed") is False
    assert result["msg"]
    assert open(fleet.state_file(root)).read() == before
    assert all(e["argv"][:2] == ["config", "list"] for e in fleet.read_log(root))
    assert not marker.exists()


def test_proxy_credentials_never_appear_even_at_vvvv(tmp_path):
    root = str(tmp_path / "host")
    exe = fleet.make_host(root)
    secret = "Sup3rS3cretPw"
    task = {"arcguard.azcmagent.azcmagent_config": {"executable": exe, "proxy_url": "http://arcsvc:%s@proxy.example.com:3128" % secret}}
    out = run(tmp_path, [task], verbosity=4, diff=True)
    assert out.rc == 0, out.stdout[-3000:]
    assert out.result()["changed"] is True
    assert secret not in out.stdout and secret not in out.stderr
    assert "arcsvc:" not in out.stdout
    # the agent did receive it
    state = fleet.read_state(root)
    assert state["proxy.url"] == "http://arcsvc:%s@proxy.example.com:3128" % secret
    # a failure does not leak it either
    fleet.write_control(root, {"faults": {"fail_set": {"property": "proxy.url", "rc": 69}}})
    task["arcguard.azcmagent.azcmagent_config"]["proxy_url"] = "http://arcsvc:%s@proxy2.example.com:3128" % secret
    out = run(tmp_path, [task], verbosity=4)
    assert out.result()["failed"]
    assert secret not in out.stdout and secret not in out.stderr


def test_vvv_shows_every_azcmagent_argv_and_its_rc_never_a_secret(tmp_path):
    root = str(tmp_path / "host")
    exe = fleet.make_host(root)
    secret = "Vvv-S3cretPw"
    task = {"arcguard.azcmagent.azcmagent_config": {
        "executable": exe, "guestconfiguration_enabled": False,
        "proxy_url": "http://arcsvc:%s@proxy.example.com:3128" % secret}}
    out = run(tmp_path, [task], verbosity=3)
    assert out.rc == 0 and out.result()["changed"] is True, out.stdout[-3000:]
    assert secret not in out.stdout and secret not in out.stderr
    shown = [line.split("azcmagent: ", 1)[1] for line in out.stdout.splitlines() if "> azcmagent: step " in line]
    ran = [e["argv"] for e in fleet.read_log(root)]
    assert len(ran) == 4
    # each invocation, as it ran (the password redacted), before it runs and with its exit code after
    for argv in ran:
        words = ["'http://********@proxy.example.com:3128'" if a.startswith("http://") else a for a in argv]
        command = " ".join([exe] + words)
        assert any(line.endswith(command) for line in shown), (command, shown)
        assert any(line.endswith(command + ": rc=0") for line in shown), (command, shown)
    assert fleet.read_state(root)["proxy.url"].endswith(secret + "@proxy.example.com:3128")
