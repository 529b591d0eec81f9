"""A fake Azure on loopback for the tests: Entra ID sign-in as MSAL does it, and Azure Resource Graph.

It plays what the reference (azure-reference.md, sections 5-7) documents, and every point the reference
leaves open is a switchable variant (``variants`` in the state file):

- HTTPS only, with a test CA generated at start (``ca.pem`` in the work directory; the server certificate
  names ``IP:127.0.0.1`` and ``DNS:localhost``).
- Entra ID: ``GET /{tenant}/v2.0/.well-known/openid-configuration`` (tenant discovery; instance discovery
  is never answered here: it goes to the public host unless the client turns it off, and the egress trap
  below records such attempts), ``POST /{tenant}/oauth2/v2.0/token`` (client secret or certificate
  assertion), a managed identity endpoint (``GET /msi/token``, the App Service protocol selected by
  ``IDENTITY_ENDPOINT`` + ``IDENTITY_HEADER``).
- Resource Graph: ``POST /providers/Microsoft.ResourceGraph/resources?api-version=...`` with the
  ``subscriptions``/``managementGroups`` scopes, ``options.$top`` (1-1000, default 100), ``$skip``,
  ``$skipToken`` (1000 rows a page at most), ``resultFormat`` (objectArray or table), the
  ``x-ms-user-quota-*`` headers on every answer, throttling (429, with or without ``Retry-After``), a scope the
  identity may not read.
- ARM: ``GET .../providers/Microsoft.HybridCompute/machines/{name}`` and ``Machines_ListBySubscription``.
- Extension resources (``.../machines/{m}/extensions/{e}``): Resource Graph rows, ARM GET and DELETE with its
  long-running operation; see the section "extension resources" below for their state and variants.

The machines come from a JSON state file that tests may rewrite while the server runs (it is re-read when it
changes). A machine is written compactly with azcmagent property names; the fake sends it as Azure does
(strings for booleans, ``{publisher, type}`` objects in the extension lists, ...)::

    {"tenant": "tenant1",
     "identities": {"app1": {"secret": "s3cret", "subscriptions": ["sub-a"], "management_groups": ["mg1"]}},
     "subscriptions": {"sub-a": {}, "sub-b": {}},
     "management_groups": {"mg1": ["sub-b"]},
     "machines": [{"name": "web01", "subscription": "sub-a", "resource_group": "rg1", "os": "linux",
                   "status": "Connected", "config": {"extensions.allowlist": ["Microsoft.Azure.Monitor/AzureMonitorLinuxAgent"]}}],
     "throttle": {"quota": 15, "window": 5, "next": 0},
     "variants": {...}}

Variants (all optional; the first value is the default):

- ``retry_after``: ``seconds`` | ``none`` | ``ms`` (``retry-after-ms``) | ``x-ms`` (``x-ms-retry-after-ms``):
  what a throttled answer carries besides the quota headers.
- ``throttle_status``: 429 (whether Resource Graph throttles with another status is not documented).
- ``scope_error``: ``forbidden`` (403 ``AuthorizationFailed`` for the whole request, naming the scope) |
  ``badrequest`` (400 ``BadRequest`` with a detail naming the scope) | ``omit`` (the scope's rows are silently
  left out; 400 ``NoValidSubscriptionsInQueryRequest`` when no readable subscription is left).
- ``bool_values``: ``string`` ("true"/"false", as documented) | ``bool``.
- ``port_values``: ``string`` (["22"], as the example) | ``int``.
- ``extension_items``: ``object`` ({publisher, type}, as the specification) | ``string`` ("Publisher/Type").
- ``empty_lists``: ``null`` (as the example) | ``empty`` ([]).
- ``row_shape``: ``arg`` (envelope + Resource Graph columns) | ``arm`` (also ``systemData`` and ``resources``).
- ``os_type_case``: ``lower`` ("linux") | ``title`` ("Linux").
- ``token_expires_in``: ``int`` | ``string`` ("3599").

Faults (``faults`` in the state file): ``drop_graph``: N closes the connection of the first N Resource Graph
requests without an answer (the client sees the connection dropped).

Queries: ``resources`` or ``resourcecontainers``, ``where type =~ '...'``, ``project col, alias = col.path``,
``order by id``; rows are expanded once per state file version and query.

Run it by hand: ``python tests/lib/fakeazure.py --state FILE`` prints one JSON line with ``port``, ``ca``,
``url`` and ``trap`` (the egress trap's proxy URL). In tests, use ``FakeAzure`` (a context manager).
"""

import base64
import copy
import datetime
import hashlib
import http.server
import json
import math
import os
import re
import socketserver
import ssl
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

TENANT = "00000000-0000-0000-0000-0000000000aa"
API_VERSIONS = ("2019-04-01", "2020-04-01-preview", "2021-03-01", "2022-10-01", "2024-04-01")
ARM_API_VERSIONS = ("2022-12-27", "2024-07-10", "2025-01-13", "2026-07-15", "2026-09-01")
MACHINES_TYPE = "microsoft.hybridcompute/machines"

# azcmagent property -> agentConfiguration key
AGENT_KEYS = {
    "config.mode": "configMode",
    "extensions.allowlist": "extensionsAllowList",
    "extensions.blocklist": "extensionsBlockList",
    "extensions.enabled": "extensionsEnabled",
    "guestconfiguration.enabled": "guestConfigurationEnabled",
    "incomingconnections.ports": "incomingConnectionsPorts",
    "proxy.bypass": "proxyBypass",
    "proxy.url": "proxyUrl",
}
DEFAULT_CONFIG = {
    "config.mode": "full", "extensions.allowlist": [], "extensions.blocklist": [], "extensions.enabled": True,
    "guestconfiguration.enabled": True, "incomingconnections.ports": [], "proxy.bypass": [], "proxy.url": "",
}


# ------------------------------------------------------------------------------------------ certificates

