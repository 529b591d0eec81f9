"""What the Windows tests share: the test hosts as fixtures, and small helpers over a host's stand-in.

Fixtures: ``host`` (a Windows host's file system with the agent installed, for the endpoint's interpreter
alone), ``endpoint`` (the WinRM test endpoint serving one such host) and ``win`` (the Windows host of the
end-to-end tests: the WinRM endpoint; test_windows_ssh.py gives one behind a real sshd instead).
Helpers (``from tests.windows.conftest import ...``): ``state``, ``log``, ``config``.
"""

import sys

import pytest

from tests.lib import fleet
from tests.windows.endpoint import Endpoint
from tests.windows.winrm_endpoint import Host, install_agent


def state(host):
    """The stand-in's stored settings on a Windows test host."""
    return fleet.read_state(host.root, "windows")


def log(host):
    """The azcmagent invocations on a Windows test host."""
    return fleet.read_log(host.root, "windows")


def config(args):
    """An azcmagent_config task."""
    return {"arcguard.azcmagent.azcmagent_config": args}


@pytest.fixture
def host(tmp_path):
    root = str(tmp_path / "win")
    install_agent(root)
    return Host(root, [sys.executable, fleet.STANDIN])


@pytest.fixture
def endpoint(tmp_path):
    ep = Endpoint(tmp_path / "win")
    yield ep
    ep.stop()


@pytest.fixture
def win(endpoint):
    return endpoint
