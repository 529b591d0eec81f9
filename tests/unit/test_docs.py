"""Module documentation against the action plugins' argument specs, with the doc fragments merged in."""

import importlib

import pytest
import yaml

from ansible.utils.plugin_docs import merge_fragment

PREFIX = "ansible_collections.arcguard.azcmagent.plugins"
MODULES = ["azcmagent_config", "azcmagent_info", "azcmagent_report"]
MODULES += ["arc_machine_info", "arc_extension_cleanup"]  # controller-only: Azure
MODULES += ["azcmagent_connect"]


def documentation(name, kind="modules"):
    """The plugin's DOCUMENTATION with the collection's fragments merged, as ansible-doc merges them (a fragment of
    ansible-core, such as the inventory's ``constructed``, is left out)."""
    doc = yaml.safe_load(importlib.import_module("%s.%s.%s" % (PREFIX, kind, name)).DOCUMENTATION)
    for slug in doc.pop("extends_documentation_fragment", []):
        if kind != "modules" and "." not in slug:
            continue
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


def test_the_onboarding_secrets_are_no_log():
    options = spec("azcmagent_connect")
    assert {name for name, entry in options.items() if entry.get("no_log")} == {"service_principal_secret", "access_token"}


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


def azure_fragment():
    fragment = importlib.import_module("%s.doc_fragments.azure" % PREFIX).ModuleDocFragment
    return (yaml.safe_load(fragment.DOCUMENTATION)["options"], yaml.safe_load(fragment.FILTERS)["options"])


def test_the_azure_options_are_documented_once_for_the_inventory_and_the_module():
    from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _azure as azure
    sign_in, filters = azure_fragment()
    # the sign-in options are those the query takes from the environment, with the choices the code accepts
    assert set(sign_in) == set(azure.ENVIRONMENT)
    assert sign_in["auth_source"]["choices"] == list(azure.AUTH_SOURCES)
    assert sign_in["cloud"]["choices"] == list(azure.CLOUDS)
    assert set(azure.OPTION_NAMES) <= set(sign_in) | set(filters)
    module = yaml.safe_load(importlib.import_module("%s.modules.arc_machine_info" % PREFIX).DOCUMENTATION)
    assert set(module["options"]) == {"names"}  # the rest comes from the fragments
    inventory_own = yaml.safe_load(importlib.import_module("%s.inventory.arc" % PREFIX).DOCUMENTATION)["options"]
    for name in set(sign_in) | set(filters):
        # the inventory adds where it reads the option from, and its default, nothing else
        assert set(inventory_own.get(name, {})) <= {"env", "default"}, name
    inventory = documentation("arc", kind="inventory")["options"]
    assert set(inventory) == set(sign_in) | set(filters) | {"plugin", "hostnames"}
    for name, variables in azure.ENVIRONMENT.items():
        # the module (through with_environment) and the inventory (through its env entries) read the same variables
        assert [entry["name"] for entry in inventory[name]["env"]] == list(variables), name
        assert all(variable in " ".join(inventory[name]["description"]) for variable in variables), name
    assert inventory["auth_source"]["default"] == "auto" and inventory["cloud"]["default"] == "AzureCloud"


def test_the_machine_info_spec_comes_from_the_fragments_and_keeps_the_secret_out_of_logs():
    sign_in, filters = azure_fragment()
    want = spec("arc_machine_info")
    assert set(want) == set(sign_in) | set(filters) | {"names"}
    assert want["secret"].get("no_log") is True
    assert [n for n, o in want.items() if o.get("no_log")] == ["secret"]
    # unset sign-in options stay None, so that the environment can give them
    assert all("default" not in want[name] for name in sign_in)


def test_a_drifted_environment_variable_is_caught(monkeypatch):
    from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _azure as azure
    monkeypatch.setitem(azure.ENVIRONMENT, "tenant", ("AZURE_TENANT_ID",))
    with pytest.raises(AssertionError):
        test_the_azure_options_are_documented_once_for_the_inventory_and_the_module()
