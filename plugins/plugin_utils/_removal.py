# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Removing the installed extensions that the lists block (azcmagent_config's remove_blocked).

Internal to arcguard.azcmagent: not a public API, may change without notice.

- ``installed(runner, read, current, desired)``: the installed extensions, from the folder listing
  that ran as step 2 of the first read.
- ``plan(installed, after, current, os_name, environment, path, result, applied=None)``: a ``Removal``
  (the steps that stop the extension service, remove each blocked extension, start the service
  again) for the extensions the settings ``after`` block; ``None`` where nothing can be judged.
  Fails before anything is removed where the agent lacks the extension command.
- ``check(runner, out, first, removal, listing, result, outcome)``: how the removals went, checked
  against the folders listed after them; returns a problem text or None.
- ``details(outcome, lists_only=False)``: the removal keys of a failed result.
"""

from __future__ import annotations

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _catalog as catalog
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _info as info
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _parsers as parsers
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _scripts as scripts
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._planner import PlanError
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._runner import EXIT_CODES, AgentError
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._secrets import shown_changes

# `azcmagent extension` came with agent 1.39, as did this property: an agent that lists it has the command.
EXTENSION_COMMAND_SINCE = (1, 39)
EXTENSION_COMMAND_PROBE = "extensions.agent.cpulimit"


def folder(ext):
    """An installed extension's identity: its folder's Publisher.Type (any casing) and version."""
    return ("%s.%s" % (ext["publisher"], ext["type"])).lower(), ext["version"]


class Removal:
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


def shown_extensions(extensions):
    return [{"publisher": e["publisher"], "type": e["type"], "version": e["version"]} for e in extensions]


def details(outcome, lists_only=False):
    """The removal keys of a failed result (with ``lists_only``, not those of a failed command)."""
    keys = ("removed_extensions", "not_removed")
    if not lists_only:
        keys += ("failed_command", "cmd", "rc", "stdout", "stderr")
    return {k: outcome[k] for k in keys if k in outcome}


def installed(runner, read, current, desired):
    """The installed extensions from the folder listing that ran with the first read (its step 2)."""
    listing = read.step(2)
    if listing is None or listing.rc != 0:
        raise AgentError("could not list the installed extensions (remove_blocked)", rc=read.rc,
                         stdout=read.stdout, stderr=read.stderr)
    names = [n for prop in ("extensions.allowlist", "extensions.blocklist")
             for n in list(current.get(prop) or []) + list(desired.values.get(prop) or [])]
    return info.parse_extension_folders(listing.stdout, runner.os, names)


MONITOR_NOTE = ("remove_blocked: in monitor mode Microsoft's managed allowlist applies, whose contents are "
                "not published, so no installed extension is judged blocked or removed")


def plan(extensions, after, current, os_name, environment, path, applied=None):
    """What to remove under the lists in force ``after`` the writes: (Removal or None, notes for the result);
    fails before any removal where it cannot."""
    blocked = info.blocked_under(extensions, after)
    if blocked is None:
        return None, [MONITOR_NOTE] if extensions else []
    removal = Removal(blocked, os_name, environment, path)
    if removal and EXTENSION_COMMAND_PROBE not in current:
        since = catalog.version_text(EXTENSION_COMMAND_SINCE)
        msg = ("remove_blocked: removing %s needs the azcmagent extension command, which came with agent %s; "
               "this agent is older (its settings lack %s, also added in %s). Upgrade the agent, or remove "
               "them from Azure." % (", ".join(e["name"] for e in blocked), since, EXTENSION_COMMAND_PROBE, since))
        if not applied:
            raise PlanError(msg + " Nothing was changed.")
        raise AgentError(msg, changed=True, changes=shown_changes(applied))
    return removal, []


def step_says(res):
    """What a step's result says, in a few words."""
    if res is None:
        return "it did not run or did not finish"
    if res.rc is None:
        return "it did not finish"
    said = parsers.error_message(res.stdout, res.stderr) or (res.stderr or res.stdout or "").strip()
    text = "exit code %s%s" % (res.rc, " (%s)" % EXIT_CODES[res.rc] if res.rc in EXIT_CODES else "")
    return text + (": " + said.splitlines()[-1] if said else "")


class Checked:
    """How the removals went: ``commands`` (the removals that ran, as shown), ``outcome`` (removed,
    removed_extensions; on a problem also not_removed and the failed command's details), ``problem`` (None, or
    what went wrong)."""

    def __init__(self):
        self.commands = []
        self.outcome = {}
        self.problem = None


def check(runner, out, first, removal, listing):
    """How the removals went (steps numbered from ``first``), checked against the folders listed after them:
    a ``Checked`` record."""
    checked = Checked()
    outcome = checked.outcome
    stop = out.step(first)
    removes = [out.step(first + 1 + i) for i in range(len(removal.removes))]
    start = out.step(first + 1 + len(removal.removes))
    present = None
    if listing is not None and listing.rc == 0:
        present = {folder(e) for e in info.parse_extension_folders(
            listing.stdout, runner.os, [e["name"] for e in removal.extensions])}
    problems = []
    failed = None
    by_name = {}
    for name, step, res in zip(removal.names, removal.removes, removes):
        by_name[name.lower()] = res
        if res is not None and res.rc == 0:
            checked.commands.append(runner.describe(step))
    removed, not_removed = [], []
    for ext in removal.extensions:
        res = by_name[("%s.%s" % (ext["publisher"], ext["type"])).lower()]
        gone = present is not None and folder(ext) not in present
        if present is None:
            gone = res is not None and res.rc == 0
        (removed if gone else not_removed).append(ext)
    stopped = stop is not None and stop.rc == 0
    if start is None or start.rc != 0:
        problems.append("the extension service was not started again (%s): start it by hand with %s"
                        % (step_says(start), removal.start.describe(runner.os)))
        failed = failed or (removal.start.describe(runner.os), start)
    if not stopped:
        problems.append("stopping the extension service failed (%s), so nothing was removed" % step_says(stop))
        failed = failed or (removal.stop.describe(runner.os), stop)
    for step, res in zip(removal.removes, removes):
        if stopped and (res is None or res.rc != 0):
            problems.append("%s failed (%s)" % (runner.describe(step), step_says(res)))
            failed = failed or (runner.describe(step), res)
    if not problems and not_removed:
        problems.append("the agent reported the removals done, but their folders are still there")
    if present is None and not problems:
        problems.append("the extension folders could not be listed afterwards")
    if problems and start is not None and start.rc == 0:
        problems.append("the extension service was started again")
    outcome["removed"] = bool(removed)
    outcome["removed_extensions"] = shown_extensions(removed)
    if not problems:
        return checked
    outcome["not_removed"] = shown_extensions(not_removed)
    if failed is not None:
        command, res = failed
        outcome["failed_command"] = command
        if res is not None:
            outcome.update(cmd=command, rc=res.rc, stdout=res.stdout, stderr=res.stderr)
    checked.problem = "; ".join(problems) + ". Removed: %s. Not removed: %s." % (
        ", ".join("%s %s" % (e["name"], e["version"]) for e in removed) or "nothing",
        ", ".join("%s %s" % (e["name"], e["version"]) for e in not_removed) or "nothing")
    return checked
