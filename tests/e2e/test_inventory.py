"""The arc inventory plugin through ansible-inventory, against the fake Azure."""

import json
import os
import subprocess

import pytest

from tests.lib.azure_env import (AMA_LINUX, CLIENT_ID, MDE_LINUX, ROOT, SECRET, SUB_A, SUB_B, SUB_DENIED, TENANT,
                                 VENV_BIN, ansible_env, inventory, write_inventory)
from tests.lib import fakeazure

pytestmark = pytest.mark.azure

ARC_VARS = {"arc_resource_id", "arc_name", "arc_subscription_id", "arc_resource_group", "arc_location", "arc_tags",
            "arc_status", "arc_agent_version", "arc_os_type", "arc_os_name", "arc_os_version",
            "arc_last_status_change", "arc_agent_configuration"}


def hostvars(listed):
    return listed["_meta"]["hostvars"]


def members(listed, group):
    return set(listed.get(group, {}).get("hosts", []))


def test_list_hosts_groups_and_every_arc_variable(fake, tmp_path):
    path = write_inventory(tmp_path / "fleet.arc.yml", subscriptions=[SUB_A, SUB_B])
    proc, listed = inventory(fake, path, "--list")
    assert proc.returncode == 0, proc.stderr
    hv = hostvars(listed)
    assert set(hv) == {"web01", "web02", "DC01", "pay01", "db01", "new01"}
    for name, variables in hv.items():
        assert ARC_VARS <= set(variables), name
    web = hv["web01"]
    assert web["arc_resource_id"] == ("/subscriptions/%s/resourceGroups/RG-Web/providers/Microsoft.HybridCompute/"
                                      "machines/web01" % SUB_A)
    assert (web["arc_name"], web["arc_subscription_id"], web["arc_resource_group"]) == ("web01", SUB_A, "RG-Web")
    assert web["arc_location"] == "westeurope" and web["arc_tags"] == {"env": "prod", "tier": "web"}
    assert (web["arc_status"], web["arc_os_type"], web["arc_os_name"]) == ("Connected", "linux", "linux")
    assert web["arc_agent_version"] == "1.64.03414.2961" and web["arc_os_version"] == "6.8.0-87-generic"
    assert web["arc_last_status_change"] == "2026-11-30T08:15:02.9794112Z"
    assert web["ansible_host"] == "web01.corp.example"
    # as azcmagent_config's config return: booleans, Publisher/Type strings, integer ports, redacted proxy
    assert web["arc_agent_configuration"] == {
        "config.mode": "full", "extensions.allowlist": [AMA_LINUX, MDE_LINUX], "extensions.blocklist": [],
        "extensions.enabled": True, "guestconfiguration.enabled": False, "incomingconnections.ports": [22],
        "proxy.bypass": ["AAD", "ARM"], "proxy.url": "http://********@proxy.corp:3128"}
    assert "incomingconnections.enabled" not in web["arc_agent_configuration"]
    assert hv["DC01"]["arc_os_type"] == "windows" and hv["DC01"]["ansible_host"] == "dc01.ad.corp"
    assert hv["DC01"]["arc_agent_configuration"]["extensions.blocklist"] == ["Microsoft.Compute/CustomScriptExtension"]
    assert hv["pay01"]["arc_agent_configuration"]["config.mode"] == "monitor"
    assert hv["new01"]["arc_agent_configuration"] == {}
    assert members(listed, "arc_linux") == {"web01", "web02", "db01", "new01"}
    assert members(listed, "arc_windows") == {"DC01", "pay01"}
    assert members(listed, "arc_connected") == {"web01", "web02", "DC01"}
    assert members(listed, "arc_disconnected") == {"pay01"}
    assert members(listed, "arc_error") == {"db01"}
    assert members(listed, "arc_awaiting_connection") == {"new01"}
    assert "Pr0xyPass" not in proc.stdout + proc.stderr


