# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for arcguard.azcmagent.azcmagent_info: reads everything in one remote command."""

from __future__ import annotations

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _catalog as catalog
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _info as info
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _parsers as parsers
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._action import Action
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._options import INFO_SPEC
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._runner import LIST_ARGV, AgentError
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._scripts import Listing
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._secrets import redact_url, scrub


class ActionModule(Action):

    ARGUMENT_SPEC = INFO_SPEC

    STEPS = (["version"], ["show", "--json"], list(LIST_ARGV), ["config", "info", "--json"])

    def act(self, args, task_vars):
        if args["timeout"] is not None and args["timeout"] < 0:
            return dict(failed=True, changed=False, msg="timeout must be 0 (no limit) or more seconds")
        try:
            runner = self.runner(args)
            out = runner.run(list(self.STEPS) + [Listing(args.get("extensions_path"))], keep_going=True)
        except AgentError as exc:
            return dict(failed=True, changed=False, msg=exc.msg, **exc.details)
        data = {"changed": False, "os": runner.os, "errors": [], "findings": []}
        if out.missing:
            data.update(agent={"installed": False, "version": None, "status": None}, config={}, effective={},
                        supported_properties=[], installed_extensions=[], blocked_installed=[])
            return data
        steps = {n: out.step(n) for n in range(1, 6)}
        if all(s is None for s in steps.values()):
            err = AgentError("the agent could not be read", rc=out.rc, stdout=out.stdout, stderr=out.stderr)
            return dict(failed=True, msg=err.msg, **err.details)
        agent = info.agent_facts(self._ok(steps[1]), self._ok(steps[2]))
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
            why = runner.step_error(out, list_step, LIST_ARGV).msg
            data["errors"].append(why)
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
        if "proxy.url" in config:
            runner.secrets.append(str(config["proxy.url"] or ""))
            config["proxy.url"] = redact_url(config["proxy.url"])
        data.update(agent=agent, config=config, effective=info.effective(config) if config else {},
                    supported_properties=supported, installed_extensions=installed,
                    blocked_installed=info.blocked_installed(installed, config) if config else [])
        return scrub(data, runner.secrets)

    @staticmethod
    def _ok(step):
        return step.stdout if step is not None and step.rc == 0 else ""
