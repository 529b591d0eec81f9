# -*- coding: utf-8 -*-
# Copyright: contributors to arcguard.azcmagent
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""From the task's options and the agent's settings to an ordered list of typed changes.

Internal to arcguard.azcmagent: not a public API, may change without notice.

Pure code: no I/O, no command lines. ``desired_state()`` validates and normalises the options
before anything runs on the target (errors raise ``PlanError``); ``check_unknown()`` checks,
once the agent has been read, the settings for properties the catalog lacks; ``plan()`` compares
with what the agent reported and returns a ``Plan``: the ``Step`` objects (property, before, after,
value, op) that make them equal, in an order the agent accepts, their change records, and the one
projection of the settings they lead to (``Plan.after``) and of what reading back must show
(``Plan.expected``), which ``verify()`` checks. The script layer (``_scripts.argv_of``) turns the
steps into azcmagent arguments. No other code computes the state after a plan.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _catalog as catalog
from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._secrets import URL_PROPERTIES, redact_url


class PlanError(ValueError):
    """Bad input or an impossible request: nothing has been written."""


NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9_])?/[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9_])?$")
PROPERTY_RE = re.compile(r"^[a-z][a-z0-9]*(?:\.[a-z][a-z0-9]*)+$")
SLASH_LOOKALIKES = "\u2215\u2044\u29f8\uff0f\u2571\u0338\u337a\u2f03"
QUOTE_LOOKALIKES = "\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u201f\u00ab\u00bb\u2032\u2033"


def _describe_char(ch):
    try:
        return "U+%04X %s" % (ord(ch), unicodedata.name(ch))
    except ValueError:
        return "U+%04X" % ord(ch)


def check_value(what: str, value: str, os_name: str, shown=None):
    """Refuse text that the agent cannot receive intact as one command-line argument.

    ``shown``: how the value may appear in the message (a secret's redacted form); by default the value itself.
    """
    if not isinstance(value, str):
        value = str(value)
    said = repr(value) if shown is None else shown
    for ch in value:
        if ch == "\x00" or unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            raise PlanError("%s contains a control character (%s): %s" % (what, _describe_char(ch), said))
    if value.startswith("-"):
        raise PlanError("%s must not start with '-' (azcmagent would read it as a flag): %s" % (what, said))
    if os_name == "windows" and '"' in value:
        raise PlanError("%s contains a double quote, which Windows PowerShell cannot pass to a native "
                        "program intact: %s" % (what, said))
    if os_name == "windows" and value.endswith("\\"):
        raise PlanError("%s ends with a backslash, which Windows command-line parsing would not pass "
                        "intact: %s" % (what, said))
    return value


# ------------------------------------------------------------------ extension names

class Names:
    """The outcome of resolving one list option."""

    def __init__(self):
        self.names = []       # Publisher/Type names, first spelling kept
        self.warnings = []
        self.notes = []
        self.given = 0


def _key(name):
    return name.lower()


