# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for arcguard.azcmagent.azcmagent_connect: one `show --json` read decides, one command acts."""

from __future__ import annotations

import os
import re
import tempfile
import time

from ansible.plugins.action import ActionBase

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _connect as connect
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _parsers as parsers
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _scripts as scripts
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._runner import AgentError, Runner
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._secrets import scrub


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = True
    _supports_check_mode = True
    _supports_async = False

    ARGUMENT_SPEC = connect.ARGUMENT_SPEC

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        _validation, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)
        runner = Runner(self, executable=args.get("executable"), timeout=args["timeout"] or None)
        runner.stdin_fallback = runner.family != "powershell"  # POSIX: the --config file can be copied instead
        runner.secrets.extend(connect.secret_values(args))
        commands = []
        try:
            connect.validate(args, runner.os)
            outcome = self._converge(runner, args, commands)
        except connect.OptionError as exc:
            outcome = {"failed": True, "msg": str(exc), "changed": False}
        except AgentError as exc:
            outcome = {"failed": True, "msg": exc.msg, "changed": bool(exc.details.pop("changed", False))}
            outcome.update(exc.details)
        outcome["commands"] = commands
        result.update(scrub(outcome, runner.secrets))
        return result

    # ------------------------------------------------------------------ steps
    def _read(self, runner, wait_timeout, commands, sleep=time.sleep, clock=time.monotonic):
        """`azcmagent show --json` (waiting up to ``wait_timeout`` seconds for the agent): (connection, raw doc)."""
        deadline = clock() + (wait_timeout or 0)
        while True:
            out = runner.run([list(connect.SHOW_ARGV)])
            commands.append(runner.describe(connect.SHOW_ARGV))
            step = out.step(1)
            if out.missing:
                error, retry = runner.missing_error(out), True
            elif step is None or step.rc != 0:
                error = runner.step_error(out, step, connect.SHOW_ARGV)
                retry = (step.rc if step is not None else out.rc) not in (18, 23)
            else:
                try:
                    return connect.parse_show(step.stdout), scripts_doc(step.stdout)
                except connect.ShowError as exc:
                    raise AgentError("could not understand the output of %s: %s"
                                     % (runner.describe(connect.SHOW_ARGV), exc),
                                     rc=step.rc, stdout=step.stdout, stderr=step.stderr)
            if not retry or clock() >= deadline:
                if wait_timeout and retry:
                    error.msg = "waited %s seconds for the agent: %s" % (wait_timeout, error.msg)
                raise error
            sleep(min(5.0, max(0.5, deadline - clock())))

    def _converge(self, runner, args, commands):
        current, raw = self._read(runner, args["wait_timeout"], commands)
        decision = connect.decide(current, args)
        before = connect.connection_view(current)
        outcome = {"changed": False, "status": current["status"], "resource_id": current["resource_id"],
                   "connection": before, "show": raw, "os": runner.os}
        if decision.warnings:
            outcome["warnings"] = decision.warnings
        if decision.action == "fail":
            outcome.update(failed=True, msg=decision.msg)
            return outcome
        if decision.action == "none":
            return outcome
        steps = connect.plan_steps(decision.action, args, runner.os)
        planned = [runner.describe(step) for step in steps[:-1]]
        if self._play_context.check_mode:
            after = connect.desired_connection(args) if args["state"] == "connected" else {"status": "Disconnected"}
            outcome.update(changed=True, planned=planned, status=after["status"],
                           resource_id=after.get("resource_id", ""))
            self._diff(outcome, before, connect.connection_view(after))
            return outcome
        out = runner.run(steps)
        if scripts.MARK + "nostdin" in (out.preamble_stdout or ""):
            out = self._run_with_copied_file(runner, steps)
        ran = []
        for number, argv in enumerate(steps, 1):
            step = out.step(number)
            if step is None:
                break
            ran.append(runner.describe(argv))
            if step.rc == 0 or argv == connect.SHOW_ARGV:
                continue
            commands.extend(ran)
            raise self._failure(runner, out, step, argv, changed=number > 1)
        commands.extend(ran)
        last = out.step(len(steps))
        if out.missing:
            raise runner.missing_error(out)
        if last is None or last.rc != 0:
            where = out.step(len(ran)) if ran else None
            raise self._failure(runner, out, where, steps[len(ran) - 1] if ran else steps[0],
                                changed=bool(ran), lost=True)
        try:
            after = connect.parse_show(last.stdout)
        except connect.ShowError as exc:
            raise AgentError("%s ran, but its read back could not be understood: %s" % (" then ".join(planned), exc),
                             changed=True, stdout=last.stdout, stderr=last.stderr)
        outcome.update(changed=True, status=after["status"], resource_id=after["resource_id"],
                       connection=connect.connection_view(after), show=scripts_doc(last.stdout))
        self._diff(outcome, before, connect.connection_view(after))
        if args["state"] == "connected":
            if after["status"] != "Connected" or not connect.same_resource(after, args):
                outcome.update(failed=True, msg="azcmagent connect reported success, but the agent now shows %s %s "
                                                "instead of Connected to the requested resource"
                                                % (after["status"], connect.describe(after)))
        elif after["status"] != "Disconnected":
            outcome.update(failed=True, msg="azcmagent disconnect reported success, but the agent shows the status %s"
                                            % after["status"])
        return outcome

    # a folder only the connection's user can open, for a connection that drops standard input
    PRIVATE_FOLDER = ('umask 077; d=$(mktemp -d "${TMPDIR:-/tmp}/arcguard-secret-XXXXXXXXXX") && chmod 700 "$d" '
                      '&& printf \'##arcguard:folder %s\\n\' "$d"')

    def _run_with_copied_file(self, runner, steps):
        """Run ``steps`` with the --config file copied into a private folder first (POSIX connections that drop
        standard input, such as containers.podman.podman): nothing ran before, the script stopped at once."""
        files = []
        for step in steps:
            files.extend(a for a in step if isinstance(a, scripts.SecretFile) and a not in files)
        res = self._low_level_execute_command(self.PRIVATE_FOLDER, sudoable=False)
        match = re.search(r"^##arcguard:folder (/[^\n']*/arcguard-secret-[A-Za-z0-9]+)\s*$", res.get("stdout", ""), re.M)
        if res.get("rc") != 0 or not match:
            raise AgentError("this connection does not pass standard input, and a private folder for the --config "
                             "file could not be made on the target; nothing was run", rc=res.get("rc"),
                             stdout=res.get("stdout"), stderr=res.get("stderr"))
        folder = match.group(1)
        try:
            for index, secret in enumerate(files):
                handle, local = tempfile.mkstemp(prefix="arcguard-secret-")
                try:
                    os.write(handle, (secret.value + "\n").encode("utf-8"))
                    os.close(handle)
                    secret.placed = "%s/config%d.json" % (folder, index)
                    self._connection.put_file(local, secret.placed)
                finally:
                    os.unlink(local)
            # the folder keeps others out already; the files get the mode they would have had
            self._low_level_execute_command("chmod 600 %s" % " ".join("'%s'" % f.placed for f in files), sudoable=False)
        except Exception:
            self._low_level_execute_command("rm -rf '%s'" % folder, sudoable=False)
            raise
        return runner.run(steps)

    def _failure(self, runner, out, step, argv, changed, lost=False):
        rc = step.rc if step is not None else out.rc
        stdout = step.stdout if step is not None else out.stdout
        stderr = step.stderr if step is not None else out.stderr
        what = runner.describe(argv)
        if rc is None or (rc in scripts.TIMEOUT_RCS and runner.timeout):
            msg = ("%s did not finish%s and was stopped; the temporary --config file was removed. The agent may "
                   "still be connecting: run the task again to read its state" % (
                       what, " within %s seconds (timeout option)" % runner.timeout if runner.timeout else ""))
            code = None
        elif lost:
            msg, code = "%s: the remote command ended early (exit code %s)" % (what, out.rc), None
        else:
            msg, code = connect.failure(rc, stdout, stderr, what)
        details = dict(rc=rc, stdout=stdout, stderr=stderr, changed=changed)
        if code:
            details["azcm_code"] = code
        return AgentError(msg, **details)

    def _diff(self, outcome, before, after):
        if self._task.diff:
            outcome["diff"] = {"before": before, "after": after,
                               "before_header": "azcmagent show (before)", "after_header": "azcmagent show (after)"}


def scripts_doc(stdout):
    """The raw `show --json` document (for the result), or {} when it is text."""
    try:
        return parsers.parse_show(stdout)
    except parsers.ParseError:
        return {}
