"""What the onboarding tests share: the identities a stand-in knows, a host that knows them, and the check
that a secret reached no argv and no output."""

import json

from tests.lib import fleet

TENANT = "11111111-1111-1111-1111-111111111111"
SUB = "22222222-2222-2222-2222-222222222222"
OTHER_SUB = "33333333-3333-3333-3333-333333333333"
APP = "44444444-4444-4444-4444-444444444444"
SECRET = "Sp-s3cret'\"$(touch /tmp/pwned)`x`;|&<>*?~!%^=+,{}[]"
TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOi.TOKENPAYLOAD.sig-" + "x" * 120


def host(tmp_path, connected="Disconnected", variants=None, faults=None, **control):
    root = str(tmp_path / "host")
    control = dict(control, connected=connected, variants=variants or {}, faults=faults or {},
                   credentials={"service_principals": {APP: SECRET}, "access_tokens": [TOKEN]}, hostname="web01")
    exe = fleet.make_host(root, control=control)
    return root, exe


def invocations(root):
    return fleet.read_log(root)


def assert_no_secret(root, proc, *secrets):
    for secret in secrets:
        for entry in invocations(root):
            assert secret not in json.dumps(entry["argv"])
        assert secret not in proc.stdout and secret not in proc.stderr
