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
