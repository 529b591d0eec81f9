"""Shared by every test directory: what the tests import, and from where.

The repository root goes on ``sys.path`` (for ``tests.lib`` and ``tests.windows``), and the source tree is
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
