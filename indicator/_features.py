"""Causal per-bar features of the liquidation levels, for backtests.

Every row describes the lines as they stand once that bar has closed, by the rule of
docs/method.md section 2: a line is live after bar ``t`` when ``start <= t`` and (``end`` is NaT or
``end > t``). Nothing in a row depends on a later bar.

In bar positions a line is live on ``[s, e)``. With the ``*_within_*`` counts asked for
(numba loaded anyway), the kernels of :mod:`._sweep` do the work:

* positions and hits in one pass each;
* lines that end at their first touch (any frame :func:`oi_levels` makes) end from the top,
  so one sweep per side pops the highest live line while it ends on this bar and gives the
  live counts, the nearest line and the within-x counts at once (bits over price ranks,
  thresholds ranked by one merge in the order of the closes);
* any other levels frame takes the general path: exact 2-D dominance counts by a Fenwick
  tree over price ranks (compiled by numba, or the same code as plain Python with a warning
  where numba cannot be imported), the nearest line as a "stabbing maximum" (each interval
  covered by two blocks of length ``2**k``, maxima scattered on their level and pushed down
  one level at a time, ``O(n log n + m)``), counts and hits by ``bincount`` + ``cumsum``.

Without the counts (``within=()``) the general vectorised path runs, without numba.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from ..vocab import Direction, MaType
from . import _sweep
from ._frames import OILevels, check_levels, level_arrays
from ._oi import oi_levels
from ._options import OIOptions, resolve_options
from ._validate import check_keywords, check_numbers, validate_candles

__all__ = ["features"]

_NAT = np.iinfo(np.int64).min
_THREAD_MIN_LINES = 200_000  # below this a second thread costs more than it saves


# --------------------------------------------------------------------------- options


def _options_for(
    levels: pd.DataFrame | None, options: OIOptions | None, given: dict[str, Any]
) -> OIOptions:
    """The checked options; with ``levels`` none may be set (they would be ignored)."""
    opts = resolve_options(options, "features", **given)
    if levels is not None and (options is not None or opts.changed()):
        what = "the options in options=" if options is not None else f"options {opts.changed()}"
        raise ValueError(
            f"{what} only apply when levels is None (features computes the levels itself); "
            f"pass them to oi_levels instead, or drop levels="
        )
    return opts


def _check_within(within: Any) -> tuple[float, ...]:
    out: list[float] = []
    for i, x in enumerate(check_numbers(within, "within", "(0.01, 0.05)")):
        if not 0 < x < 1:
            raise ValueError(f"within[{i}]={x!r} must be a fraction in (0, 1): 0.01 means 1%")
        out.append(float(x))
    labels = [_pct(x) for x in out]
    if len(set(labels)) != len(labels):
        raise ValueError(f"within={tuple(out)} repeats a distance; list each once")
    return tuple(out)


def _pct(x: float) -> str:
    """Column label of a distance: 0.01 -> "1pct", 0.005 -> "0.5pct"."""
    return f"{x * 100:g}pct"


# --------------------------------------------------------------------------- levels


# What features reads of a levels frame: OI levels (trade levels have no end).
_LINE_COLUMNS: tuple[str, ...] = ("start", "end", "side", "leverage", "price")


def _positions(index_ns: np.ndarray, times: np.ndarray) -> np.ndarray:
    """For each time, the first bar position whose open time is ``>= time`` (``n`` if none)."""
    n = len(index_ns)
    if n > 1:
        step = index_ns[1] - index_ns[0]
        if step > 0 and (np.diff(index_ns) == step).all():
            pos = -((index_ns[0] - times) // step)  # ceil((times - t0) / step)
            return np.clip(pos, 0, n)
    return np.searchsorted(index_ns, times, "left")


def _bar_positions(
    start: np.ndarray, end: np.ndarray, index_ns: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bar positions of lines given their ``start`` and ``end`` (int64 ns, NaT as int64 min):
    ``s`` (first live bar), ``e`` (first bar no longer live, ``n`` when never) and ``hit``
    (the bar whose time equals ``end``, -1 if none)."""
    n = len(index_ns)
    s = _positions(index_ns, start)
    open_ = end == _NAT
    e = np.where(open_, n, _positions(index_ns, np.where(open_, start, end)))
    found = ~open_ & (e < n)
    hit = np.where(found, e, -1)
    hit[found] = np.where(index_ns[e[found]] == end[found], e[found], -1)
    return s, e, hit


