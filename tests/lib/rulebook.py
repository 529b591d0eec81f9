"""ansible-rulebook for the end-to-end tests of the drift watch: where the suite installed it, the fake Azure's
sign-in they share, the poll interval, a wait without timing asserts, and one running ansible-rulebook."""

import contextlib
import os
import signal
import subprocess
import time

import pytest
import yaml

from tests.lib.drift_env import ROOT

SUB = "5f0c0c2e-1111-2222-3333-444444444444"
SECRET = "e2e-Secret-4k!z"
INTERVAL = 2


def rulebook_bin():
    path = os.environ.get("ARCGUARD_RULEBOOK_BIN")
    if path:
        assert os.path.isfile(os.path.join(path, "ansible-rulebook")), "no ansible-rulebook in %s" % path
        return path
    path = os.path.join(ROOT, "build", "venvs", "rulebook", "bin")
    if not os.path.isfile(os.path.join(path, "ansible-rulebook")):
        pytest.skip("ansible-rulebook is installed by tests/suites/23-drift.sh (build/venvs/rulebook)")
    return path


def wait_for(what, timeout, step=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(step)
    return what()


def drift_vars(fake, **more):
    """The rulebook variables that point the arc_drift source at ``fake`` (defender, the test's poll interval)."""
    return dict({"drift_profile": "defender", "drift_interval": INTERVAL, "drift_subscriptions": [SUB],
                 "drift_auth_source": "env", "drift_arm_endpoint": fake.url, "drift_authority_host": fake.url},
                **more)


class Rulebook:
    """A running ansible-rulebook: ``proc`` and its merged output so far (``output()``)."""

    def __init__(self, proc, log_path):
        self.proc, self.log_path = proc, log_path

    def output(self):
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def running(tmp_path, fake, rulebook, inventory, variables):
    """ansible-rulebook ``-r rulebook`` over ``inventory`` (a dict) with ``variables`` (a dict), signed in to
    ``fake`` with the test's secret, from the suite's tool environment; stopped (SIGINT, then SIGKILL) on leaving."""
    bin_dir = rulebook_bin()
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    (tmp_path / "rulebook-vars.yml").write_text(yaml.safe_dump(variables))
    env = dict(os.environ)
    env.update(fake.env(secret=SECRET))
    env.update({"PATH": bin_dir + os.pathsep + env.get("PATH", ""),
                "ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, "build", "collections"),
                "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
                "ARCGUARD_DRIFT_TEST_MIN_INTERVAL": "0"})
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    log_path = tmp_path / "rulebook.log"
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen([os.path.join(bin_dir, "ansible-rulebook"), "-r", rulebook,
                                 "-i", str(tmp_path / "inventory.yml"), "--vars", str(tmp_path / "rulebook-vars.yml"),
                                 "-v"],
                                cwd=str(tmp_path), env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        yield Rulebook(proc, log_path)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
