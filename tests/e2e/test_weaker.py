"""Promise 2: never weaker than asked.

An empty allowlist allows every extension. No task may leave the agent less locked down than it evidently meant
without saying so: a ``list_action: remove`` or an alias resolution that empties the allowlist, leaving monitor
mode without a list to replace Microsoft's managed one, a removal that leaves no list at all, a blocklist of
aliases none of which exist on the OS. Each is refused before anything is written unless the task sets
``allow_empty_allowlist: true`` (docs/security.md states the invariant).

1. A property over random start states and tasks at the planner level (the engine's own projection of the end
   state): a plan that goes through ends no weaker than asked, and a refusal is always a task that
   ``allow_empty_allowlist`` would have let make the agent weaker.
2. The same through the action plugin on a stand-in (POSIX and PowerShell): a refusal writes nothing.
3. A few cases through ansible-playbook.
"""

from tests.lib import logic_env
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _catalog as catalog
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _planner as planner
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _weaker as weaker
from tests.lib.playbook import run
from tests.lib import fleet

pytestmark = pytest.mark.hostile

ALIASES = ["azure_monitor_agent", "defender_endpoint", "custom_script", "run_command", "defender_sql", "admin_center"]
AMA = "Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"
CUSTOM = "Microsoft.Azure.Extensions/CustomScript"


def names(os_name, aliases):
    return [n for n in (catalog.resolve_alias(a, os_name) for a in aliases) if n]


@st.composite
def starts(draw):
    os_name = draw(st.sampled_from(["linux", "windows"]))
    allow = draw(st.one_of(st.just(["Allow/None"]), st.lists(st.sampled_from(ALIASES), max_size=3, unique=True)))
    return os_name, {
        "config.mode": draw(st.sampled_from(["full", "monitor"])),
        "extensions.allowlist": allow if allow == ["Allow/None"] else names(os_name, allow),
        "extensions.blocklist": names(os_name, draw(st.lists(st.sampled_from(ALIASES), max_size=2, unique=True))),
        "extensions.enabled": draw(st.booleans()),
        "guestconfiguration.enabled": draw(st.booleans()),
        "incomingconnections.enabled": draw(st.booleans()),
    }


@st.composite
def tasks(draw):
    task = {}
    for option, values in (("mode", ["full", "monitor"]), ("list_action", ["replace", "add", "remove"]),
                           ("extensions_enabled", [True, False])):
        if draw(st.booleans()):
            task[option] = draw(st.sampled_from(values))
    for option in ("extensions_allowlist", "extensions_blocklist"):
        if draw(st.integers(0, 2)):
            task[option] = draw(st.one_of(st.lists(st.sampled_from(ALIASES), max_size=3, unique=True),
                                          st.just(["Allow/None"]) if option == "extensions_allowlist"
                                          else st.just([])))
    if draw(st.integers(0, 5)) == 0:
        task["settings"] = {"extensions.allowlist": None}
    return task


# ---- the oracle: written from the promise, not from the code

def allows_all_but_blocklist(state):
    """Full mode with an empty allowlist: every extension not blocked may be installed."""
    return str(state.get("config.mode", "full")) != "monitor" and not state.get("extensions.allowlist")


def restricted_by_allowlist(state):
    return str(state.get("config.mode", "full")) == "monitor" or bool(state.get("extensions.allowlist"))


def asked_for_empty_allowlist(task):
    if "extensions.allowlist" in (task.get("settings") or {}):
        return True
    return task.get("extensions_allowlist") == [] and task.get("list_action", "replace") == "replace"


def gave_a_list(task, os_name):
    """A list that replaces Microsoft's managed one when leaving monitor mode (or the manager turned off)."""
    given = (resolved(os_name, task.get("extensions_allowlist")) or resolved(os_name, task.get("extensions_blocklist"))
             ) and task.get("list_action", "replace") != "remove"
    return bool(given) or task.get("extensions_enabled") is False or asked_for_empty_allowlist(task)


