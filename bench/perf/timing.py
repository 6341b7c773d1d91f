"""Throughput measurement shared by the benchmarks: warm up, then repeat until a time budget."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple


class Throughput(NamedTuple):
    items_per_second: float
    seconds_per_call: float
    calls: int


def measure(call: Callable[[], object], items_per_call: int, *, warmup: int = 1, min_seconds: float = 1.0,
            min_calls: int = 3, max_calls: int = 1000) -> Throughput:  # fmt: skip
    """Items/s of ``call`` after ``warmup`` untimed calls, timing at least ``min_calls`` calls and
    ``min_seconds`` seconds (wall clock: the table states device and threads beside it)."""
    for _ in range(warmup):
        call()
    calls, start = 0, time.perf_counter()
    while calls < max_calls and (calls < min_calls or time.perf_counter() - start < min_seconds):
        call()
        calls += 1
    per_call = (time.perf_counter() - start) / calls
    return Throughput(items_per_call / per_call, per_call, calls)
