"""_azure.list_machines against the fake Azure, in process: paging, throttling variants, scopes, errors."""

import os
import subprocess
import sys

import pytest

from tests.lib.azure_env import CLIENT_ID, ROOT, SECRET, SUB_A, SUB_B, SUB_DENIED, TENANT
from tests.lib import fakeazure

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _azure as azure

pytestmark = pytest.mark.azure


@pytest.fixture
def client_env(fake, monkeypatch):
    for key in list(os.environ):
        if key.startswith("AZURE_") or key in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
            monkeypatch.delenv(key, raising=False)
    for key, value in fake.env(client_id=CLIENT_ID, secret=SECRET, tenant=TENANT).items():
        monkeypatch.setenv(key, value)
    return fake


def options(fake, **extra):
    base = {"auth_source": "env", "authority_host": fake.url, "arm_endpoint": fake.url, "subscriptions": [SUB_A, SUB_B]}
    base.update(extra)
    return base


class Sleeps(list):
    def __call__(self, seconds):
        self.append(seconds)


@pytest.mark.parametrize("variant, header", [("seconds", "Retry-After"), ("ms", "retry-after-ms"),
                                             ("x-ms", "x-ms-retry-after-ms"), ("none", None)])
def test_throttled_answers_are_retried_whatever_they_carry(client_env, variant, header):
    fake = client_env
    fake.update_state(lambda s: (s.update(throttle={"quota": 1000, "window": 1, "next": 3, "retry_after": 2}),
                                 s["variants"].update(retry_after=variant)))
    sleeps = Sleeps()
    machines, warnings = azure.list_machines(options(fake), sleep=sleeps)
    assert len(machines) == 6 and warnings == []
    assert fake.state.throttled == 3
    # waited what Azure asked (Retry-After or its ms forms), else the quota reset time
    if header:
        assert sleeps[:3] == [2.0, 2.0, 2.0]
    else:
        assert len(sleeps) >= 3 and all(0 < s <= 1 for s in sleeps[:3])


@pytest.mark.parametrize("status", [400, 403, 503])
def test_throttling_is_recognised_by_its_code_whatever_the_status(client_env, status):
    fake = client_env
    fake.update_state(lambda s: (s.update(throttle={"quota": 1000, "window": 1, "next": 1, "retry_after": 1}),
                                 s["variants"].update(throttle_status=status, retry_after="none")))
    machines, warnings = azure.list_machines(options(fake), sleep=Sleeps())
    assert len(machines) == 6 and warnings == [] and fake.state.throttled == 1


def test_retries_are_bounded(client_env):
    fake = client_env
    fake.update_state(lambda s: s.update(throttle={"quota": 1000, "window": 1, "next": 100, "retry_after": 1}))
    sleeps = Sleeps()
    with pytest.raises(azure.AzureError, match="still throttled after 8 retries"):
        azure.list_machines(options(fake), sleep=sleeps)
    assert len(fake.graph_requests()) == azure.MAX_RETRIES + 1


def test_quota_headers_pace_the_pages(client_env):
    fake = client_env
    fake.update_state(lambda s: s.update(machines=fakeazure.make_machines(3100, (SUB_A,)),
                                         throttle={"quota": 2, "window": 2}))
    machines, _w = azure.list_machines(options(fake, subscriptions=[SUB_A]))
    assert len(machines) == 3100
    # x-ms-user-quota-remaining reached 0 after two pages: the client waited for the reset, and was never refused
    assert fake.state.throttled == 0
    assert len(fake.graph_requests()) == 4


def test_pages_follow_skip_token_until_done(client_env):
    fake = client_env
    fake.update_state(lambda s: s.update(machines=fakeazure.make_machines(2001, (SUB_A, SUB_B))))
    machines, _w = azure.list_machines(options(fake))
    assert len(machines) == 2001
    assert len({m["resource_id"] for m in machines}) == 2001
    bodies = [r["body"] for r in fake.graph_requests()]
    assert len(bodies) == 3 and bodies[0]["options"] == {"$top": 1000, "resultFormat": "objectArray",
                                                         "allowPartialScopes": False}
    assert all(b["query"] == azure.QUERY for b in bodies)
    assert all(b["subscriptions"] == [SUB_A, SUB_B] for b in bodies)


def test_overlapping_scopes_list_each_machine_once(client_env):
    fake = client_env
    machines, _w = azure.list_machines(options(fake, management_groups=["mg-pay"]))
    assert [m["name"] for m in machines] == ["db01", "DC01", "new01", "pay01", "web01", "web02"]


def test_every_readable_subscription_when_no_scope(client_env):
    fake = client_env
    machines, warnings = azure.list_machines(options(fake, subscriptions=[]))
    assert len(machines) == 6 and warnings == []
    assert "subscriptions" not in fake.graph_requests()[0]["body"]


@pytest.mark.parametrize("variant", ["forbidden", "badrequest", "omit"])
def test_unreadable_scope_variants(client_env, variant):
    fake = client_env
    fake.update_state(lambda s: s["variants"].update(scope_error=variant))
    machines, warnings = azure.list_machines(options(fake, subscriptions=[SUB_A, SUB_DENIED]))
    assert sorted(m["name"] for m in machines) == ["db01", "new01", "web01", "web02"]
    assert len(warnings) == 1 and warnings[0].startswith("subscription %s:" % SUB_DENIED)