def resolved(os_name, items):
    """A list option's names on ``os_name`` (Allow/None kept)."""
    return [i for i in items or [] if i == "Allow/None"] + names(os_name, [i for i in items or [] if i != "Allow/None"])


def weaker_than_asked(task, os_name, start, end):
    """Why ``end`` is weaker than ``task`` evidently meant, from ``start``; None if it is not."""
    emptied = restricted_by_allowlist(start) and allows_all_but_blocklist(end) and not asked_for_empty_allowlist(task)
    allow = task.get("extensions_allowlist")
    if emptied and allow is not None and (task.get("list_action") == "remove" or (allow and not resolved(os_name, allow))):
        return "the task's allowlist edit emptied the allowlist in force"
    if start["config.mode"] == "monitor" and end["config.mode"] != "monitor" and not gave_a_list(task, os_name):
        return "monitor mode left without a list"
    if emptied and start["config.mode"] != "monitor":
        return "the allowlist in force was emptied"
    edits = task.get("extensions_allowlist") is not None or task.get("extensions_blocklist") is not None
    if task.get("list_action") == "remove" and edits and not asked_for_empty_allowlist(task) \
            and (start["extensions.allowlist"] or start["extensions.blocklist"]) \
            and allows_all_but_blocklist(end) and not end["extensions.blocklist"]:
        return "a removal left no list at all"
    blocks = task.get("extensions_blocklist")
    if blocks and not resolved(os_name, blocks) and start["extensions.blocklist"] and not end["extensions.blocklist"]:
        return "a blocklist of aliases missing on this OS cleared the blocklist"
    return None


def plan_end(task, os_name, start):
    """The engine's projection of the end state for ``task`` from ``start`` (or PlanError)."""
    args = dict(task, strict=False)
    desired = planner.desired_state(args, os_name)
    plan = planner.plan(desired, start)
    return desired, plan.after


def outcome(task, os_name, start):
    """(refused, why, end): the engine's decision for ``task`` on ``start``."""
    try:
        desired, end = plan_end(task, os_name, start)
    except planner.PlanError as exc:
        return "error", str(exc), None
    problems = weaker.problems(desired, start, end)
    if problems:
        return "refused", " ".join(problems), end
    return "ok", None, end


@settings(max_examples=logic_env.examples(1500), deadline=None, suppress_health_check=list(HealthCheck))
@given(starts(), tasks())
def test_a_plan_never_ends_weaker_than_asked(start, task):
    os_name, state = start
    verdict, why, end = outcome(task, os_name, state)
    if verdict == "error":
        # refused for another reason: must not be a weakening that allow_empty_allowlist would let through
        assert "allow_empty_allowlist" not in why or "none of the given extensions exist" in why, why
        return
    if verdict == "ok":
        assert weaker_than_asked(task, os_name, state, end) is None, (why, end)
        return
    assert "allow_empty_allowlist" in why and "Nothing was changed" in why, why
    # refused: with the option it goes through, and then really is weaker than asked
    allowed = dict(task, allow_empty_allowlist=True)
    verdict2, why2, end2 = outcome(allowed, os_name, state)
    assert verdict2 == "ok", why2
    assert weaker_than_asked(task, os_name, state, end2) is not None, (why, end2)


# ---- through the action plugin, on stand-ins, both shells

Target = logic_env.target_class()

