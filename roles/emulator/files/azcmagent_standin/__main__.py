#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""arcguard azcmagent stand-in: a test double of the Azure Connected Machine agent CLI.

ARCGUARD-AZCMAGENT-STANDIN (marker: the emulator role refuses to overwrite a file without it)

Plays `azcmagent` as Microsoft documents it (config list/get/set/clear/info, show, version,
extension list/remove) with its text and JSON layouts, AZCM00NN errors and exit codes, keeping
its settings in the agent's real file locations. What the documentation leaves open is a
switchable variant; faults can be injected. See docs/standin.md.

Environment:
  AZCMAGENT_STANDIN_ROOT     directory prepended to every file location (default /)
  AZCMAGENT_STANDIN_CONTROL  control file (default: standin.json next to localconfig.json)
  AZCMAGENT_STANDIN_LOG      invocation log (default: standin-invocations.log next to it)
  AZCMAGENT_STANDIN_FLAVOUR  linux or windows (overrides the control file)

Test hook, not part of azcmagent: with AZCMAGENT_STANDIN_SERVICE_TOOL set to systemctl, service or
windows, this program plays that service manager for the agent's services instead (`systemctl stop
extd`, `service extd stop`, `stop ExtensionService`), keeping their status in the control file's
"services" key, where `show` and `extension remove` read it. Test hosts reach it through small shims
(tests/lib/fleet.py, the emulator role, the WinRM test endpoint's Stop-Service and Start-Service).
"""

import errno
import json
import os
import re
import signal
import sys
import time

try:
    import fcntl
except ImportError:  # pragma: no cover - not on the platforms we run on
    fcntl = None

DEFAULT_VERSION = "1.64.03414.2961"

# name -> (type, default, since, preview-until or None)
PROPERTIES = [
    ("incomingconnections.enabled", "bool", True, (1, 35), (99, 0)),
    ("incomingconnections.ports", "ports", [], (1, 16), (99, 0)),
    ("connection.type", "enum", "default", (1, 40), (1, 58)),
    ("proxy.url", "url", "", (1, 13), None),
    ("proxy.bypass", "bypass", [], (1, 15), None),
    ("extensions.allowlist", "extensions", [], (1, 16), None),
    ("extensions.blocklist", "extensions", [], (1, 16), None),
    ("guestconfiguration.enabled", "bool", True, (1, 16), None),
    ("extensions.enabled", "bool", True, (1, 17), None),
    ("config.mode", "mode", "full", (1, 18), None),
    ("guestconfiguration.agent.cpulimit", "percent", 5, (1, 39), None),
    ("extensions.agent.cpulimit", "percent", 5, (1, 39), None),
]
PROP = {p[0]: p for p in PROPERTIES}
LIST_TYPES = ("ports", "bypass", "extensions")
BYPASS = [("AAD", (1, 15)), ("ARM", (1, 15)), ("Arc", (1, 15)), ("ArcData", (1, 36)), ("AMA", (1, 45))]
ENUMS = {"connection.type": ("default", "direct", "gateway"), "config.mode": ("full", "monitor")}
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
URL_RE = re.compile(r"^https?://(?:[^@/\s]+@)?[A-Za-z0-9._~%-]+(?::\d{1,5})?/?$", re.IGNORECASE)

# INVENTED: Microsoft does not publish the monitor-mode allowlist. This list only stands for it.
MONITOR_ALLOWLIST_INVENTED = {
    "linux": ["Microsoft.Azure.Monitor/AzureMonitorLinuxAgent",
              "Microsoft.Azure.AzureDefenderForServers/MDE.Linux",
              "Qualys/LinuxAgent.AzureSecurityCenter",
              "Microsoft.Azure.ChangeTrackingAndInventory/ChangeTracking-Linux"],
    "windows": ["Microsoft.Azure.Monitor/AzureMonitorWindowsAgent",
                "Microsoft.Azure.AzureDefenderForServers/MDE.Windows",
                "Qualys/WindowsAgent.AzureSecurityCenter",
                "Microsoft.Azure.AzureDefenderForSQL/AdvancedThreatProtection.Windows",
                "Microsoft.Azure.ChangeTrackingAndInventory/ChangeTracking-Windows"],
}

SERVICE_NAMES = {
    "linux": {"himds": "himdsd", "gc": "gcad", "ext": "extd", "proxy": "arcproxyd"},
    "windows": {"himds": "himds", "gc": "GCArcService", "ext": "ExtensionService", "proxy": "arcproxy"},
}
SERVICE_TITLES = {"himds": "Azure Hybrid Instance Metadata Service", "gc": "Guest Configuration Arc Service",
                  "ext": "Guest Configuration Extension Service", "proxy": "Azure Arc Proxy"}
# which service a property's change reconfigures (the real mapping is not published)
PROPERTY_SERVICE = {"proxy.url": "proxy", "proxy.bypass": "proxy", "extensions.allowlist": "ext",
                    "extensions.blocklist": "ext", "extensions.enabled": "ext", "guestconfiguration.enabled": "gc",
                    "config.mode": "ext", "incomingconnections.enabled": "proxy",
                    "incomingconnections.ports": "proxy", "guestconfiguration.agent.cpulimit": "gc",
                    "extensions.agent.cpulimit": "ext", "connection.type": "himds"}

VARIANT_DEFAULTS = {
    "bool_json": "string",        # booleans in --json: "true" (string) or true (literal)
    "int_json": "string",         # integers in --json: "5" or 5
    "text_list_sep": "space",     # text lists with 2+ items: [a b] or [a,b]
    "monitor_list": "stored",     # config list in monitor mode: stored values or the effective ones
    "monitor_refusal_rc": 23,     # exit code when monitor mode refuses a list edit: 23 or 27
    "stored_case": "keep",        # names stored as given, or lower case
    "stored_order": "keep",       # lists stored in the given order, or sorted
    "json_extra_keys": False,     # more top-level keys in config list --json
    "get_json": "object",         # config get --json: {"Key","Value"} or the bare value
    "set_json": "status",         # config set/clear --json: {"status": ...} or {"message": ...}
}

EXIT_TEXT = {1: "error", 2: "internal error", 3: "not supported", 18: "administrative privileges required",
             19: "configuration file not found", 23: "invalid arguments", 27: "configuration conflict",
             69: "error updating local configuration", 70: "unable to obtain local configuration"}


class Fail(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def vtuple(text):
    parts = [int(p) for p in re.findall(r"\d+", str(text))[:4]]
    return tuple(parts + [0] * (4 - len(parts)))


class Agent:
    def __init__(self, environ):
        self.root = environ.get("AZCMAGENT_STANDIN_ROOT", "/") or "/"
        flavour = environ.get("AZCMAGENT_STANDIN_FLAVOUR")
        self.control_path = environ.get("AZCMAGENT_STANDIN_CONTROL")
        self.flavour = flavour or "linux"
        control = self._load_control()
        if not flavour:
            self.flavour = control.get("flavour", "linux")
            control = self._load_control()
        self.control = control
        self.flavour = flavour or control.get("flavour", "linux")
        if self.flavour not in ("linux", "windows"):
            self.flavour = "linux"
        self.version_text = str(control.get("version") or DEFAULT_VERSION)
        self.version = vtuple(self.version_text)
        self.variants = dict(VARIANT_DEFAULTS)
        self.variants.update(control.get("variants") or {})
        self.faults = control.get("faults") or {}
        self.log_path = environ.get("AZCMAGENT_STANDIN_LOG") or os.path.join(self.config_dir(), "standin-invocations.log")
        self.nl = "\r\n" if self.flavour == "windows" else "\n"
        self.out = []
        self.err = []

    # ---------------------------------------------------------------- locations
    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def config_dir(self):
        if self.flavour == "windows":
            return self.path("ProgramData", "AzureConnectedMachineAgent", "Config")
        return self.path("var", "opt", "azcmagent")

    def state_file(self):
        return os.path.join(self.config_dir(), "localconfig.json")

    def log_dir(self):
        if self.flavour == "windows":
            return self.path("ProgramData", "AzureConnectedMachineAgent", "Log")
        return self.path("var", "opt", "azcmagent", "log")

    def extensions_dir(self):
        if self.flavour == "windows":
            return self.path("Packages", "Plugins")
        return self.path("var", "lib", "waagent")

    def _load_control(self):
        path = self.control_path or os.path.join(self.config_dir(), "standin.json")
        try:
            with open(path) as handle:
                return json.load(handle) or {}
        except FileNotFoundError:
            return {}

    # ---------------------------------------------------------------- output
    def say(self, text=""):
        self.out.append(text + self.nl)

    def warn(self, text):
        self.err.append(text + self.nl)

    def flush(self):
        data = "".join(self.out)
        edata = "".join(self.err)
        if data:
            sys.stdout.buffer.write(data.encode("utf-8"))
        if edata:
            sys.stderr.buffer.write(edata.encode("utf-8"))
        sys.stdout.flush()
        sys.stderr.flush()

    # ---------------------------------------------------------------- state
    def supported(self):
        return [p for p in PROPERTIES if self.version >= p[3] + (0, 0)]

    def is_supported(self, name):
        p = PROP.get(name)
        return bool(p) and self.version >= p[3] + (0, 0)

    def read_state(self):
        try:
            with open(self.state_file(), encoding="utf-8") as handle:
                text = handle.read()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise Fail(70, "unable to read local configuration %s: %s" % (self.state_file(), exc))
        if not text.strip():
            return {}
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise Fail(70, "local configuration %s is not valid JSON: %s" % (self.state_file(), exc))
        if not isinstance(data, dict):
            raise Fail(70, "local configuration %s is not a JSON object" % self.state_file())
        if self.control.get("azure_gateway") and self.is_supported("connection.type"):
            # an Arc gateway is associated with the machine in Azure: since 1.51 the agent switches
            # connection.type to gateway by itself, whatever was set locally (Azure owns it)
            data["connection.type"] = "gateway"
        return data

    def value(self, state, name):
        p = PROP[name]
        raw = state.get(name, p[2])
        kind = p[1]
        if kind == "bool":
            if isinstance(raw, str):
                return raw.strip().lower() == "true"
            return bool(raw)
        if kind == "percent":
            try:
                return int(raw)
            except (TypeError, ValueError):
                return p[2]
        if kind in LIST_TYPES:
            if isinstance(raw, str):
                raw = [x.strip() for x in raw.split(",") if x.strip()]
            items = list(raw or [])
            return [int(x) for x in items] if kind == "ports" else [str(x) for x in items]
        return "" if raw is None else str(raw)

    def write_state(self, state):
        directory = self.config_dir()
        os.makedirs(directory, exist_ok=True)
        tmp = os.path.join(directory, ".localconfig.json.%d.tmp" % os.getpid())
        try:
            with open(tmp, "w", encoding="utf-8") as handle:
                json.dump(state, handle, indent=2, sort_keys=True)
                handle.write("\n")
            if self.fault_applies("fail_write", None):
                raise OSError(errno.EACCES, "permission denied (injected)")
            os.replace(tmp, self.state_file())
        except OSError as exc:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise Fail(69, "failed to update local configuration: %s" % exc)

    def lock(self):
        if fcntl is None:
            return None
        os.makedirs(self.config_dir(), exist_ok=True)
        handle = open(os.path.join(self.config_dir(), ".standin.lock"), "a+")
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        return handle

    # ---------------------------------------------------------------- faults
    def fault_applies(self, kind, prop, key="property", **match):
        """Does the fault ``kind`` hit ``prop`` (its ``key``: a property, a service, an extension) now?"""
        spec = self.faults.get(kind)
        if not spec:
            return False
        if spec is True:
            return True
        target = spec.get(key, "*")
        if target != "*" and str(target).replace("/", ".").lower() != str(prop).replace("/", ".").lower():
            return False
        if any(spec.get(name, "*") not in ("*", value) for name, value in match.items()):
            return False
        times = spec.get("times")
        if times is None:
            return True
        counter = os.path.join(self.config_dir(), ".standin-fault-%s.count" % kind)
        try:
            with open(counter) as handle:
                used = int(handle.read().strip() or 0)
        except (OSError, ValueError):
            used = 0
        if used >= int(times):
            return False
        os.makedirs(self.config_dir(), exist_ok=True)
        with open(counter, "w") as handle:
            handle.write(str(used + 1))
        return True

    # ---------------------------------------------------------------- formatting
    def fmt_text(self, name, value):
        kind = PROP[name][1]
        if kind == "bool":
            return "true" if value else "false"
        if kind in LIST_TYPES:
            sep = "," if self.variants.get("text_list_sep") == "comma" else " "
            return "[" + sep.join(str(v) for v in value) + "]"
        return str(value)

    def fmt_json(self, name, value):
        kind = PROP[name][1]
        if kind == "bool":
            return value if self.variants.get("bool_json") == "literal" else ("true" if value else "false")
        if kind == "percent":
            return value if self.variants.get("int_json") == "literal" else str(value)
        if kind == "ports":
            return [v if self.variants.get("int_json") == "literal" else str(v) for v in value] \
                if self.variants.get("int_json") == "literal" else [str(v) for v in value]
        return value

    def label(self, name):
        p = PROP[name]
        if p[4] is not None and self.version < p[4] + (0, 0):
            return name + " (preview)"
        return name

    def view(self, state):
        """What config list shows: stored values, or in monitor mode maybe the effective ones."""
        values = {p[0]: self.value(state, p[0]) for p in self.supported()}
        if values.get("config.mode") == "monitor" and self.variants.get("monitor_list") == "effective":
            values["extensions.allowlist"] = list(MONITOR_ALLOWLIST_INVENTED[self.flavour])
            values["extensions.blocklist"] = []
            values["guestconfiguration.enabled"] = False
            if "incomingconnections.enabled" in values:
                values["incomingconnections.enabled"] = False
        return values

    # ---------------------------------------------------------------- validation
    def parse_value(self, name, text, state):
        kind = PROP[name][1]
        text = text.strip()
        if kind == "bool":
            if text.lower() not in ("true", "false"):
                raise Fail(23, "invalid value %r for %s: must be true or false" % (text, name))
            return text.lower() == "true"
        if kind == "percent":
            if not re.fullmatch(r"\d+", text) or not 1 <= int(text) <= 100:
                raise Fail(23, "invalid value %r for %s: must be a whole percentage from 1 to 100" % (text, name))
            return int(text)
        if kind in ENUMS or kind == "mode" or kind == "enum":
            allowed = ENUMS[name]
            if text.lower() not in allowed:
                raise Fail(23, "invalid value %r for %s: must be one of %s" % (text, name, ", ".join(allowed)))
            return text.lower()
        if kind == "url":
            if not URL_RE.match(text):
                raise Fail(23, "invalid value for proxy.url: must be a URL such as http://proxy.example.com:3128")
            port = re.search(r":(\d+)/?$", text.split("@")[-1])
            if port and not 1 <= int(port.group(1)) <= 65535:
                raise Fail(23, "invalid port in proxy.url")
            return text
        items = [i.strip() for i in text.split(",") if i.strip()]
        if kind == "ports":
            out = []
            for item in items:
                if not re.fullmatch(r"\d+", item) or not 1 <= int(item) <= 65535:
                    raise Fail(23, "invalid port %r for %s: ports are numbers from 1 to 65535" % (item, name))
                out.append(int(item))
            return out
        if kind == "bypass":
            out = []
            known = {v.lower(): (v, since) for v, since in BYPASS}
            for item in items:
                hit = known.get(item.lower())
                if not hit or self.version < hit[1] + (0, 0):
                    allowed = [v for v, since in BYPASS if self.version >= since + (0, 0)]
                    raise Fail(23, "invalid value %r for proxy.bypass: allowed values are %s"
                               % (item, ", ".join(allowed)))
                out.append(hit[0])
            return out
        # extension names
        out = []
        for item in items:
            if item.lower() == "allow/none":
                if self.version < (1, 35, 0, 0) or name != "extensions.allowlist":
                    raise Fail(23, "invalid extension name %r in %s: expected Publisher/Type" % (item, name))
                out.append("Allow/None")
                continue
            if not NAME_RE.match(item):
                raise Fail(23, "invalid extension name %r in %s: expected Publisher/Type" % (item, name))
            out.append(item)
        return out

    def store_list(self, name, items):
        kind = PROP[name][1]
        seen, out = set(), []
        for item in items:
            key = str(item).lower()
            if key in seen:
                continue
            seen.add(key)
            if kind == "extensions" and self.variants.get("stored_case") == "lower":
                item = item.lower() if item != "Allow/None" else item
            out.append(item)
        if self.variants.get("stored_order") == "sorted":
            out.sort(key=lambda x: str(x).lower() if kind != "ports" else x)
        if kind == "extensions" and "Allow/None" in out and len(out) > 1:
            raise Fail(23, "Allow/None cannot be combined with other extensions in the allowlist")
        return out

    # ---------------------------------------------------------------- commands
    def require_elevated(self):
        elevated = self.control.get("elevated")
        if elevated is None:
            elevated = (os.geteuid() == 0) if (self.flavour == "linux" and hasattr(os, "geteuid")) else True
        if not elevated:
            if self.flavour == "windows":
                raise Fail(18, "This command must be run as an administrator (elevated command prompt)")
            raise Fail(18, "This command must be run as root (try sudo)")

    def property_arg(self, name):
        name = name.strip().lower()
        if not self.is_supported(name):
            raise Fail(23, "unknown configuration property %r; run 'azcmagent config info' for the properties "
                           "this agent supports" % name)
        return name

    def cmd_config(self, sub, args, opts):
        if self.faults.get("proxy_on_stderr"):
            # a verbose agent logging its proxy (with its credentials) on standard error before the command
            try:
                url = self.value(self.read_state(), "proxy.url")
            except Fail:
                url = None
            if url:
                self.warn("DEBUG   using proxy %s" % url)
                self.warn(json.dumps({"level": "debug", "proxy": url}))
        return self._cmd_config(sub, args, opts)

    def _cmd_config(self, sub, args, opts):
        self.require_elevated()
        if sub == "list":
            if args:
                raise Fail(23, "config list takes no arguments")
            return self.config_list(opts)
        if sub == "info":
            return self.config_info(args, opts)
        if sub == "get":
            if len(args) != 1:
                raise Fail(23, "config get takes exactly one property name")
            name = self.property_arg(args[0])
            values = self.view(self.read_state())
            value = values[name]
            if opts["json"]:
                shown = self.fmt_json(name, value)
                self.say(json.dumps({"Key": name, "Value": shown} if self.variants.get("get_json") == "object"
                                    else shown))
            else:
                text = self.fmt_text(name, value)
                self.say(text)
            return 0
        if sub == "set":
            if len(args) != 2:
                raise Fail(23, "config set takes a property name and a value")
            return self.config_set(self.property_arg(args[0]), args[1], opts)
        if sub == "clear":
            if len(args) != 1:
                raise Fail(23, "config clear takes exactly one property name")
            return self.config_clear(self.property_arg(args[0]), opts)
        raise Fail(23, "unknown config command %r (list, get, set, clear, info)" % sub)

    def config_list(self, opts):
        if self.faults.get("garbage_output"):
            self.say("\x1b[31mpanic: runtime error: invalid memory address\x1b[0m {\"LocalSett")
            self.say("goroutine 1 [running]:")
            return 0
        values = self.view(self.read_state())
        if opts["json"]:
            doc = {"LocalSettings": [{"Key": p[0], "Value": self.fmt_json(p[0], values[p[0]])}
                                     for p in self.supported()]}
            if self.variants.get("json_extra_keys"):
                doc = {"ConfigVersion": 2, "LocalSettings": doc["LocalSettings"],
                       "AgentVersion": self.version_text}
            self.say(json.dumps(doc))
            return 0
        self.say("Local Configuration Settings")
        for p in self.supported():
            text = self.fmt_text(p[0], values[p[0]])
            self.say(("  %-53s : %s" % (self.label(p[0]), text)).rstrip())
        return 0

    def config_info(self, args, opts):
        props = self.supported()
        if args:
            name = self.property_arg(args[0])
            props = [PROP[name]]
        entries = []
        for p in props:
            entries.append({
                "DisplayName": p[0],
                "IsRemote": False,
                "IsLocal": True,
                "InPreview": p[4] is not None and self.version < p[4] + (0, 0),
                "Description": {"General": "Local setting %s" % p[0], "Example": "azcmagent config set %s ..." % p[0],
                                "Default": json.dumps(p[2]), "AdditionalInfo": ""},
            })
        if opts["json"]:
            self.say(json.dumps(entries))
        else:
            for e in entries:
                self.say("%s%s" % (e["DisplayName"], " (preview)" if e["InPreview"] else ""))
                self.say("  %s" % e["Description"]["General"])
                self.say("  Default: %s" % e["Description"]["Default"])
        return 0

    def monitor_guard(self, state, name):
        if name in ("extensions.allowlist", "extensions.blocklist") and self.value(state, "config.mode") == "monitor":
            rc = int(self.variants.get("monitor_refusal_rc") or 23)
            raise Fail(rc, "%s cannot be changed while the agent is in monitor mode; set config.mode to full first"
                       % name)

    def config_set(self, name, text, opts):
        kind = PROP[name][1]
        if opts["add"] and opts["remove"]:
            raise Fail(23, "--add and --remove cannot be used together")
        if (opts["add"] or opts["remove"]) and kind not in LIST_TYPES:
            raise Fail(23, "--add and --remove can only be used with list properties")

        def change(state):
            value = self.parse_value(name, text, state)
            old = self.value(state, name)
            if kind in LIST_TYPES:
                if opts["add"]:
                    value = old + value
                elif opts["remove"]:
                    drop = {str(v).lower() for v in value}
                    value = [v for v in old if str(v).lower() not in drop]
                value = self.store_list(name, value)
            if name == "config.mode" and value == "full" and self.version < (1, 22, 0, 0):
                state.pop("extensions.allowlist", None)
                state.pop("extensions.blocklist", None)
            if value != old or self.version < (1, 62, 0, 0):
                state[name] = value
                self.write_state(state)
            return value
        value = self.change_property(name, "set", change)
        shown = ",".join(str(v) for v in value) if isinstance(value, list) else self.fmt_text(name, value)
        if self.say_changed("Config property %s set to value %s" % (name, shown), opts):
            service = PROPERTY_SERVICE.get(name)
            if service:
                self.say("INFO    Updating service configuration: %s" % SERVICE_TITLES[service])
        return 0

    def config_clear(self, name, opts):

        def change(state):
            old = self.value(state, name)
            if name in state or self.version < (1, 62, 0, 0):
                state.pop(name, None)
                self.write_state(state)
            return old
        old = self.change_property(name, "clear", change)
        # INVENTED text: the real message is not published; it names the previous value.
        self.say_changed("Config property %s cleared (previous value: %s)" % (name, self.fmt_text(name, old)), opts)
        return 0

    def change_property(self, name, verb, change):
        """``change(state)`` under the state lock, after the monitor-mode guard and the fail_set fault; its result."""
        handle = self.lock()
        try:
            state = self.read_state()
            self.monitor_guard(state, name)
            if self.fault_applies("fail_set", name):
                spec = self.faults["fail_set"]
                rc = int(spec.get("rc", 69)) if isinstance(spec, dict) else 69
                raise Fail(rc, "failed to %s %s (injected fault)" % (verb, name))
            return change(state)
        finally:
            if handle:
                handle.close()

    def say_changed(self, message, opts):
        """The message of a set or clear, as JSON with --json (False) or as text (True)."""
        if opts["json"]:
            self.say(json.dumps({"status": "success", "message": message} if self.variants.get("set_json") == "status"
                                else {"message": message}))
            return False
        self.say(message)
        return True

    def installed_extensions(self):
        base = self.extensions_dir()
        found = []
        try:
            entries = sorted(os.listdir(base))
        except OSError:
            return found
        for entry in entries:
            full = os.path.join(base, entry)
            if not os.path.isdir(full):
                continue
            if self.flavour == "windows":
                if "." not in entry:
                    continue
                publisher, _dot, etype = entry.rpartition(".")
                versions = sorted(v for v in os.listdir(full) if os.path.isdir(os.path.join(full, v)))
                for version in versions or [""]:
                    found.append({"publisher": publisher, "type": etype, "version": version, "path": full})
            else:
                match = re.match(r"^(.+)\.([^.]+)-(\d[\w.]*)$", entry)
                if match:
                    found.append({"publisher": match.group(1), "type": match.group(2), "version": match.group(3),
                                  "path": full})
        return found

    def services(self):
        status = (self.control.get("services") or {})
        out = []
        for key in ("himds", "gc", "ext", "proxy"):
            name = SERVICE_NAMES[self.flavour][key]
            out.append({"displayName": SERVICE_TITLES[key], "serviceName": name,
                        "status": status.get(name, "running")})
        return out

    def cmd_show(self, args, opts):
        return Connection(self).show(args, opts)

    def cmd_extension(self, sub, args, opts):
        if self.version < (1, 39, 0, 0):
            raise Fail(3, "the extension command needs agent 1.39 or later")
        self.require_elevated()
        if sub == "list":
            exts = self.installed_extensions()
            if opts["json"]:
                self.say(json.dumps([{"name": "%s.%s" % (e["publisher"], e["type"]), "publisher": e["publisher"],
                                      "type": e["type"], "version": e["version"]} for e in exts]))
            else:
                for e in exts:
                    self.say("%s.%s %s" % (e["publisher"], e["type"], e["version"]))
            return 0
        if sub == "remove":
            name = opts.get("name")
            if not name:
                raise Fail(23, "extension remove needs --name")
            status = (self.control.get("services") or {}).get(SERVICE_NAMES[self.flavour]["ext"], "running")
            if status == "running":
                raise Fail(27, "the extension manager service must be stopped before removing extensions")
            if self.fault_applies("fail_remove", name, key="extension"):
                spec = self.faults["fail_remove"]
                rc = int(spec.get("rc", 1)) if isinstance(spec, dict) else 1
                raise Fail(rc, "failed to remove extension %s (injected fault)" % name)
            wanted = name.replace("/", ".").lower()
            for e in self.installed_extensions():
                if ("%s.%s" % (e["publisher"], e["type"])).lower() == wanted:
                    import shutil
                    if self.flavour == "windows":
                        shutil.rmtree(e["path"], ignore_errors=True)
                    else:
                        shutil.rmtree(e["path"], ignore_errors=True)
                    self.say("Extension %s removed" % name)
                    return 0
            raise Fail(1, "extension %s is not installed" % name)
        raise Fail(23, "unknown extension command %r (list, remove)" % sub)


# ------------------------------------------------------------------ connection: connect, disconnect, show
#
# Plays `azcmagent connect`, `disconnect` and `show` as the reference documents them (sections 1-3). The
# connection is kept in standin-connection.json next to localconfig.json. Without that file the control
# file's "connected" key says the state (default Connected, to a fixed resource: what the stand-in always
# showed). Every point the reference leaves open is a variant (CONNECTION_VARIANTS).

GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
RESOURCE_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,54}$")
REGION_RE = re.compile(r"^[a-z][a-z0-9]{2,39}$")
CLOUDS = ("AzureCloud", "AzureUSGovernment", "AzureChinaCloud", "AzureStackCloud")
LEGACY_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"

# flag -> (long name, takes a value); the connect and disconnect flags of the reference's tables
CONNECT_FLAGS = {
    "access-token": True, "automanage-profile": True, "cloud": True, "correlation-id": True,
    "enable-automatic-upgrade": False, "ignore-network-check": False, "location": True,
    "private-link-scope": True, "gateway-id": True, "resource-group": True, "resource-name": True,
    "service-principal-id": True, "service-principal-cert": True, "service-principal-cert-thumbprint": True,
    "service-principal-secret": True, "subscription-id": True, "tags": True, "tenant-id": True,
    "use-device-code": False, "use-azcli": False, "user-tenant-id": True,
}
DISCONNECT_FLAGS = {
    "access-token": True, "force-local-only": False, "service-principal-id": True, "service-principal-cert": True,
    "service-principal-cert-thumbprint": True, "service-principal-secret": True, "use-device-code": False,
    "use-azcli": False, "user-tenant-id": True, "tenant-id": True,
}
COMMON_FLAGS = {"config": True, "help": False, "json": False, "log-stderr": False, "no-color": False,
                "verbose": False}
SHORT_FLAGS = {
    "connect": {"-l": "location", "-g": "resource-group", "-n": "resource-name", "-i": "service-principal-id",
                "-p": "service-principal-secret", "-s": "subscription-id", "-t": "tenant-id"},
    "disconnect": {"-f": "force-local-only", "-i": "service-principal-id", "-p": "service-principal-secret"},
}
COMMON_SHORT = {"-h": "help", "-j": "json", "-v": "verbose"}
SECRET_FLAGS = ("service-principal-secret", "access-token")

CONNECTION_VARIANTS = {
    "show_json_keys": "camel",          # show --json keys: camel (resourceName...), id_caps (resourceID,
                                        # subscriptionID, tenantID, resourceGroupName), display ("Resource Name")
    "show_json_empty": "empty",         # unset fields in show --json: empty (""), null, absent
    "missing_param_rc": 16,             # exit code for a missing mandatory flag (AZCM0016 has no exit row): 16 or 23
    "config_unknown_keys": "error",     # a --config key that is no flag of the command: error (23) or ignore
    "config_tags": "any",               # tags in a --config file: any (string or object), string, object
    "disconnect_tenant_id": "accept",   # disconnect --tenant-id: accept or reject (23, unknown flag)
    "disconnect_when_disconnected": "error",  # disconnect on a disconnected agent: error (63) or ok
    "already_connected_output": "resource_id",  # AZCM0067 text: resource_id (names it) or plain
}

CODE_NAMES = {
    12: "Invalid access token", 16: "Missing mandatory parameter", 18: "Administrative privileges required",
    19: "Configuration file not found", 20: "Unknown region", 23: "Invalid arguments", 26: "Network error",
    41: "Failed to obtain access token", 42: "Failed to create Azure resource", 43: "Failed to Delete Resource",
    44: "Resource already exists", 62: "Failed to connect machine to Azure", 63: "Failed to disconnect machine",
    67: "Machine already connected", 68: "Unable to fetch subscription ID",
}


class AzFail(Fail):
    """A connect/disconnect failure, printed in the captured layout (Exit Code line, help link, FATAL line)."""

    def __init__(self, code, message):
        super().__init__(code, message)


def load_config_file(path):
    """A --config file: JSON, or YAML (a flat mapping of scalars; the only shape the reference implies)."""
    try:
        with open(path, encoding="utf-8-sig") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise Fail(19, "The path to the configuration file is incorrect: %s" % path)
    except OSError as exc:
        raise Fail(19, "cannot read the configuration file %s: %s" % (path, exc))
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            doc = json.loads(stripped)
        except ValueError as exc:
            raise Fail(23, "the configuration file %s is not valid JSON: %s" % (path, exc))
        if not isinstance(doc, dict):
            raise Fail(23, "the configuration file %s must hold key-value pairs" % path)
        return doc
    return parse_flat_yaml(text, path)


def _yaml_scalar(raw, path):
    raw = raw.strip()
    if raw.startswith('"'):
        try:
            return json.loads(raw)
        except ValueError:
            raise Fail(23, "the configuration file %s has a bad double-quoted value: %s" % (path, raw))
    if raw.startswith("'"):
        if not raw.endswith("'") or len(raw) < 2:
            raise Fail(23, "the configuration file %s has a bad single-quoted value: %s" % (path, raw))
        return raw[1:-1].replace("''", "'")
    if " #" in raw:
        raw = raw.split(" #", 1)[0].rstrip()
    if raw in ("true", "True", "TRUE"):
        return True
    if raw in ("false", "False", "FALSE"):
        return False
    if raw in ("", "~", "null"):
        return None
    return raw


def parse_flat_yaml(text, path):
    doc = {}
    current = None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#") or line.strip() in ("---", "..."):
            continue
        indented = line[:1] in (" ", "\t")
        match = re.match(r"^\s*([A-Za-z0-9_.-]+|\"[^\"]+\"|'[^']+')\s*:(?:\s+(.*))?$", line)
        if not match:
            raise Fail(23, "the configuration file %s is neither JSON nor YAML key-value pairs (line %d)"
                       % (path, number))
        key = match.group(1).strip("\"'")
        value = match.group(2)
        if indented:
            if current is None:
                raise Fail(23, "the configuration file %s: unexpected indentation (line %d)" % (path, number))
            doc[current][key] = _yaml_scalar(value or "", path)
            continue
        if value is None or not value.strip():
            doc[key] = {}
            current = key
            continue
        current = None
        doc[key] = _yaml_scalar(value, path)
    return doc


def parse_tags(text):
    """`Name=Value,Other='with spaces'` -> dict (AZCM0013 in the historic docs: invalid tags)."""
    tags = {}
    if not text.strip():
        return tags
    parts, buf, quote = [], "", False
    for ch in text:
        if ch == "'":
            quote = not quote
            buf += ch
        elif ch == "," and not quote:
            parts.append(buf)
            buf = ""
        else:
            buf += ch
    if quote:
        raise Fail(23, "invalid tags %r: unbalanced single quote" % text)
    parts.append(buf)
    for part in parts:
        name, eq, value = part.partition("=")
        name, value = name.strip(), value.strip()
        if not eq or not name.strip("'"):
            raise Fail(23, "invalid tags %r: use TagName=TagValue pairs separated by commas" % text)
        tags[name.strip("'")] = value[1:-1] if len(value) >= 2 and value[0] == value[-1] == "'" else value
    return tags


def parse_connection_args(command, argv):
    """Flags of connect/disconnect (long, short, --flag=value) and the common ones: (flags, positional)."""
    allowed = dict(CONNECT_FLAGS if command == "connect" else DISCONNECT_FLAGS)
    allowed.update(COMMON_FLAGS)
    shorts = dict(COMMON_SHORT)
    shorts.update(SHORT_FLAGS[command])
    flags, positional = {}, []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == command and command not in positional:
            positional.append(a)
            i += 1
            continue
        name, value, inline = None, None, False
        if a.startswith("--"):
            name, eq, value = a[2:].partition("=")
            inline = bool(eq)
        elif a in shorts:
            name = shorts[a]
        elif a.startswith("-") and len(a) > 1:
            raise Fail(23, "unknown shorthand flag: %r in %s" % (a[1:], a))
        else:
            positional.append(a)
            i += 1
            continue
        if name not in allowed:
            raise Fail(23, "unknown flag: --%s" % name)
        if allowed[name]:
            if not inline:
                if i + 1 >= len(argv):
                    raise Fail(23, "flag needs an argument: --%s" % name)
                value = argv[i + 1]
                i += 1
            flags[name] = value
        else:
            if inline and value.lower() not in ("true", "false"):
                raise Fail(23, "invalid argument %r for --%s: must be true or false" % (value, name))
            flags[name] = (value.lower() == "true") if inline else True
        i += 1
    return flags, positional


class Connection:
    """The agent's connection to Azure: connect, disconnect, show."""

    FIELDS = ("resourceName", "resourceGroup", "resourceNamespace", "resourceId", "subscriptionId", "tenantId",
              "vmId", "correlationId", "vmUuid", "location", "cloud")

    def __init__(self, agent):
        self.agent = agent
        self.variants = dict(CONNECTION_VARIANTS)
        self.variants.update({k: v for k, v in (agent.control.get("variants") or {}).items()
                              if k in CONNECTION_VARIANTS})
        self.stream_err = False

    # ------------------------------------------------------------ state
    def path(self):
        return os.path.join(self.agent.config_dir(), "standin-connection.json")

    def read(self):
        try:
            with open(self.path(), encoding="utf-8") as handle:
                data = json.load(handle)
        except FileNotFoundError:
            data = None
        except (OSError, ValueError) as exc:
            raise Fail(70, "unable to read the agent's connection state: %s" % exc)
        if data is None:
            status = self.agent.control.get("connected", "Connected")
            if status == "Disconnected":
                data = {"status": "Disconnected"}
            else:
                data = {"status": status, "resourceName": self.agent.control.get("resource_name", "standin-host"),
                        "resourceGroup": "rg-arc", "subscriptionId": LEGACY_SUBSCRIPTION,
                        "tenantId": LEGACY_SUBSCRIPTION, "location": "westeurope", "cloud": "AzureCloud"}
                data["resourceId"] = resource_id(data["subscriptionId"], data["resourceGroup"], "standin-host")
        if data.get("status") == "Connected" and self.agent.faults.get("expired"):
            data = dict(data, status="Expired")
        return data

    def write(self, data):
        directory = self.agent.config_dir()
        os.makedirs(directory, exist_ok=True)
        tmp = os.path.join(directory, ".standin-connection.%d.tmp" % os.getpid())
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
        os.replace(tmp, self.path())

    # ------------------------------------------------------------ output
    def info(self, text):
        line = "INFO    %s" % text
        (self.agent.warn if self.stream_err else self.agent.say)(line)

    def fatal(self, code, message):
        name = CODE_NAMES.get(code, EXIT_TEXT.get(code, "error"))
        emit = self.agent.warn if self.stream_err else self.agent.say
        emit("INFO    Exit Code:  AZCM%04d: %s" % (code, name))
        emit("INFO    For troubleshooting, see https://aka.ms/arc/azcmerror")
        emit("FATAL   %s" % message)
        return code

    # ------------------------------------------------------------ inputs
    def elevated_inputs(self, command, argv, log_extra):
        """``inputs`` of connect or disconnect, which need root (Administrator); None after printing --help."""
        self.agent.require_elevated()
        opts = self.inputs(command, argv, log_extra)
        if opts.get("help"):
            self.agent.say("Usage:\n  azcmagent %s [flags]" % command)
            return None
        return opts

    def inputs(self, command, argv, log_extra):
        flags, positional = parse_connection_args(command, argv)
        if positional[1:] if positional and positional[0] == command else positional:
            raise Fail(23, "%s takes no arguments, got %s" % (command, " ".join(positional[1:])))
        self.stream_err = bool(flags.get("log-stderr"))
        if command == "disconnect" and "tenant-id" in flags and self.variants["disconnect_tenant_id"] == "reject":
            raise Fail(23, "unknown flag: --tenant-id")
        merged = {}
        if flags.get("config"):
            path = self.local_path(flags["config"])
            log_extra["config_file"] = self.describe_file(path)
            doc = load_config_file(path)
            allowed = dict(CONNECT_FLAGS if command == "connect" else DISCONNECT_FLAGS)
            allowed.update(COMMON_FLAGS)
            for key, value in doc.items():
                key = str(key)
                if key.startswith("--"):
                    key = key[2:]
                if key not in allowed or key == "config":
                    if self.variants["config_unknown_keys"] == "ignore":
                        continue
                    raise Fail(23, "unknown key %r in the configuration file %s" % (key, path))
                if key == "tags":
                    value = self.config_tags(value, path)
                elif allowed[key]:
                    if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
                        raise Fail(23, "invalid value for %r in the configuration file %s" % (key, path))
                    value = str(value)
                else:
                    if isinstance(value, str) and value.lower() in ("true", "false"):
                        value = value.lower() == "true"
                    if not isinstance(value, bool):
                        raise Fail(23, "%r in the configuration file %s must be true or false" % (key, path))
                merged[key] = value
            log_extra["config_keys"] = sorted(merged)
        merged.update({k: v for k, v in flags.items() if k != "config"})  # the command line wins
        return merged

    def local_path(self, path):
        """A Windows path (C:\\X\\Y) below the stand-in's root on the Windows flavour; other paths as they are."""
        if self.agent.flavour == "windows" and re.match(r"^[A-Za-z]:\\", path):
            return self.agent.path(*[p for p in path[3:].split("\\") if p])
        return path

    def describe_file(self, path):
        try:
            st = os.stat(path)
        except OSError:
            return {"path": path, "exists": False}
        return {"path": path, "exists": True, "mode": "%04o" % (st.st_mode & 0o7777), "uid": st.st_uid,
                "gid": st.st_gid}

    def config_tags(self, value, path):
        mode = self.variants["config_tags"]
        if isinstance(value, dict) and mode in ("any", "object"):
            return {str(k): "" if v is None else str(v) for k, v in value.items()}
        if isinstance(value, str) and mode in ("any", "string"):
            return value
        raise Fail(23, "invalid tags in the configuration file %s" % path)

    def credentials(self, opts, tenant):
        """Check the authentication flags as connect does; returns the method used."""
        methods = [m for m in ("service-principal-id", "access-token", "use-device-code", "use-azcli") if opts.get(m)]
        if len(methods) > 1:
            raise Fail(23, "only one authentication method may be given, got %s"
                       % ", ".join("--" + m for m in methods))
        secrets = [k for k in ("service-principal-secret", "service-principal-cert",
                               "service-principal-cert-thumbprint") if opts.get(k)]
        if secrets and not opts.get("service-principal-id"):
            raise Fail(23, "--%s needs --service-principal-id" % secrets[0])
        known = self.agent.control.get("credentials")
        if opts.get("service-principal-id"):
            if not tenant:
                raise Fail(int(self.variants["missing_param_rc"]),
                           "Missing mandatory parameter: --tenant-id is required with a service principal")
            if len(secrets) != 1:
                raise Fail(23, "a service principal needs exactly one of --service-principal-secret, "
                               "--service-principal-cert or --service-principal-cert-thumbprint")
            if secrets[0] == "service-principal-cert-thumbprint" and self.agent.flavour != "windows":
                raise Fail(3, "--service-principal-cert-thumbprint is only supported on Windows")
            if secrets[0] == "service-principal-cert":
                cert = opts["service-principal-cert"]
                if not os.path.isfile(cert):
                    raise AzFail(41, "Failed to acquire authorization token from SPN: cannot read the certificate "
                                     "file %s" % cert)
            if known is not None and secrets[0] == "service-principal-secret":
                expected = (known.get("service_principals") or {}).get(opts["service-principal-id"])
                if expected is None:
                    raise AzFail(41, "Application with identifier '%s' wasn't found in the directory '%s'."
                                 % (opts["service-principal-id"], tenant))
                if not credential_matches(expected, opts["service-principal-secret"]):
                    raise AzFail(41, "Failed to acquire authorization token from SPN: Invalid client secret is "
                                     "provided")
            return "service_principal"
        if opts.get("access-token"):
            token = opts["access-token"]
            if known is not None and not any(credential_matches(t, token) for t in known.get("access_tokens") or []):
                raise AzFail(12, "The access token is invalid or expired")
            return "access_token"
        if opts.get("use-azcli"):
            if self.agent.version < (1, 59, 0, 0):
                raise Fail(23, "unknown flag: --use-azcli")
            raise AzFail(41, "Failed to acquire authorization token: the Azure CLI is not signed in (run az login)")
        # device code: the default on Linux and Windows Server core; no one signs in on a test host
        self.info("To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the "
                  "code STANDIN0 to authenticate.")
        raise AzFail(41, "Failed to acquire authorization token device flow: the device code expired before "
                         "anyone signed in")

    # ------------------------------------------------------------ commands
    def connect(self, argv, log_extra):
        agent = self.agent
        opts = self.elevated_inputs("connect", argv, log_extra)
        if opts is None:
            return 0
        missing = [f for f in ("subscription-id", "resource-group", "location") if not opts.get(f)]
        if missing:
            raise Fail(int(self.variants["missing_param_rc"]),
                       "Missing mandatory parameter: %s" % ", ".join("--" + m for m in missing))
        handle = agent.lock()
        try:
            current = self.read()
            if current.get("status") in ("Connected", "Expired"):
                text = "The machine is already connected to Azure. Run azcmagent disconnect to remove the current " \
                       "connection, then try again."
                if self.variants["already_connected_output"] == "resource_id":
                    text += " Resource ID=%s" % current.get("resourceId", "")
                raise AzFail(67, text)
            cloud = opts.get("cloud") or "AzureCloud"
            if cloud not in CLOUDS:
                raise Fail(23, "The cloud is invalid: %s. Specify a supported cloud: %s"
                           % (cloud, ", ".join(CLOUDS[:3])))
            location = opts["location"]
            regions = agent.control.get("regions")
            if (regions is not None and location not in regions) or (regions is None and not REGION_RE.match(location)):
                raise AzFail(20, "An unknown region was specified: %s" % location)
            if opts.get("correlation-id") and not GUID_RE.match(opts["correlation-id"]):
                raise Fail(23, "The correlation ID specified is not a valid GUID: %s" % opts["correlation-id"])
            name = opts.get("resource-name") or agent.control.get("hostname") or socket_hostname()
            if not RESOURCE_NAME_RE.match(name) or name[-1] in "-_":
                raise Fail(23, "invalid resource name %r: use only alphanumeric characters, hyphens, and/or "
                               "underscores; the name can't end with a hyphen or underscore" % name)
            tags = opts.get("tags") or {}
            if isinstance(tags, str):
                tags = parse_tags(tags)
            for key in ("private-link-scope", "gateway-id", "automanage-profile"):
                if opts.get(key) and not opts[key].startswith("/"):
                    raise Fail(23, "--%s must be a resource ID, got %r" % (key, opts[key]))
            tenant = opts.get("tenant-id") or agent.control.get("default_tenant") or ""
            self.info("Connecting machine to Azure... This might take a few minutes.")
            self.info("Cloud: %s" % cloud)
            self.info("Testing connectivity to endpoints that are needed to connect to Azure... This might take a "
                      "few minutes.")
            method = self.credentials(opts, tenant)
            log_extra["auth"] = method
            subscription = opts["subscription-id"]
            if not GUID_RE.match(subscription):
                found = (agent.control.get("subscriptions") or {}).get(subscription)
                if not found:
                    raise AzFail(68, "Unable to fetch the subscription ID of %r. Retry the command with the "
                                     "subscription GUID." % subscription)
                subscription = found
            hang = float(agent.faults.get("hang_connect") or 0)
            if hang:  # log now: a stand-in killed while it hangs never logs its end
                log_invocation(agent, argv, None, time.time(), dict(log_extra, phase="hanging"))
                time.sleep(hang)
            if agent.fault_applies("fail_connect", "*"):
                spec = agent.faults["fail_connect"]
                rc = int(spec.get("rc", 62)) if isinstance(spec, dict) else 62
                message = (spec.get("message") if isinstance(spec, dict) else None) or \
                    "An error occurred while connecting the server (injected fault)"
                raise AzFail(rc, message)
            if name.lower() in [n.lower() for n in agent.control.get("existing_resources") or []]:
                raise AzFail(44, "A resource with the same name already exists: %s" % name)
            rid = resource_id(subscription, opts["resource-group"], name)
            correlation = opts.get("correlation-id") or pseudo_guid(rid + "c")
            self.info("Creating resource in Azure...                 Correlation ID=%s Resource ID=%s"
                      % (correlation, rid))
            state = {"status": "Connected", "resourceName": name, "resourceGroup": opts["resource-group"],
                     "resourceNamespace": "Microsoft.HybridCompute", "resourceId": rid,
                     "subscriptionId": subscription, "tenantId": tenant or pseudo_guid(subscription + "t"),
                     "vmId": pseudo_guid(rid), "correlationId": correlation, "vmUuid": pseudo_guid(rid + "u"),
                     "location": location, "cloud": cloud, "tags": tags,
                     "privateLinkScope": opts.get("private-link-scope", ""), "gatewayId": opts.get("gateway-id", ""),
                     "auth": method, "connectedAt": time.time()}
            self.write(state)
        finally:
            if handle:
                handle.close()
        self.info("Connected machine to Azure")
        self.info("Machine overview page: %s" % portal_page(state))
        if opts.get("json"):
            agent.say(json.dumps({"status": "success", "resourceId": rid, "portalPageUrl": portal_page(state)}))
        return 0

    def disconnect(self, argv, log_extra):
        agent = self.agent
        opts = self.elevated_inputs("disconnect", argv, log_extra)
        if opts is None:
            return 0
        handle = agent.lock()
        try:
            current = self.read()
            if current.get("status") == "Disconnected" and self.variants["disconnect_when_disconnected"] == "error":
                raise AzFail(63, "The machine is not connected to Azure")
            if not opts.get("force-local-only"):
                method = self.credentials(opts, current.get("tenantId") or opts.get("tenant-id") or "")
                log_extra["auth"] = method
                if agent.fault_applies("fail_disconnect", "*"):
                    spec = agent.faults["fail_disconnect"]
                    rc = int(spec.get("rc", 43)) if isinstance(spec, dict) else 43
                    raise AzFail(rc, (spec.get("message") if isinstance(spec, dict) else None) or
                                 "Message: The scope '%s' cannot perform delete operation because following scope(s) "
                                 "are locked. Please remove the lock and try again. Code: ScopeLocked "
                                 "httpStatusCode:409" % current.get("resourceId", ""))
            self.write({"status": "Disconnected"})
        finally:
            if handle:
                handle.close()
        self.info("Disconnected machine from Azure")
        if opts.get("json"):
            agent.say(json.dumps({"status": "success"}))
        return 0

    def show_info(self):
        state = self.read()
        connected = state.get("status") != "Disconnected"
        info = {field: (state.get(field, "") if connected else "") for field in self.FIELDS}
        if connected and not info["resourceNamespace"]:
            info["resourceNamespace"] = "Microsoft.HybridCompute"
        info.update(agentVersion=self.agent.version_text, status=state.get("status", "Disconnected"),
                    lastHeartbeat=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) if connected else "",
                    httpsProxy="", services=self.agent.services(),
                    portalPage=portal_page(state) if connected else "")
        return info

    def show(self, args, opts):
        agent = self.agent
        if agent.version < (1, 31, 0, 0):
            agent.require_elevated()
        info = self.show_info()
        rows = [("Resource Name", "resourceName"), ("Resource Group Name", "resourceGroup"),
                ("Resource Namespace", "resourceNamespace"), ("Resource Id", "resourceId"),
                ("Subscription ID", "subscriptionId"), ("Tenant ID", "tenantId"), ("VM ID", "vmId"),
                ("Correlation ID", "correlationId"), ("VM UUID", "vmUuid"), ("Location", "location"),
                ("Cloud", "cloud"), ("Agent Version", "agentVersion"), ("Agent Logfile", None),
                ("Agent Status", "status"), ("Agent Last Heartbeat", "lastHeartbeat"),
                ("Agent Error Code", None), ("Agent Error Details", None), ("Agent Error Timestamp", None),
                ("Using HTTPS Proxy", "httpsProxy"), ("Proxy Bypass List", None), ("Upstream Proxy", None),
                ("Gateway URL", None), ("Cloud Provider", None)]
        logfile = os.path.join(agent.log_dir(), "himds.log")
        if agent.flavour == "windows":
            logfile = "C:\\ProgramData\\AzureConnectedMachineAgent\\Log\\himds.log"
        elif agent.root == "/":
            logfile = "/var/opt/azcmagent/log/himds.log"
        extra = {"Agent Logfile": logfile, "Cloud Provider": "N/A"}
        if args:
            wanted = []
            for arg in args:
                hit = [r for r in rows if arg.lower() in (r[0].lower(), (r[1] or "").lower())]
                if not hit:
                    raise Fail(23, "unknown property %r" % arg)
                wanted.extend(hit)
            rows = wanted
        if opts["json"]:
            doc = self.json_doc(info, rows if args else None)
            agent.say(json.dumps(doc))
            return 0
        for title, key in rows:
            value = info.get(key, "") if key else extra.get(title, "")
            agent.say(("%-39s : %s" % (title, value)).rstrip() if value == "" else "%-39s : %s" % (title, value))
        if not args:
            agent.say("Dependent Service Status")
            for svc in info["services"]:
                label = "  %s (%s)" % (svc["displayName"], svc["serviceName"])
                status = svc["status"]
                if agent.flavour == "linux":
                    status = "active" if status == "running" else "inactive"
                agent.say("%-39s : %s" % (label, status))
            agent.say(("%-39s : %s" % ("Portal Page", info["portalPage"])).rstrip())
        return 0

    def json_doc(self, info, rows):
        style = self.variants["show_json_keys"]
        empty = self.variants["show_json_empty"]
        names = {"resourceName": "Resource Name", "resourceGroup": "Resource Group Name",
                 "resourceNamespace": "Resource Namespace", "resourceId": "Resource Id",
                 "subscriptionId": "Subscription ID", "tenantId": "Tenant ID", "vmId": "VM ID",
                 "correlationId": "Correlation ID", "vmUuid": "VM UUID", "location": "Location", "cloud": "Cloud",
                 "agentVersion": "Agent Version", "lastHeartbeat": "Agent Last Heartbeat",
                 "httpsProxy": "Using HTTPS Proxy", "portalPage": "Portal Page"}
        id_caps = {"resourceId": "resourceID", "subscriptionId": "subscriptionID", "tenantId": "tenantID",
                   "resourceGroup": "resourceGroupName", "vmId": "vmID", "correlationId": "correlationID"}
        keep = None if rows is None else {r[1] for r in rows if r[1]}
        doc = {}
        for key, value in info.items():
            if keep is not None and key not in keep:
                continue
            if key not in ("status", "services") and value == "":
                if empty == "absent":
                    continue
                if empty == "null":
                    value = None
            if style == "display" and key in names:
                key = names[key]
            elif style == "id_caps":
                key = id_caps.get(key, key)
            doc[key] = value
        return doc


def credential_matches(expected, given):
    """A known credential, as itself or as ``sha256:<hex>`` (so that a test host's files need not hold it)."""
    import hashlib
    if isinstance(expected, str) and expected.startswith("sha256:"):
        return hashlib.sha256(given.encode("utf-8")).hexdigest() == expected[len("sha256:"):]
    return expected == given


def resource_id(subscription, group, name):
    return "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.HybridCompute/machines/%s" % (
        subscription, group, name)


def portal_page(state):
    if not state.get("resourceId"):
        return ""
    return "https://portal.azure.com/#@%s/resource%s/overview" % (state.get("tenantId", ""), state["resourceId"])


def pseudo_guid(seed):
    import hashlib
    digest = hashlib.sha256(seed.encode("utf-8")).hexdigest()
    return "%s-%s-%s-%s-%s" % (digest[:8], digest[8:12], digest[12:16], digest[16:20], digest[20:32])


def socket_hostname():
    import socket
    return socket.gethostname().split(".")[0] or "localhost"


def parse_args(argv):
    """Split cobra-style flags from positional arguments."""
    opts = {"json": False, "add": False, "remove": False, "verbose": False, "help": False, "name": None,
            "config": None, "log_stderr": False, "no_color": False, "os": False}
    args = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            args.extend(argv[i + 1:])
            break
        if a in ("-j", "--json"):
            opts["json"] = True
        elif a in ("-a", "--add"):
            opts["add"] = True
        elif a in ("-r", "--remove"):
            opts["remove"] = True
        elif a in ("-v", "--verbose"):
            opts["verbose"] = True
        elif a in ("-h", "--help"):
            opts["help"] = True
        elif a == "--log-stderr":
            opts["log_stderr"] = True
        elif a == "--no-color":
            opts["no_color"] = True
        elif a == "--os":
            opts["os"] = True
        elif a in ("--name", "--config", "-n"):
            if i + 1 >= len(argv):
                raise Fail(23, "flag needs an argument: %s" % a)
            opts["name" if a in ("--name", "-n") else "config"] = argv[i + 1]
            i += 1
        elif a.startswith("--name=") or a.startswith("--config="):
            key, _eq, val = a[2:].partition("=")
            opts[key] = val
        elif a.startswith("-") and len(a) > 1 and not re.fullmatch(r"-\d+", a):
            raise Fail(23, "unknown flag: %s" % a)
        else:
            args.append(a)
        i += 1
    return args, opts


USAGE = """azcmagent manages the Azure Connected Machine agent (arcguard stand-in)

Usage:
  azcmagent [command]

Available Commands:
  config      Change configuration settings for the agent
  extension   Manage extensions installed on this machine
  show        Gets machine metadata and agent status
  version     Display the hybrid management agent version

Flags:
  -h, --help         help for azcmagent
  -j, --json         Output in JSON format
      --log-stderr   Redirect error and verbose messages to the standard error stream
      --no-color     Disable color output
  -v, --verbose      Show verbose logging"""


def echo_secrets(agent, argv):
    """``faults.echo_secrets``: a failing connect or disconnect quotes its --config file and the secrets in it, on
    both streams (as a verbose log line and an error message might), as is and JSON-encoded."""
    if not agent.faults.get("echo_secrets"):
        return
    path = next((argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--config"), None) or next(
        (a.split("=", 1)[1] for a in argv if a.startswith("--config=")), None)
    if agent.flavour == "windows" and path and re.match(r"^[A-Za-z]:\\", path):
        path = agent.path(*[p for p in path[3:].split("\\") if p])
    try:
        with open(path, encoding="utf-8-sig") as handle:
            text = handle.read().strip()
    except (OSError, TypeError):
        return
    agent.say("DEBUG   read configuration file: %s" % text)
    agent.warn("DEBUG   read configuration file: %s" % text)
    try:
        doc = json.loads(text)
    except ValueError:
        doc = {}
    for key, value in (doc.items() if isinstance(doc, dict) else []):
        agent.warn("ERROR   the credentials were refused: --%s %s" % (key, value))
        agent.say(json.dumps({"level": "error", "msg": "credentials refused", key: value}))


def run(agent, argv, log_extra=None):
    log_extra = {} if log_extra is None else log_extra
    first = next((a for a in argv if not a.startswith("-")), None)
    if first in ("connect", "disconnect"):
        hang = float(agent.faults.get("hang_seconds") or 0)
        if hang:
            time.sleep(hang)
        connection = Connection(agent)
        try:
            return getattr(connection, first)(argv, log_extra)
        except AzFail as exc:
            echo_secrets(agent, argv)
            return connection.fatal(exc.code, exc.message)
        except Fail:
            echo_secrets(agent, argv)
            raise
    args, opts = parse_args(argv)
    if opts["config"]:
        if not os.path.exists(opts["config"]):
            raise Fail(19, "configuration file %s not found" % opts["config"])
    if opts["no_color"] and agent.version < (1, 22, 0, 0):
        raise Fail(23, "unknown flag: --no-color")
    if opts["help"] or not args:
        agent.say(USAGE)
        return 0
    hang = float(agent.faults.get("hang_seconds") or 0)
    if hang:
        time.sleep(hang)
    interrupt_hook(agent, "hang_at", " ".join(args[:2]), key="command")
    command, rest = args[0], args[1:]
    if command == "version":
        agent.say("azcmagent version %s" % agent.version_text)
        return 0
    if command == "show":
        return agent.cmd_show(rest, opts)
    if command == "config":
        if agent.version < (1, 13, 0, 0):
            raise Fail(23, "unknown command \"config\" for \"azcmagent\"")
        if not rest:
            raise Fail(23, "config needs a subcommand: list, get, set, clear, info")
        return agent.cmd_config(rest[0], rest[1:], opts)
    if command == "extension":
        if not rest:
            raise Fail(23, "extension needs a subcommand: list, remove")
        return agent.cmd_extension(rest[0], rest[1:], opts)
    if command == "check":
        raise Fail(3, "%s is not supported by the stand-in" % command)
    raise Fail(23, "unknown command \"%s\" for \"azcmagent\"" % command)


def log_invocation(agent, argv, rc, start, extra=None):
    try:
        os.makedirs(os.path.dirname(agent.log_path), exist_ok=True)
        entry = {"argv": argv, "rc": rc, "pid": os.getpid(), "start": start, "end": time.time()}
        entry.update(extra or {})
        line = json.dumps(entry) + "\n"
        fd = os.open(agent.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode("utf-8"))
        finally:
            os.close(fd)
    except OSError:
        pass


# ------------------------------------------------------------------ test hook: the service manager

SERVICE_TOOLS = ("systemctl", "service", "windows")


def set_service_status(agent, name, status):
    """Record a service's status in the control file (under the lock, atomically)."""
    handle = agent.lock()
    try:
        path = agent.control_path or os.path.join(agent.config_dir(), "standin.json")
        try:
            with open(path) as stream:
                control = json.load(stream) or {}
        except FileNotFoundError:
            control = {}
        control.setdefault("services", {})[name] = status
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        tmp = "%s.%d.tmp" % (path, os.getpid())
        with open(tmp, "w") as stream:
            json.dump(control, stream, indent=2, sort_keys=True)
            stream.write("\n")
        os.replace(tmp, path)
    finally:
        if handle:
            handle.close()


def service_tool(agent, tool, argv):
    """Play ``tool`` (systemctl, service, windows) for the agent's services: (rc, stdout, stderr)."""
    names = {n.lower(): n for n in SERVICE_NAMES[agent.flavour].values()}
    args = [a for a in argv if a not in ("-q", "--quiet", "--no-block", "--no-pager")]
    if tool == "service":
        if len(args) != 2:
            return 1, "", "Usage: service < option > | --status-all | [ service_name [ command | --full-restart ] ]\n"
        unit, action = args
    elif len(args) == 2:
        action, unit = args
    else:
        return 1, "", "%s: expected ACTION NAME\n" % tool
    if tool == "systemctl" and unit.endswith(".service"):
        unit = unit[:-len(".service")]
    name = names.get(unit.lower()) if tool == "windows" else (unit if unit in names.values() else None)
    status = (agent.control.get("services") or {}).get(name, "running") if name else None
    if action in ("is-active", "status"):
        if name is None and action == "status":
            return 4, "", "Unit %s.service could not be found.\n" % unit
        running = status == "running"
        return (0 if running else 3), ("active\n" if running else "inactive\n"), ""
    if action not in ("stop", "start", "restart"):
        return 1, "", "%s: unknown action %r\n" % (tool, action)
    if name is None:
        if tool == "windows":
            return 1, "", "Cannot find any service with service name '%s'.\n" % unit
        if tool == "service":
            return 1, "", "%s: unrecognized service\n" % unit
        return 5, "", "Failed to %s %s.service: Unit %s.service not loaded.\n" % (action, unit, unit)
    interrupt_hook(agent, "hang_service", name, key="service", action=action)
    if agent.fault_applies("fail_service", name, key="service", action=action):
        spec = agent.faults["fail_service"]
        rc = int(spec.get("rc", 1)) if isinstance(spec, dict) else 1
        return rc, "", "Failed to %s %s (injected fault)\n" % (action, name)
    set_service_status(agent, name, "stopped" if action == "stop" else "running")
    return 0, "", ""


def service_main(tool, argv):
    agent = Agent(os.environ)
    if tool not in SERVICE_TOOLS:
        sys.stderr.write("AZCMAGENT_STANDIN_SERVICE_TOOL must be one of %s\n" % ", ".join(SERVICE_TOOLS))
        return 2
    rc, out, err = service_tool(agent, tool, argv)
    sys.stdout.write(out)
    sys.stderr.write(err)
    try:
        path = os.path.join(agent.config_dir(), "standin-services.log")
        with open(path, "a") as stream:
            stream.write(json.dumps({"tool": tool, "argv": argv, "rc": rc, "time": time.time()}) + "\n")
    except OSError:
        pass
    return rc


# ------------------------------------------------------------------ test hooks: interrupts at a chosen step
# Used by tests/e2e/test_interrupts.py to kill a run while it is in the middle of one step.
#   faults.hang_at:      {"command": "extension remove", "seconds": 30, "times": 1}  (the first two arguments)
#   faults.hang_service: {"service": "extd", "action": "stop", "seconds": 30, "times": 1}  (service-manager hook)
# Before hanging, the stand-in appends {"kind", "what", "pid", "time"} to standin-hangs.log next to
# localconfig.json, so a test knows the moment to interrupt.

def interrupt_hook(agent, kind, what, key, **match):
    if not agent.faults.get(kind) or not agent.fault_applies(kind, what, key=key, **match):
        return
    spec = agent.faults[kind]
    try:
        os.makedirs(agent.config_dir(), exist_ok=True)
        with open(os.path.join(agent.config_dir(), "standin-hangs.log"), "a") as stream:
            stream.write(json.dumps({"kind": kind, "what": what, "pid": os.getpid(), "time": time.time()}) + "\n")
    except OSError:
        pass
    time.sleep(float(spec.get("seconds", 30) if isinstance(spec, dict) else 30))


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    tool = os.environ.get("AZCMAGENT_STANDIN_SERVICE_TOOL")
    if tool:
        return service_main(tool, argv)
    start = time.time()
    signal.signal(signal.SIGTERM, lambda *_args: sys.exit(143))
    agent = Agent(os.environ)
    rc = 0
    as_json = "-j" in argv or "--json" in argv
    extra = {}
    try:
        rc = run(agent, argv, extra)
    except Fail as exc:
        rc = exc.code
        code = "AZCM%04d" % exc.code
        if as_json or agent.faults.get("error_json"):
            agent.say(json.dumps({"status": "failed", "error": {"message": exc.message, "code": code}}))
        else:
            agent.warn("%s: %s" % (code, exc.message))
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else 1
    except Exception as exc:  # a bug in the stand-in: say so like the agent would
        rc = 2
        agent.warn("AZCM0002: internal error: %s" % exc)
    agent.flush()
    log_invocation(agent, argv, rc, start, extra)
    return rc


if __name__ == "__main__":
    sys.exit(main())
