# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parsers for what azcmagent prints, tolerant of every variant we know of.

Internal to arcguard.azcmagent: not a public API, may change without notice.

Everything here is pure: text in, Python values out, ``ParseError`` when the text
is not what azcmagent prints.
"""

from __future__ import annotations

import json
import re

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _catalog as catalog


class ParseError(ValueError):
    pass


_PREVIEW = re.compile(r"\s*\((?:preview|Preview)\)\s*$")
_TRUE = ("true", "yes", "on", "1", "enabled")
_FALSE = ("false", "no", "off", "0", "disabled")


def bare_key(key: str) -> str:
    """A property name without the ` (preview)` marker, lower case."""
    return _PREVIEW.sub("", str(key)).strip().lower()


def to_bool(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ParseError("not a boolean: %r" % (value,))


def to_int(value):
    if isinstance(value, bool):
        raise ParseError("not an integer: %r" % (value,))
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = str(value).strip()
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    raise ParseError("not an integer: %r" % (value,))


def split_list_text(text: str):
    """Items of a list as the agent prints it: `[]`, `[a]`, `[a b]`, `[a,b]`, `a, b`."""
    text = str(text).strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return [item for item in re.split(r"[\s,]+", text) if item]


def to_list(value):
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        items = []
        for item in value:
            if isinstance(item, (list, tuple)):
                items.extend(to_list(item))
            elif item is None:
                continue
            else:
                items.extend(split_list_text(item) if isinstance(item, str) else [item])
        return items
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            try:
                loaded = json.loads(stripped)
            except ValueError:
                loaded = None
            if isinstance(loaded, list):
                return to_list(loaded)
        return split_list_text(stripped)
    return [value]


def normalise(prop: str, value):
    """A property value as Python: bool, int, str or list, by the property's type."""
    spec = catalog.PROPERTIES.get(prop)
    kind = spec["type"] if spec else None
    if kind == catalog.BOOL:
        return to_bool(value)
    if kind == catalog.INT:
        return to_int(value)
    if kind == catalog.PORTS:
        return [to_int(p) for p in to_list(value)]
    if kind in (catalog.NAMES, catalog.BYPASS):
        return [str(p).strip() for p in to_list(value)]
    if kind in (catalog.STR, catalog.ENUM):
        return "" if value is None else str(value).strip()
    # not in our catalog: keep what the agent said, with JSON-ish strings made natural
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "false"):
            return low == "true"
        if value.strip().startswith("["):
            return to_list(value)
        return value.strip()
    return value


def _settings_from_json(doc):
    """The {property: raw value} mapping out of any JSON shape we know of."""
    if isinstance(doc, dict):
        # {"LocalSettings": [{"Key": ..., "Value": ...}]}, any key casing, maybe more top-level keys
        for key, value in doc.items():
            if str(key).lower() in ("localsettings", "local_settings", "settings", "localconfiguration"):
                return _settings_from_json(value)
        # a flat {"proxy.url": "..."} object
        if doc and all("." in str(k) for k in doc):
            return {bare_key(k): v for k, v in doc.items()}
        raise ParseError("JSON object without LocalSettings (keys: %s)" % ", ".join(sorted(map(str, doc))))
    if isinstance(doc, list):
        out = {}
        for entry in doc:
            if not isinstance(entry, dict):
                raise ParseError("LocalSettings entry is not an object: %r" % (entry,))
            lowered = {str(k).lower(): v for k, v in entry.items()}
            if "key" not in lowered:
                raise ParseError("LocalSettings entry without Key: %r" % (entry,))
            out[bare_key(lowered["key"])] = lowered.get("value")
        return out
    raise ParseError("unexpected JSON document: %r" % (doc,))


def _settings_from_text(text):
    lines = [line.rstrip("\r") for line in text.splitlines()]
    out = {}
    seen_header = False
    for line in lines:
        if not line.strip():
            continue
        if line.strip().lower().startswith("local configuration settings"):
            seen_header = True
            continue
        match = re.match(r"^\s*([A-Za-z][\w.]*(?:\s*\((?:preview|Preview)\))?)\s*:(?: (.*))?$", line)
        if not match:
            if line.lstrip().startswith(("INFO", "WARN", "DEBUG", "time=")):
                continue
            raise ParseError("unexpected line in config list output: %r" % line)
        out[bare_key(match.group(1))] = (match.group(2) or "").strip()
    if not seen_header and not out:
        raise ParseError("no settings found")
    if not seen_header:
        raise ParseError("text without the 'Local Configuration Settings' header")
    return out


