"""remove_blocked / lockdown_remove_blocked through ansible-playbook, from the built collection, against stand-ins.

Each host has its own service manager: fleet.service_shims writes <root>/usr/bin/systemctl, and the play puts
it first on PATH with a play-level environment that uses the host variable standin_bin.
"""

import os
import sys

import pytest

from tests.lib.playbook import run
from tests.lib import fleet

AMA = ("Microsoft.Azure.Monitor", "AzureMonitorLinuxAgent", "1.33.2")
CUSTOM = ("Microsoft.Azure.Extensions", "CustomScript", "2.1.10")
RUN_COMMAND = ("Microsoft.CPlat.Core", "RunCommandHandlerLinux", "1.3.2")
ENVIRONMENT = {"PATH": "{{ standin_bin }}:{{ lookup('ansible.builtin.env', 'PATH') }}"}


def ext(entry):
    return {"publisher": entry[0], "type": entry[1], "version": entry[2]}


def folder(entry):
    return "%s.%s-%s" % entry


def make(tmp_path, name="h", installed=(AMA, CUSTOM, RUN_COMMAND), **kwargs):
    """A stand-in host with extensions installed and its own systemctl; returns (root, host variables)."""
    root = str(tmp_path / name)
    exe = fleet.make_host(root, **kwargs)
    for entry in installed:
        fleet.add_extension(root, *entry)
    host_vars = {"standin_bin": fleet.service_shims(root), "lockdown_executable": exe,
                 "lockdown_extensions_path": fleet.extensions_dir(root)}
    return root, host_vars


def config(host_vars, **args):
    args.setdefault("remove_blocked", True)
    return {"arcguard.azcmagent.azcmagent_config": dict(args, executable=host_vars["lockdown_executable"],
                                                        extensions_path=host_vars["lockdown_extensions_path"])}


def play(tmp_path, tasks, hosts, check=False):
    return run(tmp_path, tasks, hosts=hosts, check=check, environment=ENVIRONMENT)


def services(root):
    return [(e["argv"], e["rc"]) for e in fleet.read_service_log(root)]


def test_blocked_extensions_are_removed_in_order_then_a_rerun_changes_nothing(tmp_path):
    root, hv = make(tmp_path)
    task = config(hv, extensions_allowlist=["azure_monitor_agent"])

    check = play(tmp_path, [task], {"h": hv}, check=True).result("h")
    assert check["changed"] is True and not check.get("failed"), check
    assert sorted(check["removed_extensions"], key=str) == sorted([ext(CUSTOM), ext(RUN_COMMAND)], key=str)
    assert any("extension remove --name Microsoft.Azure.Extensions.CustomScript" in c for c in check["commands"])
    assert fleet.installed_extensions(root) == sorted(folder(e) for e in (AMA, CUSTOM, RUN_COMMAND))
    assert fleet.read_state(root) == {} and services(root) == []
    assert [e["argv"] for e in fleet.read_log(root)] == [["config", "list", "--json"]]

    fleet.clear_log(root)
    first = play(tmp_path, [task], {"h": hv}).result("h")
    assert first["changed"] is True and not first.get("failed"), first
    assert sorted(first["removed_extensions"], key=str) == sorted([ext(CUSTOM), ext(RUN_COMMAND)], key=str)
    assert fleet.installed_extensions(root) == [folder(AMA)]
    assert fleet.read_state(root)["extensions.allowlist"] == ["Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"]
    assert fleet.service_status(root, "extd") == "running"
    assert services(root) == [(["stop", "extd"], 0), (["start", "extd"], 0)]
    calls = fleet.read_log(root)
    assert [e["argv"][:2] for e in calls] == [["config", "list"], ["config", "set"], ["extension", "remove"],
                                              ["extension", "remove"], ["config", "list"]]
    # the service is stopped before the first removal and started after the last
    stop, start = fleet.read_service_log(root)
    removals = [e for e in calls if e["argv"][0] == "extension"]
    assert calls[1]["end"] <= stop["time"] < removals[0]["start"] and removals[-1]["end"] <= start["time"]
    assert all(e["rc"] == 0 for e in calls)

    fleet.clear_log(root)
    second = play(tmp_path, [task], {"h": hv}).result("h")
    assert second["changed"] is False and second["removed_extensions"] == [], second
    assert [e["argv"] for e in fleet.read_log(root)] == [["config", "list", "--json"]]
    assert len(services(root)) == 2


def test_converged_host_with_nothing_blocked_costs_one_invocation(tmp_path):
    root, hv = make(tmp_path, installed=(AMA,),
                    state={"extensions.allowlist": ["Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"]})
    result = play(tmp_path, [config(hv, extensions_allowlist=["azure_monitor_agent"])], {"h": hv}).result("h")
    assert result["changed"] is False and result["removed_extensions"] == [], result
    assert [e["argv"] for e in fleet.read_log(root)] == [["config", "list", "--json"]]
    assert services(root) == []


