"""Shared set-up of the hostile logic tests (promises 2, 3, 4, 5 and 7 of docs/security.md).

Importing it puts the source tree on ``sys.path`` as ``ansible_collections.arcguard.azcmagent`` (as
tests/unit does) and the repository root (for ``tests.lib`` and ``tests.integration``).
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SRC = os.path.join(ROOT, "build", "src-collections")
_LINK = os.path.join(SRC, "ansible_collections", "arcguard", "azcmagent")
if not os.path.exists(_LINK):
    os.makedirs(os.path.dirname(_LINK), exist_ok=True)
    os.symlink(ROOT, _LINK)
for _path in (SRC, ROOT):
    if _path not in sys.path:
        sys.path.insert(0, _path)

# bounded example counts: these suites run on shared machines (HOSTILE_EXAMPLES raises them)
EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "0") or 0)


def examples(default):
    return EXAMPLES or default
