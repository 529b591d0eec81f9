# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Event source arcguard.azcmagent.arc_drift: Azure Arc machines whose reported agent settings drifted.

Polls Azure Resource Graph for the Arc machines of a scope, compares the agent settings each machine
reports to Azure (agentConfiguration) with its lockdown profile, and sends one event per drifted machine.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time

DOCUMENTATION = r"""
---
short_description: Send an event when an Azure Arc machine's reported agent settings drift from its profile
description:
  - An ansible-rulebook event source plugin that watches the local security settings of Azure Connected
    Machine agents centrally, through Azure, without touching any host.
  - Every O(interval) seconds it runs one Azure Resource Graph query (paged) for the Arc machines of the
    scope, and compares the settings each agent reports to Azure (C(agentConfiguration)) with the machine's
    lockdown profile, with the same comparison as the collection's inventory and audit.
  - A machine whose reported settings differ from its profile produces one C(arc_drift) event, with
    C(meta.hosts) set to the machine's inventory hostname by the collection's naming rule, as the inventory
    plugin arcguard.azcmagent.arc names it (the resource name when it is unique and safe, else
    C(NAME~RESOURCEGROUP~SUBSCRIPTION); never a host pattern), so that a C(run_playbook) or
    C(run_job_template) action is limited to that host. The event's C(resource_id) is the machine; the
    collection's rulebooks pass it on and the lockdown changes nothing unless the limit is exactly one host
    whose C(arc_resource_id) is that ID. The same drift is not sent again until it changes or O(repeat_after) seconds pass.
    A machine sent as drifted that reports compliant settings again produces one C(arc_drift_resolved) event.
  - Each machine is judged with the role's precedence - its profile, then O(overrides) (or its entry of
    O(host_overrides)) - and a setting Azure reports in a form that cannot be read is drift (fail closed).
    The same drift in another list order or letter case is the same drift.
  - With O(extension_events) (the default) the same poll also reads the machines' extension resources. An
    extension that Azure tried to install and the agent refused (failed, and the lists the machine reports forbid
    it) produces one C(arc_extension_refused) event per extension resource and change of its provisioning state
    or status message, never one per poll. Its C(meta.hosts) is the machine's host name by the collection's naming
    rule. Route it to a ticket or a chat (see the C(extension_refused) rulebook); the lockdown already did its job,
    so it is not a reason to run it.
  - "C(arc_extension_refused) event shape: C({\"arc_extension_refused\": {\"machine\", \"resource_id\" (the
    machine's), \"extension_id\", \"extension\" (Publisher/Type), \"extension_name\", \"requested_by\"
    (systemData lastModifiedBy, else createdBy, else null), \"provisioning_state\", \"status_message\",
    \"os_type\"}, \"meta\": {\"hosts\": \"<host name>\"}})."
  - Settings that Azure does not report are never drift. Machines whose status is not in
    O(include_statuses), that report no settings, or (with O(profile_by_tag)) that carry no usable tag are
    skipped.
  - Azure errors (authentication and authorization failures, throttling, server errors, timeouts) are
    logged and retried with backoff; they never end the source. A bad argument ends it at once, with one
    message naming the argument. No secret is written to any event or log line.
  - "Event shape: C({\"arc_drift\": {\"name\", \"resource_id\", \"os_type\", \"profile\", \"status\",
    \"agent_version\", \"last_status_change\", \"host_name\", \"differences\": [{\"property\", \"expected\",
    \"actual\"}]}, \"meta\": {\"hosts\": \"<host_name>\"}}). C(arc_drift_resolved) events carry the same keys, with
    C(resolved_differences) (the differences last sent) instead of C(differences)."
  - The latency from a change on a server to its event is the agent's own delay in reporting its settings
    to Azure plus at most one O(interval).
requirements:
  - azure-identity and azure-mgmt-resourcegraph in the Python environment of ansible-rulebook (the
    decision environment).
  - The identity used needs the C(Reader) role on the scope (read access to
    C(Microsoft.HybridCompute/machines)).
options:
  subscriptions:
    description:
      - Subscription IDs to watch, as the inventory plugin arcguard.azcmagent.arc takes them.
      - Without O(subscriptions) and O(management_groups), every subscription the identity can read.
    type: list
    elements: str
  management_groups:
    description:
      - Management group names to watch, as the inventory plugin arcguard.azcmagent.arc takes them.
    type: list
    elements: str
  auth_source:
    description:
      - Where the Azure credentials come from, as in the inventory plugin arcguard.azcmagent.arc.
      - C(auto) signs in with O(client_id), O(secret) and O(tenant) when they are given, otherwise with
        azure-identity's default chain; C(env) with the C(AZURE_CLIENT_ID), C(AZURE_CLIENT_SECRET) and
        C(AZURE_TENANT_ID) environment variables; C(cli) as C(az login); C(msi) as the managed identity.
    type: str
    choices: [auto, env, cli, msi]
    default: auto
  client_id:
    description:
      - The service principal's client (application) ID.
    type: str
  secret:
    description:
      - The service principal's client secret. Prefer an environment variable or an Automation Platform
        credential over writing it into a rulebook. Never logged.
    type: str
  tenant:
    description:
      - The tenant (directory) ID.
    type: str
  cloud:
    description:
      - The Azure cloud, as in the inventory plugin arcguard.azcmagent.arc.
    type: str
    choices: [AzureCloud, AzureUSGovernment, AzureChinaCloud]
    default: AzureCloud
  arm_endpoint:
    description:
      - Azure Resource Manager endpoint, for clouds that are not built in.
    type: str
  authority_host:
    description:
      - Microsoft Entra ID authority host, for clouds that are not built in.
    type: str
  profile:
    description:
      - The lockdown profile every watched machine must match, a built-in profile
        (see the arcguard.azcmagent.lockdown role) or one of O(profiles).
      - Exactly one of O(profile) and O(profile_by_tag) is required.
    type: str
  profile_by_tag:
    description:
      - "Take each machine's profile from one of its Azure tags: C({tag: arc-lockdown}) means the value of the
        machine's C(arc-lockdown) tag names its profile. Tag names are compared case-insensitively, as Azure
        does."
      - Untagged machines are skipped; a tag value that names no profile is logged and the machine skipped.
    type: dict
    suboptions:
      tag:
        description:
          - The name of the tag.
        type: str
        required: true
  profiles:
    description:
      - "User-defined profiles, in the same format as the lockdown role's C(lockdown_profiles)
        (C({name: {description: ..., options: {...}}})), merged with the built-in ones (yours win)."
      - Use the same variable for the source and for the playbook that enforces the profile.
    type: dict
    default: {}
  interval:
    description:
      - Seconds between two polls (from the start of one to the start of the next). At least 30.
    type: int
    default: 300
  include_statuses:
    description:
      - The machine statuses that are watched (compared case-insensitively), for example C(Connected),
        C(Disconnected), C(Error), C(Expired).
      - A disconnected machine's reported settings are its last report, which may be stale.
      - A value Azure is not known to give is kept (Azure's list may grow) and logged as a warning at start.
    type: list
    elements: str
    default: [Connected]
  overrides:
    description:
      - Lockdown options that win over the profile's, as the role's C(lockdown_overrides); pass the same
        variable to the source and to the playbook that enforces.
    type: dict
    default: {}
  host_overrides:
    description:
      - Per machine (key - its inventory hostname or its resource ID) a C(profile) and/or C(overrides) that
        win over O(profile), the tag and O(overrides), as host variables win in the inventory.
    type: dict
    default: {}
  host_naming:
    description:
      - The naming rule for C(meta.hosts), as the inventory plugin's option of that name (use the same value).
    type: str
    choices: [name, qualified]
    default: name
  repeat_after:
    description:
      - Seconds before the same, unchanged drift of a machine is sent again.
    type: int
    default: 3600
  extension_events:
    description:
      - Also read the extension resources in each poll and send C(arc_extension_refused) events.
    type: bool
    default: true
  timeout:
    description:
      - Seconds one poll (sign-in and every page of the query, throttling waits included) may take. A poll
        that takes longer is logged as failed and retried with backoff; the next attempt waits for the
        query still running instead of starting a second one.
    type: int
    default: 120
"""

