"""arc_extension_cleanup's engine without Azure: which resources go, and the ARM conversation (a session double)."""

import pytest

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _azure as azure
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _extcleanup as cleanup
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _extensions as ext
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _naming as naming

pytestmark = pytest.mark.azure

SUB = "11111111-aaaa-4aaa-8aaa-000000000001"
CSE = "Microsoft.Compute/CustomScriptExtension"
AMA = "Microsoft.Azure.Monitor/AzureMonitorWindowsAgent"


def mid(name, rg="rg1"):
    return "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.HybridCompute/machines/%s" % (SUB, rg, name)


def machine(name, rg="rg1", exts=(), cfg=None):
    m = {"name": name, "resource_id": mid(name, rg), "resource_group": rg, "subscription_id": SUB,
         "os_type": "windows", "agent_configuration": cfg or {"extensions.allowlist": [AMA], "extensions.blocklist": [],
                                                              "extensions.enabled": True, "config.mode": "full"}}
    rows = []
    for full, state in exts:
        publisher, _s, ext_type = full.partition("/")
        rows.append({"id": m["resource_id"] + "/extensions/" + ext_type, "name": ext_type, "publisher": publisher,
                     "extensionType": ext_type, "provisioningState": state})
    ext.attach([m], rows)
    return m


def fleet():
    return [machine("web01", "rg-a", [(CSE, "Succeeded"), (AMA, "Succeeded")]),
            machine("web01", "rg-b", [(CSE, "Failed"), (AMA, "Failed")]),
            machine("dc01", "rg-c", [(CSE, "Deleting")]),
            machine("all", "rg-d", [(CSE, "Failed")])]


def host_of(machines):
    return naming.host_names(machines).host


@pytest.mark.parametrize("classes, expected", [
    (["installed_but_blocked", "refused_by_lockdown"], {("rg-a", "CustomScriptExtension"), ("rg-b", "CustomScriptExtension"),
                                                        ("rg-d", "CustomScriptExtension")}),
    (["refused_by_lockdown"], {("rg-b", "CustomScriptExtension"), ("rg-d", "CustomScriptExtension")}),
    (["failed"], {("rg-b", "AzureMonitorWindowsAgent")}),
])
def test_select_by_class_never_an_allowed_one_and_not_one_being_deleted(classes, expected):
    machines = fleet()
    targets, skipped = cleanup.select(machines, [], classes, host_of(machines))
    assert {(t["machine_id"].split("/")[4], t["name"]) for t in targets} == expected
    assert all(t["classification"] != "allowed" for t in targets)
    if "installed_but_blocked" in classes:
        assert [(s["machine"], s["reason"]) for s in skipped] == [("dc01", "already being deleted")]


def test_select_refuses_allowed_even_if_asked_through_the_engine():
    machines = fleet()
    targets, _skipped = cleanup.select(machines, [], ["allowed"], host_of(machines))
    assert targets == []


def test_machines_by_host_name_resource_id_or_unique_name():
    machines = fleet()
    hosts = host_of(machines)
    qualified = hosts(machines[0])
    assert qualified != "web01"       # two machines share the name: neither keeps it
    targets, _skipped = cleanup.select(machines, [qualified], ["installed_but_blocked"], hosts)
    assert [t["machine_id"] for t in targets] == [mid("web01", "rg-a")]
    dc = naming.qualified_name(machines[2])
    assert hosts(machines[2]) == "dc01" and dc != "dc01"
    _targets, skipped = cleanup.select(machines, [dc], ["installed_but_blocked"], hosts)
    assert [s["machine_id"] for s in skipped] == [mid("dc01", "rg-c")]
    targets, _skipped = cleanup.select(machines, [mid("web01", "rg-b").upper()], ["refused_by_lockdown"], hosts)
    assert [t["machine_id"] for t in targets] == [mid("web01", "rg-b")]
    with pytest.raises(cleanup.CleanupError) as info:
        cleanup.select(machines, ["WEB01"], ["refused_by_lockdown"], hosts)
    assert "names 2 machines" in str(info.value) and mid("web01", "rg-a") in str(info.value)
    with pytest.raises(cleanup.CleanupError) as info:
        cleanup.select(machines, ["nosuch", "dc01"], ["refused_by_lockdown"], hosts)
    assert "nosuch names no machine" in str(info.value) and "nothing was changed" in str(info.value)


@pytest.mark.parametrize("args, words", [
    ({"classifications": []}, ["classifications"]),
    ({"classifications": ["allowed"]}, ["classifications", "never deleted"]),
    ({"classifications": ["unknown"]}, ["classifications", "unknown"]),
    ({"classifications": ["failed"], "machines": [""]}, ["machines"]),
    ({"classifications": ["failed"], "machines": [3]}, ["machines"]),
])
def test_check_args(args, words):
    message = cleanup.check_args(args)
    assert message and all(w in message for w in words)


# ------------------------------------------------------------------------------------------------ ARM

class Response:
    def __init__(self, status, headers=None, body=None):
        self.status_code = status
        self.headers = headers or {}
        self._body = body
        self.text = "" if body is None else str(body)
        self.reason = "R"

    def json(self):
        if self._body is None:
            raise ValueError("no body")
        return self._body


class Session:
    def __init__(self, answers):
        self.answers = list(answers)
        self.calls = []

    def request(self, method, url, **kwargs):
        self.calls.append((method, url, kwargs["headers"]["Authorization"]))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


class Token:
    token = "tok"


