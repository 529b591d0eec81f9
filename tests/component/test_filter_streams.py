"""The target-side filter on both of the agent's streams, for proxy credentials and for the onboarding secrets, under
every awk a POSIX target may have and in PowerShell (the WinRM test endpoint's interpreter).

The fake agent here prints given lines on standard output and others on standard error, as a verbose or failing
agent might: the proxy URL (with its user information) and the secrets of the ``--config`` file as they are,
JSON-encoded and percent-encoded. What leaves the target (the raw bytes of both streams, which Ansible prints at high
verbosity) must hold none of them, and the controller must still split both streams per step.

Every awk named in AWKS is installed by ``scripts/bootstrap.sh sshd`` (the component the hostile suite uses); a
missing one fails the test in CI (``CI`` set) and is skipped elsewhere.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.parse

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.lib.winrm_endpoint import Host, install_agent, run_script

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _scripts as scripts
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _script_filter as target_filter

pytestmark = pytest.mark.hostile

# Debian's default (mawk), GNU awk, BusyBox awk (Alpine, embedded systems), the one true awk (BSD, macOS)
AWKS = {"mawk": ["mawk"], "gawk": ["gawk"], "busybox": ["busybox", "awk"], "original-awk": ["original-awk"]}
# everything a secret line can hold: quotes, backslashes, %-escapes, &, regular expression and awk metacharacters,
# non-ASCII and control characters (no line breaks: a secret file holds one line)
HARD = "\"'\\%&$^.*+?()[]{}|/@:#~`<>;, \t\x01\x1b\x7f"
ALPHABET = st.sampled_from(HARD) | st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r\x00")


def awk_dir(name, tmp):
    """A folder with ``awk`` running the awk called ``name``, to put first on PATH."""
    argv = AWKS[name]
    found = shutil.which(argv[0])
    if not found:
        message = "%s is not installed (scripts/bootstrap.sh sshd installs it)" % argv[0]
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    folder = os.path.join(tmp, "awk-" + name)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "awk"), "w") as handle:
        handle.write('#!/bin/sh\nexec %s "$@"\n' % " ".join("'%s'" % a if a != argv[0] else "'%s'" % found
                                                            for a in argv))
    os.chmod(os.path.join(folder, "awk"), 0o755)
    return folder


def write_agent(tmp, out_lines, err_lines):
    """Data files the fake agent prints: its standard output and its standard error."""
    paths = []
    for name, lines in (("out", out_lines), ("err", err_lines)):
        path = os.path.join(tmp, name + ".bin")
        with open(path, "wb") as handle:
            handle.write(b"".join(line.encode("utf-8", "surrogatepass") + b"\n" for line in lines))
        paths.append(path)
    return paths


def posix_run(steps, mask, out_lines, err_lines, awk="mawk", shell="sh"):
    """(ScriptResult, raw stdout bytes, raw stderr bytes) of the POSIX script with the fake agent."""
    with tempfile.TemporaryDirectory() as tmp:
        out, err = write_agent(tmp, out_lines, err_lines)
        agent = os.path.join(tmp, "azcmagent")
        with open(agent, "w") as handle:
            handle.write("#!/bin/sh\ncat '%s'\ncat '%s' >&2\nexit 3\n" % (out, err))
        os.chmod(agent, 0o755)
        env = dict(os.environ, PATH=awk_dir(awk, tmp) + os.pathsep + os.environ["PATH"])
        proc = subprocess.run([shell, "-c", scripts.posix_script(steps, executable=agent, mask=mask)],
                              input=(scripts.stdin_data(steps, mask) or "").encode("utf-8"), env=env,
                              capture_output=True, timeout=60, check=False)
    assert proc.returncode == 3, proc.stderr[-2000:]
    result = scripts.ScriptResult(proc.returncode, proc.stdout.decode("utf-8", "surrogateescape"),
                                  proc.stderr.decode("utf-8", "surrogateescape"))
    return result, proc.stdout, proc.stderr


def powershell_run(steps, mask, out_lines, err_lines):
    with tempfile.TemporaryDirectory() as tmp:
        install_agent(tmp)
        out, err = write_agent(tmp, out_lines, err_lines)
        code = ("import sys; sys.stdout.buffer.write(open(sys.argv[1], 'rb').read()); sys.stdout.flush(); "
                "sys.stderr.buffer.write(open(sys.argv[2], 'rb').read()); sys.exit(3)")
        host = Host(tmp, [sys.executable, "-c", code, out, err])
        rc, raw_out, raw_err = run_script(host, scripts.powershell_script(steps, mask=mask),
                                          (scripts.stdin_data(steps, mask) or "").encode("utf-8"))
    assert rc == 3, raw_err[-2000:]
    result = scripts.ScriptResult(rc, raw_out.decode("utf-8").replace("\r\n", "\n"),
                                  raw_err.decode("utf-8").replace("\r\n", "\n"))
    return result, raw_out, raw_err


def secret_forms(value):
    """How an agent could print a secret: as is, JSON-encoded (Go's and Python's encoders), percent-encoded."""
    forms = [value, urllib.parse.quote(value, safe="")] + target_filter.json_forms(value)
    return list(dict.fromkeys(forms))


def leaked(value, *blobs):
    """The forms of ``value`` found in the raw bytes ``blobs`` (as UTF-8)."""
    return [f for f in secret_forms(value) for blob in blobs if f.encode("utf-8", "surrogatepass") in blob]


def connect_steps(secret, key="service-principal-secret"):
    document = json.dumps({key: secret}, sort_keys=True, ensure_ascii=True)
    return [["connect", "--config", scripts.SecretFile(document, "a1b2c3d4e5f6a7b8"), "--tenant-id", "t"]]


def echo_lines(secret, document):
    """What an agent echoing its --config file and the secret on failure prints (each form on a line of its own and
    inside text, JSON and log lines)."""
    lines = ["FATAL   the credentials were refused: --service-principal-secret %s" % secret,
             "DEBUG   read configuration file: %s" % document,
             json.dumps({"level": "error", "msg": "refused", "secret": secret}),
             json.dumps({"level": "error", "secret": secret}, ensure_ascii=False),
             "token=%s&x=1" % urllib.parse.quote(secret, safe="")]
    return lines + ["before %s after" % f for f in secret_forms(secret)]


RUNNERS = ["powershell"] + ["awk:" + name for name in AWKS]


def run_with(runner, steps, mask, out_lines, err_lines):
    if runner == "powershell":
        return powershell_run(steps, mask, out_lines, err_lines)
    return posix_run(steps, mask, out_lines, err_lines, awk=runner.split(":", 1)[1])


@pytest.mark.parametrize("runner", RUNNERS)
def test_proxy_credentials_on_standard_error_are_filtered_and_streams_stay_apart(runner):
    password = "p@ss'\"\\%41&$1\u00e9\u4e2d"
    url = "http://arc-svc:%s@proxy.example.com:3128" % password
    if runner == "powershell":
        url = url.replace('"', "")
        password = password.replace('"', "")
    out_lines = ["  proxy.url : %s" % url, "stdout only"]
    err_lines = ["DEBUG   using proxy %s" % url, json.dumps({"level": "debug", "proxy": url}), "stderr only"]
    for mask, token in ((target_filter.mask_for(url), scripts.SAME_TOKEN), (scripts.NO_MASK, scripts.OTHER_TOKEN)):
        result, raw_out, raw_err = run_with(runner, [["config", "list"]], mask, out_lines, err_lines)
        assert not leaked(password, raw_out, raw_err)
        step = result.step(1)
        assert step.rc == 3
        assert step.stdout.splitlines() == ["  proxy.url : http://%s@proxy.example.com:3128" % token, "stdout only"]
        assert step.stderr.splitlines()[0] == "DEBUG   using proxy http://%s@proxy.example.com:3128" % token
        assert step.stderr.splitlines()[2] == "stderr only"
        assert "stdout only" not in step.stderr and "stderr only" not in step.stdout


@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize("key", ["service-principal-secret", "access-token"])
def test_onboarding_secret_echoed_by_the_agent_never_leaves_the_target(runner, key):
    secret = "S3cr3t~'\\\"%2F&\\1$&.*[a-z]{2}\u00e9\u4e2d\x01\tend"
    if runner == "powershell":
        secret = secret.replace('"', "")
    steps = connect_steps(secret, key)
    document = steps[0][2].value
    result, raw_out, raw_err = run_with(runner, steps, scripts.NO_MASK, echo_lines(secret, document),
                                        echo_lines(secret, document) + ["plain line & \\1 stays"])
    assert not leaked(secret, raw_out, raw_err), leaked(secret, raw_out, raw_err)
    assert not leaked(document, raw_out, raw_err)
    step = result.step(1)
    assert step.rc == 3
    assert step.stderr.splitlines()[-1] == "plain line & \\1 stays"
    assert step.stdout.splitlines()[0] == "FATAL   the credentials were refused: --service-principal-secret " + \
        target_filter.REDACTED
    # the script itself never holds the secret: it comes on standard input
    for shell in ("posix", "powershell"):
        script = scripts.build_script(shell, steps)
        assert not [f for f in secret_forms(secret) if f in script]


@pytest.mark.parametrize("runner", RUNNERS)
@settings(max_examples=int(os.environ.get("HOSTILE_EXAMPLES", "12")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(secret=st.text(ALPHABET, min_size=8, max_size=24), password=st.text(ALPHABET, min_size=6, max_size=16),
       noise=st.text(ALPHABET, min_size=1, max_size=20))
def test_filter_property_over_secret_alphabets(runner, secret, password, noise):
    """Whatever the secret and the proxy password hold, none of their forms leaves the target on either stream,
    the proxy token still says same, and a line holding neither comes through unchanged."""
    if runner == "powershell":
        # the module refuses double quotes in values bound for Windows (PowerShell 5.1 cannot pass them)
        secret, password, noise = (secret.replace('"', "") + "xxxxxxxx")[:24], password.replace('"', "") or "xxxxxx", \
            noise.replace('"', "")
    # a character no fixed output holds, so that finding the password in the output means it leaked
    password = "\u00a7" + password
    url = "http://u:%s@proxy.example.com:3128" % password
    steps = connect_steps(secret) + [["config", "list"]]
    mask = target_filter.mask_for(url)
    document = steps[0][2].value
    lines = echo_lines(secret, document) + ["  proxy.url : %s" % url]
    result, raw_out, raw_err = run_with(runner, steps[:1], mask, lines, lines)
    assert not leaked(secret, raw_out, raw_err)
    assert not [f for f in target_filter.json_forms(password) + [password] if f.encode("utf-8") in raw_out + raw_err]
    for text in (result.step(1).stdout, result.step(1).stderr):
        assert text.splitlines()[-1] == "  proxy.url : http://%s@proxy.example.com:3128" % scripts.SAME_TOKEN
    # a line with no URL and no secret in it is not touched (unless it happens to contain the secret)
    if not [f for f in secret_forms(secret) if f in noise] and "://" not in noise:
        plain, _o, _e = run_with(runner, steps[:1], scripts.NO_MASK, [noise], [noise])
        # (POSIX keeps the agent's own last newline, PowerShell writes lines)
        assert plain.step(1).stdout.rstrip("\n") == noise and plain.step(1).stderr.rstrip("\n") == noise
