"""The layers of plugins/plugin_utils (docs/dev/design.md), read from the code: no import runs up a layer and
none closes a circle; every file has a layer; a few facts have one owner."""

import ast
import pathlib


UTILS = pathlib.Path(__file__).resolve().parents[2] / "plugins" / "plugin_utils"
PACKAGE = "ansible_collections.arcguard.azcmagent.plugins.plugin_utils"
LAYERS = (  # bottom to top; a file imports files of its own layer or below
    ("leaves", {"_catalog", "_secrets", "_options", "_naming"}),
    ("decisions", {"_planner", "_weaker", "_connect", "_parsers", "_info", "_profiles", "_arcmachine", "_drift",
                   "_monitor", "_extensions", "_extreport", "_report_model", "_report_render", "_report"}),
    ("remote", {"_script_steps", "_script_filter", "_scripts", "_script_transcript", "_runner", "_azure"}),
    ("engines", {"_converge", "_removal", "_onboard", "_inspect", "_audit", "_extcleanup"}),
    ("entry", {"_action"}),
)
LAYER = {name: rank for rank, (_layer, names) in enumerate(LAYERS) for name in names}


def imports(path):
    """The plugin_utils files ``path`` imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == PACKAGE:
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE + "."):
            found.add(node.module.rsplit(".", 1)[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.rsplit(".", 1)[1] for a in node.names if a.name.startswith(PACKAGE + "."))
    return found


GRAPH = {path.stem: imports(path) for path in UTILS.glob("*.py")}


def test_every_file_has_a_layer():
    assert sorted(set(GRAPH) - set(LAYER)) == [], "add the new file to LAYERS here and in docs/dev/design.md"


def test_no_import_runs_up_a_layer():
    upward = sorted("%s (%s) imports %s (%s)" % (f, LAYERS[LAYER[f]][0], g, LAYERS[LAYER[g]][0])
                    for f, deps in GRAPH.items() for g in deps if LAYER.get(g, 0) > LAYER.get(f, 0))
    assert upward == []


def test_no_import_circle():
    def reach(start):
        seen, todo = set(), list(GRAPH[start])
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(GRAPH.get(name, ()))
        return seen
    assert sorted(f for f in GRAPH if f in reach(f)) == []


def constants(path):
    return [n.value for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Constant)]


def test_redacted_and_the_secret_properties_are_defined_once():
    from ansible_collections.arcguard.azcmagent.plugins.plugin_utils._secrets import REDACTED
    sources = list(UTILS.parents[1].glob("plugins/**/*.py")) + list(UTILS.parents[1].glob("extensions/**/*.py"))
    assert [p.name for p in sources if REDACTED in constants(p)] == ["_secrets.py"]
    owners = [p.name for p in sources for node in ast.walk(ast.parse(p.read_text()))
              if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "URL_PROPERTIES" for t in node.targets)]
    assert owners == ["_secrets.py"]


def test_only_secrets_decides_which_property_is_redacted():
    # a function that compares a property with "proxy.url" and calls redact_url holds a second copy of the list
    second = sorted("%s:%s" % (p.stem, f.name) for p in UTILS.glob("*.py") if p.stem != "_secrets"
                    for f in ast.walk(ast.parse(p.read_text())) if isinstance(f, ast.FunctionDef)
                    if "proxy.url" in constants_of(f) and "redact_url" in names_of(f))
    assert second == []


def constants_of(node):
    return {n.value for n in ast.walk(node) if isinstance(n, ast.Constant)}


def names_of(node):
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def test_plugin_utils_imports_no_entry_point():
    entry = ("%s.%s" % (PACKAGE.rsplit(".", 1)[0], kind) for kind in ("action", "inventory", "modules"))
    prefixes = tuple(entry)
    found = sorted("%s imports %s" % (path.stem, node.module) for path in UTILS.glob("*.py")
                   for node in ast.walk(ast.parse(path.read_text()))
                   if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(prefixes))
    assert found == []


def test_the_stand_in_is_independent_of_the_collection():
    # the test oracle: written from the reference, it must not share our code (a mistake would hide in both)
    files = UTILS.parents[1] / "roles" / "emulator" / "files"
    standin = files / "azcmagent_standin" / "__main__.py"
    if not standin.exists():
        standin = files / "azcmagent_standin.py"
    modules = set()
    for node in ast.walk(ast.parse(standin.read_text())):
        if isinstance(node, ast.Import):
            modules.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            modules.add((node.module or "").split(".")[0])
    assert not modules & {"ansible_collections", "ansible", "tests"}, modules
