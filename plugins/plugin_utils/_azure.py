# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading the Arc-enabled servers from Azure Resource Graph, on the controller.

Internal to arcguard.azcmagent: not a public API, may change without notice.

``list_machines(options, log=None)`` returns ``(machines, warnings)``: every
``Microsoft.HybridCompute/machines`` resource of the scopes, normalised by ``_arcmachine.normalise_row``,
and the warnings (a scope the identity may not read, a truncated answer...). Sign-in is azure-identity's;
the queries go through ``azure-mgmt-resourcegraph`` with the SDK's own retries off, so that throttling is
handled here for every answer: ``Retry-After`` (and ``retry-after-ms``), the ``x-ms-user-quota-*`` headers,
bounded retries. Errors are ``AzureError`` (never carrying the secret); a missing SDK is
``AzureSdkMissing``, with the one line that says what to install.
"""

from __future__ import annotations

import os
import random
import re
import time
import urllib.parse

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _arcmachine as arcmachine
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _extensions as extensions_
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._secrets import redact_url, scrub

try:
    from azure.core.exceptions import (ClientAuthenticationError, HttpResponseError, ServiceRequestError,
                                       ServiceResponseError)
    from azure.identity import (AzureCliCredential, ClientSecretCredential, DefaultAzureCredential,
                                EnvironmentCredential, ManagedIdentityCredential)
    from azure.mgmt.resourcegraph import ResourceGraphClient
    from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions
    SDK_IMPORT_ERROR = None
except ImportError as exc:  # the modules of the collection work without the SDK; only Azure lookups need it
    SDK_IMPORT_ERROR = exc

SDK_PACKAGES = ("azure-identity", "azure-mgmt-resourcegraph")
PAGE_SIZE = 1000              # Resource Graph's maximum rows per answer
SUBSCRIPTIONS_PER_QUERY = 300  # Microsoft's advice for grouping subscriptions in one query
MAX_RETRIES = 8               # per request: throttled or failing answers retried at most this often
MAX_WAIT = 120                # seconds: longest single wait honoured
# Only the columns the collection reads (whole rows are 5 to 7 KB; these about a tenth of that): the same
# query for the inventory, arc_machine_info, the audit and the drift source. ``_arcmachine.normalise_row``
# reads the flattened property columns as it reads ``properties``.
PROPERTY_COLUMNS = ("status", "agentVersion", "osType", "osName", "osVersion", "lastStatusChange", "machineFqdn",
                    "dnsFqdn", "agentConfiguration")
QUERY = ("resources | where type =~ 'microsoft.hybridcompute/machines' | project id, name, location, tags, "
         "resourceGroup, subscriptionId, "
         + ", ".join("%s = properties.%s" % (c, c) for c in PROPERTY_COLUMNS))
FULL_QUERY = "resources | where type =~ 'microsoft.hybridcompute/machines'"
# a connection dropped or a read timed out: retried at most this often, then one line
MAX_CONNECTION_RETRIES = 3
READ_TIMEOUT = 60             # seconds without a byte of an answer: a read timeout (retried as above)
VISIBLE_QUERY = "resourcecontainers | where type =~ 'microsoft.resources/subscriptions' | project id, subscriptionId"

AUTH_SOURCES = ("auto", "env", "cli", "msi")
# cloud -> (ARM endpoint, token scope, authority host); azure-reference.md section 7.8
CLOUDS = {
    "AzureCloud": ("https://management.azure.com", "https://management.azure.com/.default",
                   "login.microsoftonline.com"),
    "AzureUSGovernment": ("https://management.usgovcloudapi.net",
                          "https://management.core.usgovcloudapi.net/.default", "login.microsoftonline.us"),
    "AzureChinaCloud": ("https://management.chinacloudapi.cn", "https://management.chinacloudapi.cn/.default",
                        "login.chinacloudapi.cn"),
}
# hosts MSAL knows itself; any other authority has its instance discovery turned off
WELL_KNOWN_AUTHORITIES = (
    "login.microsoftonline.com", "login.microsoft.com", "login.windows.net", "sts.windows.net",
    "login.chinacloudapi.cn", "login.partner.microsoftonline.cn", "login.microsoftonline.de",
    "login-us.microsoftonline.com", "login.microsoftonline.us", "login.usgovcloudapi.net",
)
THROTTLED_CODES = ("ratelimiting", "throttled", "toomanyrequests")
SCOPE_CODES = ("authorizationfailed", "noValidsubscriptionsinqueryrequest".lower(), "subscriptionnotfound",
               "invalidsubscriptionid", "managementgroupnotfound", "forbidden", "linkedauthorizationfailed")


class AzureError(Exception):
    """Azure could not be read; the message never contains the secret."""


class AzureSdkMissing(AzureError):
    """The Azure SDK for Python is not installed where the controller runs."""


def require_sdk():
    if SDK_IMPORT_ERROR is not None:
        raise AzureSdkMissing(
            "the Azure SDK for Python is missing on the controller (%s): install it with 'pip install %s' in the "
            "Python that runs Ansible (or add it to the execution environment: meta/ee-requirements.txt)"
            % (SDK_IMPORT_ERROR, " ".join(SDK_PACKAGES)))


# ------------------------------------------------------------------------------------------------ options

def _text(value):
    return "" if value is None else str(value).strip()


def _list(name, value):
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, (list, tuple)):
        raise AzureError("%s must be a list, got %r" % (name, value))
    out = []
    for item in value:
        text = _text(item)
        if not text:
            raise AzureError("%s: empty entry" % name)
        if text.lower() not in [o.lower() for o in out]:
            out.append(text)
    return out


_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# host[:port][/path]: a DNS name, an IPv4 address or a bracketed IPv6 address
_URL_REST = re.compile(r"^(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]"
                       r"{0,61}[A-Za-z0-9_])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~%!$&'()*+,;=:@/-]*)?$")
# Azure's machine statuses (the ARM enum, and Expired, which the agent and portal show); the enum is extensible
KNOWN_STATUSES = ("Connected", "Disconnected", "Error", "AwaitingConnection", "Expired")


def _https(name, value):
    text = _text(value).rstrip("/")
    if not text:
        return ""
    if "://" not in text:
        text = "https://" + text
    if not text.lower().startswith("https://"):
        raise AzureError("%s must be an https URL (TLS verification stays on), got %s" % (name, redact_url(text)))
    try:
        port = urllib.parse.urlsplit(text).port
    except ValueError:
        port = -1
    if not _URL_REST.match(text[len("https://"):]) or port is not None and not 0 < port < 65536:
        raise AzureError("%s must be an https URL such as https://management.example.com (a host name or address, "
                         "an optional port and path), got %r" % (name, redact_url(text)))
    return text


def _subscriptions(value):
    subs = _list("subscriptions", value)
    bad = [s for s in subs if not _GUID.match(s)]
    if bad:
        raise AzureError("subscriptions must be subscription IDs (GUIDs such as aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee, "
                         "not subscription names), got %s" % ", ".join(repr(s) for s in bad))
    return subs


def status_warning(statuses):
    """A warning for the entries of include_statuses that are none of the statuses Azure is known to give
    (case-insensitive), or None. Only a warning: Azure's list of statuses may grow."""
    known = {s.lower() for s in KNOWN_STATUSES}
    unknown = [str(s) for s in statuses or () if str(s).lower() not in known]
    if not unknown:
        return None
    return ("include_statuses: %s %s not a status Azure is known to give (%s); no machine may match"
            % (", ".join(repr(s) for s in unknown), "is" if len(unknown) == 1 else "are", ", ".join(KNOWN_STATUSES)))


