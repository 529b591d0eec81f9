# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""arc_extension_cleanup: deleting from Azure the extension resources that a machine's lockdown refuses.

Internal to arcguard.azcmagent: not a public API, may change without notice.

- ``check_args(args)``: the option errors (naming the option) before Azure is asked, or None.
- ``select(machines, wanted, classifications, host_of)``: the extension resources to delete and those left
  (pure); raises ``CleanupError`` for a ``machines`` entry that names no machine or several.
- ``Arm(conf)``: ``DELETE`` of one extension resource (ARM ``MachineExtensions_Delete``) with 429/Retry-After,
  bounded retries of server errors and dropped connections, and the long-running operation followed through
  ``Azure-AsyncOperation`` or ``Location`` (only on the ARM endpoint's own host: the token goes nowhere else).
- ``cleanup(options, args, check_mode, diff, log)``: list (same Resource Graph pass as arc_machine_info),
  select, delete one request per extension resource; the module's result.
"""

from __future__ import annotations

import json
import random
import re
import time
import urllib.parse

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _arcmachine as arcmachine
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _azure as azure
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _extensions as extensions
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _naming as naming

# MachineExtensions_Delete has the same path in every stable version; 2025-01-13 is a stable version old enough
# to be deployed in every cloud (whether 2026-09-01 already is, is not documented)
API_VERSION = "2025-01-13"
DELETE_PERMISSION = "Microsoft.HybridCompute/machines/extensions/delete"
MAX_RETRIES = 8
MAX_WAIT = 120
POLL_LIMIT = 900          # seconds one delete operation may take before it is reported as not finished
DEFAULT_POLL = 5


class CleanupError(Exception):
    """The clean-up cannot go on; the message never carries the secret."""


def check_args(args):
    """An error message naming the option, or None."""
    classes = args.get("classifications")
    if not isinstance(classes, list) or not classes:
        return "classifications must list at least one of %s" % ", ".join(extensions.DELETABLE + (extensions.FAILED,))
    refused = [c for c in classes if c in (extensions.ALLOWED, extensions.UNKNOWN)]
    if refused:
        return ("classifications: %s is never deleted (only %s); nothing was changed"
                % (", ".join(refused), ", ".join(extensions.DELETABLE + (extensions.FAILED,))))
    for item in args.get("machines") or []:
        if not isinstance(item, str) or not item.strip():
            return "machines: every entry must be a machine name or resource ID, got %r" % (item,)
    return None


def _is_id(text):
    return text.strip().lower().startswith("/subscriptions/")


def select(machines, wanted, classifications, host_of):
    """(targets, skipped): the extension records to delete (each with ``machine`` and ``machine_id``), and those of
    the classes that are left alone (already being deleted). ``wanted``: names or resource IDs; empty is all."""
    chosen = machines
    if wanted:
        chosen, problems = [], []
        for item in wanted:
            text = item.strip()
            if _is_id(text):
                hits = [m for m in machines if str(m.get("resource_id") or "").lower() == text.rstrip("/").lower()]
            else:
                hits = [m for m in machines if str(host_of(m)).lower() == text.lower()]
                if not hits:    # the qualified form, as an inventory with host_naming: qualified names it
                    hits = [m for m in machines if naming.qualified_name(m).lower() == text.lower()]
                if not hits:
                    hits = [m for m in machines if str(m.get("name") or "").lower() == text.lower()]
            if not hits:
                problems.append("%s names no machine of the scopes and filters" % text)
            elif len(hits) > 1:
                problems.append("%s names %d machines (%s); give the resource ID" % (
                    text, len(hits), ", ".join(sorted(str(m.get("resource_id")) for m in hits))))
            for machine in hits[:1] if len(hits) == 1 else []:
                if all(machine is not c for c in chosen):
                    chosen.append(machine)
        if problems:
            raise CleanupError("machines: %s; nothing was changed" % "; ".join(problems))
    targets, skipped = [], []
    wanted_classes = set(classifications)
    for machine in chosen:
        for record in machine.get("extensions") or ():
            if record.get("classification") not in wanted_classes or record["classification"] == extensions.ALLOWED:
                continue
            entry = dict(extensions.public(record), resource_id=record["resource_id"], machine=host_of(machine),
                         machine_id=machine.get("resource_id"), extension=extensions.extension_name(record),
                         requested_by=extensions.requested_by(record))
            if str(record.get("provisioning_state") or "").lower() == "deleting":
                skipped.append(dict(entry, reason="already being deleted"))
            else:
                targets.append(entry)
    return targets, skipped


# ------------------------------------------------------------------------------------------------ ARM

class Arm:
    """Signed-in ARM requests for extension resources. ``sleep`` and ``session`` are replaceable for tests."""

    def __init__(self, conf, log=None, sleep=time.sleep, session=None):
        azure.require_sdk()
        if session is None:
            import requests   # a dependency of azure-core
            session = requests.Session()
        self.conf = conf
        self.log = log or (lambda msg: None)
        self.sleep = sleep
        self.secrets = [s for s in (conf.get("secret"),) if s]
        self.credential = azure.credential(conf)
        self.session = session
        self.base = urllib.parse.urlsplit(conf["arm_endpoint"])
        self.requests_sent = 0

    def scrub(self, text):
        return azure.scrub(str(text), self.secrets)

    def _token(self):
        try:
            return self.credential.get_token(self.conf["scope"]).token
        except Exception as exc:  # azure-identity raises its own types
            raise CleanupError(self.scrub("signing in to Azure failed (auth_source %s): %s"
                                          % (self.conf["auth_source"], " ".join(str(exc).split()))))

    def _wait(self, seconds, why):
        seconds = min(MAX_WAIT, max(0.0, seconds))
        self.log("ARM: %s; waiting %.1f s" % (why, seconds))
        if seconds > 0:
            self.sleep(seconds)

    def _same_host(self, url):
        parts = urllib.parse.urlsplit(url)
        return parts.scheme == "https" and parts.netloc.lower() == self.base.netloc.lower()

    def request(self, method, url, what):
        """One ARM request with bounded retries (429 and Retry-After, 408, 5xx, dropped connections)."""
        attempt = 0
        while True:
            self.requests_sent += 1
            try:
                response = self.session.request(method, url, headers={"Authorization": "Bearer " + self._token(),
                                                                      "Accept": "application/json"},
                                                verify=self.conf["verify"], timeout=(15, 60), allow_redirects=False)
            except OSError as exc:  # requests' errors are OSErrors: refused, reset, timed out, TLS
                attempt += 1
                if attempt > MAX_RETRIES:
                    raise CleanupError(self.scrub("%s: Azure could not be reached after %d retries (%s)"
                                                  % (what, MAX_RETRIES, type(exc).__name__)))
                self._wait(min(MAX_WAIT, 2 ** attempt) * (0.5 + random.random() / 2),
                           "%s: %s, retry %d of %d" % (what, type(exc).__name__, attempt, MAX_RETRIES))
                continue
            status = response.status_code
            if status == 429 or status == 408 or status >= 500:
                attempt += 1
                if attempt > MAX_RETRIES:
                    raise CleanupError(self.scrub("%s: still HTTP %s after %d retries: %s"
                                                  % (what, status, MAX_RETRIES, _error_text(response))))
                wait = azure.retry_after(response.headers)
                if wait is None:
                    wait = min(MAX_WAIT, 2 ** attempt) * (0.5 + random.random() / 2)
                self._wait(wait, "%s: HTTP %s%s, retry %d of %d" % (
                    what, status, ", Retry-After" if "retry-after" in {k.lower() for k in response.headers} else "",
                    attempt, MAX_RETRIES))
                continue
            return response

    def delete(self, resource_id):
        """Delete one extension resource: "deleted" or "absent"; raises CleanupError."""
        what = "deleting %s" % resource_id
        if not extension_id_ok(resource_id):
            raise CleanupError("%s: not the resource ID of a machine extension; not sent" % what)
        url = "%s%s?api-version=%s" % (self.conf["arm_endpoint"], urllib.parse.quote(resource_id, safe="/"),
                                       API_VERSION)
        response = self.request("DELETE", url, what)
        status = response.status_code
        if status == 204:
            return "absent"
        if status == 200:
            return "deleted"
        if status == 202:
            self._follow(response, what)
            return "deleted"
        if status == 403:
            raise CleanupError(self.scrub(
                "%s: Azure refused it (HTTP 403: %s). Deleting extension resources needs the permission %s on the "
                "machines (for example the Azure Connected Machine Resource Administrator role); reading them, "
                "as the inventory does, needs only Reader" % (what, _error_text(response), DELETE_PERMISSION)))
        raise CleanupError(self.scrub("%s: HTTP %s: %s" % (what, status, _error_text(response))))

    def _follow(self, response, what):
        """Wait for a long-running delete: Azure-AsyncOperation (status document) or Location (202 until done)."""
        headers = {k.lower(): v for k, v in response.headers.items()}
        url = headers.get("azure-asyncoperation") or headers.get("location")
        kind = "status" if headers.get("azure-asyncoperation") else "location"
        if not url:
            return      # accepted without a way to follow it: the next listing shows it Deleting or gone
        if not self._same_host(url):
            raise CleanupError(self.scrub("%s: Azure asked to follow the operation at another host (%s); not "
                                          "followed, the token stays on %s" % (what, urllib.parse.urlsplit(url).netloc,
                                                                               self.base.netloc)))
        waited = 0.0
        wait = azure.retry_after(response.headers)
        while True:
            wait = DEFAULT_POLL if wait is None else wait
            if waited + wait > POLL_LIMIT:
                raise CleanupError("%s: accepted by Azure, but not finished after %d s; see the resource in Azure"
                                   % (what, POLL_LIMIT))
            if wait > 0:
                self._wait(wait, "%s: operation running" % what)
            waited += max(wait, 1.0)
            poll = self.request("GET", url, what + " (operation)")
            if kind == "status":
                if poll.status_code != 200:
                    raise CleanupError(self.scrub("%s: the operation answered HTTP %s: %s"
                                                  % (what, poll.status_code, _error_text(poll))))
                try:
                    state = str(poll.json().get("status") or "")
                except (ValueError, AttributeError):
                    state = ""
                if state.lower() == "succeeded":
                    return
                if state.lower() in ("failed", "canceled", "cancelled"):
                    raise CleanupError(self.scrub("%s: the operation ended %s: %s" % (what, state, _error_text(poll))))
            else:
                if poll.status_code in (200, 204):
                    return
                if poll.status_code != 202:
                    raise CleanupError(self.scrub("%s: the operation answered HTTP %s: %s"
                                                  % (what, poll.status_code, _error_text(poll))))
            wait = azure.retry_after(poll.headers)


_ID = re.compile(r"^/subscriptions/[^/]+/resourcegroups/[^/]+/providers/microsoft\.hybridcompute/machines/[^/]+/"
                 r"extensions/[^/]+$", re.I)


def extension_id_ok(resource_id):
    """Is ``resource_id`` exactly a machine extension's ID (nothing that a DELETE could resolve elsewhere)?"""
    text = str(resource_id or "")
    if not _ID.match(text) or any(ord(ch) < 0x20 or ch in "?#%\\" or ch.isspace() for ch in text):
        return False
    return all(part not in (".", "..") for part in text.split("/")[1:])


def _error_text(response):
    try:
        doc = response.json()
    except ValueError:
        doc = None
    error = doc.get("error") if isinstance(doc, dict) else None
    if isinstance(error, dict):
        text = "%s: %s" % (error.get("code"), error.get("message"))
    elif isinstance(doc, dict) and doc.get("status"):
        text = json.dumps(doc)[:300]
    else:
        text = (response.text or "")[:300] or response.reason or ""
    return " ".join(str(text).split())


# ------------------------------------------------------------------------------------------------ the module

def _line(entry):
    return "%s: %s (%s) %s" % (entry["machine"], entry["extension"], entry["name"], entry["classification"])


def cleanup(options, args, check_mode, diff, log=None, sleep=time.sleep, host_of=None):
    """The result of arc_extension_cleanup (raises CleanupError or AzureError)."""
    machines, warnings = azure.list_machines(options, log=log, sleep=sleep, extensions=True)
    if host_of is None:
        names = naming.host_names(machines)     # over every machine listed, before the filters: the one rule

        def host_of(machine):
            return names.host(machine) or str(machine.get("name"))
    picked = [m for m in machines if arcmachine.matches(m, args.get("include_statuses"), args.get("include_os"),
                                                        args.get("tags"))]
    targets, skipped = select(picked, args.get("machines") or [], args["classifications"], host_of)
    result = {"changed": False, "deleted": [], "skipped": skipped, "warnings": warnings}
    if diff:
        result["diff"] = {"before": "".join(_line(t) + "\n" for t in targets), "after": "",
                          "before_header": "extension resources in Azure", "after_header": "after the clean-up"}
    if check_mode:
        result["would_delete"] = targets
        result["changed"] = bool(targets)
        return result
    arm = Arm(azure.settings(options), log=log, sleep=sleep) if targets else None
    failures = []
    for target in targets:
        try:
            outcome = arm.delete(target["resource_id"])
        except CleanupError as exc:
            failures.append(str(exc))
            if DELETE_PERMISSION in str(exc):
                break           # the same identity on the next one: it would be refused again
            continue
        if outcome == "deleted":
            result["deleted"].append(target)
            result["changed"] = True
    if failures:
        done = [t["resource_id"] for t in result["deleted"]]
        left = [t["resource_id"] for t in targets if t["resource_id"] not in done]
        result.update(failed=True, msg="%s. Deleted: %d; not deleted: %s" % (
            "; ".join(failures), len(done), ", ".join(left) or "none"))
        if diff:
            result["diff"]["after"] = "".join(_line(t) + "\n" for t in targets if t["resource_id"] in left)
    return result
