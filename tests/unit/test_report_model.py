"""The audit's verdict model and renderers: what a reader of report.json, JUnit and the HTML page relies on."""

import html.parser
import json
import xml.etree.ElementTree as ET

from hypothesis import given, settings, strategies as st

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _report as report
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _report_model as model
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _report_render as render

OK = {"agent": {"installed": True, "version": "1.64.1.1", "status": "Connected"}, "errors": [], "blocked_installed": []}
AMA = "Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"
MDE = "Microsoft.Azure.AzureDefenderForServers/MDE.Linux"


def check(*changes):
    return {"changed": bool(changes), "changes": [{"property": p, "before": b, "after": a} for p, b, a in changes]}


def test_list_differences_are_entries_missing_and_extra():
    changes = check(("extensions.allowlist", [AMA, "Contoso/Tool"], [MDE, AMA.lower()]))
    built = report.build({"h": ("defender", OK, changes)})
    diff = built["hosts"]["h"]["differences"][0]
    assert diff["missing"] == [MDE] and diff["extra"] == ["Contoso/Tool"]   # names compare case-insensitively
    assert diff["expected"] == [MDE, AMA.lower()] and diff["actual"] == [AMA, "Contoso/Tool"]   # kept for users
    junit = ET.fromstring(report.to_junit(built)).find("./testsuite/testcase/failure").text
    assert "missing %s" % MDE in junit and "extra Contoso/Tool" in junit
    page = report.to_html(built)
    assert "missing</span> <code>%s</code>" % MDE in page and "extra</span> <code>Contoso/Tool</code>" in page
    # a scalar difference has neither
    scalar = report.build({"h": ("p", OK, check(("guestconfiguration.enabled", True, False)))})
    assert "missing" not in scalar["hosts"]["h"]["differences"][0]


def test_a_mixed_fleet_is_headed_mixed_with_counts_and_each_host_shows_its_profile():
    built = report.build({"a": ("defender", OK, check()), "b": ("defender", OK, check()),
                          "c": ("strict", OK, check())})
    assert built["summary"]["profiles"] == {"defender": 2, "strict": 1}
    page = report.to_html(built)
    assert '<b id="profile">mixed (defender 2, strict 1)</b>' in page
    assert "<title>azcmagent audit: mixed (defender 2, strict 1)</title>" in page
    one = report.to_html(report.build({"a": ("defender", OK, check())}))
    assert '<b id="profile">defender</b>' in one


def test_zero_counts_are_neutral_and_non_zero_ones_keep_their_colour():
    page = report.to_html(report.build({"a": ("p", OK, check(("x.y", 1, 2)))}))
    assert 'class="card zero" id="count-errors"' in page and 'class="card bad" id="count-drifted"' in page
    assert 'class="card zero" id="count-compliant"' in page


def test_a_connection_error_is_one_line_and_json_keeps_the_full_text():
    raw = ("Failed to connect to the host via ssh: ssh: connect to host 10.0.0.9 port 22: Connection refused\r\n"
           "Traceback (most recent call last):\n  File \"x.py\", line 1\nConnectionRefusedError: [Errno 111]")
    built = report.build({"down": ("p", {"unreachable": True, "msg": raw}, None),
                          "winrm": ("p", {"unreachable": True, "msg": "HTTPSConnectionPool(host='w', port=5986): Max "
                                          "retries exceeded (Caused by ConnectTimeoutError(<urllib3.connection."
                                          "HTTPSConnection object at 0x7f>, 'Connection to w timed out.'))"}, None),
                          "odd": ("p", {"unreachable": True, "msg": "first line\nsecond"}, None)})
    hosts = built["hosts"]
    assert hosts["down"]["error"] == "unreachable: the connection was refused"
    assert hosts["down"]["error_detail"] == raw
    assert hosts["winrm"]["error"] == "unreachable: the connection timed out"
    assert hosts["odd"]["error"] == "unreachable: first line" and hosts["odd"]["error_detail"] == "first line\nsecond"
    page = report.to_html(built)
    assert "Traceback" not in page and "unreachable: the connection was refused" in page
    case = [c for c in ET.fromstring(report.to_junit(built)).iter("testcase") if c.get("name") == "down"][0]
    assert case.find("error").get("message") == "unreachable: the connection was refused"
    assert "Connection refused" in case.find("system-out").text   # the detail stays readable in CI


def test_html_puts_findings_first_then_drifted_hosts_and_folds_compliant_ones():
    hosts = {"ok%03d" % i: ("p", OK, check()) for i in range(60)}
    hosts["zz-drift"] = ("p", OK, check(("guestconfiguration.enabled", True, False)))
    hosts["aa-down"] = ("p", {"unreachable": True, "msg": "timed out"}, None)
    page = report.to_html(report.build(hosts))
    assert page.index('id="findings"') < page.index('id="hosts"') < page.index('id="compliant-hosts"')
    assert page.index('id="host-zz-drift"') < page.index('id="host-aa-down"') < page.index('id="host-ok000"')
    assert '<details id="compliant-hosts"><summary>Compliant hosts (60)</summary>' in page   # folded
    assert "<code>guestconfiguration.enabled</code> differs from the profile</td><td>1</td>" in page
    small = report.to_html(report.build({"ok": ("p", OK, check())}))
    assert '<details id="compliant-hosts" open>' in small


