# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for arcguard.azcmagent.azcmagent_config: runs on the controller.

Reads the agent's settings with one remote command, plans on the controller, and
applies every needed write (then reads back) with at most one more. With
remove_blocked, the first command also lists the installed extensions, and the
apply command also removes those that the lists block (stopping the extension
service around the removals and always starting it again).
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _info as info
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _planner as planner
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _scripts as scripts
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._runner import (
    EXIT_CODES, AgentError, Runner, read_state, scrub,
)
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _parsers as parsers
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._profiles import PROFILES as BUILTIN_PROFILES
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._secrets import url_secrets

# `azcmagent extension` came with agent 1.39, as did this property: an agent that lists it has the command.
EXTENSION_COMMAND_SINCE = (1, 39)
EXTENSION_COMMAND_PROBE = "extensions.agent.cpulimit"


def _not_strings(task_args, spec):
    """A message for string options given a dictionary or a list (Ansible would turn them into their repr)."""
    for name, option in spec.items():
        value = task_args.get(name)
        if option.get("type") == "str" and isinstance(value, (dict, list, tuple)):
            return "%s must be a string, not a %s" % (name, "dictionary" if isinstance(value, dict) else "list")
    return None


def _folder(ext):
    """An installed extension's identity: its folder's Publisher.Type (any casing) and version."""
    return ("%s.%s" % (ext["publisher"], ext["type"])).lower(), ext["version"]


class _Runner(Runner):
    """A Runner whose reads can carry more steps (the extension folder listing) in the same remote command."""

    read_extras = ()

    def run(self, steps, keep_going=False):
        return super().run(list(steps) + list(self.read_extras), keep_going)


