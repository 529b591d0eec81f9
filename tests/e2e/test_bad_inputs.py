"""Promise: every bad input ends in a message naming the option and what is wrong with the value, before anything
runs on the target; never a Python exception, never a hang. One playbook run per module holds the whole table.
"""

import pytest

from tests.lib import harness

pytestmark = pytest.mark.hostile

SECRET = "Pw-s3cr3t\u00e9\"x"
# (options, words the message must contain)
CONFIG_CASES = [
    ({"proxy_url": "http://[::1:3128"}, ["proxy_url", "IPv6"]),
    ({"proxy_url": "http://arc:%s@[fe80::1:3128" % SECRET}, ["proxy_url", "IPv6"]),
    ({"proxy_url": "http://]::1[:80"}, ["proxy_url"]),
    ({"proxy_url": "http://proxy:99999"}, ["proxy_url", "port"]),
    ({"proxy_url": "http://arc:%s@proxy:port" % SECRET}, ["proxy_url", "port"]),
    ({"proxy_url": "ftp://proxy:21"}, ["proxy_url", "http://host:port"]),
    ({"proxy_url": "http://"}, ["proxy_url"]),
    ({"proxy_url": "http://arc:%s@" % SECRET}, ["proxy_url"]),
    ({"proxy_url": "http://arc:%s/x@proxy:3128" % SECRET}, ["proxy_url", "percent-encode"]),
    ({"proxy_url": "http://arc:%s\u0007@proxy:3128" % SECRET}, ["proxy_url", "control character"]),
    ({"proxy_url": "http://arc:%s\n@proxy:3128" % SECRET}, ["proxy_url"]),
    ({"proxy_url": "http://arc:%s x@proxy:3128" % SECRET}, ["proxy_url", "white space"]),
    ({"proxy_url": {"url": "http://proxy:3128"}}, ["proxy_url"]),
    ({"settings": "proxy.url"}, ["settings"]),
    ({"settings": ["proxy.url"]}, ["settings"]),
    ({"settings": {"proxy.url": ["http://proxy:3128"]}}, ["proxy.url"]),
    ({"settings": {"proxy.url": {"a": 1}}}, ["proxy.url"]),
    ({"settings": {"proxy.url": 3128}}, ["proxy.url"]),
    ({"settings": {"proxy.url": "http://arc:%s@[::1" % SECRET}}, ["proxy.url", "IPv6"]),
    ({"settings": {"": "x"}}, ["settings"]),
    ({"settings": {"extensions.agent.cpulimit": "abc"}}, ["extensions.agent.cpulimit"]),
    ({"settings": {"extensions.agent.cpulimit": 1000}}, ["extensions.agent.cpulimit"]),
    ({"settings": {"extensions.agent.cpulimit": [1]}}, ["extensions.agent.cpulimit"]),
    ({"settings": {"config.mode": ["full"]}}, ["config.mode"]),
    ({"settings": {"extensions.allowlist": {"a": 1}}}, ["extensions.allowlist"]),
    ({"settings": {"guestconfiguration.enabled": "perhaps"}}, ["guestconfiguration.enabled"]),
    ({"profile": ["defender"]}, ["profile"]),
    ({"profile": {"name": "defender"}}, ["profile"]),
    ({"profile": 5}, ["profile"]),
    ({"profile": "corp", "profiles": {"corp": "full"}}, ["profile", "corp"]),
    ({"profile": "corp", "profiles": {"corp": {"options": ["x"]}}}, ["profile", "corp"]),
    ({"profile": "corp", "profiles": {"corp": {"options": {"proxy_url": ["x"]}}}}, ["proxy_url"]),
    ({"profile": "corp", "profiles": {"corp": {"options": {"proxy_url": "http://arc:%s@[::1" % SECRET}}}},
     ["proxy_url", "IPv6"]),
    ({"profile": "corp", "profiles": {"corp": {"options": {"executable": "/bin/sh"}}}}, ["executable"]),
    ({"profiles": "corp"}, ["profiles"]),
    ({"overrides": {"mode": "full"}}, ["overrides", "profile"]),
    ({"profile": "defender", "overrides": {"nonsense": 1}}, ["overrides", "nonsense"]),
    ({"profile": "defender", "overrides": ["mode"]}, ["overrides"]),
    ({"executable": "~/bin/azcmagent"}, ["executable", "~"]),
    ({"executable": "bin/azcmagent"}, ["executable", "absolute"]),
    ({"executable": "/opt/azcmagent/bin/azcmagent\nrm -rf /"}, ["executable"]),
    ({"extensions_path": "~/waagent", "remove_blocked": True, "extensions_blocklist": ["custom_script"]},
     ["extensions_path", "~"]),
    ({"timeout": -1}, ["timeout"]),
    ({"timeout": "soon"}, ["timeout"]),
    ({"wait_timeout": -5}, ["wait_timeout"]),
    ({"mode": "Full"}, ["mode"]),
    ({"mode": ["full"]}, ["mode"]),
    ({"list_action": "append", "extensions_allowlist": ["custom_script"]}, ["list_action"]),
    ({"extensions_allowlist": [["custom_script"]]}, ["extensions_allowlist"]),
    ({"extensions_allowlist": [{"name": "custom_script"}]}, ["extensions_allowlist"]),
    ({"extensions_blocklist": [None]}, ["extensions_blocklist"]),
    ({"incomingconnections_ports": ["ssh"]}, ["incomingconnections_ports"]),
    ({"incomingconnections_ports": [70000]}, ["incomingconnections_ports"]),
    ({"incomingconnections_ports": {"a": 22}}, ["incomingconnections_ports"]),
    ({"proxy_bypass": ["ARM", 5]}, ["proxy_bypass"]),
    ({"remove_blocked": "perhaps"}, ["remove_blocked"]),
    ({"strict": "perhaps"}, ["strict"]),
]
INFO_CASES = [
    ({"executable": "~/bin/azcmagent"}, ["executable", "~"]),
    ({"timeout": "soon"}, ["timeout"]),
    ({"timeout": -3}, ["timeout"]),
    ({"extensions_path": "~/waagent"}, ["extensions_path", "~"]),
]


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    host = harness.Target("local", tmp_path_factory.mktemp("host"))
    host.set_state({"proxy.url": "http://arc:old-%s@old.example:8080" % SECRET})
    yield host
    host.stop()


