"""Live lines beyond a threshold that moves with the close, by one compiled sweep.

``out[j, t]`` counts the lines live at bar ``t`` (``s <= t < e``) priced at or above
``base[t] * factors[j]``. Any levels frame works, not only lines that end at their first touch.

The bars are swept in order with a Fenwick tree over the lines' price ranks: a line is added
at its start and removed at its end, and each threshold is one prefix query
(``O((n * columns + m) log m)``). The thresholds' price ranks come first, one merge per
column, since every column is ordered like ``base``.

Lines that end at their first touch (what :func:`oi_levels` draws) have more structure: the
lines a bar ends are the highest-priced live ones. :func:`live_columns` uses it for one sweep
per side that gives the live counts, the nearest line and the same counts without grouping
the lines by their end (live bits over price ranks, a count per threshold moved by popcounts);
it checks the structure as it goes and returns None for any other frame, which then takes
:func:`count_beyond`. It sweeps in epochs of :data:`EPOCH` bars, each ranking only the lines
live in it, so that the thresholds cross few dead lines' ranks on long histories.
:func:`bar_positions` and :func:`hit_columns` are the passes around it.

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

from ..vocab import NumbaMissingWarning, first_true

_NAT = np.iinfo(np.int64).min

__all__ = ["PYTHON", "Kernels", "LiveColumns", "NumbaMissingWarning", "bar_positions",
           "count_beyond", "hit_columns", "int_dtype", "kernels", "live_columns",
           "warn_if_uncompiled"]


def int_dtype(most: int) -> type[np.signedinteger]:
    """int32 for integers in ``[-1, most]`` (counts of at most ``most`` lines, bar positions
    and ranks), int64 from ``most = 2**31`` on. Half the memory of int64: at 10M bars the 20
    count columns of :func:`features` are 0.8 GB instead of 1.6 GB, and first touches of
    fresh memory are what a call that size mostly pays for."""
    return np.int32 if most < 2**31 else np.int64


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


def _bar_ranks(
    sorted_price: np.ndarray, close: np.ndarray, sign: float, close_order: np.ndarray,
    factors: np.ndarray, out: np.ndarray,
) -> None:
    """``out[t, j] = searchsorted(sorted_price, sign * close[t] * factors[j], "left")``, by
    one merge in the order of ``sign * close`` (``close_order`` sorts ``close``; read
    backwards for ``sign < 0``), which orders every column: the factors are positive. A bar's
    ranks share one cache line of ``out``."""
    m = sorted_price.size
    n = close_order.size
    nx = factors.size
    at = np.zeros(nx, np.int64)
    for k in range(n):
        t = close_order[k] if sign > 0 else close_order[n - 1 - k]
        b = sign * close[t]
        for x in range(nx):
            value = b * factors[x]
            r = at[x]
            while r < m and sorted_price[r] < value:
                r += 1
            at[x] = r
            out[t, x] = r


def _by_rank(
    order: np.ndarray, price: np.ndarray, sign: float, e: np.ndarray, rank: np.ndarray,
    sorted_price: np.ndarray, e_by_rank: np.ndarray,
) -> None:
    """From ``order`` (sorting ``sign * price``): each line's rank, and the signed prices
    and the ends in rank order, in one pass."""
    for k in range(order.size):
        i = order[k]
        rank[i] = k
        sorted_price[k] = sign * price[i]
        e_by_rank[k] = e[i]


def _popcount(word: np.uint64) -> np.int64:
    """Set bits of a uint64 (LLVM turns this into one ``popcnt``)."""
    word -= (word >> np.uint64(1)) & np.uint64(0x5555555555555555)
    word = ((word & np.uint64(0x3333333333333333))
            + ((word >> np.uint64(2)) & np.uint64(0x3333333333333333)))
    word = (word + (word >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return np.int64((word * np.uint64(0x0101010101010101)) >> np.uint64(56))


def _live_sweep(
    s: np.ndarray, e_by_rank: np.ndarray, rank: np.ndarray, sorted_price: np.ndarray,
    thr_rank: np.ndarray, close: np.ndarray, sign: float,
    active: np.ndarray, nearest: np.ndarray, dist: np.ndarray, counts: np.ndarray,
) -> bool:
    """One side's ``active``, ``nearest``, ``dist`` and within-x ``counts``, for lines that
    end top first; False (outputs unusable) when they do not.

    ``s`` ascending (lines in start order), ``rank`` each line's price rank, ``sorted_price``
    the prices in rank order (signed: negated for shorts) and ``e_by_rank`` the end bar of the
    line of each rank (``n``: never). Lines that end at their first touch end from the top:
    the lines a bar ends are the highest-priced live ones. So the highest live line is popped
    while its end is this bar; a line not popped at its end shows in the count of pops.

    The live lines are one bit each over the price ranks. Each threshold (``thr_rank[t, j]``:
    the prices below it on bar ``t``) keeps the count of live lines below it from bar to
    bar: a line added or popped below it moves the count by one, and when the close moves,
    the count moves by the live bits between its old and new rank (a popcount of the few
    words in between: the close moves little from bar to bar).
    """
    n = close.size
    m = rank.size
    nx = thr_rank.shape[1]
    one = np.uint64(1)
    bits = np.zeros(m // 64 + 1, np.uint64)  # live lines by price rank
    thr = np.zeros(nx, np.int64)  # each threshold's rank (prices below it)
    below = np.zeros(nx, np.int64)  # live lines ranked below it
    live = 0
    top = -1  # rank of the highest live line
    popped = 0
    j = 0
    for t in range(n):
        while live > 0 and e_by_rank[top] == t:
            w = top >> 6
            bits[w] &= ~(one << np.uint64(top & 63))
            live -= 1
            popped += 1
            for x in range(nx):
                if top < thr[x]:
                    below[x] -= 1
            # The next highest: the highest bit left below the popped one.
            word = bits[w] & ((one << np.uint64(top & 63)) - one)
            while word == 0 and w > 0:
                w -= 1
                word = bits[w]
            if word == 0:
                top = -1
            else:
                top = w * 64
                for shift in (32, 16, 8, 4, 2, 1):
                    if word >> np.uint64(shift):
                        word >>= np.uint64(shift)
                        top += shift
        while j < m and s[j] == t:
            r = rank[j]
            bits[r >> 6] |= one << np.uint64(r & 63)
            live += 1
            top = max(top, r)
            for x in range(nx):
                if r < thr[x]:
                    below[x] += 1
            j += 1
        active[t] = live
        if live > 0:
            near = sign * sorted_price[top]
            nearest[t] = near
            dist[t] = sign * (close[t] - near) / close[t]
        else:
            nearest[t] = np.nan
            dist[t] = np.nan
        for x in range(nx):
            old = thr[x]
            hi = np.int64(thr_rank[t, x])
            # The live lines ranked in [min(old, hi), max(old, hi)) cross the threshold.
            a, b = min(old, hi), max(old, hi)
            wa, wb = a >> 6, b >> 6
            # the live bits in [a, b): whole words between, masked words at the ends
            head = bits[wa] & ~((one << np.uint64(a & 63)) - one)
            tail = (one << np.uint64(b & 63)) - one
            if wa == wb:
                crossed = _popcount(head & tail)
            else:
                crossed = _popcount(head) + _popcount(bits[wb] & tail)
                for w in range(wa + 1, wb):
                    crossed += _popcount(bits[w])
            below[x] += crossed if hi > old else -crossed
            thr[x] = hi
            counts[x, t] = live - below[x]
    ends = 0
    for r in range(m):
        ends += e_by_rank[r] < n
    return j == m and popped == ends


def _hit_counts(hit: np.ndarray, lev: np.ndarray, leverages: np.ndarray, hits: np.ndarray,
                by_leverage: np.ndarray) -> bool:
    """Lines hit on each bar (``hit``: the bar, -1 when none), in all and per leverage (row
    ``k`` of ``by_leverage`` for ``leverages[k]``); the outputs start at zero. False when a
    hit is off the bars or a leverage is not listed."""
    n = hits.size
    for i in range(hit.size):
        h = hit[i]
        if h < 0:
            continue
        k = 0
        while k < leverages.size and leverages[k] != lev[i]:
            k += 1
        if h >= n or k == leverages.size:
            return False
        hits[h] += 1
        by_leverage[k, h] += 1
    return True


def _bar_positions(
    start: np.ndarray, end: np.ndarray, index_ns: np.ndarray, step: int,
    s: np.ndarray, e: np.ndarray, hit: np.ndarray,
) -> None:
    """Bar positions of lines from their ``start`` and ``end`` (int64 ns, NaT as the int64
    minimum): ``s`` the first bar opening at or after ``start``, ``e`` the same for ``end``
    (``n`` when NaT or after the last bar), ``hit`` the bar opening exactly at ``end`` (-1 if
    none). ``step > 0``: the bars are evenly spaced by ``step`` ns (arithmetic, no search)."""
    n = index_ns.size
    t0 = index_ns[0] if n else 0
    for i in range(start.size):
        for k in range(2):
            time = start[i] if k == 0 else end[i]
            if k == 1 and time == _NAT:
                e[i] = n
                hit[i] = -1
                continue
            if step > 0:
                pos = -((t0 - time) // step)  # ceil((time - t0) / step)
                pos = min(max(pos, 0), n)
            else:
                pos = np.searchsorted(index_ns, time)
            if k == 0:
                s[i] = pos
            else:
                e[i] = pos
                hit[i] = pos if pos < n and index_ns[pos] == time else -1


class Kernels(NamedTuple):
    """The kernels of :func:`count_beyond`, :func:`live_columns` and :func:`hit_columns`,
    and whether numba compiled them."""

    threshold_ranks: Callable[..., np.ndarray]
    sweep: Callable[..., np.ndarray]
    compiled: bool
    bar_ranks: Callable[..., None] = _bar_ranks
    by_rank: Callable[..., None] = _by_rank
    live_sweep: Callable[..., bool] = _live_sweep
    hit_counts: Callable[..., bool] = _hit_counts
    bar_positions: Callable[..., None] = _bar_positions


PYTHON = Kernels(_threshold_ranks, _sweep, False, _bar_ranks, _by_rank, _live_sweep,
                 _hit_counts, _bar_positions)

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
    global _popcount
    _popcount = jit(_popcount)  # _live_sweep calls it: compiled first, so numba types it
    return Kernels(jit(_threshold_ranks), jit(_sweep), True, jit(_bar_ranks), jit(_by_rank),
                   jit(_live_sweep), jit(_hit_counts), jit(_bar_positions))


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


def _spans(s: np.ndarray, e: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``s, e`` (int32 kept, other integers as int64) once every line spans bars inside
    ``[0, n]`` (``0 <= s < e <= n``): the kernels index by them unchecked."""
    s, e = np.asarray(s), np.asarray(e)
    s = np.ascontiguousarray(s, dtype=s.dtype if s.dtype == np.int32 else np.int64)
    e = np.ascontiguousarray(e, dtype=e.dtype if e.dtype == np.int32 else np.int64)
    bad = first_true((s < 0) | (e <= s) | (e > n))
    if bad is not None:
        raise ValueError(f"line {bad} spans bars [{s[bad]}, {e[bad]}); need 0 <= s < e <= {n}")
    return s, e


