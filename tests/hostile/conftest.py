"""Hostile tests: the source tree importable as ansible_collections.arcguard.azcmagent (for the filter tests);
the playbook tests run the built collection (scripts/bootstrap.sh collection)."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SRC = os.path.join(ROOT, "build", "src-collections")
link = os.path.join(SRC, "ansible_collections", "arcguard", "azcmagent")
if not os.path.exists(link):
    os.makedirs(os.path.dirname(link), exist_ok=True)
    os.symlink(ROOT, link)
for path in (SRC, ROOT):
    if path not in sys.path:
        sys.path.insert(0, path)
