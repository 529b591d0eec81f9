"""scripts/demo.py --keep and --stop: a kept WinRM endpoint outlives the demo and answers; --stop ends exactly
the endpoints recorded for that fleet folder, never a process that merely reuses a recorded pid."""

import importlib.util
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

pytestmark = pytest.mark.windows

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _demo():
    spec = importlib.util.spec_from_file_location("arcguard_demo", os.path.join(ROOT, "scripts", "demo.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie of ours has exited
    with open("/proc/%d/stat" % pid) as handle:
        return handle.read().split(")")[-1].split()[0] != "Z"


def _answers(port):
    """The endpoint answers HTTP on its port (any status: it wants WinRM SOAP and credentials)."""
    try:
        urllib.request.urlopen("http://127.0.0.1:%d/wsman" % port, data=b"", timeout=10)
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


@pytest.fixture
def demo():
    return _demo()


def test_kept_endpoint_outlives_its_pipe_and_stop_ends_it(demo, tmp_path):
    base = str(tmp_path / "fleet")
    proc, _home, host_vars = demo.start_windows_host(base, "dc02", {}, keep=True)
    try:
        with open(demo.pid_file(base), "w") as handle:
            handle.write("%d\n" % proc.pid)
        # its own session: a Ctrl-C to the demo's process group does not reach it
        assert os.getsid(proc.pid) == proc.pid
        assert _answers(host_vars["ansible_port"])
        assert demo.stop_kept(base) == 1
        proc.wait(timeout=30)
        assert not os.path.exists(demo.pid_file(base))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_stop_leaves_a_process_that_is_not_our_endpoint(demo, tmp_path):
    base = str(tmp_path / "fleet")
    os.makedirs(base)
    # a recorded pid now held by some other process (here: a sleep), and one that no longer exists
    other = subprocess.Popen(["sleep", "60"])
    gone = subprocess.Popen(["true"])
    gone.wait()
    try:
        with open(demo.pid_file(base), "w") as handle:
            handle.write("%d\n%d\n" % (other.pid, gone.pid))
        assert demo.stop_kept(base) == 0
        time.sleep(0.2)  # not a timing assertion: gives a wrongly sent signal the chance to land
        assert other.poll() is None and _alive(other.pid)
        assert not os.path.exists(demo.pid_file(base))
    finally:
        other.kill()
        other.wait()


def test_stop_leaves_an_endpoint_of_another_fleet(demo, tmp_path):
    mine, theirs = str(tmp_path / "mine"), str(tmp_path / "theirs")
    proc, _home, _vars = demo.start_windows_host(theirs, "dc02", {}, keep=True)
    try:
        os.makedirs(mine)
        with open(demo.pid_file(mine), "w") as handle:
            handle.write("%d\n" % proc.pid)
        assert demo.stop_kept(mine) == 0
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()


def test_stop_without_a_kept_fleet_says_so(tmp_path):
    out = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "demo.py"), "--stop", "--dir",
                          str(tmp_path / "none")], capture_output=True, text=True, check=True)
    assert "stopped 0 WinRM test endpoint(s)" in out.stdout
    assert not (tmp_path / "none").exists()


def test_keep_and_stop_are_exclusive(tmp_path):
    out = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "demo.py"), "--keep", "--stop", "--dir",
                          str(tmp_path)], capture_output=True, text=True, check=False)
    assert out.returncode == 2 and "not allowed with argument" in out.stderr
