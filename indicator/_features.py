"""Causal per-bar features of the liquidation levels, for backtests.

Every row describes the lines as they stand once that bar has closed, by the rule of SPEC.md
section 2: a line is live after bar ``t`` when ``start <= t`` and (``end`` is NaT or
``end > t``). Nothing in a row depends on a later bar.

The work is vectorised. In bar positions a line is live on ``[s, e)``:

* counts and hits are ``bincount`` + ``cumsum`` over ``s`` and ``e``;
* the nearest live line is a "stabbing maximum": each interval is covered by two blocks of
  length ``2**k`` (a reversed sparse table), maxima are scattered onto their level and pushed
  down one level at a time, ``O(n log n + m)``;
* the counts within ``x`` of the close are exact 2-D dominance counts (live at ``t`` and price
  beyond a threshold that moves with the close): one compiled sweep over the bars with a
  Fenwick tree over price ranks (:mod:`._sweep`, numba). Without numba they fall back to
  numpy: lines that end at their first touch (what :func:`oi_levels` returns; checked) are
  counted by :mod:`._within`, which uses their stack order; any other levels frame takes the
  general count: per coarse block of bars, a bitset of the live lines ranked by price, with
  row snapshots every few bars and a short brute-force tail; see :func:`_count_beyond`.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from . import _sweep, _within
from ._oi import LEVEL_COLUMNS, oi_levels
from ._validate import check_leverages, check_numbers, validate_candles

__all__ = ["features"]

_OI_OPTIONS: tuple[str, ...] = (
    "ma_length", "ma_type", "thresholds", "leverages", "direction", "mmr",
)
_DEFAULT_LEVERAGES: tuple[int, ...] = (5, 10, 25, 50, 100)
_NAT = np.iinfo(np.int64).min

_COARSE = 4096  # bars per coarse block of the within-x counts
_FINE = 4  # bars between two bitset snapshots inside a coarse block
_THREAD_MIN_LINES = 200_000  # below this a second thread costs more than it saves
_ONE = np.uint64(1)


# --------------------------------------------------------------------------- options


def _check_options(options: dict[str, Any], levels_given: bool) -> None:
    for key in options:
        if key not in _OI_OPTIONS:
            close = difflib.get_close_matches(key, (*_OI_OPTIONS, "within", "levels"), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise TypeError(
                f"features() got an unexpected keyword argument {key!r}.{hint} It takes "
                f"within= and the options of oi_levels: {', '.join(_OI_OPTIONS)}"
            )
    if levels_given and options:
        raise ValueError(
            f"options {sorted(options)} only apply when levels is None (features computes "
            f"the levels itself); pass them to oi_levels instead, or drop levels="
        )


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


class _Lines(NamedTuple):
    """A levels frame's columns as arrays: int64 ns times (NaT as int64 min), prices,
    whole leverages and a mask of the short rows."""

    start: np.ndarray
    end: np.ndarray
    price: np.ndarray
    leverage: np.ndarray
    short: np.ndarray


def _lines(levels: pd.DataFrame) -> _Lines:
    """The arrays of a levels frame made by :func:`oi_levels` (no checks)."""
    return _Lines(
        _ns(levels["start"]), _ns(levels["end"]), levels["price"].to_numpy(dtype=np.float64),
        levels["leverage"].to_numpy(dtype=np.int64),
        (levels["side"] == "short").to_numpy(dtype=bool, na_value=False),
    )


def _check_levels(levels: Any) -> _Lines:
    """The levels frame must carry SPEC.md's columns with usable values; returns them."""
    if not isinstance(levels, pd.DataFrame):
        raise TypeError(
            f"levels must be the DataFrame indicator.oi_levels returns, got "
            f"{type(levels).__name__}"
        )
    missing = [c for c in LEVEL_COLUMNS if c not in levels.columns]
    if missing:
        raise ValueError(
            f"levels lacks column(s) {missing}; pass the frame indicator.oi_levels returns "
            f"(columns {list(LEVEL_COLUMNS)})"
        )
    for col in ("start", "end"):
        dtype = levels[col].dtype
        if not isinstance(dtype, pd.DatetimeTZDtype):
            fix = (f"levels[{col!r}].dt.tz_localize('UTC')"
                   if pd.api.types.is_datetime64_dtype(dtype)
                   else f"pd.to_datetime(levels[{col!r}], utc=True)")
            raise TypeError(
                f"levels[{col!r}] must be tz-aware UTC datetimes, got dtype {dtype}; use {fix}"
            )
    return _check_level_values(levels)


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _check_level_values(levels: pd.DataFrame) -> _Lines:
    start, end = _ns(levels["start"]), _ns(levels["end"])
    if (start == _NAT).any():
        raise ValueError(f"levels['start'] is NaT at row {_first(start == _NAT)}; every line "
                         f"needs its trigger bar")
    bad = (end != _NAT) & (end <= start)
    if bad.any():
        row = _first(bad)
        raise ValueError(
            f"levels['end'] ({levels['end'].iloc[row]}) is not after levels['start'] "
            f"({levels['start'].iloc[row]}) at row {row}; a line ends on a later bar or is NaT"
        )
    side = levels["side"]
    short = (side == "short").to_numpy(dtype=bool, na_value=False)
    bad_side = ~(short | (side == "long").to_numpy(dtype=bool, na_value=False))
    if bad_side.any():
        row = _first(bad_side)
        raise ValueError(f"levels['side'] is {side.iloc[row]!r} at row {row}; expected "
                         f"'long' or 'short'")
    price = _numeric(levels, "price")
    bad = ~(price > 0) | ~np.isfinite(price)
    if bad.any():
        row = _first(bad)
        raise ValueError(f"levels['price'] is {price[row].item()!r} at row {row}; it must be a "
                         f"finite price > 0")
    return _Lines(start, end, price, _leverages(levels), short)


