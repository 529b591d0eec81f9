"""Each role's variables are written once in meta/argument_specs.yml; defaults, README and docs/roles.md agree."""

import os
import re

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLES = sorted(os.listdir(os.path.join(ROOT, "roles")))


def load(*parts):
    with open(os.path.join(ROOT, *parts), encoding="utf-8") as handle:
        return handle.read()


def spec(role):
    return yaml.safe_load(load("roles", role, "meta", "argument_specs.yml"))["argument_specs"]["main"]["options"]


def named(text, role):
    """The role variables named in backticks in ``text``."""
    return set(re.findall(r"`(%s_[a-z0-9_]+)`" % role, text))


@pytest.mark.parametrize("role", ROLES)
def test_defaults_are_the_specs_defaults(role):
    defaults = yaml.safe_load(load("roles", role, "defaults", "main.yml")) or {}
    options = spec(role)
    assert set(defaults) == {name for name, option in options.items() if not option.get("required")}
    for name, value in defaults.items():
        assert options[name].get("default") == value, name
        assert options[name]["description"], name


@pytest.mark.parametrize("role", ROLES)
def test_readme_names_every_variable_and_no_other(role):
    assert named(load("roles", role, "README.md"), role) == set(spec(role))


@pytest.mark.parametrize("role", ROLES)
def test_no_vars_file_without_variables(role):
    path = os.path.join(ROOT, "roles", role, "vars", "main.yml")
    assert not os.path.exists(path) or yaml.safe_load(load(path)), "vars/main.yml holds no variables"


def test_docs_roles_table_matches_the_lockdown_spec():
    options = spec("lockdown")
    rows = re.findall(r"^\| `(lockdown_[a-z_]+)` \| ([^|]+) \|", load("docs", "roles.md"), re.M)
    assert [name for name, _default in rows] == list(options)
    for name, shown in rows:
        shown = shown.strip()
        if options[name].get("required"):
            assert shown == "(required)", name
        else:
            assert yaml.safe_load(shown.strip("`")) == options[name]["default"], name
