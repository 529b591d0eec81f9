# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What we know of azcmagent: its local properties and the extension catalog.

Internal to arcguard.azcmagent: not a public API, may change without notice.
"""

from __future__ import annotations

import datetime
import difflib
import functools
import re

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

# Settings that are decided in Azure now, not on the host (field reference, section 1): enforcing them locally fights
# Azure. Built-in profiles, the ``defaults`` reset and the drift watch never set or judge them; a task that sets one
# gets ``owner_warning()``; the audit shows a difference in one as "managed in Azure", not as drift. ``while``: the
# local condition under which Azure owns it (None: always). ``incomingconnections.enabled`` stays ours: it is the
# local kill switch.
AZURE_OWNED = {
    "connection.type": {
        "owner": "the Arc gateway association in Azure",
        "where": ("associate or remove an Arc gateway on the machine (resource Microsoft.HybridCompute/settings/default, "
                  "gatewayProperties.gatewayResourceId; az arcgateway settings update)"),
        "why": "since agent 1.51 the agent switches connection.type by itself when a gateway is associated, so a local "
               "value is switched back (a drift loop)",
        "while": None,
    },
    "proxy.bypass": {
        "owner": "the Arc gateway resource in Azure",
        "where": "the gateway's properties.gatewayBypass list (agent 1.64 or later)",
        "why": "the agent ignores the local proxy.bypass while a gateway is in use",
        "while": ("connection.type", "gateway"),
    },
    "incomingconnections.ports": {
        "owner": "Azure's Hybrid Connectivity service configurations",
        "where": ("Microsoft.HybridConnectivity/endpoints/default/serviceConfigurations/SSH or WAC (api 2023-03-15); "
                  "to turn remote access off on the host, use incomingconnections_enabled: false, which stays local"),
        "why": "SSH and Windows Admin Center ports are configured in Azure; resetting them locally can break access "
               "someone configured there",
        "while": None,
    },
}


def azure_owner(prop, settings=None):
    """Who in Azure decides ``prop`` (its ``AZURE_OWNED`` entry), or None where the host decides it.

    ``settings``: the agent's settings ({property: value}) for a conditional owner (``proxy.bypass`` is Azure's only
    while ``connection.type`` is ``gateway``); without them, a conditional owner counts as not owning it.
    """
    entry = AZURE_OWNED.get(str(prop).strip().lower())
    if entry is None:
        return None
    if entry["while"]:
        key, value = entry["while"]
        if str((settings or {}).get(key) or "").strip().lower() != value:
            return None
    return entry


def azure_owned(settings=None):
    """The properties Azure decides for an agent with ``settings`` (unconditional ones always)."""
    return tuple(p for p in AZURE_OWNED if azure_owner(p, settings))


def owner_warning(where, prop, settings=None):
    """The warning for a task that sets ``prop`` (named ``where``), or None if the host owns it."""
    entry = azure_owner(prop, settings)
    if entry is None:
        return None
    return ("%s sets %s, which is decided in Azure now (%s): %s. Set it there instead: %s. The collection sets it "
            "only because this task asks for it; built-in profiles, the defaults reset and the drift watch leave it "
            "alone" % (where, prop, entry["owner"], entry["why"], entry["where"]))


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
# Publisher/Type per OS (None: not available there). `scripts`: it runs arbitrary scripts; `owner`: the partner
# that publishes it (default Microsoft); `service`: not an extension but an Azure service that deploys others.
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
        "owner": "Qualys",
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
    # Microsoft's list of extensions for Arc-enabled servers (manage-vm-extensions.md), as of 2026
    "antimalware": {
        "title": "Microsoft Antimalware",
        "windows": "Microsoft.Azure.Security/IaaSAntimalware",
        "linux": None,
    },
    "network_watcher": {
        "title": "Network Watcher agent",
        "windows": "Microsoft.Azure.NetworkWatcher/NetworkWatcherAgentWindows",
        "linux": "Microsoft.Azure.NetworkWatcher/NetworkWatcherAgentLinux",
    },
    "guest_attestation": {
        "title": "Boot integrity monitoring (Guest Attestation)",
        "windows": "Microsoft.Azure.Security.WindowsAttestation/GuestAttestation",
        "linux": "Microsoft.Azure.Security.LinuxAttestation/GuestAttestation",
    },
    "openssh": {
        "title": "OpenSSH for Windows",
        "windows": "Microsoft.Azure.OpenSSH/WindowsOpenSSH",
        "linux": None,
    },
    "site_recovery": {
        "title": "Azure Site Recovery (data replication agent)",
        "windows": "Microsoft.SiteRecovery.Dra/Windows",
        "linux": None,
    },
    "backup_workload": {
        "title": "Azure Backup for SQL Server workloads",
        "windows": "Microsoft.Azure.RecoveryServices.WorkloadBackup/AzureBackupWindowsWorkload",
        "linux": None,
    },
    "datadog": {
        "owner": "Datadog",
        "title": "Datadog Agent (partner)",
        "windows": "Datadog.Agent/DatadogWindowsAgent",
        "linux": "Datadog.Agent/DatadogLinuxAgent",
    },
    "dynatrace": {
        "owner": "Dynatrace",
        "title": "Dynatrace OneAgent (partner)",
        "windows": "Dynatrace.Ruxit/OneAgentWindows",
        "linux": "Dynatrace.Ruxit/OneAgentLinux",
    },
    "new_relic": {
        "owner": "New Relic",
        "title": "New Relic infrastructure agent (partner)",
        "windows": "NewRelic.Infrastructure.Extensions/newrelic-infra-windows",
        "linux": "NewRelic.Infrastructure.Extensions/newrelic-infra",
    },
    # known for its lifecycle: no longer available on Arc
    "dsc": {
        "title": "Desired State Configuration (DSC)",
        "windows": "Microsoft.Powershell/DSC",
        "linux": "Microsoft.OSTCExtensions/DSCForLinux",
    },
    # a service, not an extension: it deploys other extensions (see its lifecycle); no name of its own
    "automanage": {
        "title": "Azure Automanage Best Practices (a service that deploys other extensions)",
        "windows": None,
        "linux": None,
        "service": True,
    },
}

# The operating systems an entry exists on, in the order the docs list them.
OSES = ("windows", "linux")


def owner_of(alias):
    """Who publishes and supports an extension: Microsoft unless the entry names a partner."""
    return EXTENSIONS[alias].get("owner", "Microsoft")


def oses_of(alias):
    """The OSes an alias has a Publisher/Type on (empty for a service such as automanage)."""
    return tuple(o for o in OSES if EXTENSIONS[alias].get(o))


# Names that appear in Microsoft's documentation but are not the real Publisher/Type:
# name (lower case) -> (alias, os, what to say). A list entry with one of them is resolved to the real name, with
# a warning; it is never written as given.
_HW_REAL = "Microsoft.Azure.Automation.HybridWorker/HybridWorker%s"
DOCUMENTED_MISTAKES = {
    "microsoft.azure.automation/hybridworkerforlinux": (
        "hybrid_worker", "linux",
        "the documentation's blocklist example writes the Hybrid Worker for Linux as "
        "Microsoft.Azure.Automation/HybridWorkerForLinux; the extension's real name is " + _HW_REAL % "ForLinux"),
    "microsoft.azure.automation/hybridworkerforwindows": (
        "hybrid_worker", "windows",
        "Microsoft.Azure.Automation/HybridWorkerForWindows follows the documentation's misspelt blocklist example; "
        "the extension's real name is " + _HW_REAL % "ForWindows"),
    "microsoft.compute/hybridworkerforwindows": (
        "hybrid_worker", "windows",
        "the documentation's extension table gives the Hybrid Worker for Windows the publisher Microsoft.Compute "
        "(Microsoft.Compute/HybridWorkerForWindows); the extension's real name is " + _HW_REAL % "ForWindows"),
    "microsoft.compute/hybridworkerforlinux": (
        "hybrid_worker", "linux",
        "the documentation's extension table gives the Hybrid Worker for Linux the publisher Microsoft.Compute "
        "(Microsoft.Compute/HybridWorkerForLinux); the extension's real name is " + _HW_REAL % "ForLinux"),
}


def real_name(name):
    """(real Publisher/Type, warning text) for a name Microsoft's documentation misspells, else None."""
    mistake = DOCUMENTED_MISTAKES.get(str(name).strip().lower())
    if mistake is None:
        return None
    alias, os_name, text = mistake
    return EXTENSIONS[alias][os_name], text


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


