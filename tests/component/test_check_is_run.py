"""Promise 3: check mode is the run.

For random start states the stand-in can play (each variant of docs/standin.md, monitor mode, installed
extensions) and random tasks (every list_action, remove_blocked, mode changes), check mode runs first on the host,
must leave every file of the host as it was, and must report what the real run, from the same start state, then
does: ``changed``, ``changes``, ``commands``, ``removed_extensions``, the diff (values compared as the module
compares them: lists as sets, names case-insensitive), or the same failure.

The one start the agent does not let anyone predict: in monitor mode, the ``effective`` variant shows Microsoft's
lists instead of the stored ones, so before leaving monitor mode nobody can know the stored lists, and the module
cannot tell which variant it talks to. For a task that leaves monitor mode and manages the lists or removes
blocked extensions, check mode must therefore say so in both variants (``unknown_in_monitor_mode``, ``notes``
and the diff), every change it predicts must be what the run ends with, and it must never predict a removal that
the run does not make.
The hosts are the unit suite's targets: POSIX scripts run by /bin/sh, PowerShell by the WinRM endpoint's
interpreter.
"""

import tempfile

import pytest

from tests.lib import logic_env
from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _catalog as catalog
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _planner as planner

pytestmark = pytest.mark.hostile

Target = logic_env.target_class()
HAS_ALLOW_EMPTY = "allow_empty_allowlist" in __import__(
    "ansible_collections.arcguard.azcmagent.plugins.action.azcmagent_config", fromlist=["x"]).ActionModule.ARGUMENT_SPEC

ALIASES = ["azure_monitor_agent", "defender_endpoint", "custom_script", "run_command", "defender_sql"]
VARIANTS = {
    "bool_json": ["string", "literal"], "int_json": ["string", "literal"], "monitor_list": ["stored", "effective"],
    "monitor_refusal_rc": [23, 27], "stored_case": ["keep", "lower"], "stored_order": ["keep", "sorted"],
    "json_extra_keys": [False, True], "set_json": ["status", "message"],
}


def names(flavour, aliases):
    return [n for n in (catalog.resolve_alias(a, flavour) for a in aliases) if n]


@st.composite
def start_states(draw):
    flavour = draw(st.sampled_from(["linux", "windows"]))
    variants = {k: draw(st.sampled_from(v)) for k, v in VARIANTS.items() if draw(st.booleans())}
    allow = draw(st.one_of(st.just(["Allow/None"]), st.lists(st.sampled_from(ALIASES), max_size=3, unique=True)))
    state = {
        "config.mode": draw(st.sampled_from(["full", "monitor"])),
        "extensions.allowlist": allow if allow == ["Allow/None"] else names(flavour, allow),
        "extensions.blocklist": names(flavour, draw(st.lists(st.sampled_from(ALIASES), max_size=2, unique=True))),
        "guestconfiguration.enabled": draw(st.booleans()),
        "extensions.enabled": draw(st.booleans()),
    }
    installed = list(names(flavour, draw(st.lists(st.sampled_from(ALIASES[:4]), max_size=3, unique=True))))
    return flavour, {"variants": variants}, state, installed


@st.composite
def tasks(draw):
    task = {}
    for option, values in (("mode", ["full", "monitor"]), ("list_action", ["replace", "add", "remove"]),
                           ("guestconfiguration_enabled", [True, False]), ("extensions_enabled", [True, False])):
        if draw(st.booleans()):
            task[option] = draw(st.sampled_from(values))
    for option in ("extensions_allowlist", "extensions_blocklist"):
        if draw(st.integers(0, 2)):
            choice = st.lists(st.sampled_from(ALIASES), max_size=3, unique=True)
            if option == "extensions_allowlist":
                choice = st.one_of(choice, st.just(["Allow/None"]))
            task[option] = draw(choice)
    task["remove_blocked"] = draw(st.booleans())
    if HAS_ALLOW_EMPTY and draw(st.integers(0, 3)) == 0:
        task["allow_empty_allowlist"] = True
    return task


def make_target(flavour, control, state, installed):
    root = tempfile.mkdtemp(prefix="checkrun-", dir=logic_env.scratch())
    target = Target(root + "/host", flavour, control=control, state=state)
    for name in installed:
        publisher, ext_type = name.split("/")
        target.add((publisher, ext_type), "1.0.%d" % len(ext_type))
    return target


def same_view(a, b):
    if set(a) != set(b):
        return False
    return all(planner.same(p, a[p], b[p]) for p in a)


def outcome(result):
    keys = ("failed", "changed", "changes", "commands", "removed_extensions")
    out = {k: result.get(k) for k in keys}
    if result.get("failed"):
        out["msg"] = result.get("msg")
    return out


def compare(target, task):
    saved = target.snapshot()
    before = target.files()
    check = target.run(check=True, diff=True, **task)
    assert target.files() == before, "check mode changed the host"
    target.restore(saved)
    real = target.run(diff=True, **task)
    return check, real