# option -> environment variables that give its default (the inventory plugin's documentation names the same)
ENVIRONMENT = {
    "auth_source": ("ANSIBLE_AZURE_AUTH_SOURCE",),
    "client_id": ("AZURE_CLIENT_ID",),
    "secret": ("AZURE_SECRET", "AZURE_CLIENT_SECRET"),
    "tenant": ("AZURE_TENANT", "AZURE_TENANT_ID"),
    "cloud": ("AZURE_CLOUD_ENVIRONMENT",),
    "arm_endpoint": ("AZURE_ARM_ENDPOINT",),
    "authority_host": ("AZURE_AUTHORITY_HOST",),
}
OPTION_NAMES = ("subscriptions", "management_groups") + tuple(ENVIRONMENT)


def with_environment(options, environ=None):
    """The options with each unset one taken from its environment variable, as the inventory plugin does."""
    environ = os.environ if environ is None else environ
    out = dict(options or {})
    for name, variables in ENVIRONMENT.items():
        if out.get(name) in (None, ""):
            for variable in variables:
                if environ.get(variable):
                    out[name] = environ[variable]
                    break
    return out


def settings(options):
    """The validated connection settings out of the options (the plugin's option names)."""
    options = options or {}
    source = _text(options.get("auth_source")) or "auto"
    if source not in AUTH_SOURCES:
        raise AzureError("auth_source must be one of %s, got %r" % (", ".join(AUTH_SOURCES), source))
    cloud = _text(options.get("cloud")) or "AzureCloud"
    known = {c.lower(): c for c in CLOUDS}
    if cloud.lower() not in known:
        raise AzureError("cloud must be one of %s (or give arm_endpoint and authority_host), got %r"
                         % (", ".join(CLOUDS), cloud))
    arm, scope, authority = CLOUDS[known[cloud.lower()]]
    custom_arm = _https("arm_endpoint", options.get("arm_endpoint"))
    if custom_arm:
        arm, scope = custom_arm, custom_arm + "/.default"
    custom_authority = _https("authority_host", options.get("authority_host"))
    if custom_authority:
        authority = custom_authority
    host = re.sub(r"^https://", "", authority).split("/")[0].split(":")[0].lower()
    out = {
        "auth_source": source,
        "cloud": known[cloud.lower()],
        "arm_endpoint": arm,
        "scope": scope,
        "authority": authority if authority.startswith("https://") else "https://" + authority,
        "instance_discovery": host in WELL_KNOWN_AUTHORITIES,
        "subscriptions": _subscriptions(options.get("subscriptions")),
        "management_groups": _list("management_groups", options.get("management_groups")),
        "client_id": _text(options.get("client_id")),
        "secret": _text(options.get("secret")),
        "tenant": _text(options.get("tenant")),
    }
    if source == "auto" and out["secret"]:
        missing = [n for n in ("client_id", "secret", "tenant") if not out[n]]
        if missing:
            raise AzureError("signing in with a client secret needs client_id, secret and tenant; missing: %s"
                             % ", ".join(missing))
    # CA bundle: requests reads REQUESTS_CA_BUNDLE itself; SSL_CERT_FILE is passed on explicitly
    out["verify"] = True
    if not os.environ.get("REQUESTS_CA_BUNDLE") and not os.environ.get("CURL_CA_BUNDLE") \
            and os.environ.get("SSL_CERT_FILE"):
        out["verify"] = os.environ["SSL_CERT_FILE"]
    return out


