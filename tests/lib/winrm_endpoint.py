"""A test WinRM endpoint: WS-Management over HTTP on loopback that pywinrm and Ansible's winrm
connection talk to unchanged, and that runs our Windows runner's PowerShell against an azcmagent
stand-in in its Windows flavour.

    python tests/lib/winrm_endpoint.py --listen 127.0.0.1:PORT --user USER --password PASSWORD \
        --azcmagent 'COMMAND' [--root DIR] [--no-agent]

No PowerShell runs: the script each command carries (-EncodedCommand, UTF-16LE) is parsed with
tree-sitter-powershell, an independent parser, and only the constructs our runner emits are
interpreted (see tests/lib/winrm_endpoint.md). Anything else is refused with exit code 1 and a message
on stderr, so an unexpected construct fails the tests instead of passing silently.

The Windows "file system" of the host is the directory --root: C:\\X\\Y is <root>/X/Y. The agent is
installed when <root>/Program Files/AzureConnectedMachineAgent/azcmagent.exe exists (created at
start unless --no-agent); calling it runs COMMAND with AZCMAGENT_STANDIN_FLAVOUR=windows and
AZCMAGENT_STANDIN_ROOT=<root>, after PowerShell 5.1's rules for passing arguments to a native
program and the MSVCRT rules for parsing them back.
"""

import argparse
import base64
import http.server
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
import xml.etree.ElementTree as ET

import regex
import tree_sitter_powershell
from tree_sitter import Language, Parser

try:
    from tests.lib import ps30
except ImportError:  # run as a script: tests/windows is on sys.path
    import ps30

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "p": "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
}
ACTION_PREFIX = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/"
AGENT_PATH = "C:\\Program Files\\AzureConnectedMachineAgent\\azcmagent.exe"
ICACLS_PATH = "C:\\Windows\\System32\\icacls.exe"
# the only icacls grants emitted: SYSTEM and BUILTIN\Administrators, full control, inherited by files and folders
ICACLS_GRANT = re.compile(r"^\*(S-1-5-18|S-1-5-32-544):\(OI\)\(CI\)F$")
PRIVATE_SIDS = {"S-1-5-18", "S-1-5-32-544"}
RECEIVE_WAIT = 15.0
PS_PARSER = Parser(Language(tree_sitter_powershell.language()))


class Refused(Exception):
    """A construct our runner does not emit."""


# ------------------------------------------------------------------ argument passing

def ps51_command_line(program, args):
    """The command line Windows PowerShell 5.1 builds for a native program (legacy passing)."""
    parts = ['"%s"' % program]
    for arg in args:
        if arg == "":
            continue  # PowerShell 5.1 drops empty arguments
        if any(ch in arg for ch in " \t") and not (len(arg) > 1 and arg[0] == '"' and arg[-1] == '"'):
            parts.append('"%s"' % arg)  # embedded quotes are NOT escaped
        else:
            parts.append(arg)
    return " ".join(parts)


