# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check mode for an agent that leaves monitor mode: what can be known before it has left, and what cannot.

Internal to arcguard.azcmagent: not a public API, may change without notice.

In monitor mode ``config list`` may show Microsoft's managed lists (and guest configuration and incoming
connections off) instead of the stored values; which one an agent does is not documented. The run leaves monitor
mode first, reads the stored values, then plans the lists and the removals. Check mode cannot read them, so it
must not predict from what the agent shows: it reports what is certain and names what is not.

- ``leaving(plan, desired)``: the plan leaves monitor mode for full mode.
- ``unknowable(plan, desired, removing)``: the properties whose stored values check mode cannot know, in the
  catalog's order (empty where nothing depends on them).
- ``predict(desired, plan, installed)``: a ``Prediction``: the certain changes (the mode change, the other
  properties, and the shadowed ones whose end value the task alone decides), the projected settings with
  ``UNKNOWN`` where the end value depends on the stored one, and the installed extensions that are blocked
  whatever the stored lists hold (``certain``) or may be (``possible``).
"""

from __future__ import annotations

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _catalog as catalog
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _info as info

UNKNOWN = "(unknown until the agent has left monitor mode)"
LISTS = ("extensions.allowlist", "extensions.blocklist")


def leaving(plan, desired):
    return plan.mode_before == "monitor" and desired.values.get("config.mode") == "full"


def unknowable(plan, desired, removing):
    """The shadowed properties whose stored value matters to this task and cannot be read in monitor mode."""
    if not leaving(plan, desired):
        return []
    wanted = set(plan.pending)
    if removing:
        wanted.update(LISTS)  # the removals depend on both lists, whether the task sets them or not
    return [p for p in catalog.MONITOR_SHADOWED if p in wanted]


class Prediction:

    def __init__(self):
        self.changes = []     # change records whose ``after`` is certain
        self.after = {}       # projected settings, UNKNOWN where the stored value decides
        self.certain = []     # installed extensions blocked whatever the stored lists are
        self.possible = []    # installed extensions that may be blocked, depending on them


def _certain_target(desired, prop):
    """The end value of a shadowed property when the task alone decides it, else UNKNOWN."""
    if prop in desired.clear:
        return catalog.PROPERTIES[prop]["default"]
    if prop not in desired.values:
        return UNKNOWN
    kind = catalog.PROPERTIES[prop]["type"]
    if kind in catalog.LIST_TYPES and desired.list_action != "replace":
        return UNKNOWN
    return desired.values[prop]


def predict(desired, plan, unknown, installed=None):
    """What check mode can say for a plan that leaves monitor mode (``unknown``: from ``unknowable``)."""
    out = Prediction()
    out.changes = list(plan.changes)
    out.after = dict(plan.after)
    for prop in unknown:
        target = _certain_target(desired, prop)
        out.after[prop] = target
        if target != UNKNOWN and (prop in desired.values or prop in desired.clear):
            out.changes.append({"property": prop, "before": UNKNOWN, "after": target})
    if installed:
        # blocked for certain: by an allowlist the task sets whole, or by blocklist entries the task puts there
        allow = out.after.get("extensions.allowlist")
        block = out.after.get("extensions.blocklist")
        lower = {"config.mode": "full",
                 "extensions.allowlist": [] if allow == UNKNOWN else list(allow or []),
                 "extensions.blocklist": list(block or []) if block != UNKNOWN else (
                     list(desired.values.get("extensions.blocklist") or []) if desired.list_action == "add" else [])}
        out.certain = info.blocked_under(installed, lower) or []
        certain = {(e["name"].lower(), e["version"]) for e in out.certain}
        if UNKNOWN in (allow, block):
            out.possible = [e for e in installed if (e["name"].lower(), e["version"]) not in certain]
    return out


def note(unknown, possible):
    text = ("the agent is in monitor mode, where config list may show Microsoft's managed values instead of the "
            "stored ones, so check mode cannot know the stored %s before the run has left monitor mode: it predicts "
            "only what the task alone decides (%s marks the rest in the diff); the run reads them again once it has left "
            "monitor mode and plans from them" % (", ".join(unknown), UNKNOWN))
    if possible:
        text += ("; depending on the stored lists, the run may also remove %s"
                 % ", ".join("%s %s" % (e["name"], e["version"]) for e in possible))
    return text