def credential(conf):
    """The azure-identity credential for ``conf`` (from ``settings``)."""
    require_sdk()
    common = {"connection_verify": conf["verify"]}
    authority = {"authority": conf["authority"]}
    if not conf["instance_discovery"]:
        authority["disable_instance_discovery"] = True
    source = conf["auth_source"]
    if source == "auto" and conf["secret"]:
        return ClientSecretCredential(conf["tenant"], conf["client_id"], conf["secret"], **dict(common, **authority))
    if source == "auto":
        return DefaultAzureCredential(exclude_interactive_browser_credential=True, **dict(common, **authority))
    if source == "env":
        return EnvironmentCredential(**dict(common, **authority))
    if source == "cli":
        return AzureCliCredential(tenant_id=conf["tenant"] or None)
    kwargs = dict(common)
    if conf["client_id"]:
        kwargs["client_id"] = conf["client_id"]
    return ManagedIdentityCredential(**kwargs)


# ------------------------------------------------------------------------------------------------ querying

def _header(headers, name):
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return value
    return None


def _seconds(text):
    """``hh:mm:ss`` (x-ms-user-quota-resets-after) as seconds, or None."""
    match = re.fullmatch(r"\s*(\d+):(\d{1,2}):(\d{1,2}(?:\.\d+)?)\s*", str(text or ""))
    if not match:
        return None
    return int(match.group(1)) * 3600 + int(match.group(2)) * 60 + float(match.group(3))


