"""The event source's main() with a queue double, against the project's fake Azure (tests/lib/fakeazure.py).

The source is loaded as ansible-rulebook loads it (runpy.run_path of the file below an ansible_collections
folder). Polls are short through the test-only minimum interval (ARCGUARD_DRIFT_TEST_MIN_INTERVAL).
"""

import asyncio
import json
import logging
import os
import socket
import ssl
import threading
import http.server

import pytest

from tests.lib import fakeazure
from tests.lib.drift_source import (AMA, DEFENDER, DEFENDER_WIN, MDE, SCRIPT, SECRET, SOURCE, SOURCE_PATH, SUB,
                                    QueueDouble, args_for, drift_of, machine, polls, rid, run, set_config, state)
from tests.lib.drift_source import fake  # noqa: F401  pylint: disable=unused-import

pytestmark = pytest.mark.drift


# ------------------------------------------------------------------------------------------------ drift

def test_one_event_per_drifted_machine_nothing_for_compliant_or_unreported(fake, caplog):
    caplog.set_level(logging.DEBUG)
    fake.write_state(state([
        machine("web01"),
        machine("web02", dict(DEFENDER, **{"extensions.allowlist": [AMA, MDE, SCRIPT],
                                           "guestconfiguration.enabled": True})),
        machine("win01", DEFENDER_WIN, os_name="windows"),
        machine("win02", dict(DEFENDER_WIN, **{"config.mode": "monitor"}), os_name="windows"),
        machine("old01", dict(DEFENDER, **{"guestconfiguration.enabled": True}), status="Disconnected"),
        # reports no settings at all: skipped
        dict(machine("blank01"), config=None),
    ]))
    # a row whose agentConfiguration lacks the allowlist: what Azure does not report is never drift
    row = fakeazure.expand(machine("quiet01", {"guestconfiguration.enabled": False}), fakeazure.TENANT, {})
    del row["properties"]["agentConfiguration"]["extensionsAllowList"]
    fake.update_state(lambda d: d["machines"].append({"name": "quiet01", "row": row}))
    queue, running = run(args_for(fake), lambda q: polls(fake) >= 4)
    assert running
    names = sorted(e["meta"]["hosts"] for e in queue.events)
    assert names == ["web02", "win02"]
    web02 = drift_of(queue, "web02")[0]
    details = dict(web02["arc_drift"])
    details.pop("differences")
    assert web02["meta"] == {"hosts": "web02"} and sorted(web02) == ["arc_drift", "meta"]
    assert details == {"name": "web02", "resource_id": rid("web02"), "os_type": "linux", "profile": "defender",
                       "status": "Connected", "agent_version": "1.64.03414.2961",
                       "last_status_change": "2026-11-30T08:15:02.9794112Z", "host_name": "web02",
                       "overrides": {}}
    assert sorted(web02["arc_drift"]["differences"], key=lambda d: d["property"]) == [
        {"property": "extensions.allowlist", "expected": [AMA, MDE],
         "actual": [AMA, MDE, SCRIPT]},
        {"property": "guestconfiguration.enabled", "expected": False, "actual": True}]
    assert drift_of(queue, "win02")[0]["arc_drift"]["differences"] == [
        {"property": "config.mode", "expected": "full", "actual": "monitor"}]
    assert drift_of(queue, "win02")[0]["arc_drift"]["os_type"] == "windows"


def test_disconnected_machines_are_watched_when_asked(fake):
    fake.write_state(state([machine("old01", dict(DEFENDER, **{"guestconfiguration.enabled": True}),
                                    status="Disconnected")]))
    queue, running = run(args_for(fake, include_statuses=["Connected", "Disconnected"]), lambda q: q.events)
    assert running and [e["arc_drift"]["status"] for e in queue.events] == ["Disconnected"]


def test_a_status_azure_never_gives_is_warned_about_and_watches_nothing(fake, caplog):
    caplog.set_level(logging.INFO)
    fake.write_state(state([machine("web02", dict(DEFENDER, **{"guestconfiguration.enabled": True}))]))
    queue, running = run(args_for(fake, include_statuses=["Conected"]),
                         lambda q: any("compared" in r.getMessage() for r in caplog.records))
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert running and queue.events == []
    assert any("'conected' is not a status Azure is known to give" in w for w in warnings), warnings


