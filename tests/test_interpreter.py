"""``shoal serve``'s interpreter settings."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator

import pytest

from shoal.interpreter import tune_interpreter


@pytest.fixture
def restored() -> Iterator[None]:
    thresholds, interval = gc.get_threshold(), sys.getswitchinterval()
    yield
    gc.set_threshold(*thresholds)
    sys.setswitchinterval(interval)


def test_collects_rarely_and_hands_the_gil_over_sooner(restored: None) -> None:
    tune_interpreter()
    assert gc.get_threshold()[0] == 100_000
    # Default 5 ms: a DuckDB write on another thread waits that long at every task.
    assert sys.getswitchinterval() == pytest.approx(0.0005)