def retry_after(headers):
    """The wait a throttled answer asks for, in seconds, or None: Retry-After, retry-after-ms, quota reset."""
    for name, scale in (("retry-after-ms", 0.001), ("x-ms-retry-after-ms", 0.001)):
        value = _header(headers, name)
        if value is not None:
            try:
                return max(0.0, float(value) * scale)
            except ValueError:
                pass
    value = _header(headers, "retry-after")
    if value is not None:
        try:
            return max(0.0, float(value))
        except ValueError:
            from email.utils import parsedate_to_datetime
            try:
                return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
            except (TypeError, ValueError):
                pass
    return _seconds(_header(headers, "x-ms-user-quota-resets-after"))


def _error_code(exc):
    code = getattr(getattr(exc, "error", None), "code", None) or ""
    details = getattr(getattr(exc, "error", None), "details", None) or []
    codes = [str(code)] + [str(getattr(d, "code", "") or "") for d in details]
    return [c.lower() for c in codes if c]


def _error_text(exc):
    error = getattr(exc, "error", None)
    parts = []
    if error is not None:
        parts.append("%s: %s" % (error.code, error.message) if error.code else str(error.message))
        for detail in getattr(error, "details", None) or []:
            if getattr(detail, "message", None) and detail.message not in parts[0]:
                parts.append("%s: %s" % (detail.code, detail.message))
    text = "; ".join(p for p in parts if p) or str(getattr(exc, "message", None) or exc)
    return " ".join(text.split())


def _connection_text(exc):
    """One line for a connection failure: the innermost cause's type and text (RemoteDisconnected: ...)."""
    inner = exc
    seen = set()
    while getattr(inner, "__cause__", None) is not None or getattr(inner, "inner_exception", None) is not None:
        if id(inner) in seen:
            break
        seen.add(id(inner))
        inner = getattr(inner, "inner_exception", None) or inner.__cause__
    text = " ".join(str(inner).split()) or type(inner).__name__
    name = type(inner).__name__
    return text if text.startswith(name) else "%s: %s" % (name, text)


class _ScopeError(Exception):
    def __init__(self, message):
        super().__init__(message)
        self.message = message