def test_unchanged_drift_is_not_repeated_changed_drift_is_sent(fake):
    fake.write_state(state([machine("web02", dict(DEFENDER, **{"guestconfiguration.enabled": True}))]))
    marks = {}

    def weaken_more():
        marks["polls"] = polls(fake)
        set_config(fake, "web02", dict(DEFENDER, **{"guestconfiguration.enabled": True, "config.mode": "monitor"}))

    queue, running = run(args_for(fake), lambda q: len(q.events) >= 2,
                         during=[(lambda q: polls(fake) >= 5, weaken_more)])
    assert running
    assert len(queue.events) == 2, queue.events    # 5 polls of the same drift: one event
    assert sorted(d["property"] for d in queue.events[1]["arc_drift"]["differences"]) == [
        "config.mode", "guestconfiguration.enabled"]


def test_unchanged_drift_is_sent_again_after_repeat_after(fake):
    fake.write_state(state([machine("web02", dict(DEFENDER, **{"guestconfiguration.enabled": True}))]))
    queue, running = run(args_for(fake, repeat_after=1.5), lambda q: len(q.events) >= 2)
    assert running and [e["meta"]["hosts"] for e in queue.events] == ["web02", "web02"]
    assert queue.events[0] == queue.events[1]


def test_resolved_once_after_a_fix(fake):
    fake.write_state(state([machine("web02", dict(DEFENDER, **{"guestconfiguration.enabled": True}))]))
    marks = {}

    def fix():
        set_config(fake, "web02", DEFENDER)

    def after_resolved(q):
        if any("arc_drift_resolved" in e for e in q.events):
            marks.setdefault("at", polls(fake))
            return polls(fake) >= marks["at"] + 4
        return False

    queue, running = run(args_for(fake), after_resolved, during=[(lambda q: q.events, fix)])
    assert running
    assert [list(e)[0] for e in queue.events] == ["arc_drift", "arc_drift_resolved"]
    resolved = queue.events[1]
    assert resolved["meta"] == {"hosts": "web02"}
    assert resolved["arc_drift_resolved"]["resolved_differences"] == [
        {"property": "guestconfiguration.enabled", "expected": False, "actual": True}]
    assert resolved["arc_drift_resolved"]["profile"] == "defender"


def test_profile_by_tag(fake, caplog):
    caplog.set_level(logging.INFO)
    open_config = {"config.mode": "full", "extensions.allowlist": [], "guestconfiguration.enabled": True}
    fake.write_state(state([
        machine("pay01", open_config, tags={"Arc-Lockdown": "esu"}),
        machine("pay02", {"config.mode": "full", "extensions.allowlist": ["Allow/None"]}, tags={"arc-lockdown": "esu"}),
        machine("web01", open_config, tags={"arc-lockdown": "defender"}),
        machine("dev01", open_config),
        machine("odd01", open_config, tags={"arc-lockdown": "no-such-profile"}),
    ]))
    queue, running = run(args_for(fake, profile=None, profile_by_tag={"tag": "arc-lockdown"}),
                         lambda q: polls(fake) >= 3)
    assert running
    by_host = {e["meta"]["hosts"]: e["arc_drift"] for e in queue.events}
    assert sorted(by_host) == ["pay01", "web01"]
    assert by_host["pay01"]["profile"] == "esu"
    assert by_host["pay01"]["differences"] == [{"property": "extensions.allowlist", "expected": ["Allow/None"],
                                                "actual": []}]
    assert by_host["web01"]["profile"] == "defender"
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert sum("odd01 skipped: tag arc-lockdown names 'no-such-profile', which is not a profile" in w
               for w in warnings) == 1      # logged once, not at every poll
    assert not any("dev01" in w for w in warnings)


def test_user_profiles(fake):
    mine = {"mine": {"description": "AMA only, guest configuration on",
                     "options": {"mode": "full", "extensions_allowlist": ["azure_monitor_agent"],
                                 "guestconfiguration_enabled": True}}}
    fake.write_state(state([machine("web01", {"config.mode": "full", "extensions.allowlist": [AMA],
                                              "guestconfiguration.enabled": True}),
                            machine("web02", DEFENDER)]))
    queue, running = run(args_for(fake, profile="mine", profiles=mine), lambda q: polls(fake) >= 3)
    assert running
    assert [e["meta"]["hosts"] for e in queue.events] == ["web02"]
    assert sorted(d["property"] for d in queue.events[0]["arc_drift"]["differences"]) == [
        "extensions.allowlist", "guestconfiguration.enabled"]


# ------------------------------------------------------------------------------------------------ Azure errors

def failures(caplog):
    return [r.getMessage() for r in caplog.records if "Azure query failed" in r.getMessage()]


