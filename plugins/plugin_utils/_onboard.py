# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The azcmagent_connect engine: one `show --json` read decides, one remote command acts and reads back.

Internal to arcguard.azcmagent: not a public API, may change without notice.

``onboard(runner, options, check_mode, diff)`` is the one entry point: it reads the agent (waiting for it
with ``wait_timeout``), asks ``_connect.decide`` what to do, runs the steps of ``_connect.plan_steps`` as
one remote command (copying the --config file into a private folder first where the connection drops
standard input) and checks the read back. It returns the task's result, not yet scrubbed of secrets.
"""

from __future__ import annotations

import os
import re
import tempfile
import time

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _connect as connect
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _parsers as parsers
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _scripts as scripts
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._runner import AgentError, read_waiting


# a folder only the connection's user can open, for a connection that drops standard input
PRIVATE_FOLDER = ('umask 077; d=$(mktemp -d "${TMPDIR:-/tmp}/arcguard-secret-XXXXXXXXXX") && chmod 700 "$d" '
                  '&& printf \'##arcguard:folder %s\\n\' "$d"')


def onboard(runner, options, check_mode=False, diff=False):
    """The result of azcmagent_connect with the validated ``options`` (``commands``: what ran, as shown)."""
    commands = []
    try:
        connect.validate(options, runner.os)
        outcome = _converge(runner, options, commands, check_mode, diff)
    except connect.OptionError as exc:
        outcome = {"failed": True, "msg": str(exc), "changed": False}
    except AgentError as exc:
        outcome = {"failed": True, "msg": exc.msg, "changed": bool(exc.details.pop("changed", False))}
        outcome.update(exc.details)
    outcome["commands"] = commands
    return outcome


def _read(runner, wait_timeout, commands, sleep=time.sleep, clock=time.monotonic):
    """`azcmagent show --json` (waiting up to ``wait_timeout`` seconds for the agent): (connection, raw doc)."""
    def understand(_argv, step, _result):
        try:
            return connect.parse_show(step.stdout), _show_doc(step.stdout)
        except connect.ShowError as exc:
            raise AgentError("could not understand the output of %s: %s" % (runner.describe(connect.SHOW_ARGV), exc),
                             rc=step.rc, stdout=step.stdout, stderr=step.stderr)
    return read_waiting(runner, connect.SHOW_ARGV, understand, wait_timeout,
                        ran=lambda argv: commands.append(runner.describe(argv)), sleep=sleep, clock=clock)


def _converge(runner, args, commands, check_mode, diff):
    current, raw = _read(runner, args["wait_timeout"], commands)
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
    if check_mode:
        after = connect.desired_connection(args) if args["state"] == "connected" else {"status": "Disconnected"}
        outcome.update(changed=True, planned=planned, status=after["status"],
                       resource_id=after.get("resource_id", ""))
        _diff(diff, outcome, before, connect.connection_view(after))
        return outcome
    out = runner.run(steps)
    if scripts.MARK + "nostdin" in (out.preamble_stdout or ""):
        out = _run_with_copied_file(runner, steps)
    ran = []
    for number, argv in enumerate(steps, 1):
        step = out.step(number)
        if step is None:
            break
        ran.append(runner.describe(argv))
        if step.rc == 0 or argv == connect.SHOW_ARGV:
            continue
        commands.extend(ran)
        raise _failure(runner, out, step, argv, changed=number > 1)
    commands.extend(ran)
    last = out.step(len(steps))
    if out.missing:
        raise runner.missing_error(out)
    if last is None or last.rc != 0:
        where = out.step(len(ran)) if ran else None
        raise _failure(runner, out, where, steps[len(ran) - 1] if ran else steps[0], changed=bool(ran), lost=True)
    try:
        after = connect.parse_show(last.stdout)
    except connect.ShowError as exc:
        raise AgentError("%s ran, but its read back could not be understood: %s" % (" then ".join(planned), exc),
                         changed=True, stdout=last.stdout, stderr=last.stderr)
    outcome.update(changed=True, status=after["status"], resource_id=after["resource_id"],
                   connection=connect.connection_view(after), show=_show_doc(last.stdout))
    _diff(diff, outcome, before, connect.connection_view(after))
    if args["state"] == "connected":
        if after["status"] != "Connected" or not connect.same_resource(after, args):
            outcome.update(failed=True, msg="azcmagent connect reported success, but the agent now shows %s %s "
                                            "instead of Connected to the requested resource"
                                            % (after["status"], connect.describe(after)))
    elif after["status"] != "Disconnected":
        outcome.update(failed=True, msg="azcmagent disconnect reported success, but the agent shows the status %s"
                                        % after["status"])
    return outcome


def _run_with_copied_file(runner, steps):
    """Run ``steps`` with the --config file copied into a private folder first (POSIX connections that drop
    standard input, such as containers.podman.podman): nothing ran before, the script stopped at once."""
    files = []
    for step in steps:
        files.extend(a for a in step if isinstance(a, scripts.SecretFile) and a not in files)
    res = runner.action._low_level_execute_command(PRIVATE_FOLDER, sudoable=False)
    match = re.search(r"^##arcguard:folder (/[^\n']*/arcguard-secret-[A-Za-z0-9]+)\s*$", res.get("stdout", ""), re.M)
    if res.get("rc") != 0 or not match:
        raise AgentError("this connection does not pass standard input, and a private folder for the --config "
                         "file could not be made on the target; nothing was run", rc=res.get("rc"),
                         stdout=res.get("stdout"), stderr=res.get("stderr"))
    folder = match.group(1)
    try:
        for index, secret in enumerate(files):
            secret.placed = "%s/config%d.json" % (folder, index)
        # each secret file, and the forms of their values the target's output filter hides (read from there)
        contents = [(f.placed, f.value + "\n") for f in files]
        contents.append(("%s/%s" % (folder, scripts.HIDDEN_FILE),
                         "".join(form + "\n" for form in scripts.hidden_forms(steps, placed=True))))
        for path, text in contents:
            handle, local = tempfile.mkstemp(prefix="arcguard-secret-")
            try:
                os.write(handle, text.encode("utf-8"))
                os.close(handle)
                runner.action._connection.put_file(local, path)
            finally:
                os.unlink(local)
        # the folder keeps others out already; the files get the mode they would have had
        runner.action._low_level_execute_command("chmod 600 %s" % " ".join("'%s'" % p for p, _t in contents),
                                                 sudoable=False)
    except Exception:
        runner.action._low_level_execute_command("rm -rf '%s'" % folder, sudoable=False)
        raise
    return runner.run(steps)


def _failure(runner, out, step, argv, changed, lost=False):
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


def _diff(diff, outcome, before, after):
    if diff:
        outcome["diff"] = {"before": before, "after": after,
                           "before_header": "azcmagent show (before)", "after_header": "azcmagent show (after)"}


def _show_doc(stdout):
    """The raw `show --json` document (for the result), or {} when it is text."""
    try:
        return parsers.parse_show(stdout)
    except parsers.ParseError:
        return {}
