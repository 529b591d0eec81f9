"""azcmagent_connect over a connection that drops standard input (as containers.podman.podman does): the
--config file is copied into a private folder first, and the target-side filter still hides the secrets an
agent quotes back, reading their forms from that folder; the folder is gone afterwards."""

import json
import os
import shutil

import pytest

from tests.lib.actions import Target
from tests.lib.onboarding import APP, SUB, TENANT

pytestmark = pytest.mark.onboarding

SECRET = "Sp-s3cr3t'\"\\%2F&\\1$&.*[a-z]|^()~`;<>\u00e9\u4e2d-end"


class DroppingStdin(Target):
    """A Linux stand-in host whose connection runs every command with an empty standard input, and copies files."""

    outputs = ()

    def __call__(self, cmd, sudoable=True, in_data=None):
        out = super().__call__(cmd, sudoable, b"" if in_data is not None else None)
        self.outputs = list(self.outputs) + [out["stdout"], out["stderr"]]
        return out


@pytest.mark.parametrize("fails", [True, False], ids=["agent fails and quotes the secret", "agent connects"])
def test_copied_config_file_keeps_the_secret_hidden_and_is_removed(tmp_path, fails):
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    faults = {"echo_secrets": True}
    if fails:
        faults["fail_connect"] = {"rc": 41, "message": "Invalid client secret is provided"}
    target = DroppingStdin(tmp_path / "host", control={
        "connected": "Disconnected", "hostname": "web01", "faults": faults,
        "credentials": {"service_principals": {APP: SECRET}}})
    args = dict(tenant_id=TENANT, subscription_id=SUB, resource_group="rg-arc", location="westeurope",
                service_principal_id=APP, service_principal_secret=SECRET, executable=target.exe)
    action = target.action("azcmagent_connect", args, environment=[{"TMPDIR": str(tmpdir)}])
    action._connection.put_file = shutil.copyfile
    target.commands, target.stdin = [], []
    result = action.run(task_vars={})
    # the first script stopped for want of standard input; the folder was made; the run went on with the file
    marks = ["nostdin" if "##arcguard:nostdin" in o else "folder" if "##arcguard:folder" in o else "" for o in
             target.outputs]
    assert "nostdin" in marks and marks.index("folder") > marks.index("nostdin"), target.outputs
    assert bool(result.get("failed")) is fails, result
    if fails:
        assert result["rc"] == 41
    # what came back from the target, as the connection saw it (Ansible prints it raw at high verbosity)
    for text in target.commands + list(target.outputs) + [json.dumps(result)]:
        assert SECRET not in text and json.dumps(SECRET)[1:-1] not in text
    if fails:   # the agent did quote it: the target replaced it
        assert "read configuration file" in "".join(target.outputs) and "********" in "".join(target.outputs)
    assert not os.listdir(tmpdir), "the private folder was left behind"
