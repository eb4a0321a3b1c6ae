"""Hypothesis profiles: "ember" (the default run: 100 examples per test, derandomized so CI sees the same
examples every run, no example database) and "slow" (10x the examples, on demand:
`HYPOTHESIS_PROFILE=slow python -m pytest tests/test_properties.py`)."""
import os

from hypothesis import HealthCheck, settings

settings.register_profile("ember", max_examples=100, deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("slow", parent=settings.get_profile("ember"), max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ember"))