class Client:
    """One signed-in Resource Graph client with throttling handled. ``sleep`` is replaceable for tests."""

    def __init__(self, conf, log=None, sleep=time.sleep):
        require_sdk()
        self.conf = conf
        self.log = log or (lambda msg: None)
        self.sleep = sleep
        self.secrets = [s for s in (conf.get("secret"),) if s]
        self.queries = 0
        self.throttled = 0
        self._next_at = 0.0
        try:
            self.credential = credential(conf)
            self.client = ResourceGraphClient(self.credential, base_url=conf["arm_endpoint"],
                                              credential_scopes=[conf["scope"]], connection_verify=conf["verify"],
                                              retry_total=0)
        except ValueError as exc:   # azure-identity refuses the authority, for example
            raise AzureError(self.scrub("cannot sign in to Azure: %s" % exc))

    def scrub(self, text):
        return scrub(str(text), self.secrets)

    def _wait(self, seconds, why):
        seconds = min(MAX_WAIT, max(0.0, seconds))
        if seconds > 0:
            self.log("Resource Graph: %s; waiting %.1f s" % (why, seconds))
            self.sleep(seconds)

    def query(self, body, scope_text):
        """One Resource Graph request with bounded retries; returns the QueryResponse."""
        request = QueryRequest(query=body["query"], subscriptions=body.get("subscriptions") or None,
                               management_groups=body.get("management_groups") or None,
                               options=QueryRequestOptions(**body["options"]))
        attempt = dropped = 0
        while True:
            delay = self._next_at - time.time()
            if delay > 0:
                self._wait(delay, "quota used up (x-ms-user-quota-remaining: 0)")
            self.queries += 1
            try:
                result, headers = self.client.resources(
                    request, cls=lambda response, deserialized, _h: (deserialized, response.http_response.headers),
                    read_timeout=READ_TIMEOUT)
            except ClientAuthenticationError as exc:
                raise AzureError(self.scrub("signing in to Azure failed (auth_source %s): %s"
                                            % (self.conf["auth_source"], _error_text(exc))))
            except HttpResponseError as exc:
                response = getattr(exc, "response", None)
                status = getattr(response, "status_code", None)
                headers = getattr(response, "headers", {}) or {}
                codes = _error_code(exc)
                throttled = status == 429 or any(c in THROTTLED_CODES for c in codes)
                if throttled or (status or 0) >= 500 or status == 408:
                    attempt += 1
                    if throttled:
                        self.throttled += 1
                    if attempt > MAX_RETRIES:
                        raise AzureError(self.scrub("Resource Graph (%s) still %s after %d retries: %s"
                                                    % (scope_text, "throttled" if throttled else "failing",
                                                       MAX_RETRIES, _error_text(exc))))
                    wait = retry_after(headers) if throttled else None
                    if wait is None:
                        wait = min(MAX_WAIT, 2 ** attempt) * (0.5 + random.random() / 2)
                    self._wait(wait, "%s (HTTP %s%s), retry %d of %d" % (
                        "throttled" if throttled else "server error", status,
                        ", Retry-After" if _header(headers, "retry-after") else "", attempt, MAX_RETRIES))
                    continue
                if status in (400, 401, 403, 404) and (any(c in SCOPE_CODES for c in codes) or status == 403):
                    raise _ScopeError(self.scrub(_error_text(exc)))
                raise AzureError(self.scrub("Resource Graph (%s) answered HTTP %s: %s"
                                            % (scope_text, status, _error_text(exc))))
            except (ServiceRequestError, ServiceResponseError, OSError) as exc:
                # refused, reset, dropped (RemoteDisconnected) or a read that timed out: bounded retries
                dropped += 1
                if dropped > MAX_CONNECTION_RETRIES:
                    raise AzureError(self.scrub("cannot reach Azure at %s (%s) after %d retries: %s"
                                                % (self.conf["arm_endpoint"], scope_text, MAX_CONNECTION_RETRIES,
                                                   _connection_text(exc))))
                why = "connection failed (%s), retry %d of %d" % (_connection_text(exc), dropped, MAX_CONNECTION_RETRIES)
                self._wait(min(MAX_WAIT, 2 ** dropped) * (0.5 + random.random() / 2), why)
                continue
            except ValueError as exc:
                raise AzureError(self.scrub("cannot sign in to Azure: %s" % exc))
            except Exception as exc:  # credential chains raise their own types (CredentialUnavailableError...)
                if type(exc).__name__ == "CredentialUnavailableError":
                    raise AzureError(self.scrub("no Azure credential available (auth_source %s): %s"
                                                % (self.conf["auth_source"], " ".join(str(exc).split()))))
                raise
            remaining = _header(headers, "x-ms-user-quota-remaining")
            if remaining is not None and str(remaining).strip() == "0":
                resets = _seconds(_header(headers, "x-ms-user-quota-resets-after"))
                if resets:
                    self._next_at = time.time() + min(MAX_WAIT, resets)
            return result

    def rows(self, query, scope, scope_text):
        """Every row of ``query`` in ``scope`` ({subscriptions: [...]} or {management_groups: [...]}), all pages."""
        options = {"top": PAGE_SIZE, "result_format": "objectArray"}
        body = dict(scope, query=query, options=options)
        page = 0
        while True:
            result = self.query(body, scope_text)
            page += 1
            data = result.data or []
            if isinstance(data, dict):   # table format (a server that ignores resultFormat)
                columns = [c["name"] for c in data.get("columns") or []]
                data = [dict(zip(columns, row)) for row in data.get("rows") or []]
            self.log("Resource Graph: %s page %d: %d row(s) of %s"
                     % (scope_text, page, len(data), result.total_records))
            yield from data
            if not result.skip_token:
                if str(result.result_truncated).lower() == "true":
                    raise _Truncated(result.total_records, result.count)
                return
            body = dict(scope, query=query, options=dict(options, skip_token=result.skip_token))


class _Truncated(Exception):
    pass