def count_beyond(
    s: np.ndarray, e: np.ndarray, price: np.ndarray, base: np.ndarray, factors: np.ndarray,
) -> np.ndarray:
    """``out[j, t]``: lines live at bar ``t`` (``s <= t < e``) with ``price >= base[t] *
    factors[j]``, by the kernels of :func:`kernels` (the inputs are checked first: the
    kernels index by them unchecked).

    Parameters
    ----------
    s, e : numpy.ndarray
        int32 or int64 bar positions, ``0 <= s < e <= n``: first live bar, first bar no longer live
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
    s, e = _spans(s, e, n)
    factors = np.ascontiguousarray(factors, dtype=np.float64)
    if not (factors > 0).all():
        raise ValueError(f"factors must be positive, got {factors.tolist()}")
    base = np.ascontiguousarray(base, dtype=np.float64)
    order = np.argsort(price)
    rank = np.empty(price.size, dtype=np.int64)
    rank[order] = np.arange(price.size)
    threshold_ranks, sweep = kernels()[:2]
    return sweep(s, e, rank, threshold_ranks(price[order], base, np.argsort(base), factors))


class LiveColumns(NamedTuple):
    """One side's per-bar columns from :func:`live_columns`."""

    active: np.ndarray  # int_dtype(lines), live lines
    nearest: np.ndarray  # float64, the highest signed price live (unsigned back), NaN if none
    dist: np.ndarray  # float64, sign * (close - nearest) / close
    counts: np.ndarray  # int_dtype(lines) (len(factors), n), as count_beyond