def assert_no_secret(caplog, queue, *secrets):
    text = "\n".join(r.getMessage() for r in caplog.records) + json.dumps(queue.events)
    for secret in secrets:
        assert secret not in text


def test_sign_in_refused_401_is_retried_until_it_works(fake, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "rotated-Secret-77")
    fake.write_state(state([machine("web02", dict(DEFENDER, **{"guestconfiguration.enabled": True}))]))

    def rotate():
        fake.update_state(lambda d: d["identities"]["app1"].update(secret="rotated-Secret-77"))

    queue, running = run(args_for(fake), lambda q: q.events, during=[(lambda q: len(failures(caplog)) >= 2, rotate)])
    assert running and [e["meta"]["hosts"] for e in queue.events] == ["web02"]
    assert "AADSTS7000215: Invalid client secret provided" in failures(caplog)[0]
    assert "retrying in" in failures(caplog)[0]
    assert any("Azure answered again after" in r.getMessage() for r in caplog.records)
    assert_no_secret(caplog, queue, "rotated-Secret-77", SECRET)


def test_token_for_the_wrong_audience_401_from_resource_graph(fake, caplog):
    caplog.set_level(logging.INFO)
    fake.write_state(state([machine("web02", dict(DEFENDER, **{"guestconfiguration.enabled": True}))],
                           audience="https://management.core.example"))
    queue, running = run(args_for(fake), lambda q: len(failures(caplog)) >= 3)
    assert running and queue.events == []
    assert "InvalidAuthenticationTokenAudience" in failures(caplog)[0]


def test_scope_not_readable_403_is_logged_and_watched_again(fake, caplog):
    caplog.set_level(logging.INFO)
    fake.write_state(state([machine("web02", dict(DEFENDER, **{"guestconfiguration.enabled": True}))]))
    fake.update_state(lambda d: d["identities"]["app1"].update(subscriptions=[]))

    def grant():
        fake.update_state(lambda d: d["identities"]["app1"].update(subscriptions=[SUB]))

    def refused(q):
        return any("cannot be read by this identity" in r.getMessage() for r in caplog.records)

    queue, running = run(args_for(fake), lambda q: q.events, during=[(refused, grant)])
    assert running and [e["meta"]["hosts"] for e in queue.events] == ["web02"]


@pytest.mark.parametrize("status", [429, 500, 503])
def test_throttled_or_failing_resource_graph_does_not_end_the_source(fake, caplog, status):
    """Resource Graph throttles (429) or fails (5xx) for a while: the shared client waits and retries (honouring
    Retry-After); when it gives up, the source logs it and retries with backoff. The events still come."""
    caplog.set_level(logging.INFO)
    fake.write_state(state([machine("web02", dict(DEFENDER, **{"guestconfiguration.enabled": True}))],
                           throttle={"quota": 1000, "window": 5, "next": 10, "retry_after": 0},
                           variants={"throttle_status": status}))
    queue, running = run(args_for(fake), lambda q: q.events, timeout=60)
    assert running and [e["meta"]["hosts"] for e in queue.events] == ["web02"]
    assert len(fake.graph_requests()) >= 11
    assert failures(caplog) and "still throttled after 8 retries" in failures(caplog)[0]