def resolve_names(option: str, items, os_name: str, allowlist: bool) -> Names:
    out = Names()
    seen = set()
    for raw in items:
        if raw is None:
            raise PlanError("%s: empty entry" % option)
        text = str(raw)
        for ch in text:
            if ch in QUOTE_LOOKALIKES or ch in "\"'`":
                raise PlanError("%s: %r contains a quote character (%s); extension names have no quotes "
                                "(curly quotes often come from pasting out of web pages)"
                                % (option, text, _describe_char(ch)))
        name = text.strip()
        if not name:
            raise PlanError("%s: empty entry (check for doubled or trailing commas)" % option)
        out.given += 1
        for ch in name:
            if ch in SLASH_LOOKALIKES:
                raise PlanError("%s: %r contains %s, which looks like a slash but is not one; type the "
                                "ASCII '/'" % (option, name, _describe_char(ch)))
        if name in catalog.EXTENSIONS or name.lower() in catalog.EXTENSIONS:
            alias = name.lower()
            resolved = catalog.resolve_alias(alias, os_name)
            if resolved is None:
                out.notes.append("%s: %s (%s) does not exist on %s; left out"
                                 % (option, alias, catalog.EXTENSIONS[alias]["title"], os_name.capitalize()))
                continue
            name = resolved
        elif name.lower() == catalog.ALLOW_NONE.lower():
            if not allowlist:
                raise PlanError("%s: Allow/None is only meaningful in the allowlist" % option)
            name = catalog.ALLOW_NONE
        elif "/" not in name:
            raise PlanError(_not_a_name(option, name))
        else:
            check_value(option, name, os_name)
            if not NAME_RE.match(name):
                if name.count("/") != 1:
                    raise PlanError("%s: %r must contain exactly one '/' between publisher and type"
                                    % (option, name))
                raise PlanError("%s: %r is not a valid Publisher/Type name (letters, digits, '.', '-', '_' "
                                "on both sides of one '/')" % (option, name))
        fixed = catalog.real_name(name)
        if fixed:
            # a name Microsoft's documentation misspells: the real one is written, never the one given
            out.warnings.append("%s: %s; %s is used instead" % (option, fixed[1], fixed[0]))
            name = fixed[0]
        if _key(name) in seen:
            continue
        seen.add(_key(name))
        out.names.append(name)
        if name == catalog.ALLOW_NONE:
            if os_name == "linux":
                out.warnings.append("%s: Allow/None is the setting for servers onboarded only for Extended Security "
                                    "Updates, which concern Windows Server 2012 and 2016; on Linux it simply blocks every "
                                    "extension" % option)
            continue
        known = catalog.lookup_name(name)
        mistake = catalog.DOCUMENTED_MISTAKES.get(name.lower())
        if known is None and mistake is None:
            out.warnings.append("%s: %s is not in the extension catalog; check the publisher and type "
                                "(names are Publisher/Type as Azure lists them)" % (option, name))
        if known and known[1] != os_name and allowlist:
            right = catalog.resolve_alias(known[0], os_name)
            hint = (" the %s name is %s (alias %s)" % (os_name.capitalize(), right, known[0])) if right else \
                " it does not exist on %s" % os_name.capitalize()
            out.warnings.append("%s: %s is the %s extension, but this host runs %s;%s"
                                % (option, name, known[1].capitalize(), os_name.capitalize(), hint))
        if allowlist and catalog.runs_scripts(name):
            out.warnings.append("%s: %s runs arbitrary scripts as root/SYSTEM; allowing it undoes the "
                                "point of an allowlist" % (option, name))
    if allowlist and catalog.ALLOW_NONE in out.names and len(out.names) > 1:
        raise PlanError("%s: Allow/None blocks every extension and cannot be combined with other entries (%s)"
                        % (option, ", ".join(n for n in out.names if n != catalog.ALLOW_NONE)))
    return out


def _not_a_name(option, name):
    """The error for a list entry without a slash: a dotted Publisher.Type, or an alias the catalog lacks."""
    meant = catalog.slash_form(name)
    if meant:
        return ("%s: %r is not an extension name: the agent separates publisher and type with '/', so this entry "
                "could never match an extension; did you mean %s (Publisher/Type)?" % (option, name, meant))
    close = catalog.alias_suggestions(name)
    hint = "did you mean %s? " % " or ".join(close) if close else ""
    return ("%s: %r is neither an extension alias nor a Publisher/Type name; %saliases: %s"
            % (option, name, hint, ", ".join(sorted(catalog.EXTENSIONS))))


# --------------------------------------------------------------------- desired state

class Desired:
    """Validated desired settings: {property: value}, plus how lists combine."""

    def __init__(self):
        self.values = {}        # property -> normalised value (lists: the given items)
        self.clear = set()      # properties to reset to the default (settings: {p: null})
        self.list_action = "replace"
        self.warnings = []
        self.notes = []
        self.secret_props = set()
        self.unchecked = []     # settings for properties the catalog lacks, until check_unknown()
        self.allow_empty = False        # allow_empty_allowlist: see _weaker
        self.emptied_by_aliases = set()  # list properties given only aliases that do not exist on this OS

    def managed(self):
        return list(self.values) + [p for p in self.clear if p not in self.values]