def _numeric(levels: pd.DataFrame, col: str) -> np.ndarray:
    try:
        return levels[col].to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"levels[{col!r}] must be numeric, got {levels[col].dtype}") from exc


def _leverages(levels: pd.DataFrame) -> np.ndarray:
    """``levels['leverage']`` as int64, checked to be whole numbers > 1."""
    column = levels["leverage"]
    if pd.api.types.is_integer_dtype(column.dtype) and not column.hasnans:
        values = column.to_numpy(dtype=np.int64)  # integers: only the range to check
        bad = values <= 1
    else:
        values = _numeric(levels, "leverage")
        bad = ~(values > 1) | ~np.isfinite(values) | (values != np.round(values))
    if bad.any():
        row = _first(bad)
        raise ValueError(f"levels['leverage'] is {values[row].item()!r} at row {row}; it must be a "
                         f"whole number > 1")
    return values.astype(np.int64)


def _ns(column: pd.Series) -> np.ndarray:
    """A tz-aware datetime column as int64 epoch nanoseconds (NaT as int64 min)."""
    return column.array.as_unit("ns").asi8


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


# --------------------------------------------------------------------------- within x


def _count_beyond(
    s: np.ndarray, e: np.ndarray, price: np.ndarray, thr: np.ndarray
) -> np.ndarray:
    """``out[t, j]`` = number of lines live at bar ``t`` with ``price >= thr[t, j]``.

    Exact and vectorised. Split the count at bar ``t`` of fine block ``[T2, T2 + F)``:

    * lines live entering the fine block (``s < T2 <= e``) with ``price >= thr``: a suffix
      count in a bitset of the coarse block's candidate lines ranked by price, one bitset row
      per fine block (:func:`_coarse_counts`);
    * plus, for the few lines with a start or an end inside ``[T2, t]``, the change of their
      state, checked one by one (:func:`_fine_counts`).
    """
    out = _fine_counts(s, e, price, thr)
    if s.size:
        out += _coarse_counts(s, e, price, thr)
    return out