def make_ca(directory):
    """A CA and a server certificate for 127.0.0.1 signed by it: (ca.pem, server.pem, server.key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "arcguard test CA %s" % uuid.uuid4().hex[:8])])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = tuple(os.path.join(directory, n) for n in ("ca.pem", "server.pem", "server.key"))
    with open(paths[0], "wb") as handle:
        handle.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(paths[1], "wb") as handle:
        handle.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(paths[2], "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return paths


# ------------------------------------------------------------------------------------------ machines

def machine_id(machine):
    return "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.HybridCompute/machines/%s" % (
        machine.get("subscription", "00000000-0000-0000-0000-000000000001"), machine.get("resource_group", "arc-rg"),
        machine["name"])


def agent_configuration(config, variants):
    """The azcmagent settings as Azure reports them in properties.agentConfiguration."""
    out = {}
    merged = dict(DEFAULT_CONFIG)
    merged.update(config or {})
    for prop, key in AGENT_KEYS.items():
        if prop not in merged:
            continue
        value = merged[prop]
        if value is None:
            out[key] = None
        elif prop in ("extensions.allowlist", "extensions.blocklist"):
            items = []
            for name in value:
                publisher, _sep, ext_type = str(name).partition("/")
                items.append("%s/%s" % (publisher, ext_type) if variants.get("extension_items") == "string"
                             else {"publisher": publisher, "type": ext_type})
            out[key] = items if items or variants.get("empty_lists") == "empty" else None
        elif prop == "incomingconnections.ports":
            ports = [int(p) if variants.get("port_values") == "int" else str(p) for p in value]
            out[key] = ports if ports or variants.get("empty_lists") == "empty" else None
        elif prop == "proxy.bypass":
            out[key] = list(value) if value or variants.get("empty_lists") == "empty" else None
        elif isinstance(value, bool):
            out[key] = value if variants.get("bool_values") == "bool" else ("true" if value else "false")
        else:
            out[key] = value
    for key, value in (config or {}).get("_raw", {}).items():   # a test may send any raw key
        out[key] = value
    return out


def expand(machine, tenant, variants):
    """One compact machine of the state file as a Resource Graph `resources` row."""
    if "row" in machine:
        return copy.deepcopy(machine["row"])
    os_name = machine.get("os", "linux")
    os_type = os_name.title() if variants.get("os_type_case") == "title" else os_name
    rid = machine_id(machine)
    status = machine.get("status", "Connected")
    props = {
        "provisioningState": "Succeeded",
        "status": status,
        "lastStatusChange": machine.get("last_status_change", "2026-11-30T08:15:02.9794112Z"),
        "agentVersion": machine.get("agent_version", "1.64.03414.2961"),
        "osName": os_name,
        "osType": os_type,
        "osSku": machine.get("os_sku", "Ubuntu 24.04.3 LTS" if os_name == "linux"
                             else "Windows Server 2022 Datacenter"),
        "osVersion": machine.get("os_version", "6.8.0-87-generic" if os_name == "linux" else "10.0.20348.2849"),
        "osEdition": "unknown" if os_name == "linux" else "ServerDatacenter",
        "machineFqdn": machine.get("machine_fqdn", machine["name"] + ".corp.example"),
        "dnsFqdn": machine.get("dns_fqdn", machine["name"] + ".corp.example"),
        "displayName": machine["name"],
        "domainName": "corp.example",
        "adFqdn": "unknown" if os_name == "linux" else machine["name"] + ".corp.example",
        "vmId": str(uuid.uuid5(uuid.NAMESPACE_URL, rid)),
        "errorDetails": [],
        "detectedProperties": {"cloudprovider": "N/A", "manufacturer": "QEMU", "model": "Standard PC"},
        "osProfile": {"computerName": machine["name"]},
        "serviceStatuses": ({"extensionService": {"startupType": "enabled", "status": "active"},
                             "guestConfigurationService": {"startupType": "enabled", "status": "active"}}
                            if os_name == "linux" else
                            {"extensionService": {"startupType": "Automatic", "status": "Running"},
                             "guestConfigurationService": {"startupType": "Automatic", "status": "Running"}}),
        "agentUpgrade": {"enableAutomaticUpgrade": False},
        "cloudMetadata": {"provider": "N/A"},
        "mssqlDiscovered": "false",
    }
    for key in machine.get("omit", ()):       # properties this machine does not report
        props.pop(key, None)
    if machine.get("config", {}) is not None and "agentConfiguration" not in machine.get("omit", ()):
        props["agentConfiguration"] = agent_configuration(machine.get("config"), variants)
    if status == "AwaitingConnection":
        for key in ("agentConfiguration", "agentVersion", "lastStatusChange", "osVersion", "machineFqdn", "dnsFqdn"):
            props.pop(key, None)
    row = {
        "id": rid,
        "name": machine["name"],
        "type": MACHINES_TYPE,
        "tenantId": tenant,
        "kind": machine.get("kind", ""),
        "location": machine.get("location", "westeurope"),
        "resourceGroup": machine.get("resource_group", "arc-rg").lower(),
        "subscriptionId": machine.get("subscription", "00000000-0000-0000-0000-000000000001"),
        "managedBy": "",
        "sku": None,
        "plan": None,
        "properties": props,
        "tags": machine.get("tags", {}),
        "identity": {"type": "SystemAssigned", "principalId": str(uuid.uuid5(uuid.NAMESPACE_DNS, rid)),
                     "tenantId": tenant},
        "zones": None,
        "extendedLocation": None,
    }
    if variants.get("row_shape") == "arm":
        row["systemData"] = {"createdAt": "2026-01-05T10:00:00Z", "createdBy": "onboarding",
                             "createdByType": "Application", "lastModifiedAt": "2026-11-30T08:15:03Z",
                             "lastModifiedBy": "onboarding", "lastModifiedByType": "Application"}
        row["resources"] = []
    return row


def make_machines(count, subscriptions=("00000000-0000-0000-0000-000000000001",), prefix="arc", config=None):
    """``count`` compact machines: both OSes, every status, spread over ``subscriptions``."""
    statuses = ("Connected", "Connected", "Connected", "Disconnected", "Error", "AwaitingConnection")
    out = []
    for index in range(count):
        os_name = "windows" if index % 3 == 2 else "linux"
        out.append({"name": "%s-%05d" % (prefix, index), "subscription": subscriptions[index % len(subscriptions)],
                    "resource_group": "rg-%d" % (index % 4), "os": os_name, "status": statuses[index % len(statuses)],
                    "tags": {"env": "prod" if index % 2 else "test", "index": str(index)},
                    "config": dict(config or {})})
    return out


# ------------------------------------------------------------------------------------------ the server

def _hms(seconds):
    seconds = max(0, int(math.ceil(seconds)))
    return "%02d:%02d:%02d" % (seconds // 3600, seconds % 3600 // 60, seconds % 60)


def _path_get(row, path):
    """``properties.status`` of a row; KQL's column names and property names are case-sensitive."""
    value = row
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _where_type(stage, rows):
    """The rows a KQL ``where type == '...'`` (exact) or ``where type =~ '...'`` (any case) stage keeps, or None
    when ``stage`` is no such stage."""
    match = re.fullmatch(r"where\s+type\s*(=~|==)\s*'([^']*)'", stage, re.I)
    if not match:
        return None
    op, value = match.groups()
    return [r for r in rows if (r.get("type") == value if op == "==" else str(r.get("type")).lower() == value.lower())]


