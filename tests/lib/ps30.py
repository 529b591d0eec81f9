"""Is a PowerShell script inside Windows PowerShell 3.0 (Windows Server 2012 as it ships)?

``problems(script)`` lists every construct, cmdlet or parameter of the script that PowerShell 3.0 does not have
(empty: the script is inside 3.0). The collection promises 3.0 (docs/windows.md): its action plugins send their own
PowerShell with -EncodedCommand, so they serve Windows Server 2012 (3.0) and 2012 R2 (4.0) hosts, where Ansible's
own Windows modules (5.1) cannot run. The unit suite checks every generated script with it, and the WinRM test
endpoint refuses a script it finds problems in, before anything runs.

The cmdlet table is an allowlist: a cmdlet, or a parameter of one, not in it is a problem, until someone who has
checked that PowerShell 3.0 has it adds it (the ``NEWER`` tables only give the version in the message).
Sources: Microsoft's "What's new" pages of Windows PowerShell 4.0, 5.0 and 5.1 and of PowerShell 6 and 7, and the
cmdlet reference's version switch.
"""

import re

import tree_sitter_powershell
from tree_sitter import Language, Parser

PARSER = Parser(Language(tree_sitter_powershell.language()))

MINIMUM = "3.0"

# the common parameters of 3.0 (-InformationAction and -InformationVariable came with 5.0, -PipelineVariable with 4.0)
COMMON = {"erroraction", "warningaction", "errorvariable", "warningvariable", "outvariable", "outbuffer", "verbose",
          "debug"}

# cmdlet -> its parameters in Windows PowerShell 3.0 (only cmdlets someone has checked)
CMDLETS_30 = {
    "write-output": {"inputobject"},
    "write-error": {"message", "category", "errorid", "targetobject", "exception"},
    "test-path": {"path", "literalpath", "pathtype", "isvalid", "filter", "include", "exclude", "credential",
                  "olderthan", "newerthan"},
    "get-childitem": {"path", "literalpath", "filter", "include", "exclude", "recurse", "force", "name", "directory",
                      "file", "hidden", "readonly", "system", "attributes", "usetransaction"},
    "set-content": {"path", "literalpath", "value", "encoding", "force", "passthru", "filter", "include", "exclude",
                    "credential", "stream"},
    "remove-item": {"path", "literalpath", "recurse", "force", "filter", "include", "exclude", "credential",
                    "stream"},
    "stop-service": {"name", "displayname", "inputobject", "include", "exclude", "force", "passthru", "nowait"},
    "start-service": {"name", "displayname", "inputobject", "include", "exclude", "passthru"},
    "get-service": {"name", "displayname", "inputobject", "include", "exclude", "computername", "dependentservices",
                    "requiredservices"},
    "get-content": {"path", "literalpath", "totalcount", "tail", "readcount", "encoding", "raw", "delimiter",
                    "wait", "filter", "include", "exclude", "force", "credential", "stream"},
    "new-item": {"path", "name", "itemtype", "value", "force", "credential"},
    "join-path": {"path", "childpath", "resolve", "credential"},
    "out-null": {"inputobject"},
}

# for the message only: cmdlets and parameters that came after 3.0
NEWER_CMDLETS = {
    "get-filehash": "4.0", "new-temporaryfile": "5.0", "new-guid": "5.0", "get-clipboard": "5.0",
    "set-clipboard": "5.0", "compress-archive": "5.0", "expand-archive": "5.0", "convertfrom-string": "5.0",
    "write-information": "5.0", "format-hex": "5.0", "get-itempropertyvalue": "5.0", "clear-recyclebin": "5.0",
    "get-computerinfo": "5.1", "remove-service": "6.0", "get-uptime": "6.0", "join-string": "6.2",
    "foreach-object -parallel": "7.0",
}
NEWER_PARAMETERS = {
    ("get-childitem", "depth"): "5.0", ("set-content", "nonewline"): "5.0", ("add-content", "nonewline"): "5.0",
    ("out-file", "nonewline"): "5.0", ("convertfrom-json", "ashashtable"): "6.0", ("get-content", "asbytestream"): "6.0",
    ("foreach-object", "parallel"): "7.0", ("invoke-webrequest", "skipcertificatecheck"): "6.0",
    ("new-item", "itemtype symboliclink"): "5.0",
}
COMMON_NEWER = {"informationaction": "5.0", "informationvariable": "5.0", "pipelinevariable": "4.0"}

# syntax by tree-sitter node type
NEWER_NODES = {
    "class_statement": ("a class", "5.0"),
    "enum_statement": ("an enum", "5.0"),
    "pipeline_chain_tail": ("&& or || between pipelines", "7.0"),
    "ternary_expression": ("the ternary operator", "7.0"),
    "configuration_statement": ("a DSC configuration", "4.0"),
}
NEWER_KEYWORDS = {"using": ("a using statement", "5.0")}


