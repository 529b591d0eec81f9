# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Remote scripts for POSIX sh and PowerShell, and the parser of their output.

Internal to arcguard.azcmagent: not a public API, may change without notice.

A script runs a sequence of azcmagent invocations ("steps"). Each step prints
``##arcguard:begin N`` before and ``##arcguard:end N RC`` after its output, on
stdout and on stderr, so the controller can tell which steps ran, what each
printed and how each ended. The script stops at the first failing step and exits
with its return code. Secret values (the proxy URL) travel on standard input,
never on the command line.

Removing extensions adds two kinds of step: ``Service`` stops or starts the
extension service, and ``WhileStopped`` is an azcmagent call that runs only when
the last ``Service`` stop succeeded. From the first ``Service`` step on, the
script no longer stops at a failure: the service is always started again, and
the exit code is that of the last failing step.

Every azcmagent call's output, standard output and standard error alike, is filtered on the target before it
leaves it (see ``Mask``): the user information of any URL the agent prints (its ``config list``
shows the configured proxy URL, ``config set`` confirms the value it set) is
replaced by ``SAME_TOKEN`` when it equals the user information of the proxy URL the
task asks for, else by ``OTHER_TOKEN``. Ansible's connection plugins print the raw
remote output at high verbosity, so redacting on the controller alone would be too
late; the tokens still let the controller tell whether the proxy differs. The values inside secret files (the
onboarding credentials) are replaced by ``REDACTED`` wherever they appear, in every form ``hidden_forms`` lists.
"""

from __future__ import annotations

import json
import re
import shlex
import urllib.parse

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._planner import Step as PlannedStep
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._secrets import REDACTED, Secret, carried, json_forms

MARK = "##arcguard:"
MISSING_RC = 127
TIMEOUT_RCS = (124, 137)

POSIX_LOCATIONS = ("/opt/azcmagent/bin/azcmagent", "/usr/bin/azcmagent", "/usr/local/bin/azcmagent")
WINDOWS_SUFFIX = "\\AzureConnectedMachineAgent\\azcmagent.exe"
POSIX_EXTENSIONS = "/var/lib/waagent"
WINDOWS_EXTENSIONS = "\\Packages\\Plugins"
# The extension service, as the reference names it per OS.
EXTENSION_SERVICE = {"linux": "extd", "windows": "ExtensionService"}
# what the target prints instead of a URL's user information (user:password)
SAME_TOKEN = "arcguard-redacted-same"
OTHER_TOKEN = "arcguard-redacted"
NOSTDIN_RC = 125
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SERVICE_NAME = re.compile(r"^[A-Za-z0-9_.@-]+$")


class SecretFile(Secret):
    """An argument that is the path of a temporary file holding ``value`` (one line), not the value itself.

    The value travels on standard input like any Secret. POSIX: the file is made by ``mktemp`` under
    ``umask 077`` and ``chmod 600`` before anything is written, and removed by a trap when the script ends
    (normally, at a failing step or on HUP/INT/TERM). PowerShell: a fresh directory below ``%SystemRoot%\\Temp``
    (``name`` is its random name) gets an ACL of SYSTEM and Administrators only (``icacls``, inheritance
    removed) before the file is written inside it; the directory is removed in a ``finally`` block.
    """

    def __init__(self, value: str, name: str, shown: str = "(temporary file)", placed=None):
        if "\n" in value or "\r" in value:
            raise ValueError("a secret file holds one line")
        if not re.match(r"^[A-Za-z0-9-]{8,64}$", name or ""):
            raise ValueError("not a temporary file name: %r" % (name,))
        super().__init__(value, shown)
        self.name = name
        # the file's path when it was already copied to the target (connections without standard input): the
        # script then only uses it, and removes its folder when it ends
        self.placed = placed

    def __repr__(self) -> str:
        return "SecretFile(%r)" % self.name


class Listing:
    """A step that lists the folders below a directory (installed extensions), not an azcmagent call.

    ``path`` is the directory on the target; None means the OS's documented extension folder.
    On Windows the names come with one level of subfolders (``Publisher.Type\\version``).
    """

    def __init__(self, path=None):
        self.path = path

    def __iter__(self):  # display form
        return iter(["(list folders in %s)" % (self.path or "the extension folder")])


class Service:
    """A step that stops or starts a service (``action`` ``stop`` or ``start``), not an azcmagent call.

    POSIX: ``systemctl ACTION NAME``, or ``service NAME ACTION`` where there is no systemctl, with the variables
    of ``environment`` exported (the action passes the PATH of the task's environment). PowerShell:
    ``Stop-Service -Name NAME`` / ``Start-Service -Name NAME``; ``environment`` is not used.
    """

    def __init__(self, action, name, environment=None):
        if action not in ("stop", "start"):
            raise ValueError("a service step stops or starts, not %r" % (action,))
        if not _SERVICE_NAME.match(name or ""):
            raise ValueError("not a service name: %r" % (name,))
        for key in environment or {}:
            if not valid_env_name(key):
                raise ValueError("not an environment variable name: %r" % (key,))
        self.action = action
        self.name = name
        self.environment = dict(environment or {})

    def __iter__(self):  # display form
        return iter(["(%s the service %s)" % (self.action, self.name)])

    def describe(self, os_name):
        """The command as users may be shown it."""
        if os_name == "windows":
            return "%s-Service -Name %s" % (self.action.capitalize(), self.name)
        return "systemctl %s %s" % (self.action, self.name)


class WhileStopped:
    """An azcmagent call (``argv``) that runs only when the last Service stop succeeded."""

    def __init__(self, argv):
        self.argv = list(argv)

    def __iter__(self):
        return iter(self.argv)

    def __len__(self):
        return len(self.argv)

    def __getitem__(self, index):
        return self.argv[index]


class Marker:
    """Where a script that stops the extension service leaves a marker file until it has started it again.

    The marker lives in the extension folder (``base``; None: the OS's documented one) as a dot file, which the
    folder listing skips. It is written just before the service is stopped and removed once a start succeeded,
    so a run killed in between (SIGKILL, a dropped connection) leaves it behind; every script given a Marker
    checks for it first and prints ``##arcguard:stopped-marker``, and the next run starts the service again.
    """

    NAME = ".arcguard-extension-service-stopped"

    def __init__(self, base=None):
        self.base = base

    def posix_path(self):
        return (self.base or POSIX_EXTENSIONS).rstrip("/") + "/" + self.NAME

    def powershell_assignment(self):
        if self.base:
            return "$M = %s" % ps_quote(self.base.rstrip("\\") + "\\" + self.NAME)
        return "$M = $env:SystemDrive + %s" % ps_quote(WINDOWS_EXTENSIONS + "\\" + self.NAME)

    def describe(self, os_name):
        if os_name == "windows":
            return (self.base.rstrip("\\") if self.base else "%SystemDrive%" + WINDOWS_EXTENSIONS) + "\\" + self.NAME
        return self.posix_path()


# argument values longer than this travel on standard input (``$S[n]``) on PowerShell, to keep the command short
STDIN_ARG_LENGTH = 48


class StdinArg(Secret):
    """An argument passed on standard input because of its length; shown as it is."""

    def __init__(self, value):
        super().__init__(value, value)

    def __repr__(self):
        return "StdinArg(%r)" % self.value


def _text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(i) for i in value)
    return str(value)


def argv_of(step, long_on_stdin=False, length=STDIN_ARG_LENGTH):
    """The arguments of one step: a planned change (``_planner.Step``) becomes its azcmagent call.

    Values that may hold credentials become ``Secret`` (standard input); with ``long_on_stdin``, so do values
    longer than ``STDIN_ARG_LENGTH`` (``StdinArg``). Other steps (argv lists, ``Listing``, ``Service``,
    ``WhileStopped``) come back as they are, apart from that.
    """
    if isinstance(step, PlannedStep):
        if step.op == "clear":
            step = ["config", "clear", step.prop]
        else:
            step = ["config", "set", step.prop, carried(step.prop, _text(step.value))] + (
                ["--" + step.op] if step.op in ("add", "remove") else [])
    if not long_on_stdin or isinstance(step, (Listing, Service)):
        return step
    argv = [StdinArg(a) if isinstance(a, str) and len(a) > length else a for a in step]
    return WhileStopped(argv) if isinstance(step, WhileStopped) else argv


class Mask:
    """How the target recognises the user information of the proxy URL the task asks for.

    ``text``: the user information as a text line shows it (or None: no proxy asked for);
    ``json``: the forms a JSON encoder may give it. They travel on standard input like secrets.
    """

    def __init__(self, text=None, json=()):
        self.text = text
        self.json = [] if text is None else list(dict.fromkeys(json or [text]))

    def lines(self):
        return [] if self.text is None else [self.text] + self.json

    def __bool__(self):
        return self.text is not None


NO_MASK = Mask()


def valid_env_name(name) -> bool:
    """Can ``name`` be exported by a POSIX shell?"""
    return bool(_ENV_NAME.match(str(name)))


def display_argv(argv):
    """The argv (or planned step) as it may be shown to users: secrets replaced by their redacted form."""
    return [a.shown if isinstance(a, Secret) else a for a in argv_of(argv)]


def _secret_args(steps):
    """The ``Secret`` arguments of ``steps`` (listings and services have none), once each, in order."""
    found = []
    for argv in steps:
        if isinstance(argv, (Listing, Service)):
            continue
        for arg in argv:
            if isinstance(arg, Secret) and arg not in found:
                found.append(arg)
    return found


def stdin_args(steps):
    """The arguments of ``steps`` that travel on standard input: their secrets not copied to the target."""
    return [arg for arg in _secret_args(steps) if not getattr(arg, "placed", None)]


def _placed_files(steps):
    """The secret files of ``steps`` copied to the target beforehand (connections without standard input)."""
    return [arg for arg in _secret_args(steps) if isinstance(arg, SecretFile) and arg.placed]


def _document_values(text):
    """The secret values inside a secret file's one line: the string values of a JSON object, else the line."""
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        return [v for v in doc.values() if isinstance(v, str) and v]
    return [text] if text else []


def hidden_forms(steps, placed=False):
    """What the target replaces by ``REDACTED`` wherever the agent prints it: each value inside the secret files
    these steps send on standard input (the onboarding credentials), as it is, in the forms a JSON encoder gives
    it and percent-encoded; longest first, so that a longer form is replaced before a shorter one inside it.
    They travel on standard input after the mask's lines, never in the script.

    ``placed``: the same for the files copied to the target beforehand instead (connections without standard
    input); those forms are copied too, into ``HIDDEN_FILE`` of the same private folder, and read from there."""
    files = _placed_files(steps) if placed else [s for s in stdin_args(steps) if isinstance(s, SecretFile)]
    forms = []
    for secret in files:
        for value in _document_values(secret.value):
            forms.extend([value] + json_forms(value) + [urllib.parse.quote(value, safe="")])
    forms = [f for f in dict.fromkeys(forms) if f and "\n" not in f and "\r" not in f]
    return sorted(forms, key=len, reverse=True)


HIDDEN_FILE = "hidden"


def stdin_data(steps, mask=None) -> str | None:
    """What to send on standard input for these steps (one secret per line, then the mask's lines, then the
    forms to hide, ``hidden_forms``), or None."""
    lines = [s.value for s in stdin_args(steps)] + (mask or NO_MASK).lines() + hidden_forms(steps)
    if not lines:
        return None
    return "".join(line + "\n" for line in lines)


# The output filter (POSIX awk, run with LC_ALL=C so that it works on bytes). A line that starts with { or [
# is JSON: every "://...@" inside one JSON string (escapes honoured, up to its last @) is a URL's user
# information. Any other line is text: from its first :// to its last @. The user information becomes
# SAME_TOKEN when it is one of the mask's forms (AGT for text, AGJ0.. for JSON), else OTHER_TOKEN. Then every
# occurrence of a hidden form (AGH0.., see hidden_forms; plain index() search, no regular expressions) becomes
# REDACTED. Values come through ENVIRON, never -v (which would process backslashes). The shell
# appends an x to what the agent printed, which the filter drops again: output without a final newline stays so.
# No single quote inside: the program is a single-quoted shell word.
_POSIX_FILTER = r"""
function h(s,   x, f, o, p, q, e, L, i, c, u, r) {
  x = s; sub(/^[ \t]+/, "", x); f = substr(x, 1, 1)
  if (f == "{" || f == "[") {
    o = ""
    while ((p = index(s, "://")) > 0) {
      o = o substr(s, 1, p + 2); s = substr(s, p + 3); q = 0; e = 0; L = length(s)
      for (i = 1; i <= L; i++) { c = substr(s, i, 1)
        if (e) { e = 0 } else if (c == B) { e = 1 } else if (c == Q) { break } else if (c == "@") { q = i } }
      if (q) { u = substr(s, 1, q - 1); o = o ((ht && (u in J)) ? "@SAME@" : "@OTHER@"); s = substr(s, q) }
    }
    return o s
  }
  if ((p = index(s, "://")) > 0) {
    r = substr(s, p + 3); q = 0
    for (i = length(r); i > 0; i--) if (substr(r, i, 1) == "@") { q = i; break }
    if (q) {
      u = substr(r, 1, q - 1)
      s = substr(s, 1, p + 2) ((u == "@SAME@" || (ht && u == t)) ? "@SAME@" : "@OTHER@") substr(r, q)
    }
  }
  return s
}
function d(s,   k, o, p, L) {
  for (k = 0; k < hn; k++) { L = length(H[k])
    if (L > 0) { o = ""; while ((p = index(s, H[k])) > 0) { o = o substr(s, 1, p - 1) "@HIDDEN@"; s = substr(s, p + L) }
      s = o s } }
  return s
}
BEGIN { n = ENVIRON["AGN"] + 0; for (i = 0; i < n; i++) J[ENVIRON["AGJ" i]] = 1
        t = ENVIRON["AGT"]; ht = (n > 0); B = "\\"; Q = "\""
        hn = ENVIRON["AGH"] + 0; for (i = 0; i < hn; i++) H[i] = ENVIRON["AGH" i] }
NR > 1 { print d(h(p)) }
{ p = $0 }
END { if (NR) { s = h(p); printf "%s", d(substr(s, 1, length(s) - 1)) } }
""".replace("@SAME@", SAME_TOKEN).replace("@OTHER@", OTHER_TOKEN).replace("@HIDDEN@", REDACTED)


# --------------------------------------------------------------------------- POSIX


def posix_quote(arg: str) -> str:
    return shlex.quote(arg)


def _posix_service(step):
    """The shell line that stops or starts a service, in a subshell with the step's environment.

    No ``timeout`` here: systemd bounds stopping and starting itself, and the environment's PATH may differ.
    """
    exports = "".join("export %s=%s; " % (k, posix_quote(str(v))) for k, v in sorted(step.environment.items()))
    name = posix_quote(step.name)
    return ("(%sif command -v systemctl >/dev/null 2>&1; then systemctl %s %s; else service %s %s; fi) "
            "</dev/null; r=$?" % (exports, step.action, name, name, step.action))


def _placed_folders(steps):
    return list(dict.fromkeys(arg.placed.rsplit("/", 1)[0] for arg in _placed_files(steps)))


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
    lines.append("W=%s" % posix_quote(_POSIX_FILTER))
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
    relaxed = keep_going
    trapped = False
    for number, argv in enumerate(steps, 1):
        guarded = isinstance(argv, WhileStopped)
        if guarded:
            lines.append('if [ "$X" -eq 0 ]; then')
        if isinstance(argv, Service) and not trapped:
            trapped = True
            # from here on the sequence always runs to its end (the service is started again): hang-ups,
            # interrupts and a closed output pipe no longer stop it; a timeout still bounds each call
            lines.append("trap '' HUP INT TERM PIPE")
        begin = posix_quote("%sbegin %d" % (MARK, number))
        lines.append("echo %s; echo %s >&2" % (begin, begin))
        if isinstance(argv, Listing):
            base = posix_quote(argv.path or POSIX_EXTENSIONS)
            lines.append("if [ -d %s ]; then (cd %s && for d in *; do [ -d \"$d\" ] && printf '%%s\\n' \"$d\"; done); "
                         "r=0; else r=0; fi" % (base, base))
        elif isinstance(argv, Service):
            if marker is not None and argv.action == "stop":
                lines.append(": > %s 2>/dev/null" % posix_quote(marker.posix_path()))
            lines.append(_posix_service(argv))
            if marker is not None and argv.action == "start":
                lines.append('if [ "$r" -eq 0 ]; then rm -f %s; fi' % posix_quote(marker.posix_path()))
        else:
            words = _words(argv, secrets, posix_quote, '"$S%d"', '"$C%d"')
            run = ('{ { { %s"$A" %s 3>&- 4>&- 5>&-; echo $? >&4; printf x; printf x >&2; } 2>&3 '
                   '| w >&5; } 3>&1 | w >&2; }' % (prefix, words))
            if any(isinstance(arg, SecretFile) for arg in argv):
                # in the background, so that a signal runs the trap (removing the file) at once: a shell waiting
                # for a foreground command handles signals only after that command ends; the exit code comes
                # through a file of its own instead of a command substitution
                lines.append('R=$(mktemp "${TMPDIR:-/tmp}/arcguard-rc-XXXXXXXXXX") || exit 1')
                lines.append('%s 4>"$R" </dev/null & P=$!' % run)
                lines.append('wait "$P"; P=; r=$(cat "$R"); rm -f "$R"')
            else:
                lines.append('r=$( %s 4>&1 )' % run)
            lines.append('[ -n "$r" ] || r=1')
        lines.append("printf '\\n%send %d %%s\\n' \"$r\"; printf '\\n%send %d %%s\\n' \"$r\" >&2"
                     % (MARK, number, MARK, number))
        after, relaxed = _after_step(argv, services, relaxed, _POSIX_AFTER)
        lines.extend(after)
        if guarded:
            lines.append("fi")
    lines.append('exit "$F"' if services else "exit 0")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- PowerShell

# _POSIX_FILTER's rules as .NET regular expressions, applied to each line of an azcmagent call's output
_JSON_LINE = r"(?<=^[ \t]*[\[{].*)"
_TEXT_LINE = r"^(?![ \t]*[\[{])"
_PS_JSON_LAST = r')@(?=(?:[^"\\@]|\\.)*("|$))'
_PS_JSON_OTHER = _JSON_LINE + r'(://)(?!%s@)(?:[^"\\]|\\.)*@' % SAME_TOKEN
_PS_TEXT_OTHER = _TEXT_LINE + r"(.*?://)(?!%s@[^@]*$)(.*)@" % SAME_TOKEN


# what PowerShell wraps each line of a native command's standard error in, once merged into its output (2>&1)
ERROR_RECORD = "Management.Automation.ErrorRecord"


def ps_quote(arg: str) -> str:
    """A PowerShell single-quoted string literal (only the quote is special inside)."""
    # PowerShell treats the typographic single quotes as quotes too: double every one.
    out = []
    for ch in arg:
        out.append(ch)
        if ch in "'\u2018\u2019\u201a\u201b":
            out.append(ch)
    return "'" + "".join(out) + "'"


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


def powershell_script(steps, executable=None, timeout=None, keep_going=False, mask=None, marker=None) -> str:
    """A PowerShell script that runs each step in order.

    It uses only the constructs listed in tests/windows/README.md; the WinRM test
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
    lines.append("$GJ = %s" % ps_quote(_PS_JSON_OTHER))
    lines.append("$GT = %s" % ps_quote(_PS_TEXT_OTHER))
    lines.append("$RO = %s" % ps_quote("${1}" + OTHER_TOKEN + "@"))
    if mask:
        first = len(secrets)
        forms = " + '|' + ".join("[regex]::Escape($S[%d])" % (first + 1 + i) for i in range(len(mask.json)))
        lines.append("$PJ = %s + %s + %s" % (ps_quote(_JSON_LINE + "(://)(?:"), forms, ps_quote(_PS_JSON_LAST)))
        lines.append("$PT = %s + [regex]::Escape($S[%d]) + %s"
                     % (ps_quote(_TEXT_LINE + "(.*?://)"), first, ps_quote("@(?=[^@]*$)")))
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
    relaxed = keep_going
    for number, argv in enumerate(steps, 1):
        guarded = isinstance(argv, WhileStopped)
        body = []
        begin = ps_quote("%sbegin %d" % (MARK, number))
        end = ps_quote("%send %d " % (MARK, number))
        body.append("Write-Output %s; [Console]::Error.WriteLine(%s)" % (begin, begin))
        if isinstance(argv, Listing):
            if argv.path:
                body.append("$P = %s" % ps_quote(argv.path))
            else:
                body.append("$P = $env:SystemDrive + %s" % ps_quote(WINDOWS_EXTENSIONS))
            # two levels (Publisher.Type, then its versions) without -Depth, which PowerShell 5.0 added
            body.append("if (Test-Path -LiteralPath $P) { foreach ($D in (Get-ChildItem -LiteralPath $P -Directory -Name)) "
                        "{ Write-Output $D; foreach ($V in (Get-ChildItem -LiteralPath ($P + '\\' + $D) -Directory -Name)) "
                        "{ Write-Output ($D + '\\' + $V) } } }")
            body.append("$r = 0")
        elif isinstance(argv, Service):
            body.append("$r = 1")
            if marker is not None and argv.action == "stop":
                body.append("Set-Content -LiteralPath $M -Value 'stopped'")
            body.append("%s-Service -Name %s" % (argv.action.capitalize(), ps_quote(argv.name)))
            body.append("if ($?) { $r = 0 }")
            if marker is not None and argv.action == "start":
                body.append("if (-not $r) { if (Test-Path -LiteralPath $M) { Remove-Item -LiteralPath $M -Force } }")
        else:
            # standard output and standard error (2>&1) through the filter W; W runs no native command, so
            # $LASTEXITCODE stays the agent's
            body.append("W @(& $A %s 2>&1)" % _words(argv, secrets, ps_quote, "$S[%d]", "$C%d"))
            body.append("$r = $LASTEXITCODE")
        body.append("Write-Output (%s + $r); [Console]::Error.WriteLine(%s + $r)" % (end, end))
        after, relaxed = _after_step(argv, services, relaxed, _PS_AFTER)
        body.extend(after)
        if guarded:
            lines.append("if (-not $X) {")
            lines.extend("  " + line for line in body)
            lines.append("}")
        else:
            lines.extend(body)
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


# ---------------------------------------------------------------------- results

_BEGIN = re.compile(r"^##arcguard:begin (\d+)\r?$")
_END = re.compile(r"^##arcguard:end (\d+) (-?\d+)\r?$")


class StepResult:
    __slots__ = ("number", "rc", "stdout", "stderr")

    def __init__(self, number, rc=None, stdout="", stderr=""):
        self.number = number
        self.rc = rc  # None: started but never finished (killed, hung, lost)
        self.stdout = stdout
        self.stderr = stderr

    def __repr__(self):
        return "StepResult(%r, rc=%r, stdout=%r, stderr=%r)" % (self.number, self.rc, self.stdout, self.stderr)


def _split(stream: str):
    """Split one stream into (preamble, {number: (text, rc or None)})."""
    preamble = []
    found = {}
    current = None
    buf = []
    for line in stream.splitlines(True):
        bare = line.rstrip("\n")
        m = _BEGIN.match(bare)
        if m:
            if current is not None:
                found[current] = ("".join(buf), None)
            current = int(m.group(1))
            buf = []
            continue
        m = _END.match(bare)
        if m and current is not None and int(m.group(1)) == current:
            text = "".join(buf)
            # the end marker is printed after a newline of its own
            if text.endswith("\r\n"):
                text = text[:-2]
            elif text.endswith("\n"):
                text = text[:-1]
            found[current] = (text, int(m.group(2)))
            current = None
            buf = []
            continue
        if current is None:
            preamble.append(line)
        else:
            buf.append(line)
    if current is not None:
        found[current] = ("".join(buf), None)
    return "".join(preamble), found


class ScriptResult:
    """What a script printed, split per step."""

    def __init__(self, rc, stdout, stderr):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        pre_out, out = _split(stdout or "")
        pre_err, err = _split(stderr or "")
        self.preamble_stdout = pre_out
        self.preamble_stderr = pre_err
        self.missing = any(line.strip() == MARK + "missing" for line in pre_out.splitlines())
        self.stopped_marker = any(line.strip() == MARK + "stopped-marker" for line in pre_out.splitlines())
        self.no_stdin = any(line.strip() == MARK + "nostdin" for line in pre_out.splitlines())
        self.no_awk = any(line.strip() == MARK + "noawk" for line in pre_out.splitlines())
        self.executable = None
        for line in pre_out.splitlines():
            if line.startswith(MARK + "exe "):
                self.executable = line[len(MARK + "exe "):].rstrip("\r")
        self.steps = []
        for number in sorted(set(out) | set(err)):
            text_out, rc_out = out.get(number, ("", None))
            text_err, rc_err = err.get(number, ("", None))
            rc = rc_out if rc_out is not None else rc_err
            self.steps.append(StepResult(number, rc, text_out, text_err))

    def step(self, number):
        for s in self.steps:
            if s.number == number:
                return s
        return None
