"""What each built-in profile must leave in the agent, per OS (written from the reference, not from the role)."""

AMA = {"windows": "Microsoft.Azure.Monitor/AzureMonitorWindowsAgent", "linux": "Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"}
MDE = {"windows": "Microsoft.Azure.AzureDefenderForServers/MDE.Windows",
       "linux": "Microsoft.Azure.AzureDefenderForServers/MDE.Linux"}
QUALYS = {"windows": "Qualys/WindowsAgent.AzureSecurityCenter", "linux": "Qualys/LinuxAgent.AzureSecurityCenter"}
LEGACY = {"windows": "Microsoft.EnterpriseCloud.Monitoring/MicrosoftMonitoringAgent",
          "linux": "Microsoft.EnterpriseCloud.Monitoring/OMSAgentForLinux"}
DEPENDENCY = {"windows": "Microsoft.Azure.Monitoring.DependencyAgent/DependencyAgentWindows",
              "linux": "Microsoft.Azure.Monitoring.DependencyAgent/DependencyAgentLinux"}
SQL = "Microsoft.Azure.AzureDefenderForSQL/AdvancedThreatProtection.Windows"
BLOCK_SCRIPTS = [
    "Microsoft.CPlat.Core/RunCommandHandlerWindows", "Microsoft.CPlat.Core/RunCommandHandlerLinux",
    "Microsoft.Compute/CustomScriptExtension", "Microsoft.Azure.Extensions/CustomScript",
    "Microsoft.Azure.Automation.HybridWorker/HybridWorkerForWindows",
    "Microsoft.Azure.Automation.HybridWorker/HybridWorkerForLinux",
    "Microsoft.EnterpriseCloud.Monitoring/MicrosoftMonitoringAgent", "Microsoft.EnterpriseCloud.Monitoring/OMSAgentForLinux",
]
# Essential Machine Management (field-2026.md, section 2): AMA, Update Manager, Change Tracking
EMM = {os_name: [AMA[os_name],
                 "Microsoft.SoftwareUpdateManagement/%sOsUpdateExtension" % os_name.capitalize(),
                 "Microsoft.CPlat.Core/%sPatchExtension" % os_name.capitalize(),
                 "Microsoft.Azure.ChangeTrackingAndInventory/ChangeTracking-%s" % os_name.capitalize()]
       for os_name in ("windows", "linux")}


def expected(profile, os_name):
    """{property: value} the agent must report after the profile (lists compare as sets, case-insensitive)."""
    full = {"config.mode": "full"}
    if profile == "ama_only":
        return dict(full, **{"extensions.allowlist": [AMA[os_name]], "guestconfiguration.enabled": False})
    if profile == "defender":
        return dict(full, **{"extensions.allowlist": [AMA[os_name], MDE[os_name]], "guestconfiguration.enabled": False,
                             "incomingconnections.enabled": False})
    if profile == "defender_sql":
        names = [AMA[os_name], MDE[os_name]] + ([SQL] if os_name == "windows" else [])
        return dict(full, **{"extensions.allowlist": names, "guestconfiguration.enabled": False,
                             "incomingconnections.enabled": False})
    if profile == "monitoring_security":
        names = [LEGACY[os_name], QUALYS[os_name], MDE[os_name]] + ([SQL] if os_name == "windows" else [])
        return dict(full, **{"extensions.allowlist": names, "guestconfiguration.enabled": True})
    if profile == "log_analytics":
        return dict(full, **{"extensions.allowlist": [LEGACY[os_name], DEPENDENCY[os_name]],
                             "guestconfiguration.enabled": False})
    if profile == "esu":
        return dict(full, **{"extensions.allowlist": ["Allow/None"]})
    if profile == "essential_machine_management":
        return dict(full, **{"extensions.allowlist": EMM[os_name], "guestconfiguration.enabled": True})
    if profile == "monitor":
        return {"config.mode": "monitor"}
    if profile == "block_scripts":
        return dict(full, **{"extensions.blocklist": BLOCK_SCRIPTS})
    if profile == "extensions_off":
        return dict(full, **{"extensions.enabled": False})
    if profile == "defaults":
        return dict(full, **{"extensions.allowlist": [], "extensions.blocklist": [], "guestconfiguration.enabled": True,
                             "extensions.enabled": True, "incomingconnections.enabled": True})
    raise KeyError(profile)


PROFILES = ["ama_only", "defender", "defender_sql", "monitoring_security", "log_analytics", "esu",
            "essential_machine_management", "monitor", "block_scripts", "extensions_off", "defaults"]

# settings decided in Azure (field-2026.md, section 1): no built-in profile touches them
AZURE_OWNED = ("connection.type", "proxy.bypass", "incomingconnections.ports")


def matches(prop, got, want):
    if isinstance(want, list):
        return sorted(str(x).lower() for x in (got or [])) == sorted(str(x).lower() for x in want)
    if isinstance(want, bool):
        return got in (want, str(want).lower())
    return str(got).lower() == str(want).lower()