class State:
    """The state file, re-read whenever it changes, plus what the server keeps in memory."""

    def __init__(self, path):
        self.path = path
        self.mtime = None
        self.data = {}
        self.lock = threading.RLock()
        self.tokens = {}       # access token -> identity name
        self.quota = {}        # identity -> [window start, used]
        self.throttled = 0
        self.requests = []     # every request: method, path, query, body (parsed), headers (no secrets dropped)
        self.dropped = 0       # Resource Graph requests answered by closing the connection (faults.drop_graph)
        self.rows_cache = {}   # (query, subscriptions) -> rows, while the state file does not change
        self.load()

    def load(self):
        with self.lock:
            try:
                stat = os.stat(self.path)
            except FileNotFoundError:
                return self.data
            key = (stat.st_mtime_ns, stat.st_size)
            if key != self.mtime:
                with open(self.path, encoding="utf-8") as handle:
                    text = handle.read()
                try:
                    self.data = json.loads(text)
                except ValueError:
                    return self.data       # half-written: keep the previous state
                self.mtime = key
                self.rows_cache = {}
            return self.data

    @property
    def variants(self):
        return self.load().get("variants") or {}


# ================================================================================== extension resources
# Everything about Microsoft.HybridCompute/machines/extensions lives in this section (rows, the projected
# Resource Graph query, ARM GET and DELETE with its long-running operation). A machine of the state file lists
# its extension resources compactly:
#
#     "extensions": [{"name": "MDE.Linux", "publisher": "Microsoft.Azure.AzureDefenderForServers",
#                     "type": "MDE.Linux", "version": "1.0.5.0",
#                     "state": "Succeeded | Failed | Creating | Deleting | Updating",
#                     "message": "... (absent: no message)", "level": "Error | Information | Warning",
#                     "created_by": "...", "last_modified_by": "...", "system_data": true}]
#
# ``system_data: false`` leaves systemData out of that resource everywhere (ARM does not always send it).
# Variants:
# - ``extension_system_data``: ``present`` (Resource Graph rows carry systemData) | ``absent`` (no such column:
#   ``column_ifexists`` answers null, as KQL does; whether Resource Graph has it is not documented).
# - ``extension_id_case``: ``lower`` (``.../machines/m/extensions/e``) | ``title`` (``.../Machines/m/Extensions/e``,
#   as the specification's examples spell it).
# - ``status_level``: ``Information`` (as seen) | ``Info`` (the specification's enum).
# - ``extension_kql``: ``full`` | ``basic`` (``column_ifexists`` refused as a bad query, HTTP 400).
# - ``extension_delete``: ``location`` (202 + Location; polling it answers 202 until done, then 204) |
#   ``async_operation`` (202 + Azure-AsyncOperation and Location; the operation answers InProgress, then
#   Succeeded) | ``sync`` (200, gone at once).
# Top-level state keys: ``delete_polls`` (polls an operation stays pending, default 1), ``arm_throttle``
# ({"next": N, "retry_after": S}: the next N DELETE requests answer 429 with Retry-After S). An identity with
# ``"extension_delete": false`` lacks the role that may delete (403 naming the action). Deleting a resource
# that does not exist answers 204. Deleted resources are removed from the state file, so Resource Graph and ARM
# stop listing them (a resource pending deletion shows provisioningState Deleting).

EXTENSIONS_TYPE = "microsoft.hybridcompute/machines/extensions"
DELETE_ACTION = "Microsoft.HybridCompute/machines/extensions/delete"


def extension_id(machine, ext, variants):
    base = machine_id(machine)
    if variants.get("extension_id_case") == "title":
        head, _sep, name = base.rpartition("/machines/")
        return "%s/Machines/%s/Extensions/%s" % (head, name, ext["name"])
    return "%s/extensions/%s" % (base, ext["name"])


def extension_resource(machine, ext, tenant, variants, arm=False):
    """One compact extension of the state file as a Resource Graph row (or, with ``arm``, an ARM body)."""
    status = {}
    if ext.get("state", "Succeeded") == "Succeeded":
        status = {"code": "0", "level": variants.get("status_level", "Information"),
                  "displayStatus": "Provisioning succeeded", "message": ext.get("message", "Extension Message: Done")}
    elif ext.get("state") == "Failed":
        status = {"code": "1", "level": ext.get("level", "Error"), "displayStatus": "Provisioning failed"}
        if ext.get("message") is not None:
            status["message"] = ext["message"]
    elif ext.get("message") is not None:
        status = {"level": ext.get("level", variants.get("status_level", "Information")), "message": ext["message"]}
    props = {
        "publisher": ext.get("publisher"),
        "type": ext.get("type"),
        "typeHandlerVersion": ext.get("version", "1.0.0"),
        "autoUpgradeMinorVersion": False,
        "enableAutomaticUpgrade": True,
        "provisioningState": ext.get("state", "Succeeded"),
        # what a real resource may carry and the collection must never read or show
        "settings": ext.get("settings", {"commandToExecute": "echo settings-are-never-read"}),
        "instanceView": {"name": ext["name"], "type": ext.get("type"), "typeHandlerVersion": ext.get("version", "1.0.0"),
                         "status": status},
    }
    row = {"id": extension_id(machine, ext, variants), "name": ext["name"],
           "type": "Microsoft.HybridCompute/machines/extensions" if arm else EXTENSIONS_TYPE,
           "location": machine.get("location", "westeurope"), "properties": props}
    if not arm:
        row.update(tenantId=tenant, resourceGroup=machine.get("resource_group", "arc-rg").lower(),
                   subscriptionId=machine.get("subscription", "00000000-0000-0000-0000-000000000001"),
                   tags=None, kind="", managedBy="", sku=None, plan=None, identity=None, zones=None)
    if ext.get("system_data", True) and (arm or variants.get("extension_system_data", "present") == "present"):
        row["systemData"] = {"createdAt": "2026-11-02T08:00:00Z", "createdBy": ext.get("created_by", "unknown"),
                             "createdByType": ext.get("created_by_type", "Application"),
                             "lastModifiedAt": "2026-12-01T08:00:00Z",
                             "lastModifiedBy": ext.get("last_modified_by", ext.get("created_by", "unknown")),
                             "lastModifiedByType": ext.get("last_modified_by_type", "Application")}
    return row