def _run_table(local, tmp_path, module, cases):
    tasks = []
    for index, (options, _words) in enumerate(cases):
        options = dict(options)
        if "executable" not in options:
            options["executable"] = local.executable
        tasks.append({"name": "case %d" % index, "register": "r%d" % index,
                      "timeout": 60, "arcguard.azcmagent.%s" % module: options})
    before = local.state()
    out = harness.run(tmp_path, local, tasks, verbosity=3)
    problems = []
    for index, (options, words) in enumerate(cases):
        result = out.results.get("r%d" % index) or {}
        msg = str(result.get("msg", ""))
        if result.get("failed") is not True or "Traceback" in str(result.get("exception", "")) + msg:
            problems.append((index, options, result))
        elif not all(w.lower() in msg.lower() for w in words):
            problems.append((index, options, "message lacks %s: %s" % (words, msg)))
    assert not problems, "\n".join(map(repr, problems))
    assert local.state() == before
    assert "Traceback" not in out.stdout + out.stderr
    assert not harness.leaks([SECRET], out), harness.leaks([SECRET], out)
    return out


def test_config_bad_inputs(local, tmp_path):
    _run_table(local, tmp_path, "azcmagent_config", CONFIG_CASES)


def test_info_bad_inputs(local, tmp_path):
    _run_table(local, tmp_path, "azcmagent_info", INFO_CASES)