def start_is_unknowable(state, task):
    """The task leaves monitor mode and depends on the stored lists (it manages them, or removes extensions)."""
    manages = any(task.get(o) is not None for o in ("extensions_allowlist", "extensions_blocklist",
                                                    "guestconfiguration_enabled"))
    return state["config.mode"] == "monitor" and task.get("mode") == "full" and (manages or task["remove_blocked"])


def assert_honest_about_monitor_mode(check, real):
    """Check mode of a task that leaves monitor mode: it says what it cannot know and predicts nothing false."""
    assert check["unknown_in_monitor_mode"], check
    assert any("monitor mode" in n for n in check.get("notes") or []), check
    for change in check["changes"]:
        assert planner.same(change["property"], real["config"].get(change["property"]), change["after"]), (
            change, check, real)
    # never a removal that the run does not make
    removed = [(e["publisher"].lower(), e["type"].lower(), e["version"]) for e in real.get("removed_extensions") or []]
    for ext in check.get("removed_extensions") or []:
        assert (ext["publisher"].lower(), ext["type"].lower(), ext["version"]) in removed, (check, real)
    marker = "(unknown until the agent has left monitor mode)"
    for prop, value in check["diff"]["after"].items():
        assert value == marker or planner.same(prop, real["config"].get(prop), value), (prop, check, real)
    for prop in check["unknown_in_monitor_mode"]:
        if prop in check["diff"]["before"]:
            assert check["diff"]["before"][prop] == marker, check["diff"]


@settings(max_examples=logic_env.examples(30), deadline=None, suppress_health_check=list(HealthCheck))
@given(start_states(), tasks())
def test_check_mode_reports_what_the_run_does(start, task):
    flavour, control, state, installed = start
    target = make_target(flavour, control, state, installed)
    check, real = compare(target, task)
    if start_is_unknowable(state, task) and not check.get("failed") and not real.get("failed"):
        assert_honest_about_monitor_mode(check, real)
        again = target.run(**task)
        assert again.get("changed") is False and not again.get("failed"), again
        return
    assert outcome(check) == outcome(real), (check, real)
    if not check.get("failed"):
        assert same_view(check["diff"]["before"], real["diff"]["before"]), (check["diff"], real["diff"])
        assert same_view(check["diff"]["after"], real["diff"]["after"]), (check["diff"], real["diff"])
    # and the run converged: a second run changes nothing and costs one remote command
    if not real.get("failed"):
        again = target.run(**task)
        assert again.get("changed") is False and not again.get("failed"), again


@pytest.mark.parametrize("variant", ["stored", "effective"])
@pytest.mark.parametrize("flavour", ["linux", "windows"])
def test_leaving_monitor_mode_predicts_no_removal_from_microsofts_list(variant, flavour):
    """Stored allowlist: Custom Script allowed. In monitor mode the effective variant shows Microsoft's list, which
    does not hold it. Leaving monitor mode with remove_blocked must not remove it, in check mode or in the run."""
    custom = names(flavour, ["custom_script"])[0]
    state = {"config.mode": "monitor", "extensions.allowlist": [custom, names(flavour, ["azure_monitor_agent"])[0]]}
    target = make_target(flavour, {"variants": {"monitor_list": variant}}, state, [custom])
    check, real = compare(target, {"mode": "full", "remove_blocked": True, "allow_empty_allowlist": True})
    assert not check.get("failed") and not real.get("failed"), (check, real)
    assert check["removed_extensions"] == [] and real["removed_extensions"] == [], (check, real)
    assert check["unknown_in_monitor_mode"] == ["extensions.allowlist", "extensions.blocklist"]
    assert any(custom in n for n in check["notes"]), check["notes"]   # "may also remove", named
    assert target.installed(), "the allowed extension was removed"


@pytest.mark.parametrize("variant", ["stored", "effective"])
def test_leaving_monitor_mode_with_an_allowlist_predicts_the_certain_removal(variant):
    custom = names("linux", ["custom_script"])[0]
    state = {"config.mode": "monitor", "extensions.allowlist": [custom]}
    target = make_target("linux", {"variants": {"monitor_list": variant}}, state, [custom])
    task = {"mode": "full", "extensions_allowlist": ["azure_monitor_agent"], "remove_blocked": True}
    check, real = compare(target, task)
    assert [e["type"] for e in check["removed_extensions"]] == ["CustomScript"]
    assert check["removed_extensions"] == real["removed_extensions"]
    allow = [c for c in check["changes"] if c["property"] == "extensions.allowlist"]
    assert allow and allow[0]["before"] == "(unknown until the agent has left monitor mode)"
    assert check["diff"]["before"]["extensions.allowlist"] == "(unknown until the agent has left monitor mode)"
