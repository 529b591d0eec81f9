"""Fixtures shared by the hostile tests."""

import pytest

from tests.hostile import harness
from tests.lib.sshd import unavailable


@pytest.fixture(scope="module", params=harness.CONNECTIONS)
def target(request, tmp_path_factory):
    """One stand-in host per connection (local, ssh, winrm) for the tests of a module; ssh must be available."""
    if request.param == "ssh" and unavailable():
        pytest.fail(unavailable())
    host = harness.Target(request.param, tmp_path_factory.mktemp("host-" + request.param))
    yield host
    host.stop()
