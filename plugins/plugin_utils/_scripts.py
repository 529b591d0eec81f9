# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Remote scripts for POSIX sh and PowerShell: one step loop, a syntax table per shell.

Internal to arcguard.azcmagent: not a public API, may change without notice.

A script runs a sequence of steps (``_script_steps``). Each step prints ``##arcguard:begin N`` before and
``##arcguard:end N RC`` after its output, on stdout and on stderr, so the controller can tell which steps ran,
what each printed and how each ended (``_script_transcript`` reads it). The script stops at the first failing
step and exits with its return code. Secret values (the proxy URL) travel on standard input, never on the
command line.

Removing extensions adds two kinds of step: ``Service`` stops or starts the extension service, and
``WhileStopped`` is an azcmagent call that runs only when the last ``Service`` stop succeeded. From the first
``Service`` step on, the script no longer stops at a failure: the service is always started again, and the exit
code is that of the last failing step.

That control skeleton is written once (``_step_lines``); what differs between the shells is a syntax table
(``_PosixSyntax``, ``_PowerShellSyntax``) and each shell's preamble (standard input, the output filter of
``_script_filter``, secret files, finding the agent). This module also re-exports the names of the remote
layer's other modules, so that ``_scripts.X`` keeps meaning what it meant.
"""

from __future__ import annotations

# pylint: disable=unused-import
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._catalog import (  # noqa: F401
    EXTENSION_SERVICE, POSIX_EXTENSIONS, POSIX_LOCATIONS, WINDOWS_EXTENSIONS, WINDOWS_SUFFIX,
)
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._script_filter import (  # noqa: F401
    HIDDEN_FILE, NO_MASK, OTHER_TOKEN, POSIX_FILTER, PS_JSON_LAST, PS_JSON_LINE, PS_JSON_OTHER, PS_TEXT_LINE,
    PS_TEXT_OTHER, SAME_TOKEN, Mask, hidden_forms, stdin_data,
)
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._script_steps import (  # noqa: F401
    MARK, MISSING_RC, NOSTDIN_RC, STDIN_ARG_LENGTH, TIMEOUT_RCS, Listing, Marker, Service, StdinArg, WhileStopped,
    argv_of, display_argv, placed_files, posix_quote, ps_quote, stdin_args, valid_env_name,
)
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._script_transcript import (  # noqa: F401
    ScriptResult, StepResult,
)
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._secrets import REDACTED, Secret, SecretFile
# pylint: enable=unused-import

# what PowerShell wraps each line of a native command's standard error in, once merged into its output (2>&1)
ERROR_RECORD = "Management.Automation.ErrorRecord"


# ---------------------------------------------------------------------- the step loop

# How each shell ends a step: remember how a service stop ended, record a failure (once services are
# touched), or stop the script at a failure.
_POSIX_AFTER = {"stopped": "X=$r", "record": 'if [ "$r" -ne 0 ]; then F=$r; fi',
                "exit": 'if [ "$r" -ne 0 ]; then exit "$r"; fi'}
_PS_AFTER = {"stopped": "$X = $r", "record": "if ($r -ne 0) { $F = $r }", "exit": "if ($r -ne 0) { exit $r }"}


def _after_step(step, services, relaxed, shell):
    """The lines that end a step in ``shell`` (_POSIX_AFTER or _PS_AFTER), and whether failures no longer stop."""
    lines = []
    if isinstance(step, Service):
        relaxed = True
        if step.action == "stop":
            lines.append(shell["stopped"])
    if services and relaxed:
        lines.append(shell["record"])
    elif not relaxed:
        lines.append(shell["exit"])
    return lines, relaxed


def _words(argv, secrets, quote, secret_ref, file_ref):
    """The arguments as shell words: literals quoted, stdin-carried values as ``secret_ref % index``, the
    paths of secret files as ``file_ref % index``."""
    return " ".join((quote(a.placed) if a.placed else file_ref % secrets.index(a)) if isinstance(a, SecretFile) else
                    secret_ref % secrets.index(a) if isinstance(a, Secret) else quote(a) for a in argv)


def _step_lines(syntax, steps, keep_going, services):
    """The lines that run ``steps`` in order in the shell of ``syntax``: markers around each step, a
    ``WhileStopped`` call guarded by the last service stop, and from the first ``Service`` on no stop at a
    failure (it is recorded instead)."""
    lines = []
    relaxed = keep_going
    serviced = False
    for number, step in enumerate(steps, 1):
        body = []
        if isinstance(step, Service) and not serviced:
            serviced = True
            body.extend(syntax.first_service())
        body.extend(syntax.begin(number))
        if isinstance(step, Listing):
            body.extend(syntax.listing(step))
        elif isinstance(step, Service):
            body.extend(syntax.service(step))
        else:
            body.extend(syntax.call(step))
        body.extend(syntax.end(number))
        after, relaxed = _after_step(step, services, relaxed, syntax.AFTER)
        body.extend(after)
        lines.extend(syntax.guarded(body) if isinstance(step, WhileStopped) else body)
    return lines


# --------------------------------------------------------------------------- POSIX


def _posix_service(step):
    """The shell line that stops or starts a service, in a subshell with the step's environment.

    No ``timeout`` here: systemd bounds stopping and starting itself, and the environment's PATH may differ.
    """
    exports = "".join("export %s=%s; " % (k, posix_quote(str(v))) for k, v in sorted(step.environment.items()))
    name = posix_quote(step.name)
    return ("(%sif command -v systemctl >/dev/null 2>&1; then systemctl %s %s; else service %s %s; fi) "
            "</dev/null; r=$?" % (exports, step.action, name, name, step.action))


def _placed_folders(steps):
    return list(dict.fromkeys(arg.placed.rsplit("/", 1)[0] for arg in placed_files(steps)))


def _posix_secret_files(secrets, placed=()):
    """Lines that write each SecretFile's value into a file only root can read, removed when the script ends.

    A value that should have come on standard input but did not (a connection that drops it) stops the script
    before anything runs, with the marker ``##arcguard:nostdin``. ``placed``: folders of files copied to the
    target beforehand, removed too.
    """
    files = [(i, s) for i, s in enumerate(secrets) if isinstance(s, SecretFile)]
    if not files and not placed:
        return []
    names = " ".join(['"$C%d"' % i for i, _s in files])
    removal = "rm -f %s; " % names if files else ""
    if placed:
        removal += "rm -rf %s; " % " ".join(posix_quote(d) for d in placed)
    lines = ["umask 077", "P="] + ["C%d=" % i for i, _s in files]
    lines.append("trap %s EXIT" % posix_quote(removal.rstrip("; ")))
    lines.append("trap %s HUP INT TERM" % posix_quote(removal + 'if [ -n "$P" ]; then kill "$P" 2>/dev/null; fi; '
                                                      'exit 143'))
    for index, _secret in files:
        lines.append('if [ -z "$S%d" ]; then echo %s; exit 1; fi' % (index, posix_quote(MARK + "nostdin")))
    for index, _secret in files:
        lines.append('C%d=$(mktemp "${TMPDIR:-/tmp}/arcguard-secret-XXXXXXXXXX") || { echo %s; exit 1; }'
                     % (index, posix_quote(MARK + "tempfile")))
        lines.append('chmod 600 "$C%d" || exit 1' % index)
        lines.append('printf \'%%s\\n\' "$S%d" > "$C%d" || exit 1' % (index, index))
        lines.append("S%d=" % index)
    return lines


class _Syntax:
    """What a shell's syntax table gives the step loop: the lines around each step, from templates."""

    AFTER: dict = {}
    BEGIN = ""  # {0}: the begin marker, quoted
    END = ""  # {mark}, {number}: the end marker's parts; the step's rc follows
    FIRST_SERVICE: tuple = ()  # what the first Service step is preceded by

    @staticmethod
    def quote(arg):
        raise NotImplementedError

    def first_service(self):
        return list(self.FIRST_SERVICE)

    def begin(self, number):
        return [self.BEGIN.format(self.quote("%sbegin %d" % (MARK, number)))]

    def end(self, number):
        return [self.END.format(mark=MARK, number=number, quoted=self.quote("%send %d " % (MARK, number)))]