class _BrokenServer:
    """A loopback HTTPS server that answers every request with one status (a Resource Graph outage)."""

    def __init__(self, workdir, status):
        ca, cert, key = fakeazure.make_ca(workdir)
        outer = self
        self.requests = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                return

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.requests += 1
                body = json.dumps({"error": {"code": "InternalServerError", "message": "outage"}}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.ca = ca
        self.url = "https://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_resource_graph_outage_5xx_times_out_and_is_retried(fake, caplog, tmp_path, monkeypatch):
    """Every answer a 500: the shared client backs off within the poll, the poll's timeout ends the attempt,
    the source logs it and keeps going (and waits for the running query instead of starting a second one)."""
    caplog.set_level(logging.INFO)
    broken = _BrokenServer(str(tmp_path), 500)
    # the broken server's CA and the fake's, in one bundle
    bundle = tmp_path / "bundle.pem"
    bundle.write_text(open(fake.ca).read() + open(broken.ca).read())
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    fake.write_state(state([machine("web02", dict(DEFENDER, **{"guestconfiguration.enabled": True}))]))
    queue, running = run(args_for(fake, arm_endpoint=broken.url, timeout=1), lambda q: len(failures(caplog)) >= 3,
                         timeout=40)
    assert running and queue.events == []
    assert broken.requests >= 1
    assert "no answer within 1 s (timeout)" in failures(caplog)[0]
    broken.server.shutdown()


def test_azure_that_never_answers_times_out_and_is_retried(fake, caplog):
    caplog.set_level(logging.INFO)
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(16)          # connections complete, nothing ever answers
    try:
        url = "https://127.0.0.1:%d" % hole.getsockname()[1]
        queue, running = run(args_for(fake, arm_endpoint=url, timeout=1), lambda q: len(failures(caplog)) >= 3,
                             timeout=30)
    finally:
        hole.close()
    assert running and queue.events == []
    assert all("no answer within 1 s (timeout)" in f for f in failures(caplog)[:3])
    assert "attempt 3" in failures(caplog)[2]


def test_azure_unreachable_is_retried(fake, caplog):
    caplog.set_level(logging.INFO)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()           # nothing listens: connection refused
    queue, running = run(args_for(fake, arm_endpoint="https://127.0.0.1:%d" % port),
                         lambda q: len(failures(caplog)) >= 2)
    assert running and queue.events == []
    assert "cannot reach Azure" in failures(caplog)[0]


def test_secret_argument_never_logged_nor_sent(fake, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    for key in ("AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID"):
        monkeypatch.delenv(key)
    fake.write_state(state([machine("web02", dict(DEFENDER, **{"guestconfiguration.enabled": True}))]))
    args = args_for(fake, auth_source="auto", client_id="app1", secret="wrong-" + SECRET, tenant=fakeazure.TENANT)

    def fix():
        fake.update_state(lambda d: d["identities"]["app1"].update(secret="wrong-" + SECRET))

    queue, running = run(args, lambda q: q.events, during=[(lambda q: failures(caplog), fix)])
    assert running and queue.events
    assert_no_secret(caplog, queue, "wrong-" + SECRET)


# ------------------------------------------------------------------------------------------------ bad arguments

@pytest.mark.parametrize("change, words", [
    ({"interval": 10}, "interval must be at least 30 seconds, got 10"),
    ({"profile": "nope"}, "profile 'nope' is not a profile"),
    ({"profile_by_tag": {"tag": "arc-lockdown"}}, "exactly one of profile and profile_by_tag"),
    ({"profile": None}, "exactly one of profile and profile_by_tag"),
    ({"intervall": 60}, "unknown argument intervall"),
    ({"auth_source": "kerberos"}, "auth_source must be one of auto, env, cli, msi"),
    ({"arm_endpoint": "http://127.0.0.1:1"}, "arm_endpoint must be an https URL"),
    ({"cloud": "AzureMoon"}, "cloud must be one of AzureCloud"),
    ({"profile": "mine", "profiles": {"mine": {"options": {"mode": "loud"}}}}, "mode"),
    ({"profile": "mine", "profiles": {"mine": {"options": {"executable": "/bin/sh"}}}}, "executable cannot be set"),
    ({"include_statuses": "Connected,"}, "include_statuses"),
    ({"repeat_after": "later"}, "repeat_after must be a number of seconds"),
])
def test_bad_argument_ends_the_source_at_once_with_one_clear_message(fake, monkeypatch, change, words):
    monkeypatch.delenv("ARCGUARD_DRIFT_TEST_MIN_INTERVAL")
    args = args_for(fake, interval=60)
    args.update(change)
    args = {k: v for k, v in args.items() if v is not None}
    if change.get("include_statuses") == "Connected,":
        args["include_statuses"] = ["Connected", ""]
    with pytest.raises(ValueError) as err:
        asyncio.run(asyncio.wait_for(SOURCE["main"](QueueDouble(), args), 10))
    message = str(err.value)
    assert message.startswith("arcguard.azcmagent.arc_drift: ")
    assert words in message
    assert "\n" not in message
    assert fake.requests == []        # nothing was sent to Azure


def test_minimum_interval_without_the_test_switch(fake, monkeypatch):
    monkeypatch.delenv("ARCGUARD_DRIFT_TEST_MIN_INTERVAL")
    with pytest.raises(ValueError, match="interval must be at least 30 seconds, got 29"):
        asyncio.run(SOURCE["main"](QueueDouble(), args_for(fake, interval=29)))


# ------------------------------------------------------------------------------------------------ documentation

def test_documentation_schema_and_code_agree():
    import yaml
    import jsonschema
    from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _drift as drift

    doc = yaml.safe_load(SOURCE["DOCUMENTATION"])
    schema_path = os.path.join(os.path.dirname(SOURCE_PATH), "schemas", "arc_drift.json")
    with open(schema_path) as handle:
        schema = json.load(handle)
    names = set(drift.AZURE_OPTIONS) | set(drift.WATCH_OPTIONS)
    assert set(doc["options"]) == names
    assert set(schema["properties"]) == names
    defaults = {"interval": drift.DEFAULT_INTERVAL, "repeat_after": drift.DEFAULT_REPEAT_AFTER,
                "timeout": drift.DEFAULT_TIMEOUT, "include_statuses": list(drift.DEFAULT_STATUSES), "profiles": {}}
    for name, value in defaults.items():
        assert doc["options"][name]["default"] == value, name
        assert schema["properties"][name]["default"] == value, name
    assert schema["properties"]["interval"]["minimum"] == drift.MIN_INTERVAL
    from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _azure as azure
    assert schema["properties"]["auth_source"]["enum"] == list(azure.AUTH_SOURCES)
    assert schema["properties"]["cloud"]["enum"] == list(azure.CLOUDS)
    for name in ("auth_source", "cloud"):
        assert doc["options"][name]["choices"] == schema["properties"][name]["enum"], name
        assert doc["options"][name]["default"] == schema["properties"][name]["default"], name
    validator = jsonschema.Draft202012Validator(schema)
    for rulebook in yaml.safe_load(SOURCE["EXAMPLES"]):
        args = rulebook["sources"][0]["arcguard.azcmagent.arc_drift"]
        if isinstance(args.get("profiles"), str):
            args["profiles"] = {}
        validator.validate(args)
        SOURCE["settings_from"](args)
    assert list(validator.iter_errors({"profile": "esu", "profile_by_tag": {"tag": "t"}}))
    assert list(validator.iter_errors({"profile": "esu", "interval": 10}))


def test_proxy_credentials_never_in_an_event_or_log(fake, caplog):
    caplog.set_level(logging.DEBUG)
    mine = {"proxied": {"options": {"mode": "full", "extensions_allowlist": ["azure_monitor_agent"],
                                    "guestconfiguration_enabled": False,
                                    "proxy_url": "http://svc-arc:Pr0xy-Pass@proxy.corp.example:3128"}}}
    fake.write_state(state([machine("web01", {"config.mode": "full", "extensions.allowlist": [AMA],
                                              "guestconfiguration.enabled": False,
                                              "proxy.url": "http://old-user:Old-Pass9@proxy.corp.example:8080"})]))
    queue, running = run(args_for(fake, profile="proxied", profiles=mine), lambda q: q.events)
    assert running
    differences = queue.events[0]["arc_drift"]["differences"]
    assert [d["property"] for d in differences] == ["proxy.url"]
    assert "proxy.corp.example:3128" in differences[0]["expected"]
    assert "proxy.corp.example:8080" in differences[0]["actual"]
    assert_no_secret(caplog, queue, "Pr0xy-Pass", "Old-Pass9", "svc-arc:", "old-user:")


def test_a_scope_that_cannot_be_read_is_warned_once_while_it_lasts(fake, caplog):
    caplog.set_level(logging.INFO)
    fake.write_state(state([machine("web02")]))
    fake.update_state(lambda d: d["identities"]["app1"].update(subscriptions=[]))
    queue, running = run(args_for(fake), lambda q: polls(fake) >= 4)
    assert running and queue.events == []
    warned = [r for r in caplog.records if r.levelno == logging.WARNING and "cannot be read" in r.getMessage()]
    assert len(warned) == 1, [r.getMessage() for r in warned]


def test_while_every_scope_is_denied_the_warning_comes_back_rate_limited(caplog):
    """Promise: the source keeps warning (rate-limited) while nothing can be read; it never goes quiet."""
    settings = SOURCE["settings_from"]({"profile": "defender"})
    watch = SOURCE["_Watch"](settings)
    denied = ["subscription x: cannot be read by this identity (AuthorizationFailed); the other scopes still load"]
    drift = SOURCE["_drift"]
    with caplog.at_level(logging.DEBUG, logger="arcguard.azcmagent.arc_drift"):
        for minute in range(0, 61):
            watch.warn(denied, now=minute * 60.0, nothing_read=True)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "cannot be read" in r.getMessage()]
    assert len(warnings) == 1 + 3600 // drift.WARN_REPEAT_ALL_DENIED
    assert "still; no machine can be read" in warnings[-1].getMessage()
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="arcguard.azcmagent.arc_drift"):
        watch2 = SOURCE["_Watch"](settings)
        for minute in range(0, 61):
            watch2.warn(denied, now=minute * 60.0, nothing_read=False)
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2   # hourly when others load
