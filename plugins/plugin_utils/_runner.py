# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running azcmagent through an action plugin's connection, and explaining its failures.

Internal to arcguard.azcmagent: not a public API, may change without notice.

- ``Runner(action, executable=None, timeout=None)``: runs lists of steps (argv lists and the step objects of
  ``_scripts``) as one remote command through ``action``'s connection (``run``); knows the target's OS from
  the shell (``os``: linux or windows); collects in ``secrets`` every secret value seen, for ``scrub``.
- ``read_state(runner, wait_timeout=0, extras=())``: the agent's settings from ``config list --json``
  (``LIST_ARGV``), with ``extras`` run in the same remote command.
- ``AgentError``: a failure to report, with its details; ``EXIT_CODES``: what azcmagent's exit codes mean.
"""

from __future__ import annotations

import re
import shlex
import time

from ansible.utils.display import Display

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _parsers as parsers
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _scripts as scripts
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _script_filter
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._secrets import scrub

display = Display()

# how the agent's settings are read; agents without --json are read with LIST_TEXT_ARGV
LIST_ARGV = ("config", "list", "--json")
LIST_TEXT_ARGV = ("config", "list")

EXIT_CODES = {
    1: "error",
    2: "internal error",
    3: "not supported",
    18: "administrative privileges required",
    19: "configuration file not found",
    23: "invalid arguments",
    27: "configuration conflict",
    69: "error updating the local configuration",
    70: "unable to obtain the local configuration",
}


class AgentError(Exception):
    """A failure to report: ``msg`` plus the details users need (command, rc, stdout, stderr)."""

    def __init__(self, msg, **details):
        super().__init__(msg)
        self.msg = msg
        self.details = details


def show_command(executable, argv, os_name):
    words = [executable or "azcmagent"] + scripts.display_argv(argv)
    if os_name == "windows":
        return "& " + " ".join(scripts.ps_quote(w) for w in words)
    return " ".join(shlex.quote(w) for w in words)


# WinRM hands a command line to cmd.exe, which takes at most 8191 characters (a longer one fails, or is cut
# short and reports success); so does OpenSSH on Windows with cmd.exe as its shell. Our PowerShell commands
# (PowerShell -EncodedCommand <base64 of UTF-16>, about 2.7 characters per script character) stay below this.
POWERSHELL_COMMAND_LIMIT = 8000


def not_strings(task_args, spec):
    """A message for string options given a dictionary or a list (Ansible would pass on their repr), or None."""
    for name, option in spec.items():
        value = task_args.get(name)
        if option.get("type") == "str" and isinstance(value, (dict, list, tuple)):
            return "%s must be a string, not a %s" % (name, "dictionary" if isinstance(value, dict) else "list")
    return None


_NO_STDIN = ("the proxy URL (and long values) travel to the target on standard input, and %s; nothing was run. "
             "Enable pipelining (ansible_pipelining: true, which the local connection supports with become), "
             "or use become without a password prompt")


# Linux takes at most 131072 bytes in one argument (MAX_ARG_STRLEN), and the script is one (sh -c SCRIPT, once more
# quoted inside become's sh -c); other POSIX systems allow more in total (ARG_MAX). Values longer than
# POSIX_STDIN_ARG_LENGTH travel on standard input.
POSIX_COMMAND_LIMIT = 120000
POSIX_WRAPPER = 512
POSIX_STDIN_ARG_LENGTH = 4096


class CombinedResult:
    """The results of one plan run as several commands, numbered as if it had been one script."""

    def __init__(self, parts):
        self.steps = []
        offset = 0
        for count, out in parts:
            for step in out.steps:
                self.steps.append(scripts.StepResult(step.number + offset, step.rc, step.stdout, step.stderr))
            offset += count
        outs = [out for _count, out in parts]
        self.rc = outs[-1].rc
        self.stdout = "".join(out.stdout or "" for out in outs)
        self.stderr = "".join(out.stderr or "" for out in outs)
        self.preamble_stdout = outs[0].preamble_stdout
        self.preamble_stderr = outs[0].preamble_stderr
        self.missing = any(out.missing for out in outs)
        self.stopped_marker = any(out.stopped_marker for out in outs)
        self.no_stdin = any(out.no_stdin for out in outs)
        self.no_awk = any(out.no_awk for out in outs)
        self.executable = next((out.executable for out in outs if out.executable), None)
        self.commands = len(outs)

    def step(self, number):
        for step in self.steps:
            if step.number == number:
                return step
        return None


class Runner:
    """Runs lists of azcmagent calls as one remote command through ``action``'s connection."""

    def __init__(self, action, executable=None, timeout=None):
        self.action = action
        shell = action._connection._shell
        self.family = "powershell" if (getattr(shell, "SHELL_FAMILY", "") == "powershell"
                                       or getattr(shell, "_IS_WINDOWS", False)) else "sh"
        self.os = "windows" if self.family == "powershell" else "linux"
        self.executable = executable
        self.timeout = timeout
        self.remote_commands = 0
        self.resolved_executable = executable
        self.list_argv = list(LIST_ARGV)  # without --json for agents that lack it
        self.secrets = []  # every secret value this task gave or the agent showed, for scrub()
        # True: a script stopped for want of standard input comes back to the caller (which has another channel)
        # instead of failing the task
        self.stdin_fallback = False
        self.marker = None  # a _scripts.Marker: scripts check for (and service stops leave) the stop marker
        # how the target recognises the proxy the task asks for in the agent's filtered output (see expect_proxy)
        self.mask = scripts.NO_MASK
        self.wanted_proxy = None

    def check_path(self, option, value):
        """Refuse a path the target would not find as given (before anything runs): ``~``, relative paths, control
        characters. Returns the path (None stays None)."""
        if value is None:
            return None
        text = str(value)
        if text.startswith("~"):
            raise AgentError("%s: %s starts with ~, which is not expanded on the target (the remote command does "
                             "not go through a login shell); give an absolute path" % (option, text))
        for ch in text:
            if ord(ch) < 0x20 or ord(ch) == 0x7f:
                raise AgentError("%s contains a control character (U+%04X): %r" % (option, ord(ch), text))
        absolute = (re.match(r"^(?:[A-Za-z]:\\|\\\\)", text) if self.os == "windows" else text.startswith("/"))
        if not absolute:
            raise AgentError("%s must be an absolute path on the target (%s), not %s"
                             % (option, "like C:\\Program Files\\..." if self.os == "windows" else "starting with /",
                                text))
        return text

    def expect_proxy(self, url):
        """The task asks for proxy URL ``url``: the target says whether the agent's has the same user information."""
        self.wanted_proxy = url or None
        self.mask = _script_filter.mask_for(url) if url else scripts.NO_MASK

    def parse_config(self, text):
        """The agent's settings from a ``config list`` output that came through the target's filter."""
        return _script_filter.unmask_state(parsers.parse_config_list(text), self.wanted_proxy)

    def run(self, steps, keep_going=False):
        """Run ``steps`` and return their results (a ScriptResult, or a CombinedResult of several commands).

        A command line must stay short (see POWERSHELL_COMMAND_LIMIT and POSIX_COMMAND_LIMIT): long argument
        values travel on standard input, and a plan too long for one command runs as several, split only where
        no service is stopped, each stopping at the first failing step as one script would.
        """
        powershell = self.family == "powershell"
        steps = [scripts.argv_of(step, long_on_stdin=True, length=scripts.STDIN_ARG_LENGTH if powershell
                                 else POSIX_STDIN_ARG_LENGTH) for step in steps]
        chunks = self._chunks(steps, keep_going)
        if len(chunks) == 1:
            return self._run_one(chunks[0], keep_going)
        parts = []
        for chunk in chunks:
            out = self._run_one(chunk, keep_going)
            parts.append((len(chunk), out))
            if out.missing:
                break
            last = out.step(len(chunk))
            if not keep_going and (last is None or last.rc != 0):
                break
        return CombinedResult(parts)

    def _command(self, steps, keep_going):
        script = scripts.build_script(self.family, steps, self.executable, self.timeout, keep_going, self.mask,
                                      marker=self.marker)
        if self.family == "powershell":
            return self.action._connection._shell._encode_script(script, as_list=False, strict_mode=False,
                                                                 preserve_rc=False)
        return script

    def _size(self, steps, keep_going):
        """How long the command for ``steps`` is, as the target's limit counts it."""
        cmd = self._command(steps, keep_going)
        if self.family == "powershell":
            return len(cmd)
        # become wraps the script in one more quoted sh -c argument; Linux counts bytes
        return len(shlex.quote(cmd).encode("utf-8")) + POSIX_WRAPPER

    def _chunks(self, steps, keep_going):
        """``steps`` cut into the fewest runs of whole steps whose commands fit the limit."""
        # where a cut may fall: before a step, unless a service is stopped at that point
        segments, current, stopped = [], [], False
        for step in steps:
            if current and not stopped:
                segments.append(current)
                current = []
            current.append(step)
            if isinstance(step, scripts.Service):
                stopped = step.action == "stop"
        if current:
            segments.append(current)
        chunks, chunk = [], []
        for segment in segments:
            limit = POWERSHELL_COMMAND_LIMIT if self.family == "powershell" else POSIX_COMMAND_LIMIT
            if chunk and self._size(chunk + segment, keep_going) > limit:
                chunks.append(chunk)
                chunk = []
            chunk = chunk + segment
            size = self._size(chunk, keep_going)
            if size > limit:
                what = ", ".join(" ".join(map(str, scripts.display_argv(s))) for s in segment)
                where = ("the PowerShell command for %s would be %d characters long, over the %d that WinRM "
                         "(through cmd.exe) passes intact" if self.family == "powershell" else
                         "the shell command for %s would be %d bytes long, over the %d that a POSIX target takes "
                         "as one argument (Linux: 131072)")
                raise AgentError((where % (what, size, limit)) + "; nothing was run. Apply fewer changes at once "
                                 "(for example remove fewer extensions per run).")
        if chunk:
            chunks.append(chunk)
        return chunks

    def show(self, step):
        """One step as users may see it, secrets redacted (an azcmagent call, a service or a folder listing)."""
        if isinstance(step, scripts.Service):
            return step.describe(self.os)
        if isinstance(step, scripts.Listing):
            return list(step)[0]
        return self.describe(step)

    def _display(self, text):
        """At -vvv, as ansible-core's own actions show what they run; never a secret."""
        display.vvv("azcmagent: %s" % scrub(text, self.secrets),
                    host=getattr(getattr(self.action, "_play_context", None), "remote_addr", None))

    def _run_one(self, steps, keep_going):
        cmd = self._command(steps, keep_going)
        data = scripts.stdin_data(steps, self.mask)
        self.secrets.extend(a.value for a in scripts.stdin_args(steps) if not isinstance(a, scripts.StdinArg))
        if data is not None:
            self._check_stdin(steps)
        self.remote_commands += 1
        if display.verbosity >= 3:
            for number, step in enumerate(steps, 1):
                self._display("step %d: %s" % (number, self.show(step)))
        # become would wrap the command for a POSIX shell; on PowerShell targets Ansible's sudo cannot wrap it
        # and runas does nothing for a raw command: there the connection's own user must be an elevated
        # Administrator, and a play-wide become: true for mixed fleets is ignored rather than an error.
        res = self.action._low_level_execute_command(
            cmd, sudoable=self.family != "powershell", in_data=data.encode("utf-8") if data is not None else None)
        out = scripts.ScriptResult(res.get("rc"), res.get("stdout", ""), res.get("stderr", ""))
        if out.no_stdin and not self.stdin_fallback:
            raise AgentError(_NO_STDIN % "the remote command was given a terminal, or no standard input at all, "
                             "instead", rc=out.rc)
        if out.no_awk:
            raise AgentError("awk was not found on the target: the remote command needs it to keep credentials out "
                             "of the agent's output; nothing was run", rc=out.rc)
        if out.executable:
            self.resolved_executable = out.executable
        if display.verbosity >= 3:
            for number, step in enumerate(steps, 1):
                ran = out.step(number)
                self._display("step %d: %s: rc=%s" % (number, self.show(step), "(did not run)" if ran is None
                                                      else "(did not finish)" if ran.rc is None else ran.rc))
            self._display("remote command rc=%s%s" % (out.rc, " (azcmagent not found)" if out.missing else ""))
        return out

    def _check_stdin(self, steps):
        """Fail at once, before running anything, where the connection cannot deliver standard input."""
        connection = self.action._connection
        become = getattr(connection, "become", None)
        if (getattr(connection, "transport", None) == "local" or connection.__class__.__module__.endswith(".local")) \
                and become is not None and become.expect_prompt():
            try:
                pipelining = connection.get_option("pipelining")
            except KeyError:
                pipelining = False
            if not pipelining:
                what = ", ".join(sorted({" ".join(scripts.display_argv(s)) for s in steps
                                         if not isinstance(s, (scripts.Listing, scripts.Service))
                                         and any(isinstance(a, scripts.Secret) for a in s)})) or "the proxy check"
                raise AgentError(_NO_STDIN % ("become with a password on the local connection gives the command a "
                                              "terminal (needed by %s)" % what))

    def service_environment(self):
        """The PATH of the task's environment, for the service commands (POSIX): it decides which systemctl runs.

        Only PATH: other variables (a proxy URL with credentials, say) would end up on the remote command line.
        """
        if self.os == "windows":
            return {}
        raw = {}
        self.action._compute_environment_string(raw)
        path = raw.get("PATH")
        return {"PATH": str(path)} if path else {}

    def describe(self, argv):
        return show_command(self.resolved_executable, argv, self.os)

    def missing_error(self, result):
        where = self.executable or (
            "%ProgramFiles%\\AzureConnectedMachineAgent\\azcmagent.exe" if self.os == "windows"
            else ", ".join(scripts.POSIX_LOCATIONS) + " or PATH")
        return AgentError("azcmagent was not found (looked for %s). Install the Azure Connected Machine agent "
                          "first, or point the executable option at it." % where,
                          rc=result.rc, stdout=result.stdout, stderr=result.stderr)

    def step_error(self, result, step, argv, what=None):
        """An AgentError for a failed step, with a message that says what to do."""
        rc = step.rc if step is not None else result.rc
        stdout = step.stdout if step is not None else result.stdout
        stderr = step.stderr if step is not None else result.stderr
        agent_says = parsers.error_message(stdout, stderr)
        command = self.describe(argv)
        if rc is None:
            rc = result.rc
        if rc in scripts.TIMEOUT_RCS and self.timeout:
            msg = ("%s did not finish within %s seconds and was stopped (timeout option); the agent may be hung "
                   "or busy" % (command, self.timeout))
        elif rc == 18:
            msg = ("%s failed: administrative privileges required (AZCM0018). On Linux run the task with "
                   "become: true; on Windows connect as an elevated Administrator." % command)
        else:
            meaning = EXIT_CODES.get(rc, "error")
            msg = "%s failed with exit code %s (%s)" % (command, rc, meaning)
            if agent_says:
                msg += ": " + agent_says
        if what:
            msg += ". " + what
        return AgentError(msg, cmd=command, rc=rc, stdout=stdout, stderr=stderr)