CASES = [
    # (name, start, task, refused?)
    ("remove_last_allowlist_entry", {"extensions.allowlist": [AMA]},
     {"extensions_allowlist": ["azure_monitor_agent"], "list_action": "remove"}, True),
    ("remove_allow_none", {"extensions.allowlist": ["Allow/None"]},
     {"extensions_allowlist": ["Allow/None"], "list_action": "remove"}, True),
    ("remove_one_of_two", {"extensions.allowlist": [AMA, CUSTOM]},
     {"extensions_allowlist": ["custom_script"], "list_action": "remove"}, False),
    ("alias_missing_on_os", {"extensions.allowlist": [AMA]}, {"extensions_allowlist": ["admin_center"]}, True),
    ("leave_monitor_without_list", {"config.mode": "monitor"}, {"mode": "full"}, True),
    ("leave_monitor_with_allowlist", {"config.mode": "monitor"},
     {"mode": "full", "extensions_allowlist": ["azure_monitor_agent"]}, False),
    ("leave_monitor_with_blocklist", {"config.mode": "monitor"},
     {"mode": "full", "extensions_blocklist": ["custom_script"]}, False),
    ("remove_last_blocklist_entry", {"extensions.blocklist": [CUSTOM]},
     {"extensions_blocklist": ["custom_script"], "list_action": "remove"}, True),
    ("blocklist_of_missing_aliases", {"extensions.blocklist": [CUSTOM]}, {"extensions_blocklist": ["admin_center"]},
     True),
    ("explicit_empty_allowlist", {"extensions.allowlist": [AMA]}, {"extensions_allowlist": []}, False),
]


def flavour_names(flavour, state):
    """The Linux names of a case's state in the host's own OS names."""
    swap = {AMA: catalog.resolve_alias("azure_monitor_agent", flavour),
            CUSTOM: catalog.resolve_alias("custom_script", flavour)}
    return {k: [swap.get(x, x) for x in v] if isinstance(v, list) else v for k, v in state.items()}


@pytest.mark.parametrize("flavour", ["linux", "windows"])
@pytest.mark.parametrize("name,start,task,refused", CASES, ids=[c[0] for c in CASES])
def test_refused_before_any_write_unless_allowed(tmp_path, flavour, name, start, task, refused):
    if flavour == "windows" and name in ("alias_missing_on_os", "blocklist_of_missing_aliases"):
        pytest.skip("every alias of the catalog exists on Windows")
    target = Target(tmp_path / "host", flavour, state=flavour_names(flavour, start))
    before = target.files()
    result = target.run(remove_blocked=False, **task)
    if refused:
        assert result.get("failed") and "allow_empty_allowlist" in result["msg"], result
        assert target.files() == before
        assert target.invocations() in ([], [["config", "list", "--json"]])
        allowed = target.run(remove_blocked=False, allow_empty_allowlist=True, **task)
        assert not allowed.get("failed") and allowed["changed"], allowed
    else:
        assert not result.get("failed"), result


def test_through_ansible_playbook(tmp_path):
    hosts = {}
    for name in ("remove", "monitor", "allowed"):
        state = {"monitor": {"config.mode": "monitor"}}.get(name, {"extensions.allowlist": [AMA]})
        hosts[name] = {"exe": fleet.make_host(str(tmp_path / name), state=state)}
    remove = {"extensions_allowlist": ["azure_monitor_agent"], "list_action": "remove"}
    tasks = [
        {"when": "inventory_hostname == 'remove'",
         "arcguard.azcmagent.azcmagent_config": dict(remove, executable="{{ exe }}")},
        {"when": "inventory_hostname == 'monitor'",
         "arcguard.azcmagent.azcmagent_config": {"mode": "full", "executable": "{{ exe }}"}},
        {"when": "inventory_hostname == 'allowed'",
         "arcguard.azcmagent.azcmagent_config": dict(remove, executable="{{ exe }}", allow_empty_allowlist=True)},
    ]
    for check in (True, False):
        out = run(tmp_path, tasks, hosts=hosts, check=check)
        assert out.result("remove", 0)["failed"] and "list_action: remove" in out.result("remove", 0)["msg"]
        assert out.result("monitor", 1)["failed"] and "monitor mode" in out.result("monitor", 1)["msg"]
        assert out.result("allowed", 2)["changed"] and not out.result("allowed", 2).get("failed")
        assert fleet.read_state(str(tmp_path / "remove")) == {"extensions.allowlist": [AMA]}
        assert fleet.read_state(str(tmp_path / "monitor")) == {"config.mode": "monitor"}
    assert not fleet.read_state(str(tmp_path / "allowed")).get("extensions.allowlist")
