"""Drift watch tests import the source tree as ansible_collections.arcguard.azcmagent (as tests/unit does)."""

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

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("ci", max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
