"""One owner per fact: the wait-and-retry read of the runner, the show normaliser, the planner's whole run."""

import pytest

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _info as info
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _parsers as parsers
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _planner as planner
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._connect import parse_show
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._runner import AgentError, read_waiting
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._script_transcript import ScriptResult


class Agent:
    """A runner whose agent answers each read with the next of ``answers``: (rc, stdout), or None (not found)."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.runs = 0

    def run(self, steps):
        self.runs += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if answer is None:
            return ScriptResult(127, "##arcguard:missing\n", "")
        rc, out = answer
        return ScriptResult(0, "##arcguard:begin 1\n%s\n##arcguard:end 1 %d\n" % (out, rc), "")

    @staticmethod
    def missing_error(result):
        return AgentError("azcmagent was not found", rc=result.rc)

    @staticmethod
    def step_error(result, step, argv):
        return AgentError("%s failed with exit code %s" % (" ".join(argv), step.rc), rc=step.rc)


class Clock:
    def __init__(self):
        self.now = 0.0
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def read(agent, wait, clock):
    return read_waiting(agent, ["show", "--json"], lambda argv, step, result: step.stdout, wait,
                        sleep=clock.sleep, clock=clock)


def test_a_missing_agent_is_waited_for_until_it_answers():
    clock, agent = Clock(), Agent(None, None, (0, '{"status": "Connected"}'))
    assert read(agent, 60, clock) == '{"status": "Connected"}'
    assert agent.runs == 3 and clock.now <= 60


@pytest.mark.parametrize("rc", [18, 23])
def test_a_refusal_is_never_waited_for(rc):
    clock, agent = Clock(), Agent((rc, "refused"))
    with pytest.raises(AgentError) as err:
        read(agent, 60, clock)
    assert agent.runs == 1 and clock.slept == [] and "waited" not in err.value.msg


def test_waiting_ends_at_the_deadline_and_says_so():
    clock, agent = Clock(), Agent((1, "busy"))
    with pytest.raises(AgentError) as err:
        read(agent, 12, clock)
    assert err.value.msg.startswith("waited 12 seconds for the agent: ") and 12 <= clock.now < 17


def test_without_a_wait_one_attempt():
    clock, agent = Clock(), Agent(None)
    with pytest.raises(AgentError):
        read(agent, 0, clock)
    assert agent.runs == 1 and clock.slept == []


SHOW = {"Resource Name": "m1", "resource_group": "rg", "subscriptionId": "s", "agentStatus": " Connected ",
        "Agent Last Heartbeat": "2026-12-07T10:00:00Z", "location": None, "cloud": {"nested": 1}}


def test_one_show_normaliser_serves_connect_and_info():
    fields = parsers.show_fields(SHOW)
    assert fields == {"resource_name": "m1", "resource_group": "rg", "subscription_id": "s", "status": "Connected",
                      "last_heartbeat": "2026-12-07T10:00:00Z"}
    text = __import__("json").dumps(SHOW)
    connection = parse_show(text)
    facts = info.agent_facts("", text)
    for field, key in (("resource_name", "resourceName"), ("resource_group", "resourceGroup"),
                       ("subscription_id", "subscriptionId"), ("status", "status"),
                       ("last_heartbeat", "lastHeartbeat")):
        assert connection[field] == facts[key] == fields[field]


DEFAULTS = {"config.mode": "monitor", "extensions.allowlist": ["A/B"], "extensions.blocklist": [],
            "guestconfiguration.enabled": True, "extensions.enabled": True}


def test_whole_run_is_both_rounds_and_ends_where_the_second_plan_ends():
    desired = planner.desired_state({"mode": "full", "extensions_allowlist": ["C/D"], "list_action": "replace"},
                                    "linux")
    first = planner.plan(desired, DEFAULTS)
    assert first.second_pass
    whole = planner.whole_run(desired, DEFAULTS, first)
    left = dict(DEFAULTS, **{"config.mode": "full"})
    second = planner.plan(desired, left)
    assert [s.prop for s in whole.steps] == ["config.mode", "extensions.allowlist"]
    assert whole.changes == first.changes + second.changes and whole.after == second.after
    assert whole.after["extensions.allowlist"] == ["C/D"] and whole.after["config.mode"] == "full"


def test_whole_run_without_a_second_pass_is_the_plan():
    desired = planner.desired_state({"guestconfiguration_enabled": False}, "linux")
    current = dict(DEFAULTS, **{"config.mode": "full"})
    first = planner.plan(desired, current)
    assert planner.whole_run(desired, current, first) is first