class _PosixSyntax(_Syntax):
    """How a POSIX sh script writes each part of a step."""

    AFTER = _POSIX_AFTER
    BEGIN = "echo {0}; echo {0} >&2"
    END = "printf '\\n{mark}end {number} %s\\n' \"$r\"; printf '\\n{mark}end {number} %s\\n' \"$r\" >&2"
    # from the first service step on the sequence always runs to its end (the service is started again):
    # hang-ups, interrupts and a closed output pipe no longer stop it; a timeout still bounds each call
    FIRST_SERVICE = ("trap '' HUP INT TERM PIPE",)
    quote = staticmethod(posix_quote)

    def __init__(self, secrets, marker, prefix):
        self.secrets = secrets
        self.marker = marker
        self.prefix = prefix  # "$T " where calls run under timeout

    @staticmethod
    def listing(step):
        base = posix_quote(step.path or POSIX_EXTENSIONS)
        return ["if [ -d %s ]; then (cd %s && for d in *; do [ -d \"$d\" ] && printf '%%s\\n' \"$d\"; done); "
                "r=0; else r=0; fi" % (base, base)]

    def service(self, step):
        lines = []
        if self.marker is not None and step.action == "stop":
            lines.append(": > %s 2>/dev/null" % posix_quote(self.marker.posix_path()))
        lines.append(_posix_service(step))
        if self.marker is not None and step.action == "start":
            lines.append('if [ "$r" -eq 0 ]; then rm -f %s; fi' % posix_quote(self.marker.posix_path()))
        return lines

    def call(self, argv):
        words = _words(argv, self.secrets, posix_quote, '"$S%d"', '"$C%d"')
        run = ('{ { { %s"$A" %s 3>&- 4>&- 5>&-; echo $? >&4; printf x; printf x >&2; } 2>&3 '
               '| w >&5; } 3>&1 | w >&2; }' % (self.prefix, words))
        if any(isinstance(arg, SecretFile) for arg in argv):
            # in the background, so that a signal runs the trap (removing the file) at once: a shell waiting
            # for a foreground command handles signals only after that command ends; the exit code comes
            # through a file of its own instead of a command substitution
            lines = ['R=$(mktemp "${TMPDIR:-/tmp}/arcguard-rc-XXXXXXXXXX") || exit 1',
                     '%s 4>"$R" </dev/null & P=$!' % run,
                     'wait "$P"; P=; r=$(cat "$R"); rm -f "$R"']
        else:
            lines = ['r=$( %s 4>&1 )' % run]
        return lines + ['[ -n "$r" ] || r=1']

    @staticmethod
    def guarded(body):
        return ['if [ "$X" -eq 0 ]; then'] + body + ["fi"]


