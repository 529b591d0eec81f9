# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The on-target output filter, and all redaction that happens on the target.

Internal to arcguard.azcmagent: not a public API, may change without notice.

Every azcmagent call's output, standard output and standard error alike, is filtered on the target before it
leaves it: the user information of any URL the agent prints (its ``config list`` shows the configured proxy
URL, ``config set`` confirms the value it set) is replaced by ``SAME_TOKEN`` when it equals the user
information of the proxy URL the task asks for (``Mask``, ``mask_for``), else by ``OTHER_TOKEN``. Ansible's
connection plugins print the raw remote output at high verbosity, so redacting on the controller alone would
be too late; the tokens still let the controller tell whether the proxy differs (``unmask_url``,
``unmask_state``). The values inside secret files (the onboarding credentials) are replaced by ``REDACTED``
wherever they appear, in every form ``hidden_forms`` lists. What the filter needs travels on standard input
(``stdin_data``). The filter programs: ``POSIX_FILTER`` (awk) and the .NET expressions ``PS_*``, which the
emitters of ``_scripts`` embed. Controller-side redaction is ``_secrets``.
"""

from __future__ import annotations

import json
import urllib.parse

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._script_steps import placed_files, stdin_args
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._secrets import REDACTED, URL_PROPERTIES, SecretFile

# what the target prints instead of a URL's user information (user:password)
SAME_TOKEN = "arcguard-redacted-same"
OTHER_TOKEN = "arcguard-redacted"
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
    """What the target needs to recognise the user information of ``url`` (a ``Mask``)."""
    info = userinfo(url)
    if info is None:
        return NO_MASK
    return Mask(info, json_forms(info))


def unmask_url(value, wanted=None):
    """A URL as the target showed it, with its token replaced: the user information of ``wanted`` where the target
    found them equal, else ``UNKNOWN_USERINFO`` (which never equals a wanted one)."""
    if not isinstance(value, str) or "://" not in value:
        return value
    scheme, _sep, rest = value.partition("://")
    for token, info in ((SAME_TOKEN, userinfo(wanted)), (OTHER_TOKEN, UNKNOWN_USERINFO)):
        if rest.startswith(token + "@"):
            return scheme + "://" + (info if info is not None else UNKNOWN_USERINFO) + rest[len(token):]
    return value


def unmask_state(state, wanted=None):
    """The agent's settings as read through the target's filter, URLs unmasked (see ``unmask_url``)."""
    return {p: unmask_url(v, wanted) if p in URL_PROPERTIES else v for p, v in state.items()}


class Mask:
    """How the target recognises the user information of the proxy URL the task asks for.

    ``text``: the user information as a text line shows it (or None: no proxy asked for);
    ``json``: the forms a JSON encoder may give it. They travel on standard input like secrets.
    """

    def __init__(self, text=None, json=()):
        self.text = text
        self.json = [] if text is None else list(dict.fromkeys(json or [text]))

    def lines(self):
        return [] if self.text is None else [self.text] + self.json

    def __bool__(self):
        return self.text is not None


NO_MASK = Mask()


def _document_values(text):
    """The secret values inside a secret file's one line: the string values of a JSON object, else the line."""
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        return [v for v in doc.values() if isinstance(v, str) and v]
    return [text] if text else []


def hidden_forms(steps, placed=False):
    """What the target replaces by ``REDACTED`` wherever the agent prints it: each value inside the secret files
    these steps send on standard input (the onboarding credentials), as it is, in the forms a JSON encoder gives
    it and percent-encoded; longest first, so that a longer form is replaced before a shorter one inside it.
    They travel on standard input after the mask's lines, never in the script.

    ``placed``: the same for the files copied to the target beforehand instead (connections without standard
    input); those forms are copied too, into ``HIDDEN_FILE`` of the same private folder, and read from there."""
    files = placed_files(steps) if placed else [s for s in stdin_args(steps) if isinstance(s, SecretFile)]
    forms = []
    for secret in files:
        for value in _document_values(secret.value):
            forms.extend([value] + json_forms(value) + [urllib.parse.quote(value, safe="")])
    forms = [f for f in dict.fromkeys(forms) if f and "\n" not in f and "\r" not in f]
    return sorted(forms, key=len, reverse=True)