def _sides(short: np.ndarray) -> tuple[slice | np.ndarray, slice | np.ndarray]:
    """Selectors of the long and the short rows: strided slices (no copies) when the rows
    alternate long, short as :func:`oi_levels` orders them, boolean masks otherwise."""
    if short.size % 2 == 0 and not short[0::2].any() and short[1::2].all():
        return slice(0, None, 2), slice(1, None, 2)
    return ~short, short


# --------------------------------------------------------------------------- counts


def _active(s: np.ndarray, e: np.ndarray, n: int) -> np.ndarray:
    """Lines live at each bar: +1 at ``s``, -1 at ``e``, cumulated."""
    delta = np.bincount(s, minlength=n + 1)[: n + 1] - np.bincount(e, minlength=n + 1)[: n + 1]
    return np.cumsum(delta[:n])


def _hits(hit: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(hit[hit >= 0], minlength=n)[:n]


def _hits_by_leverage(
    hit: np.ndarray, lev: np.ndarray, leverages: Sequence[int], n: int
) -> list[np.ndarray]:
    """Lines of each leverage hit on each bar; the lines never hit are dropped first."""
    was_hit = hit >= 0
    hit, lev = hit[was_hit], lev[was_hit]
    return [np.bincount(hit[lev == lv], minlength=n)[:n] for lv in leverages]


# --------------------------------------------------------------------------- nearest


def _level_of(length: np.ndarray) -> np.ndarray:
    """``floor(log2(length))`` for positive int64 lengths, exactly."""
    k = np.log2(length).astype(np.int64)
    k -= (np.left_shift(1, k) > length).astype(np.int64)
    k += (np.left_shift(1, k + 1) <= length).astype(np.int64)
    return k


def _live_max(s: np.ndarray, e: np.ndarray, price: np.ndarray, n: int) -> np.ndarray:
    """The highest price among the lines live at each bar, ``-inf`` where none is.

    Each interval ``[s, e)`` is the union of the two blocks ``[s, s + 2**k)`` and
    ``[e - 2**k, e)`` with ``k = floor(log2(e - s))``. Maxima are scattered on level ``k``;
    walking down, a block at ``q`` on level ``k`` hands its maximum to ``q`` and ``q + 2**(k-1)``
    on level ``k - 1``. Level 0 is then the answer.
    """
    out = np.full(n, -np.inf)
    if s.size == 0:
        return out
    k = _level_of(e - s)
    order = np.argsort(k.astype(np.int8), kind="stable")
    bounds = np.searchsorted(k[order], np.arange(int(k.max()) + 2))
    for lev in range(int(k.max()), -1, -1):
        sel = order[bounds[lev]: bounds[lev + 1]]
        if sel.size:
            np.maximum.at(out, s[sel], price[sel])
            np.maximum.at(out, e[sel] - (1 << lev), price[sel])
        if lev:
            half = 1 << (lev - 1)
            np.maximum(out[half:], out[:-half], out=out[half:])
    return out


# --------------------------------------------------------------------------- assembly


def _side_features(
    start: np.ndarray, end: np.ndarray, price: np.ndarray, lev: np.ndarray,
    index_ns: np.ndarray, close: np.ndarray, within: tuple[float, ...],
    leverages: Sequence[int], short: bool,
    close_order: np.ndarray | Callable[[], np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """One side's columns from its lines' ``start`` and ``end`` (int64 ns).

    With ``within`` and numba, the compiled kernels of :mod:`._sweep`: positions in one
    pass, one sweep for the live counts, the nearest line and the within-x counts of lines
    that end top first (any frame :func:`oi_levels` makes), one pass for the hit counts.
    Otherwise (no counts asked for, numba missing, or other levels frames) the general
    path: vectorised numpy, and the Fenwick sweep for the counts (as plain Python without
    numba: the one-sweep kernel would be slower there, its bit operations on numpy scalars).
    """
    n = close.size
    fast = bool(within) and _sweep.kernels().compiled
    s, e, hit = (_sweep.bar_positions if fast else _bar_positions)(start, end, index_ns)
    name = "short" if short else "long"
    sign = -1.0 if short else 1.0
    live = s < e
    if not live.all():
        s, e, price = s[live], e[live], price[live]
    # shorts in negated prices: "price <= close * (1 + x)" as ">=" of negatives
    factors = 1.0 - sign * np.asarray(within)
    swept = _sweep.live_columns(s, e, price, close, sign, factors, close_order) if fast else None
    if swept is not None:
        cols = {f"{name}_active": swept.active, f"nearest_{name}": swept.nearest,
                f"{name}_dist": swept.dist}
        counts = swept.counts
    else:  # the general path counts in int64: its columns take the kernels' count dtype
        count = _sweep.int_dtype(len(start))
        cols = _nearest_columns(s, e, price, close, n, name, sign)
        cols[f"{name}_active"] = cols[f"{name}_active"].astype(count)
        if within:
            counts = _sweep.count_beyond(s, e, sign * price, sign * close, factors).astype(count)
    # The hit counts after the sweep: their 6 columns do not meet its temporaries.
    if fast:
        cols[f"{name}_hit"], by_leverage = _sweep.hit_columns(hit, lev, np.asarray(leverages), n)
    else:
        cols[f"{name}_hit"] = _hits(hit, n).astype(count)
        by_leverage = [c.astype(count) for c in _hits_by_leverage(hit, lev, leverages, n)]
    for j, x in enumerate(within):
        cols[f"{name}_within_{_pct(x)}"] = counts[j]
    for lv, by_lev in zip(leverages, by_leverage, strict=True):
        cols[f"{name}_hit_{lv}x"] = by_lev
    return cols


def _nearest_columns(
    s: np.ndarray, e: np.ndarray, price: np.ndarray, close: np.ndarray, n: int, name: str,
    sign: float,
) -> dict[str, np.ndarray]:
    """``active``, ``nearest`` and ``dist`` of one side's live lines, vectorised."""
    nearest = sign * _live_max(s, e, sign * price, n)
    nearest[np.isinf(nearest)] = np.nan
    return {
        f"{name}_active": _active(s, e, n),
        f"nearest_{name}": nearest,
        f"{name}_dist": sign * (close - nearest) / close,
    }


_ORDER = ("{}_active", "nearest_{}", "{}_dist", "{}_hit")


def _assemble(
    long: dict[str, np.ndarray], short: dict[str, np.ndarray], index: pd.Index,
    within: tuple[float, ...], leverages: Sequence[int],
) -> pd.DataFrame:
    both = {**long, **short}
    names: list[str] = []
    for pattern in _ORDER:
        names += [pattern.format("long"), pattern.format("short")]
    for side in ("long", "short"):
        names += [f"{side}_within_{_pct(x)}" for x in within]
    for side in ("long", "short"):
        names += [f"{side}_hit_{lv}x" for lv in leverages]
    return pd.DataFrame({k: both[k] for k in names}, index=index, copy=False)


@check_keywords
def features(
    candles: pd.DataFrame,
    levels: OILevels | None = None,
    *,
    within: Sequence[float] = (0.01, 0.02, 0.05),
    ma_length: int = 60,
    ma_type: MaType = "sma",
    thresholds: Sequence[float] = (1.2, 2.0, 3.0),
    leverages: Sequence[int] = (5, 10, 25, 50, 100),
    direction: Direction = "increase",
    mmr: float = 0.0,
    options: OIOptions | None = None,
) -> pd.DataFrame:
    """Per-bar liquidation-level features, each row as known when that bar closes.

    Parameters
    ----------
    candles : pandas.DataFrame
        Bars as :func:`oi_levels` takes them (UTC ``DatetimeIndex`` of bar open times;
        ``open, high, low, close`` in price units, ``volume``, ``open_interest``).
    levels : pandas.DataFrame, optional
        An OI levels frame (docs/method.md section 1; what :func:`oi_levels` returns).
        ``None`` computes ``oi_levels(candles, ...)`` with the options below.
    within : sequence of float, default (0.01, 0.02, 0.05)
        Distances from the close, as fractions (0.01 = 1%), for the ``*_within_*`` counts;
        ``()`` skips them (they are the costly part).
    ma_length, ma_type, thresholds, leverages, direction, mmr
        The options of :func:`oi_levels` (bars, average kind, baseline multiples, leverages,
        trigger sign, maintenance margin rate), used when ``levels`` is ``None``; with a
        levels frame they must keep their defaults.
    options : OIOptions, optional
        The same six options in one checked object, in place of the keywords.

    Returns
    -------
    pandas.DataFrame
        On ``candles.index``. A line is live after bar ``t`` when ``start <= t`` and
        (``end`` is NaT or ``end > t``). For each side (``long``, ``short``):

        * ``long_active`` (int): live long lines;
        * ``nearest_long`` (price): the highest live long line; ``nearest_short``: the lowest
          live short line; NaN when none is live;
        * ``long_dist = (close - nearest_long) / close``, ``short_dist = (nearest_short -
          close) / close`` (fractions; NaN when none; negative only on the rare trigger bar
          whose own wick crossed its line);
        * ``long_hit`` (int): long lines whose ``end`` is this bar (touched during it);
        * ``long_within_1pct`` ... (int): live long lines with ``price >= close * (1 - x)``;
          ``short_within_1pct`` ...: live short lines with ``price <= close * (1 + x)``;
        * ``long_hit_5x`` ... (int): long lines of that leverage whose ``end`` is this bar,
          one column per leverage (the ``leverages`` option when the levels are computed
          here, else those found in ``levels``; ascending).

        The counts (``*_active``, ``*_hit*``, ``*_within_*``) are int32 (int64 from 2**31
        lines on: no count can exceed the lines), half the memory of int64 at 10M bars.

    Raises
    ------
    TypeError, ValueError
        Bad candles, a bad or misspelt option, options given with ``levels`` (or both as
        keywords and in ``options``), or a levels frame without the columns of
        docs/method.md section 1, naming the first bad row.

    Warns
    -----
    NumbaMissingWarning
        numba cannot be imported: the ``*_within_*`` counts run as plain Python (the same
        numbers, far slower).

    Notes
    -----
    A row never uses a later bar, so ``features(candles.iloc[:k])`` equals the first ``k``
    rows of ``features(candles)``. Trade on the next bar (e.g. at its open) to stay causal.
    """
    opts = _options_for(levels, options, dict(
        ma_length=ma_length, ma_type=ma_type, thresholds=thresholds, leverages=leverages,
        direction=direction, mmr=mmr))
    within = _check_within(within)
    cols = validate_candles(candles)
    if within:
        _sweep.warn_if_uncompiled(stacklevel=3)  # 1 here, 2 check_keywords, 3 the caller
    if levels is None:
        levels = oi_levels(candles, options=opts)
        leverages = sorted(set(opts.leverages))
        lines = level_arrays(levels, _LINE_COLUMNS)
    else:
        lines = check_levels(levels, _LINE_COLUMNS)
        leverages = sorted(int(v) for v in pd.unique(lines.leverage))
    index = candles.index
    index_ns = index.as_unit("ns").asi8
    longs, shorts = _sides(lines.short)
    sweep = bool(within) and _sweep.kernels().compiled
    jobs = [
        (lines.start[m], lines.end[m], lines.price[m], lines.leverage[m], index_ns,
         cols["close"], within, leverages, is_short)
        for is_short, m in ((False, longs), (True, shorts))
    ]
    if len(levels) < _THREAD_MIN_LINES:
        close_order = _sweep.epoch_orders(cols["close"]) if sweep else None  # both sides
        sides = [_side_features(*job, close_order) for job in jobs]
    else:  # the two sides on two threads: numpy releases the GIL in the heavy loops
        with ThreadPoolExecutor(max_workers=2) as pool:
            # one order of the closes for both sides, sorted while they rank their lines
            order = pool.submit(_sweep.epoch_orders, cols["close"]) if sweep else None
            close_order = order.result if order is not None else None
            short_side = pool.submit(_side_features, *jobs[1], close_order)
            sides = [_side_features(*jobs[0], close_order), short_side.result()]
    return _assemble(*sides, index, within, leverages)