def live_columns(
    s: np.ndarray, e: np.ndarray, price: np.ndarray, close: np.ndarray, sign: float,
    factors: np.ndarray, close_order: np.ndarray | Callable[[], np.ndarray] | None = None,
) -> LiveColumns | None:
    """``active``, ``nearest``, ``dist`` and the counts of :func:`count_beyond` (with ``price
    = sign * price``, ``base = sign * close``) of one side in one sweep, or None when its
    lines do not end top first.

    Lines that end at their first touch (what :func:`oi_levels` draws) end top first: the
    lines that end on a bar are the highest-priced live ones (lowest for shorts, priced in
    negatives). The sweep pops the highest live line while it ends on this bar, so it needs
    no grouping of the lines by their end, and checks that every line was popped on its end
    bar; if not (any other levels frame) it returns None and the caller counts the general
    way (:func:`count_beyond`).

    The bars are swept in epochs of :data:`EPOCH` bars, each ranking only its own lines:
    those live at its first bar (carried over) and those starting in it. Most lines of a
    long history are dead at any time (about 1% live at 10M bars), and the threshold counts
    move over the ranks between a threshold's old and new place, dead lines' included: ranked
    per epoch they are some 7x fewer (the sweep at 10M bars: 0.6-0.7 s a side instead of
    1.0). The epochs give the same columns as one sweep (tested with epochs of 1 bar on).

    Parameters
    ----------
    s, e : numpy.ndarray
        int32 or int64 bar positions, ``0 <= s < e <= n`` (``n``: never ends), checked here.
    price : numpy.ndarray
        float64 line prices (as they are: ``sign`` negates them inside).
    close : numpy.ndarray
        float64, one per bar, finite and positive.
    sign : float
        1.0 for long lines, -1.0 for short lines.
    factors : numpy.ndarray
        float64, positive: thresholds ``sign * close * factors[j]``.
    close_order : numpy.ndarray or callable, optional
        :func:`epoch_orders` of ``close``, when the caller shares one between the two sides,
        or a function returning it, called once the lines are in start order (a future's
        ``result``: the caller can sort the closes on another thread meanwhile).
    """
    n = close.size
    s, e = _spans(s, e, n)
    if s.size > 1 and (s[1:] < s[:-1]).any():  # the sweep takes the lines in start order
        by_start = np.argsort(s, kind="stable")
        s, e, price = s[by_start], e[by_start], price[by_start]
    factors = np.ascontiguousarray(factors, dtype=np.float64)
    close = np.ascontiguousarray(close, dtype=np.float64)
    if close_order is None:
        close_order = epoch_orders(close)
    elif callable(close_order):
        close_order = close_order()
    count = int_dtype(s.size)
    out = LiveColumns(np.empty(n, count), np.empty(n), np.empty(n),
                      np.empty((factors.size, n), count))
    thr_rank = np.empty((min(EPOCH, n), factors.size), count)  # each epoch's, in turn
    carry = np.empty(0, np.int64)  # the lines live at the start of the epoch
    j0 = 0  # the lines before j0 started in an earlier epoch
    for t0 in range(0, n, EPOCH):
        t1 = min(t0 + EPOCH, n)
        j1 = j0 + int(np.searchsorted(s[j0:], t1))
        if t0 == 0 and t1 == n:  # one epoch: the lines as they are
            lines = (s, e, price)
        else:  # the lines live in [t0, t1), their bars counted from t0, ends cut at t1
            idx = np.concatenate([carry, np.arange(j0, j1)])
            ends = e[idx]
            lines = (np.maximum(s[idx] - t0, 0), np.minimum(ends, t1) - t0, price[idx])
            carry, j0 = idx[ends > t1], j1
        cols = (out.active[t0:t1], out.nearest[t0:t1], out.dist[t0:t1], out.counts[:, t0:t1])
        if not _epoch_sweep(*lines, close[t0:t1], close_order[t0:t1], sign, factors,
                            thr_rank[: t1 - t0], cols):
            return None
    return out