def read_waiting(runner, argv, understand, wait_timeout=0, extras=(), fallback=None, ran=None, sleep=time.sleep,
                 clock=time.monotonic):
    """The one wait-and-retry read: run ``argv`` (``extras`` in the same remote command, numbered from 2) until
    the agent answers, waiting up to ``wait_timeout`` seconds while it is missing or failing, never after a
    refusal (rc 18, 23). ``understand(argv, step, result)`` returns what the read gives (or raises AgentError:
    no retry); ``fallback(argv, step)`` may name other arguments to read with at once (an older agent); ``ran(argv)``
    is told of every attempt."""
    argv = list(argv)
    deadline = clock() + (wait_timeout or 0)
    while True:
        result = runner.run([argv] + list(extras))
        if ran is not None:
            ran(argv)
        step = result.step(1)
        other = fallback(argv, step) if fallback is not None else None
        if other:
            argv = list(other)
            continue
        if result.missing:
            error, retry = runner.missing_error(result), True
        elif step is None or step.rc != 0:
            error = runner.step_error(result, step, argv)
            retry = (step.rc if step is not None else result.rc) not in (18, 23)
        else:
            return understand(argv, step, result)
        if not retry or clock() >= deadline:
            if wait_timeout and retry:
                error.msg = "waited %s seconds for the agent: %s" % (wait_timeout, error.msg)
            raise error
        sleep(min(5.0, max(0.5, deadline - clock())))


def _list_without_json(argv, step):
    """An agent whose config list has no --json: read the text layout instead."""
    said = ((step.stderr + step.stdout).lower() if step is not None else "")
    if step is not None and step.rc not in (0, None) and argv[-1] == "--json" and "unknown" in said and "flag" in said:
        return list(LIST_TEXT_ARGV)
    return None


def read_state(runner, wait_timeout=0, extras=(), sleep=time.sleep, clock=time.monotonic):
    """Run `config list --json` (waiting for the agent up to ``wait_timeout`` s). Returns (state, result).

    ``extras``: more steps to run in the same remote command (numbered from 2 in the result).
    """
    def understand(argv, step, result):
        try:
            state = runner.parse_config(step.stdout)
        except parsers.ParseError as exc:
            raise AgentError("could not understand the output of %s: %s" % (runner.describe(argv), exc),
                             cmd=runner.describe(argv), rc=step.rc, stdout=step.stdout, stderr=step.stderr)
        runner.list_argv = argv
        return state, result
    return read_waiting(runner, runner.list_argv, understand, wait_timeout, extras, fallback=_list_without_json,
                        sleep=sleep, clock=clock)
