# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The remote layer's vocabulary: the steps a remote script runs, their argv, and the shells' quoting.

Internal to arcguard.azcmagent: not a public API, may change without notice.

A step is an azcmagent call (a list of arguments, some of them ``Secret`` values that travel on standard
input), or one of the step objects below: ``Listing`` (the extension folders), ``Service`` (stop or start a
service), ``WhileStopped`` (an azcmagent call that runs only while the last service stop held). ``argv_of``
turns a planned change (``_planner.Step``) into its call and marks what travels on standard input.
``Marker`` is where a run that stops the extension service leaves its trace. The scripts that run the steps
are built by ``_scripts``; what they print is read by ``_script_transcript``.
"""

from __future__ import annotations

import re
import shlex

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._catalog import POSIX_EXTENSIONS, WINDOWS_EXTENSIONS
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._planner import Step as PlannedStep
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._secrets import Secret, SecretFile, carried

MARK = "##arcguard:"
MISSING_RC = 127
TIMEOUT_RCS = (124, 137)
NOSTDIN_RC = 125
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SERVICE_NAME = re.compile(r"^[A-Za-z0-9_.@-]+$")


def posix_quote(arg: str) -> str:
    return shlex.quote(arg)


def ps_quote(arg: str) -> str:
    """A PowerShell single-quoted string literal (only the quote is special inside)."""
    # PowerShell treats the typographic single quotes as quotes too: double every one.
    out = []
    for ch in arg:
        out.append(ch)
        if ch in "'\u2018\u2019\u201a\u201b":
            out.append(ch)
    return "'" + "".join(out) + "'"


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


def valid_env_name(name) -> bool:
    """Can ``name`` be exported by a POSIX shell?"""
    return bool(_ENV_NAME.match(str(name)))


def display_argv(argv):
    """The argv (or planned step) as it may be shown to users: secrets replaced by their redacted form."""
    return [a.shown if isinstance(a, Secret) else a for a in argv_of(argv)]


def secret_args(steps):
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
    return [arg for arg in secret_args(steps) if not getattr(arg, "placed", None)]


def placed_files(steps):
    """The secret files of ``steps`` copied to the target beforehand (connections without standard input)."""
    return [arg for arg in secret_args(steps) if isinstance(arg, SecretFile) and arg.placed]