def test_graph(fake, tmp_path):
    path = write_inventory(tmp_path / "fleet.arc.yaml")
    proc, _unused = inventory(fake, path, "--graph")
    assert proc.returncode == 0, proc.stderr
    graph = proc.stdout
    for line in ("@arc_linux:", "@arc_windows:", "@arc_connected:", "@arc_awaiting_connection:", "|--web01", "|--DC01"):
        assert line in graph
    # no scope: everything the identity can read; the denied subscription's machine is not there
    assert "ghost01" not in graph


def test_unreadable_subscription_is_a_warning_naming_it(fake, tmp_path):
    path = write_inventory(tmp_path / "denied.arc.yml", subscriptions=[SUB_A, SUB_DENIED])
    proc, listed = inventory(fake, path, "--list")
    assert proc.returncode == 0, proc.stderr
    assert "subscription %s" % SUB_DENIED in proc.stderr and "cannot be read" in proc.stderr
    assert "web01" in hostvars(listed) and "DC01" not in hostvars(listed)


@pytest.mark.parametrize("variant", ["forbidden", "badrequest", "omit"])
def test_unreadable_scope_every_variant(fake, tmp_path, variant):
    fake.update_state(lambda s: s["variants"].update(scope_error=variant))
    path = write_inventory(tmp_path / "denied.arc.yml", subscriptions=[SUB_DENIED, SUB_B],
                           management_groups=["mg-nope"])
    proc, listed = inventory(fake, path, "--list")
    assert proc.returncode == 0, proc.stderr
    assert SUB_DENIED in proc.stderr and "mg-nope" in proc.stderr
    assert set(hostvars(listed)) == {"DC01", "pay01"}


def test_management_group(fake, tmp_path):
    path = write_inventory(tmp_path / "mg.arc.yml", management_groups=["mg-pay"])
    proc, listed = inventory(fake, path, "--list")
    assert proc.returncode == 0, proc.stderr
    assert set(hostvars(listed)) == {"DC01", "pay01"}
    assert fake.graph_requests()[-1]["body"]["managementGroups"] == ["mg-pay"]


def test_filters_all_must_match(fake, tmp_path):
    path = write_inventory(tmp_path / "f.arc.yml", include_statuses=["connected", "Disconnected"],
                           include_os=["windows"], tags={"env": "prod"})
    _proc, listed = inventory(fake, path, "--list")
    assert set(hostvars(listed)) == {"DC01", "pay01"}
    path = write_inventory(tmp_path / "g.arc.yml", tags={"tier": "web", "env": None})
    _proc, listed = inventory(fake, path, "--list")
    assert set(hostvars(listed)) == {"web01", "web02"}


def test_constructed_compose_groups_keyed_groups(fake, tmp_path):
    path = write_inventory(
        tmp_path / "c.arc.yml", hostnames=["tag:missing", "name"],
        compose={"ansible_connection": "'winrm' if arc_os_type == 'windows' else 'ssh'",
                 "allowlist_size": "arc_agent_configuration['extensions.allowlist'] | default([]) | length"},
        groups={"guestconfig_on": "arc_agent_configuration['guestconfiguration.enabled'] | default(false)"},
        keyed_groups=[{"key": "arc_tags.tier | default('none')", "prefix": "tier"}, {"key": "arc_location"}])
    proc, listed = inventory(fake, path, "--list")
    assert proc.returncode == 0, proc.stderr
    hv = hostvars(listed)
    assert hv["DC01"]["ansible_connection"] == "winrm" and hv["web01"]["ansible_connection"] == "ssh"
    assert hv["web01"]["allowlist_size"] == 2 and hv["web01"]["ansible_host"] == "web01"
    assert members(listed, "guestconfig_on") == {"web02", "db01", "pay01"}
    assert members(listed, "tier_web") == {"web01", "web02"} and members(listed, "tier_none") == {"db01", "new01"}
    assert len(members(listed, "_westeurope")) == 6


