"""Promise 5: precedence is what the docs say, through ansible-playbook against stand-ins.

The task's own options win over ``overrides``, ``overrides`` over the profile, also when the task gives a value equal
to the module's default; ``settings`` merge key by key across the three (a key set to ``null`` resets the
setting); an option and its ``settings`` spelling in different layers are one setting, the higher layer wins.
``playbooks/reset.yml`` resets every lockdown setting whatever group or host variables say.
"""

import json
import os
import subprocess

from tests.lib import logic_env  # noqa: F401  pylint: disable=unused-import
import pytest

from tests.lib.playbook import VENV_BIN, env, run
from tests.lib import fleet

pytestmark = pytest.mark.hostile

AMA = "Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"
MDE = "Microsoft.Azure.AzureDefenderForServers/MDE.Linux"
CUSTOM = "Microsoft.Azure.Extensions/CustomScript"
RUN_COMMAND = "Microsoft.CPlat.Core/RunCommandHandlerLinux"


def listing(exe):
    out = subprocess.run([exe, "config", "list", "--json"], capture_output=True, text=True, check=True).stdout
    return {e["Key"]: e["Value"] for e in json.loads(out)["LocalSettings"]}


def same_list(got, want):
    return sorted(str(x).lower() for x in got or []) == sorted(str(x).lower() for x in want)


# name: (start state, stand-in control, task options, {property: expected value after the run})
CASES = {
    # list_action: replace is the module default, given explicitly it still beats the profile's add
    "task_default_list_action_beats_profile": (
        {"extensions.allowlist": [CUSTOM]}, None,
        {"profile": "p", "profiles": {"p": {"options": {"extensions_allowlist": [AMA], "list_action": "add"}}},
         "list_action": "replace"},
        {"extensions.allowlist": [AMA]}),
    "task_default_list_action_beats_overrides": (
        {"extensions.allowlist": [CUSTOM]}, None,
        {"profile": "p", "profiles": {"p": {"options": {"extensions_allowlist": [AMA]}}},
         "overrides": {"list_action": "add"}, "list_action": "replace"},
        {"extensions.allowlist": [AMA]}),
    "profile_list_action_applies_when_task_is_silent": (
        {"extensions.allowlist": [CUSTOM]}, None,
        {"profile": "p", "profiles": {"p": {"options": {"extensions_allowlist": [AMA], "list_action": "add"}}}},
        {"extensions.allowlist": [CUSTOM, AMA]}),
    # timeout: 300 is the default; the profile's 1 second would stop an agent that takes 2
    "task_default_timeout_beats_profile": (
        None, {"faults": {"hang_seconds": 2}},
        {"profile": "p", "profiles": {"p": {"options": {"guestconfiguration_enabled": False, "timeout": 1}}},
         "timeout": 300},
        {"guestconfiguration.enabled": False}),
    "overrides_beat_profile": (
        None, None,
        {"profile": "ama_only", "overrides": {"guestconfiguration_enabled": True}},
        {"guestconfiguration.enabled": True, "extensions.allowlist": [AMA]}),
    "task_beats_overrides": (
        None, None,
        {"profile": "ama_only", "overrides": {"guestconfiguration_enabled": True}, "guestconfiguration_enabled": False,
         "extensions_allowlist": [MDE]},
        {"guestconfiguration.enabled": False, "extensions.allowlist": [MDE]}),
    "task_value_equal_to_agent_default_beats_profile": (
        None, None,
        {"profile": "extensions_off", "extensions_enabled": True},
        {"extensions.enabled": True, "config.mode": "full"}),
    "settings_merge_key_by_key": (
        None, None,
        {"profile": "p", "profiles": {"p": {"options": {"settings": {"extensions.agent.cpulimit": 10,
                                                                     "guestconfiguration.agent.cpulimit": 11}}}},
         "overrides": {"settings": {"guestconfiguration.agent.cpulimit": 20, "incomingconnections.ports": [22]}},
         "settings": {"incomingconnections.ports": [443]}},
        {"extensions.agent.cpulimit": 10, "guestconfiguration.agent.cpulimit": 20, "incomingconnections.ports": [443]}),
    "settings_null_in_a_higher_layer_resets": (
        {"extensions.agent.cpulimit": 40}, None,
        {"profile": "p", "profiles": {"p": {"options": {"settings": {"extensions.agent.cpulimit": 10}}}},
         "overrides": {"settings": {"extensions.agent.cpulimit": None}}},
        {"extensions.agent.cpulimit": 5}),
    "settings_keys_merge_whatever_their_case": (
        None, None,
        {"profile": "p", "profiles": {"p": {"options": {"settings": {"extensions.agent.cpulimit": 10}}}},
         "settings": {"Extensions.Agent.CpuLimit": 30}},
        {"extensions.agent.cpulimit": 30}),
    "task_option_beats_profile_settings_spelling": (
        None, None,
        {"profile": "p", "profiles": {"p": {"options": {"settings": {"guestconfiguration.enabled": True}}}},
         "guestconfiguration_enabled": False},
        {"guestconfiguration.enabled": False}),
    "task_settings_spelling_beats_profile_option": (
        None, None,
        {"profile": "ama_only", "settings": {"guestconfiguration.enabled": True}},
        {"guestconfiguration.enabled": True, "extensions.allowlist": [AMA]}),
}