def parse_config_list(stdout: str):
    """Settings from `azcmagent config list` output, JSON or text. Returns {property: value}."""
    text = (stdout or "").strip()
    if not text:
        raise ParseError("empty output")
    raw = None
    start = text.find("{")
    if start != -1:
        # azcmagent may print log lines around the JSON document
        candidate = text[start:]
        end = candidate.rfind("}")
        try:
            raw = _settings_from_json(json.loads(candidate[: end + 1]))
        except ValueError as exc:
            if isinstance(exc, ParseError) or "Local Configuration Settings" not in text:
                raise ParseError("cannot parse JSON from config list: %s" % exc)
    if raw is None:
        raw = _settings_from_text(text)
    settings = {}
    for key, value in raw.items():
        try:
            settings[key] = normalise(key, value)
        except ParseError as exc:
            raise ParseError("%s: %s" % (key, exc))
    return settings


def parse_version(stdout: str):
    """The agent version from `azcmagent version` or `show` output, as a tuple of ints, or None."""
    match = re.search(r"(\d+)\.(\d+)\.(\d+)(?:\.(\d+))?", stdout or "")
    if not match:
        return None
    return tuple(int(p) for p in match.groups() if p is not None)


def parse_show(stdout: str):
    """`azcmagent show` output (JSON or text) as a dict with lower-case, space-free keys."""
    text = (stdout or "").strip()
    if not text:
        raise ParseError("empty output")
    start = text.find("{")
    if start != -1:
        try:
            doc = json.loads(text[start: text.rfind("}") + 1])
        except ValueError as exc:
            raise ParseError("cannot parse JSON from show: %s" % exc)
        if not isinstance(doc, dict):
            raise ParseError("show --json is not an object")
        return doc
    out = {}
    for line in text.splitlines():
        if " : " in line or line.rstrip().endswith(":"):
            key, _sep, value = line.partition(":")
            key = key.strip()
            if key:
                out[key] = value.strip()
    if not out:
        raise ParseError("no fields in show output")
    return out


def _show_key(key):
    return re.sub(r"[\s_-]", "", str(key)).lower()


# normalised `show` key -> the collection's field; the keys the reference names, their display names, and
# plausible spellings
SHOW_FIELDS = {
    "status": "status", "agentstatus": "status",
    "resourceid": "resource_id",
    "resourcename": "resource_name",
    "resourcegroup": "resource_group", "resourcegroupname": "resource_group",
    "subscriptionid": "subscription_id",
    "tenantid": "tenant_id",
    "location": "location",
    "cloud": "cloud",
    "agentversion": "agent_version",
    "lastheartbeat": "last_heartbeat", "agentlastheartbeat": "last_heartbeat",
}


def show_fields(doc):
    """The one normaliser of `show` output (``parse_show``'s dict): {field: text} under the collection's names
    (``SHOW_FIELDS``), whatever the key's spelling; nulls, objects and lists left out, text stripped."""
    out = {}
    for key, value in doc.items():
        field = SHOW_FIELDS.get(_show_key(key))
        if field and value is not None and not isinstance(value, (dict, list)):
            out[field] = str(value).strip()
    return out


def parse_config_info(stdout: str):
    """Property names listed by `azcmagent config info --json` (lower case)."""
    text = (stdout or "").strip()
    start = text.find("[")
    if start == -1:
        raise ParseError("config info --json did not print a JSON array")
    try:
        doc = json.loads(text[start: text.rfind("]") + 1])
    except ValueError as exc:
        raise ParseError("cannot parse config info --json: %s" % exc)
    names = []
    for entry in doc:
        if isinstance(entry, dict):
            lowered = {str(k).lower(): v for k, v in entry.items()}
            name = lowered.get("displayname") or lowered.get("name") or lowered.get("key")
            if name:
                names.append(bare_key(name))
    return names


def _json_error(text):
    text = (text or "").strip()
    start = text.find("{")
    if start == -1:
        return None
    try:
        doc = json.loads(text[start: text.rfind("}") + 1])
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    lowered = {str(k).lower(): v for k, v in doc.items()}
    err = lowered.get("error")
    if isinstance(err, dict):
        err = {str(k).lower(): v for k, v in err.items()}
        msg = err.get("message")
        if msg:
            code = err.get("code")
            return "%s: %s" % (code, msg) if code and str(code) not in str(msg) else str(msg)
    for key in ("message", "error"):
        if isinstance(lowered.get(key), str) and str(lowered.get("status", "")).lower() != "success":
            return lowered[key]
    return None


def error_message(stdout: str, stderr: str) -> str:
    """The agent's own error text: a JSON error body, an AZCM00NN line, or the last stderr line."""
    for stream in (stdout, stderr):
        found = _json_error(stream)
        if found:
            return found
    for stream in (stderr or "", stdout or ""):
        match = re.search(r"(AZCM\d{4}[^\r\n]*)", stream)
        if match:
            return match.group(1).strip()
    for stream in (stderr or "", stdout or ""):
        lines = [line.strip() for line in stream.splitlines() if line.strip()]
        if lines:
            return lines[-1]
    return ""
