"""ansible-rulebook for the end-to-end tests of the drift watch: where the suite installed it, the fake Azure's
sign-in they share, the poll interval, and a wait without timing asserts."""

import os
import time

import pytest

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
