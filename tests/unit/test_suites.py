"""The suites of tests/suites select every test of the three tiers exactly once (docs/testing.md).

Read from the files, without running pytest: each suite's ``python -m pytest`` lines (the tier folders and the
``-m`` expression), and each test's markers (the module's ``pytestmark``, its class's and its own
``@pytest.mark.NAME``). The expression is evaluated by pytest's own marker-expression code.
"""

import ast
import pathlib
import re
import shlex

from _pytest.mark.expression import Expression

ROOT = pathlib.Path(__file__).resolve().parents[2]
TIERS = ("tests/unit", "tests/component", "tests/e2e")


def suite_selections():
    """[(suite, [tier folders], expression or None)] for every pytest run of every suite."""
    out = []
    for suite in sorted((ROOT / "tests" / "suites").glob("*.sh")):
        text = suite.read_text().replace("\\\n", " ")
        for line in text.splitlines():
            if line.lstrip().startswith("#") or "python -m pytest" not in line:
                continue
            words = shlex.split(line.split("python -m pytest", 1)[1].replace('"$@"', ""))
            paths = [w.rstrip("/") for w in words if w.startswith("tests/")]
            expression = words[words.index("-m") + 1] if "-m" in words else None
            out.append((suite.name, paths, expression))
    return out


def marks_of(node):
    """The marker names ``node`` (a decorator list or a pytestmark value) names: pytest.mark.NAME[(...)]."""
    found = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Attribute) and sub.value.attr == "mark":
            found.add(sub.attr)
    return found


def marked_tests():
    """{"tier/test_x.py::test_y": {markers}} for every test function and method of the tiers."""
    out = {}
    for tier in TIERS:
        for path in sorted((ROOT / tier).glob("test_*.py")):
            tree = ast.parse(path.read_text())
            module = set()
            for node in tree.body:
                if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "pytestmark" for t in node.targets):
                    module |= marks_of(node.value)
            name = "%s/%s" % (tier, path.name)
            for node in tree.body:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
                    out["%s::%s" % (name, node.name)] = module | set().union(*map(marks_of, node.decorator_list))
                elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                    own = module | set().union(*map(marks_of, node.decorator_list))
                    for item in node.body:
                        if isinstance(item, ast.FunctionDef) and item.name.startswith("test"):
                            out["%s::%s::%s" % (name, node.name, item.name)] = own | set().union(
                                *map(marks_of, item.decorator_list))
    return out


def test_every_test_is_selected_by_exactly_one_suite():
    selections = suite_selections()
    assert selections, "no suite runs pytest"
    chosen = {}
    for test, marks in marked_tests().items():
        tier = test.split("/")[0] + "/" + test.split("/")[1]
        chosen[test] = [suite for suite, paths, expression in selections if tier in paths and (
            expression is None or Expression.compile(expression).evaluate(lambda m, marks=marks: m in marks))]
    assert sorted(t for t, s in chosen.items() if not s) == [], "tests no suite runs"
    assert sorted("%s: %s" % (t, ", ".join(s)) for t, s in chosen.items() if len(s) > 1) == [], "tests run twice"


def test_every_marker_a_test_uses_is_registered():
    ini = (ROOT / "pytest.ini").read_text()
    registered = set(re.findall(r"^\s+(\w+):", ini, re.M))
    builtin = {"parametrize", "skipif", "skip", "xfail", "usefixtures", "filterwarnings", "timeout"}
    used = set().union(*marked_tests().values())
    assert sorted(used - registered - builtin) == []


def test_the_tiers_hold_every_test_file():
    ours = [p for p in (ROOT / "tests").iterdir() if p.is_dir() and p.name != "output"]  # output: ansible-test's
    stray = sorted(str(p.relative_to(ROOT)) for folder in ours for p in folder.rglob("test_*.py")
                   if str(p.relative_to(ROOT).parent) not in TIERS)
    assert stray == [], "a test file outside tests/unit, tests/component and tests/e2e"


def test_a_test_module_imports_from_tests_lib_never_from_another_test_module():
    wrong = []
    for tier in TIERS:
        for path in sorted((ROOT / tier).glob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else (
                    [a.name for a in node.names] if isinstance(node, ast.Import) else [])
                wrong += ["%s imports %s" % (path.name, n) for n in names
                          if n.split(".")[:2] in (["tests", "unit"], ["tests", "component"], ["tests", "e2e"])]
    assert wrong == []
