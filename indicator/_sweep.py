"""Live lines beyond a threshold that moves with the close, by one compiled sweep.

``out[j, t]`` counts the lines live at bar ``t`` (``s <= t < e``) priced at or above
``base[t] * factors[j]``. Any levels frame works, not only lines that end at their first touch.

The bars are swept in order with a Fenwick tree over the lines' price ranks: a line is added
at its start and removed at its end, and each threshold is one prefix query
(``O((n * columns + m) log m)``). The thresholds' price ranks come first, one merge per
column, since every column is ordered like ``base``.

The kernels are compiled by numba on first use (``nogil``, so the two sides run on two
threads) and cached on disk: about 1.5 s once, then a fraction of a second to load in a new
process. numba is a dependency; where it cannot be imported the very same functions run as
plain Python (:data:`PYTHON`), as the ``arch`` package does, and :func:`warn_if_uncompiled`
says so: the same counts, far slower.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ..vocab import NumbaMissingWarning

__all__ = ["PYTHON", "Kernels", "NumbaMissingWarning", "count_beyond", "kernels",
           "warn_if_uncompiled"]


def _threshold_ranks(
    sorted_price: np.ndarray, base: np.ndarray, base_order: np.ndarray, factors: np.ndarray
) -> np.ndarray:
    """``searchsorted(sorted_price, base * factors[j], "left")`` for every bar and column, by
    one merge per column: ``base_order`` sorts ``base`` and the factors are positive, so it
    sorts every column's thresholds too."""
    m, n = sorted_price.size, base.size
    out = np.empty((factors.size, n), np.int64)
    for j in range(factors.size):
        r = 0
        for k in range(n):
            t = base_order[k]
            value = base[t] * factors[j]
            while r < m and sorted_price[r] < value:
                r += 1
            out[j, t] = r
    return out


def _sweep(s: np.ndarray, e: np.ndarray, rank: np.ndarray, thr_rank: np.ndarray) -> np.ndarray:
    """Live lines at or above each threshold rank; ``rank`` is each line's price rank,
    ``thr_rank[j, t]`` the number of lines priced below bar ``t``'s threshold ``j``."""
    nx, n = thr_rank.shape
    m = s.size
    # Lines grouped by the bar of their start and of their end (a counting sort).
    start_at = np.zeros(n + 2, np.int64)
    end_at = np.zeros(n + 2, np.int64)
    for i in range(m):
        start_at[s[i] + 2] += 1
        if e[i] < n:  # e == n: never ends
            end_at[e[i] + 2] += 1
    for t in range(2, n + 2):
        start_at[t] += start_at[t - 1]
        end_at[t] += end_at[t - 1]
    by_start = np.empty(m, np.int64)
    by_end = np.empty(m, np.int64)
    for i in range(m):
        by_start[start_at[s[i] + 1]] = i
        start_at[s[i] + 1] += 1
        if e[i] < n:  # e == n: never ends
            by_end[end_at[e[i] + 1]] = i
            end_at[e[i] + 1] += 1
    # Now lines starting at t are by_start[start_at[t]:start_at[t + 1]], likewise the ends.

    tree = np.zeros(m + 1, np.int32)  # Fenwick tree: live lines by price rank
    out = np.empty((nx, n), np.int64)
    live = 0
    for t in range(n):
        for k in range(end_at[t], end_at[t + 1]):
            i = rank[by_end[k]] + 1
            while i <= m:
                tree[i] -= 1
                i += i & -i
            live -= 1
        for k in range(start_at[t], start_at[t + 1]):
            i = rank[by_start[k]] + 1
            while i <= m:
                tree[i] += 1
                i += i & -i
            live += 1
        for j in range(nx):
            r = thr_rank[j, t]
            below = 0  # live lines ranked below r: priced below the threshold
            while r > 0:
                below += tree[r]
                r -= r & -r
            out[j, t] = live - below
    return out


class Kernels(NamedTuple):
    """The two kernels of :func:`count_beyond` and whether numba compiled them."""

    threshold_ranks: Callable[..., np.ndarray]
    sweep: Callable[..., np.ndarray]
    compiled: bool


PYTHON = Kernels(_threshold_ranks, _sweep, compiled=False)  # the same code, uncompiled

_loaded: list[Kernels] = []
_loading = threading.Lock()

UNCOMPILED = (
    "numba could not be imported, so the *_within_* counts run as plain Python: the same "
    "numbers, tens of times slower (some 25 s for a million bars). Install numba, a "
    "dependency of liqlevels (pip install numba), or pass within=() to skip these counts."
)


def _compile() -> Kernels:
    try:
        import numba
    except ImportError:  # absent, or broken against this numpy; sys.modules["numba"] = None
        return PYTHON
    jit = numba.njit(cache=True, nogil=True)
    return Kernels(jit(_threshold_ranks), jit(_sweep), compiled=True)


def kernels() -> Kernels:
    """The kernels, loaded on first use: compiled by numba, or :data:`PYTHON` without it.

    Loading is lazy because importing numba costs about 0.2 s, which commands that never
    count should not pay; the lock lets the two sides' threads share one load.
    """
    with _loading:
        if not _loaded:
            _loaded.append(_compile())
    return _loaded[0]


def warn_if_uncompiled(stacklevel: int = 1) -> None:
    """Warn with :class:`NumbaMissingWarning` when the kernels run uncompiled.

    Parameters
    ----------
    stacklevel : int, default 1
        As for ``warnings.warn``, counted from the caller of this function: 1 points at
        that caller, 2 at its caller, and so on (the public function's caller, the user).
    """
    if not kernels().compiled:
        warnings.warn(UNCOMPILED, NumbaMissingWarning, stacklevel=stacklevel + 1)


def count_beyond(
    s: np.ndarray, e: np.ndarray, price: np.ndarray, base: np.ndarray, factors: np.ndarray,
) -> np.ndarray:
    """``out[j, t]``: lines live at bar ``t`` (``s <= t < e``) with ``price >= base[t] *
    factors[j]``, by the kernels of :func:`kernels` (the inputs are checked first: the
    kernels index by them unchecked).

    Parameters
    ----------
    s, e : numpy.ndarray
        int64 bar positions, ``0 <= s < e <= n``: first live bar, first bar no longer live
        (``n`` = never).
    price : numpy.ndarray
        float64 line prices.
    base : numpy.ndarray
        float64, one per bar (``n`` bars), finite.
    factors : numpy.ndarray
        float64, positive, one per output row.

    Returns
    -------
    numpy.ndarray
        int64 ``(len(factors), len(base))``.
    """
    n = len(base)
    s = np.ascontiguousarray(s, dtype=np.int64)
    e = np.ascontiguousarray(e, dtype=np.int64)
    bad = (s < 0) | (e <= s) | (e > n)  # the kernel indexes by them unchecked
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"line {i} spans bars [{s[i]}, {e[i]}); need 0 <= s < e <= {n}")
    factors = np.ascontiguousarray(factors, dtype=np.float64)
    if not (factors > 0).all():
        raise ValueError(f"factors must be positive, got {factors.tolist()}")
    base = np.ascontiguousarray(base, dtype=np.float64)
    order = np.argsort(price)
    rank = np.empty(price.size, dtype=np.int64)
    rank[order] = np.arange(price.size)
    threshold_ranks, sweep, _ = kernels()
    return sweep(s, e, rank, threshold_ranks(price[order], base, np.argsort(base), factors))