def test_only_unreadable_scopes(client_env):
    fake = client_env
    machines, warnings = azure.list_machines(options(fake, subscriptions=[SUB_DENIED], management_groups=["nope"]))
    assert machines == []
    assert [w.split(":")[0] for w in warnings] == ["subscription %s" % SUB_DENIED, "management group nope"]


def test_wrong_secret_is_an_error_without_the_secret(client_env, monkeypatch):
    fake = client_env
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "not-" + SECRET)
    with pytest.raises(azure.AzureError) as caught:
        azure.list_machines(options(fake))
    assert "AADSTS7000215" in str(caught.value) and SECRET not in str(caught.value)


def test_explicit_secret_is_scrubbed_from_errors(client_env):
    fake = client_env
    fake.update_state(lambda s: s["identities"][CLIENT_ID].update(secret="other"))
    with pytest.raises(azure.AzureError) as caught:
        azure.list_machines(options(fake, auth_source="auto", client_id=CLIENT_ID, secret=SECRET, tenant=TENANT))
    assert "AADSTS7000215" in str(caught.value)
    assert SECRET not in repr(caught.value.args)


@pytest.mark.parametrize("name, value", [("bool_values", "bool"), ("port_values", "int"),
                                         ("extension_items", "string"), ("empty_lists", "empty"),
                                         ("row_shape", "arm"), ("os_type_case", "title"),
                                         ("token_expires_in", "string")])
def test_every_variant_normalises_the_same(client_env, name, value):
    fake = client_env
    plain, _w = azure.list_machines(options(fake))
    fake.update_state(lambda s: s["variants"].update({name: value}))
    varied, _w = azure.list_machines(options(fake))
    assert varied == plain


def test_wrong_endpoint_fails_at_once(client_env):
    fake = client_env
    with pytest.raises(azure.AzureError, match="HTTP 404"):
        azure.list_machines(options(fake, arm_endpoint=fake.url + "/nowhere"))
    assert len([r for r in fake.requests if r["path"].startswith("/nowhere")]) == 1


def test_sdk_missing_message(tmp_path):
    """Without the Azure SDK: one line saying what to install; the modules keep working."""
    blocker = tmp_path / "nosdk" / "azure"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError(\"No module named 'azure'\")\n")
    code = ("from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _azure as a\n"
            "try:\n    a.require_sdk()\nexcept a.AzureSdkMissing as e:\n    print(e)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path / "nosdk"),
                                                       os.path.join(ROOT, "build", "src-collections")]))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.count("\n") == 1
    assert "pip install azure-identity azure-mgmt-resourcegraph" in out


def test_a_dropped_connection_is_retried(client_env):
    fake = client_env
    fake.update_state(lambda s: s.update(faults={"drop_graph": 2}))
    sleeps = Sleeps()
    machines, warnings = azure.list_machines(options(fake), sleep=sleeps)
    assert len(machines) == 6 and warnings == []
    assert fake.state.dropped == 2 and len(sleeps) == 2


def test_dropped_connections_end_in_one_line_after_a_bounded_number_of_retries(client_env):
    fake = client_env
    fake.update_state(lambda s: s.update(faults={"drop_graph": 100}))
    sleeps = Sleeps()
    with pytest.raises(azure.AzureError) as caught:
        azure.list_machines(options(fake), sleep=sleeps)
    text = str(caught.value)
    assert "cannot reach Azure at %s" % fake.url in text and "after %d retries" % azure.MAX_CONNECTION_RETRIES in text
    assert "\n" not in text and "Traceback" not in text and SECRET not in text
    assert fake.state.dropped == azure.MAX_CONNECTION_RETRIES + 1 and len(sleeps) == azure.MAX_CONNECTION_RETRIES


def test_the_query_asks_only_for_the_columns_it_reads(client_env):
    fake = client_env
    machines, _w = azure.list_machines(options(fake))
    queries = {r["body"]["query"] for r in fake.graph_requests()}
    assert queries == {azure.QUERY} and "| project id, name," in azure.QUERY
    full = {m["resource_id"]: m for m in azure.list_machines(dict(options(fake)), sleep=Sleeps())[0]}
    # the projected rows normalise exactly as whole rows do
    old = azure.QUERY
    try:
        azure.QUERY = azure.FULL_QUERY
        whole = {m["resource_id"]: m for m in azure.list_machines(options(fake))[0]}
    finally:
        azure.QUERY = old
    assert whole == full and len(whole) == len(machines)


def test_an_unreadable_setting_fails_closed(client_env):
    fake = client_env

    def garble(state):
        state["machines"][0]["config"]["_raw"] = {"guestConfigurationEnabled": "maybe"}
    fake.update_state(garble)
    machines, warnings = azure.list_machines(options(fake))
    web01 = [m for m in machines if m["name"] == "web01"][0]
    assert web01["unreadable"] == ["guestconfiguration.enabled"]
    assert "guestconfiguration.enabled" not in web01["agent_configuration"]
    assert any("unreadable" in w for w in warnings)
    from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _arcmachine as arcmachine
    diffs = arcmachine.differences({"profile": "defender"}, "linux", web01["agent_configuration"],
                                   web01["unreadable"])
    assert {"property": "guestconfiguration.enabled", "expected": False, "actual": "unreadable"} in diffs