def test_strict_fails_on_a_bad_expression(fake, tmp_path):
    path = write_inventory(tmp_path / "s.arc.yml", strict=True, compose={"x": "arc_nonexistent.attr"})
    proc, _unused = inventory(fake, path, "--list", env=ansible_env(fake, ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED="1"))
    assert proc.returncode != 0


def test_cache_serves_the_second_run_without_azure(fake, tmp_path):
    cache_dir = tmp_path / "cache"
    path = write_inventory(tmp_path / "cached.arc.yml", cache=True, cache_plugin="ansible.builtin.jsonfile",
                           cache_connection=str(cache_dir), cache_timeout=600)
    proc, first = inventory(fake, path, "--list")
    assert proc.returncode == 0, proc.stderr
    queries = len(fake.graph_requests())
    proc, second = inventory(fake, path, "--list")
    assert proc.returncode == 0, proc.stderr
    assert len(fake.graph_requests()) == queries
    assert hostvars(second) == hostvars(first)
    cached = "".join(p.read_text() for p in cache_dir.iterdir())
    assert SECRET not in cached and "Pr0xyPass" not in cached
    # --flush-cache asks Azure again
    inventory(fake, path, "--list", "--flush-cache")
    assert len(fake.graph_requests()) > queries


def test_paging_over_several_pages_and_throttling_survived(fake, tmp_path):
    machines = fakeazure.make_machines(2600, (SUB_A, SUB_B), config={"extensions.allowlist": [AMA_LINUX]})

    def change(state):
        state["machines"] = machines
        state["throttle"] = {"quota": 1000, "window": 1, "next": 2, "retry_after": 1}
        state["variants"]["retry_after"] = "none"     # the SDK would not retry these: we must
    fake.update_state(change)
    path = write_inventory(tmp_path / "big.arc.yml", subscriptions=[SUB_A, SUB_B])
    proc, listed = inventory(fake, path, "--list")
    assert proc.returncode == 0, proc.stderr
    assert len(hostvars(listed)) == 2600
    bodies = [r["body"] for r in fake.graph_requests()]
    assert [b["options"].get("$top") for b in bodies] == [1000] * len(bodies)
    assert sum(1 for b in bodies if "$skipToken" in b["options"]) == 2          # pages 2 and 3
    assert fake.state.throttled == 2
    assert len(bodies) == 3 + 2      # three pages, two of the requests refused once


def test_throttled_with_retry_after_and_quota_headers(fake, tmp_path):
    fake.update_state(lambda s: s.update(throttle={"quota": 2, "window": 2}))
    fake.update_state(lambda s: s.update(machines=fakeazure.make_machines(3500, (SUB_A,))))
    path = write_inventory(tmp_path / "q.arc.yml", subscriptions=[SUB_A])
    proc, listed = inventory(fake, path, "--list")
    assert proc.returncode == 0, proc.stderr
    assert len(hostvars(listed)) == 3500
    # x-ms-user-quota-remaining: 0 made the client wait for the reset instead of being refused
    assert fake.state.throttled == 0
    assert len(fake.graph_requests()) == 4


def test_secret_in_no_output_at_vvvv(fake, tmp_path):
    path = write_inventory(tmp_path / "sec.arc.yml", subscriptions=[SUB_A, SUB_DENIED], auth_source="auto",
                           client_id=CLIENT_ID, secret=SECRET, tenant=TENANT)
    env = ansible_env(fake)
    del env["AZURE_CLIENT_SECRET"]
    for args in (("--list", "-vvvv"), ("--graph", "-vvvv"), ("--host", "web01", "-vvvv")):
        proc, _unused = inventory(fake, path, *args, env=env)
        assert proc.returncode == 0, proc.stderr
        assert SECRET not in proc.stdout + proc.stderr
        assert "Pr0xyPass" not in proc.stdout + proc.stderr


