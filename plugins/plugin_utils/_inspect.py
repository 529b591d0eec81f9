# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The read engine of azcmagent_info: everything about the agent in one remote command.

Internal to arcguard.azcmagent: not a public API, may change without notice.

``inspect(runner, extensions_path=None)``: runs ``version``, ``show --json``, ``config list --json``,
``config info --json`` and the extension folder listing as one remote command (``keep_going``: a failing read
does not stop the others), and returns the module's facts; what could not be read or understood is listed in
``errors``, what is wrong with the agent itself (a version outside Microsoft's support) in ``findings``. Raises
``AgentError`` when nothing could be read at all. The proxy URL is redacted and added to ``runner.secrets``; the
caller scrubs the result.
"""

from __future__ import annotations

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _catalog as catalog
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _info as info
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _parsers as parsers
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._runner import LIST_ARGV, AgentError
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._script_steps import Listing
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._secrets import URL_PROPERTIES, shown_config

STEPS = (["version"], ["show", "--json"], list(LIST_ARGV), ["config", "info", "--json"])


def _ok(step):
    return step.stdout if step is not None and step.rc == 0 else ""


def inspect(runner, extensions_path=None):
    """The facts of azcmagent_info from the agent behind ``runner``."""
    out = runner.run(list(STEPS) + [Listing(extensions_path)], keep_going=True)
    data = {"changed": False, "os": runner.os, "errors": [], "findings": []}
    if out.missing:
        data.update(agent={"installed": False, "version": None, "status": None}, config={}, effective={},
                    supported_properties=[], installed_extensions=[], blocked_installed=[])
        return data
    steps = {n: out.step(n) for n in range(1, 6)}
    if all(s is None for s in steps.values()):
        raise AgentError("the agent could not be read", rc=out.rc, stdout=out.stdout, stderr=out.stderr)
    agent = info.agent_facts(_ok(steps[1]), _ok(steps[2]))
    agent["executable"] = runner.resolved_executable
    # the agent may upgrade itself: its support is judged at every run, from the version read now
    agent["support"] = catalog.agent_support(agent.get("version"))
    if agent["support"]["status"] == "unsupported" or not catalog.parse_agent_version(agent.get("version")):
        data["findings"].append(agent["support"]["message"])
    config = {}
    list_step = steps[3]
    if list_step is not None and list_step.rc == 0:
        try:
            config = runner.parse_config(list_step.stdout)
        except parsers.ParseError as exc:
            data["errors"].append("could not understand config list: %s" % exc)
    elif list_step is not None:
        data["errors"].append(runner.step_error(out, list_step, LIST_ARGV).msg)
    supported = []
    if steps[4] is not None and steps[4].rc == 0:
        try:
            supported = parsers.parse_config_info(steps[4].stdout)
        except parsers.ParseError as exc:
            data["errors"].append("could not understand config info: %s" % exc)
    if not supported and config:
        supported = sorted(config)
    listed = (config.get("extensions.allowlist") or []) + (config.get("extensions.blocklist") or [])
    installed = info.with_lifecycle(
        info.parse_extension_folders(steps[5].stdout if steps[5] else "", runner.os, listed), runner.os)
    runner.secrets.extend(str(config[prop] or "") for prop in URL_PROPERTIES if prop in config)
    config = shown_config(config)
    data.update(agent=agent, config=config, effective=info.effective(config) if config else {},
                supported_properties=supported, installed_extensions=installed,
                blocked_installed=info.blocked_installed(installed, config) if config else [])
    return data
