"""Unit tests: hypothesis profiles (the import paths come from tests/conftest.py)."""

import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
