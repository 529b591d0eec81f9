# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The built-in lockdown profiles: OS-neutral data (catalog aliases resolve per target OS).

Internal to arcguard.azcmagent: not a public API, may change without notice. Used by the
lockdown role through azcmagent_config's profile option; docs/roles.md lists what each yields.
Every profile except monitor also sets mode: full, so switching profiles always works.
Two follow Microsoft's 2022 presets, which allow extensions Microsoft has since deprecated or retired;
they are kept under their names for fidelity to the presets.

- ``resolve(options, argument_spec)``: the task's options with its profile merged in (profile, then
  ``overrides``, then the task's own options), checked with ``argument_spec``; raises
  ``_planner.PlanError`` for a bad profile. Pure.
- ``PROFILE_OPTIONS``: the options a profile may set (derived from the catalog and the spec).
- ``legacy(profile)``: why a profile is legacy (the deprecated or retired extensions it allows).
"""

from __future__ import annotations

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _catalog as catalog
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._options import CONFIG_SPEC
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._planner import PlanError

# Beside the options that set an agent property (catalog.OPTION_PROPERTIES), a profile may say how its
# lists combine, give other properties, and bound each invocation.
_ALSO_IN_PROFILES = ("list_action", "settings", "timeout")


def profile_options(argument_spec) -> tuple:
    """The options of ``argument_spec`` that a profile may set, in the spec's order."""
    return tuple(k for k in argument_spec if k in catalog.OPTION_PROPERTIES or k in _ALSO_IN_PROFILES)


PROFILE_OPTIONS = profile_options(CONFIG_SPEC)

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
    "defender_sql": {
        "description": ("Defender for Servers with AMA, locked down, for SQL Servers: AMA, Defender for Endpoint and, on "
                        "Windows, Defender for SQL; guest configuration and incoming connections off"),
        "options": {
            "mode": "full",
            "extensions_allowlist": ["azure_monitor_agent", "defender_endpoint", "defender_sql"],
            "guestconfiguration_enabled": False,
            "incomingconnections_enabled": False,
        },
    },
    "monitoring_security": {
        "description": ("Legacy: Microsoft's 2022 monitoring and security list (Log Analytics agent, Qualys, Defender for "
                        "Endpoint, Defender for SQL on Windows); guest configuration on. It allows the retired Log "
                        "Analytics agent and the deprecated Qualys assessment: use defender or defender_sql instead"),
        "options": {
            "mode": "full",
            "extensions_allowlist": ["log_analytics", "qualys", "defender_endpoint", "defender_sql"],
            "guestconfiguration_enabled": True,
        },
    },
    "log_analytics": {
        "description": ("Legacy: the Log Analytics agent and the Dependency agent; guest configuration off. The Log "
                        "Analytics agent is retired and the Dependency agent deprecated (retired 2028-06-30): use "
                        "ama_only instead"),
        "options": {
            "mode": "full",
            "extensions_allowlist": ["log_analytics", "dependency_agent"],
            "guestconfiguration_enabled": False,
        },
    },
    "esu": {
        "description": ("Extended Security Updates only, for Windows Server 2012 / 2012 R2 and Windows Server 2016 "
                        "(configurable through Arc since 2026-08-03) - nothing may be installed (Allow/None)"),
        "options": {
            "mode": "full",
            "extensions_allowlist": ["Allow/None"],
        },
    },
    "essential_machine_management": {
        "description": ("Essential Machine Management (preview): exactly the extensions its ManagedOpsPolicy initiative "
                        "deploys to every enrolled Arc server - the Azure Monitor Agent, Azure Update Manager "
                        "(assessment and patching), Change Tracking - and guest configuration on, which its machine "
                        "configuration (security baseline audit) needs. It lets Azure collect monitoring data, assess "
                        "and install OS updates, track changes and audit the configuration; no other extension "
                        "(no script runners) can be installed"),
        "options": {
            "mode": "full",
            "extensions_allowlist": ["azure_monitor_agent", "update_assessment", "update_patching", "change_tracking"],
            "guestconfiguration_enabled": True,
        },
    },
    "monitor": {
        "description": "Monitor mode - Microsoft-managed allowlist of monitoring and security extensions",
        "options": {
            "mode": "monitor",
        },
    },
    "block_scripts": {
        "description": ("Block the extensions that run scripts (the documentation's eight entries, with the Hybrid "
                        "Runbook Worker under its real names, which the documentation misspells)"),
        "options": {
            "mode": "full",
            "extensions_blocklist": [
                "Microsoft.CPlat.Core/RunCommandHandlerWindows",
                "Microsoft.CPlat.Core/RunCommandHandlerLinux",
                "Microsoft.Compute/CustomScriptExtension",
                "Microsoft.Azure.Extensions/CustomScript",
                "Microsoft.Azure.Automation.HybridWorker/HybridWorkerForWindows",
                "Microsoft.Azure.Automation.HybridWorker/HybridWorkerForLinux",
                "Microsoft.EnterpriseCloud.Monitoring/MicrosoftMonitoringAgent",
                "Microsoft.EnterpriseCloud.Monitoring/OMSAgentForLinux",
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
                        "incoming connections on. Settings decided in Azure (connection.type, proxy.bypass, "
                        "incomingconnections.ports) are left as they are"),
        "options": {
            "mode": "full",
            "extensions_allowlist": [],
            "extensions_blocklist": [],
            "guestconfiguration_enabled": True,
            "extensions_enabled": True,
            "incomingconnections_enabled": True,
        },
    },
}