def test_wrong_secret_fails_cleanly_without_the_secret(fake, tmp_path):
    path = write_inventory(tmp_path / "bad.arc.yml", secret="Wr0ng-" + SECRET, auth_source="auto")
    proc, _unused = inventory(fake, path, "--list", "-vvvv",
                              env=ansible_env(fake, ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED="1"))
    assert proc.returncode != 0
    assert "AADSTS7000215" in proc.stderr
    assert SECRET not in proc.stdout + proc.stderr


def test_bad_option_named_before_any_request(fake, tmp_path):
    path = write_inventory(tmp_path / "bad.arc.yml", authority_host="http://127.0.0.1:1")
    proc, _unused = inventory(fake, path, "--list", env=ansible_env(fake, ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED="1"))
    assert proc.returncode != 0 and "authority_host must be an https URL" in proc.stderr
    assert fake.requests == []


def test_instance_discovery_off_for_the_custom_authority(fake, tmp_path):
    path = write_inventory(tmp_path / "d.arc.yml", auth_source="env")
    proc, listed = inventory(fake, path, "--list")
    assert proc.returncode == 0, proc.stderr
    assert fake.egress_attempts == []
    paths = [(r["method"], r["path"]) for r in fake.requests]
    assert ("GET", "/%s/v2.0/.well-known/openid-configuration" % TENANT) in paths
    token = [r for r in fake.requests if r["path"].endswith("/oauth2/v2.0/token")][0]
    assert token["body"]["scope"] == fake.url + "/.default"
    assert len(hostvars(listed)) == 6


def test_ca_from_ssl_cert_file(fake, tmp_path):
    env = ansible_env(fake)
    env["SSL_CERT_FILE"] = env.pop("REQUESTS_CA_BUNDLE")
    proc, listed = inventory(fake, write_inventory(tmp_path / "ssl.arc.yml"), "--list", env=env)
    assert proc.returncode == 0, proc.stderr
    assert len(hostvars(listed)) == 6


def test_tls_verification_stays_on(fake, tmp_path):
    env = ansible_env(fake, ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED="1")
    del env["REQUESTS_CA_BUNDLE"]
    proc, _unused = inventory(fake, write_inventory(tmp_path / "tls.arc.yml"), "--list", env=env)
    assert proc.returncode != 0
    assert "certificate" in proc.stderr.lower()


def test_managed_identity(fake, tmp_path):
    fake.update_state(lambda s: s.update(managed_identity={"header": "hdr-123", "identity": CLIENT_ID}))
    env = ansible_env(fake, IDENTITY_ENDPOINT=fake.url + "/msi/token", IDENTITY_HEADER="hdr-123")
    for key in ("AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID"):
        del env[key]
    proc, listed = inventory(fake, write_inventory(tmp_path / "msi.arc.yml", auth_source="msi"), "--list", env=env)
    assert proc.returncode == 0, proc.stderr
    assert len(hostvars(listed)) == 6
    assert any(r["path"] == "/msi/token" for r in fake.requests)


