"""Test-suite configuration: hypothesis profiles and the GPU skip.

Profiles (select with ``HYPOTHESIS_PROFILE=NAME pytest``):

- ``ci`` (the default, used by ``pytest`` and CI): derandomised and without an example
  database, so every run on every machine draws the same examples and a failure found once
  cannot be replayed from a stale ``.hypothesis/`` folder into later runs.
- ``explore``: for developers hunting bugs — random seeds, ten times the examples, and a
  local database that replays what it found. A failure it finds becomes a regression test
  (an ``@example``) before it is fixed.
"""

import os

import pytest
from hypothesis import HealthCheck, settings

from overparam.numerics.backend import cupy_available

settings.register_profile("ci", derandomize=True, database=None, deadline=None,
                          print_blob=True, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("explore", max_examples=1000, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_collection_modifyitems(config, items):
    if cupy_available():
        return
    skip = pytest.mark.skip(reason="needs CuPy and an NVIDIA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
