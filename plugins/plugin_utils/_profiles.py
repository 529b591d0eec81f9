# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The built-in lockdown profiles: OS-neutral data (catalog aliases resolve per target OS).

Internal to arcguard.azcmagent: not a public API, may change without notice. Used by the
lockdown role through azcmagent_config's profile option; docs/roles.md lists what each yields.
Every profile except monitor also sets mode: full, so switching profiles always works.
"""

from __future__ import annotations

PROFILES = {
    "ama_only": {
        "description": "Azure Monitor Agent only; guest configuration off",
        "options": {
            "mode": "full",
            "extensions_allowlist": ["azure_monitor_agent"],
            "guestconfiguration_enabled": False,
        },
    },
    "defender": {
        "description": "Defender for Servers with AMA, locked down (AMA and Defender for Endpoint; guest configuration and incoming connections off)",
        "options": {
            "mode": "full",
            "extensions_allowlist": ["azure_monitor_agent", "defender_endpoint"],
            "guestconfiguration_enabled": False,
            "incomingconnections_enabled": False,
        },
    },
    "monitoring_security": {
        "description": ("Microsoft's monitoring and security list (Log Analytics agent, Qualys, Defender for Endpoint, "
                        "Defender for SQL on Windows); guest configuration on"),
        "options": {
            "mode": "full",
            "extensions_allowlist": ["log_analytics", "qualys", "defender_endpoint", "defender_sql"],
            "guestconfiguration_enabled": True,
        },
    },
    "log_analytics": {
        "description": "Legacy Log Analytics agent and the Dependency agent; guest configuration off",
        "options": {
            "mode": "full",
            "extensions_allowlist": ["log_analytics", "dependency_agent"],
            "guestconfiguration_enabled": False,
        },
    },
    "esu": {
        "description": "Windows Server 2012 ESU only - nothing may be installed (Allow/None)",
        "options": {
            "mode": "full",
            "extensions_allowlist": ["Allow/None"],
        },
    },
    "monitor": {
        "description": "Monitor mode - Microsoft-managed allowlist of monitoring and security extensions",
        "options": {
            "mode": "monitor",
        },
    },
    "block_scripts": {
        "description": "Block the extensions that run scripts (the documentation's eight entries and the real Linux Hybrid Worker name)",
        "options": {
            "mode": "full",
            "extensions_blocklist": [
                # the documentation's eight entries ...
                "Microsoft.CPlat.Core/RunCommandHandlerWindows",
                "Microsoft.CPlat.Core/RunCommandHandlerLinux",
                "Microsoft.Compute/CustomScriptExtension",
                "Microsoft.Azure.Extensions/CustomScript",
                "Microsoft.Azure.Automation.HybridWorker/HybridWorkerForWindows",
                "Microsoft.Azure.Automation/HybridWorkerForLinux",
                "Microsoft.EnterpriseCloud.Monitoring/MicrosoftMonitoringAgent",
                "Microsoft.EnterpriseCloud.Monitoring/OMSAgentForLinux",
                # ... and the real name of the Linux Hybrid Worker, which the documentation misspells
                "Microsoft.Azure.Automation.HybridWorker/HybridWorkerForLinux",
            ],
        },
    },
    "extensions_off": {
        "description": "Extension manager off (installed extensions are not removed and may keep running)",
        "options": {
            "mode": "full",
            "extensions_enabled": False,
        },
    },
    "defaults": {
        "description": ("Back to the agent's defaults - full mode, no lists, guest configuration, extensions and "
                        "incoming connections on, no incoming connection ports"),
        "options": {
            "mode": "full",
            "extensions_allowlist": [],
            "extensions_blocklist": [],
            "guestconfiguration_enabled": True,
            "extensions_enabled": True,
            "incomingconnections_enabled": True,
            "incomingconnections_ports": [],
        },
    },
}
