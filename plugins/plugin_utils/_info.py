# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What azcmagent_info reads, and what it concludes: pure functions over the agent's outputs.

Internal to arcguard.azcmagent: not a public API, may change without notice.
"""

from __future__ import annotations

import re

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _catalog as catalog
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _parsers as parsers

MANAGED = "managed by Microsoft (monitor mode)"


def _known_names(extra=()):
    names = {}
    for alias in catalog.EXTENSIONS.values():
        for os_name in ("windows", "linux"):
            if alias.get(os_name):
                names[alias[os_name].replace("/", ".").lower()] = alias[os_name]
    for name in extra:
        if name and "/" in name:
            names[name.replace("/", ".").lower()] = name
    return names


def split_folder(stem, known):
    """Publisher and type from a `Publisher.Type` folder name. Both may contain dots, so known names
    (the catalog, the lists) decide; otherwise the last dot separates them."""
    hit = known.get(stem.lower())
    if hit:
        publisher, _slash, ext_type = hit.partition("/")
        # keep the folder's own spelling
        return stem[:len(publisher)], stem[len(publisher) + 1:]
    publisher, _dot, ext_type = stem.rpartition(".")
    return publisher, ext_type


def parse_extension_folders(text, os_name, known_names=()):
    """Installed extensions from the folder listing: [{publisher, type, version, name}]."""
    known = _known_names(known_names)
    found = []
    seen = set()
    for line in (text or "").splitlines():
        entry = line.strip().rstrip("/\\")
        if not entry:
            continue
        if os_name == "windows":
            if "\\" not in entry:
                continue  # a Publisher.Type folder; its version folders follow
            folder, _sep, version = entry.partition("\\")
            publisher, ext_type = split_folder(folder, known)
        else:
            match = re.match(r"^(.+\.[^.]+)-(\d[\w.]*)$", entry)
            if not match:
                continue
            publisher, ext_type = split_folder(match.group(1), known)
            version = match.group(2)
        if not publisher or not ext_type:
            continue
        key = (publisher.lower(), ext_type.lower(), version)
        if key in seen:
            continue
        seen.add(key)
        found.append({"publisher": publisher, "type": ext_type, "version": version,
                      "name": "%s/%s" % (publisher, ext_type)})
    return found


def with_lifecycle(installed, os_name):
    """The installed extensions, each with its catalog ``lifecycle`` (status current, deprecated, retired or
    unknown; date, replacement, sources)."""
    return [dict(ext, lifecycle=catalog.lifecycle_facts(ext["name"], os_name)) for ext in installed]


def allowed(name, allowlist, blocklist):
    """Would the agent allow installing (or updating) this extension under these lists?"""
    key = name.lower()
    if any(b.lower() == key for b in blocklist or []):
        return False
    if not allowlist:
        return True
    if any(a == catalog.ALLOW_NONE for a in allowlist):
        return False
    return any(a.lower() == key for a in allowlist)


def _reason(name, allowlist, blocklist):
    if any(b.lower() == name.lower() for b in blocklist):
        return "in the blocklist"
    if any(a == catalog.ALLOW_NONE for a in allowlist):
        return "the allowlist is Allow/None"
    return "not in the allowlist"


def blocked_installed(installed, config):
    """Installed extensions that the current lists would no longer allow (lists never remove them)."""
    allow = config.get("extensions.allowlist") or []
    block = config.get("extensions.blocklist") or []
    return [dict(ext, reason=_reason(ext["name"], allow, block))
            for ext in installed if not allowed(ext["name"], allow, block)]


def effective(config):
    """What the agent enforces: in monitor mode Microsoft's allowlist applies and guest configuration and
    incoming connections are off, whatever is stored."""
    if str(config.get("config.mode", "full")).lower() != "monitor":
        return {"mode": "full",
                "extensions_allowlist": config.get("extensions.allowlist", []),
                "extensions_blocklist": config.get("extensions.blocklist", []),
                "guestconfiguration_enabled": config.get("guestconfiguration.enabled", True),
                "extensions_enabled": config.get("extensions.enabled", True),
                "incomingconnections_enabled": config.get("incomingconnections.enabled", True)}
    return {"mode": "monitor", "extensions_allowlist": MANAGED, "extensions_blocklist": [],
            "guestconfiguration_enabled": False,
            "extensions_enabled": config.get("extensions.enabled", True),
            "incomingconnections_enabled": False}


def enforced_lists(config):
    """(allowlist, blocklist) that the agent enforces with these settings, as ``effective`` sees them.

    In monitor mode the stored lists do not apply and the allowlist is Microsoft's, whose contents are
    not published: the allowlist is then None (unknown) and the blocklist empty.
    """
    view = effective(config)
    allow = view["extensions_allowlist"]
    if allow == MANAGED:
        return None, []
    return list(allow or []), list(view["extensions_blocklist"] or [])


def blocked_under(installed, config):
    """Installed extensions that the lists in force with ``config`` block (each with a ``reason``), or
    None when that cannot be known (monitor mode)."""
    allow, block = enforced_lists(config)
    if allow is None:
        return None
    return blocked_installed(installed, {"extensions.allowlist": allow, "extensions.blocklist": block})


def agent_facts(version_out, show_out):
    """{installed, version, status, show} from `azcmagent version` and `azcmagent show --json` outputs."""
    agent = {"installed": True, "version": None, "status": None}
    match = re.search(r"\d+\.\d+\.\d+(?:\.\d+)?", version_out or "")
    if match:
        agent["version"] = match.group(0)  # as the agent prints it (1.64.03414.2961)
    try:
        show = parsers.parse_show(show_out or "")
    except parsers.ParseError:
        show = {}
    fields = parsers.show_fields(show)
    agent["status"] = fields.get("status") or None
    if not agent["version"] and fields.get("agent_version"):
        agent["version"] = fields["agent_version"]
    for key, field in (("resourceName", "resource_name"), ("resourceGroup", "resource_group"),
                       ("subscriptionId", "subscription_id"), ("location", "location"),
                       ("lastHeartbeat", "last_heartbeat")):
        if fields.get(field):
            agent[key] = fields[field]
    return agent