def posix_script(steps, executable=None, timeout=None, keep_going=False, mask=None, marker=None) -> str:
    """A /bin/sh script that runs each step (a list of azcmagent arguments) in order.

    It stops at the first failing step unless ``keep_going``, or once a ``Service`` step has run.
    """
    lines = []
    secrets = stdin_args(steps)
    mask = mask or NO_MASK
    services = any(isinstance(s, Service) for s in steps)
    masked = mask.lines()
    hide = hidden_forms(steps)
    if secrets or masked or hide:
        # a terminal instead of the data Ansible sends (become with a password on the local connection):
        # reading it would wait for ever
        lines.append("if [ -t 0 ]; then echo %s; exit %d; fi" % (posix_quote(MARK + "nostdin"), NOSTDIN_RC))
    for index, _secret in enumerate(secrets):
        lines.append("IFS= read -r S%d || true" % index)
    for index, _line in enumerate(masked):
        lines.append("IFS= read -r M%d || true" % index)
    for index, _line in enumerate(hide):
        lines.append("IFS= read -r H%d || true" % index)
    # the forms of files copied beforehand come from their private folder (removed with it)
    copied = hidden_forms(steps, placed=True)
    if copied:
        reads = " ".join("IFS= read -r H%d || true;" % (len(hide) + i) for i in range(len(copied)))
        lines.append("{ %s } < %s" % (reads, posix_quote(_placed_folders(steps)[0] + "/" + HIDDEN_FILE)))
        hide = hide + copied
    # a connection that drops standard input (containers.podman runs the command without it) leaves these empty:
    # stop before anything runs rather than pass an empty value on (a secret file checks its own value below)
    empty = ['[ -z "$S%d" ]' % i for i, sec in enumerate(secrets) if sec.value and not isinstance(sec, SecretFile)]
    empty += ['[ -z "$M%d" ]' % i for i, line in enumerate(masked) if line]
    # (the hidden forms need no check: they come only with secret files, which check their own value below)
    if empty:
        lines.append("if %s; then echo %s; exit %d; fi"
                     % (" || ".join(empty), posix_quote(MARK + "nostdin"), NOSTDIN_RC))
    env = ""
    if masked:
        env = "AGT=\"$M0\" AGN=%d %s" % (len(masked) - 1, " ".join(
            'AGJ%d="$M%d"' % (i, i + 1) for i in range(len(masked) - 1)))
    if hide:
        env = ("%s AGH=%d %s" % (env, len(hide), " ".join('AGH%d="$H%d"' % (i, i) for i in range(len(hide))))).strip()
    lines.append("if ! command -v awk >/dev/null 2>&1; then echo %s; exit %d; fi"
                 % (posix_quote(MARK + "noawk"), MISSING_RC))
    lines.append("W=%s" % posix_quote(POSIX_FILTER))
    # the agent's output, filtered; the agent itself gets none of our descriptors (3, 4: plumbing, 5: stdout)
    lines.append('w() { LC_ALL=C %s awk "$W"; }' % env if env else 'w() { LC_ALL=C awk "$W"; }')
    lines.append("exec 5>&1")
    lines.extend(_posix_secret_files(secrets, _placed_folders(steps)))
    if executable:
        lines.append("A=%s" % posix_quote(executable))
        lines.append('if [ ! -x "$A" ]; then echo %s; exit %d; fi' % (posix_quote(MARK + "missing"), MISSING_RC))
    else:
        lines.append("A=")
        lines.append('for c in %s; do if [ -x "$c" ]; then A=$c; break; fi; done'
                     % " ".join(posix_quote(p) for p in POSIX_LOCATIONS))
        lines.append('if [ -z "$A" ]; then A=$(command -v azcmagent 2>/dev/null) || A=; fi')
        lines.append('if [ -z "$A" ]; then echo %s; exit %d; fi' % (posix_quote(MARK + "missing"), MISSING_RC))
    lines.append("echo %s\"$A\"" % posix_quote(MARK + "exe "))
    if marker is not None:
        # a run killed while the extension service was stopped left this behind (see Marker)
        lines.append("if [ -e %s ]; then echo %s; fi" % (posix_quote(marker.posix_path()),
                                                         posix_quote(MARK + "stopped-marker")))
    if timeout:
        lines.append("T=")
        lines.append("if command -v timeout >/dev/null 2>&1; then T='timeout -k 5 %d'; fi" % int(timeout))
        prefix = "$T "
    else:
        prefix = ""
    if services:
        # X: how the last service stop ended (not stopped yet); F: the last failure once services are touched
        lines.append("X=1; F=0")
    lines.extend(_step_lines(_PosixSyntax(secrets, marker, prefix), steps, keep_going, services))
    lines.append('exit "$F"' if services else "exit 0")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- PowerShell

