# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Never weaker than asked: refuse a plan that would leave the agent less locked down than the task meant.

Internal to arcguard.azcmagent: not a public API, may change without notice. Pure.

An empty allowlist allows every extension, so a list edit that empties it does the opposite of what it says.
``problems(desired, current, after)`` returns, for a plan taking the agent from ``current`` to ``after`` (both
``{property: value}``), what would leave it weaker than the task evidently meant:

- the allowlist in force (non-empty, ``Allow/None``, or Microsoft's managed list in monitor mode) ends up empty
  without the task asking for an empty allowlist (``extensions_allowlist: []`` or ``settings`` with
  ``extensions.allowlist: null``), for instance through ``list_action: remove``;
- monitor mode is left without a list to replace Microsoft's managed allowlist: the task gives no allowlist to
  set or add to, no blocklist, and does not turn the extension manager off;
- nothing restricts extensions any more (full mode, both lists empty) where something did, through
  ``list_action: remove``;
- a blocklist given as aliases that none exist on the host's OS would clear the blocklist in force.

The option ``allow_empty_allowlist`` (``desired.allow_empty``) accepts all of them. The engine calls this before
every write, in check mode too, for each planning round.
"""

from __future__ import annotations

ALLOW = "extensions.allowlist"
BLOCK = "extensions.blocklist"
HOW = ("Nothing was changed. Give the list you want (list_action: replace), set extensions_allowlist: [] to allow "
       "every extension on purpose, or set allow_empty_allowlist: true.")


def _mode(state):
    return str(state.get("config.mode", "full")).lower()


def _items(state, prop):
    return [x for x in (state.get(prop) or []) if str(x).strip()]


def restriction(state):
    """What limits the extensions Azure may install: monitor, allowlist, blocklist or none."""
    if _mode(state) == "monitor":
        return "monitor"
    if _items(state, ALLOW):
        return "allowlist"
    if _items(state, BLOCK):
        return "blocklist"
    return "none"


def asked_for_empty_allowlist(desired):
    """Did the task ask for an empty allowlist in so many words?"""
    if ALLOW in desired.clear:
        return True
    return desired.list_action == "replace" and ALLOW in desired.values and not desired.values[ALLOW] \
        and ALLOW not in desired.emptied_by_aliases


def gives_a_list(desired):
    """Does the task give a list that replaces Microsoft's managed allowlist when leaving monitor mode?"""
    allow = desired.values.get(ALLOW)
    if allow and desired.list_action in ("replace", "add"):
        return True
    if desired.values.get(BLOCK) and desired.list_action in ("replace", "add"):
        return True
    return desired.values.get("extensions.enabled") is False or asked_for_empty_allowlist(desired)


def problems(desired, current, after):
    """Why the plan from ``current`` to ``after`` would be weaker than asked: [message], empty if it is not."""
    if getattr(desired, "allow_empty", False):
        return []
    found = []
    before, then = restriction(current), restriction(after)
    full_after = _mode(after) != "monitor"
    emptied = full_after and before in ("monitor", "allowlist") and not _items(after, ALLOW) \
        and not asked_for_empty_allowlist(desired)
    if emptied and ALLOW in desired.values and (desired.list_action == "remove" or ALLOW in desired.emptied_by_aliases):
        why = ("none of the allowlist's extensions exist on this OS" if ALLOW in desired.emptied_by_aliases
               else "list_action: remove takes every remaining entry out of the allowlist")
        found.append("%s, and an empty allowlist allows every extension. %s" % (why, HOW))
    elif before == "monitor" and full_after and not gives_a_list(desired):
        found.append("leaving monitor mode without a list to replace Microsoft's managed allowlist would apply the "
                     "agent's own lists, which may be empty (an empty allowlist allows every extension). Give "
                     "extensions_allowlist (or a blocklist) with mode: full, or set allow_empty_allowlist: true. "
                     "Nothing was changed.")
    elif emptied and before == "allowlist":
        found.append("the allowlist would end up empty, and an empty allowlist allows every extension. %s" % HOW)
    elif then == "none" and desired.list_action == "remove" and (ALLOW in desired.values or BLOCK in desired.values) \
            and (_items(current, ALLOW) or _items(current, BLOCK)) and not asked_for_empty_allowlist(desired):
        found.append("list_action: remove would leave both lists empty in full mode, where every extension is "
                     "allowed. %s" % HOW)
    if BLOCK in desired.emptied_by_aliases and _items(current, BLOCK) and not _items(after, BLOCK):
        found.append("extensions_blocklist: none of the given extensions exist on this OS, and replacing the "
                     "blocklist with nothing would unblock %s. Leave the option out for this host, give "
                     "extensions_blocklist: [] to clear it on purpose, or set allow_empty_allowlist: true. "
                     "Nothing was changed." % ", ".join(str(x) for x in _items(current, BLOCK)))
    return found