def test_azure_cli_login(fake, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # the az CLI's answer to `az account get-access-token`: a token the fake issued
    token = "fake.cli-token"
    fake.state.tokens[token] = {"identity": CLIENT_ID, "scope": fake.url + "/.default"}
    az = bin_dir / "az"
    az.write_text("#!/bin/sh\ncat <<'JSON'\n%s\nJSON\n" % json.dumps(
        {"accessToken": token, "expiresOn": "2099-01-01 00:00:00.000000", "expires_on": 4070908800,
         "subscription": SUB_A, "tenant": TENANT, "tokenType": "Bearer"}))
    az.chmod(0o755)
    env = ansible_env(fake)
    env["PATH"] = str(bin_dir) + ":" + env["PATH"]
    for key in ("AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID"):
        del env[key]
    proc, listed = inventory(fake, write_inventory(tmp_path / "cli.arc.yml", auth_source="cli"), "--list", env=env)
    assert proc.returncode == 0, proc.stderr
    assert len(hostvars(listed)) == 6


def _without_sdk(tmp_path, env):
    blocker = tmp_path / "nosdk" / "azure"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError(\"No module named 'azure'\")\n")
    env["PYTHONPATH"] = str(tmp_path / "nosdk")
    return env


def test_sdk_missing_one_clear_line_and_the_modules_keep_working(fake, tmp_path):
    env = _without_sdk(tmp_path, ansible_env(fake, ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED="1"))
    proc, _unused = inventory(fake, write_inventory(tmp_path / "nosdk.arc.yml"), "--list", env=env)
    assert proc.returncode != 0
    lines = [l for l in proc.stderr.splitlines() if "Azure SDK for Python is missing" in l]
    assert lines and "pip install azure-identity azure-mgmt-resourcegraph" in lines[0]
    assert fake.requests == []
    # the agent modules do not need it
    from tests.lib import fleet
    exe = fleet.make_host(str(tmp_path / "h1"), state={"guestconfiguration.enabled": False})
    play = tmp_path / "p.json"
    play.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"arcguard.azcmagent.azcmagent_info": {"executable": exe}, "register": "i"},
        {"ansible.builtin.assert": {"that": ["i.config['guestconfiguration.enabled'] == false"]}},
        {"arcguard.azcmagent.arc_machine_info": {}, "register": "a", "ignore_errors": True},
        {"ansible.builtin.assert": {"that": ["a.failed", "'pip install azure-identity' in a.msg"]}}]}]))
    import os
    import subprocess
    from tests.lib.azure_env import VENV_BIN
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-c", "local", "-i", "localhost,", str(play)],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# Runs the arc inventory the way ansible-inventory does and reports, for every string in every value the
# plugins hand to a host (Host.set_variable, dict keys too), whether ansible-core would render it as a
# template: on 2.19 and later a string is a template only when tagged TrustedAsTemplate; before 2.19 every
# string is, unless it is AnsibleUnsafe (what wrap_var makes).
PROBE = r"""
import json
import sys

from ansible.inventory.host import Host
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader
from ansible.release import __version__

try:
    from ansible.template import is_trusted_as_template as templatable
except ImportError:
    from ansible.utils.unsafe_proxy import AnsibleUnsafe

    def templatable(text):
        return not isinstance(text, AnsibleUnsafe)

handed = []
set_variable = Host.set_variable


# every host variable lands here, whichever way a plugin hands it over (the inventory's setter calls it too)
def spy(self, varname, value):
    handed.append((self.name, varname, value))
    return set_variable(self, varname, value)


def strings(value, where):
    if isinstance(value, dict):
        for key, item in value.items():
            yield where + " key", key
            yield from strings(item, "%s[%r]" % (where, str(key)))
    elif isinstance(value, (list, tuple, set, frozenset)):
        for index, item in enumerate(value):
            yield from strings(item, "%s[%d]" % (where, index))
    elif isinstance(value, (str, bytes)):
        yield where, value


Host.set_variable = spy
init_plugin_loader()
InventoryManager(loader=DataLoader(), sources=sys.argv[1:])
print(json.dumps({"core": __version__, "handed": [
    {"host": host, "var": name, "where": where, "text": str(text), "template": bool(templatable(text))}
    for host, name, value in handed for where, text in strings(value, name)]}))
"""


def core_python(core):
    """The Python of the suite's ansible-core (newest) or of the oldest we claim (tests/suites/22-azure.sh)."""
    if core == "newest":
        return os.path.join(VENV_BIN, "python")
    given = os.environ.get("ARCGUARD_OLDEST_CORE_BIN")
    python = os.path.join(given or os.path.join(ROOT, "build", "venvs", "azure-core-2.16", "bin"), "python")
    if not os.path.isfile(python):
        assert not given, "no Python in ARCGUARD_OLDEST_CORE_BIN=%s" % given
        pytest.skip("tests/suites/22-azure.sh installs the oldest ansible-core (build/venvs/azure-core-2.16)")
    return python