def _separators(text):
    return re.sub(r"[^a-z0-9]", "", text.lower())


def slash_form(name: str):
    """For a name written without the slash (a dot or a backslash in its place, as real configurations do): the
    ``Publisher/Type`` it means, or None when it is not such a name. A catalog name (or a documented misspelling)
    whose publisher and type joined by a dot or backslash give ``name`` is returned as the catalog writes it;
    otherwise the split at the last separator."""
    text = str(name).strip()
    if "/" in text or not text:
        return None
    if "\\" in text:
        publisher, _sep, ext_type = text.rpartition("\\")
        return "%s/%s" % (publisher, ext_type) if publisher and ext_type else None
    if "." not in text:
        return None
    for known in list(NAME_INDEX) + list(DOCUMENTED_MISTAKES):
        publisher, ext_type = known.split("/", 1)
        if ("%s.%s" % (publisher, ext_type)) == text.lower():
            found = NAME_INDEX.get(known)
            if found:
                return EXTENSIONS[found[0]][found[1]]
            return real_name(known)[0]
    publisher, _sep, ext_type = text.rpartition(".")
    return "%s/%s" % (publisher, ext_type) if publisher and ext_type else None


def alias_suggestions(word: str):
    """Aliases close to an unknown ``word`` (best first), for a "did you mean"."""
    return difflib.get_close_matches(str(word).strip().lower(), list(EXTENSIONS), n=3, cutoff=0.6)


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
    dependency_agent={
        "status": "deprecated",
        "date": "2028-06-30",
        "event": "retired on",
        "notice": "VM insights Map and the Dependency agent are deprecated: no new onboarding from September 30, 2025, "
                  "retirement on June 30, 2028",
        "replacement": None,
        "advice": "no new machine can be onboarded to VM insights Map since 2025-09-30; plan to remove the agent",
        "sources": [{"document": "Microsoft Learn: azure-monitor/vm/vminsights-maps-retirement.md (2026-08)",
                     "url": "https://learn.microsoft.com/azure/azure-monitor/vm/vminsights-maps-retirement"}],
    },
    dsc={
        "status": "retired",
        "date": None,
        "event": "no longer available on Azure Arc-enabled servers",
        "notice": "The Desired State Configuration VM extension is no longer available for Azure Arc-enabled servers",
        "replacement": None,
        "advice": "Microsoft recommends migrating to machine configuration (guest configuration) or using the Custom "
                  "Script extension for post-deployment configuration",
        "sources": [_source("azure-arc/servers/manage-vm-extensions.md")],
    },
    automanage={
        "status": "deprecated",
        "date": "2027-09-30",
        "event": "retired on",
        "notice": "Automanage Best Practices retires on September 30, 2027",
        "replacement": None,
        "advice": "what it deploys (Azure Monitor Agent, Update Manager, machine configuration, Change Tracking) can "
                  "be set up directly or through Essential Machine Management",
        "sources": [{"document": "Microsoft Learn: the Azure Automanage retirement notice", "url": None}],
    },
)