EXAMPLES = r"""
- name: Put the lockdown back on drifted Arc machines
  hosts: all
  sources:
    - arcguard.azcmagent.arc_drift:
        subscriptions:
          - 00000000-0000-0000-0000-000000000000
        profile: defender
        interval: 300
  rules:
    - name: Enforce the profile on the drifted host
      condition: event.arc_drift is defined
      action:
        run_playbook:
          name: arcguard.azcmagent.lockdown
          extra_vars:
            lockdown_profile: "{{ event.arc_drift.profile }}"

- name: Each machine's profile from its arc-lockdown tag, disconnected machines too
  hosts: all
  sources:
    - arcguard.azcmagent.arc_drift:
        management_groups: [payments]
        profile_by_tag:
          tag: arc-lockdown
        profiles: "{{ lockdown_profiles }}"
        include_statuses: [Connected, Disconnected]
        repeat_after: 86400
  rules:
    - name: Report drift
      condition: event.arc_drift is defined
      action:
        debug:
          msg: "{{ event.arc_drift.name }}: {{ event.arc_drift.differences }}"
"""

LOG = logging.getLogger("arcguard.azcmagent.arc_drift")
SOURCE = "arcguard.azcmagent.arc_drift"


def _collection_importable():
    """Let this file import the collection's shared code when ansible-rulebook runs it by path.

    ansible-rulebook finds a collection's source with ``ansible-galaxy collection list`` and runs the file
    with runpy, without the collection's root on sys.path, so ``ansible_collections.arcguard.azcmagent``
    is not importable by default. The root is the directory that holds ``ansible_collections``, seven
    levels above this file; it goes first on sys.path so that this copy of the collection is the one used.
    """
    parts = os.path.abspath(__file__).split(os.sep)
    if len(parts) > 8 and parts[-8] == "ansible_collections" and parts[-7:-5] == ["arcguard", "azcmagent"]:
        root = os.sep.join(parts[:-8]) or os.sep
        if root not in sys.path:
            sys.path.insert(0, root)


