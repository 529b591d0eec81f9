# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for arcguard.azcmagent.azcmagent_config: runs on the controller.

Reads the agent's settings with one remote command, plans on the controller, and
applies every needed write (then reads back) with at most one more.
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.arcguard.azcmagent.plugins.module_utils import _planner as planner
from ansible_collections.arcguard.azcmagent.plugins.module_utils._runner import (
    AgentError, Runner, read_state, scrub,
)
from ansible_collections.arcguard.azcmagent.plugins.module_utils import _parsers as parsers
from ansible_collections.arcguard.azcmagent.plugins.module_utils._profiles import PROFILES as BUILTIN_PROFILES


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
    )
    # the options a profile may set
    PROFILE_OPTIONS = ("mode", "extensions_allowlist", "extensions_blocklist", "list_action",
                       "guestconfiguration_enabled", "extensions_enabled", "incomingconnections_enabled",
                       "incomingconnections_ports", "proxy_url", "proxy_bypass", "settings", "timeout")

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp

        _validation, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)
        try:
            args = self._with_profile(args)
        except planner.PlanError as exc:
            result.update(failed=True, changed=False, msg=str(exc))
            return result
        secrets = [args.get("proxy_url") or ""]
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
        runner = Runner(self, executable=args.get("executable"), timeout=args["timeout"] or None)
        os_name = runner.os

        # 1. validate everything we can before touching the target
        desired = planner.desired_state(args, os_name)
        self._fail_on_warnings(args, desired.warnings)

        # 2. one remote command: read the settings
        current, _read = read_state(runner, wait_timeout=args["wait_timeout"])
        secrets.append(str(current.get("proxy.url") or ""))
        if any(p not in planner.catalog.PROPERTIES for p in (args.get("settings") or {})):
            desired = planner.desired_state(args, os_name, known_properties=set(current))
        plan = planner.plan(desired, current)

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

        if not plan.steps and not plan.second_pass:
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
            result["changes"] = self._shown_changes(changes)
            if self._task.diff:
                result["diff"] = self._diff(before_view, after_view)
            return result

        # 4. one more remote command applies every write and reads the result back
        applied = []
        after = self._apply(runner, plan, applied, result)
        if plan.second_pass:
            desired2 = planner.desired_state(args, os_name, known_properties=set(after))
            plan2 = planner.plan(desired2, after)
            if plan2.second_pass:
                raise AgentError("the agent is still in monitor mode after config.mode was set to full",
                                 changes=self._shown_changes(applied))
            before_view.update({p: after.get(p) for p in planner.catalog.MONITOR_SHADOWED
                                if p in desired.managed() and p in after})
            if plan2.steps:
                after = self._apply(runner, plan2, applied, result)
            plan.expected.update(plan2.expected)

        wrong = planner.verify(plan.expected, after)
        result["config"] = self._shown_config(after)
        result["changed"] = bool(applied)
        result["changes"] = self._shown_changes(applied)
        if wrong:
            raise AgentError(
                "the agent accepted the changes but reports other values afterwards: %s"
                % "; ".join("%s is %r, expected %r" % (p, self._shown(p, got), self._shown(p, want))
                            for p, want, got in wrong),
                changed=bool(applied), changes=result["changes"], commands=result["commands"],
                config=result["config"])
        if self._task.diff:
            result["diff"] = self._diff(before_view, {p: after.get(p) for p in before_view})
        return result

    def _apply(self, runner, plan, applied, result):
        argvs = [s.argv for s in plan.steps] + [list(runner.list_argv)]
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
            what += " Running the task again continues from the agent's current settings."
            err = runner.step_error(out, res, step.argv, what)
            err.details.update(changed=bool(applied), changes=self._shown_changes(applied),
                               commands=list(result["commands"]),
                               failed_command=runner.describe(step.argv),
                               not_applied=([] if unsure else [step.prop]) + not_applied)
            # read the settings as they are now, so the result is truthful
            try:
                now, _res = read_state(runner)
                err.details["config"] = self._shown_config(now)
            except AgentError:
                pass
            raise err
        readback = out.step(len(plan.steps) + 1)
        argv = runner.list_argv
        if readback is None or readback.rc != 0:
            raise runner.step_error(out, readback, argv, "Every change was applied, but reading the settings "
                                    "back failed.")
        try:
            return parsers.parse_config_list(readback.stdout)
        except parsers.ParseError as exc:
            raise AgentError("could not understand the output of %s after writing: %s"
                             % (runner.describe(argv), exc), cmd=runner.describe(argv), rc=readback.rc,
                             stdout=readback.stdout, stderr=readback.stderr)

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