class Credential:
    def get_token(self, scope):
        return Token()


def arm(answers, monkeypatch):
    monkeypatch.setattr(azure, "require_sdk", lambda: None)      # no Azure SDK needed: the credential is a double
    monkeypatch.setattr(azure, "credential", lambda conf: Credential())
    conf = azure.settings({"arm_endpoint": "https://arm.example.com", "authority_host": "https://login.example.com"})
    slept = []
    client = cleanup.Arm(conf, sleep=slept.append, session=Session(answers))
    return client, slept


RID = mid("web01") + "/extensions/CustomScriptExtension"


def test_429_waits_for_retry_after_then_deletes(monkeypatch):
    client, slept = arm([Response(429, {"Retry-After": "7"}), Response(200)], monkeypatch)
    assert client.delete(RID) == "deleted"
    assert slept == [7.0]
    method, url, auth = client.session.calls[0]
    assert method == "DELETE" and url == "https://arm.example.com%s?api-version=2025-01-13" % RID and auth == "Bearer tok"


def test_204_is_absent_not_deleted(monkeypatch):
    client, _slept = arm([Response(204)], monkeypatch)
    assert client.delete(RID) == "absent"


def test_202_location_is_polled_until_done(monkeypatch):
    where = "https://arm.example.com/subscriptions/%s/providers/Microsoft.HybridCompute/locations/x/operationResults/1" % SUB
    client, slept = arm([Response(202, {"Location": where, "Retry-After": "3"}), Response(202, {"Retry-After": "2"}),
                         Response(204)], monkeypatch)
    assert client.delete(RID) == "deleted"
    assert [c[1] for c in client.session.calls[1:]] == [where, where] and slept == [3.0, 2.0]


def test_202_async_operation_until_succeeded_or_failed(monkeypatch):
    op = "https://ARM.example.com/subscriptions/%s/providers/Microsoft.HybridCompute/locations/x/operationStatuses/1" % SUB
    answers = [Response(202, {"Azure-AsyncOperation": op, "Location": "https://arm.example.com/x"}),
               Response(200, body={"status": "InProgress"}), Response(200, body={"status": "Succeeded"})]
    client, _slept = arm(answers, monkeypatch)
    assert client.delete(RID) == "deleted"
    assert all(c[1] == op for c in client.session.calls[1:])
    answers = [Response(202, {"Azure-AsyncOperation": op}),
               Response(200, body={"status": "Failed", "error": {"code": "X", "message": "nope"}})]
    client, _slept = arm(answers, monkeypatch)
    with pytest.raises(cleanup.CleanupError) as info:
        client.delete(RID)
    assert "ended Failed" in str(info.value)


@pytest.mark.parametrize("where", ["https://evil.example.net/op", "http://arm.example.com/op",
                                   "https://arm.example.com.evil.example.net/op"])
def test_an_operation_on_another_host_is_not_followed_with_the_token(monkeypatch, where):
    client, _slept = arm([Response(202, {"Location": where})], monkeypatch)
    with pytest.raises(cleanup.CleanupError) as info:
        client.delete(RID)
    assert "not followed" in str(info.value)
    assert len(client.session.calls) == 1


def test_403_names_the_permission(monkeypatch):
    client, _slept = arm([Response(403, body={"error": {"code": "AuthorizationFailed", "message": "no"}})], monkeypatch)
    with pytest.raises(cleanup.CleanupError) as info:
        client.delete(RID)
    assert "Microsoft.HybridCompute/machines/extensions/delete" in str(info.value)
    assert "Reader" in str(info.value)


def test_server_errors_and_dropped_connections_are_retried_with_a_bound(monkeypatch):
    client, slept = arm([ConnectionResetError("reset")] + [Response(503)] * cleanup.MAX_RETRIES, monkeypatch)
    with pytest.raises(cleanup.CleanupError) as info:
        client.delete(RID)
    assert "still HTTP 503 after %d retries" % cleanup.MAX_RETRIES in str(info.value)
    assert len(client.session.calls) == cleanup.MAX_RETRIES + 1 and len(slept) == cleanup.MAX_RETRIES


def test_an_operation_that_never_ends_is_reported_not_waited_for_forever(monkeypatch):
    where = "https://arm.example.com/op"
    answers = [Response(202, {"Location": where, "Retry-After": "60"})] + \
        [Response(202, {"Retry-After": "60"})] * (cleanup.POLL_LIMIT // 60 + 2)
    client, slept = arm(answers, monkeypatch)
    with pytest.raises(cleanup.CleanupError) as info:
        client.delete(RID)
    assert "not finished after" in str(info.value)
    assert sum(slept) <= cleanup.POLL_LIMIT


@pytest.mark.parametrize("bad", [
    mid("web01"),                                              # the machine itself
    mid("web01") + "/extensions/..",
    mid("web01") + "/extensions/.",
    mid("web01") + "/extensions/a/b",
    mid("web01") + "/extensions/a?api-version=1",
    mid("web01") + "/extensions/a#x",
    mid("web01") + "/extensions/a%2f..",
    mid("web01") + "/extensions/a b",
    mid("web01") + "/extensions/a\nb",
    "/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm/extensions/x" % SUB,
    "",
    None,
])
def test_only_an_extension_resource_id_is_ever_sent(monkeypatch, bad):
    client, _slept = arm([], monkeypatch)
    with pytest.raises(cleanup.CleanupError) as info:
        client.delete(bad)
    assert "not sent" in str(info.value)
    assert client.session.calls == []