EPOCH = 1 << 20  # bars per epoch of live_columns (2**18 and 2**19 were slower at 10M bars:
# the lines carried over, some 100k at a cut, are ranked again in every epoch)


def epoch_orders(close: np.ndarray) -> np.ndarray:
    """``np.argsort(close[t0:t1])`` of every epoch ``[t0, t1)`` of :data:`EPOCH` bars, one
    after the other (what :func:`live_columns` takes as ``close_order``)."""
    out = np.empty(close.size, int_dtype(EPOCH))
    for t0 in range(0, close.size, EPOCH):
        out[t0:t0 + EPOCH] = np.argsort(close[t0:t0 + EPOCH])
    return out


def _epoch_sweep(s: np.ndarray, e: np.ndarray, price: np.ndarray, close: np.ndarray,
                 close_order: np.ndarray, sign: float, factors: np.ndarray,
                 thr_rank: np.ndarray, cols: tuple[np.ndarray, ...]) -> bool:
    """The sweep of one epoch (bars counted from its first): the lines ranked by price, the
    thresholds ranked by one merge in the order of the closes, then :func:`_live_sweep`."""
    kern = kernels()
    m = s.size
    rank, e_by_rank = np.empty(m, int_dtype(m)), np.empty(m, e.dtype)
    sorted_price = np.empty(m)
    order = np.argsort(price)  # read backwards, it sorts the negated prices of shorts
    kern.by_rank(order if sign > 0 else order[::-1], price, float(sign), e, rank,
                 sorted_price, e_by_rank)
    del order
    kern.bar_ranks(sorted_price, close, float(sign), close_order, factors, thr_rank)
    with np.errstate(over="ignore"):  # the popcount's multiply wraps (as plain Python too)
        return kern.live_sweep(s, e_by_rank, rank, sorted_price, thr_rank, close, float(sign),
                               *cols)


