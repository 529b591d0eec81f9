"""Promise 7: the audit reports stay well-formed and escaped whatever an agent or a host name holds.

Property-based: host names, agent versions and statuses, error messages, setting names and values, notes and
extension names are drawn from every code point (NUL, C0/C1 controls, lone surrogates standing for invalid
UTF-8, U+FFFE), from raw bytes, and from markup. Each format is parsed by a strict parser: ``json.loads``,
``xml.etree.ElementTree`` (XML 1.0), and an HTML checker on ``html.parser`` that fails on any tag the report
does not write and on unbalanced tags. What a reader sees (host names, errors) must still be there.
"""

import html.parser
import json
import re
import xml.etree.ElementTree as ET

import pytest

from tests.lib import logic_env
from hypothesis import given, settings, strategies as st

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _report as report

pytestmark = pytest.mark.hostile

# every code point, surrogates included (what invalid UTF-8 turns into), weighted towards the nasty ones
NASTY = st.sampled_from(["\x00", "\x01", "\x0b", "\x1b", "\x7f", "\x85", "\x9f", "\ud800", "\udc80", "\udcff",
                         "\ufffe", "\uffff", "<", ">", "&", '"', "'", "]]>", "</script>", "<!--", "-->", "\r",
                         "\n", "\t", "\u2028", "\U0001f600", "&amp;", "<b>", "\\x00"])
TEXT = st.one_of(
    st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF, blacklist_categories=()), max_size=12),
    st.lists(NASTY, max_size=6).map("".join),
    st.binary(max_size=12).map(lambda b: b.decode("utf-8", "surrogateescape")),
)
VALUE = st.one_of(TEXT, st.booleans(), st.none(), st.integers(), st.lists(TEXT, max_size=3),
                  st.binary(max_size=8))


def info_result(draw):
    kind = draw(st.sampled_from(["ok", "unreachable", "failed", "no_agent", "errors"]))
    if kind == "unreachable":
        return {"unreachable": True, "msg": draw(TEXT)}
    if kind == "failed":
        return {"failed": True, "msg": draw(TEXT)}
    agent = {"installed": kind != "no_agent", "version": draw(VALUE), "status": draw(VALUE)}
    out = {"agent": agent, "blocked_installed": [{"name": draw(TEXT)} for _index in range(draw(st.integers(0, 2)))]}
    if kind == "errors":
        out["errors"] = draw(st.lists(TEXT, min_size=1, max_size=2))
    return out


@st.composite
def fleets(draw):
    hosts = {}
    for name in draw(st.lists(TEXT, min_size=1, max_size=5, unique=True)):
        check = {"changes": [{"property": draw(TEXT), "before": draw(VALUE), "after": draw(VALUE)}
                             for _index in range(draw(st.integers(0, 3)))],
                 "notes": draw(st.lists(TEXT, max_size=2))}
        if draw(st.booleans()):
            check = {"failed": True, "msg": draw(TEXT)}
        hosts[name] = (draw(st.one_of(st.none(), TEXT)), info_result(draw), check)
    return hosts, draw(st.one_of(st.none(), TEXT))


ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "b", "div", "table", "thead",
                "tbody", "tr", "th", "td", "a", "code", "script", "input", "details", "summary", "span", "ul", "li"}
VOID = {"meta", "input"}


