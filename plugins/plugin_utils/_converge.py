# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The converge engine of azcmagent_config: read, plan, apply, read back, verify.

Internal to arcguard.azcmagent: not a public API, may change without notice.

Entry point: ``converge(runner, options, check_mode=False, diff=False) -> result``, where ``runner`` is a
``_runner.Runner`` and ``options`` the task's validated options with the profile merged in
(``_profiles.resolve``). It reads the agent's settings with one remote command and, when something
differs, applies every write (and removal, see ``_removal``) and reads back with one more (one more
again when leaving monitor mode while managing lists). Failures come back as a failed result
(``failed``, ``msg`` and the details), never as an exception. The result is not scrubbed: the caller
scrubs it with ``runner.secrets`` (every secret value the task gave or the agent showed).
"""

from __future__ import annotations

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _catalog as catalog
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _monitor as monitor
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _parsers as parsers
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _planner as planner
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _removal as removals
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _scripts as scripts
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _weaker as weaker
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._runner import AgentError, read_state
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._secrets import (
    shown, shown_changes, shown_config, url_secrets,
)

EXTENSIONS_OFF_WARNING = ("turning the extension manager off does not remove installed extensions, and extensions "
                          "running as their own services (such as the legacy Log Analytics agent) keep running; "
                          "remove them first where that matters")


def converge(runner, options, check_mode=False, diff=False):
    """Bring the agent behind ``runner`` to ``options``; the result dict of azcmagent_config.

    Raises ``PlanError`` (bad options, refused before anything runs) and ``AgentError`` (with what was changed
    in its details); the action's base turns them into the failed result."""
    runner.secrets.extend(url_secrets(options.get("proxy_url")))
    return _Engine(runner, options, check_mode, diff).run()


def _add(result, key, items):
    """Append ``items`` to the list ``result[key]``, which exists only once it has any."""
    if items:
        result[key] = result.get(key, []) + list(items)


def diff_of(before, after):
    """A diff result for Ansible's --diff: the managed settings before and after."""
    return {
        "before": {p: shown(p, v) for p, v in sorted(before.items())},
        "after": {p: shown(p, v) for p, v in sorted(after.items())},
        "before_header": "azcmagent config (before)",
        "after_header": "azcmagent config (after)",
    }


def _hint(res, step, mode):
    if res is None or res.rc is None:
        return ""
    if step.prop == "extensions.allowlist" and res.rc == 23 and catalog.ALLOW_NONE in (step.after or []):
        return "Allow/None needs azcmagent 1.35 or later."
    if step.prop in catalog.MONITOR_SHADOWED and res.rc in (23, 27) and mode == "monitor":
        return "The agent is in monitor mode, where its lists cannot change: add mode: full to the task."
    return ""