def msvcrt_argv(command_line):
    """Parse a command line as the Microsoft C runtime does (argv[0] included)."""
    args, i, n = [], 0, len(command_line)
    # argv[0]: up to the next unquoted space, quotes removed, no escapes
    buf, quoted = [], False
    while i < n and (quoted or command_line[i] not in " \t"):
        if command_line[i] == '"':
            quoted = not quoted
        else:
            buf.append(command_line[i])
        i += 1
    args.append("".join(buf))
    while True:
        while i < n and command_line[i] in " \t":
            i += 1
        if i >= n:
            break
        buf, quoted = [], False
        while i < n and (quoted or command_line[i] not in " \t"):
            ch = command_line[i]
            if ch == "\\":
                j = i
                while j < n and command_line[j] == "\\":
                    j += 1
                count = j - i
                if j < n and command_line[j] == '"':
                    buf.append("\\" * (count // 2))
                    if count % 2:
                        buf.append('"')
                        i = j + 1
                    else:
                        i = j
                    continue
                buf.append("\\" * count)
                i = j
                continue
            if ch == '"':
                if quoted and i + 1 < n and command_line[i + 1] == '"':
                    buf.append('"')
                    i += 2
                    continue
                quoted = not quoted
                i += 1
                continue
            buf.append(ch)
            i += 1
        args.append("".join(buf))
    return args


# --------------------------------------------------------------------- interpreter

class CommandLineTooLong(Refused):
    """WinRM starts a command through cmd.exe, whose command line takes at most CMD_EXE_LIMIT characters."""


CMD_EXE_LIMIT = 8191


class Exit(Exception):
    def __init__(self, code):
        super().__init__(code)
        self.code = code


WRAPPERS = {"logical_expression", "bitwise_expression", "comparison_expression", "additive_expression",
            "multiplicative_expression", "format_expression", "range_expression", "array_literal_expression",
            "unary_expression", "pipeline_chain", "logical_argument_expression", "bitwise_argument_expression",
            "comparison_argument_expression", "additive_argument_expression", "multiplicative_argument_expression",
            "format_argument_expression", "range_argument_expression", "argument_expression",
            "left_assignment_expression"}


class ErrorRecord(str):
    """A line of a native command's standard error merged into its output by ``2>&1``: PowerShell wraps each in
    a System.Management.Automation.ErrorRecord whose string form is the line."""


ERROR_RECORD_TYPES = ("system.management.automation.errorrecord", "management.automation.errorrecord")


class Host:
    """One Windows host: its file system root and the agent command."""

    def __init__(self, root, agent_command, env=None):
        self.root = root
        self.agent_command = agent_command
        self.env = {"ProgramW6432": "C:\\Program Files", "ProgramFiles": "C:\\Program Files",
                    "ProgramData": "C:\\ProgramData", "SystemDrive": "C:", "SystemRoot": "C:\\Windows"}
        self.env.update(env or {})
        self.files_log = os.path.join(root, "endpoint-files.log")
        self.acl_file = os.path.join(root, ".endpoint-acls.json")

    # -- file ACLs: what icacls set, kept beside the host's file system; every file event is logged
    def acls(self):
        try:
            with open(self.acl_file) as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return {}

    def set_acl(self, windows_path, grants):
        acls = self.acls()
        acls[windows_path.lower().rstrip("\\")] = {"protected": True, "grants": sorted(grants)}
        with open(self.acl_file, "w") as handle:
            json.dump(acls, handle)

    def drop_acls(self, windows_path):
        prefix = windows_path.lower().rstrip("\\")
        acls = {k: v for k, v in self.acls().items() if k != prefix and not k.startswith(prefix + "\\")}
        with open(self.acl_file, "w") as handle:
            json.dump(acls, handle)

    def private(self, windows_path):
        """Can only SYSTEM and Administrators open this path (its own or the nearest protected folder's ACL)?"""
        acls = self.acls()
        path = windows_path.lower().rstrip("\\")
        while path:
            if path in acls:
                return set(acls[path]["grants"]) <= PRIVATE_SIDS
            if "\\" not in path:
                break
            path = path.rsplit("\\", 1)[0]
        return False

    def file_event(self, op, windows_path, **extra):
        entry = dict({"op": op, "path": windows_path, "private": self.private(windows_path)}, **extra)
        with open(self.files_log, "a") as handle:
            handle.write(json.dumps(entry) + "\n")

    def local_path(self, windows_path):
        path = windows_path.replace("/", "\\")
        if len(path) >= 2 and path[1] == ":":
            path = path[2:]
        return os.path.join(self.root, *[p for p in path.split("\\") if p])


class Interpreter:
    def __init__(self, host, source, stdin, dry=False):
        self.dry = dry  # validate every statement (both sides of each if) without running anything
        self.host = host
        self.source = source
        self.vars = {}
        # $input from standard input: lines as StreamReader.ReadLine splits them (CR, LF or CRLF only)
        self.stdin_lines = re.split(r"\r\n|\r|\n", stdin.decode("utf-8", "replace")) if stdin else []
        if self.stdin_lines and self.stdin_lines[-1] == "":
            self.stdin_lines.pop()
        self.stdout = []
        self.stderr = []
        self.last_exit = 0
        self.last_ok = True  # $?: did the last command succeed
        self.functions = {}

    # -- helpers
    def text(self, node):
        return self.source[node.start_byte:node.end_byte].decode("utf-8")

    def refuse(self, node, why="construct not emitted by our runner"):
        raise Refused("%s: %s %r" % (why, node.type, self.text(node)[:80]))

    @staticmethod
    def named(node):
        return [c for c in node.children if c.is_named]

    def unwrap(self, node):
        while node.type in WRAPPERS:
            kids = self.named(node)
            if len(kids) != 1 or len(node.children) != 1:
                break
            node = kids[0]
        return node

    # -- program
    def run(self):
        tree = PS_PARSER.parse(self.source)
        root = tree.root_node
        if root.has_error:
            bad = next((n for n in walk(root) if n.type == "ERROR" or n.is_missing), root)
            raise Refused("the script does not parse: %r" % self.text(bad)[:80])
        for node in walk(root):
            if node.type == "generic_token" and any(q in self.text(node) for q in "'\"\u2018\u2019"):
                raise Refused("a bare word with a quote in it: %r" % self.text(node))
            if node.type in ("expandable_string_literal", "expandable_here_string_literal", "sub_expression",
                             "while_statement", "for_statement",
                             "trap_statement", "catch_clause", "catch_clauses"):
                self.refuse(node)
            if node.type == "script_block" and (node.parent is None or node.parent.type != "function_statement"):
                self.refuse(node, "a script block outside a function definition")
            if node.type == "redirection" and self.text(node) != "2>&1":
                self.refuse(node, "only 2>&1 is emitted")
        try:
            for child in self.named(root):
                if child.type != "statement_list":
                    self.refuse(child)
                self.statements(child)
        except Exit as done:
            return done.code
        return 0

    def statements(self, node):
        for stmt in self.named(node):
            self.statement(stmt)

    def statement(self, node):
        kind = node.type
        if kind == "empty_statement":
            return
        if kind == "flow_control_statement":
            kids = self.named(node)
            if self.text(node.children[0]).lower() != "exit" or len(kids) > 1:
                self.refuse(node)
            code = self.pipeline_value(kids[0]) if kids else 0
            raise Exit(int(code))
        if kind == "if_statement":
            return self.if_statement(node)
        if kind == "try_statement":
            return self.try_statement(node)
        if kind == "foreach_statement":
            return self.foreach_statement(node)
        if kind == "function_statement":
            return self.function_statement(node)
        if kind == "pipeline":
            kids = self.named(node)
            if len(kids) != 1:
                self.refuse(node, "pipelines are not emitted")
            inner = kids[0]
            if inner.type == "assignment_expression":
                return self.assignment(inner)
            if inner.type == "pipeline_chain":
                chain = self.named(inner)
                if len(chain) != 1:
                    self.refuse(inner)
                if chain[0].type == "command":
                    return self.command(chain[0], emit=True)
                self.expression_statement(chain[0])
                return
        self.refuse(node)

    def if_statement(self, node):
        kids = list(node.children)
        words = [self.text(c).lower() for c in kids if not c.is_named]
        if "elseif" in words or any(c.type == "elseif_clauses" for c in kids):
            self.refuse(node)
        condition = next(c for c in kids if c.type == "pipeline")
        block = next(c for c in kids if c.type == "statement_block")
        otherwise = next((c for c in kids if c.type == "else_clause"), None)
        taken = self.truth(self.pipeline_value(condition))
        inner = [c for c in self.named(block) if c.type == "statement_list"]
        other = []
        if otherwise is not None:
            other_block = next(c for c in otherwise.children if c.type == "statement_block")
            other = [c for c in self.named(other_block) if c.type == "statement_list"]
        if self.dry:
            for branch in (inner, other):
                try:
                    for stmts in branch:
                        self.statements(stmts)
                except Exit:
                    pass
            return
        for stmts in inner if taken else other:
            self.statements(stmts)

    def function_statement(self, node):
        """``function NAME($P) { ... }``: one parameter, statements only (no param block, begin/process/end)."""
        name = next(c for c in node.children if c.type == "function_name")
        declaration = next((c for c in node.children if c.type == "function_parameter_declaration"), None)
        params = [c for c in walk(declaration) if c.type == "script_parameter"] if declaration is not None else []
        block = next((c for c in node.children if c.type == "script_block"), None)
        body = [c for c in self.named(block) if c.type == "script_block_body"] if block is not None else []
        if len(params) != 1 or len(body) != 1 or len(self.named(block)) != 1 or any(
                c.type != "variable" for c in self.named(params[0])):
            self.refuse(node, "only function NAME($P) { statements } is emitted")
        lists = [c for c in self.named(body[0]) if c.type == "statement_list"]
        self.functions[self.text(name).lower()] = (self.text(params[0])[1:].lower(), lists)
        if self.dry:
            self.call_function(self.text(name).lower(), [""])

    def call_function(self, name, argument):
        """Run a function defined above: its parameter and assignments live in a scope of its own (the caller's
        variables stay readable), as in PowerShell."""
        param, lists = self.functions[name]
        outer = self.vars
        self.vars = dict(outer)
        self.vars[param] = argument
        try:
            for stmts in lists:
                self.statements(stmts)
        finally:
            self.vars = outer

    def foreach_statement(self, node):
        """``foreach ($L in $X) { ... }``: the block once per item of an array (a single value: once)."""
        kids = list(node.children)
        variable = next((c for c in kids if c.type == "variable"), None)
        source = next((c for c in kids if c.type == "pipeline"), None)
        block = next((c for c in kids if c.type == "statement_block"), None)
        if variable is None or source is None or block is None or any(
                c.type == "foreach_parameter" for c in kids):
            self.refuse(node)
        items = self.pipeline_value(source)
        if items is None:
            items = []
        elif not isinstance(items, list):
            items = [items]
        if self.dry:
            items = [""]
        name = self.text(variable)[1:].lower()
        for item in items:
            self.vars[name] = item
            for stmts in [c for c in self.named(block) if c.type == "statement_list"]:
                self.statements(stmts)

    def try_statement(self, node):
        """``try { ... } finally { ... }`` (no catch): the finally block runs however the try block ends."""
        kinds = [c.type for c in node.children]
        if kinds != ["try", "statement_block", "finally_clause"]:
            self.refuse(node, "only try { } finally { } is emitted")
        body = node.children[1]
        final = next(c for c in node.children[2].children if c.type == "statement_block")
        try:
            for stmts in [c for c in self.named(body) if c.type == "statement_list"]:
                self.statements(stmts)
        finally:
            for stmts in [c for c in self.named(final) if c.type == "statement_list"]:
                self.statements(stmts)

    def assignment(self, node):
        kids = self.named(node)
        target = self.unwrap(kids[0])
        if target.type != "variable" or self.text(kids[1]) != "=":
            self.refuse(node)
        name = self.text(target)[1:].lower()
        value_node = self.unwrap(kids[2])
        if name == "null":
            self.pipeline_value(kids[2])
            return
        if value_node.type == "pipeline":
            chain = self.named(value_node)
            inner = self.unwrap(self.named(chain[0])[0]) if chain and self.named(chain[0]) else None
            if inner is not None and inner.type == "invokation_expression":
                self.refuse(node, "a method's value is only assigned to $null")
        if name.startswith("env:"):
            self.refuse(node, "assigning environment variables is not emitted")
        self.vars[name] = self.pipeline_value(kids[2])

    def pipeline_value(self, node):
        if node.type != "pipeline":
            return self.value(node)
        kids = self.named(node)
        if len(kids) != 1 or kids[0].type != "pipeline_chain":
            self.refuse(node)
        chain = self.named(kids[0])
        if len(chain) != 1:
            self.refuse(kids[0])
        if chain[0].type == "command":
            return self.command(chain[0], emit=False)
        return self.value(chain[0])

    def expression_statement(self, node):
        node = self.unwrap(node)
        if node.type == "invokation_expression":
            return self.invoke(node)
        self.refuse(node)

    def invoke(self, node, as_value=False):
        """``[Console]::Error.WriteLine(x)``, ``[System.IO.File]::WriteAllText(path, text)`` as statements;
        ``[System.IO.Directory]::CreateDirectory(path)`` only as a value (assigned to ``$null``)."""
        text = self.text(node)
        args = [c for c in self.named(node) if c.type == "argument_list"]
        exprs = []
        if args:
            lists = [c for c in self.named(args[0]) if c.type == "argument_expression_list"]
            exprs = [c for c in self.named(lists[0]) if c.type == "argument_expression"] if lists else []
        for method, count, value_only in (("[Console]::Error.WriteLine(", 1, False),
                                          ("[System.IO.File]::WriteAllText(", 2, False),
                                          ("[System.IO.Directory]::CreateDirectory(", 1, True)):
            if text.startswith(method):
                break
        else:
            self.refuse(node)
        if len(exprs) != count or value_only != as_value:
            self.refuse(node)
        values = [self.value(e) for e in exprs]
        if method.startswith("[Console]"):
            self.stderr.append(self.to_text(values[0]) + "\r\n")
            return None
        if any(not isinstance(v, str) or not v for v in values[:1]):
            self.refuse(node, "a path that is not a string")
        if self.dry:
            return "DirectoryInfo" if as_value else None
        path = values[0]
        local = self.host.local_path(path)
        if method.startswith("[System.IO.Directory]"):
            os.makedirs(local, exist_ok=True)
            self.host.file_event("mkdir", path)
            return "DirectoryInfo"
        if not os.path.isdir(os.path.dirname(local)):
            raise Exit(self.terminating("Could not find a part of the path '%s'." % path))
        with open(local, "w", encoding="utf-8", newline="") as handle:  # .NET's default: UTF-8 without BOM
            handle.write(self.to_text(values[1]))
        self.host.file_event("write", path, size=len(self.to_text(values[1]).encode("utf-8")))
        return None

    def terminating(self, message):
        """A .NET exception outside try/catch: PowerShell prints it and the script goes on; we stop (exit 1)."""
        self.stderr.append("Exception calling the method: \"%s\"\r\n" % message)
        return 1

    def truth(self, value):
        return bool(value)

    def to_text(self, value):
        if value is None:
            return ""
        if isinstance(value, bool):
            return "True" if value else "False"
        return str(value)

    def value(self, node):
        node = self.unwrap(node)
        kind = node.type
        if kind == "variable":
            name = self.text(node)[1:]
            lower = name.lower()
            if lower.startswith("env:"):
                return self.host.env.get(name[4:], None)
            if lower == "lastexitcode":
                return self.last_exit
            if lower == "?":
                return self.last_ok
            if lower == "input":
                return list(self.stdin_lines)
            if lower not in self.vars:
                self.refuse(node, "an unassigned variable")
            return self.vars[lower]
        if kind == "string_literal":
            kids = self.named(node)
            if len(kids) != 1 or kids[0].type != "verbatim_string_characters":
                self.refuse(node)
            raw = self.text(kids[0])
            return unquote_verbatim(raw)
        if kind == "integer_literal":
            return int(self.text(node))
        if kind == "parenthesized_expression":
            inner = list(self.named(node))
            if len(inner) != 1:
                self.refuse(node)
            return self.pipeline_value(inner[0])
        if kind == "array_expression":
            inner = [c for c in self.named(node) if c.type == "statement_list"]
            if len(inner) == 1 and self.text(inner[0]).strip().lower() == "$input":
                return list(self.stdin_lines)
            call = self._captured_call(inner)
            if call is None:
                self.refuse(node, "only @($input) and @(& $A ...) are emitted")
            return self.command(call, emit=False, capture=True)
        if kind == "element_access":
            kids = self.named(node)
            base = self.value(kids[0])
            index = self.value(kids[1])
            if not isinstance(base, list) or not isinstance(index, int):
                self.refuse(node)
            return base[index] if -len(base) <= index < len(base) else None
        if kind == "expression_with_unary_operator" and node.children[0].type == "cast_expression":
            node = node.children[0]
            kind = node.type
        if kind == "cast_expression":
            kids = self.named(node)
            if len(kids) != 2 or self.text(kids[0]).lower() != "[string]":
                self.refuse(node, "only [string] casts are emitted")
            return self.to_text(self.value(kids[1]))
        if kind == "expression_with_unary_operator":
            op = self.text(node.children[0]).lower()
            if op != "-not":
                self.refuse(node)
            return not self.truth(self.value(node.children[1]))
        if kind in ("additive_expression", "additive_argument_expression"):
            kids = node.children
            if len(kids) != 3 or self.text(kids[1]) != "+":
                self.refuse(node)
            left, right = self.value(kids[0]), self.value(kids[2])
            if isinstance(left, int) and isinstance(right, int) and not isinstance(left, bool):
                return left + right
            return self.to_text(left) + self.to_text(right)
        if kind in ("comparison_expression", "comparison_argument_expression"):
            kids = node.children
            if len(kids) != 3 or self.text(kids[1]).lower() not in ("-ne", "-creplace", "-is"):
                self.refuse(node)
            if self.text(kids[1]).lower() == "-is":
                kind_node = self.unwrap(kids[2])
                if kind_node.type != "type_literal" or self.text(kind_node)[1:-1].lower() not in ERROR_RECORD_TYPES:
                    self.refuse(node, "only -is [System.Management.Automation.ErrorRecord] is emitted")
                return isinstance(self.value(kids[0]), ErrorRecord)
            if self.text(kids[1]).lower() == "-creplace":
                return self.creplace(node, self.value(kids[0]), kids[2])
            return self.value(kids[0]) != self.value(kids[2])
        if kind == "invokation_expression":
            if self.text(node).startswith("[regex]::Escape("):
                return self.regex_escape(node)
            return self.invoke(node, as_value=True)
        if kind == "command":
            return self.command(node, emit=False)
        self.refuse(node)

    def _captured_call(self, statement_lists):
        """The `& $A ...` command inside @( ), or None."""
        if len(statement_lists) != 1:
            return None
        pipelines = self.named(statement_lists[0])
        if len(pipelines) != 1 or pipelines[0].type != "pipeline":
            return None
        chain = self.named(pipelines[0])
        if len(chain) != 1 or chain[0].type != "pipeline_chain":
            return None
        command = self.named(chain[0])
        if len(command) != 1 or command[0].type != "command":
            return None
        if command[0].children[0].type != "command_invokation_operator":
            return None
        return command[0]

    def creplace(self, node, subject, right):
        """``subject -creplace 'pattern', 'replacement'``: .NET regular expressions on a string or each item."""
        right = self.unwrap(right)
        operands = [c for c in self.named(right) if c.is_named] if right.type == "array_literal_expression" else []
        if len(operands) != 2:
            self.refuse(node, "-creplace takes a pattern and a replacement")
        pattern, replacement = (self.to_text(self.value(o)) for o in operands)
        if self.dry:
            return subject
        try:
            compiled = regex.compile(pattern)
        except regex.error as exc:
            raise Refused("-creplace: not a regular expression %r: %s" % (pattern[:80], exc))
        expand = dotnet_replacement(replacement)
        if isinstance(subject, list):
            return [compiled.sub(expand, self.to_text(item)) for item in subject]
        return compiled.sub(expand, self.to_text(subject))

    def regex_escape(self, node):
        """Only [regex]::Escape(<expression>)."""
        if not self.text(node).startswith("[regex]::Escape("):
            self.refuse(node)
        args = [c for c in self.named(node) if c.type == "argument_list"]
        exprs = [c for c in walk(args[0]) if c.type == "argument_expression"] if args else []
        if len(exprs) != 1:
            self.refuse(node)
        value = self.value(exprs[0])
        if value is None:
            # [regex]::Escape($null) throws in PowerShell
            raise Refused("[regex]::Escape of a missing value (nothing on standard input?)")
        return dotnet_regex_escape(self.to_text(value))

    # -- commands
    def command(self, node, emit, capture=False):
        first = node.children[0]
        elements = next((c for c in node.children if c.type == "command_elements"), None)
        items = list(self.named(elements)) if elements is not None else []
        items = [c for c in items if c.type != "command_argument_sep"]
        if first.type == "command_invokation_operator":
            target = next(c for c in node.children if c.type == "command_name_expr")
            variable = [c for c in walk(target) if c.type == "variable"]
            if len(variable) != 1 or self.text(target).strip() != self.text(variable[0]):
                self.refuse(node, "only & $Variable calls are emitted")
            program = self.value(variable[0])
            merge = bool(items) and items[-1].type == "redirection"
            if merge:
                if not capture or self.text(items[-1]) != "2>&1":
                    self.refuse(node, "2>&1 is only emitted on a captured native call")
                items = items[:-1]
            if any(item.type == "redirection" for item in items):
                self.refuse(node, "only one 2>&1, at the end")
            args = []
            for item in items:
                if item.type in ("command_parameter", "generic_token"):
                    self.refuse(item, "native arguments are always quoted or variables")
                value = self.value(item)
                if isinstance(value, (list, bool)) or value is None:
                    self.refuse(item, "native argument is not a string")
                args.append(self.to_text(value))
            return self.native(str(program), args, capture, merge)
        if capture:
            self.refuse(node, "only a native call is captured")
        name = self.text(first)
        if first.type != "command_name":
            self.refuse(node)
        if name.lower() in self.functions:
            if len(items) != 1 or not emit:
                self.refuse(node, "a function is only called as a statement with one argument")
            self.call_function(name.lower(), self.value(items[0]))
            return None
        self.last_ok = True
        if name in ("Stop-Service", "Start-Service"):
            if len(items) != 2 or self.text(items[0]) != "-Name" or self.unwrap(items[1]).type != "string_literal":
                self.refuse(node, "only %s -Name 'literal' is emitted" % name)
            service = self.value(items[1])
            if not self.dry:
                self.service(name.split("-")[0].lower(), service)
            return None
        if name == "Remove-Item":
            # exactly two forms: Remove-Item -LiteralPath X -Recurse -Force (a folder and what is in it) and
            # Remove-Item -LiteralPath $X -Force (one file)
            flags = [self.text(i) for i in items]
            recurse = len(items) == 4 and flags[0] == "-LiteralPath" and flags[2:] == ["-Recurse", "-Force"]
            single = len(items) == 3 and flags[0] == "-LiteralPath" and flags[2] == "-Force" \
                and self.unwrap(items[1]).type == "variable"
            if not (recurse or single):
                self.refuse(node, "only Remove-Item -LiteralPath X -Recurse -Force and Remove-Item -LiteralPath $X "
                                  "-Force are emitted")
            path = self.value(items[1])
            if not isinstance(path, str) or not path:
                self.refuse(node, "a path that is not a string")
            if self.dry:
                return None
            local = self.host.local_path(path)
            if recurse and os.path.isdir(local):
                shutil.rmtree(local)
            elif os.path.isfile(local):
                os.unlink(local)
            else:
                self.stderr.append("Remove-Item : Cannot find path '%s' because it does not exist.\r\n" % path)
                self.last_ok = False
                return None
            if recurse:
                self.host.drop_acls(path)
                self.host.file_event("remove", path)
            return None
        if name == "Write-Output":
            if len(items) != 1:
                self.refuse(node)
            value = self.value(items[0])
            if isinstance(value, list):
                # an array is written item by item (none for an empty one)
                if not emit:
                    self.refuse(node)
                self.stdout.extend(self.to_text(item) + "\r\n" for item in value)
                return None
            text = self.to_text(value)
            if emit:
                self.stdout.append(text + "\r\n")
                return None
            return text
        if name == "Test-Path":
            if len(items) != 2 or self.text(items[0]) != "-LiteralPath":
                self.refuse(node)
            path = self.value(items[1])
            if self.dry:
                return True
            return bool(path) and os.path.exists(self.host.local_path(str(path)))
        if name == "Set-Content":
            # exactly: Set-Content -LiteralPath $X -Value 'literal' (a marker file; the folder must exist)
            flags = [self.text(i) for i in items]
            if len(items) != 4 or flags[0] != "-LiteralPath" or flags[2] != "-Value" \
                    or self.unwrap(items[3]).type != "string_literal":
                self.refuse(node, "only Set-Content -LiteralPath $X -Value 'literal' is emitted")
            path, text = str(self.value(items[1])), self.value(items[3])
            if self.dry:
                return None
            local = self.host.local_path(path)
            if not os.path.isdir(os.path.dirname(local)):
                self.stderr.append("Set-Content : Could not find a part of the path '%s'.\r\n" % path)
                self.last_ok = False
                return None
            with open(local, "w", encoding="utf-8", newline="") as handle:
                handle.write(text + "\r\n")
            return None
        if name == "Get-ChildItem":
            # exactly: Get-ChildItem -LiteralPath $X -Directory -Name (PowerShell 3.0): the names of the folders in X
            flags = [self.text(i) for i in items]
            if flags[:1] != ["-LiteralPath"] or sorted(flags[2:]) != ["-Directory", "-Name"]:
                self.refuse(node, "only Get-ChildItem -LiteralPath $X -Directory -Name is emitted")
            path = self.value(items[1])
            if self.dry:
                return [] if not emit else None
            base = self.host.local_path(str(path))
            names = [entry for entry in (sorted(os.listdir(base)) if os.path.isdir(base) else [])
                     if os.path.isdir(os.path.join(base, entry))]
            if not emit:
                # PowerShell: no item is $null, one item is that item, more are an array
                return None if not names else names[0] if len(names) == 1 else names
            if emit:
                self.stdout.extend(n + "\r\n" for n in names)
                return None
            return names
        self.refuse(node, "command %s is not emitted by our runner" % name)

    def service(self, action, name):
        """Stop-Service or Start-Service: the stand-in's service status (its service-manager test hook)."""
        if not os.path.exists(self.host.local_path(AGENT_PATH)):
            proc_rc, err = 1, "Cannot find any service with service name '%s'." % name
        else:
            env = dict(os.environ, AZCMAGENT_STANDIN_FLAVOUR="windows", AZCMAGENT_STANDIN_ROOT=self.host.root,
                       AZCMAGENT_STANDIN_SERVICE_TOOL="windows")
            proc = subprocess.run(self.host.agent_command + [action, name], capture_output=True, env=env, check=False)
            proc_rc, err = proc.returncode, proc.stderr.decode("utf-8", "replace").strip()
        if proc_rc != 0:
            # a non-terminating error record, as PowerShell prints it; $? is then false
            verb, done = ("Stop-Service", "stopped") if action == "stop" else ("Start-Service", "started")
            self.stderr.append("%s : %s\r\n" % (verb, err or "Service '%s' cannot be %s." % (name, done)))
            self.last_ok = False

    def native(self, program, args, capture=False, merge=False):
        """Run the agent. ``capture``: its output lines are the value (as in @(& $A ...)), not written out;
        ``merge`` (2>&1): its standard error lines are in the value too, as ErrorRecord items, not written out."""
        if program.lower() == ICACLS_PATH.lower():
            return self.icacls(args)
        if self.dry:
            self.last_exit = 0
            return [] if capture else None
        local = self.host.local_path(program)
        if not os.path.exists(local):
            self.stderr.append("%s : The term '%s' is not recognized as the name of a cmdlet, function, script file, "
                               "or operable program.\r\n" % (program, program))
            return None
        if program.lower() != AGENT_PATH.lower():
            self.stderr.append("%s: only the agent can run on this test host\r\n" % program)
            self.last_exit = 1
            return None
        argv = msvcrt_argv(ps51_command_line(program, args))[1:]
        env = dict(os.environ, AZCMAGENT_STANDIN_FLAVOUR="windows", AZCMAGENT_STANDIN_ROOT=self.host.root)
        env.pop("AZCMAGENT_STANDIN_SERVICE_TOOL", None)
        proc = subprocess.run(self.host.agent_command + argv, capture_output=True, env=env, check=False)
        captured = native_lines(proc.stdout)
        if not capture:
            self.stdout.extend(line + "\r\n" for line in captured)
        for line in native_lines(proc.stderr):
            if merge:
                captured.append(ErrorRecord(line))
            else:
                self.stderr.append(line + "\r\n")
        self.last_exit = proc.returncode
        self.last_ok = proc.returncode == 0
        return captured if capture else None

    def icacls(self, args):
        """``icacls PATH /inheritance:r /grant:r SID:(OI)(CI)F ...``: the one form emitted; recorded per path."""
        if len(args) < 4 or args[1:3] != ["/inheritance:r", "/grant:r"] or not all(
                ICACLS_GRANT.match(a) for a in args[3:]):
            raise Refused("icacls is only called as PATH /inheritance:r /grant:r *SID:(OI)(CI)F...: %r" % args)
        self.last_exit = 0
        self.last_ok = True
        if self.dry:
            return None
        path = args[0]
        if not os.path.exists(self.host.local_path(path)):
            self.stderr.append("%s: The system cannot find the file specified.\r\n"
                               "Successfully processed 0 files; Failed processing 1 files\r\n" % path)
            self.last_exit = 2
            self.last_ok = False
            return None
        self.host.set_acl(path, [ICACLS_GRANT.match(a).group(1) for a in args[3:]])
        self.host.file_event("acl", path)
        self.stdout.append("processed file: %s\r\nSuccessfully processed 1 files; Failed processing 0 files\r\n"
                           % path)
        return None


_DOTNET_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r", "\f": "\\f", " ": "\\ "}


def dotnet_regex_escape(text):
    """System.Text.RegularExpressions.Regex.Escape: \\, *, +, ?, |, {, [, (, ), ^, $, ., # and white space."""
    return "".join(_DOTNET_ESCAPES.get(ch) or ("\\" + ch if ch in "\\*+?|{[()^$.#" else ch) for ch in text)


def dotnet_replacement(text):
    """A .NET replacement string ($1, ${1}, $$, $0) as a function for regex.sub."""
    parts = []
    for m in regex.finditer(r"\$\{(\d+)\}|\$(\d+)|\$\$|\$&|[^$]+|\$", text):
        token = m.group(0)
        if m.group(1) or m.group(2):
            parts.append(int(m.group(1) or m.group(2)))
        elif token == "$$":
            parts.append("$")
        elif token == "$&":
            parts.append(0)
        else:
            parts.append(token)

    def expand(match):
        return "".join((match.group(p) or "") if isinstance(p, int) else p for p in parts)
    return expand


def unquote_verbatim(raw):
    quotes = "'\u2018\u2019\u201a\u201b"
    if len(raw) < 2 or raw[0] not in quotes or raw[-1] not in quotes:
        raise Refused("not a single-quoted string: %r" % raw)
    body, out, i = raw[1:-1], [], 0
    while i < len(body):
        ch = body[i]
        if ch in quotes:
            if i + 1 < len(body) and body[i + 1] in quotes:
                out.append(ch)
                i += 2
                continue
            raise Refused("an unpaired quote in %r" % raw)
        out.append(ch)
        i += 1
    return "".join(out)


def native_lines(data):
    """A native program's output as PowerShell reads it (StreamReader.ReadLine: CR, LF or CRLF end a line)."""
    lines = re.split(r"\r\n|\r|\n", data.decode("utf-8", "replace"))
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def walk(node):
    yield node
    for child in node.children:
        yield from walk(child)


def run_script(host, script_text, stdin=b""):
    """Run one PowerShell script: (rc, stdout bytes, stderr bytes).

    The whole script is checked first (every statement, both sides of each if, nothing run), so
    a script with a construct we do not interpret is refused before any of it takes effect.
    """
    newer = ps30.problems(script_text)
    if newer:
        # the collection promises Windows PowerShell 3.0 (Windows Server 2012 as it ships): refuse what it lacks
        return 1, b"", ("winrm test endpoint refused the script: newer than PowerShell %s: %s\r\n"
                        % (ps30.MINIMUM, "; ".join(newer))).encode("utf-8")
    try:
        Interpreter(host, script_text.encode("utf-8"), stdin, dry=True).run()
    except Refused as exc:
        return 1, b"", ("winrm test endpoint refused the script: %s\r\n" % exc).encode("utf-8")
    interp = Interpreter(host, script_text.encode("utf-8"), stdin)
    try:
        rc = interp.run()
    except Refused as exc:
        interp.stderr.append("winrm test endpoint refused the script: %s\r\n" % exc)
        rc = 1
    return rc, "".join(interp.stdout).encode("utf-8"), "".join(interp.stderr).encode("utf-8")


def decode_command(command, arguments):
    """The PowerShell script in a WinRM command (-EncodedCommand)."""
    if " " in command:  # pywinrm's run_ps sends the whole command line as the command
        command, _space, rest = command.partition(" ")
        arguments = (rest + " " + arguments).strip()
    if command.lower() not in ("powershell", "powershell.exe"):
        raise Refused("only PowerShell commands are accepted, got %r" % command)
    words = arguments.split()
    for index, word in enumerate(words):
        if word.lower() in ("-encodedcommand", "-enc", "-e"):
            return base64.b64decode(words[index + 1]).decode("utf-16-le")
    raise Refused("only -EncodedCommand scripts are accepted: %r" % arguments[:80])


# ------------------------------------------------------------------- WS-Management

class Command:
    def __init__(self, script_or_error):
        self.script = script_or_error
        self.stdin = b""
        self.stdin_done = False
        self.thread = None
        self.result = None
        self.delivered = False


class State:
    def __init__(self, host, user, password):
        self.host = host
        self.user = user
        self.password = password
        self.shells = {}
        self.lock = threading.Lock()


def envelope(action, relates_to, body):
    return ('<?xml version="1.0" encoding="utf-8"?>'
            '<s:Envelope xmlns:s="%(s)s" xmlns:a="%(a)s" xmlns:w="%(w)s" xmlns:rsp="%(rsp)s" xmlns:p="%(p)s">'
            '<s:Header><a:Action>%(action)s</a:Action><a:MessageID>uuid:%(mid)s</a:MessageID>'
            '<a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>'
            '<a:RelatesTo>%(rel)s</a:RelatesTo></s:Header><s:Body>%(body)s</s:Body></s:Envelope>'
            % dict(NS, action=action, mid=uuid.uuid4(), rel=relates_to, body=body)).encode("utf-8")


def fault(relates_to, code, reason):
    body = ('<s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value>w:TimedOut</s:Value></s:Subcode>'
            '</s:Code><s:Reason><s:Text xml:lang="en-US">%s</s:Text></s:Reason><s:Detail>'
            '<f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="%d" '
            'Machine="localhost"><f:Message>%s</f:Message></f:WSManFault></s:Detail></s:Fault>'
            % (reason, code, reason))
    return envelope("http://schemas.dmtf.org/wbem/wsman/1/wsman/fault", relates_to, body)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "arcguard-winrm-test/1.0"

    def log_message(self, fmt, *args):  # quiet
        if os.environ.get("WINRM_ENDPOINT_DEBUG"):
            sys.stderr.write(fmt % args + "\n")

    def reply(self, status, data, content_type="application/soap+xml;charset=UTF-8"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        expected = "Basic " + base64.b64encode(("%s:%s" % (state.user, state.password)).encode()).decode()
        if self.headers.get("Authorization") != expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="WSMAN"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        try:
            self.reply(200, self.dispatch(state, ET.fromstring(body)))
        except TimeoutError as exc:
            self.reply(500, exc.args[0])

    def dispatch(self, state, root):
        header = root.find("s:Header", NS)
        action = header.findtext("a:Action", default="", namespaces=NS)
        message_id = header.findtext("a:MessageID", default="", namespaces=NS)
        shell_id = None
        for selector in header.iter("{%s}Selector" % NS["w"]):
            if selector.get("Name") == "ShellId":
                shell_id = selector.text
        body = root.find("s:Body", NS)
        if action.endswith("/transfer/Create"):
            shell_id = str(uuid.uuid4()).upper()
            with state.lock:
                state.shells[shell_id] = {}
            return envelope("http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse", message_id,
                            '<x:ResourceCreated xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer">'
                            '<a:Address>http://localhost/wsman</a:Address><a:ReferenceParameters>'
                            '<w:ResourceURI>http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd</w:ResourceURI>'
                            '<w:SelectorSet><w:Selector Name="ShellId">%s</w:Selector></w:SelectorSet>'
                            '</a:ReferenceParameters></x:ResourceCreated>'
                            '<rsp:Shell><rsp:ShellId>%s</rsp:ShellId></rsp:Shell>' % (shell_id, shell_id))
        shell = state.shells.get(shell_id)
        if shell is None:
            raise ValueError("unknown shell %r" % shell_id)
        if action == ACTION_PREFIX + "Command":
            line = body.find("rsp:CommandLine", NS)
            command = line.findtext("rsp:Command", default="", namespaces=NS).strip()
            arguments = " ".join((a.text or "") for a in line.findall("rsp:Arguments", NS))
            try:
                if len(command) + 1 + len(arguments) > CMD_EXE_LIMIT:
                    raise CommandLineTooLong("%d characters" % (len(command) + 1 + len(arguments)))
                script = decode_command(command, arguments)
            except Refused as exc:
                script = exc
            command_id = str(uuid.uuid4()).upper()
            shell[command_id] = Command(script)
            return envelope(ACTION_PREFIX + "CommandResponse", message_id,
                            "<rsp:CommandResponse><rsp:CommandId>%s</rsp:CommandId></rsp:CommandResponse>" % command_id)
        if action == ACTION_PREFIX + "Send":
            stream = body.find("rsp:Send/rsp:Stream", NS)
            cmd = shell[stream.get("CommandId")]
            if stream.text:
                cmd.stdin += base64.b64decode(stream.text)
            if stream.get("End", "").lower() == "true":
                cmd.stdin_done = True
            return envelope(ACTION_PREFIX + "SendResponse", message_id, "<rsp:SendResponse/>")
        if action == ACTION_PREFIX + "Receive":
            desired = body.find("rsp:Receive/rsp:DesiredStream", NS)
            command_id = desired.get("CommandId")
            cmd = shell[command_id]
            if cmd.thread is None:
                cmd.thread = threading.Thread(target=self.execute, args=(state, cmd), daemon=True)
                cmd.thread.start()
            cmd.thread.join(RECEIVE_WAIT)
            if cmd.thread.is_alive():
                raise TimeoutError(fault(message_id, 2150858793, "The WS-Management service cannot complete the "
                                                                 "operation within the time specified in OperationTimeout."))
            rc, out, err = cmd.result
            streams = ""
            if not cmd.delivered:
                if out:
                    streams += '<rsp:Stream Name="stdout" CommandId="%s">%s</rsp:Stream>' % (
                        command_id, base64.b64encode(out).decode())
                if err:
                    streams += '<rsp:Stream Name="stderr" CommandId="%s">%s</rsp:Stream>' % (
                        command_id, base64.b64encode(err).decode())
                cmd.delivered = True
            streams += ('<rsp:Stream Name="stdout" CommandId="%s" End="true"></rsp:Stream>'
                        '<rsp:Stream Name="stderr" CommandId="%s" End="true"></rsp:Stream>' % (command_id, command_id))
            return envelope(ACTION_PREFIX + "ReceiveResponse", message_id,
                            '<rsp:ReceiveResponse>%s<rsp:CommandState CommandId="%s" '
                            'State="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done">'
                            '<rsp:ExitCode>%d</rsp:ExitCode></rsp:CommandState></rsp:ReceiveResponse>'
                            % (streams, command_id, rc))
        if action == ACTION_PREFIX + "Signal":
            return envelope(ACTION_PREFIX + "SignalResponse", message_id, "<rsp:SignalResponse/>")
        if action.endswith("/transfer/Delete"):
            with state.lock:
                state.shells.pop(shell_id, None)
            return envelope("http://schemas.xmlsoap.org/ws/2004/09/transfer/DeleteResponse", message_id, "")
        raise ValueError("unsupported action %r" % action)

    @staticmethod
    def execute(state, cmd):
        if isinstance(cmd.script, CommandLineTooLong):
            # what cmd.exe answers (real WinRM may also cut the command short and report success)
            cmd.result = (1, b"", b"The command line is too long.\r\n")
            return
        if isinstance(cmd.script, Refused):
            cmd.result = (1, b"", ("winrm test endpoint refused the command: %s\r\n" % cmd.script).encode())
            return
        cmd.result = run_script(state.host, cmd.script, cmd.stdin)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


def install_agent(root):
    path = os.path.join(root, "Program Files", "AzureConnectedMachineAgent", "azcmagent.exe")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write("test endpoint marker: the agent is installed\n")
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (port 0 picks a free one)")
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--azcmagent", required=True, help="command line that runs the azcmagent stand-in")
    parser.add_argument("--root", help="the host's Windows file system (default: a new temporary directory)")
    parser.add_argument("--no-agent", action="store_true", help="start without the agent installed")
    args = parser.parse_args(argv)
    host_name, _colon, port = args.listen.rpartition(":")
    root = args.root or tempfile.mkdtemp(prefix="winrm-host-")
    os.makedirs(root, exist_ok=True)
    if not args.no_agent:
        install_agent(root)
    server = Server((host_name or "127.0.0.1", int(port)), Handler)
    server.state = State(Host(root, shlex.split(args.azcmagent)), args.user, args.password)
    print("listening on %s:%d root %s" % (server.server_address[0], server.server_address[1], root), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