def _bool_option(name, value):
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise PlanError("%s must be a boolean (true or false), got %r" % (name, value))


def _int_option(name, value, low, high):
    if isinstance(value, bool):
        raise PlanError("%s must be an integer, got %r" % (name, value))
    try:
        number = int(str(value).strip())
    except ValueError:
        raise PlanError("%s must be an integer, got %r" % (name, value))
    if not low <= number <= high:
        raise PlanError("%s must be between %d and %d, got %d" % (name, low, high, number))
    return number


def _as_list(name, value):
    if value is None:
        return []
    if isinstance(value, str):
        # a comma-separated string, as the documentation writes lists
        return value.split(",") if value.strip() else []
    if isinstance(value, (list, tuple)):
        items = []
        for item in value:
            if isinstance(item, str) and "," in item:
                raise PlanError("%s: %r contains a comma; give one item per list entry" % (name, item))
            items.append(item)
        return items
    raise PlanError("%s must be a list, got %r" % (name, value))


def _normalise_value(prop, option, value, os_name, desired):
    spec = catalog.PROPERTIES[prop]
    kind = spec["type"]
    if kind == catalog.BOOL:
        return _bool_option(option, value)
    if kind == catalog.INT:
        return _int_option(option, value, spec.get("min", 0), spec.get("max", 2 ** 31))
    if kind == catalog.ENUM:
        text = str(value).strip().lower()
        if text not in spec["values"]:
            raise PlanError("%s must be one of %s, got %r" % (option, ", ".join(spec["values"]), value))
        return text
    if kind == catalog.PORTS:
        ports = []
        for item in _as_list(option, value):
            port = _int_option(option, item, 1, 65535)
            if port not in ports:
                ports.append(port)
        return ports
    if kind == catalog.BYPASS:
        out = []
        canon = {k.lower(): k for k in catalog.BYPASS_VALUES}
        for item in _as_list(option, value):
            text = str(item).strip()
            if text.lower() not in canon:
                raise PlanError("%s: %r is not a proxy bypass value (%s)"
                                % (option, text, ", ".join(catalog.BYPASS_VALUES)))
            if canon[text.lower()] not in out:
                out.append(canon[text.lower()])
        return out
    if kind == catalog.NAMES:
        resolved = resolve_names(option, _as_list(option, value), os_name, prop == "extensions.allowlist")
        desired.warnings.extend(resolved.warnings)
        desired.notes.extend(resolved.notes)
        if resolved.given and not resolved.names:
            desired.emptied_by_aliases.add(prop)
            if prop == "extensions.allowlist" and not desired.allow_empty:
                raise PlanError("%s: none of the given extensions exist on %s, and an empty allowlist would "
                                "allow every extension (allow_empty_allowlist: true accepts that)"
                                % (option, os_name.capitalize()))
        return resolved.names
    if prop == "proxy.url":
        return _proxy_url(option, value, os_name)
    text = check_value(option, str(value), os_name)
    return text


def _proxy_url(option, value, os_name):
    """A proxy URL ``scheme://[user:password@]host:port``, checked without ever putting its password in a message.

    The user information ends at the last ``@`` (as Go's URL parser reads it); it may hold any character but
    white space, control characters and the URL delimiters ``/ ? # @``, which must be percent-encoded.
    """
    if value is not None and not isinstance(value, str):
        raise PlanError("%s must be a string like http://host:port, not %s" % (option, _type_name(value)))
    text = "" if value is None else value.strip()
    if text == "":
        return ""
    shown = redact_url(text)
    if "://" in text:
        scheme, _sep, rest = text.partition("://")
        info, at, hostport = rest.rpartition("@")
    else:
        scheme, info, at, hostport = "", "", "", text
    if any(ch.isspace() for ch in text):
        raise PlanError("%s must not contain white space (percent-encode it in a password: %%20): %s"
                        % (option, shown))
    check_value(option, text, os_name, shown=shown)
    if at and any(ch in info for ch in "/?#@"):
        raise PlanError("%s: the user name or password contains one of / ? # @, which end that part of a URL; "
                        "percent-encode them (%%2F %%3F %%23 %%40): %s" % (option, shown))
    if scheme.lower() not in ("http", "https"):
        raise PlanError("%s must look like http://host:port (got %s)" % (option, shown))
    try:
        parts = urlsplit("http://" + hostport)
        host = parts.hostname
    except ValueError as exc:
        raise PlanError("%s: the host is not valid (%s; an IPv6 address is written in brackets, like "
                        "http://[2001:db8::1]:3128): %s" % (option, exc, shown))
    try:
        port = parts.port
    except ValueError as exc:
        raise PlanError("%s has an invalid port (%s): %s" % (option, exc, shown))
    if not host:
        raise PlanError("%s must look like http://host:port (got %s)" % (option, shown))
    del port
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise PlanError("%s must be scheme://host:port with nothing after it (got %s)" % (option, shown))
    return text