def _split_top(text, sep=","):
    """``text`` split at ``sep`` outside parentheses and quotes."""
    out, depth, quote, start = [], 0, None, 0
    for index, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == sep and depth == 0:
            out.append(text[start:index])
            start = index + 1
    out.append(text[start:])
    return [part.strip() for part in out]


def _kql_value(row, expr):
    """The value of a projected expression: a column, a dotted path into dynamic values, column_ifexists."""
    match = re.fullmatch(r"column_ifexists\(\s*'([^']+)'\s*,\s*dynamic\(null\)\s*\)", expr)
    if match:
        return row.get(match.group(1))
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", expr):
        raise ValueError("unsupported expression in the fake: %r" % expr)
    parts = expr.split(".")
    value = row.get(parts[0])
    for part in parts[1:]:
        value = value.get(part) if isinstance(value, dict) else None
    return value


class ExtensionRoutes:
    """The extension part of the fake's request handler (mixed into Handler)."""

    def _extension_rows(self, subs):
        data = self.state.load()
        variants = self.state.variants
        tenant = data.get("tenant", TENANT)
        wanted = set(subs)
        return [extension_resource(m, e, tenant, variants) for m in data.get("machines") or []
                if m.get("subscription", "00000000-0000-0000-0000-000000000001") in wanted
                for e in m.get("extensions") or []]

    def _run_extension_query(self, text, subs):
        if self.state.variants.get("extension_kql") == "basic" and "column_ifexists" in text:
            raise ValueError("Function 'column_ifexists' is not supported")    # a Resource Graph without it
        if self.state.variants.get("extension_system_data") == "absent" and re.search(r"[ ,]systemData\s*(,|$)", text):
            raise ValueError("Failed to resolve scalar expression named 'systemData'")   # no such column
        rows = self._extension_rows(subs)
        stages = [s.strip() for s in _split_top(text, "|")]
        if stages[0].lower() != "resources":
            raise ValueError("Table '%s' could not be found." % stages[0])
        projected = None
        for stage in stages[1:]:
            filtered = _where_type(stage, rows)
            if filtered is not None:
                rows = filtered
                continue
            if stage.lower().startswith("project "):
                columns = []
                for item in _split_top(stage[len("project "):]):
                    name, eq, expr = item.partition("=")
                    columns.append((name.strip(), (expr if eq else name).strip()))
                projected = [c for c, _e in columns]
                rows = [{c: _kql_value(r, e) for c, e in columns} for r in rows]
                continue
            raise ValueError("unsupported query stage in the fake: %r" % stage)
        rows.sort(key=lambda r: str(r.get("id", "")).lower())
        return rows, projected or sorted({k for r in rows for k in r}) or ["id"]

    # ----------------------------------------------------------------------------- ARM
    def _find_extension(self, path):
        """(machine, extension or None, extension name) for an extension path (any casing), or None."""
        match = re.fullmatch(r"(/subscriptions/[^/]+/resourcegroups/[^/]+/providers/microsoft\.hybridcompute/"
                             r"machines/[^/]+)/extensions/([^/]+)", path, re.I)
        if not match:
            return None
        data = self.state.load()
        for machine in data.get("machines") or []:
            if machine_id(machine).lower() == match.group(1).lower():
                for ext in machine.get("extensions") or []:
                    if ext["name"].lower() == match.group(2).lower():
                        return machine, ext, match.group(2)
                return machine, None, match.group(2)
        return False, None, match.group(2)

    def _arm_check(self, parsed, action):
        """(identity, None) or (None, True) after answering an error."""
        query = dict(urllib.parse.parse_qsl(parsed.query))
        if query.get("api-version") not in ARM_API_VERSIONS:
            self._error(400, "InvalidApiVersionParameter", "The api-version '%s' is invalid."
                        % query.get("api-version"))
            return None, True
        identity, code, message = self._caller()
        if identity is None:
            self._error(401, code, message)
            return None, True
        subs, _groups = self._readable(identity)
        sub = parsed.path.split("/")[2]
        ident = (self.state.load().get("identities") or {}).get(identity) or {}
        if sub not in subs or (action == DELETE_ACTION and ident.get("extension_delete") is False):
            self._error(403, "AuthorizationFailed", "The client '%s' with object id '%s' does not have "
                        "authorization to perform action '%s' over scope '%s' or the scope is invalid. If access "
                        "was recently granted, please refresh your credentials."
                        % (identity, identity, action, parsed.path))
            return None, True
        return identity, None

    def _save(self, change):
        with self.state.lock:
            data = copy.deepcopy(self.state.load())
            change(data)
            tmp = self.state.path + ".srv.tmp"
            with open(tmp, "w", encoding="utf-8") as handle:
                json.dump(data, handle)
            os.replace(tmp, self.state.path)
            stat = os.stat(self.state.path)
            os.utime(self.state.path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1000))
            self.state.mtime = None
            self.state.load()

    def _set_extension(self, machine_rid, name, state=None, remove=False):
        def change(data):
            for machine in data.get("machines") or []:
                if machine_id(machine).lower() == machine_rid.lower():
                    exts = machine.get("extensions") or []
                    if remove:
                        machine["extensions"] = [e for e in exts if e["name"].lower() != name.lower()]
                    else:
                        for ext in exts:
                            if ext["name"].lower() == name.lower():
                                ext["state"] = state
        self._save(change)

    def _extension_get(self, parsed):
        """Answer a GET of an extension resource or of a delete operation; False when the path is neither."""
        low = parsed.path.lower()
        if "/operationresults/" in low or "/operationstatuses/" in low:
            return self._operation(parsed)
        found = self._find_extension(parsed.path)
        if found is None:
            return False
        identity, answered = self._arm_check(parsed, "Microsoft.HybridCompute/machines/extensions/read")
        if answered:
            return True
        machine, ext, name = found
        if not ext:
            self._error(404, "ResourceNotFound", "The Resource 'Microsoft.HybridCompute/machines/extensions/%s' "
                        "was not found." % name)
            return True
        data = self.state.load()
        self._send(200, extension_resource(machine, ext, data.get("tenant", TENANT), self.state.variants, arm=True))
        return True

    def do_DELETE(self):
        parsed, _entry = self._record(b"")
        found = self._find_extension(parsed.path)
        if found is None:
            return self._error(404, "NotFound", "no route for DELETE %s" % parsed.path)
        identity, answered = self._arm_check(parsed, DELETE_ACTION)
        if answered:
            return None
        data = self.state.load()
        throttle = data.get("arm_throttle") or {}
        with self.state.lock:
            used = getattr(self.state, "arm_throttled", 0)
            if used < int(throttle.get("next", 0)):
                self.state.arm_throttled = used + 1
                return self._error(429, "TooManyRequests", "The request was throttled.",
                                   headers={"Retry-After": str(throttle.get("retry_after", 1))})
        machine, ext, name = found
        if not ext:
            return self._send(204, b"")
        rid = machine_id(machine)
        how = self.state.variants.get("extension_delete", "location")
        if how == "sync":
            self._set_extension(rid, name, remove=True)
            return self._send(200, b"")
        self._set_extension(rid, name, state="Deleting")
        op = uuid.uuid4().hex
        with self.state.lock:
            ops = getattr(self.state, "operations", None)
            if ops is None:
                ops = self.state.operations = {}
            ops[op] = {"machine": rid, "name": name, "polls": int(data.get("delete_polls", 1))}
        api = dict(urllib.parse.parse_qsl(parsed.query))["api-version"]
        base = "https://%s/subscriptions/%s/providers/Microsoft.HybridCompute/locations/%s" % (
            self.headers.get("Host"), machine.get("subscription", "00000000-0000-0000-0000-000000000001"),
            machine.get("location", "westeurope"))
        headers = {"Location": "%s/operationResults/%s?api-version=%s" % (base, op, api), "Retry-After": "0"}
        if how == "async_operation":
            headers["Azure-AsyncOperation"] = "%s/operationStatuses/%s?api-version=%s" % (base, op, api)
        return self._send(202, b"", headers)

    def _operation(self, parsed):
        identity, code, message = self._caller()
        if identity is None:
            self._error(401, code, message)
            return True
        op = parsed.path.rstrip("/").rsplit("/", 1)[-1]
        with self.state.lock:
            record = (getattr(self.state, "operations", None) or {}).get(op)
            if record is not None and record["polls"] > 0:
                record["polls"] -= 1
                pending = True
            else:
                pending = False
        if record is None:
            self._error(404, "NotFound", "no operation %s" % op)
            return True
        if not pending and not record.get("done"):
            self._set_extension(record["machine"], record["name"], remove=True)
            record["done"] = True
        status = "/operationstatuses/" in parsed.path.lower()
        if status:
            self._send(200, {"id": parsed.path, "name": op, "status": "InProgress" if pending else "Succeeded"},
                       {"Retry-After": "0"} if pending else None)
        elif pending:
            location = "https://%s%s?%s" % (self.headers.get("Host"), parsed.path, parsed.query)
            self._send(202, b"", {"Location": location, "Retry-After": "0"})
        else:
            self._send(204, b"")
        return True

