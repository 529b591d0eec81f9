# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connecting the agent to Azure: options, the `show --json` decision, and the connect/disconnect steps.

Internal to arcguard.azcmagent: not a public API, may change without notice.

Pure: nothing here runs anything. The action plugin reads `azcmagent show --json` once, asks ``decide``
what to do, and runs the steps of ``plan_steps`` as one remote command. Secrets (a service principal's
secret, an access token) never become an argument: they are written to a file that only root (on
Windows: SYSTEM and Administrators) can read, passed with azcmagent's ``--config`` option, and removed
when the remote command ends (see ``_secrets.SecretFile``).
"""

from __future__ import annotations

import json
import re
import secrets as _random

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _parsers as parsers
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._secrets import SecretFile
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._options import shared_spec

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# ARM: ^[a-zA-Z0-9-_\.]{1,54}$; the agent (AZCM0102): no trailing hyphen or underscore
RESOURCE_NAME = re.compile(r"^[A-Za-z0-9_.-]{0,53}[A-Za-z0-9.]$")
RESOURCE_GROUP = re.compile(r"^[-\w._()]{0,89}[-\w_()]$")
REGION = re.compile(r"^[a-z][a-z0-9]{2,39}$")
CLOUDS = ("AzureCloud", "AzureUSGovernment", "AzureChinaCloud")
ARM_ID = re.compile(r"^/subscriptions/[^/\s]+/resourceGroups/[^/\s]+/providers/[A-Za-z.]+/[^\s]+$", re.IGNORECASE)
STATUSES = ("Connected", "Disconnected", "Expired")

ARGUMENT_SPEC = dict(
    state=dict(type="str", default="connected", choices=["connected", "disconnected"]),
    tenant_id=dict(type="str"),
    subscription_id=dict(type="str"),
    resource_group=dict(type="str"),
    location=dict(type="str"),
    resource_name=dict(type="str"),
    cloud=dict(type="str", default="AzureCloud", choices=list(CLOUDS)),
    tags=dict(type="dict"),
    correlation_id=dict(type="str"),
    private_link_scope=dict(type="str"),
    gateway_id=dict(type="str"),
    service_principal_id=dict(type="str"),
    service_principal_secret=dict(type="str", no_log=True),
    service_principal_cert=dict(type="str"),
    access_token=dict(type="str", no_log=True),
    reconnect=dict(type="bool", default=False),
    force_local_only=dict(type="bool", default=False),
    wait_timeout=dict(type="int", default=0),
    **{name: spec for name, spec in shared_spec(timeout=600).items() if name in ("executable", "timeout")}
)

# module option -> azcmagent flag, in the order they go on the command line (all of them non-secret)
PLACEMENT_FLAGS = (
    ("subscription_id", "--subscription-id"), ("resource_group", "--resource-group"), ("location", "--location"),
    ("tenant_id", "--tenant-id"), ("resource_name", "--resource-name"), ("cloud", "--cloud"),
    ("correlation_id", "--correlation-id"), ("private_link_scope", "--private-link-scope"),
    ("gateway_id", "--gateway-id"),
)
SECRET_OPTIONS = (("service_principal_secret", "service-principal-secret"), ("access_token", "access-token"))


class OptionError(ValueError):
    """Bad input: the message names the option; nothing has run."""


# ----------------------------------------------------------------------------- validation


def validate(options, os_name):
    """Check ``options`` (after the argument spec) for what the agent would refuse, before anything runs."""
    opts = options
    state = opts["state"]
    if opts.get("timeout") is not None and opts["timeout"] < 0:
        raise OptionError("timeout must be 0 (no limit) or a number of seconds, got %s" % opts["timeout"])
    if opts.get("wait_timeout") is not None and opts["wait_timeout"] < 0:
        raise OptionError("wait_timeout must be 0 or more seconds, got %s" % opts["wait_timeout"])
    for name in ("tenant_id", "subscription_id", "correlation_id"):
        value = opts.get(name)
        if value is not None and not GUID.match(value):
            hint = ""
            if name == "subscription_id":
                hint = (" (the agent accepts a subscription name, but only the ID lets a second run see that the "
                        "machine is already connected there)")
            raise OptionError("%s must be a GUID such as aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee, got %r%s"
                              % (name, value, hint))
    auth = [name for name in ("service_principal_secret", "service_principal_cert", "access_token") if opts.get(name)]
    if len(auth) > 1:
        raise OptionError("give one of service_principal_secret, service_principal_cert and access_token, not %s"
                          % " and ".join(auth))
    if opts.get("service_principal_id") and not auth:
        raise OptionError("service_principal_id needs service_principal_secret or service_principal_cert")
    if (opts.get("service_principal_secret") or opts.get("service_principal_cert")) and not opts.get(
            "service_principal_id"):
        raise OptionError("%s needs service_principal_id (the application ID)" % auth[0])
    if opts.get("access_token") and opts.get("service_principal_id"):
        raise OptionError("service_principal_id is not used with access_token; give one authentication method")
    if opts.get("service_principal_id") and not opts.get("tenant_id") and state == "connected":
        raise OptionError("tenant_id is required with a service principal")
    for name in ("service_principal_secret", "access_token"):
        value = opts.get(name)
        if value is not None and (not value.strip() or "\n" in value or "\r" in value or "\x00" in value):
            raise OptionError("%s must be one line of text, without NUL characters" % name)
    if opts.get("service_principal_cert") is not None:
        _plain_argument("service_principal_cert", opts["service_principal_cert"], os_name)
    if opts.get("service_principal_id") is not None:
        _plain_argument("service_principal_id", opts["service_principal_id"], os_name)
    if state == "disconnected":
        if not opts.get("force_local_only") and not auth:
            raise OptionError("state=disconnected deletes the machine's resource in Azure and needs credentials "
                              "(service_principal_id with service_principal_secret or service_principal_cert, or "
                              "access_token); force_local_only=true only resets the local agent")
        return
    missing = [name for name in ("subscription_id", "resource_group", "location") if not opts.get(name)]
    if missing:
        raise OptionError("state=connected needs %s" % ", ".join(missing))
    if not auth:
        raise OptionError("state=connected needs credentials: service_principal_id with service_principal_secret "
                          "or service_principal_cert, or access_token (interactive and device-code sign-in cannot "
                          "run unattended)")
    if not RESOURCE_GROUP.match(opts["resource_group"]):
        raise OptionError("resource_group %r is not a resource group name (letters, digits, '-', '_', '.', '(', "
                          "')'; up to 90 characters, not ending with '.')" % opts["resource_group"])
    if not REGION.match(opts["location"]):
        raise OptionError("location must be an Azure region name such as westeurope or eastus (lower case, no "
                          "spaces), got %r" % opts["location"])
    name = opts.get("resource_name")
    if name is not None and not RESOURCE_NAME.match(name):
        raise OptionError("resource_name %r is not valid: 1 to 54 letters, digits, '-', '_' and '.', not ending "
                          "with '-' or '_'" % name)
    for key in ("private_link_scope", "gateway_id"):
        if opts.get(key) is not None and not ARM_ID.match(opts[key]):
            raise OptionError("%s must be a resource ID (/subscriptions/.../resourceGroups/.../providers/...), got %r"
                              % (key, opts[key]))
    tags_argument(opts.get("tags"), os_name)


def _plain_argument(name, value, os_name):
    if not value or "\x00" in value or "\n" in value or "\r" in value:
        raise OptionError("%s must be one line of text" % name)
    if os_name == "windows" and ('"' in value or value.endswith("\\")):
        raise OptionError("%s cannot contain a double quote or end with a backslash on Windows: PowerShell 5.1 "
                          "does not pass such arguments to native programs intact" % name)


def _tag_word(text):
    """A tag name or value as --tags takes it: single-quoted where it holds white space."""
    return "'%s'" % text if (" " in text or "\t" in text) else text


def tags_argument(tags, os_name="linux"):
    """The ``--tags`` value: ``Name=Value,Other='with spaces'``, or None. Refuses what the format cannot carry."""
    if not tags:
        return None
    parts = []
    for key in sorted(tags):
        value = tags[key]
        if isinstance(value, bool):
            value = "true" if value else "false"
        key, value = str(key), "" if value is None else str(value)
        for what, text in (("name", key), ("value", value)):
            bad = [c for c in ",='\"\n\r\x00" if c in text]
            if bad:
                raise OptionError("tags: the tag %s %r contains %r, which the --tags format (Name=Value pairs "
                                  "separated by commas, single quotes around spaces) cannot carry"
                                  % (what, text, bad[0]))
        if not key.strip():
            raise OptionError("tags: a tag name cannot be empty")
        if len(key) > 512 or len(value) > 256:
            raise OptionError("tags: Azure takes tag names up to 512 and values up to 256 characters (%r)" % key)
        parts.append("%s=%s" % (_tag_word(key), _tag_word(value)))
    text = ",".join(parts)
    if os_name == "windows" and text.endswith("\\"):
        raise OptionError("tags: the last tag value cannot end with a backslash on Windows")
    return text


# ----------------------------------------------------------------------------- show


CONNECTION_KEYS = ("status", "resource_id", "resource_name", "resource_group", "subscription_id", "tenant_id",
                   "location", "cloud")


class ShowError(ValueError):
    pass


def parse_show(stdout):
    """`show --json` (any key spelling, empty fields as "", null or absent; or the text layout) -> connection dict."""
    try:
        doc = parsers.parse_show(stdout)
    except parsers.ParseError as exc:
        raise ShowError(str(exc))
    out = {key: "" for key in CONNECTION_KEYS + ("agent_version", "last_heartbeat")}
    out.update(parsers.show_fields(doc))
    if not out["status"]:
        raise ShowError("the output has no status")
    rid = out["resource_id"]
    if rid:  # fill what the resource ID says when a field is missing under every spelling we know
        match = re.match(r"^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/[^/]+/[^/]+/([^/]+)$", rid,
                         re.IGNORECASE)
        if match:
            for field, value in zip(("subscription_id", "resource_group", "resource_name"), match.groups()):
                out[field] = out[field] or value
    return out


def connection_view(conn):
    """The part of a connection shown in diffs and results."""
    return {key: conn.get(key, "") for key in CONNECTION_KEYS}


def describe(conn):
    """A resource in one phrase, for messages."""
    if conn.get("resource_id"):
        where = conn["resource_id"]
    else:
        where = "resource %s in resource group %s of subscription %s" % (
            conn.get("resource_name") or "(named after the host)", conn.get("resource_group"),
            conn.get("subscription_id"))
    tenant = conn.get("tenant_id")
    return "%s (tenant %s)" % (where, tenant) if tenant else where


def desired_connection(options):
    rid = ""
    if options.get("resource_name"):
        rid = "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.HybridCompute/machines/%s" % (
            options["subscription_id"], options["resource_group"], options["resource_name"])
    return {"status": "Connected", "resource_id": rid, "resource_name": options.get("resource_name") or "",
            "resource_group": options["resource_group"], "subscription_id": options["subscription_id"],
            "tenant_id": options.get("tenant_id") or "", "location": options["location"],
            "cloud": options.get("cloud") or "AzureCloud"}


def same_resource(current, options):
    """Is ``current`` the resource ``options`` ask for? (Azure compares these names case-insensitively.)"""
    def eq(a, b):
        return (a or "").lower() == (b or "").lower()
    if options.get("tenant_id") and not eq(current.get("tenant_id"), options["tenant_id"]):
        return False
    if not eq(current.get("subscription_id"), options["subscription_id"]):
        return False
    if not eq(current.get("resource_group"), options["resource_group"]):
        return False
    if options.get("resource_name") and not eq(current.get("resource_name"), options["resource_name"]):
        return False
    return True


class Decision:
    """What one `show --json` read means: ``action`` none, connect, disconnect, reconnect or fail."""

    def __init__(self, action, msg="", warnings=()):
        self.action = action
        self.msg = msg
        self.warnings = list(warnings)

    def __repr__(self):
        return "Decision(%r, %r)" % (self.action, self.msg)


def decide(current, options):
    state = options["state"]
    status = current.get("status", "")
    known = {s.lower(): s for s in STATUSES}
    status = known.get(status.lower(), status)
    if status not in STATUSES:
        return Decision("fail", "azcmagent show reports the status %r, which this module does not know (expected %s); "
                                "nothing was changed" % (status, ", ".join(STATUSES)))
    if state == "disconnected":
        if status == "Disconnected":
            return Decision("none")
        return Decision("disconnect")
    if status == "Disconnected":
        return Decision("connect")
    same = same_resource(current, options)
    if status == "Expired":
        if options.get("reconnect"):
            return Decision("reconnect")
        return Decision("fail", "the agent's connection to %s has expired (the machine was disconnected long enough "
                                "for its managed identity to expire). Set reconnect: true to disconnect and connect "
                                "again%s, or run azcmagent disconnect --force-local-only and connect."
                        % (describe(current), "" if same else " to %s" % describe(desired_connection(options))))
    if same:
        warnings = []
        for key in ("location", "cloud"):
            wanted = options.get(key) or ("AzureCloud" if key == "cloud" else "")
            if current.get(key) and wanted and current[key].lower() != wanted.lower():
                warnings.append("the machine is connected to the requested resource, but its %s is %s, not %s; "
                                "only reconnecting changes it (a resource's %s cannot be changed)"
                                % (key, current[key], wanted, key))
        return Decision("none", warnings=warnings)
    if options.get("reconnect"):
        return Decision("reconnect")
    return Decision("fail", "the agent is already connected to %s, not to %s. Nothing was changed. Set reconnect: "
                            "true to disconnect it (which deletes that resource in Azure) and connect it to the "
                            "requested one." % (describe(current), describe(desired_connection(options))))


# ----------------------------------------------------------------------------- steps


def secret_document(options, state):
    """The --config file's contents: the secret only (every other input is a non-secret flag). None without one."""
    doc = {}
    for option, key in SECRET_OPTIONS:
        if options.get(option):
            doc[key] = options[option]
    if not doc:
        return None
    return json.dumps(doc, sort_keys=True, ensure_ascii=True)