def _walk(node):
    yield node
    for child in node.children:
        yield from _walk(child)


def _text(source, node):
    return source[node.start_byte:node.end_byte].decode("utf-8", "replace")


def problems(script):
    """What in ``script`` PowerShell 3.0 does not have: [str], empty when the script is inside 3.0."""
    source = script.encode("utf-8") if isinstance(script, str) else script
    root = PARSER.parse(source).root_node
    found = []
    if root.has_error:
        bad = next((n for n in _walk(root) if n.type == "ERROR" or n.is_missing), root)
        found.append("does not parse as PowerShell (so cannot be checked against %s): %r"
                     % (MINIMUM, _text(source, bad)[:60]))
    functions = set()
    for node in _walk(root):
        if node.type == "function_statement":
            name = next((c for c in node.children if c.type == "function_name"), None)
            if name is not None:
                functions.add(_text(source, name).lower())
    # the code without the contents of string literals, for what the grammar may not parse
    code = bytearray(source)
    for node in _walk(root):
        if node.type in ("string_literal", "expandable_string_literal", "verbatim_here_string_characters",
                         "expandable_here_string_literal"):
            code[node.start_byte:node.end_byte] = b" " * (node.end_byte - node.start_byte)
    for pattern, what in ((rb"::\s*new\s*\(", "::new() (PowerShell 5.0)"),
                          (rb"\.\s*(?:ForEach|Where)\s*\(", ".ForEach() or .Where() on a collection (PowerShell 4.0)"),
                          (rb"\?\?|\?\.", "a null-coalescing or null-conditional operator (PowerShell 7.0)")):
        for match in re.finditer(pattern, bytes(code), re.IGNORECASE):
            text = "%s: %r" % (what, source[max(0, match.start() - 20):match.end() + 20].decode("utf-8", "replace"))
            if not any(f.startswith(what.split(" (", maxsplit=1)[0]) for f in found):
                found.append(text)
    for match in re.finditer(rb"(?im)^\s*#requires\s+-version\s+(\d+(?:\.\d+)?)", source):
        if float(match.group(1)) > float(MINIMUM):
            found.append("#requires -Version %s is above %s" % (match.group(1).decode(), MINIMUM))
    for node in _walk(root):
        kind = node.type
        if kind in NEWER_NODES:
            what, version = NEWER_NODES[kind]
            found.append("%s (PowerShell %s): %r" % (what, version, _text(source, node)[:60]))
        elif kind == "invokation_expression":
            text = _text(source, node)
            member = next((c for c in node.children if c.type == "member_name"), None)
            name = _text(source, member).lower() if member is not None else ""
            if "::" in text and name == "new":
                found.append("::new() (PowerShell 5.0): %r" % text[:60])
            elif name in ("foreach", "where"):
                found.append(".%s() on a collection (PowerShell 4.0): %r" % (name.capitalize(), text[:60]))
        elif kind in ("null_coalescing_expression", "null_conditional_member_access"):
            found.append("a null-conditional operator (PowerShell 7.0): %r" % _text(source, node)[:60])
        elif kind == "command":
            found.extend(_command(source, node, functions))
    return found


def _command(source, node, functions):
    first = node.children[0]
    if first.type != "command_name":
        return []  # & $A ...: a native program, whatever version runs it
    name = _text(source, first).lower()
    if name in NEWER_KEYWORDS:
        what, version = NEWER_KEYWORDS[name]
        return ["%s (PowerShell %s): %r" % (what, version, _text(source, node)[:60])]
    if name in functions:
        return []
    if name not in CMDLETS_30:
        if name in NEWER_CMDLETS:
            return ["the cmdlet %s (PowerShell %s)" % (_text(source, first), NEWER_CMDLETS[name])]
        return ["the command %s is not in the table of what PowerShell %s has (tests/lib/ps30.py)"
                % (_text(source, first), MINIMUM)]
    out = []
    elements = next((c for c in node.children if c.type == "command_elements"), None)
    for element in elements.children if elements is not None else []:
        if element.type != "command_parameter":
            continue
        parameter = _text(source, element).lstrip("-").rstrip(":").split(":")[0].lower()
        if parameter in CMDLETS_30[name] or parameter in COMMON:
            continue
        version = NEWER_PARAMETERS.get((name, parameter)) or COMMON_NEWER.get(parameter)
        if version:
            out.append("%s -%s (PowerShell %s)" % (_text(source, first), parameter, version))
        else:
            out.append("%s has no parameter -%s in the table of PowerShell %s (tests/lib/ps30.py)"
                       % (_text(source, first), parameter, MINIMUM))
    return out