def test_the_lists_after_the_writes_decide(tmp_path):
    # the agent blocks the Azure Monitor Agent now; the task blocks Custom Script instead
    root, hv = make(tmp_path, state={"extensions.blocklist": ["Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"]})
    result = play(tmp_path, [config(hv, extensions_blocklist=["custom_script"])], {"h": hv}).result("h")
    assert not result.get("failed"), result
    assert result["removed_extensions"] == [ext(CUSTOM)]
    assert fleet.installed_extensions(root) == sorted([folder(AMA), folder(RUN_COMMAND)])


def test_a_removal_failure_still_starts_the_service_and_reports_what_was_and_was_not_removed(tmp_path):
    fault = {"extension": "Microsoft.Azure.Extensions.CustomScript", "rc": 69}
    root, hv = make(tmp_path, control={"faults": {"fail_remove": fault}})
    task = config(hv, extensions_allowlist=["azure_monitor_agent"])
    result = play(tmp_path, [task], {"h": hv}).result("h")
    assert result["failed"] and result["changed"], result
    assert "extension remove --name Microsoft.Azure.Extensions.CustomScript failed (exit code 69" in result["msg"]
    assert "Not removed: Microsoft.Azure.Extensions/CustomScript 2.1.10" in result["msg"]
    assert result["removed_extensions"] == [ext(RUN_COMMAND)]
    assert result["not_removed"] == [ext(CUSTOM)]
    assert result["rc"] == 69 and "injected fault" in result["stderr"]
    assert fleet.service_status(root, "extd") == "running"
    assert [a for a, _rc in services(root)] == [["stop", "extd"], ["start", "extd"]]
    assert fleet.installed_extensions(root) == sorted([folder(AMA), folder(CUSTOM)])
    # the settings were written and read back
    assert result["changes"][0]["property"] == "extensions.allowlist"
    assert result["config"]["extensions.allowlist"] == ["Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"]

    fleet.write_control(root, {})
    again = play(tmp_path, [task], {"h": hv}).result("h")
    assert again["changed"] and not again.get("failed") and again["removed_extensions"] == [ext(CUSTOM)], again
    assert fleet.installed_extensions(root) == [folder(AMA)]


def test_stopping_fails_nothing_is_removed_and_the_service_is_started(tmp_path):
    root, hv = make(tmp_path, control={"faults": {"fail_service": {"service": "extd", "action": "stop", "rc": 1}}})
    result = play(tmp_path, [config(hv, extensions_blocklist=["custom_script"])], {"h": hv}).result("h")
    assert result["failed"], result
    assert "stopping the extension service failed" in result["msg"] and "nothing was removed" in result["msg"]
    assert result["removed_extensions"] == [] and result["not_removed"] == [ext(CUSTOM)]
    assert services(root) == [(["stop", "extd"], 1), (["start", "extd"], 0)]
    assert not [e for e in fleet.read_log(root) if e["argv"][0] == "extension"]
    assert folder(CUSTOM) in fleet.installed_extensions(root)


def test_a_service_that_does_not_start_again_is_a_loud_failure(tmp_path):
    root, hv = make(tmp_path, control={"faults": {"fail_service": {"service": "extd", "action": "start", "rc": 1}}})
    result = play(tmp_path, [config(hv, extensions_blocklist=["custom_script"])], {"h": hv}).result("h")
    assert result["failed"] and result["changed"], result
    assert result["msg"].startswith("removing blocked extensions: the extension service was not started again")
    assert "start it by hand with systemctl start extd" in result["msg"]
    assert result["removed_extensions"] == [ext(CUSTOM)]
    assert fleet.service_status(root, "extd") == "stopped"


@pytest.mark.parametrize("check", [False, True])
def test_an_agent_before_1_39_fails_before_any_write(tmp_path, check):
    root, hv = make(tmp_path, control={"version": "1.38.02698.1604"})
    result = play(tmp_path, [config(hv, extensions_allowlist=["azure_monitor_agent"])], {"h": hv},
                  check=check).result("h")
    assert result["failed"] and not result["changed"], result
    assert "1.39" in result["msg"] and "Nothing was changed" in result["msg"]
    assert [e["argv"] for e in fleet.read_log(root)] == [["config", "list", "--json"]]
    assert fleet.read_state(root) == {} and services(root) == []
    assert len(fleet.installed_extensions(root)) == 3


def test_an_agent_before_1_39_with_nothing_blocked_is_fine(tmp_path):
    root, hv = make(tmp_path, installed=(AMA,), control={"version": "1.38.02698.1604"})
    result = play(tmp_path, [config(hv, extensions_allowlist=["azure_monitor_agent"])], {"h": hv}).result("h")
    assert result["changed"] and not result.get("failed") and result["removed_extensions"] == [], result
    assert services(root) == []


def test_monitor_mode_removes_nothing_and_says_why(tmp_path):
    root, hv = make(tmp_path, state={"extensions.blocklist": ["Microsoft.Azure.Extensions/CustomScript"]})
    result = play(tmp_path, [config(hv, mode="monitor")], {"h": hv}).result("h")
    assert result["changed"] and not result.get("failed"), result
    assert result["removed_extensions"] == []
    assert any("monitor mode" in n and "not published" in n for n in result["notes"])
    assert len(fleet.installed_extensions(root)) == 3 and services(root) == []


