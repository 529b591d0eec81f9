# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The argument specs of the action plugins: the shared options come from the doc fragment.

Internal to arcguard.azcmagent: not a public API, may change without notice.

- ``shared_spec(**defaults)``: the spec of the options every target-side module takes
  (``executable``, ``extensions_path``, ``timeout``), read from ``plugins/doc_fragments/azcmagent.py``,
  with the module's own defaults.
- ``CONFIG_SPEC``: the argument spec of azcmagent_config (also what ``_profiles.resolve`` checks a
  profile's options with); ``INFO_SPEC``: that of azcmagent_info.
- ``MACHINE_INFO_SPEC``: that of arc_machine_info, its sign-in and filter options read from
  ``plugins/doc_fragments/azure.py`` (which the arc inventory plugin documents its options with).
"""

from __future__ import annotations

import yaml

from ansible_collections.arcguard.azcmagent.plugins.doc_fragments import azure as azure_docs
from ansible_collections.arcguard.azcmagent.plugins.doc_fragments.azcmagent import ModuleDocFragment

# the keys of a documented option that are also argument spec keys
_SPEC_KEYS = ("type", "elements", "choices", "default", "required", "no_log")


def spec_from_doc(options: dict) -> dict:
    """An argument spec from the ``options`` of a DOCUMENTATION (undocumented type: str)."""
    spec = {}
    for name, option in options.items():
        entry = {k: option[k] for k in _SPEC_KEYS if k in option}
        entry.setdefault("type", "str")
        spec[name] = entry
    return spec


_SHARED = spec_from_doc(yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"])


def shared_spec(**defaults) -> dict:
    """The shared options' spec, each a fresh dict; ``defaults`` sets the module's defaults (timeout=300)."""
    spec = {name: dict(entry) for name, entry in _SHARED.items()}
    for name, value in defaults.items():
        spec[name]["default"] = value
    return spec


CONFIG_SPEC = dict(
    mode=dict(type="str", choices=["full", "monitor"]),
    extensions_allowlist=dict(type="list", elements="str"),
    extensions_blocklist=dict(type="list", elements="str"),
    list_action=dict(type="str", choices=["replace", "add", "remove"], default="replace"),
    guestconfiguration_enabled=dict(type="bool"),
    extensions_enabled=dict(type="bool"),
    incomingconnections_enabled=dict(type="bool"),
    incomingconnections_ports=dict(type="list", elements="int"),
    proxy_url=dict(type="str", no_log=False),
    proxy_bypass=dict(type="list", elements="str"),
    settings=dict(type="dict"),
    strict=dict(type="bool", default=False),
    wait_timeout=dict(type="int", default=0),
    profile=dict(type="str"),
    profiles=dict(type="dict"),
    overrides=dict(type="dict"),
    remove_blocked=dict(type="bool", default=False),
    allow_empty_allowlist=dict(type="bool", default=False),
    **shared_spec(timeout=300),
)

INFO_SPEC = shared_spec(timeout=120)

MACHINE_INFO_SPEC = dict(
    **spec_from_doc(yaml.safe_load(azure_docs.ModuleDocFragment.FILTERS)["options"]),
    **spec_from_doc(yaml.safe_load(azure_docs.ModuleDocFragment.DOCUMENTATION)["options"]),
    names=dict(type="list", elements="str", default=[]),
)
MACHINE_INFO_SPEC["secret"]["no_log"] = True

EXTENSION_CLEANUP_SPEC = dict(
    **spec_from_doc(yaml.safe_load(azure_docs.ModuleDocFragment.FILTERS)["options"]),
    **spec_from_doc(yaml.safe_load(azure_docs.ModuleDocFragment.DOCUMENTATION)["options"]),
    machines=dict(type="list", elements="str", default=[]),
    classifications=dict(type="list", elements="str", default=["installed_but_blocked", "refused_by_lockdown"],
                         choices=["installed_but_blocked", "refused_by_lockdown", "failed"]),
)
EXTENSION_CLEANUP_SPEC["secret"]["no_log"] = True