_collection_importable()

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _arcmachine  # noqa: E402
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _azure  # noqa: E402
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _drift  # noqa: E402
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _extensions  # noqa: E402
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _naming  # noqa: E402
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._profiles import PROFILES  # noqa: E402
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._secrets import scrub as _scrub  # noqa: E402

# where azure-identity and the collection's inventory take secrets from, besides the secret argument
SECRET_ENV = ("AZURE_CLIENT_SECRET", "AZURE_SECRET", "AZURE_PASSWORD", "AZURE_CLIENT_CERTIFICATE_PASSWORD")


def _min_interval():
    value = os.environ.get(_drift.TEST_MIN_INTERVAL_ENV)
    if not value:
        return _drift.MIN_INTERVAL
    try:
        minimum = max(0.0, float(value))
    except ValueError:
        return _drift.MIN_INTERVAL
    LOG.warning("%s: test-only %s=%s lowers the minimum interval", SOURCE, _drift.TEST_MIN_INTERVAL_ENV, value)
    return minimum


def settings_from(args):
    """The validated settings, or DriftArgumentError naming the argument. Nothing is sent to Azure."""
    settings = _drift.parse_args(args, PROFILES, _min_interval())
    try:
        _azure.settings(settings["azure"])
    except _azure.AzureError as exc:
        raise _drift.DriftArgumentError(str(exc)) from None
    # each profile that may be used, resolved as the lockdown role resolves it (bad options fail here)
    names = [settings["profile"]] if settings["profile"] else sorted(settings["profiles"])
    checks = [(name, settings["overrides"]) for name in names]
    for key, entry in settings["host_overrides"].items():
        checks.append((entry.get("profile") or settings["profile"] or names[0] if names else "defaults",
                       entry.get("overrides", settings["overrides"])))
    for name, overrides in checks:
        for os_type in ("linux", "windows"):
            options = {"profile": name, "profiles": settings["profiles"]}
            if overrides:
                options["overrides"] = overrides
            try:
                _arcmachine.differences(options, os_type, {})
            except ValueError as exc:
                raise _drift.DriftArgumentError(str(exc)) from None
    return settings


