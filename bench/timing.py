"""Timing for the in-process benches: the median of many runs, so one pause of the collector or
the scheduler does not move the figure."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_us(runs: int, work: Callable[[], object]) -> float:
    """Median microseconds of ``work`` over ``runs`` runs."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e6