# What Microsoft says about the extensions an Azure service pushes at Arc servers
CHANGE_TRACKING_NOTE = ("Change Tracking through the Log Analytics agent is retired; the current path is the Azure "
                        "Monitor Agent with the Change Tracking extension 2.20 or later")


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
    when = "%s %s" % (entry["event"], entry["date"]) if entry["date"] else entry["event"]
    text = "%s (%s) is %s: %s (Microsoft: \"%s\")" % (
        subject or name, entry["title"], entry["status"], when, entry["notice"])
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


# ------------------------------------------------------------------ agent versions

# Microsoft supports only the agent versions released in the last 12 months, and the agent may upgrade itself
# (automatic upgrade from Azure): the version is read and judged at every run, never remembered across runs.
SUPPORT_DAYS = 365

# (major, minor) -> the month Microsoft's release notes give for it ("## Version 1.NN - Month YYYY"). Only what the
# release notes say; a version between two entries was released between their months (versions come out in order).
AGENT_RELEASES = {
    (1, 17): "2022-04",
    (1, 27): "2023-02",
    (1, 28): "2023-03",
    (1, 33): "2023-08",
    (1, 36): "2023-11",
    (1, 37): "2023-12",
    (1, 38): "2024-02",
    (1, 39): "2024-03",
    (1, 40): "2024-04",
    (1, 41): "2024-05",
    (1, 42): "2024-05",
    (1, 67): "2026-08",
}

