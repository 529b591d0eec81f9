# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The transcript of a remote script: what it printed, split per step by its markers.

Internal to arcguard.azcmagent: not a public API, may change without notice.

Each step of a script (``_scripts``) prints ``##arcguard:begin N`` before and ``##arcguard:end N RC`` after its
output, on standard output and on standard error. ``ScriptResult(rc, stdout, stderr)`` holds each step's
``StepResult`` (its rc is None when it started but never finished) and what the script said before its steps
(the agent missing, no standard input, no awk, the stop marker found, the executable it found).
"""

from __future__ import annotations

import re

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._script_steps import MARK


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