def _type_name(value):
    kinds = ((dict, "a dictionary"), ((list, tuple), "a list"), (bool, "a boolean"), ((int, float), "a number"))
    for kind, name in kinds:
        if isinstance(value, kind):
            return name
    return type(value).__name__


def check_unknown(desired: Desired, known_properties, os_name: str):
    """Check the settings for properties the catalog lacks (``desired.unchecked``) against the agent's."""
    for prop in desired.unchecked:
        if prop not in known_properties:
            raise PlanError("settings: unknown property %s (this agent has: %s)"
                            % (prop, ", ".join(sorted(known_properties))))
        value = desired.values[prop]
        if value is None:
            del desired.values[prop]
            desired.clear.add(prop)
            continue
        if isinstance(value, (list, tuple)):
            raise PlanError("settings: %s is not known to this collection; only single values can be set for it"
                            % prop)
        desired.values[prop] = check_value("settings." + prop, str(value).strip()
                                           if not isinstance(value, bool) else str(value).lower(), os_name)
    desired.unchecked = []


def desired_state(args: dict, os_name: str, known_properties=None) -> Desired:
    """Validate the module options. ``known_properties``: names the agent listed, if read already.

    Settings for properties the catalog does not know are kept in ``unchecked`` until ``check_unknown``
    (called here when ``known_properties`` is given) checks them against what the agent lists.
    """
    desired = Desired()
    desired.allow_empty = bool(args.get("allow_empty_allowlist"))
    desired.list_action = args.get("list_action") or "replace"
    if desired.list_action not in ("replace", "add", "remove"):
        raise PlanError("list_action must be replace, add or remove")
    for option, prop in catalog.OPTION_PROPERTIES.items():
        value = args.get(option)
        if value is None:
            continue
        desired.values[prop] = _normalise_value(prop, option, value, os_name, desired)
    settings = args.get("settings") or {}
    if not isinstance(settings, dict):
        raise PlanError("settings must be a dictionary of azcmagent property names and values")
    by_prop = {v: k for k, v in catalog.OPTION_PROPERTIES.items()}
    for name, value in settings.items():
        prop = str(name).strip().lower()
        if not PROPERTY_RE.match(prop):
            raise PlanError("settings: %r is not an azcmagent property name (like extensions.agent.cpulimit)"
                            % (name,))
        if prop in by_prop:
            if args.get(by_prop[prop]) is not None:
                raise PlanError("settings: %s is also given as the option %s; give it once" % (prop, by_prop[prop]))
        if prop not in catalog.PROPERTIES:
            # a property our catalog does not know (yet): checked against those the agent lists
            desired.values[prop] = value
            desired.unchecked.append(prop)
            continue
        if value is None:
            desired.clear.add(prop)
            continue
        desired.values[prop] = _normalise_value(prop, "settings." + prop, value, os_name, desired)
    desired.secret_props.update(p for p in URL_PROPERTIES if p in desired.values)
    if known_properties is not None:
        check_unknown(desired, known_properties, os_name)

    mode = desired.values.get("config.mode")
    if mode == "monitor":
        shadowed = [p for p in catalog.MONITOR_SHADOWED if p in desired.values or p in desired.clear]
        if shadowed:
            raise PlanError("mode: monitor cannot be combined with %s: in monitor mode Microsoft's managed "
                            "allowlist applies, the lists cannot be changed, and guest configuration and "
                            "incoming connections are turned off. Set them with mode: full."
                            % ", ".join(shadowed))
    allow = desired.values.get("extensions.allowlist")
    block = desired.values.get("extensions.blocklist")
    if desired.list_action == "replace" and allow and block:
        both = sorted({n.lower() for n in allow} & {n.lower() for n in block})
        if both:
            names = [n for n in allow if n.lower() in both]
            desired.warnings.append("%s in both the allowlist and the blocklist: blocked (the blocklist wins)"
                                    % ", ".join(names))
    if desired.values.get("extensions.enabled") is False and allow and allow != [catalog.ALLOW_NONE]:
        desired.warnings.append("extensions_enabled is false: the extension manager is off, so the allowlist "
                                "has no effect until it is turned back on")
    if desired.list_action != "remove":
        # allowing an extension that Microsoft has deprecated or retired (removing it is what we want)
        option = "extensions_allowlist" if args.get("extensions_allowlist") is not None else \
            "settings.extensions.allowlist"
        for name in allow or []:
            warning = catalog.lifecycle_warning(option, name, os_name)
            if warning:
                desired.warnings.append(warning)
    if desired.list_action != "replace":
        for prop, value in desired.values.items():
            kind = catalog.PROPERTIES.get(prop, {}).get("type")
            if kind in catalog.LIST_TYPES and not value:
                raise PlanError("list_action %s needs at least one item for %s" % (desired.list_action, prop))
            if kind == catalog.NAMES and catalog.ALLOW_NONE in value and desired.list_action == "add":
                raise PlanError("Allow/None replaces the whole allowlist; use list_action: replace")
    return desired


