"""Peak memory of one call, two ways: ``tracemalloc`` (what numpy and Python allocate, as the
benchmarks always measured) and the resident-set peak from ``/proc`` (everything, numba's
and Arrow's allocations included; Linux only, ``None`` elsewhere)."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kb(field: str) -> int:
    for line in _STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def peaks(func: Callable[[], Any]) -> tuple[int, int | None]:
    """``(tracemalloc peak, resident peak above the resident size before)`` in bytes, of
    one call of ``func`` (its result dropped only after the measurement)."""
    gc.collect()
    try:
        _CLEAR_REFS.write_text("5")  # reset the resident-set high-water mark
        before = _status_kb("VmRSS")
    except OSError:
        before = None
    tracemalloc.start()
    result = func()
    _, traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    resident = None if before is None else (_status_kb("VmHWM") - before) * 1024
    del result
    return traced, resident


def rounds_apart(benchmark: Any, func: Callable[..., Any], *, args: tuple = (),
                 kwargs: dict | None = None, rounds: int, warmup_rounds: int = 0) -> Any:
    """``benchmark.pedantic`` with each round's result dropped before the next round starts
    (outside the timing); returns the last result.

    Plain ``pedantic`` keeps round k's result alive while round k+1 runs, so at 10M bars
    every round after the first needs a second gigabyte. On this VM, memory beyond the
    recently freed pages costs about 3 ms per MB on first touch (measured: 100 MB arrays
    filled in 8-14 ms while freed pages were at hand, 200-370 ms each after some 1.3-1.7 GB),
    so the timing would depend on how much the harness holds rather than on the code. One
    result alive at a time is what a caller that replaces its result sees.
    """
    held: list[Any] = []

    def call(*a: Any, **k: Any) -> None:
        held.append(func(*a, **k))

    def drop() -> None:
        held.clear()
        gc.collect()

    benchmark.pedantic(call, args=args, kwargs=kwargs or {}, setup=drop, rounds=rounds,
                       iterations=1, warmup_rounds=warmup_rounds)
    return held[-1]
