"""PowerShell scripts read back through tree-sitter-powershell: the commands a script runs and their
arguments, as the tests of the remote scripts check them."""

from hypothesis import strategies as st

import tree_sitter_powershell
from tree_sitter import Language, Parser

PS = Parser(Language(tree_sitter_powershell.language()))

# Any text without NUL (a C string cannot hold one; the planner refuses control characters anyway).
ARG = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)


def _text(node, source):
    return source[node.start_byte:node.end_byte].decode("utf-8")


def _walk(node):
    yield node
    for child in node.children:
        yield from _walk(child)


def _ps_literal(node, source):
    """The value of a single-quoted literal (verbatim string) node."""
    raw = _text(node, source)
    quotes = "'\u2018\u2019\u201a\u201b"
    assert raw[0] in quotes and raw[-1] in quotes, raw
    body = raw[1:-1]
    out, i = [], 0
    while i < len(body):
        out.append(body[i])
        if body[i] in quotes:
            assert i + 1 < len(body) and body[i + 1] in quotes, raw
            i += 1
        i += 1
    return "".join(out)


def ps_commands(script):
    source = script.encode("utf-8")
    tree = PS.parse(source)
    assert not tree.root_node.has_error, script
    commands = []
    for node in _walk(tree.root_node):
        if node.type == "command":
            elements = node.child_by_field_name("command_elements")
            words = []
            if elements is not None:
                for el in elements.children:
                    if el.type == "command_argument_sep":
                        continue
                    if el.type == "redirection":
                        # the agent's standard error merged into its captured output, nothing else
                        assert _text(el, source) == "2>&1", script
                        continue
                    if any(n.type == "array_expression" for n in _walk(el)):
                        # the filter function's argument: a captured agent call, itself walked as a command
                        words.append(("raw", _text(el, source)))
                        continue
                    literals = [n for n in _walk(el) if n.type == "verbatim_string_characters"]
                    if literals:
                        assert len(literals) == 1
                        words.append(_ps_literal(literals[0], source))
                    else:
                        assert "'" not in _text(el, source)
                        words.append(("raw", _text(el, source)))
            commands.append((_text(node, source), words))
    return commands