def _fine_counts(s: np.ndarray, e: np.ndarray, price: np.ndarray, thr: np.ndarray) -> np.ndarray:
    """``[s <= t < e] - [s < T2 <= e]`` summed over lines with ``price >= thr[t]``, where
    ``T2`` is the start of ``t``'s fine block: +1 from a start to the end of its fine block
    (or to the line's end), -1 from an end to the end of its fine block for lines that were
    live entering it."""
    n, nx = thr.shape
    f = _FINE
    out = np.zeros((n, nx), dtype=np.int64)
    ends_inside = (e < n) & (s < e - e % f)
    e_in = e[ends_inside]
    lo = np.concatenate([s, e_in])
    hi = np.minimum(np.concatenate([np.minimum(e, s - s % f + f), e_in - e_in % f + f]), n)
    sign = np.concatenate([np.ones(s.size), -np.ones(int(ends_inside.sum()))])
    p = np.concatenate([price, price[ends_inside]])
    nfb = -(-n // f)
    padded = np.full((nfb * f, nx), np.inf)
    padded[:n] = thr
    keep = p >= padded.reshape(nfb, f * nx).min(axis=1)[lo // f]
    lo, hi, sign, p = lo[keep], hi[keep], sign[keep], p[keep]
    length = hi - lo
    rep = np.repeat(np.arange(lo.size), length)
    t = np.arange(int(length.sum())) - np.repeat(np.cumsum(length) - length - lo, length)
    p, sign = p[rep], sign[rep]
    for j in range(nx):
        out[:, j] = np.bincount(t, weights=sign * (p >= thr[:, j][t]), minlength=n)[:n]
    return out


def _coarse_counts(s: np.ndarray, e: np.ndarray, price: np.ndarray, thr: np.ndarray) -> np.ndarray:
    """Per coarse block: lines live entering each fine block, with ``price >= thr[t]``.

    ``alive`` is a bitset over all lines ranked by price (global ranks): the lines live
    entering the current coarse block. Only lines priced at or above the block's lowest
    threshold can count; they form the block's universe ``U`` (ranked again, locally).
    """
    n, nx = thr.shape
    events = _within.block_events(s, e, price, n, _COARSE)
    alive = np.zeros((price.size >> 6) + 2, dtype=np.uint64)
    out = np.empty((n, nx), dtype=np.int64)
    for b in range(-(-n // _COARSE)):
        lo, hi = b * _COARSE, min(b * _COARSE + _COARSE, n)
        block_thr = thr[lo:hi]
        floor_rank = int(np.searchsorted(events.sorted_price, block_thr.min(), "left"))
        universe, entering = _universe(
            alive, floor_rank, events.rank[events.born(b)], events.order
        )
        rows = _rows(universe, entering, s, e, lo, hi)
        out[lo:hi] = _query(rows, price[universe], block_thr)
        events.advance(alive, b)
    return out


def _universe(
    alive: np.ndarray, floor_rank: int, born_ranks: np.ndarray, order: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The block's candidate lines (indices, ascending price) and which were live entering."""
    entering = _within.set_bits_between(alive, floor_rank, alive.size * 64)
    born = np.sort(born_ranks[born_ranks >= floor_rank])
    ranks = np.concatenate([entering * 2 + 1, born * 2])
    ranks.sort()
    return order[ranks >> 1], (ranks & 1).astype(bool)


def _rows(
    universe: np.ndarray, entering: np.ndarray, s: np.ndarray, e: np.ndarray, lo: int, hi: int
) -> np.ndarray:
    """Bitset rows over the universe: row ``r`` holds the lines live entering fine block
    ``r`` (``s < lo + r*F <= e``), built by toggling at starts and ends then XOR-cumulating."""
    nrows = -(-(hi - lo) // _FINE)
    words = (universe.size >> 6) + 1
    rows = np.zeros((nrows, words), dtype=np.uint64)
    local = np.arange(universe.size)
    first = local[entering]
    np.bitwise_or.at(rows[0], first >> 6, _within.bit(first))
    us, ue = s[universe], e[universe]
    row_s = np.where(us >= lo, (us - lo) // _FINE + 1, nrows)
    row_e = np.where(ue < hi, (ue - lo) // _FINE + 1, nrows)
    row = np.concatenate([row_s, row_e])
    who = np.concatenate([local, local])
    ok = row < nrows
    np.bitwise_xor.at(rows, (row[ok], who[ok] >> 6), _within.bit(who[ok]))
    np.bitwise_xor.accumulate(rows, axis=0, out=rows)
    return rows


def _query(rows: np.ndarray, universe_price: np.ndarray, block_thr: np.ndarray) -> np.ndarray:
    """Lines of each bar's row ranked at or above its threshold: the row's total minus the
    popcount of the bits below the threshold's rank in the universe."""
    nrows, words = rows.shape
    nbars, nx = block_thr.shape
    below = np.zeros((nrows, words + 1), dtype=np.int32)
    np.cumsum(np.bitwise_count(rows), axis=1, out=below[:, 1:])
    rank = np.empty((nbars, nx), dtype=np.int64)
    for j in range(nx):  # sorted keys make searchsorted several times faster
        perm = np.argsort(block_thr[:, j])
        rank[perm, j] = np.searchsorted(universe_price, block_thr[perm, j], "left")
    rank = rank.ravel()
    row = np.repeat(np.arange(nbars) // _FINE, nx)
    word = rank >> 6
    low_bits = np.left_shift(_ONE, (rank & 63).astype(np.uint64)) - _ONE
    partial = np.bitwise_count(rows[row, word] & low_bits)
    return (below[row, words] - below[row, word] - partial).reshape(nbars, nx)


# --------------------------------------------------------------------------- assembly


def _side_features(
    start: np.ndarray, end: np.ndarray, price: np.ndarray, lev: np.ndarray,
    index_ns: np.ndarray, close: np.ndarray, kill: np.ndarray, within: tuple[float, ...],
    leverages: Sequence[int], short: bool,
) -> dict[str, np.ndarray]:
    """One side's columns from its lines' ``start`` and ``end`` (int64 ns). ``kill`` is the
    series that touches this side's lines, in the side's sign: ``low`` for longs, ``-high``
    for shorts (a line at ``p`` is touched when ``kill <= sign * p``)."""
    n = close.size
    s, e, hit = _bar_positions(start, end, index_ns)
    name = "short" if short else "long"
    sign = -1.0 if short else 1.0
    live = s < e
    s_l, e_l, p_l = s[live], e[live], price[live]
    nearest = sign * _live_max(s_l, e_l, sign * p_l, n)
    nearest[np.isinf(nearest)] = np.nan
    cols: dict[str, np.ndarray] = {
        f"{name}_active": _active(s_l, e_l, n),
        f"nearest_{name}": nearest,
        f"{name}_dist": sign * (close - nearest) / close,
        f"{name}_hit": _hits(hit, n),
    }
    if within:
        factors = 1.0 - sign * np.asarray(within)
        base = sign * close
        if _sweep.AVAILABLE:  # one compiled sweep, any levels frame
            counts = _sweep.count_beyond(s_l, e_l, sign * p_l, base, factors)
        elif _within.ends_at_first_touch(s_l, e_l, sign * p_l, kill):
            counts = _within.count_beyond_touched(s_l, e_l, sign * p_l, base, factors, kill)
        else:  # lines not ended by this price series: the general (slower) count
            counts = _count_beyond(s_l, e_l, sign * p_l, base[:, None] * factors[None, :])
            counts = np.ascontiguousarray(counts.T)
        for j, x in enumerate(within):
            cols[f"{name}_within_{_pct(x)}"] = counts[j]
    for lv, counts in zip(leverages, _hits_by_leverage(hit, lev, leverages, n), strict=True):
        cols[f"{name}_hit_{lv}x"] = counts
    return cols


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


def features(
    candles: pd.DataFrame,
    levels: pd.DataFrame | None = None,
    *,
    within: Sequence[float] = (0.01, 0.02, 0.05),
    **options: Any,
) -> pd.DataFrame:
    """Per-bar liquidation-level features, each row as known when that bar closes.

    Parameters
    ----------
    candles : pandas.DataFrame
        Bars as :func:`oi_levels` takes them (UTC ``DatetimeIndex`` of bar open times;
        ``open, high, low, close`` in price units, ``volume``, ``open_interest``).
    levels : pandas.DataFrame, optional
        A levels frame with SPEC.md's columns (what :func:`oi_levels` returns). ``None``
        computes ``oi_levels(candles, **options)``.
    within : sequence of float, default (0.01, 0.02, 0.05)
        Distances from the close, as fractions (0.01 = 1%), for the ``*_within_*`` counts;
        ``()`` skips them (they are the costly part).
    **options
        ``ma_length, ma_type, thresholds, leverages, direction, mmr``: passed to
        :func:`oi_levels` when ``levels`` is ``None``.

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

    Raises
    ------
    TypeError, ValueError
        Bad candles, a bad or misspelt option, options given with ``levels``, or a levels
        frame without SPEC.md's columns, naming the first bad row.

    Notes
    -----
    A row never uses a later bar, so ``features(candles.iloc[:k])`` equals the first ``k``
    rows of ``features(candles)``. Trade on the next bar (e.g. at its open) to stay causal.
    """
    _check_options(options, levels is not None)
    within = _check_within(within)
    cols = validate_candles(candles)
    if levels is None:
        levels = oi_levels(candles, **options)
        leverages = sorted(set(check_leverages(options.get("leverages", _DEFAULT_LEVERAGES))))
        lines = _lines(levels)
    else:
        lines = _check_levels(levels)
        leverages = sorted(int(v) for v in pd.unique(lines.leverage))
    index = candles.index
    index_ns = index.as_unit("ns").asi8
    longs, shorts = _sides(lines.short)
    jobs = [
        (lines.start[m], lines.end[m], lines.price[m], lines.leverage[m], index_ns,
         cols["close"], kill, within, leverages, is_short)
        for is_short, m, kill in ((False, longs, cols["low"]), (True, shorts, -cols["high"]))
    ]
    if len(levels) < _THREAD_MIN_LINES:
        sides = [_side_features(*job) for job in jobs]
    else:  # the two sides on two threads: numpy releases the GIL in the heavy loops
        with ThreadPoolExecutor(max_workers=2) as pool:
            short_side = pool.submit(_side_features, *jobs[1])
            sides = [_side_features(*jobs[0]), short_side.result()]
    return _assemble(*sides, index, within, leverages)
