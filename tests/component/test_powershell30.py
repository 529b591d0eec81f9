"""Every PowerShell script the collection generates stays inside Windows PowerShell 3.0 (docs/windows.md), the
version Windows Server 2012 ships, and the WinRM test endpoint refuses anything newer.

The scripts come from two places: the script builder over every kind of step (property-based), and the scripts
that the action plugins really send to a Windows stand-in host (azcmagent_config with every option that changes
its script, azcmagent_info, azcmagent_connect).
"""

import os
import re

import pytest
from hypothesis import given, settings, strategies as st

from tests.lib import ps30
from tests.lib.actions import Target
from tests.lib.endpoint import STANDIN
from tests.lib.winrm_endpoint import Host, run_script

from ansible_collections.arcguard.azcmagent.plugins.plugin_utils import _scripts as scripts

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TENANT = "00000000-0000-4000-8000-000000000001"
SUB = "00000000-0000-4000-8000-000000000002"
APP = "00000000-0000-4000-8000-000000000003"

pytestmark = pytest.mark.windows

WORDS = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20)


@st.composite
def steps(draw):
    out = []
    for _step in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["argv", "secret", "file", "listing", "service", "while", "stdin"]))
        if kind == "argv":
            out.append(["config", "set", "extensions.allowlist", draw(WORDS)])
        elif kind == "secret":
            out.append(["config", "set", "proxy.url", scripts.Secret(draw(WORDS), "(proxy)")])
        elif kind == "file":
            out.append(["connect", "--config", scripts.SecretFile("{}", draw(st.from_regex(r"[A-Za-z0-9]{8,16}",
                                                                                           fullmatch=True)))])
        elif kind == "listing":
            out.append(scripts.Listing(draw(st.sampled_from([None, "D:\\Ext\\Plugins"]))))
        elif kind == "service":
            out.append(scripts.Service(draw(st.sampled_from(["stop", "start"])), "ExtensionService"))
        elif kind == "while":
            out.append(scripts.WhileStopped(["extension", "remove", "--name", draw(WORDS)]))
        else:
            out.append(["config", "set", "extensions.blocklist", scripts.StdinArg("x" * 60)])
    return out


@settings(max_examples=150, deadline=None)
@given(steps(), st.sampled_from([None, "C:\\Agent\\azcmagent.exe"]), st.booleans(),
       st.sampled_from([None, "user:pa ss"]), st.sampled_from([None, scripts.Marker(), scripts.Marker("E:\\Ext")]))
def test_every_built_script_is_inside_powershell_3(plan, executable, keep_going, proxy, marker):
    mask = scripts.Mask(proxy) if proxy else None
    script = scripts.build_script("powershell", plan, executable=executable, keep_going=keep_going, mask=mask,
                                  marker=marker)
    assert ps30.problems(script) == [], script


@pytest.fixture
def windows(tmp_path):
    return Target(tmp_path / "host", "windows")


def _checked(target):
    sent = target.scripts()
    assert sent
    for script in sent:
        assert ps30.problems(script) == [], script
    return sent


def test_the_scripts_azcmagent_config_sends_are_inside_powershell_3(windows):
    windows.add(("Microsoft.Compute", "CustomScriptExtension"), "1.10.12")
    tasks = [dict(check=True, extensions_allowlist=["azure_monitor_agent"], remove_blocked=True),
             dict(extensions_allowlist=["azure_monitor_agent"], remove_blocked=True,
                  proxy_url="http://user:p%40ss@proxy.example:3128", guestconfiguration_enabled=False),
             dict(mode="monitor"),
             dict(mode="full", extensions_blocklist=["run_command"], list_action="add")]
    sent = []
    for task in tasks:
        result = windows.run(**task)
        assert not result.get("failed"), result
        sent += _checked(windows)
    assert not any("CustomScript" in str(e) for e in windows.installed()), windows.installed()
    # the listing of installed extensions ran, without -Depth (PowerShell 5.0)
    assert any("Get-ChildItem -LiteralPath $P -Directory -Name" in s for s in sent)
    assert not any(re.search(r"-Depth\b", s) for s in sent)


def test_the_scripts_azcmagent_info_sends_are_inside_powershell_3(windows):
    windows.add(("Microsoft.Azure.Monitor", "AzureMonitorWindowsAgent"), "1.30.0")
    result = windows.run("azcmagent_info")
    assert not result.get("failed"), result
    # and the two-level listing still finds the installed extension with its version
    assert [(e["name"], e["version"]) for e in result["installed_extensions"]] == [
        ("Microsoft.Azure.Monitor/AzureMonitorWindowsAgent", "1.30.0")]
    _checked(windows)


def test_the_scripts_azcmagent_connect_sends_are_inside_powershell_3(tmp_path):
    target = Target(tmp_path / "host", "windows", control={"connected": "Disconnected", "hostname": "web01",
                                                           "credentials": {"service_principals": {APP: "s3cret"}}})
    result = target.run("azcmagent_connect", tenant_id=TENANT, subscription_id=SUB, resource_group="rg-arc",
                        location="westeurope", service_principal_id=APP, service_principal_secret="s3cret")
    assert not result.get("failed"), result
    _checked(target)


# what PowerShell 3.0 lacks: the checker names it, and the endpoint refuses it before anything runs
NEWER = [
    ("class C { [string]$N }", "class"),
    ("enum E { A }", "enum"),
    ("using namespace System.IO", "using"),
    ("$L = [System.Collections.Generic.List[string]]::new()", "::new()"),
    ("$X = @(1, 2).ForEach({ $_ })", "ForEach"),
    ("$X = @(1, 2).Where({ $_ })", "Where"),
    ("Get-ChildItem -LiteralPath $env:SystemDrive -Directory -Name -Recurse -Depth 1", "-depth"),
    ("Set-Content -LiteralPath $env:TEMP -Value 'x' -NoNewline", "-nonewline"),
    ("$F = New-TemporaryFile", "New-TemporaryFile"),
    ("$H = Get-FileHash -LiteralPath $env:TEMP", "Get-FileHash"),
    ("Write-Output 'a' && Write-Output 'b'", "&&"),
    ("Write-Output 'a' -InformationAction Ignore", "-informationaction"),
    ("#requires -Version 5.1\r\nWrite-Output 'a'", "#requires -Version 5.1"),
]


@pytest.mark.parametrize("script,named", NEWER, ids=[n for _s, n in NEWER])
def test_constructs_newer_than_3_are_found_and_refused_by_the_endpoint(tmp_path, script, named):
    found = ps30.problems(script)
    assert found and any(named.lower() in f.lower() for f in found), found
    host = Host(str(tmp_path), ["python3", STANDIN])
    rc, out, err = run_script(host, script + "\r\nWrite-Output 'ran'\r\n")
    assert rc == 1 and b"ran" not in out
    assert b"newer than PowerShell 3.0" in err, err


def test_what_3_has_passes():
    # [ordered] and -Directory came with 3.0
    assert ps30.problems("$O = [ordered]@{}\r\nGet-ChildItem -LiteralPath $env:TEMP -Directory -Name") == []


def test_docs_state_the_minimum_powershell_version():
    with open(os.path.join(ROOT, "docs", "windows.md"), encoding="utf-8") as handle:
        page = handle.read()
    assert re.search(r"Windows PowerShell 3\.0", page) and "minimum" in page.lower()
