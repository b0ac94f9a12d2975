"""The memory integral of an execution (SGE's ``mem``, GB·s) from the worker's samples."""

import pytest

from actors.execution import _Watch
from actors.runtime.cgroups import Usage


def test_integral_of_samples_with_the_last_value_held_to_the_end():
    watch = _Watch(started=100.0)
    watch.add(Usage(memory_current=1_000_000_000), 0, at=101.0)   # 1 GB for the first second
    watch.add(Usage(memory_current=3_000_000_000), 0, at=102.0)   # trapezoid: mean 2 GB for a second
    assert watch.memory_gb_seconds(ended=104.0, peak=3_000_000_000) == pytest.approx(1 + 2 + 3 * 2)


def test_an_execution_too_short_for_a_sample_counts_its_peak_for_its_run():
    watch = _Watch(started=10.0)
    assert watch.memory_gb_seconds(ended=10.5, peak=2_000_000_000) == pytest.approx(1.0)
