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
- ``SecretFile``: a Secret that the target writes into a private temporary file, passing its path instead.
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


class SecretFile(Secret):
    """An argument that is the path of a temporary file holding ``value`` (one line), not the value itself.

    The value travels on standard input like any Secret. POSIX: the file is made by ``mktemp`` under
    ``umask 077`` and ``chmod 600`` before anything is written, and removed by a trap when the script ends
    (normally, at a failing step or on HUP/INT/TERM). PowerShell: a fresh directory below ``%SystemRoot%\\Temp``
    (``name`` is its random name) gets an ACL of SYSTEM and Administrators only (``icacls``, inheritance
    removed) before the file is written inside it; the directory is removed in a ``finally`` block.
    """

    def __init__(self, value: str, name: str, shown: str = "(temporary file)", placed=None):
        if "\n" in value or "\r" in value:
            raise ValueError("a secret file holds one line")
        if not re.match(r"^[A-Za-z0-9-]{8,64}$", name or ""):
            raise ValueError("not a temporary file name: %r" % (name,))
        super().__init__(value, shown)
        self.name = name
        # the file's path when it was already copied to the target (connections without standard input): the
        # script then only uses it, and removes its folder when it ends
        self.placed = placed

    def __repr__(self) -> str:
        return "SecretFile(%r)" % self.name


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
