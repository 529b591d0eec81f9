# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Redaction: the one place that decides how secrets are carried and how they are shown.

Internal to arcguard.azcmagent: not a public API, may change without notice.

- ``REDACTED``: what replaces a secret wherever it would be shown.
- ``redact_url(url)``: a URL with its user information (user name and password) replaced.
- ``scrub(obj, secrets)``: a copy of a result (dicts, lists, strings) with every known secret and every
  credential in a URL replaced; run over every result before it leaves an action plugin.
- ``Secret``: an argument value that travels to the target on standard input, never on the command line,
  and is shown as ``Secret.shown``; ``carried(prop, text)``: a property's value as an argument (a Secret
  for the properties that may hold credentials, ``URL_PROPERTIES``).
- ``shown(prop, value)``, ``shown_config(state)``, ``shown_changes(changes)``: agent settings and change
  records as users may see them (the proxy URL redacted).
"""

from __future__ import annotations

import re

REDACTED = "********"

_CREDENTIALS = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/\s@'\"]+@")

# agent properties whose values may carry credentials
URL_PROPERTIES = ("proxy.url",)


class Secret:
    """A value passed through standard input instead of the command line; shown as ``shown``."""

    def __init__(self, value: str, shown: str = REDACTED):
        self.value = value
        self.shown = shown

    def __repr__(self) -> str:
        return "Secret(%r)" % self.shown

    def __eq__(self, other):
        return isinstance(other, Secret) and other.value == self.value

    def __hash__(self):
        return hash(self.value)


def carried(prop, text):
    """A property's value as a command argument: a ``Secret`` (on standard input) where it may hold credentials."""
    if prop in URL_PROPERTIES:
        return Secret(text, redact_url(text))
    return text


def redact_url(url: str) -> str:
    """The URL with any user name and password replaced."""
    if not url or "@" not in url:
        return url
    scheme, sep, rest = url.partition("://")
    if not sep:
        return REDACTED + url[url.rfind("@"):]
    return scheme + "://" + REDACTED + rest[rest.rfind("@"):]


def scrub(value, secrets=()):
    """Remove credentials from any string inside ``value`` (URLs with user info, and known secrets)."""
    if isinstance(value, str):
        for secret in secrets:
            if secret:
                value = value.replace(secret, REDACTED)
        return _CREDENTIALS.sub(lambda m: m.group(1) + REDACTED + "@", value)
    if isinstance(value, dict):
        return {k: scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v, secrets) for v in value]
    return value


def shown(prop, value):
    """One agent setting as users may see it."""
    if prop in URL_PROPERTIES and isinstance(value, str):
        return redact_url(value)
    return value


def shown_config(state: dict) -> dict:
    """The agent's settings ({property: value}) as users may see them."""
    return {p: shown(p, v) for p, v in state.items()}


def shown_changes(changes) -> list:
    """Change records ({property, before, after}) as users may see them."""
    return [{"property": c["property"], "before": shown(c["property"], c["before"]),
             "after": shown(c["property"], c["after"])} for c in changes]


# ------------------------------------------------------------------ on the target
#
# The target filters the agent's output before it leaves it (``_scripts``: every URL's user information
# becomes a token), because Ansible's connection plugins print raw remote output at high verbosity. To still
# tell whether the agent's proxy differs from the one asked for, the target compares the user information it
# sees with the forms below (sent on standard input, like secrets) and prints SAME_TOKEN or OTHER_TOKEN.

# a user information that no proxy URL can hold (control characters are refused): "not the one asked for"
UNKNOWN_USERINFO = "\x00" + REDACTED


def userinfo(url):
    """The user information (user:password) of a URL, or None."""
    if not isinstance(url, str) or "://" not in url:
        return None
    rest = url.partition("://")[2]
    if "@" not in rest:
        return None
    return rest[:rest.rfind("@")]


def _json_escaped(text, html=False, ascii_only=False, upper=False, separators=False):
    out = []
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in "\n\r\t" or (ch in "\b\f" and not html):
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}[ch])
        elif code < 0x20 or (html and ch in "<>&") or (separators and ch in "\u2028\u2029") or (
                ascii_only and code > 0x7f):
            if code > 0xFFFF:
                code -= 0x10000
                pairs = (0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF))
            else:
                pairs = (code,)
            out.extend(("\\u%04X" if upper else "\\u%04x") % unit for unit in pairs)
        else:
            out.append(ch)
    return "".join(out)


def json_forms(text):
    """The ways a JSON encoder may write ``text`` inside a string: Go's encoding/json (HTML escaping on or
    off), Python's json (ASCII only or not), .NET's (upper-case hex)."""
    forms = [
        _json_escaped(text, html=True, separators=True),               # Go, the agent's language
        _json_escaped(text, separators=True),                          # Go, SetEscapeHTML(false)
        _json_escaped(text, ascii_only=True),                          # Python json.dumps
        _json_escaped(text),                                           # Python, ensure_ascii=False
        _json_escaped(text, html=True, ascii_only=True, upper=True),   # .NET System.Text.Json
        _json_escaped(text, ascii_only=True, upper=True),
    ]
    return list(dict.fromkeys(forms))


def mask_for(url):
    """What the target needs to recognise the user information of ``url`` (a ``_scripts.Mask``)."""
    from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _scripts as scripts
    info = userinfo(url)
    if info is None:
        return scripts.NO_MASK
    return scripts.Mask(info, json_forms(info))


def unmask_url(value, wanted=None):
    """A URL as the target showed it, with its token replaced: the user information of ``wanted`` where the target
    found them equal, else ``UNKNOWN_USERINFO`` (which never equals a wanted one)."""
    from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _scripts as scripts
    if not isinstance(value, str) or "://" not in value:
        return value
    scheme, _sep, rest = value.partition("://")
    for token, info in ((scripts.SAME_TOKEN, userinfo(wanted)), (scripts.OTHER_TOKEN, UNKNOWN_USERINFO)):
        if rest.startswith(token + "@"):
            return scheme + "://" + (info if info is not None else UNKNOWN_USERINFO) + rest[len(token):]
    return value


def unmask_state(state, wanted=None):
    """The agent's settings as read through the target's filter, URLs unmasked (see ``unmask_url``)."""
    return {p: unmask_url(v, wanted) if p in URL_PROPERTIES else v for p, v in state.items()}


def url_secrets(url):
    """The parts of a URL to scrub from anything shown: its user information and its password ([] without them).

    Only these: the host and port of a proxy are not secret, and messages about a bad URL must be able to show them.
    """
    if not isinstance(url, str) or "@" not in url:
        return []
    rest = url.partition("://")[2] if "://" in url else url
    info = rest[:rest.rfind("@")] if "@" in rest else ""
    found = [info] if info else []
    password = info.partition(":")[2]
    if password and password not in found:
        found.append(password)
    return found
