"""Module documentation against the action plugins' argument specs, with the doc fragments merged in."""

import importlib

import pytest
import yaml

from ansible.utils.plugin_docs import merge_fragment

PREFIX = "ansible_collections.arcguard.azcmagent.plugins"
MODULES = ["azcmagent_config", "azcmagent_info", "azcmagent_report"]


def documentation(name):
    """The module's DOCUMENTATION with its fragments merged, as ansible-doc merges them."""
    doc = yaml.safe_load(importlib.import_module("%s.modules.%s" % (PREFIX, name)).DOCUMENTATION)
    for slug in doc.pop("extends_documentation_fragment", []):
        assert slug.startswith("arcguard.azcmagent."), slug
        parts = slug.split(".")[2:]
        fragment_class = importlib.import_module("%s.doc_fragments.%s" % (PREFIX, parts[0])).ModuleDocFragment
        fragment = yaml.safe_load(getattr(fragment_class, parts[1].upper() if len(parts) > 1 else "DOCUMENTATION"))
        for key in ("options", "attributes"):
            if key in fragment:
                merge_fragment(doc.setdefault(key, {}), fragment.pop(key))
        merge_fragment(doc, fragment)
    return doc


def spec(name):
    return importlib.import_module("%s.action.%s" % (PREFIX, name)).ActionModule.ARGUMENT_SPEC


@pytest.mark.parametrize("name", MODULES)
def test_documentation_matches_the_argument_spec(name):
    doc, want = documentation(name), spec(name)
    assert set(doc["options"]) == set(want)
    for option_name, option in doc["options"].items():
        expected = want[option_name]
        assert option.get("description"), option_name
        # the same type, exactly: a documented path would be expanded on the controller, not on the target
        assert option.get("type", "str") == expected.get("type", "str"), option_name
        for key in ("elements", "choices", "default", "required"):
            assert option.get(key) == expected.get(key), (option_name, key)


@pytest.mark.parametrize("name", MODULES)
def test_every_module_documents_the_attributes(name):
    attributes = documentation(name)["attributes"]
    assert set(attributes) == {"action", "check_mode", "diff_mode", "idempotent", "platform"}
    assert all(a.get("support") and a.get("description") for a in attributes.values())


def test_the_shared_options_are_documented_once_and_specified_from_the_fragment():
    fragment = yaml.safe_load(importlib.import_module("%s.doc_fragments.azcmagent" % PREFIX)
                              .ModuleDocFragment.DOCUMENTATION)["options"]
    for name in ("azcmagent_config", "azcmagent_info"):
        own = yaml.safe_load(importlib.import_module("%s.modules.%s" % (PREFIX, name)).DOCUMENTATION)["options"]
        for option in fragment:
            # a module may give its own default, nothing else
            assert set(own.get(option, {})) <= {"default"}, (name, option)
            assert spec(name)[option]["type"] == fragment[option]["type"]
    assert spec("azcmagent_config")["timeout"]["default"] == 300
    assert spec("azcmagent_info")["timeout"]["default"] == 120


def test_a_drifted_type_is_caught(monkeypatch):
    from ansible_collections.arcguard.azcmagent.plugins.action import azcmagent_info
    drifted = dict(azcmagent_info.ActionModule.ARGUMENT_SPEC, executable={"type": "path"})
    monkeypatch.setattr(azcmagent_info.ActionModule, "ARGUMENT_SPEC", drifted)
    with pytest.raises(AssertionError):
        test_documentation_matches_the_argument_spec("azcmagent_info")
