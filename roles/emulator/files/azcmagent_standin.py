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
        handle = self.lock()
        try:
            state = self.read_state()
            self.monitor_guard(state, name)
            if self.fault_applies("fail_set", name):
                spec = self.faults["fail_set"]
                rc = int(spec.get("rc", 69)) if isinstance(spec, dict) else 69
                raise Fail(rc, "failed to set %s (injected fault)" % name)
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
        finally:
            if handle:
                handle.close()
        shown = ",".join(str(v) for v in value) if isinstance(value, list) else self.fmt_text(name, value)
        message = "Config property %s set to value %s" % (name, shown)
        if opts["json"]:
            self.say(json.dumps({"status": "success", "message": message} if self.variants.get("set_json") == "status"
                                else {"message": message}))
        else:
            self.say(message)
            service = PROPERTY_SERVICE.get(name)
            if service:
                self.say("INFO    Updating service configuration: %s" % SERVICE_TITLES[service])
        return 0

    def config_clear(self, name, opts):
        handle = self.lock()
        try:
            state = self.read_state()
            self.monitor_guard(state, name)
            if self.fault_applies("fail_set", name):
                spec = self.faults["fail_set"]
                rc = int(spec.get("rc", 69)) if isinstance(spec, dict) else 69
                raise Fail(rc, "failed to clear %s (injected fault)" % name)
            old = self.value(state, name)
            if name in state or self.version < (1, 62, 0, 0):
                state.pop(name, None)
                self.write_state(state)
        finally:
            if handle:
                handle.close()
        # INVENTED text: the real message is not published; it names the previous value.
        message = "Config property %s cleared (previous value: %s)" % (name, self.fmt_text(name, old))
        if opts["json"]:
            self.say(json.dumps({"status": "success", "message": message} if self.variants.get("set_json") == "status"
                                else {"message": message}))
        else:
            self.say(message)
        return 0

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
        connected = self.control.get("connected", "Connected")
        info = {
            "resourceName": self.control.get("resource_name", "standin-host"),
            "resourceGroup": "rg-arc", "subscriptionId": "00000000-0000-0000-0000-000000000000",
            "tenantId": "00000000-0000-0000-0000-000000000000", "location": "westeurope",
            "resourceId": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-arc/providers/"
                          "Microsoft.HybridCompute/machines/standin-host",
            "agentVersion": self.version_text, "status": connected,
            "lastHeartbeat": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "services": self.services(),
        }
        if self.version < (1, 31, 0, 0):
            self.require_elevated()
        if opts["json"]:
            self.say(json.dumps(info))
            return 0
        rows = [("Resource Name", info["resourceName"]), ("Resource Group Name", info["resourceGroup"]),
                ("Resource Id", info["resourceId"]), ("Subscription ID", info["subscriptionId"]),
                ("Tenant ID", info["tenantId"]), ("Location", info["location"]),
                ("Agent Version", info["agentVersion"]), ("Agent Status", info["status"]),
                ("Agent Last Heartbeat", info["lastHeartbeat"])]
        for svc in info["services"]:
            rows.append((svc["displayName"], "%s (%s)" % (svc["status"], svc["serviceName"])))
        for key, value in rows:
            self.say("%-39s : %s" % (key, value))
        return 0

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


def parse_args(argv):
    """Split cobra-style flags from positional arguments."""
    opts = {"json": False, "add": False, "remove": False, "verbose": False, "help": False, "name": None,
            "config": None, "log_stderr": False, "no_color": False}
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


def run(agent, argv):
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
    if command in ("check", "connect", "disconnect"):
        raise Fail(3, "%s is not supported by the stand-in" % command)
    raise Fail(23, "unknown command \"%s\" for \"azcmagent\"" % command)


def log_invocation(agent, argv, rc, start):
    try:
        os.makedirs(os.path.dirname(agent.log_path), exist_ok=True)
        line = json.dumps({"argv": argv, "rc": rc, "pid": os.getpid(), "start": start, "end": time.time()}) + "\n"
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
# Used by tests/hostile/test_interrupts.py to kill a run while it is in the middle of one step.
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
    try:
        rc = run(agent, argv)
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
    log_invocation(agent, argv, rc, start)
    return rc


if __name__ == "__main__":
    sys.exit(main())
