# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What we know of azcmagent: its local properties and the extension catalog.

Internal to arcguard.azcmagent: not a public API, may change without notice.
"""

from __future__ import annotations

# Property types
BOOL = "bool"
INT = "int"
STR = "str"
ENUM = "enum"
PORTS = "ports"          # list of TCP ports
NAMES = "extensions"     # list of Publisher/Type names
BYPASS = "bypass"        # list of proxy bypass service names

LIST_TYPES = (PORTS, NAMES, BYPASS)

ALLOW_NONE = "Allow/None"

# The local properties, in the order `azcmagent config list` prints them.
PROPERTIES = {
    "incomingconnections.enabled": {"type": BOOL, "default": True, "since": (1, 35), "preview": True},
    "incomingconnections.ports": {"type": PORTS, "default": [], "since": (1, 16), "preview": True},
    "connection.type": {"type": ENUM, "default": "default", "values": ("default", "direct", "gateway"),
                        "since": (1, 40), "preview": True},
    "proxy.url": {"type": STR, "default": "", "since": (1, 13)},
    "proxy.bypass": {"type": BYPASS, "default": [], "since": (1, 15)},
    "extensions.allowlist": {"type": NAMES, "default": [], "since": (1, 16)},
    "extensions.blocklist": {"type": NAMES, "default": [], "since": (1, 16)},
    "guestconfiguration.enabled": {"type": BOOL, "default": True, "since": (1, 16)},
    "extensions.enabled": {"type": BOOL, "default": True, "since": (1, 17)},
    "config.mode": {"type": ENUM, "default": "full", "values": ("full", "monitor"), "since": (1, 18)},
    "guestconfiguration.agent.cpulimit": {"type": INT, "default": 5, "since": (1, 39), "min": 1, "max": 100},
    "extensions.agent.cpulimit": {"type": INT, "default": 5, "since": (1, 39), "min": 1, "max": 100},
}

# Proxy bypass values and the agent version that added each.
BYPASS_VALUES = {"AAD": (1, 15), "ARM": (1, 15), "Arc": (1, 15), "ArcData": (1, 36), "AMA": (1, 45)}

# Settings that monitor mode decides for itself: the lists cannot change while the agent is in
# monitor mode, and what `config list` shows for them then may be the effective values instead
# of the stored ones.
MONITOR_SHADOWED = ("extensions.allowlist", "extensions.blocklist",
                    "guestconfiguration.enabled", "incomingconnections.enabled")

# Module option -> azcmagent property
OPTION_PROPERTIES = {
    "mode": "config.mode",
    "extensions_allowlist": "extensions.allowlist",
    "extensions_blocklist": "extensions.blocklist",
    "guestconfiguration_enabled": "guestconfiguration.enabled",
    "extensions_enabled": "extensions.enabled",
    "incomingconnections_enabled": "incomingconnections.enabled",
    "incomingconnections_ports": "incomingconnections.ports",
    "proxy_url": "proxy.url",
    "proxy_bypass": "proxy.bypass",
}


def version_text(version) -> str:
    return ".".join(str(p) for p in version)


# The extension catalog. Each alias names one extension; `windows` and `linux` give its
# Publisher/Type per OS (None: not available there). `scripts`: it runs arbitrary scripts.
EXTENSIONS = {
    "azure_monitor_agent": {
        "title": "Azure Monitor Agent",
        "windows": "Microsoft.Azure.Monitor/AzureMonitorWindowsAgent",
        "linux": "Microsoft.Azure.Monitor/AzureMonitorLinuxAgent",
    },
    "defender_endpoint": {
        "title": "Microsoft Defender for Endpoint",
        "windows": "Microsoft.Azure.AzureDefenderForServers/MDE.Windows",
        "linux": "Microsoft.Azure.AzureDefenderForServers/MDE.Linux",
    },
    "qualys": {
        "title": "Qualys vulnerability assessment",
        "windows": "Qualys/WindowsAgent.AzureSecurityCenter",
        "linux": "Qualys/LinuxAgent.AzureSecurityCenter",
    },
    "defender_sql": {
        "title": "Microsoft Defender for SQL",
        "windows": "Microsoft.Azure.AzureDefenderForSQL/AdvancedThreatProtection.Windows",
        "linux": None,
    },
    "log_analytics": {
        "title": "Log Analytics agent",
        "windows": "Microsoft.EnterpriseCloud.Monitoring/MicrosoftMonitoringAgent",
        "linux": "Microsoft.EnterpriseCloud.Monitoring/OMSAgentForLinux",
    },
    "dependency_agent": {
        "title": "Dependency agent",
        "windows": "Microsoft.Azure.Monitoring.DependencyAgent/DependencyAgentWindows",
        "linux": "Microsoft.Azure.Monitoring.DependencyAgent/DependencyAgentLinux",
    },
    "custom_script": {
        "title": "Custom Script",
        "windows": "Microsoft.Compute/CustomScriptExtension",
        "linux": "Microsoft.Azure.Extensions/CustomScript",
        "scripts": True,
    },
    "run_command": {
        "title": "Run Command",
        "windows": "Microsoft.CPlat.Core/RunCommandHandlerWindows",
        "linux": "Microsoft.CPlat.Core/RunCommandHandlerLinux",
        "scripts": True,
    },
    "hybrid_worker": {
        "title": "Hybrid Runbook Worker",
        "windows": "Microsoft.Azure.Automation.HybridWorker/HybridWorkerForWindows",
        "linux": "Microsoft.Azure.Automation.HybridWorker/HybridWorkerForLinux",
        "scripts": True,
    },
    "key_vault": {
        "title": "Key Vault",
        "windows": "Microsoft.Azure.Key.Vault/KeyVaultForWindows",
        "linux": "Microsoft.Azure.Key.Vault/KeyVaultForLinux",
    },
    "change_tracking": {
        "title": "Change Tracking",
        "windows": "Microsoft.Azure.ChangeTrackingAndInventory/ChangeTracking-Windows",
        "linux": "Microsoft.Azure.ChangeTrackingAndInventory/ChangeTracking-Linux",
    },
    "update_assessment": {
        "title": "Update Manager assessment",
        "windows": "Microsoft.SoftwareUpdateManagement/WindowsOsUpdateExtension",
        "linux": "Microsoft.SoftwareUpdateManagement/LinuxOsUpdateExtension",
    },
    "update_patching": {
        "title": "Update Manager patching",
        "windows": "Microsoft.CPlat.Core/WindowsPatchExtension",
        "linux": "Microsoft.CPlat.Core/LinuxPatchExtension",
    },
    "admin_center": {
        "title": "Windows Admin Center",
        "windows": "Microsoft.AdminCenter/AdminCenter",
        "linux": None,
    },
    "entra_login": {
        "title": "Microsoft Entra ID login",
        "windows": "Microsoft.Azure.ActiveDirectory/AADLoginForWindows",
        "linux": "Microsoft.Azure.ActiveDirectory/AADSSHLoginForLinux",
    },
    "sql_server": {
        "title": "SQL Server enabled by Azure Arc",
        "windows": "Microsoft.AzureData/WindowsAgent.SqlServer",
        "linux": "Microsoft.AzureData/LinuxAgent.SqlServer",
    },
}

# Names that appear in Microsoft's documentation but are not the real Publisher/Type:
# name (lower case) -> (alias, os, what to say)
DOCUMENTED_MISTAKES = {
    "microsoft.azure.automation/hybridworkerforlinux": (
        "hybrid_worker", "linux",
        "the documentation's blocklist example writes the Hybrid Worker for Linux as "
        "Microsoft.Azure.Automation/HybridWorkerForLinux; the extension's real name is "
        "Microsoft.Azure.Automation.HybridWorker/HybridWorkerForLinux"),
}


def _build_index():
    index = {}
    for alias, entry in EXTENSIONS.items():
        for os_name in ("windows", "linux"):
            name = entry.get(os_name)
            if name:
                index[name.lower()] = (alias, os_name)
    return index


NAME_INDEX = _build_index()


def lookup_name(name: str):
    """(alias, os) for a known Publisher/Type name (case-insensitive), or None."""
    return NAME_INDEX.get(name.lower())


def resolve_alias(alias: str, os_name: str):
    """The Publisher/Type of an alias on an OS; None where the extension does not exist there."""
    return EXTENSIONS[alias].get(os_name)


def runs_scripts(name: str) -> bool:
    found = lookup_name(name)
    if found:
        return bool(EXTENSIONS[found[0]].get("scripts"))
    mistake = DOCUMENTED_MISTAKES.get(name.lower())
    return bool(mistake and EXTENSIONS[mistake[0]].get("scripts"))


# ------------------------------------------------------------------ extension lifecycle

# What Microsoft has said about each extension's future, with where it says so. ``status``:
#   current     no deprecation or retirement notice in Microsoft's documentation that we know of
#   deprecated  Microsoft has deprecated it: it may still install and run, but is on its way out
#   retired     past the date after which Microsoft no longer supports it
# ``date`` (ISO 8601) is the date of the notice's event (deprecated as of, unsupported after),
# ``notice`` Microsoft's own words, ``replacement`` the alias of the extension Microsoft names
# instead (None where it names none), ``advice`` anything else the notice recommends, and
# ``sources`` the documents that say so (``url`` None where there is no single page).
STATUSES = ("current", "deprecated", "retired")

_LEARN = "https://learn.microsoft.com/azure/"


def _source(article):
    """A Microsoft Learn article of the Azure documentation, by its path in the documentation tree."""
    return {"document": "Microsoft Learn: %s" % article, "url": _LEARN + article[:-len(".md")]}


_CURRENT = {"status": "current", "date": None, "event": None, "notice": None, "replacement": None, "advice": None,
            "sources": []}

LIFECYCLE = dict(
    {alias: dict(_CURRENT, sources=[]) for alias in EXTENSIONS},
    log_analytics={
        "status": "retired",
        "date": "2024-08-31",
        "event": "not supported after",
        "notice": "on a deprecation path and won't be supported after August 31, 2024",
        "replacement": "azure_monitor_agent",
        "advice": ("Defender for Servers no longer needs it: it moved to Defender for Endpoint (defender_endpoint) "
                   "plus agentless scanning, without the Log Analytics agent or the Azure Monitor Agent"),
        "sources": [
            _source("virtual-machines/extensions/oms-windows.md"),
            _source("defender-for-cloud/prepare-deprecation-log-analytics-mma-agent.md"),
            {"document": "Azure Policy: the Log Analytics definitions for Azure Arc-enabled servers carry the same "
                         "notice", "url": None},
        ],
    },
    qualys={
        "status": "deprecated",
        "date": "2024-05-01",
        "event": "deprecated as of",
        "notice": "deprecated as of May 1, 2024",
        "replacement": None,
        "advice": None,
        "sources": [_source("defender-for-cloud/deploy-vulnerability-assessment-vm.md")],
    },
)


def lifecycle_of(name: str):
    """The lifecycle entry (with ``alias`` and ``title``) of a Publisher/Type name or an alias, or None
    for a name the catalog does not know. A name that the documentation misspells counts as the
    extension it means."""
    key = str(name).lower()
    if key in EXTENSIONS:
        alias = key
    else:
        found = NAME_INDEX.get(key) or DOCUMENTED_MISTAKES.get(key)
        if not found:
            return None
        alias = found[0]
    return dict(LIFECYCLE[alias], alias=alias, title=EXTENSIONS[alias]["title"])


def lifecycle_warning(option: str, name: str, os_name: str):
    """The warning for allowlisting ``name`` on ``os_name``, or None if it is current or unknown."""
    text = lifecycle_text(name, os_name)
    return "%s: %s" % (option, text) if text else None


def lifecycle_text(name: str, os_name: str, subject=None):
    """``name`` (or ``subject``) is deprecated or retired: when, Microsoft's words, the replacement, the
    sources. None if it is current or unknown."""
    entry = lifecycle_of(name)
    if entry is None or entry["status"] == "current":
        return None
    text = "%s (%s) is %s: %s %s (Microsoft: \"%s\")" % (
        subject or name, entry["title"], entry["status"], entry["event"], entry["date"], entry["notice"])
    replacement = entry["replacement"]
    if replacement:
        instead = resolve_alias(replacement, os_name)
        text += "; Microsoft's replacement is the %s (alias %s%s)" % (
            EXTENSIONS[replacement]["title"], replacement, ", " + instead if instead else "")
    else:
        text += "; Microsoft names no replacement extension"
    if entry["advice"]:
        text += "; %s" % entry["advice"]
    urls = [s["url"] for s in entry["sources"] if s["url"]]
    if urls:
        text += ". Source: %s" % ", ".join(urls)
    return text


def lifecycle_facts(name: str, os_name=None) -> dict:
    """What the collection returns about a name's lifecycle (azcmagent_info, the audit report): the
    catalog's entry with ``replacement_name``, the replacement's Publisher/Type on ``os_name``. A name
    the catalog does not know has ``status`` unknown."""
    entry = lifecycle_of(name)
    if entry is None:
        return {"status": "unknown", "alias": None, "date": None, "event": None, "notice": None,
                "replacement": None, "replacement_name": None, "advice": None, "sources": []}
    replacement = entry["replacement"]
    return {"status": entry["status"], "alias": entry["alias"], "date": entry["date"], "event": entry["event"],
            "notice": entry["notice"], "replacement": replacement,
            "replacement_name": resolve_alias(replacement, os_name) if replacement and os_name else None,
            "advice": entry["advice"], "sources": [dict(s) for s in entry["sources"]]}


# ------------------------------------------------------------------ where the agent lives (the reference)

# where the agent's executable is looked for on Linux (then PATH), and below Program Files on Windows
POSIX_LOCATIONS = ("/opt/azcmagent/bin/azcmagent", "/usr/bin/azcmagent", "/usr/local/bin/azcmagent")
WINDOWS_SUFFIX = "\\AzureConnectedMachineAgent\\azcmagent.exe"
# the extension folders (Windows: below %SystemDrive%)
POSIX_EXTENSIONS = "/var/lib/waagent"
WINDOWS_EXTENSIONS = "\\Packages\\Plugins"
# The extension service, as the reference names it per OS.
EXTENSION_SERVICE = {"linux": "extd", "windows": "ExtensionService"}