# ------------------------------------------------------------------------ planning

def _list_key(prop, item):
    kind = catalog.PROPERTIES.get(prop, {}).get("type")
    if kind == catalog.PORTS:
        return int(item)
    return str(item).lower()


def same(prop, a, b) -> bool:
    """Do two values of a property mean the same? Lists compare as sets."""
    kind = catalog.PROPERTIES.get(prop, {}).get("type")
    if kind in catalog.LIST_TYPES:
        return {_list_key(prop, x) for x in (a or [])} == {_list_key(prop, x) for x in (b or [])}
    if kind == catalog.ENUM:
        return str(a).lower() == str(b).lower()
    if kind is None and isinstance(a, str) and isinstance(b, (str, bool)):
        return a.lower() == str(b).lower()
    return a == b


class Step:
    """One planned change of one property; the script layer (``_scripts.argv_of``) makes it an azcmagent call.

    ``prop``: the property; ``op``: ``set``, ``clear``, ``add`` or ``remove`` (the list options ``--add`` and
    ``--remove``); ``value``: what the call passes (the whole value, or the items to add or remove; None to
    clear); ``before``: the value as the agent reported it; ``after``: the value once the step has run.
    """

    def __init__(self, prop, before, after, value=None, op="set"):
        self.prop = prop
        self.op = op
        self.value = value
        self.before = before
        self.after = after

    def change(self):
        """The change record of this step: {property, before, after}."""
        return {"property": self.prop, "before": self.before, "after": self.after}

    def __repr__(self):
        return "Step(%r, %s, %r)" % (self.prop, self.op, self.value)


class Plan:
    """What ``plan()`` decided: the ordered steps, and the one projection of the state they lead to.

    ``steps``: ordered ``Step`` objects; ``changes``: their change records, in the same order;
    ``after``: the agent's settings once every step has run (and, with ``second_pass``, once the pending
    properties are set as given); ``expected``: what reading back must show, {property: value, or
    ("contains"|"lacks", items) for list_action add/remove}; ``second_pass``: the properties in ``pending``
    can only be compared after leaving monitor mode; ``mode_before``: config.mode as the agent reported it.
    """

    def __init__(self):
        self.steps = []
        self.changes = []
        self.after = {}
        self.expected = {}
        self.second_pass = False
        self.pending = []
        self.warnings = []
        self.notes = []
        self.mode_before = None