def auth_flags(options):
    argv = []
    if options.get("service_principal_id"):
        argv += ["--service-principal-id", options["service_principal_id"]]
    if options.get("service_principal_cert"):
        argv += ["--service-principal-cert", options["service_principal_cert"]]
    return argv


def connect_argv(options, config, os_name="linux"):
    """`connect` arguments; ``config`` is the --config argument (a SecretFile) or None."""
    argv = ["connect"]
    if config is not None:
        argv += ["--config", config]
    argv += auth_flags(options)
    for option, flag in PLACEMENT_FLAGS:
        if options.get(option):
            argv += [flag, options[option]]
    tags = tags_argument(options.get("tags"), os_name)
    if tags:
        argv += ["--tags", tags]
    return argv


def disconnect_argv(options, config):
    argv = ["disconnect"]
    if options.get("force_local_only"):
        return argv + ["--force-local-only"]
    if config is not None:
        argv += ["--config", config]
    # no --tenant-id: the reference does not list it for disconnect; the agent knows its tenant
    return argv + auth_flags(options)


SHOW_ARGV = ["show", "--json"]


def plan_steps(action, options, os_name="linux", name=None):
    """The azcmagent steps of ``action`` (connect, disconnect, reconnect), ending with a `show --json` read back."""
    content = secret_document(options, options["state"])
    config = None
    if content is not None and not (action == "disconnect" and options.get("force_local_only")):
        config = SecretFile(content, name or _random.token_hex(16))
    steps = []
    if action in ("disconnect", "reconnect"):
        # reconnecting deletes the old resource with the same credentials (force_local_only: locally only)
        steps.append(disconnect_argv(options, config))
    if action in ("connect", "reconnect"):
        steps.append(connect_argv(options, config, os_name))
    steps.append(list(SHOW_ARGV))
    return steps