OPTIONS = sorted({k for case in CASES.values() for k in case[2]})


def test_precedence_table(tmp_path):
    """One task for every case (each host is one): each option is templated from the host's case, omitted when
    the case does not give it, so the module sees exactly the options of the case, as a playbook gives them."""
    hosts = {}
    for name, (state, control, options, _want) in CASES.items():
        hosts[name] = {"exe": fleet.make_host(str(tmp_path / name), control=control, state=state), "case": options}
    task = {"arcguard.azcmagent.azcmagent_config": dict(
        {k: "{{ case.%s | default(omit) }}" % k for k in OPTIONS}, executable="{{ exe }}")}
    out = run(tmp_path, [task], hosts=hosts)
    problems = []
    for name, (_state, _control, _options, want) in CASES.items():
        result = out.result(name)
        if not result or result.get("failed"):
            problems.append("%s: %s" % (name, (result or {}).get("msg")))
            continue
        seen = listing(hosts[name]["exe"])
        for prop, value in want.items():
            ok = same_list(seen[prop], value) if isinstance(value, list) else str(seen[prop]).lower() == str(
                value).lower()
            if not ok:
                problems.append("%s: %s is %r, expected %r" % (name, prop, seen[prop], value))
    assert not problems, "\n".join(problems)


LOCKED = {"config.mode": "full", "extensions.allowlist": [AMA], "extensions.blocklist": [CUSTOM, RUN_COMMAND],
          "guestconfiguration.enabled": False, "extensions.enabled": False, "incomingconnections.enabled": False,
          "incomingconnections.ports": [22, 443]}
DEFAULTS = {"config.mode": "full", "extensions.allowlist": [], "extensions.blocklist": [],
            "guestconfiguration.enabled": True, "extensions.enabled": True, "incomingconnections.enabled": True}
# decided in Azure now (SSH and Windows Admin Center service configurations): a reset leaves them as it found them


@pytest.mark.parametrize("where", ["host_vars", "group_vars"])
def test_reset_resets_every_lockdown_setting_whatever_the_inventory_says(tmp_path, where):
    leaking = {
        "lockdown_profile": "ama_only",
        "lockdown_overrides": {"guestconfiguration_enabled": False, "extensions_blocklist": [CUSTOM],
                               "settings": {"incomingconnections.ports": [22]}},
        "lockdown_profiles": {"defaults": {"description": "not the defaults",
                                           "options": {"mode": "full", "extensions_allowlist": [AMA]}}},
        "lockdown_strict": True,
        "lockdown_remove_blocked": True,
    }
    hosts = {}
    for name, start in (("locked", LOCKED), ("monitor", {"config.mode": "monitor", "extensions.enabled": False}),
                        ("fresh", None)):
        exe = fleet.make_host(str(tmp_path / name), state=start)
        hosts[name] = dict({"ansible_connection": "local", "ansible_python_interpreter": os.sys.executable,
                            "lockdown_executable": exe}, **(leaking if where == "host_vars" else {}))
    inventory = {"all": {"hosts": hosts, "children": {"arc": {"hosts": {n: {} for n in hosts},
                                                              "vars": leaking if where == "group_vars" else {}}}}}
    (tmp_path / "inventory.json").write_text(json.dumps(inventory))
    cmd = [os.path.join(VENV_BIN, "ansible-playbook"), "-i", str(tmp_path / "inventory.json"),
           "arcguard.azcmagent.reset", "-e", "target=arc"]
    first = subprocess.run(cmd, capture_output=True, text=True, env=env(), cwd=str(tmp_path), timeout=300,
                           check=False)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
    for name in hosts:
        seen = listing(hosts[name]["lockdown_executable"])
        for prop, value in DEFAULTS.items():
            ok = same_list(seen[prop], value) if isinstance(value, list) else str(seen[prop]).lower() == str(
                value).lower()
            assert ok, (name, prop, seen[prop], value)
    assert same_list(listing(hosts["locked"]["lockdown_executable"])["incomingconnections.ports"], [22, 443])
    assert "changed=1" in first.stdout
    again = subprocess.run(cmd, capture_output=True, text=True, env=env(), cwd=str(tmp_path), timeout=300,
                           check=False)
    assert again.returncode == 0 and "changed=1" not in again.stdout, again.stdout[-3000:]