# SYSTEM and BUILTIN\\Administrators by SID (names are localised), full control, inherited by what is inside
PS_PRIVATE_ACL = ("/inheritance:r", "/grant:r", "*S-1-5-18:(OI)(CI)F", "*S-1-5-32-544:(OI)(CI)F")


def _powershell_secret_files(files):
    """Lines that make, per SecretFile, a directory only SYSTEM and Administrators can open, then the file in it."""
    if not files:
        return []
    lines = ["$I = $env:SystemRoot + %s" % ps_quote("\\System32\\icacls.exe")]
    for index, secret in files:
        lines.append("$D%d = $env:SystemRoot + %s" % (index, ps_quote("\\Temp\\arcguard-" + secret.name)))
        lines.append("if (Test-Path -LiteralPath $D%d) { Write-Output %s; exit 1 }" % (index, ps_quote(MARK + "tempfile")))
        lines.append("$null = [System.IO.Directory]::CreateDirectory($D%d)" % index)
        lines.append("& $I $D%d %s" % (index, " ".join(ps_quote(a) for a in PS_PRIVATE_ACL)))
        lines.append("if ($LASTEXITCODE -ne 0) { Remove-Item -LiteralPath $D%d -Recurse -Force; Write-Output %s; "
                     "exit 1 }" % (index, ps_quote(MARK + "tempfile")))
        lines.append("$C%d = $D%d + %s" % (index, index, ps_quote("\\config.json")))
        lines.append("[System.IO.File]::WriteAllText($C%d, $S[%d])" % (index, index))
    return lines