def hit_columns(hit: np.ndarray, lev: np.ndarray, leverages: np.ndarray,
                n: int) -> tuple[np.ndarray, np.ndarray]:
    """Lines hit on each of ``n`` bars, in all and per leverage, in one pass.

    Parameters
    ----------
    hit : numpy.ndarray
        int32 or int64, the bar each line was hit on (``0 <= hit < n``), -1 when none.
    lev : numpy.ndarray
        int64, each line's leverage, one of ``leverages``.
    leverages : numpy.ndarray
        int64, unique: the rows of the second result.

    Returns
    -------
    tuple of numpy.ndarray
        ``(n,)`` and ``(len(leverages), n)``, of :func:`int_dtype` (``len(hit)``).
    """
    hits = np.zeros(n, int_dtype(hit.size))
    by_leverage = np.zeros((len(leverages), n), hits.dtype)
    if not kernels().hit_counts(hit, lev, np.asarray(leverages, dtype=np.int64), hits,
                                by_leverage):
        raise ValueError("hit_columns: a hit off the bars or a leverage not listed")
    return hits, by_leverage


def bar_positions(
    start: np.ndarray, end: np.ndarray, index_ns: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bar positions of lines (``start``, ``end``: int64 ns, NaT as the int64 minimum) on
    the bars opening at ``index_ns`` (int64 ns, ascending), in one pass: ``s`` (first bar
    opening at or after ``start``), ``e`` (likewise for ``end``; ``n`` when NaT or later)
    and ``hit`` (the bar opening exactly at ``end``, -1 if none), of :func:`int_dtype`."""
    n = len(index_ns)
    step = 0
    if n > 1:
        first = int(index_ns[1] - index_ns[0])
        if first > 0 and (np.diff(index_ns) == first).all():
            step = first
    s, e, hit = (np.empty(len(start), int_dtype(n)) for _ in range(3))
    kernels().bar_positions(start, end, index_ns, step, s, e, hit)
    return s, e, hit