class Shape(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows = 0

    def handle_starttag(self, tag, attrs):
        self.rows += tag == "tr" and ("class", "h") in attrs


def test_ten_thousand_hosts_stay_a_page_of_a_few_megabytes_with_one_row_each():
    hosts = {"host%05d" % i: ("p", OK, check(("guestconfiguration.enabled", True, False)) if i % 3 == 0 else check())
             for i in range(10000)}
    built = model.build(hosts, generated="2026-01-01T00:00:00Z")
    texts, summary = render.render(built, ["json", "xml", "html"])
    assert len(texts["html"]) < 8_000_000
    shape = Shape()
    shape.feed(texts["html"])
    assert shape.rows == 10000 and summary["drifted"] == 3334
    assert texts["json"].count("\n") < 10000 + 40   # one host a line
    assert json.loads(texts["json"])["hosts"]["host00003"]["status"] == "drifted"


STATUS_INFO = st.sampled_from([OK, {"unreachable": True, "msg": "refused"}, {"failed": True, "msg": "boom"},
                               {"agent": {"installed": False}},
                               dict(OK, blocked_installed=[{"name": "Contoso/Tool"}])])
CHECK = st.one_of(st.none(), st.just(check()), st.just(check(("guestconfiguration.enabled", True, False))),
                  st.just({"failed": True, "msg": "x"}))


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=6), st.tuples(st.sampled_from(["a", "b", None]), STATUS_INFO, CHECK),
                       max_size=12))
def test_junit_counts_are_derived_from_the_cases_and_agree_with_the_summary(hosts):
    built = report.build(hosts, profile="a", generated="2026-01-01T00:00:00Z")
    summary, entries = built["summary"], built["hosts"].values()
    assert summary["hosts"] == summary["compliant"] + summary["drifted"] + summary["errors"] == len(hosts)
    assert summary["errors"] == sum(1 for e in entries if e["error"])
    assert summary["drifted"] == sum(1 for e in entries if not e["compliant"] and not e["error"])
    root = ET.fromstring(report.to_junit(built))
    for suite in [root] + root.findall("testsuite"):
        cases = suite.findall(".//testcase")
        assert int(suite.get("tests")) == len(cases)
        assert int(suite.get("failures")) == sum(1 for c in cases if c.find("failure") is not None)
        assert int(suite.get("errors")) == sum(1 for c in cases if c.find("error") is not None)
    hosts_suite = root.findall("testsuite")[0]
    assert (int(hosts_suite.get("failures")), int(hosts_suite.get("errors"))) == (summary["drifted"], summary["errors"])


def test_report_json_reads_back_into_the_same_model():
    hosts = {"a": ("p", OK, check(("extensions.allowlist", [AMA], [MDE]))), "b": ("q", {"failed": True, "msg": "x\ny"}, None)}
    first = report.build(hosts, generated="2026-01-01T00:00:00Z")
    again = model.from_dict(json.loads(report.to_json(first))).as_dict()
    assert json.loads(report.to_json(again)) == json.loads(report.to_json(first))


def test_extensions_of_the_model_reach_every_format():
    built = model.build({"a": ("p", OK, check())}, generated="x")
    built.hosts["a"].extra["future_key"] = {"n": 1}
    built.sections["refused_installs"] = [{"host": "a"}]
    data = json.loads(render.render(built, ["json"])[0]["json"])
    assert data["hosts"]["a"]["future_key"] == {"n": 1} and data["refused_installs"] == [{"host": "a"}]


def test_a_clean_report_is_drawn_the_same_with_or_without_the_safe_copy():
    hosts = {"a\\bc": ("p", OK, check(("extensions.allowlist", [AMA], [MDE]))), "caf\u00e9": ("q", OK, check()),
             "down": ("p", {"unreachable": True, "msg": "timed out"}, None)}
    built = model.build(hosts, generated="2026-01-01T00:00:00Z")
    direct = render.render(built, ["json", "xml", "html"])
    copied = render.render(model.from_dict(render.safe(built.as_dict())), ["json", "xml", "html"])
    assert direct == copied
    nasty = model.build({"h\x00": ("p\x1b", OK, check())}, generated="x")
    texts, _summary = render.render(nasty, ["json", "xml", "html"])
    assert all("\x00" not in t and "\x1b" not in t for t in texts.values())
    assert "h\\x00" in texts["html"] and "p\\x1b" in texts["xml"]


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=True) | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.tuples(inner) | st.dictionaries(
        st.text(max_size=2) | st.integers(-2, 2) | st.booleans() | st.none(), inner, max_size=3),
    max_leaves=8)


@settings(max_examples=400, deadline=None)
@given(_JSONISH, _JSONISH)
def test_cache_keys_only_meet_for_values_that_compare_the_same(one, two):
    """Hosts share a cached comparison only when their options and settings are the same values: two cache keys
    are equal only when the values are equal with 1, 1.0 and True, "1" and 1, tuples and lists kept apart."""
    def typed(value, loose=False):
        # loose: what the older key already merged (a tuple as a list, a key as its text)
        if isinstance(value, dict):
            return ("{", sorted((str(k) if loose else (type(k).__name__, str(k)), typed(v, loose))
                                for k, v in value.items()))
        if isinstance(value, (list, tuple)):
            return (not loose and isinstance(value, tuple), [typed(v, loose) for v in value])
        return (type(value).__name__, repr(value))
    key_one, key_two = model._key(one), model._key(two)
    if key_one is not None and key_one == key_two:
        assert typed(one, loose=True) == typed(two, loose=True)
    if typed(one) == typed(two) and "nan" not in repr(one):
        assert key_one == key_two


def test_cache_keys_keep_look_alike_settings_apart():
    assert len({model._key(v) for v in ({True: 1}, {"true": 1}, {"True": 1}, {1: 1}, {"1": 1}, [1], [1.0], [True],
                                        ["1"], (1,), [None], ["null"])}) == 12