# ============================================================================== end of extension resources


class Handler(ExtensionRoutes, http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeAzure/1.0"

    def log_message(self, format, *args):  # quiet
        return

    # ----------------------------------------------------------------------------------- plumbing
    @property
    def state(self):
        return self.server.state

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status, doc, headers=None):
        body = json.dumps(doc).encode("utf-8") if not isinstance(doc, bytes) else doc
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-ms-request-id", str(uuid.uuid4()))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _record(self, body):
        parsed = urllib.parse.urlsplit(self.path)
        entry = {"method": self.command, "path": parsed.path, "query": dict(urllib.parse.parse_qsl(parsed.query)),
                 "headers": dict(self.headers.items()), "time": time.time()}
        if body:
            try:
                entry["body"] = json.loads(body)
            except ValueError:
                entry["body"] = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace")))
        with self.state.lock:
            self.state.requests.append(entry)
            log = self.server.request_log
            if log:
                with open(log, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(entry) + "\n")
        return parsed, entry

    def _error(self, status, code, message, details=None, headers=None):
        err = {"code": code, "message": message}
        if details:
            err["details"] = details
        self._send(status, {"error": err}, headers)

    # ----------------------------------------------------------------------------------- routes
    def do_GET(self):
        parsed, _entry = self._record(b"")
        path = parsed.path
        match = re.fullmatch(r"/([^/]+)(/v2\.0)?/\.well-known/openid-configuration", path)
        if match:
            return self._openid(match.group(1))
        if path == "/msi/token":
            return self._msi(dict(urllib.parse.parse_qsl(parsed.query)))
        if path.lower().startswith("/subscriptions/"):
            if self._extension_get(parsed):     # extension resources and their operations (section above)
                return None
            return self._arm(parsed)
        return self._error(404, "NotFound", "no route for GET %s" % path)

    def do_POST(self):
        body = self._body()
        parsed, entry = self._record(body)
        path = parsed.path
        match = re.fullmatch(r"/([^/]+)/oauth2/v2\.0/token", path)
        if match:
            return self._token(match.group(1), entry.get("body") or {})
        if path.lower() == "/providers/microsoft.resourcegraph/resources":
            faults = self.state.load().get("faults") or {}
            with self.state.lock:
                drop = self.state.dropped < int(faults.get("drop_graph") or 0)
                if drop:
                    self.state.dropped += 1
            if drop:   # the connection ends without an answer, as a proxy or load balancer may end it
                self.close_connection = True
                return None
            return self._graph(parsed, entry.get("body"))
        return self._error(404, "NotFound", "no route for POST %s" % path)

    # ----------------------------------------------------------------------------------- Entra ID
    def _tenant(self):
        return self.state.load().get("tenant", TENANT)

    def _openid(self, tenant):
        if tenant not in (self._tenant(), "organizations", "common"):
            return self._send(400, {"error": "invalid_tenant",
                                    "error_description": "AADSTS90002: Tenant '%s' not found." % tenant})
        base = "https://%s/%s" % (self.headers.get("Host"), tenant)
        return self._send(200, {"token_endpoint": base + "/oauth2/v2.0/token",
                                "authorization_endpoint": base + "/oauth2/v2.0/authorize",
                                "device_authorization_endpoint": base + "/oauth2/v2.0/devicecode",
                                "issuer": base + "/v2.0",
                                "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"]})

    def _issue(self, identity, scope):
        token = "fake." + base64.urlsafe_b64encode(os.urandom(24)).decode().rstrip("=")
        with self.state.lock:
            self.state.tokens[token] = {"identity": identity, "scope": scope}
        expires = 3599
        return token, (str(expires) if self.state.variants.get("token_expires_in") == "string" else expires)

    def _token(self, tenant, form):
        data = self.state.load()
        if tenant != self._tenant():
            return self._send(400, {"error": "invalid_request",
                                    "error_description": "AADSTS90002: Tenant '%s' not found." % tenant})
        client_id = form.get("client_id", "")
        identity = (data.get("identities") or {}).get(client_id)
        if identity is None:
            return self._send(400, {"error": "unauthorized_client",
                                    "error_description": "AADSTS700016: Application with identifier '%s' was not "
                                                         "found in the directory." % client_id})
        if "client_secret" in form:
            if form["client_secret"] != identity.get("secret"):
                return self._send(401, {"error": "invalid_client",
                                        "error_description": "AADSTS7000215: Invalid client secret provided."})
        elif form.get("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            header = form.get("client_assertion", "").split(".")[0]
            try:
                head = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
            except ValueError:
                head = {}
            if identity.get("x5t") and head.get("x5t") != identity["x5t"]:
                return self._send(401, {"error": "invalid_client",
                                        "error_description": "AADSTS700027: Client assertion contains an invalid "
                                                             "signature."})
        else:
            return self._send(400, {"error": "invalid_request",
                                    "error_description": "AADSTS900144: The request body must contain the "
                                                         "following parameter: 'client_secret'."})
        token, expires = self._issue(client_id, form.get("scope"))
        return self._send(200, {"token_type": "Bearer", "expires_in": expires, "ext_expires_in": expires,
                                "access_token": token})

    def _msi(self, query):
        data = self.state.load()
        msi = data.get("managed_identity")
        if not msi or self.headers.get("X-IDENTITY-HEADER") != msi.get("header"):
            return self._send(400, {"error": "invalid_request", "error_description": "no managed identity"})
        token, _expires = self._issue(msi.get("identity"), query.get("resource"))
        return self._send(200, {"access_token": token, "expires_on": str(int(time.time()) + 3599),
                                "resource": query.get("resource"), "token_type": "Bearer"})

    def _caller(self):
        auth = self.headers.get("Authorization") or ""
        if not auth.startswith("Bearer "):
            return None, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing."
        with self.state.lock:
            found = self.state.tokens.get(auth[len("Bearer "):])
        if found is None:
            return None, "InvalidAuthenticationToken", "The access token is invalid."
        expected = self.state.load().get("audience")
        if expected and (found["scope"] or "").rstrip("/") not in (expected + "/.default", expected):
            return None, "InvalidAuthenticationTokenAudience", "The access token has been obtained for wrong " \
                "audience or resource '%s'." % found["scope"]
        return found["identity"], None, None

    # ----------------------------------------------------------------------------------- scopes
    def _readable(self, identity):
        """(subscriptions the identity reads, management groups it reads)."""
        data = self.state.load()
        ident = (data.get("identities") or {}).get(identity) or {}
        subs = set(ident.get("subscriptions", list(data.get("subscriptions") or {})))
        groups = set(ident.get("management_groups", list(data.get("management_groups") or {})))
        for group in groups:
            subs.update((data.get("management_groups") or {}).get(group) or [])
        return subs, groups

    def _scope_subscriptions(self, identity, body):
        """The subscriptions a query covers, or (status, error) for a scope the identity may not read."""
        data = self.state.load()
        subs, groups = self._readable(identity)
        known_groups = data.get("management_groups") or {}
        variant = self.state.variants.get("scope_error", "forbidden")
        wanted_subs = body.get("subscriptions") or []
        wanted_groups = body.get("managementGroups") or []
        if not wanted_subs and not wanted_groups:
            return sorted(subs), None
        covered, bad = set(), []
        for sub in wanted_subs:
            if sub in subs:
                covered.add(sub)
            else:
                bad.append(("subscription", sub))
        for group in wanted_groups:
            if group in groups and group in known_groups:
                covered.update(known_groups[group])
            else:
                bad.append(("management group", group))
        if bad and variant != "omit":
            what, name = bad[0]
            if variant == "badrequest":
                return None, (400, "BadRequest", "Please provide below info when asking for support: timestamp = "
                              "%s, correlationId = %s." % (time.strftime("%Y-%m-%dT%H:%M:%SZ"), uuid.uuid4()),
                              [{"code": "AuthorizationFailed",
                                "message": "The client '%s' does not have authorization to perform action "
                                           "'Microsoft.ResourceGraph/resources/read' over the %s '%s' or the %s "
                                           "does not exist." % (identity, what, name, what)}])
            scope = "/subscriptions/%s" % name if what == "subscription" else \
                "/providers/Microsoft.Management/managementGroups/%s" % name
            return None, (403, "AuthorizationFailed",
                          "The client '%s' with object id '%s' does not have authorization to perform action "
                          "'Microsoft.ResourceGraph/resources/read' over scope '%s' or the scope is invalid."
                          % (identity, identity, scope), None)
        if not covered:
            return None, (400, "BadRequest", "Please provide below info when asking for support.",
                          [{"code": "NoValidSubscriptionsInQueryRequest",
                            "message": "There is no valid subscription provided in the query request. Please check "
                                       "the subscription ids."}])
        return sorted(covered), None

    # ----------------------------------------------------------------------------------- throttling
    def _quota(self, identity):
        """(allowed, headers): counts one query against the identity's quota window."""
        data = self.state.load()
        throttle = data.get("throttle") or {}
        quota = int(throttle.get("quota", 15))
        window = float(throttle.get("window", 5))
        now = time.time()
        with self.state.lock:
            start, used = self.state.quota.get(identity, (now, 0))
            if now - start >= window:
                start, used = now, 0
            forced = int(throttle.get("next", 0)) > self.state.throttled
            allowed = used < quota and not forced
            if allowed:
                used += 1
            else:
                self.state.throttled += 1
            self.state.quota[identity] = (start, used)
            resets = window - (now - start)
        headers = {"x-ms-user-quota-remaining": str(max(0, quota - used)),
                   "x-ms-user-quota-resets-after": _hms(resets)}
        if not allowed:
            wait = max(1, int(math.ceil(resets))) if not forced else int(throttle.get("retry_after", 1))
            how = self.state.variants.get("retry_after", "seconds")
            if how == "seconds":
                headers["Retry-After"] = str(wait)
            elif how == "ms":
                headers["retry-after-ms"] = str(wait * 1000)
            elif how == "x-ms":
                headers["x-ms-retry-after-ms"] = str(wait * 1000)
        return allowed, headers

    # ----------------------------------------------------------------------------------- Resource Graph
    def _graph(self, parsed, body):
        query = dict(urllib.parse.parse_qsl(parsed.query))
        if query.get("api-version") not in API_VERSIONS:
            return self._error(400, "InvalidApiVersionParameter", "The api-version '%s' is invalid. The supported "
                               "versions are '%s'." % (query.get("api-version"), "','".join(API_VERSIONS)))
        identity, code, message = self._caller()
        if identity is None:
            return self._error(401, code, message)
        allowed, headers = self._quota(identity)
        if not allowed:
            status = int(self.state.variants.get("throttle_status", 429))
            return self._error(status, "RateLimiting", "Please provide below info when asking for support: "
                               "timestamp = %s, correlationId = %s." % (time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                                                        uuid.uuid4()),
                               [{"code": "RateLimiting",
                                 "message": "Client application has been throttled and should not attempt to repeat "
                                            "the request until an amount of time has elapsed. Please see "
                                            "https://aka.ms/resourcegraph-throttling for help."}], headers)
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return self._error(400, "BadRequest", "The request body must contain 'query'.", headers=headers)
        subs, problem = self._scope_subscriptions(identity, body)
        if problem:
            status, code, message, details = problem
            return self._error(status, code, message, details, headers)
        options = body.get("options") or {}
        try:
            rows, projected = self._run_query(body["query"], subs)
        except ValueError as exc:
            return self._error(400, "BadRequest", "Please provide below info when asking for support.",
                               [{"code": "InvalidQuery", "message": str(exc)}], headers)
        top = options.get("$top")
        skip = options.get("$skip")
        if top is not None and not (isinstance(top, int) and 1 <= top <= 1000):
            return self._error(400, "BadRequest", "Value of '$top' must be between 1 and 1000.", headers=headers)
        offset, size = 0, (top or 100)
        token = options.get("$skipToken")
        if token:
            try:
                decoded = json.loads(base64.b64decode(token))
                offset, size = decoded["offset"], decoded["size"]
            except (ValueError, KeyError, TypeError):
                return self._error(400, "BadRequest", "Invalid $skipToken.", headers=headers)
            if decoded.get("query") != hashlib.sha256(body["query"].encode()).hexdigest()[:16]:
                return self._error(400, "BadRequest", "The $skipToken does not belong to this query.",
                                   headers=headers)
            if top is not None:
                size = top
            if skip is not None:
                offset = skip
        elif skip is not None:
            offset = skip
        page = rows[offset:offset + size]
        doc = {"totalRecords": len(rows), "count": len(page), "facets": []}
        more = offset + len(page) < len(rows)
        if more and "id" in projected:
            doc["$skipToken"] = base64.b64encode(json.dumps(
                {"offset": offset + len(page), "size": size,
                 "query": hashlib.sha256(body["query"].encode()).hexdigest()[:16]}).encode()).decode()
            doc["resultTruncated"] = "false"
        else:
            doc["resultTruncated"] = "true" if more else "false"
        if options.get("resultFormat", "objectArray") == "table":
            columns = projected
            doc["data"] = {"columns": [{"name": c, "type": "object"} for c in columns],
                           "rows": [[r.get(c) for c in columns] for r in page]}
        else:
            doc["data"] = page
        if (self.state.load().get("throttle") or {}).get("subscription_limit_hit"):
            headers["x-ms-tenant-subscription-limit-hit"] = "true"
        return self._send(200, doc, headers)

    def _run_query(self, text, subs):
        """The small part of KQL that the collection's queries use (cached while the state does not change)."""
        if EXTENSIONS_TYPE in text.lower():      # extension resources (section above), never cached
            return self._run_extension_query(text, subs)
        key = (text, tuple(subs))
        with self.state.lock:
            self.state.load()
            cached = self.state.rows_cache.get(key)
        if cached is None:
            cached = self._query_rows(text, subs)
            with self.state.lock:
                self.state.rows_cache[key] = cached
        return cached

    def _query_rows(self, text, subs):
        data = self.state.load()
        stages = [s.strip() for s in text.split("|")]
        table = stages[0].lower()
        variants = self.state.variants
        tenant = data.get("tenant", TENANT)
        if table == "resourcecontainers":
            rows = [{"id": "/subscriptions/%s" % s, "name": s, "type": "microsoft.resources/subscriptions",
                     "subscriptionId": s, "tenantId": tenant} for s in subs]
        elif table == "resources":
            wanted = set(subs)
            rows = [expand(m, tenant, variants) for m in data.get("machines") or []
                    if m.get("subscription", "00000000-0000-0000-0000-000000000001") in wanted or "row" in m]
        else:
            raise ValueError("Table '%s' could not be found." % stages[0])
        projected = None
        for stage in stages[1:]:
            low = stage.lower()
            filtered = _where_type(stage, rows)
            if filtered is not None:
                rows = filtered
                continue
            if low.startswith("project "):
                # column, or alias = column.path (KQL: project status = properties.status)
                columns = []
                for item in stage[len("project "):].split(","):
                    alias, _eq, source = item.partition("=")
                    alias, source = alias.strip(), (source or alias).strip()
                    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", alias) or \
                            not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", source):
                        raise ValueError("unsupported projection in the fake: %r" % item)
                    columns.append((alias, source.split(".")))
                projected = [alias for alias, _path in columns]
                rows = [{alias: _path_get(r, path) for alias, path in columns} for r in rows]
                continue
            if re.fullmatch(r"order\s+by\s+id(\s+asc)?", low):
                continue
            raise ValueError("unsupported query stage in the fake: %r" % stage)
        rows.sort(key=lambda r: str(r.get("id", "")).lower())
        if projected is None:
            projected = sorted({k for r in rows for k in r}) or ["id"]
        return rows, projected

    # ----------------------------------------------------------------------------------- ARM
    def _arm(self, parsed):
        query = dict(urllib.parse.parse_qsl(parsed.query))
        if query.get("api-version") not in ARM_API_VERSIONS:
            return self._error(400, "InvalidApiVersionParameter", "The api-version '%s' is invalid."
                               % query.get("api-version"))
        identity, code, message = self._caller()
        if identity is None:
            return self._error(401, code, message)
        data = self.state.load()
        subs, _groups = self._readable(identity)
        parts = parsed.path.split("/")
        sub = parts[2]
        if sub not in subs:
            return self._error(403, "AuthorizationFailed", "The client '%s' does not have authorization to perform "
                               "action 'Microsoft.HybridCompute/machines/read' over scope '/subscriptions/%s' or the "
                               "scope is invalid." % (identity, sub))
        machines = [m for m in data.get("machines") or [] if m.get("subscription") == sub]
        variants = dict(self.state.variants, row_shape="arm")

        def arm(machine):
            row = expand(machine, data.get("tenant", TENANT), variants)
            row["type"] = "Microsoft.HybridCompute/machines"
            for key in ("tenantId", "resourceGroup", "subscriptionId", "managedBy", "sku", "plan", "zones",
                        "extendedLocation"):
                row.pop(key, None)
            return row
        if len(parts) == 9 and parts[3].lower() == "resourcegroups":
            for machine in machines:
                if machine_id(machine).lower() == parsed.path.lower():
                    return self._send(200, arm(machine))
            return self._error(404, "ResourceNotFound", "The Resource 'Microsoft.HybridCompute/machines/%s' under "
                               "resource group '%s' was not found." % (parts[8], parts[4]))
        if len(parts) == 6:
            skip = int(query.get("$skiptoken") or 0)
            page = machines[skip:skip + 100]
            doc = {"value": [arm(m) for m in page]}
            if skip + 100 < len(machines):
                doc["nextLink"] = "https://%s%s?api-version=%s&$skiptoken=%d" % (
                    self.headers.get("Host"), parsed.path, query["api-version"], skip + 100)
            return self._send(200, doc)
        return self._error(404, "NotFound", "no route for GET %s" % parsed.path)


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Trap(http.server.BaseHTTPRequestHandler):
    """A proxy that lets nothing through and records who tried: what a client sends beyond loopback."""
    protocol_version = "HTTP/1.0"

    def log_message(self, format, *args):
        return

    def _refuse(self):
        self.server.attempts.append({"method": self.command, "target": self.path})
        self.send_response(403, "Forbidden by the test")
        self.send_header("Content-Length", "0")
        self.end_headers()
    do_CONNECT = do_GET = do_POST = _refuse