class _Watch:
    """One running source: the tracker, the secrets to keep out of logs, what was already logged."""

    def __init__(self, settings):
        self.settings = settings
        self.tracker = _drift.DriftTracker(settings["repeat_after"])
        self.refusals = _extensions.RefusalTracker()
        self.secrets = [s for s in [settings["azure"].get("secret")] + [os.environ.get(n) for n in SECRET_ENV]
                        if s]
        self.noted = {}
        self.warned = {}
        self.named = set()
        self.failures = 0

    def clean(self, text):
        return _scrub(" ".join(str(text).split()), self.secrets)

    def debug(self, message):
        LOG.debug("%s: %s", SOURCE, self.clean(message))

    def failed(self, why):
        self.failures += 1
        delay = _drift.retry_delay(self.failures, self.settings["interval"])
        level = logging.WARNING if self.failures < 3 else logging.ERROR
        LOG.log(level, "%s: Azure query failed (attempt %d): %s; retrying in %s s", SOURCE, self.failures,
                self.clean(why), _drift._fmt(round(delay, 3)))
        return delay

    def warn(self, warnings, now=None, nothing_read=False):
        """Azure's warnings (a scope that cannot be read...): at warning level when new, then again every
        WARN_REPEAT seconds while they last (every WARN_REPEAT_ALL_DENIED while nothing at all can be read,
        so a watch that sees nothing never goes quiet), at debug level in between."""
        now = time.monotonic() if now is None else now
        repeat = _drift.WARN_REPEAT_ALL_DENIED if nothing_read else _drift.WARN_REPEAT
        current = {self.clean(w) for w in warnings}
        for warning in sorted(current):
            last = self.warned.get(warning)
            due = last is None or now - last >= repeat
            LOG.log(logging.WARNING if due else logging.DEBUG, "%s: %s%s", SOURCE, warning,
                    " (still; no machine can be read)" if nothing_read and last is not None and due else "")
            if due:
                self.warned[warning] = now
        self.warned = {w: t for w, t in self.warned.items() if w in current}

    def note_skipped(self, skipped, seen):
        for machine, reason in skipped:
            key = str(machine.get("resource_id") or machine.get("name")).lower()
            if self.noted.get(key) == reason:
                continue
            self.noted[key] = reason
            level = logging.DEBUG if reason == "untagged" else logging.WARNING
            LOG.log(level, "%s: %s skipped: %s", SOURCE, machine.get("name"), self.clean(reason))
        for key in [k for k in self.noted if k not in seen]:
            del self.noted[key]

    def refused(self, machines, now, names):
        """arc_extension_refused events: once per extension resource and change of its state or message; host names
        by the same rule as the drift events (``names``)."""
        watched = [m for m in machines if str(m.get("status") or "").lower() in self.settings["include_statuses"]]
        return self.refusals.observe(now, watched, lambda m: names.host(m) or m.get("name"))

    def events(self, machines, now):
        names = _naming.host_names(machines, rule=self.settings["host_naming"])
        for warning in names.warnings:
            if warning not in self.named:
                LOG.warning("%s: %s", SOURCE, self.clean(warning))
        self.named = set(names.warnings)
        evaluated, skipped = _drift.evaluate(self.settings, machines, _arcmachine.differences, names)
        self.note_skipped(skipped, {str(m.get("resource_id") or m.get("name")).lower() for m, _r in skipped})
        # a profile's proxy URL and what Azure reports are redacted already; scrub again, as every carrier is
        events = [_scrub(event, self.secrets) for event in self.tracker.observe(now, evaluated)]
        if self.settings["extension_events"]:
            events += [_scrub(event, self.secrets) for event in self.refused(machines, now, names)]
        drifted = sum(1 for _m, _p, d in evaluated if d)
        LOG.info("%s: %d machine(s), %d compared, %d drifted; %d event(s)", SOURCE, len(machines), len(evaluated),
                 drifted, len(events))
        return events