def _scopes(conf):
    """[(scope dict, description)]: subscriptions in groups, each management group alone, or the tenant."""
    out = []
    subs = conf["subscriptions"]
    for start in range(0, len(subs), SUBSCRIPTIONS_PER_QUERY):
        chunk = subs[start:start + SUBSCRIPTIONS_PER_QUERY]
        out.append(({"subscriptions": chunk}, "subscription%s %s" % ("s" if len(chunk) > 1 else "", ", ".join(chunk))))
    for group in conf["management_groups"]:
        out.append(({"management_groups": [group]}, "management group %s" % group))
    if not out:
        out.append(({}, "every subscription the identity can read"))
    return out


def _extension_rows(client, scope, text, out, warnings):
    """Add the extension resources of ``scope`` to ``out``: the projected query, or (where Resource Graph refuses
    it as a bad query, HTTP 400) the next form of ``_extensions.QUERIES``; the form that worked is kept."""
    forms = extensions_.QUERIES[getattr(client, "extension_form", 0):]
    for index, query in enumerate(forms):
        try:
            out.extend(client.rows(query, scope, text))
        except _Truncated:
            warnings.append("Resource Graph truncated the extension resources of %s; some are missing" % text)
        except AzureError as exc:
            if " answered HTTP 400" not in str(exc) or index == len(forms) - 1:
                raise
            client.log("Resource Graph refused the extension query (%s); trying its next form" % exc)
            continue
        client.extension_form = extensions_.QUERIES.index(query)
        return


def list_machines(options, log=None, sleep=time.sleep, extensions=False):
    """(machines, warnings): the Arc machines of the scopes in ``options``, normalised, sorted by name.

    With ``extensions``, the same pass also reads each scope's extension resources (``_extensions.QUERY``) and
    every machine gets ``extensions``: its extension resources, classified against the lockdown it reports.
    """
    conf = settings(options)
    client = Client(conf, log=log, sleep=sleep)
    machines, warnings, seen = [], [], set()
    extension_rows = []

    def load(scope, text):
        rows = []
        try:
            for row in client.rows(QUERY, scope, text):
                rows.append(row)
        except _Truncated:
            warnings.append("Resource Graph truncated the answer for %s; some machines are missing" % text)
        for row in rows:
            rid = str(row.get("id") or "").lower()
            if rid in seen:
                continue
            seen.add(rid)
            machines.append(arcmachine.normalise_row(row, warnings))
        if extensions:
            _extension_rows(client, scope, text, extension_rows, warnings)

    pending = _scopes(conf)
    while pending:
        scope, text = pending.pop(0)
        try:
            load(scope, text)
        except _ScopeError as exc:
            subs = scope.get("subscriptions") or []
            if len(subs) > 1:
                # find which subscription is refused: each one alone (only on error)
                pending[0:0] = [({"subscriptions": [s]}, "subscription %s" % s) for s in subs]
                continue
            warnings.append("%s: cannot be read by this identity (%s); the other scopes still load"
                            % (text, exc.message))
    # a scope that Azure silently leaves out: check which listed subscriptions are visible at all
    found = {m["subscription_id"].lower() for m in machines if m.get("subscription_id")}
    quiet = [s for s in conf["subscriptions"] if s.lower() not in found
             and not any(w.startswith("subscription %s:" % s) for w in warnings)]
    if quiet:
        visible = set()
        try:
            for start in range(0, len(quiet), SUBSCRIPTIONS_PER_QUERY):
                chunk = quiet[start:start + SUBSCRIPTIONS_PER_QUERY]
                for row in client.rows(VISIBLE_QUERY, {"subscriptions": chunk}, "subscription visibility"):
                    visible.add(str(row.get("subscriptionId") or "").lower())
        except (_ScopeError, _Truncated):
            pass
        for sub in quiet:
            if sub.lower() not in visible:
                warnings.append("subscription %s: cannot be read by this identity (Azure returned nothing for it "
                                "and does not list it); the other scopes still load" % sub)
    machines.sort(key=lambda m: (str(m.get("name") or "").lower(), m.get("resource_id") or ""))
    if extensions:
        extensions_.attach(machines, extension_rows, warnings)
    if log:
        log("Resource Graph: %d machine(s), %d quer%s, %d throttled answer(s)"
            % (len(machines), client.queries, "y" if client.queries == 1 else "ies", client.throttled))
    return machines, [client.scrub(w) for w in warnings]