class FakeAzure:
    """The fake as a context manager: ``with FakeAzure(state_path) as fake: fake.env()``."""

    def __init__(self, state_path=None, state=None, workdir=None, request_log=None):
        self.workdir = workdir or tempfile.mkdtemp(prefix="fakeazure-")
        self.state_path = state_path or os.path.join(self.workdir, "state.json")
        if state is not None:
            self.write_state(state)
        self.request_log = request_log
        self._server = self._trap = None

    # state
    def write_state(self, state):
        tmp = self.state_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(state, handle)
        os.replace(tmp, self.state_path)
        # a rewrite within the file system's timestamp granularity must still be seen
        stat = os.stat(self.state_path)
        os.utime(self.state_path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1000))

    def read_state(self):
        with open(self.state_path, encoding="utf-8") as handle:
            return json.load(handle)

    def update_state(self, change):
        """``change(state)`` edits the state in place; the running server sees it at its next request."""
        state = self.read_state()
        change(state)
        self.write_state(state)

    # lifecycle
    def start(self):
        self.ca, cert, key = make_ca(self.workdir)
        self.state = State(self.state_path)
        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.state = self.state
        self._server.request_log = self.request_log
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self.url = "https://127.0.0.1:%d" % self.port
        self._trap = _Server(("127.0.0.1", 0), _Trap)
        self._trap.attempts = []
        self.trap_url = "http://127.0.0.1:%d" % self._trap.server_address[1]
        for server in (self._server, self._trap):
            threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        for server in (self._server, self._trap):
            if server is not None:
                server.shutdown()
                server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # what tests look at
    @property
    def requests(self):
        with self.state.lock:
            return list(self.state.requests)

    def graph_requests(self):
        return [r for r in self.requests if r["path"].lower() == "/providers/microsoft.resourcegraph/resources"]

    @property
    def egress_attempts(self):
        return list(self._trap.attempts)

    def env(self, client_id="app1", secret="s3cret", tenant=None, trap=True):
        """Environment for a client that signs in with a client secret from the environment and trusts the CA."""
        tenant = tenant or self.read_state().get("tenant", TENANT)
        env = {"AZURE_CLIENT_ID": client_id, "AZURE_CLIENT_SECRET": secret, "AZURE_TENANT_ID": tenant,
               "AZURE_AUTHORITY_HOST": self.url, "AZURE_ARM_ENDPOINT": self.url, "REQUESTS_CA_BUNDLE": self.ca}
        if trap:
            # anything not addressed to loopback ends at the trap, never on the network
            env.update(HTTPS_PROXY=self.trap_url, HTTP_PROXY=self.trap_url, https_proxy=self.trap_url,
                       http_proxy=self.trap_url, NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
        return env


def main(argv=None):
    import argparse
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--state", required=True, help="machines state JSON file (re-read when it changes)")
    parser.add_argument("--workdir", help="where ca.pem and the server key go (default: a new temporary folder)")
    parser.add_argument("--log", help="append every request as a JSON line to this file")
    args = parser.parse_args(argv)
    fake = FakeAzure(os.path.abspath(args.state), workdir=args.workdir, request_log=args.log).start()
    print(json.dumps({"port": fake.port, "ca": fake.ca, "url": fake.url, "trap": fake.trap_url}), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