HIDDEN_FILE = "hidden"


def stdin_data(steps, mask=None) -> str | None:
    """What to send on standard input for these steps (one secret per line, then the mask's lines, then the
    forms to hide, ``hidden_forms``), or None."""
    lines = [s.value for s in stdin_args(steps)] + (mask or NO_MASK).lines() + hidden_forms(steps)
    if not lines:
        return None
    return "".join(line + "\n" for line in lines)


# The output filter (POSIX awk, run with LC_ALL=C so that it works on bytes). A line that starts with { or [
# is JSON: every "://...@" inside one JSON string (escapes honoured, up to its last @) is a URL's user
# information. Any other line is text: from its first :// to its last @. The user information becomes
# SAME_TOKEN when it is one of the mask's forms (AGT for text, AGJ0.. for JSON), else OTHER_TOKEN. Then every
# occurrence of a hidden form (AGH0.., see hidden_forms; plain index() search, no regular expressions) becomes
# REDACTED. Values come through ENVIRON, never -v (which would process backslashes). The shell
# appends an x to what the agent printed, which the filter drops again: output without a final newline stays so.
# No single quote inside: the program is a single-quoted shell word.
POSIX_FILTER = r"""
function h(s,   x, f, o, p, q, e, L, i, c, u, r) {
  x = s; sub(/^[ \t]+/, "", x); f = substr(x, 1, 1)
  if (f == "{" || f == "[") {
    o = ""
    while ((p = index(s, "://")) > 0) {
      o = o substr(s, 1, p + 2); s = substr(s, p + 3); q = 0; e = 0; L = length(s)
      for (i = 1; i <= L; i++) { c = substr(s, i, 1)
        if (e) { e = 0 } else if (c == B) { e = 1 } else if (c == Q) { break } else if (c == "@") { q = i } }
      if (q) { u = substr(s, 1, q - 1); o = o ((ht && (u in J)) ? "@SAME@" : "@OTHER@"); s = substr(s, q) }
    }
    return o s
  }
  if ((p = index(s, "://")) > 0) {
    r = substr(s, p + 3); q = 0
    for (i = length(r); i > 0; i--) if (substr(r, i, 1) == "@") { q = i; break }
    if (q) {
      u = substr(r, 1, q - 1)
      s = substr(s, 1, p + 2) ((u == "@SAME@" || (ht && u == t)) ? "@SAME@" : "@OTHER@") substr(r, q)
    }
  }
  return s
}
function d(s,   k, o, p, L) {
  for (k = 0; k < hn; k++) { L = length(H[k])
    if (L > 0) { o = ""; while ((p = index(s, H[k])) > 0) { o = o substr(s, 1, p - 1) "@HIDDEN@"; s = substr(s, p + L) }
      s = o s } }
  return s
}
BEGIN { n = ENVIRON["AGN"] + 0; for (i = 0; i < n; i++) J[ENVIRON["AGJ" i]] = 1
        t = ENVIRON["AGT"]; ht = (n > 0); B = "\\"; Q = "\""
        hn = ENVIRON["AGH"] + 0; for (i = 0; i < hn; i++) H[i] = ENVIRON["AGH" i] }
NR > 1 { print d(h(p)) }
{ p = $0 }
END { if (NR) { s = h(p); printf "%s", d(substr(s, 1, length(s) - 1)) } }
""".replace("@SAME@", SAME_TOKEN).replace("@OTHER@", OTHER_TOKEN).replace("@HIDDEN@", REDACTED)


# POSIX_FILTER's rules as .NET regular expressions, applied by the PowerShell script to each line of an azcmagent
# call's output
PS_JSON_LINE = r"(?<=^[ \t]*[\[{].*)"
PS_TEXT_LINE = r"^(?![ \t]*[\[{])"
PS_JSON_LAST = r')@(?=(?:[^"\\@]|\\.)*("|$))'
PS_JSON_OTHER = PS_JSON_LINE + r'(://)(?!%s@)(?:[^"\\]|\\.)*@' % SAME_TOKEN
PS_TEXT_OTHER = PS_TEXT_LINE + r"(.*?://)(?!%s@[^@]*$)(.*)@" % SAME_TOKEN