# (major, minor) -> a date by which Microsoft's own documents show that version in use (so it was released by then).
AGENT_SEEN_BY = {
    (1, 58): "2025-11-19",
    (1, 64): "2026-07-29",
}

AGENT_RELEASE_SOURCE = "https://learn.microsoft.com/azure/azure-arc/servers/agent-release-notes"


def _month_start(month):
    return datetime.date.fromisoformat(month + "-01")


def _month_end(month):
    start = _month_start(month)
    following = datetime.date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return following - datetime.timedelta(days=1)


def parse_agent_version(text):
    """(major, minor) of an agent version as the agent prints it (1.64.03414.2961), or None."""
    match = re.match(r"^\s*v?(\d+)\.(\d+)(?:\.\d+){0,2}\s*$", str(text or ""))
    return (int(match.group(1)), int(match.group(2))) if match else None


def agent_support(version, today=None) -> dict:
    """Is the agent ``version`` within Microsoft's support window ``today`` (default: the real today, read now)?
    See ``_agent_support``; the answer for one version on one day is worked out once per process (a fleet holds
    few versions), and the day is part of the key, so a long-running process never keeps yesterday's answer."""
    key = version if isinstance(version, str) or version is None else repr(version)
    return dict(_agent_support(key, today or datetime.date.today()), version=version)


@functools.lru_cache(maxsize=4096)
def _agent_support(version, today) -> dict:
    """Is the agent ``version`` within Microsoft's support window ``today`` (default: the real today, read now)?

    Returns {version, status, released_from, released_by, support_ends, message}: ``status`` is ``supported``
    (released within the window for certain), ``unsupported`` (released before it for certain), or ``unknown``
    (the version cannot be read, or the table cannot place its release date on one side of the window's start).
    ``released_from``/``released_by`` bound its release date (ISO dates, None where unknown); ``support_ends`` is
    the latest date its support can end.
    """
    start = today - datetime.timedelta(days=SUPPORT_DAYS)
    out = {"version": version, "status": "unknown", "released_from": None, "released_by": None,
           "support_ends": None, "message": None}
    key = parse_agent_version(version)
    if key is None:
        out["message"] = ("agent version %r cannot be read, so whether Microsoft still supports it is unknown "
                          "(only versions released in the last 12 months are supported)" % (version,))
        return out
    earliest = [_month_start(m) for v, m in AGENT_RELEASES.items() if v <= key]
    latest = [_month_end(m) for v, m in AGENT_RELEASES.items() if v >= key]
    latest += [datetime.date.fromisoformat(d) for v, d in AGENT_SEEN_BY.items() if v >= key]
    released_from = max(earliest) if earliest else None
    released_by = min(latest) if latest else None
    out["released_from"] = released_from.isoformat() if released_from else None
    out["released_by"] = released_by.isoformat() if released_by else None
    if released_by is not None:
        out["support_ends"] = (released_by + datetime.timedelta(days=SUPPORT_DAYS)).isoformat()
    shown = "%d.%d" % key
    if released_by is not None and released_by < start:
        out["status"] = "unsupported"
        out["message"] = ("agent %s was released by %s, more than 12 months before %s: Microsoft supports only agent "
                          "versions released in the last 12 months. Upgrade the agent (or enable automatic upgrade "
                          "in Azure). Source: %s" % (shown, out["released_by"], today.isoformat(), AGENT_RELEASE_SOURCE))
    elif released_from is not None and released_from >= start:
        out["status"] = "supported"
    else:
        out["message"] = ("the release date of agent %s is not in the collection's version table, so whether it is "
                          "within Microsoft's 12-month support window on %s is unknown" % (shown, today.isoformat()))
    return out