def profile_name(value) -> str:
    """A profile name as text, whatever type YAML gave it (``2022``, ``1.10``, ``yes``, a date): the text Ansible
    makes of it for a ``str`` option, so that a name and a key of ``profiles`` written alike are the same name."""
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list, tuple, set)):
        raise PlanError("profile names are text, not %s: %r" % (type(value).__name__, value))
    return str(value)


def user_profiles(given) -> dict:
    """The user's ``profiles`` keyed by text names; a name given twice (``1`` and ``"1"``) is an error naming it."""
    if given is None:
        return {}
    if not isinstance(given, dict):
        raise PlanError("profiles must be a dictionary of profile names and profiles, got %s" % type(given).__name__)
    out, spelt = {}, {}
    for key, entry in given.items():
        text = profile_name(key)
        if text in out:
            raise PlanError("profiles: %r and %r are the same profile name %s; give it once" % (spelt[text], key, text))
        out[text], spelt[text] = entry, key
    return out


def _merge(layers):
    """Options of ``layers`` ([(where, options)], lowest precedence first), one over the other.

    ``settings`` merge key by key (keys compared as the planner reads them: trimmed, lower case), and an option
    and its ``settings`` spelling are one setting: the higher layer's wins, whichever spelling it uses.
    """
    by_prop = {prop: option for option, prop in catalog.OPTION_PROPERTIES.items()}
    merged, settings, any_settings = {}, {}, False
    for where, source in layers:
        own = source.get("settings")
        if own is not None and not isinstance(own, dict):
            raise PlanError("%s: settings must be a dictionary of azcmagent property names and values" % where)
        for key in own or {}:
            option = by_prop.get(str(key).strip().lower())
            if option and source.get(option) is not None:
                raise PlanError("%s: settings: %s is also given as the option %s; give it once"
                                % (where, str(key).strip().lower(), option))
        for key, value in source.items():
            if key == "settings":
                continue
            merged[key] = value
            if value is not None and key in catalog.OPTION_PROPERTIES:
                settings.pop(catalog.OPTION_PROPERTIES[key], None)
        if own is not None:
            any_settings = True
            for key, value in own.items():
                prop = str(key).strip().lower()
                settings.pop(prop, None)
                settings[prop] = value
                if prop in by_prop:
                    merged.pop(by_prop[prop], None)
    if any_settings:
        merged["settings"] = settings
    return merged


def resolve(options: dict, argument_spec=None, given=None) -> dict:
    """Options from the named profile, then overrides, then the task's own options.

    ``options``: the task's validated options; ``argument_spec``: the module's (default: azcmagent_config's);
    ``given``: the task's raw arguments (``self._task.args``), which say which options the task set itself, so
    that an option given with the module's default value still wins over the profile. Without ``given``, an
    option counts as given when it is not None and differs from its default. ``settings`` merge key by key.
    Returns a new dict. The values that come from the profile or the overrides are checked like the task's own,
    with the argument spec (the task's own options were checked by the action already).
    """
    spec = CONFIG_SPEC if argument_spec is None else argument_spec
    allowed = profile_options(spec)
    name = options.get("profile")
    if name is None:
        if options.get("overrides"):
            raise PlanError("overrides needs profile")
        return dict(options)
    name = profile_name(name)
    profiles = dict(PROFILES)
    profiles.update(user_profiles(options.get("profiles")))
    if name not in profiles:
        raise PlanError("profile %s is not a profile; known profiles: %s"
                        % (name, ", ".join(sorted(profiles)) or "none (profiles is empty)"))
    entry = profiles[name]
    if not isinstance(entry, dict) or not isinstance(entry.get("options", {}), dict):
        raise PlanError("profile %s must be a dictionary with an options dictionary" % name)
    layers = []
    for source, where in ((entry.get("options") or {}, "profile %s" % name),
                          (options.get("overrides") or {}, "overrides")):
        unknown = sorted(set(source) - set(allowed))
        if unknown:
            raise PlanError("%s: %s cannot be set by a profile (options: %s)"
                            % (where, ", ".join(unknown), ", ".join(allowed)))
        layers.append((where, source))
    if given is not None:
        explicit = {k: options.get(k) for k in allowed if k in given and given[k] is not None
                    and options.get(k) is not None}
    else:
        explicit = {k: v for k, v in options.items() if v is not None and k in allowed
                    and (k not in spec or v != spec[k].get("default"))}
    layers.append(("the task", explicit))
    merged = _merge(layers)
    # the task's own options were checked with the spec already, so only what the profile and overrides bring is
    from_profile = {k: v for k, v in merged.items() if k not in explicit or k == "settings"}
    checked = ArgumentSpecValidator({k: spec[k] for k in from_profile}).validate(from_profile)
    if checked.error_messages:
        raise PlanError("profile %s: %s" % (name, "; ".join(checked.error_messages)))
    out = dict(options)
    out.update((k, checked.validated_parameters[k]) for k in from_profile)
    return out


def legacy(profile: dict):
    """Why a profile is legacy: [(alias, lifecycle entry)] for each deprecated or retired extension its
    allowlist allows, in the order given; empty for a current profile."""
    out = []
    for item in (profile.get("options") or {}).get("extensions_allowlist") or []:
        entry = catalog.lifecycle_of(str(item))
        if entry and entry["status"] != "current" and entry["alias"] not in [a for a, _e in out]:
            out.append((entry["alias"], entry))
    return out