def _quiet_sdk():
    """The Azure SDK logs every HTTP request at INFO: kept to warnings unless a level was set for it."""
    for name in ("azure.core.pipeline.policies.http_logging_policy", "azure.identity"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)


def _in_thread(func, *args):
    """``func(*args)`` in a daemon thread of its own, as a future of the running loop.

    Not the loop's default executor: a query that hangs must not hold up the shutdown of ansible-rulebook
    (asyncio waits for the default executor's threads when the loop ends).
    """
    loop = asyncio.get_running_loop()
    future = loop.create_future()

    def settle(result, error):
        if not future.done():
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

    def work():
        try:
            result, error = func(*args), None
        except Exception as exc:  # handed to the loop, which logs and retries it
            result, error = None, exc
        try:
            loop.call_soon_threadsafe(settle, result, error)
        except RuntimeError:   # the loop has ended meanwhile: nobody waits for this answer
            pass

    threading.Thread(target=work, name="arc_drift Azure query", daemon=True).start()
    future.add_done_callback(_retrieve)
    return future


def _retrieve(future):
    if not future.cancelled():
        future.exception()


async def main(queue, args):
    """Poll Azure and put drift events on ``queue`` until cancelled; a bad argument raises at once."""
    try:
        _azure.require_sdk()
        settings = settings_from(args)
    except _drift.DriftArgumentError as exc:
        raise _drift.DriftArgumentError("%s: %s" % (SOURCE, exc)) from None
    except _azure.AzureSdkMissing as exc:
        raise _azure.AzureSdkMissing("%s: %s" % (SOURCE, exc)) from None
    watch = _Watch(settings)
    unknown = _azure.status_warning(sorted(settings["include_statuses"]))
    if unknown:
        LOG.warning("%s: %s", SOURCE, unknown)
    _quiet_sdk()
    LOG.info("%s: watching %s every %s s", SOURCE,
             "profile %s" % settings["profile"] if settings["profile"] else "the profile named by tag %s"
             % settings["tag"], _drift._fmt(settings["interval"]))
    loop = asyncio.get_running_loop()
    pending = None  # a query that outlived its timeout keeps its thread; the next attempt waits for it
    while True:
        started = loop.time()
        if pending is None or pending.done():
            pending = _in_thread(_azure.list_machines, dict(settings["azure"]), watch.debug, time.sleep,
                                 settings["extension_events"])
        try:
            machines, warnings = await asyncio.wait_for(asyncio.shield(pending), settings["timeout"])
        except asyncio.TimeoutError:
            await asyncio.sleep(watch.failed("no answer within %s s (timeout)" % _drift._fmt(settings["timeout"])))
            continue
        except _azure.AzureError as exc:
            pending = None
            await asyncio.sleep(watch.failed(exc))
            continue
        except Exception as exc:  # the SDK's own exception types: logged and retried, never the end of the watch
            pending = None
            await asyncio.sleep(watch.failed("%s: %s" % (type(exc).__name__, exc)))
            continue
        pending = None
        if watch.failures:
            LOG.info("%s: Azure answered again after %d failed attempt(s)", SOURCE, watch.failures)
            watch.failures = 0
        watch.warn(warnings, time.monotonic(), nothing_read=not machines and bool(warnings))
        for event in watch.events(machines, time.monotonic()):
            await queue.put(event)
        await asyncio.sleep(max(0.0, settings["interval"] - (loop.time() - started)))


if __name__ == "__main__":
    class _PrintQueue:
        async def put(self, event):
            print(event)  # noqa: T201

    logging.basicConfig(level=logging.INFO)
    asyncio.run(main(_PrintQueue(), {"profile": sys.argv[1] if len(sys.argv) > 1 else "defender"}))