class StrictHTML(html.parser.HTMLParser):
    """Fails on what a browser would recover from silently: unknown tags, unbalanced tags, raw markup."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []
        self.text = []
        self.host_links = []

    def handle_starttag(self, tag, attrs):
        assert tag in ALLOWED_TAGS, "unexpected tag <%s> %r" % (tag, attrs)
        for key, value in attrs:
            assert key in ("lang", "charset", "name", "content", "class", "id", "href", "data-type", "data-v",
                           "type", "placeholder", "aria-label", "open"), key
            if key == "id":
                self.host_links.append("#" + value)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, "</%s> closes %s" % (tag, self.stack)
        self.stack.pop()

    def handle_data(self, data):
        if self.stack and self.stack[-1] in ("script", "style"):
            return
        self.text.append(data)

    def handle_comment(self, data):
        raise AssertionError("a comment in the report: %r" % data)

    def handle_decl(self, decl):
        assert decl == "DOCTYPE html", decl

    def unknown_decl(self, data):
        raise AssertionError("unexpected declaration %r" % data)

    def handle_pi(self, data):
        raise AssertionError("unexpected processing instruction %r" % data)


def check_all(hosts, profile):
    built = report.build(hosts, profile=profile, generated="2026-01-01T00:00:00Z")
    names = {report.safe_text(n) for n in hosts}

    # JSON: strict (no lone surrogates, which strict JSON readers refuse), every host kept
    text = report.to_json(built)
    text.encode("utf-8")  # a UTF-8 writer can write it
    parsed = json.loads(text)
    # every host kept: two names that read the same once made safe (a C1 control and its escaped spelling)
    # stay two entries, the later one with a " (N)" suffix
    assert len(parsed["hosts"]) == len(hosts) and names <= set(parsed["hosts"])
    assert all(p in names or re.fullmatch(r"(.*) \(\d+\)", p, re.S).group(1) in parsed["hosts"]
               for p in parsed["hosts"])
    assert parsed["summary"]["hosts"] == len(hosts)
    for entry in parsed["hosts"].values():
        assert report.safe(entry) == entry

    # JUnit XML 1.0
    xml = report.to_junit(built)
    root = ET.fromstring(xml.encode("utf-8"))
    cases = root.findall("./testsuite/testcase")
    assert sorted(c.get("name") for c in cases) == sorted(parsed["hosts"])
    assert int(root.get("tests")) == len(hosts)
    for case in cases:
        entry = parsed["hosts"][case.get("name")]
        if entry["error"]:
            assert case.find("error").get("message") == entry["error"]
        elif not entry["compliant"]:
            assert case.find("failure") is not None

    # HTML: balanced, only our tags, every host name and error readable as text
    page = report.to_html(built)
    page.encode("utf-8")
    checker = StrictHTML()
    checker.feed(page)
    checker.close()
    assert checker.stack == []
    seen = "".join(checker.text)
    for name, entry in parsed["hosts"].items():
        assert name in seen
        if entry["error"]:
            assert entry["error"] in seen
    assert len([h for h in checker.host_links if h.startswith("#host-")]) == len(hosts)
    return built


@settings(max_examples=logic_env.examples(300), deadline=None)
@given(fleets())
def test_reports_stay_well_formed_whatever_the_agents_say(fleet):
    hosts, profile = fleet
    check_all(hosts, profile)


def test_each_nasty_character_alone():
    """A table of the classic breakers, each as a host name, an agent version and an error."""
    for bad in ["\x00", "a\x00b", "\x1b[31mred", "\udcff\udcfe", "\ufffe", "\x85", "]]>", "</testcase>",
                "<script>alert(1)</script>", '"><img src=x>', "&#0;", "\r\n", b"\xff\xfe host", "caf\xe9"]:
        name = bad.decode("utf-8", "surrogateescape") if isinstance(bad, bytes) else bad
        info = {"agent": {"installed": True, "version": bad, "status": bad}, "errors": [name]}
        check_all({name: ("p" + name, info, None), "plain": ("p", {"failed": True, "msg": bad}, None)}, name)


def test_unsafe_characters_stay_visible():
    """What an agent printed is shown, not dropped: a NUL byte reads as \\x00, an invalid byte as \\xff."""
    assert report.safe_text("a\x00b") == "a\\x00b"
    assert report.safe_text(b"\xffok") == "\\xffok"
    assert report.safe_text("\udcfe") == "\\xfe"
    assert report.safe_text("\ud800") == "\\ud800"
    assert report.safe_text("caf\u00e9 \u2603") == "caf\u00e9 \u2603"
    built = report.build({"h\x00": ("p", {"failed": True, "msg": "bad\x01"}, None)}, generated="x")
    assert json.loads(report.to_json(built))["hosts"] == {"h\\x00": json.loads(report.to_json(built))["hosts"][
        "h\\x00"]}
    assert "bad\\x01" in report.to_html(built)