class _Engine:

    def __init__(self, runner, options, check_mode, diff):
        self.runner = runner
        self.args = options
        self.check_mode = check_mode
        self.diff = diff

    def _fail_on_warnings(self, warnings):
        if self.args["strict"] and warnings:
            raise planner.PlanError("strict: " + "; ".join(warnings))

    def run(self):
        args = self.args
        runner = self.runner
        if args["wait_timeout"] < 0:
            raise planner.PlanError("wait_timeout must be 0 or more seconds")
        os_name = runner.os
        removing = bool(args.get("remove_blocked"))
        where = args.get("extensions_path")
        # every script checks for the marker a run killed while the extension service was stopped leaves
        runner.marker = scripts.Marker(where)

        # 1. validate everything we can before touching the target
        desired = planner.desired_state(args, os_name)
        self._fail_on_warnings(desired.warnings)
        # whichever option carries it: the target tells whether the agent's proxy has these credentials
        wanted_proxy = desired.values.get("proxy.url")
        if isinstance(wanted_proxy, str) and wanted_proxy:
            runner.secrets.extend(url_secrets(wanted_proxy))
            runner.expect_proxy(wanted_proxy)
        environment = runner.service_environment() if removing else {}

        # 2. one remote command: read the settings (and, to remove blocked extensions, list the installed ones)
        current, read = read_state(runner, wait_timeout=args["wait_timeout"],
                                   extras=[scripts.Listing(where)] if removing else ())
        runner.secrets.extend(url_secrets(current.get("proxy.url")))
        planner.check_unknown(desired, set(current), os_name)
        plan = planner.plan(desired, current)
        # never weaker than asked (_weaker): refused before any write, in check mode too
        refused = weaker.problems(desired, current, plan.after)
        if refused:
            raise planner.PlanError(" ".join(refused))
        installed = removals.installed(runner, read, current, desired) if removing else None
        # leaving monitor mode: what depends on the stored lists is planned only once the agent shows them (_monitor)
        unknown = monitor.unknowable(plan, desired, removing)
        if unknown and removing:
            plan.second_pass = True

        warnings = list(desired.warnings) + list(plan.warnings)
        if desired.values.get("extensions.enabled") is False and current.get("extensions.enabled") is not False:
            warnings.append(EXTENSIONS_OFF_WARNING)
        self._fail_on_warnings(warnings)

        result = {
            "changed": False,
            "os": os_name,
            "executable": runner.resolved_executable,
            "commands": [],
            "changes": [],
            "config": shown_config(current),
        }
        if warnings:
            result["warnings"] = warnings
        if desired.notes or plan.notes:
            result["notes"] = list(desired.notes) + list(plan.notes)
        before_view = {p: current.get(p) for p in desired.managed() if p in current}
        if read.stopped_marker:
            self._repair_service(result)

        # the installed extensions that the lists in force after this task's writes block
        removal = None
        if removing:
            result["removed_extensions"] = []
            removal, notes = removals.plan(installed, plan.after, current, os_name, environment, where)
            _add(result, "notes", notes)

        if not plan.steps and not plan.second_pass and not removal:
            if self.diff:
                result["diff"] = diff_of(before_view, before_view)
            return result

        # 3. check mode: report the plan, run nothing more
        if self.check_mode:
            result["changed"] = True
            view = before_view
            if unknown:
                # leaving monitor mode where the stored values matter (_monitor): never predicted from what the
                # agent shows; only the first round's commands and what the task alone decides
                guess = monitor.predict(desired, plan, unknown, installed)
                steps, changes, projected = list(plan.steps), guess.changes, guess.after
                view = dict(before_view, **{p: monitor.UNKNOWN for p in unknown if p in before_view})
                result["unknown_in_monitor_mode"] = unknown
                result["notes"] = result.get("notes", []) + [monitor.note(unknown, guess.possible)]
                removal = removals.Removal(guess.certain, os_name, environment, where) if guess.certain else None
            else:
                # the one projection of the whole run (_planner.whole_run)
                whole = planner.whole_run(desired, current, plan)
                steps, changes, projected = list(whole.steps), list(whole.changes), whole.after
            result["commands"] += [runner.describe(s) for s in steps]
            if removal:
                result["commands"] += [runner.describe(step) for step in removal.removes]
                result["removed_extensions"] = removals.shown_extensions(removal.extensions)
            result["changes"] = shown_changes(changes)
            if self.diff:
                result["diff"] = diff_of(view, {p: projected.get(p) for p in before_view})
            return result

        # 4. one more remote command applies every write (and removal) and reads the result back
        applied = []
        outcome = {}
        after = self._apply(plan, applied, result, None if plan.second_pass else removal, outcome)
        expected = dict(plan.expected)
        if plan.second_pass:
            plan2 = planner.plan(desired, after)
            if plan2.second_pass:
                raise AgentError("the agent is still in monitor mode after config.mode was set to full",
                                 changes=shown_changes(applied))
            refused = weaker.problems(desired, current, plan2.after)
            if refused:
                raise AgentError(" ".join(refused).replace("Nothing was changed.", "Only config.mode was changed "
                                                           "(to full); the lists were not."),
                                 changed=True, changes=shown_changes(applied), config=shown_config(after))
            before_view.update({p: after.get(p) for p in plan.pending if p in after})
            if removing:
                # what the lists really are now that the agent shows its stored values
                removal, notes = removals.plan(installed, plan2.after, after, os_name, environment, where,
                                               applied=applied)
                _add(result, "notes", notes)
            if plan2.steps or removal:
                after = self._apply(plan2, applied, result, removal, outcome)
            expected.update(plan2.expected)

        wrong = planner.verify(expected, after)
        result["config"] = shown_config(after)
        result["changed"] = bool(applied) or bool(outcome.get("removed")) or bool(result.get("repaired"))
        result["changes"] = shown_changes(applied)
        if wrong:
            raise AgentError(
                "the agent accepted the changes but reports other values afterwards: %s"
                % "; ".join("%s is %r, expected %r" % (p, shown(p, got), shown(p, want)) for p, want, got in wrong),
                changed=result["changed"], changes=result["changes"], commands=result["commands"],
                config=result["config"], **removals.details(outcome))
        if self.diff:
            result["diff"] = diff_of(before_view, {p: after.get(p) for p in before_view})
        return result

    # ------------------------------------------------------------------ repairing

    def _repair_service(self, result):
        """Start the extension service that an interrupted run left stopped (its marker was found)."""
        runner = self.runner
        name = scripts.EXTENSION_SERVICE[runner.os]
        start = scripts.Service("start", name, runner.service_environment())
        command = start.describe(runner.os)
        what = ("the extension service %s had been left stopped by an interrupted run (its marker %s was there)"
                % (name, runner.marker.describe(runner.os)))
        if self.check_mode:
            done = what + "; it would be started again"
        else:
            out = runner.run([start])
            res = out.step(1)
            if res is None or res.rc != 0:
                raise AgentError("%s; starting it again failed (%s): start it by hand with %s. Nothing else was "
                                 "changed." % (what, removals.step_says(res), command), changed=False, cmd=command,
                                 rc=res.rc if res is not None else out.rc,
                                 stdout=res.stdout if res is not None else out.stdout,
                                 stderr=res.stderr if res is not None else out.stderr)
            done = what + "; it was started again"
        result["changed"] = True
        result["repaired"] = [done]
        result["commands"].append(command)
        result["warnings"] = result.get("warnings", []) + [done]

    # ------------------------------------------------------------------ writing

    def _apply(self, plan, applied, result, removal=None, outcome=None):
        runner = self.runner
        steps = list(plan.steps) + (removal.steps if removal else []) + [list(runner.list_argv)]
        if removal:
            steps.append(removal.listing)
        out = runner.run(steps)
        if out.missing:
            raise runner.missing_error(out)
        for index, step in enumerate(plan.steps, 1):
            res = out.step(index)
            if res is not None and res.rc == 0:
                applied.append(plan.changes[index - 1])
                result["commands"].append(runner.describe(step))
                continue
            # this step failed, or never finished: stop and say exactly what was and was not applied
            not_applied = [s.prop for s in plan.steps[index:]]
            unsure = res is None or res.rc is None or res.rc in (124, 137)
            what = "Applied before it: %s. Not applied: %s." % (
                ", ".join(c["property"] for c in applied) or "nothing",
                ", ".join([step.prop] + not_applied) if not unsure else ", ".join(not_applied) or "nothing")
            if unsure:
                what += " Whether %s was applied is unknown." % step.prop
            hint = _hint(res, step, str(plan.mode_before))
            if hint:
                what += " " + hint
            if removal:
                what += " No extension was removed."
            what += " Running the task again continues from the agent's current settings."
            err = runner.step_error(out, res, step, what)
            err.details.update(changed=bool(applied), changes=shown_changes(applied),
                               commands=list(result["commands"]),
                               failed_command=runner.describe(step),
                               not_applied=([] if unsure else [step.prop]) + not_applied)
            if removal:
                err.details.update(removed_extensions=[],
                                   not_removed=removals.shown_extensions(removal.extensions))
            # read the settings as they are now, so the result is truthful
            try:
                now, _res = read_state(runner)
                err.details["config"] = shown_config(now)
            except AgentError:
                pass
            raise err
        number = len(plan.steps) + (len(removal.steps) if removal else 0) + 1
        readback = out.step(number)
        problem = None
        if removal:
            checked = removals.check(runner, out, len(plan.steps) + 1, removal, out.step(number + 1))
            result["commands"].extend(checked.commands)
            result["removed_extensions"] = checked.outcome["removed_extensions"]
            outcome.update(checked.outcome)
            problem = checked.problem
        argv = runner.list_argv
        if readback is None or readback.rc != 0:
            err = runner.step_error(out, readback, argv, "Every change was applied, but reading the settings "
                                    "back failed.")
            if problem:
                err.msg += " Removing blocked extensions: " + problem
            err.details.update(removals.details(outcome or {}, lists_only=True))
            raise err
        try:
            after = runner.parse_config(readback.stdout)
        except parsers.ParseError as exc:
            raise AgentError("could not understand the output of %s after writing: %s"
                             % (runner.describe(argv), exc), cmd=runner.describe(argv), rc=readback.rc,
                             stdout=readback.stdout, stderr=readback.stderr,
                             **removals.details(outcome or {}, lists_only=True))
        if problem:
            raise AgentError("removing blocked extensions: " + problem, changed=bool(applied) or outcome["removed"],
                             changes=shown_changes(applied), commands=list(result["commands"]),
                             config=shown_config(after), **removals.details(outcome))
        return after
