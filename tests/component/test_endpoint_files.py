"""The endpoint's file constructs (the --config file of azcmagent_connect): interpreted faithfully, nothing else."""

import json
import os
import sys

import pytest

from tests.lib import fleet
from tests.lib import winrm_endpoint as w

pytestmark = [pytest.mark.windows, pytest.mark.onboarding]


@pytest.fixture
def host(tmp_path):
    w.install_agent(str(tmp_path))
    return w.Host(str(tmp_path), [sys.executable, fleet.STANDIN])


def events(host):
    return [json.loads(line) for line in open(host.files_log)] if os.path.exists(host.files_log) else []


GOOD = ("$S = @($input)\r\n$I = $env:SystemRoot + '\\System32\\icacls.exe'\r\n$D = $env:SystemRoot + '\\Temp\\x1'\r\n"
        "$null = [System.IO.Directory]::CreateDirectory($D)\r\n"
        "& $I $D '/inheritance:r' '/grant:r' '*S-1-5-18:(OI)(CI)F' '*S-1-5-32-544:(OI)(CI)F'\r\n"
        "$C = $D + '\\c.json'\r\n[System.IO.File]::WriteAllText($C, $S[0])\r\n"
        "try {\r\n  Write-Output 'in'\r\n  exit 3\r\n} finally {\r\n  Remove-Item -LiteralPath $D -Recurse -Force\r\n}\r\n")


def test_acl_then_write_then_finally_removes(host):
    rc, out, _err = w.run_script(host, GOOD, b"content\r\n")
    assert rc == 3 and b"in" in out and b"Successfully processed 1 files" in out
    assert [(e["op"], e["private"]) for e in events(host)] == [
        ("mkdir", False), ("acl", True), ("write", True), ("remove", False)]
    assert not os.path.exists(os.path.join(host.root, "Windows", "Temp", "x1"))


def test_write_without_acl_is_not_private(host):
    script = GOOD.replace("& $I $D '/inheritance:r' '/grant:r' '*S-1-5-18:(OI)(CI)F' '*S-1-5-32-544:(OI)(CI)F'\r\n", "")
    w.run_script(host, script, b"x\r\n")
    assert [e["private"] for e in events(host) if e["op"] == "write"] == [False]


@pytest.mark.parametrize("old, new", [
    ("'*S-1-5-32-544:(OI)(CI)F'", "'*S-1-1-0:(OI)(CI)F'"),                 # Everyone
    ("'/inheritance:r' ", ""),                                               # inheritance kept
    ("} finally {", "} catch {"),
    ("$null = [System.IO.Directory]", "$X = [System.IO.Directory]"),
    ("[System.IO.File]::WriteAllText($C, $S[0])", "[System.IO.File]::AppendAllText($C, $S[0])"),
    ("Remove-Item -LiteralPath $D -Recurse -Force", "Remove-Item -Path $D -Recurse -Force"),
    ("$null = [System.IO.Directory]::CreateDirectory($D)", "[System.IO.Directory]::CreateDirectory($D)"),
])
def test_other_forms_are_refused_before_anything_runs(host, old, new):
    assert old in GOOD
    rc, _out, err = w.run_script(host, GOOD.replace(old, new), b"x\r\n")
    assert rc == 1 and b"refused" in err
    assert events(host) == []


def test_icacls_on_a_missing_path(host):
    script = ("$I = $env:SystemRoot + '\\System32\\icacls.exe'\r\n$D = 'C:\\nowhere'\r\n"
              "& $I $D '/inheritance:r' '/grant:r' '*S-1-5-18:(OI)(CI)F'\r\nif ($LASTEXITCODE -ne 0) { exit 7 }\r\n")
    rc, _out, err = w.run_script(host, script)
    assert rc == 7 and b"cannot find the file" in err