class _PowerShellSyntax(_Syntax):
    """How a PowerShell script writes each part of a step."""

    AFTER = _PS_AFTER
    BEGIN = "Write-Output {0}; [Console]::Error.WriteLine({0})"
    END = "Write-Output ({quoted} + $r); [Console]::Error.WriteLine({quoted} + $r)"
    quote = staticmethod(ps_quote)

    def __init__(self, secrets, marker):
        self.secrets = secrets
        self.marker = marker

    @staticmethod
    def listing(step):
        if step.path:
            lines = ["$P = %s" % ps_quote(step.path)]
        else:
            lines = ["$P = $env:SystemDrive + %s" % ps_quote(WINDOWS_EXTENSIONS)]
        # two levels (Publisher.Type, then its versions) without -Depth, which PowerShell 5.0 added
        return lines + ["if (Test-Path -LiteralPath $P) { foreach ($D in (Get-ChildItem -LiteralPath $P -Directory -Name)) "
                        "{ Write-Output $D; foreach ($V in (Get-ChildItem -LiteralPath ($P + '\\' + $D) -Directory -Name)) "
                        "{ Write-Output ($D + '\\' + $V) } } }", "$r = 0"]

    def service(self, step):
        lines = ["$r = 1"]
        if self.marker is not None and step.action == "stop":
            lines.append("Set-Content -LiteralPath $M -Value 'stopped'")
        lines.append("%s-Service -Name %s" % (step.action.capitalize(), ps_quote(step.name)))
        lines.append("if ($?) { $r = 0 }")
        if self.marker is not None and step.action == "start":
            lines.append("if (-not $r) { if (Test-Path -LiteralPath $M) { Remove-Item -LiteralPath $M -Force } }")
        return lines

    def call(self, argv):
        # standard output and standard error (2>&1) through the filter W; W runs no native command, so
        # $LASTEXITCODE stays the agent's
        return ["W @(& $A %s 2>&1)" % _words(argv, self.secrets, ps_quote, "$S[%d]", "$C%d"), "$r = $LASTEXITCODE"]

    @staticmethod
    def guarded(body):
        return ["if (-not $X) {"] + ["  " + line for line in body] + ["}"]


