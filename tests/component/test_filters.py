"""The target-side output filters against the agent's own output: the POSIX awk filter (under dash and bash) and
the PowerShell one (run by the WinRM test endpoint's interpreter) print the same lines, no password survives
either, and the token says whether the user information equals the one asked for.

Passwords here hold anything a line can (quotes, backslashes, @, /, %, spaces, non-ASCII), also characters the
module itself refuses: the filter must not depend on that validation.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

from hypothesis import given, settings, strategies as st

import pytest

from tests.lib.winrm_endpoint import Host, install_agent, run_script

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _scripts as scripts
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _script_filter as target_filter

pytestmark = pytest.mark.hostile

SHELLS = [s for s in ("dash", "bash") if shutil.which(s)]
ALPHABET = st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters="\u0085") | \
    st.sampled_from("\"\\@/:%'`$&<>{}[]# \t")


def go_json(value):
    return '"%s"' % target_filter._json_escaped(value, html=True, separators=True)


def layouts(url):
    """The agent's lines that carry the URL: config list --json (Python's and Go's encoders), the text layout,
    config set's confirmation."""
    doc = [{"Key": "incomingconnections.ports", "Value": []}, {"Key": "proxy.url", "Value": url},
           {"Key": "extensions.allowlist", "Value": ["Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"]}]
    return [json.dumps({"LocalSettings": doc}), json.dumps({"LocalSettings": doc}, ensure_ascii=False),
            '{"LocalSettings":[{"Key":"proxy.url","Value":%s}]}' % go_json(url),
            "  %-53s : %s" % ("proxy.url", url),
            "Config property proxy.url set to value %s" % url]


def expected(line_kind, token):
    return "http://%s@proxy.example.com:3128" % token


def posix_output(lines, mask, shell):
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "out.txt")
        with open(data, "w", encoding="utf-8") as handle:
            handle.write("".join(line + "\n" for line in lines))
        agent = os.path.join(tmp, "azcmagent")
        with open(agent, "w") as handle:
            handle.write("#!/bin/sh\ncat '%s'\n" % data)
        os.chmod(agent, 0o755)
        steps = [["config", "list"]]
        script = scripts.posix_script(steps, executable=agent, mask=mask)
        proc = subprocess.run([shell, "-c", script], input=(scripts.stdin_data(steps, mask) or "").encode("utf-8"),
                              capture_output=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    result = scripts.ScriptResult(0, proc.stdout.decode("utf-8", "surrogateescape"), "")
    return result.step(1).stdout.splitlines()


def powershell_output(lines, mask):
    with tempfile.TemporaryDirectory() as tmp:
        install_agent(tmp)
        data = os.path.join(tmp, "out.txt")
        with open(data, "w", encoding="utf-8") as handle:
            handle.write("".join(line + "\n" for line in lines))
        host = Host(tmp, [sys.executable, "-c", "import sys; sys.stdout.buffer.write(open(sys.argv[1], 'rb').read())",
                          data])
        steps = [["config", "list"]]
        rc, out, err = run_script(host, scripts.powershell_script(steps, mask=mask),
                                  (scripts.stdin_data(steps, mask) or "").encode("utf-8"))
    assert rc == 0, err
    result = scripts.ScriptResult(0, out.decode("utf-8").replace("\r\n", "\n"), "")
    return result.step(1).stdout.splitlines()


@settings(max_examples=40, deadline=None)
@given(user=st.text(ALPHABET, min_size=1, max_size=8), password=st.text(ALPHABET, min_size=8, max_size=24),
       asked=st.sampled_from(["same", "other", "none"]))
def test_filters_agree_hide_every_password_and_tell_same_from_other(user, password, asked):
    userinfo = "%s:%s" % (user, password)
    url = "http://%s@proxy.example.com:3128" % userinfo
    lines = layouts(url) + ["no URL here", "two http://a:%s@one and https://b:%s@two" % (password, password)]
    wanted = {"same": url, "other": "http://%s:x%s@proxy.example.com:3128" % (user, password), "none": None}[asked]
    mask = target_filter.mask_for(wanted) if wanted else scripts.NO_MASK
    token = scripts.SAME_TOKEN if asked == "same" else scripts.OTHER_TOKEN
    ps = powershell_output(lines, mask)
    for shell in SHELLS:
        assert posix_output(lines, mask, shell) == ps, shell
    text = "\n".join(ps)
    assert password not in text
    for encoded in (json.dumps(password)[1:-1], json.dumps(password, ensure_ascii=False)[1:-1],
                    target_filter._json_escaped(password, html=True, separators=True)):
        assert encoded not in text
    # every layout of the proxy URL shows the token and the host, and nothing of the URL is lost
    for line in ps[:5]:
        assert "http://%s@proxy.example.com:3128" % token in line, line
    assert ps[5] == "no URL here"


def test_filter_keeps_output_without_credentials_byte_for_byte():
    lines = ['{"LocalSettings":[{"Key":"proxy.url","Value":"http://proxy.example.com:3128"}]}',
             "  proxy.url   : http://proxy.example.com:3128", "caf\u00e9 \u4e2d"]
    for shell in SHELLS:
        assert posix_output(lines, scripts.NO_MASK, shell) == lines
    assert powershell_output(lines, scripts.NO_MASK) == lines
