"""Line ends and the levels columns of :func:`oi_levels` in compiled linear passes.

A long line drawn on bar ``b`` ends at the first bar ``t > b`` whose low is at or below it
(a short line: whose high is at or above it). One backward sweep over the bars answers every
line of a side: at bar ``t`` it holds the stack of *record lows* seen from ``t`` onwards (the
bars whose low is strictly below every low between ``t`` and them; lows rise from the bottom
of the stack to its top, ``t``). The first bar from ``t`` on at or below a price is the
topmost record at or below it, found by a galloping binary search from the top (a few steps:
most lines are touched soon). Each bar is pushed and popped at most once: ``O(n + lines x
log(distance))``, and the stack is as deep as the longest run of records, not ``n``.

The remaining columns are written in one pass over the triggers, with no ``np.repeat``
temporaries. Both kernels are compiled by numba (``nogil``: the two sides run on two threads)
and cached on disk like the counts of :mod:`._sweep`. Without numba, :func:`oi_levels` keeps
its vectorised numpy search (:mod:`._search`): the same lines, no warning needed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

__all__ = ["PYTHON", "EndKernels", "kernels"]

_NAT = np.iinfo(np.int64).min
_FIRST_CAPACITY = 1024


def _side_ends(
    values: np.ndarray, negate: bool, bars: np.ndarray, price: np.ndarray, per_bar: int,
    index_ns: np.ndarray, end_ns: np.ndarray,
) -> None:
    """``end_ns[j * per_bar + i]``: open time of the first bar ``t > bars[j]`` with
    ``values[t] <= price[j * per_bar + i]`` (``>=`` when ``negate``), NaT when none.

    ``bars`` ascending and unique; ``price`` and ``end_ns`` may be strided views (one side of
    the levels rows). Negating ``values`` and the prices turns "at or above" into "at or
    below", exactly.
    """
    n = values.size
    sign = -1.0 if negate else 1.0
    vals = np.empty(_FIRST_CAPACITY, np.float64)  # record lows, rising to the top
    pos = np.empty(_FIRST_CAPACITY, np.int64)  # their bar positions, falling to the top
    top = 0
    j = bars.size - 1
    while j >= 0 and bars[j] + 1 >= n:  # drawn on the last bar: nothing after it
        for r in range(j * per_bar, (j + 1) * per_bar):
            end_ns[r] = _NAT
        j -= 1
    for t in range(n - 1, -1, -1):
        if j < 0:
            break
        v = sign * values[t]
        while top > 0 and vals[top - 1] >= v:
            top -= 1
        if top == vals.size:  # a deeper run of records than ever: double the stack
            more_vals = np.empty(2 * top, np.float64)
            more_vals[:top] = vals
            vals = more_vals
            more_pos = np.empty(2 * top, np.int64)
            more_pos[:top] = pos
            pos = more_pos
        vals[top] = v
        pos[top] = t
        top += 1
        if bars[j] + 1 != t:
            continue
        for r in range(j * per_bar, (j + 1) * per_bar):
            limit = sign * price[r]
            # The largest k with vals[k] <= limit: gallop down from the top, then bisect.
            hi = top  # vals[hi:] > limit
            step = 1
            lo = top - 1
            while lo >= 0 and vals[lo] > limit:
                hi = lo
                lo = top - 1 - 2 * step
                step *= 2
            if lo < 0:
                lo = -1  # vals[lo] <= limit holds for lo >= 0 only
            while hi - lo > 1:  # vals[lo] <= limit < vals[hi] (lo = -1: none)
                mid = (lo + hi) // 2
                if vals[mid] <= limit:
                    lo = mid
                else:
                    hi = mid
            end_ns[r] = index_ns[pos[lo]] if lo >= 0 else _NAT
        j -= 1


def _fixed_columns(
    index_ns: np.ndarray, bars: np.ndarray, delta: np.ndarray, tier: np.ndarray,
    levs: np.ndarray, entry: np.ndarray, factors: np.ndarray,
    start: np.ndarray, leverage: np.ndarray, price: np.ndarray, entry_col: np.ndarray,
    tier_col: np.ndarray, delta_col: np.ndarray,
) -> None:
    """Every levels column but ``end`` and ``side``, row by row: for trigger ``j`` and
    leverage ``i``, rows ``2 * (j * L + i)`` (long) and the next (short). ``delta``,
    ``tier`` and ``entry`` are per trigger."""
    per_bar = factors.size
    for j in range(bars.size):
        t0 = index_ns[bars[j]]
        e = entry[j]
        ti = np.int64(tier[j])
        d = delta[j]
        r = j * per_bar
        for k in range(per_bar):
            start[r + k] = t0
            leverage[r + k] = levs[k >> 1]
            price[r + k] = e * factors[k]
            entry_col[r + k] = e
            tier_col[r + k] = ti
            delta_col[r + k] = d


class EndKernels(NamedTuple):
    """The two kernels of this module and whether numba compiled them."""

    side_ends: Callable[..., None]
    fixed_columns: Callable[..., None]
    compiled: bool


PYTHON = EndKernels(_side_ends, _fixed_columns, compiled=False)  # the same code, uncompiled

_loaded: list[EndKernels] = []
_loading = threading.Lock()


def _compile() -> EndKernels:
    try:
        import numba
    except ImportError:  # absent, or broken against this numpy
        return PYTHON
    jit = numba.njit(cache=True, nogil=True)
    return EndKernels(jit(_side_ends), jit(_fixed_columns), compiled=True)


def kernels() -> EndKernels:
    """The kernels, loaded on first use: compiled by numba, or :data:`PYTHON` without it
    (then :func:`oi_levels` keeps its numpy search instead: plain Python would be slow)."""
    with _loading:
        if not _loaded:
            _loaded.append(_compile())
    return _loaded[0]