class _Removal:
    """The blocked extensions to remove, and the steps that remove them."""

    def __init__(self, extensions, os_name, environment, path=None):
        self.extensions = extensions  # [{publisher, type, version, name, reason}], one per folder
        self.names = []               # Publisher.Type, as the folders spell them, once each
        for ext in extensions:
            name = "%s.%s" % (ext["publisher"], ext["type"])
            if name.lower() not in [n.lower() for n in self.names]:
                self.names.append(name)
        service = scripts.EXTENSION_SERVICE[os_name]
        self.stop = scripts.Service("stop", service, environment)
        self.start = scripts.Service("start", service, environment)
        self.removes = [scripts.WhileStopped(["extension", "remove", "--name", n]) for n in self.names]
        self.steps = [self.stop] + self.removes + [self.start]
        self.listing = scripts.Listing(path)  # to check afterwards that the folders are gone

    def __bool__(self):
        return bool(self.extensions)


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = True
    _supports_check_mode = True
    _supports_async = False

    ARGUMENT_SPEC = dict(
        mode=dict(type="str", choices=["full", "monitor"]),
        extensions_allowlist=dict(type="list", elements="str"),
        extensions_blocklist=dict(type="list", elements="str"),
        list_action=dict(type="str", choices=["replace", "add", "remove"], default="replace"),
        guestconfiguration_enabled=dict(type="bool"),
        extensions_enabled=dict(type="bool"),
        incomingconnections_enabled=dict(type="bool"),
        incomingconnections_ports=dict(type="list", elements="int"),
        proxy_url=dict(type="str", no_log=False),
        proxy_bypass=dict(type="list", elements="str"),
        settings=dict(type="dict"),
        executable=dict(type="str"),
        strict=dict(type="bool", default=False),
        timeout=dict(type="int", default=300),
        wait_timeout=dict(type="int", default=0),
        profile=dict(type="str"),
        profiles=dict(type="dict"),
        overrides=dict(type="dict"),
        remove_blocked=dict(type="bool", default=False),
        extensions_path=dict(type="str"),
    )
    # the options a profile may set
    PROFILE_OPTIONS = ("mode", "extensions_allowlist", "extensions_blocklist", "list_action",
                       "guestconfiguration_enabled", "extensions_enabled", "incomingconnections_enabled",
                       "incomingconnections_ports", "proxy_url", "proxy_bypass", "settings", "timeout")

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp

        wrong = _not_strings(self._task.args, self.ARGUMENT_SPEC)
        if wrong:
            result.update(failed=True, changed=False, msg=wrong)
            return result
        _validation, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)
        try:
            args = self._with_profile(args)
        except planner.PlanError as exc:
            result.update(failed=True, changed=False, msg=str(exc))
            return result
        secrets = url_secrets(args.get("proxy_url"))
        try:
            out = self._run(args, secrets)
        except planner.PlanError as exc:
            out = {"failed": True, "changed": False, "msg": str(exc)}
        except AgentError as exc:
            out = {"failed": True, "msg": exc.msg}
            out.update(exc.details)
            out.setdefault("changed", False)
        result.update(scrub(out, secrets))
        return result

    # ------------------------------------------------------------------ helpers

    def _with_profile(self, args):
        """Options from the named profile, then overrides, then the task's own options."""
        name = args.get("profile")
        if name is None:
            if args.get("overrides"):
                raise planner.PlanError("overrides needs profile")
            return args
        profiles = dict(BUILTIN_PROFILES)
        profiles.update(args.get("profiles") or {})
        if name not in profiles:
            raise planner.PlanError("profile %s is not a profile; known profiles: %s"
                                    % (name, ", ".join(sorted(profiles)) or "none (profiles is empty)"))
        entry = profiles[name]
        if not isinstance(entry, dict) or not isinstance(entry.get("options", {}), dict):
            raise planner.PlanError("profile %s must be a dictionary with an options dictionary" % name)
        merged = {}
        for source, where in ((entry.get("options") or {}, "profile %s" % name), (args.get("overrides") or {},
                                                                                  "overrides")):
            unknown = sorted(set(source) - set(self.PROFILE_OPTIONS))
            if unknown:
                raise planner.PlanError("%s: %s cannot be set by a profile (options: %s)"
                                        % (where, ", ".join(unknown), ", ".join(self.PROFILE_OPTIONS)))
            merged.update(source)
        explicit = {k: v for k, v in args.items() if v is not None and k in self.PROFILE_OPTIONS
                    and (k not in self.ARGUMENT_SPEC or v != self.ARGUMENT_SPEC[k].get("default"))}
        merged.update(explicit)
        # the merged options are checked like the task's own, with the module's argument spec
        spec = {k: v for k, v in self.ARGUMENT_SPEC.items() if k in self.PROFILE_OPTIONS}
        from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
        checked = ArgumentSpecValidator(spec).validate(merged)
        if checked.error_messages:
            raise planner.PlanError("profile %s: %s" % (name, "; ".join(checked.error_messages)))
        out = dict(args)
        out.update({k: v for k, v in checked.validated_parameters.items() if k in merged or v is not None})
        return out

    def _fail_on_warnings(self, args, warnings):
        if args["strict"] and warnings:
            raise planner.PlanError("strict: " + "; ".join(warnings))

    def _run(self, args, secrets):
        if args["timeout"] is not None and args["timeout"] < 0:
            raise planner.PlanError("timeout must be 0 (no limit) or more seconds")
        if args["wait_timeout"] < 0:
            raise planner.PlanError("wait_timeout must be 0 or more seconds")
        runner = _Runner(self, executable=args.get("executable"), timeout=args["timeout"] or None)
        runner.check_path("executable", args.get("executable"))
        runner.check_path("extensions_path", args.get("extensions_path"))
        os_name = runner.os
        removing = bool(args.get("remove_blocked"))
        where = args.get("extensions_path")

        # 1. validate everything we can before touching the target
        desired = planner.desired_state(args, os_name)
        self._fail_on_warnings(args, desired.warnings)
        # whichever option carries it: the target tells whether the agent's proxy has these credentials
        wanted_proxy = desired.values.get("proxy.url")
        if isinstance(wanted_proxy, str):
            secrets.extend(url_secrets(wanted_proxy))
            runner.expect_proxy(wanted_proxy)
        environment = self._service_environment(os_name) if removing else {}

        # 2. one remote command: read the settings (and, to remove blocked extensions, list the installed ones)
        if removing:
            runner.read_extras = [scripts.Listing(where)]
        current, read = read_state(runner, wait_timeout=args["wait_timeout"])
        runner.read_extras = ()
        secrets.extend(url_secrets(current.get("proxy.url")))
        if any(p not in planner.catalog.PROPERTIES for p in (args.get("settings") or {})):
            desired = planner.desired_state(args, os_name, known_properties=set(current))
        plan = planner.plan(desired, current)
        installed = self._installed(runner, read, current, desired) if removing else None

        warnings = list(desired.warnings) + list(plan.warnings)
        if desired.values.get("extensions.enabled") is False and current.get("extensions.enabled") is not False:
            warnings.append("turning the extension manager off does not remove installed extensions, and "
                            "extensions running as their own services (such as the legacy Log Analytics "
                            "agent) keep running; remove them first where that matters")
        self._fail_on_warnings(args, warnings)

        result = {
            "changed": False,
            "os": os_name,
            "executable": runner.resolved_executable,
            "commands": [],
            "changes": [],
            "config": self._shown_config(current),
        }
        if warnings:
            result["warnings"] = warnings
        if desired.notes or plan.notes:
            result["notes"] = list(desired.notes) + list(plan.notes)
        before_view = {p: current.get(p) for p in desired.managed() if p in current}

        # the installed extensions that the lists in force after this task's writes block
        removal = None
        if removing:
            result["removed_extensions"] = []
            removal = self._removal(installed, self._planned_after(desired, current, plan), current, os_name,
                                    environment, where, result)

        if not plan.steps and not plan.second_pass and not removal:
            if self._task.diff:
                result["diff"] = self._diff(before_view, before_view)
            return result

        # 3. check mode: report the plan, run nothing more
        if self._task.check_mode:
            result["changed"] = True
            result["commands"] = [runner.describe(s.argv) for s in plan.steps]
            changes = list(plan.changes)
            after_view = dict(before_view)
            for change in changes:
                after_view[change["property"]] = change["after"]
            if plan.second_pass:
                pending = [p for p in planner.catalog.MONITOR_SHADOWED if p in desired.managed()]
                result["notes"] = result.get("notes", []) + [
                    "the agent is in monitor mode: %s will be compared and set once it has left monitor mode"
                    % ", ".join(pending)]
            if removal:
                result["commands"] += [runner.describe(step) for step in removal.removes]
                result["removed_extensions"] = self._shown_extensions(removal.extensions)
            result["changes"] = self._shown_changes(changes)
            if self._task.diff:
                result["diff"] = self._diff(before_view, after_view)
            return result

        # 4. one more remote command applies every write (and removal) and reads the result back
        applied = []
        outcome = {}
        after = self._apply(runner, plan, applied, result, None if plan.second_pass else removal, outcome)
        if plan.second_pass:
            desired2 = planner.desired_state(args, os_name, known_properties=set(after))
            plan2 = planner.plan(desired2, after)
            if plan2.second_pass:
                raise AgentError("the agent is still in monitor mode after config.mode was set to full",
                                 changes=self._shown_changes(applied))
            before_view.update({p: after.get(p) for p in planner.catalog.MONITOR_SHADOWED
                                if p in desired.managed() and p in after})
            if removing:
                # what the lists really are now that the agent shows its stored values
                removal = self._removal(installed, self._planned_after(desired2, after, plan2), after, os_name,
                                        environment, where, result, applied=applied)
            if plan2.steps or removal:
                after = self._apply(runner, plan2, applied, result, removal, outcome)
            plan.expected.update(plan2.expected)

        wrong = planner.verify(plan.expected, after)
        result["config"] = self._shown_config(after)
        result["changed"] = bool(applied) or bool(outcome.get("removed"))
        result["changes"] = self._shown_changes(applied)
        if wrong:
            raise AgentError(
                "the agent accepted the changes but reports other values afterwards: %s"
                % "; ".join("%s is %r, expected %r" % (p, self._shown(p, got), self._shown(p, want))
                            for p, want, got in wrong),
                changed=result["changed"], changes=result["changes"], commands=result["commands"],
                config=result["config"], **self._removal_details(outcome))
        if self._task.diff:
            result["diff"] = self._diff(before_view, {p: after.get(p) for p in before_view})
        return result

    # ------------------------------------------------------------ removing blocked extensions

    def _service_environment(self, os_name):
        """The PATH of the task's environment, for the service commands (POSIX): it decides which systemctl runs.

        Only PATH: other variables (a proxy URL with credentials, say) would end up on the remote command line.
        """
        if os_name == "windows":
            return {}
        raw = {}
        self._compute_environment_string(raw)
        path = raw.get("PATH")
        return {"PATH": str(path)} if path else {}

    def _installed(self, runner, read, current, desired):
        """The installed extensions from the folder listing that ran with the first read."""
        listing = read.step(2)
        if listing is None or listing.rc != 0:
            raise AgentError("could not list the installed extensions (remove_blocked)", rc=read.rc,
                             stdout=read.stdout, stderr=read.stderr)
        names = [n for prop in ("extensions.allowlist", "extensions.blocklist")
                 for n in list(current.get(prop) or []) + list(desired.values.get(prop) or [])]
        return info.parse_extension_folders(listing.stdout, runner.os, names)

    @staticmethod
    def _planned_after(desired, current, plan):
        """The settings once the plan is applied (lists planned in a second pass: as given)."""
        after = dict(current)
        for change in plan.changes:
            after[change["property"]] = change["after"]
        if plan.second_pass:
            for prop in planner.catalog.MONITOR_SHADOWED:
                spec = planner.catalog.PROPERTIES[prop]
                if prop in desired.clear:
                    after[prop] = spec["default"]
                elif prop in desired.values:
                    value = desired.values[prop]
                    if spec["type"] in planner.catalog.LIST_TYPES:
                        value = planner.target_list(prop, current.get(prop), value, desired.list_action)
                    after[prop] = value
        return after

    def _removal(self, installed, after, current, os_name, environment, where, result, applied=None):
        """What to remove under the lists in force after the writes; fails before any removal where it cannot."""
        blocked = info.blocked_under(installed, after)
        if blocked is None:
            if installed:
                note = ("remove_blocked: in monitor mode Microsoft's managed allowlist applies, whose contents are "
                        "not published, so no installed extension is judged blocked or removed")
                result["notes"] = result.get("notes", []) + [note]
            return None
        removal = _Removal(blocked, os_name, environment, where)
        if removal and EXTENSION_COMMAND_PROBE not in current:
            msg = ("remove_blocked: removing %s needs the azcmagent extension command, which came with agent %s; "
                   "this agent is older (its settings lack %s, also added in %s). Upgrade the agent, or remove "
                   "them from Azure." % (", ".join(e["name"] for e in blocked),
                                         planner.catalog.version_text(EXTENSION_COMMAND_SINCE),
                                         EXTENSION_COMMAND_PROBE,
                                         planner.catalog.version_text(EXTENSION_COMMAND_SINCE)))
            if not applied:
                raise planner.PlanError(msg + " Nothing was changed.")
            raise AgentError(msg, changed=True, changes=self._shown_changes(applied))
        return removal

    @staticmethod
    def _shown_extensions(extensions):
        return [{"publisher": e["publisher"], "type": e["type"], "version": e["version"]} for e in extensions]

    @staticmethod
    def _removal_details(outcome, lists_only=False):
        keys = ("removed_extensions", "not_removed")
        if not lists_only:
            keys += ("failed_command", "cmd", "rc", "stdout", "stderr")
        return {k: outcome[k] for k in keys if k in outcome}

    def _check_removal(self, runner, out, first, removal, listing, result, outcome):
        """How the removals went (steps numbered from ``first``), checked against the folders listed after them."""
        stop = out.step(first)
        removes = [out.step(first + 1 + i) for i in range(len(removal.removes))]
        start = out.step(first + 1 + len(removal.removes))
        present = None
        if listing is not None and listing.rc == 0:
            present = {_folder(e) for e in info.parse_extension_folders(
                listing.stdout, runner.os, [e["name"] for e in removal.extensions])}
        problems = []
        failed = None
        by_name = {}
        for name, step, res in zip(removal.names, removal.removes, removes):
            by_name[name.lower()] = res
            if res is not None and res.rc == 0:
                result["commands"].append(runner.describe(step))
        removed, not_removed = [], []
        for ext in removal.extensions:
            res = by_name[("%s.%s" % (ext["publisher"], ext["type"])).lower()]
            gone = present is not None and _folder(ext) not in present
            if present is None:
                gone = res is not None and res.rc == 0
            (removed if gone else not_removed).append(ext)
        stopped = stop is not None and stop.rc == 0
        if start is None or start.rc != 0:
            problems.append("the extension service was not started again (%s): start it by hand with %s"
                            % (self._step_says(start), removal.start.describe(runner.os)))
            failed = failed or (removal.start.describe(runner.os), start)
        if not stopped:
            problems.append("stopping the extension service failed (%s), so nothing was removed"
                            % self._step_says(stop))
            failed = failed or (removal.stop.describe(runner.os), stop)
        for step, res in zip(removal.removes, removes):
            if stopped and (res is None or res.rc != 0):
                problems.append("%s failed (%s)" % (runner.describe(step), self._step_says(res)))
                failed = failed or (runner.describe(step), res)
        if not problems and not_removed:
            problems.append("the agent reported the removals done, but their folders are still there")
        if present is None and not problems:
            problems.append("the extension folders could not be listed afterwards")
        if problems and start is not None and start.rc == 0:
            problems.append("the extension service was started again")
        outcome["removed"] = bool(removed)
        outcome["removed_extensions"] = self._shown_extensions(removed)
        result["removed_extensions"] = outcome["removed_extensions"]
        if not problems:
            return None
        outcome["not_removed"] = self._shown_extensions(not_removed)
        if failed is not None:
            command, res = failed
            outcome["failed_command"] = command
            if res is not None:
                outcome.update(cmd=command, rc=res.rc, stdout=res.stdout, stderr=res.stderr)
        return "; ".join(problems) + ". Removed: %s. Not removed: %s." % (
            ", ".join("%s %s" % (e["name"], e["version"]) for e in removed) or "nothing",
            ", ".join("%s %s" % (e["name"], e["version"]) for e in not_removed) or "nothing")

    @staticmethod
    def _step_says(res):
        if res is None:
            return "it did not run or did not finish"
        if res.rc is None:
            return "it did not finish"
        said = parsers.error_message(res.stdout, res.stderr) or (res.stderr or res.stdout or "").strip()
        text = "exit code %s%s" % (res.rc, " (%s)" % EXIT_CODES[res.rc] if res.rc in EXIT_CODES else "")
        return text + (": " + said.splitlines()[-1] if said else "")

    # ------------------------------------------------------------------ writing

    def _apply(self, runner, plan, applied, result, removal=None, outcome=None):
        argvs = [s.argv for s in plan.steps] + (removal.steps if removal else []) + [list(runner.list_argv)]
        if removal:
            argvs.append(removal.listing)
        out = runner.run(argvs)
        if out.missing:
            raise runner.missing_error(out)
        for index, step in enumerate(plan.steps, 1):
            res = out.step(index)
            if res is not None and res.rc == 0:
                applied.append({"property": step.prop, "before": step.before, "after": step.after})
                result["commands"].append(runner.describe(step.argv))
                continue
            # this step failed, or never finished: stop and say exactly what was and was not applied
            not_applied = [s.prop for s in plan.steps[index:]]
            unsure = res is None or res.rc is None or res.rc in (124, 137)
            what = "Applied before it: %s. Not applied: %s." % (
                ", ".join(c["property"] for c in applied) or "nothing",
                ", ".join([step.prop] + not_applied) if not unsure else ", ".join(not_applied) or "nothing")
            if unsure:
                what += " Whether %s was applied is unknown." % step.prop
            hint = self._hint(res, step, str(plan.mode_before))
            if hint:
                what += " " + hint
            if removal:
                what += " No extension was removed."
            what += " Running the task again continues from the agent's current settings."
            err = runner.step_error(out, res, step.argv, what)
            err.details.update(changed=bool(applied), changes=self._shown_changes(applied),
                               commands=list(result["commands"]),
                               failed_command=runner.describe(step.argv),
                               not_applied=([] if unsure else [step.prop]) + not_applied)
            if removal:
                err.details.update(removed_extensions=[], not_removed=self._shown_extensions(removal.extensions))
            # read the settings as they are now, so the result is truthful
            try:
                now, _res = read_state(runner)
                err.details["config"] = self._shown_config(now)
            except AgentError:
                pass
            raise err
        number = len(plan.steps) + (len(removal.steps) if removal else 0) + 1
        readback = out.step(number)
        problem = None
        if removal:
            problem = self._check_removal(runner, out, len(plan.steps) + 1, removal, out.step(number + 1), result,
                                          outcome)
        argv = runner.list_argv
        if readback is None or readback.rc != 0:
            err = runner.step_error(out, readback, argv, "Every change was applied, but reading the settings "
                                    "back failed.")
            if problem:
                err.msg += " Removing blocked extensions: " + problem
            err.details.update(self._removal_details(outcome or {}, lists_only=True))
            raise err
        try:
            after = runner.parse_config(readback.stdout)
        except parsers.ParseError as exc:
            raise AgentError("could not understand the output of %s after writing: %s"
                             % (runner.describe(argv), exc), cmd=runner.describe(argv), rc=readback.rc,
                             stdout=readback.stdout, stderr=readback.stderr,
                             **self._removal_details(outcome or {}, lists_only=True))
        if problem:
            raise AgentError("removing blocked extensions: " + problem, changed=bool(applied) or outcome["removed"],
                             changes=self._shown_changes(applied), commands=list(result["commands"]),
                             config=self._shown_config(after), **self._removal_details(outcome))
        return after

    @staticmethod
    def _hint(res, step, mode):
        if res is None or res.rc is None:
            return ""
        if step.prop == "extensions.allowlist" and res.rc == 23 and any(
                planner.catalog.ALLOW_NONE in str(a) for a in step.argv):
            return "Allow/None needs azcmagent 1.35 or later."
        if step.prop in planner.catalog.MONITOR_SHADOWED and res.rc in (23, 27) and mode == "monitor":
            return "The agent is in monitor mode, where its lists cannot change: add mode: full to the task."
        return ""

    @staticmethod
    def _shown(prop, value):
        if prop == "proxy.url" and isinstance(value, str):
            return planner.redact_url(value)
        return value

    def _shown_config(self, state):
        return {p: self._shown(p, v) for p, v in state.items()}

    def _shown_changes(self, changes):
        return [{"property": c["property"], "before": self._shown(c["property"], c["before"]),
                 "after": self._shown(c["property"], c["after"])} for c in changes]

    def _diff(self, before, after):
        return {
            "before": {p: self._shown(p, v) for p, v in sorted(before.items())},
            "after": {p: self._shown(p, v) for p, v in sorted(after.items())},
            "before_header": "azcmagent config (before)",
            "after_header": "azcmagent config (after)",
        }
