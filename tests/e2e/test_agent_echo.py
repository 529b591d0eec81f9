"""Promise 1 against an agent that talks too much: whatever the agent prints on either stream, no secret reaches any
output, at the top verbosity (Ansible prints the raw remote stdout and stderr there), over local, ssh and winrm.

- ``faults.echo_secrets``: a failing connect quotes its ``--config`` file and the onboarding secret in it, as is on
  standard error and JSON-encoded on standard output; the secrets never travel in a URL, so only the target-side
  filter of literal secret values (``_scripts.hidden_forms``) stands between them and the output.
- ``faults.proxy_on_stderr``: every ``config`` command logs the configured proxy URL with its password on standard
  error; on Windows that stream used to leave the target unfiltered.
"""

import pytest

from tests.lib import harness

pytestmark = pytest.mark.hostile

TENANT = "11111111-1111-1111-1111-111111111111"
SUB = "22222222-2222-2222-2222-222222222222"
APP = "44444444-4444-4444-4444-444444444444"
# every character that is special to a shell, JSON, PowerShell, regular expressions, URLs or awk's gsub
SECRET = "Sp-s3cr3t'\"\\%2F&\\1$&.*[a-z]{2}|^()~`;<>\u00e9\u4e2d\U0001F600-end"
TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOi.PAYLOAD'\\&%41.sig-" + "t" * 60
PASSWORD = "pw'\\%41&$1.*\u00e9\u4e2d"
OLD_PASSWORD = "old'\\&%2F\u00fc-pw"


def connect_task(target, credential):
    args = dict(tenant_id=TENANT, subscription_id=SUB, resource_group="rg-arc", location="westeurope")
    if credential == "secret":
        args.update(service_principal_id=APP, service_principal_secret=SECRET)
    else:
        args.update(access_token=TOKEN)
    return {"name": "onboard", "arcguard.azcmagent.azcmagent_connect": target.args(**args)}


@pytest.mark.parametrize("credential", ["secret", "token"])
def test_agent_echoing_its_credentials_on_failure_leaks_nothing(target, tmp_path_factory, credential):
    target.write_control({"connected": "Disconnected", "hostname": "web01",
                          "credentials": {"service_principals": {APP: SECRET}, "access_tokens": [TOKEN]},
                          "faults": {"echo_secrets": True,
                                     "fail_connect": {"rc": 41, "message": "Invalid client secret is provided"}}})
    value = SECRET if credential == "secret" else TOKEN
    out = harness.run(tmp_path_factory.mktemp("echo"), target, [connect_task(target, credential)], verbosity=6,
                      env={"JUNIT_HIDE_TASK_ARGUMENTS": "true"})
    result = out.results.get("r0") or {}
    assert result.get("failed") is True and result.get("rc") == 41, (result, out.stdout[-3000:])
    assert not harness.leaks([value], out), harness.leaks([value], out)
    # the agent did echo it: what came back is the redacted form, on the stream the agent used
    key = "service-principal-secret" if credential == "secret" else "access-token"
    assert "the credentials were refused: --%s ********" % key in out.stdout, out.stdout[-3000:]


def test_agent_logging_its_proxy_on_standard_error_leaks_nothing(target, tmp_path_factory):
    target.write_control({"faults": {"proxy_on_stderr": True}})
    target.set_state({"proxy.url": "http://arc-old:%s@old-proxy.example.com:8080" % OLD_PASSWORD})
    url = "http://arc-svc:%s@proxy.example.com:3128" % PASSWORD
    tasks = [{"name": "proxy", "arcguard.azcmagent.azcmagent_config": target.args(proxy_url=url)},
             {"name": "info", "register": "info", "arcguard.azcmagent.azcmagent_info": target.args()}]
    work = tmp_path_factory.mktemp("stderr")
    for name, changed in (("first", True), ("second", False)):
        out = harness.run(work, target, tasks, verbosity=6, env={"JUNIT_HIDE_TASK_ARGUMENTS": "true"}, name=name)
        result = out.results.get("r0") or {}
        assert result.get("failed") is not True and result.get("changed") is changed, (result, out.stdout[-3000:])
        assert not harness.leaks([PASSWORD, OLD_PASSWORD], out), harness.leaks([PASSWORD, OLD_PASSWORD], out)
        assert target.state().get("proxy.url") == url
        if target.connection == "winrm":
            # winrm prints the raw remote output at this verbosity: the agent's log line is there, its user
            # information replaced on the target
            assert "DEBUG   using proxy http://arcguard-redacted" in out.stdout, out.stdout[-3000:]