def test_leaving_monitor_mode_removes_what_the_new_lists_block(tmp_path):
    root, hv = make(tmp_path, state={"config.mode": "monitor"},
                    control={"variants": {"monitor_list": "effective", "monitor_refusal_rc": 27}})
    task = config(hv, mode="full", extensions_allowlist=["azure_monitor_agent"])
    check = play(tmp_path, [task], {"h": hv}, check=True).result("h")
    assert sorted(check["removed_extensions"], key=str) == sorted([ext(CUSTOM), ext(RUN_COMMAND)], key=str), check
    result = play(tmp_path, [task], {"h": hv}).result("h")
    assert result["changed"] and not result.get("failed"), result
    assert fleet.installed_extensions(root) == [folder(AMA)]
    assert fleet.read_state(root)["config.mode"] == "full"
    assert fleet.service_status(root, "extd") == "running"


def test_lockdown_role_on_a_fleet_check_then_remove_then_idempotent(tmp_path):
    hosts, roots = {}, {}
    for name, installed in (("blocked", (AMA, CUSTOM)), ("clean", (AMA,))):
        roots[name], hv = make(tmp_path, name, installed=installed)
        hosts[name] = dict(hv, lockdown_profile="ama_only", lockdown_remove_blocked=True)
    tasks = [{"ansible.builtin.include_role": {"name": "arcguard.azcmagent.lockdown"}},
             {"ansible.builtin.debug": {"var": "lockdown_result"}}]

    def outcome(out, name):
        return out.result(name, 1)["lockdown_result"]

    check = play(tmp_path, tasks, hosts, check=True)
    assert check.rc == 0, check.stdout[-3000:]
    assert outcome(check, "blocked")["removed_extensions"] == [ext(CUSTOM)]
    assert outcome(check, "clean")["removed_extensions"] == []
    assert folder(CUSTOM) in fleet.installed_extensions(roots["blocked"])

    first = play(tmp_path, tasks, hosts)
    assert first.rc == 0 and "failed=0" in first.stdout, first.stdout[-3000:]
    assert outcome(first, "blocked")["removed_extensions"] == [ext(CUSTOM)]
    assert fleet.installed_extensions(roots["blocked"]) == [folder(AMA)]
    assert fleet.service_status(roots["blocked"], "extd") == "running"
    assert services(roots["clean"]) == []

    for root in roots.values():
        fleet.clear_log(root)
    second = play(tmp_path, tasks, hosts)
    assert second.rc == 0 and "changed=1" not in second.stdout, second.stdout[-3000:]
    for name, root in roots.items():
        assert outcome(second, name)["changed"] is False
        assert [e["argv"] for e in fleet.read_log(root)] == [["config", "list", "--json"]]


def test_the_role_leaves_extensions_alone_by_default(tmp_path):
    root, hv = make(tmp_path)
    out = play(tmp_path, [{"ansible.builtin.include_role": {"name": "arcguard.azcmagent.lockdown"}},
                          {"ansible.builtin.debug": {"var": "lockdown_result"}}],
               {"h": dict(hv, lockdown_profile="ama_only")})
    assert out.rc == 0 and "failed=0" in out.stdout, out.stdout[-3000:]
    assert out.result("h", 1)["lockdown_result"]["changed"] is True
    assert "removed_extensions" not in out.result("h", 1)["lockdown_result"]
    assert len(fleet.installed_extensions(root)) == 3 and services(root) == []
    assert os.path.exists(fleet.state_file(root))


def test_the_lockdown_playbook_honours_lockdown_remove_blocked_from_the_command_line(tmp_path):
    import json
    import subprocess
    from tests.lib.playbook import VENV_BIN, env
    root, hv = make(tmp_path)
    inventory = tmp_path / "inventory.json"
    host_vars = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                 "lockdown_executable": hv["lockdown_executable"],
                 "lockdown_extensions_path": hv["lockdown_extensions_path"]}
    inventory.write_text(json.dumps({"all": {"hosts": {"h": host_vars}}}))
    # a local connection runs with the controller's environment: the host's systemctl comes first on its PATH
    environ = dict(env(), PATH=hv["standin_bin"] + os.pathsep + env()["PATH"])
    command = [os.path.join(VENV_BIN, "ansible-playbook"), "-i", str(inventory), "arcguard.azcmagent.lockdown",
               "-e", "lockdown_profile=ama_only", "-e", "lockdown_remove_blocked=true"]
    check = subprocess.run(command + ["--check"], capture_output=True, text=True, env=environ, check=False)
    assert check.returncode == 0 and "changed=1" in check.stdout, check.stdout[-3000:]
    assert len(fleet.installed_extensions(root)) == 3
    done = subprocess.run(command, capture_output=True, text=True, env=environ, check=False)
    assert done.returncode == 0 and "changed=1" in done.stdout, done.stdout[-3000:]
    assert fleet.installed_extensions(root) == [folder(AMA)]
    assert fleet.service_status(root, "extd") == "running"