def plant_jinja(fake, mark):
    """web01's tags: a value that runs a command when rendered, and a key that is a template; the value."""
    payload = "{{ lookup('ansible.builtin.pipe', 'touch %s') }}" % mark

    def plant(state):
        for machine in state["machines"]:
            if machine["name"] == "web01":
                machine["tags"] = dict(machine["tags"], note=payload, **{"{{ 7 * 7 }}": "key"})
    fake.update_state(plant)
    return payload


@pytest.mark.parametrize("core", ["newest", "oldest"])
def test_values_from_azure_reach_ansible_as_data(fake, tmp_path, core):
    """Every string the plugin hands to the inventory (keys too) is data, never a template: not trusted as one on
    ansible-core 2.19, AnsibleUnsafe before; a static inventory's string, the control, is a template."""
    payload = plant_jinja(fake, tmp_path / "rendered")
    path = write_inventory(tmp_path / "fleet.arc.yml", subscriptions=[SUB_A])
    static = tmp_path / "static.yml"
    static.write_text("all:\n  hosts:\n    web01:\n      from_file: \"{{ arc_name }}\"\n")
    probe = subprocess.run([core_python(core), "-c", PROBE, str(path), str(static)],
                           capture_output=True, text=True, env=ansible_env(fake), timeout=300, check=False)
    assert probe.returncode == 0, probe.stdout + probe.stderr
    found = json.loads(probe.stdout)
    assert found["core"].startswith("2.16.") == (core == "oldest"), found["core"]
    handed = found["handed"]
    assert [(h["host"], h["template"]) for h in handed if h["var"] == "from_file"] == [("web01", True)]
    # (Ansible itself sets inventory_file and inventory_dir: those are not from Azure)
    from_azure = [h for h in handed if h["var"].startswith("arc_") or h["var"] == "ansible_host"]
    assert ARC_VARS | {"ansible_host"} <= {h["var"] for h in from_azure if h["host"] == "web01"}
    texts = {h["text"] for h in from_azure if h["host"] == "web01"}
    assert {payload, "{{ 7 * 7 }}", "web01", "prod", SUB_A, "web01.corp.example"} <= texts
    assert [h for h in from_azure if h["template"]] == []


def test_azure_values_are_data_never_templates(fake, tmp_path):
    """A tag (or any value Azure sends) holding Jinja is never rendered, neither where it is used nor copied."""
    mark = tmp_path / "rendered"
    payload = plant_jinja(fake, mark)
    path = write_inventory(tmp_path / "fleet.arc.yml", subscriptions=[SUB_A])
    proc, listed = inventory(fake, path, "--list")
    assert proc.returncode == 0, proc.stderr
    web = hostvars(listed)["web01"]
    assert web["arc_name"] == "web01" and web["arc_tags"]["note"] == payload
    play = tmp_path / "show.yml"
    play.write_text(json.dumps([{"hosts": "web01", "gather_facts": False, "tasks": [
        {"name": "use the tags", "ansible.builtin.debug": {"msg": "{{ arc_tags.note }} {{ arc_tags | to_json }}"}},
        {"name": "compose with them", "ansible.builtin.set_fact": {"copied": "{{ arc_tags }}"}},
        {"name": "and again", "ansible.builtin.debug": {"msg": "{{ copied.note }}"}}]}]))
    run = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", str(path), str(play)],
                         capture_output=True, text=True, env=ansible_env(fake), timeout=300, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert not mark.exists(), "a value from Azure was rendered as a template"
    assert "lookup('ansible.builtin.pipe'" in run.stdout and "{{ 7 * 7 }}" in run.stdout
