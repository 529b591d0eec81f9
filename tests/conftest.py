"""Shared by every test directory: what the tests import, and from where.

The repository root goes on ``sys.path`` (for ``tests.lib``, where every double and harness lives), and the source tree is
importable as ``ansible_collections.arcguard.azcmagent`` through a link in ``build/src-collections`` (unit
tests import the plugins from the source; integration tests run ansible-playbook on the built collection).
Under ``ansible-test units`` the collection is already importable where ansible-test put it.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.environ.get("SRC_COLLECTIONS") or os.path.join(ROOT, "build", "src-collections")


def _importable():
    try:
        import ansible_collections.arcguard.azcmagent.plugins  # noqa: F401  pylint: disable=unused-import
        return True
    except ImportError:
        return False


if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
if not _importable():
    link = os.path.join(SRC, "ansible_collections", "arcguard", "azcmagent")
    if not os.path.lexists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(ROOT, link)
    sys.path.insert(0, SRC)


# Hypothesis: "dev" (the default, the inner loop) and "ci" (HYPOTHESIS_PROFILE=ci, the suites), for every tier;
# tests that must stay bounded set their own max_examples.
from hypothesis import HealthCheck, settings  # noqa: E402  pylint: disable=wrong-import-position

settings.register_profile("ci", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def pytest_configure(config):
    """The markers of pytest.ini, also where another configuration is in force (ansible-test units)."""
    import configparser  # pylint: disable=import-outside-toplevel
    ini = configparser.ConfigParser()
    ini.read(os.path.join(ROOT, "pytest.ini"))
    known = {line.split(":", 1)[0].strip() for line in config.getini("markers")}
    for line in ini.get("pytest", "markers", fallback="").strip().splitlines():
        if line.split(":", 1)[0].strip() not in known:
            config.addinivalue_line("markers", line.strip())