def secret_values(options):
    return [options[o] for o, _k in SECRET_OPTIONS if options.get(o)]


# ----------------------------------------------------------------------------- failures

# exit code -> what to do; AZCM codes from the reference's troubleshooting table
ADVICE = {
    12: "the access token is invalid or expired: get a fresh one (for example with az account get-access-token) "
        "just before the task",
    16: "a mandatory parameter is missing",
    18: "run the task with become: true on Linux, or as an elevated Administrator on Windows",
    19: "the --config file could not be read on the target",
    20: "location is not a region the agent knows",
    23: "azcmagent refused an argument",
    26: "the machine cannot reach Azure: check the network, the proxy (azcmagent_config proxy_url) and, with "
        "private endpoints, private_link_scope",
    41: "the credentials were refused: check service_principal_id, its secret or certificate, and tenant_id",
    42: "Azure did not create the resource: check that the service principal has the Azure Connected Machine "
        "Onboarding role on the resource group and that Microsoft.HybridCompute is registered in the subscription",
    43: "Azure did not delete the resource (a resource lock?); force_local_only: true resets only the agent",
    44: "a resource with that name already exists: choose another resource_name or delete the old resource",
    62: "connecting failed; delete the resource in Azure if it was created, then run again",
    63: "disconnecting failed; force_local_only: true resets only the agent",
    67: "the machine is already connected; set reconnect: true to move it",
    68: "use the subscription's ID, not its name",
    75: "the agent could not obtain the cloud configuration: check the network and cloud",
}


def azcm_code(stdout, stderr):
    """The first `AZCMnnnn` code the agent printed, or None."""
    for stream in (stdout or "", stderr or ""):
        match = re.search(r"\bAZCM(\d{4})\b", stream)
        if match:
            return "AZCM" + match.group(1)
    return None


def fatal_line(stdout, stderr):
    for stream in (stderr or "", stdout or ""):
        for line in stream.splitlines():
            if line.startswith("FATAL"):
                return line[len("FATAL"):].strip()
    return ""


def failure(rc, stdout, stderr, what):
    """(message, code) for a failed connect/disconnect; ``what`` is the command as shown."""
    code = azcm_code(stdout, stderr)
    number = int(code[4:]) if code else rc
    says = fatal_line(stdout, stderr) or parsers.error_message(stdout, stderr)
    msg = "%s failed with exit code %s%s" % (what, rc, " (%s)" % code if code else "")
    if says:
        msg += ": " + says
    advice = ADVICE.get(number) or ADVICE.get(rc)
    if advice:
        msg += ". What to do: " + advice
    return msg, code