def target_list(prop, current, given, action):
    """A list property's items once ``given`` is combined with ``current`` by ``action`` (replace, add, remove)."""
    current = list(current or [])
    keys = {_list_key(prop, x) for x in current}
    if action == "replace":
        return given
    if action == "add":
        return current + [x for x in given if _list_key(prop, x) not in keys]
    drop = {_list_key(prop, x) for x in given}
    return [x for x in current if _list_key(prop, x) not in drop]


def _target(desired, prop, before):
    """The value ``prop`` is to have, from ``before``: None when the desired state leaves it as it is."""
    spec = catalog.PROPERTIES.get(prop, {})
    if prop in desired.clear:
        return spec.get("default") if spec else None
    value = desired.values[prop]
    if spec.get("type") in catalog.LIST_TYPES:
        return target_list(prop, before, value, desired.list_action)
    return value


def _list_step(desired, prop, before, target):
    value = desired.values[prop]
    if desired.list_action == "replace":
        return Step(prop, before, target, target) if target else Step(prop, before, [], op="clear")
    keys = {_list_key(prop, x) for x in (before or [])}
    if desired.list_action == "add":
        delta = [x for x in value if _list_key(prop, x) not in keys]
    else:
        wanted = {_list_key(prop, x) for x in value}
        delta = [x for x in (before or []) if _list_key(prop, x) in wanted]
    return Step(prop, before, target, delta, op=desired.list_action)


def _expected(desired, prop, target):
    kind = catalog.PROPERTIES.get(prop, {}).get("type")
    if kind in catalog.LIST_TYPES and prop not in desired.clear and desired.list_action != "replace":
        # other writers may add or remove other items meanwhile: check only ours
        return ("contains" if desired.list_action == "add" else "lacks", list(desired.values[prop]))
    return target


def _order_lists(lists):
    """A name moving from one list to the other is never in both at once: the list giving it up goes first."""
    def moved(step):
        before = {_list_key(step.prop, x) for x in (step.before or [])}
        after = {_list_key(step.prop, x) for x in (step.after or [])}
        return before - after, after - before
    by_prop = {s.prop: s for s in lists}
    allow, block = by_prop.get("extensions.allowlist"), by_prop.get("extensions.blocklist")
    if allow and block:
        allow_lost, allow_gained = moved(allow)
        block_lost, block_gained = moved(block)
        if (block_lost & allow_gained) and not (allow_lost & block_gained):
            lists.remove(block)
            lists.insert(lists.index(allow), block)
        elif (allow_lost & block_gained) and not (block_lost & allow_gained):
            lists.remove(allow)
            lists.insert(lists.index(block), allow)
    return lists