def powershell_script(steps, executable=None, timeout=None, keep_going=False, mask=None, marker=None) -> str:
    """A PowerShell script that runs each step in order.

    It uses only the constructs listed in tests/lib/winrm_endpoint.md; the WinRM test
    endpoint refuses anything else. ``timeout`` is not applied on Windows (the task
    keyword ``timeout`` bounds the whole task there).
    """
    del timeout
    lines = []
    secrets = stdin_args(steps)
    mask = mask or NO_MASK
    services = any(isinstance(s, Service) for s in steps)
    hide = hidden_forms(steps)
    # native standard error merged into the captured output (2>&1) arrives as error records: stop nothing
    lines.append("$ErrorActionPreference = 'Continue'")
    if secrets or mask or hide:
        lines.append("$S = @($input)")
    # the output filter of the POSIX script, as .NET regular expressions (see _POSIX_FILTER)
    lines.append("$GJ = %s" % ps_quote(PS_JSON_OTHER))
    lines.append("$GT = %s" % ps_quote(PS_TEXT_OTHER))
    lines.append("$RO = %s" % ps_quote("${1}" + OTHER_TOKEN + "@"))
    if mask:
        first = len(secrets)
        forms = " + '|' + ".join("[regex]::Escape($S[%d])" % (first + 1 + i) for i in range(len(mask.json)))
        lines.append("$PJ = %s + %s + %s" % (ps_quote(PS_JSON_LINE + "(://)(?:"), forms, ps_quote(PS_JSON_LAST)))
        lines.append("$PT = %s + [regex]::Escape($S[%d]) + %s"
                     % (ps_quote(PS_TEXT_LINE + "(.*?://)"), first, ps_quote("@(?=[^@]*$)")))
        lines.append("$RS = %s" % ps_quote("${1}" + SAME_TOKEN + "@"))
    if hide:
        first = len(secrets) + len(mask.lines())
        escaped = ["[regex]::Escape($S[%d])" % (first + i) for i in range(len(hide))]
        lines.append("$PH = '(?:' + %s + ')'" % " + '|' + ".join(escaped))
        lines.append("$RH = %s" % ps_quote(REDACTED))
    # the filter of one line of the agent's output: user information of URLs, then the hidden forms
    filters = "".join(" -creplace %s" % pair for pair in (["$PJ, $RS", "$PT, $RS"] if mask else []) +
                      ["$GJ, $RO", "$GT, $RO"] + (["$PH, $RH"] if hide else []))
    if any(not isinstance(step, (Listing, Service)) for step in steps):
        # W: an azcmagent call's output, captured with its standard error merged in (2>&1), each line filtered and
        # written back to its own stream (PowerShell wraps every standard error line in an error record)
        lines.append("function W($Q) { foreach ($L in $Q) { $T = [string]$L%s; if ($L -is [%s]) "
                     "{ [Console]::Error.WriteLine($T) } else { Write-Output $T } } }" % (filters, ERROR_RECORD))
    files = [(i, sec) for i, sec in enumerate(secrets) if isinstance(sec, SecretFile)]
    lines.extend(_powershell_secret_files(files))
    if executable:
        lines.append("$A = %s" % ps_quote(executable))
    else:
        lines.append("$A = $env:ProgramW6432")
        lines.append("if (-not $A) { $A = $env:ProgramFiles }")
        lines.append("$A = $A + %s" % ps_quote(WINDOWS_SUFFIX))
    lines.append("if (-not (Test-Path -LiteralPath $A)) { Write-Output %s; exit %d }"
                 % (ps_quote(MARK + "missing"), MISSING_RC))
    lines.append("Write-Output (%s + $A)" % ps_quote(MARK + "exe "))
    if marker is not None:
        lines.append(marker.powershell_assignment())
        lines.append("if (Test-Path -LiteralPath $M) { Write-Output %s }" % ps_quote(MARK + "stopped-marker"))
    if services:
        lines.append("$X = 1; $F = 0")
    lines.extend(_step_lines(_PowerShellSyntax(secrets, marker), steps, keep_going, services))
    lines.append("exit $F" if services else "exit 0")
    if files:
        # everything after the files are written runs inside try, so that finally removes them
        first = next(i for i, line in enumerate(lines) if line.startswith("$A = "))
        body = lines[first:]
        lines = lines[:first] + ["try {"] + ["  " + line for line in body] + ["} finally {"]
        lines.extend("  Remove-Item -LiteralPath $D%d -Recurse -Force" % i for i, _sec in files)
        lines.append("}")
    return "\r\n".join(lines) + "\r\n"


def build_script(shell_family: str, steps, executable=None, timeout=None, keep_going=False, mask=None,
                 marker=None) -> str:
    if shell_family == "powershell":
        return powershell_script(steps, executable, timeout, keep_going, mask, marker)
    return posix_script(steps, executable, timeout, keep_going, mask, marker)