def plan(desired: Desired, current: dict) -> Plan:
    """Steps that take the agent from ``current`` ({property: value}) to ``desired``, and where they lead."""
    result = Plan()
    if "config.mode" not in current and desired.values.get("config.mode") == "full":
        # agents before 1.18 have no monitor mode: they always run in what is now called full mode
        current = dict(current, **{"config.mode": "full"})
        result.notes.append("this agent predates config.mode (1.18); it always runs in full mode")
    for prop in desired.managed():
        if prop not in current:
            spec = catalog.PROPERTIES.get(prop)
            if spec:
                raise PlanError("this agent does not support %s: it needs azcmagent %s or later (upgrade the "
                                "agent, or leave the setting out)" % (prop, catalog.version_text(spec["since"])))
            raise PlanError("unknown property %s (this agent has: %s)" % (prop, ", ".join(sorted(current))))

    # settings decided in Azure now: set only because the task asks, with a warning naming who owns them
    options = {prop: option for option, prop in catalog.OPTION_PROPERTIES.items()}
    for prop in desired.managed():
        warning = catalog.owner_warning(options.get(prop, "settings." + prop), prop, dict(current, **desired.values))
        if warning:
            result.warnings.append(warning)

    now_mode = str(current.get("config.mode", "full")).lower()
    result.mode_before = now_mode
    want_mode = desired.values.get("config.mode", now_mode)
    shadowed_wanted = [p for p in catalog.MONITOR_SHADOWED if p in desired.values or p in desired.clear]
    if now_mode == "monitor" and shadowed_wanted:
        if want_mode != "full":
            raise PlanError("the agent is in monitor mode, where %s cannot be changed; add mode: full to "
                            "leave monitor mode first" % ", ".join(shadowed_wanted))
        # What config list shows for these in monitor mode may be the effective values, not the
        # stored ones: leave monitor mode, read again, then plan them.
        result.second_pass = True
        result.pending = shadowed_wanted

    first, middle, lists, last = [], [], [], []
    if now_mode == "monitor" and want_mode == "full":
        first.append(Step("config.mode", now_mode, "full", "full"))
        result.expected["config.mode"] = "full"

    result.after = dict(current)
    for prop in desired.managed():
        if prop == "config.mode":
            continue
        before = current.get(prop)
        target = _target(desired, prop, before)
        if prop == "extensions.allowlist" and isinstance(target, list) and len(target) > 1 and any(
                str(x).lower() == catalog.ALLOW_NONE.lower() for x in target):
            raise PlanError("extensions_allowlist: the agent's allowlist is Allow/None, which blocks every extension and "
                            "cannot be combined with other entries; give the whole allowlist with list_action: replace")
        if prop in result.pending:
            result.after[prop] = target  # as given: planned again once the agent shows its stored value
            continue
        spec = catalog.PROPERTIES.get(prop, {})
        if prop in desired.clear and spec and same(prop, before, target):
            continue
        if prop not in desired.clear and same(prop, before, target):
            continue
        is_list = spec.get("type") in catalog.LIST_TYPES
        if prop in desired.clear:
            step = Step(prop, before, target, op="clear")
        elif is_list:
            step = _list_step(desired, prop, before, target)
        elif prop == "proxy.url" and target == "":
            step = Step(prop, before, "", op="clear")
        else:
            step = Step(prop, before, target, target)
        result.expected[prop] = _expected(desired, prop, target)
        (lists if is_list else middle).append(step)

    if now_mode != "monitor" and want_mode == "monitor":
        last.append(Step("config.mode", now_mode, "monitor", "monitor"))
        result.expected["config.mode"] = "monitor"

    result.steps = first + middle + _order_lists(lists) + last
    result.changes = [step.change() for step in result.steps]
    result.after.update((step.prop, step.after) for step in result.steps)
    return result


def whole_run(desired: Desired, current: dict, first: Plan = None) -> Plan:
    """The whole run as check mode reports it, from the one projection: ``first`` (``plan(desired, current)``),
    and where it has a second pass, the round the real run plans once the agent has left monitor mode, from the
    values the agent shows now (the stored ones, unless the agent shows Microsoft's effective lists in monitor
    mode). Its ``steps`` and ``changes`` are both rounds', its ``after`` and ``expected`` where they lead."""
    first = first if first is not None else plan(desired, current)
    if not first.second_pass:
        return first
    left = dict(current)
    left.update((change["property"], change["after"]) for change in first.changes)
    second = plan(desired, left)
    whole = Plan()
    whole.steps = list(first.steps) + list(second.steps)
    whole.changes = list(first.changes) + list(second.changes)
    whole.after = second.after
    whole.expected = dict(first.expected, **second.expected)
    whole.warnings = list(first.warnings) + list(second.warnings)
    whole.notes = list(first.notes) + list(second.notes)
    whole.mode_before = first.mode_before
    return whole


def verify(expected: dict, after: dict):
    """Properties whose value after writing is not what was written: [(prop, wanted, got)]."""
    wrong = []
    for prop, value in expected.items():
        got = after.get(prop)
        if isinstance(value, tuple):
            how, items = value
            have = {_list_key(prop, x) for x in (got or [])}
            keys = {_list_key(prop, x) for x in items}
            ok = keys <= have if how == "contains" else not (keys & have)
            if not ok:
                wrong.append((prop, "%s %s" % ("containing" if how == "contains" else "without",
                                               ", ".join(str(i) for i in items)), got))
        elif not same(prop, got, value):
            wrong.append((prop, value, got))
    return wrong
