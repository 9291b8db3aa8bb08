"""The OI-delta method of docs/method.md section 1 ("Liquidation Levels on OI"), vectorised."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pyarrow as pa

from ..vocab import Direction, MaType
from . import _ends
from ._frames import LEVEL_COLUMNS, STR, OILevels, empty_frame, liquidation_factors, utc_times
from ._ma import moving_average
from ._options import OIOptions, resolve_options
from ._search import first_at_or_below
from ._validate import check_keywords, validate_candles

__all__ = ["LEVEL_COLUMNS", "SIGNAL_COLUMNS", "oi_levels", "oi_signals"]

SIGNAL_COLUMNS: tuple[str, ...] = ("oi_delta", "baseline", "tier", "trigger", "entry")

_THREAD_MIN_LINES = 200_000  # below this a second thread costs more than it saves
# From this many lines on, the compiled linear passes of :mod:`._ends` (loading numba costs
# some 0.3 s once per process; below this the numpy search is as fast as that load is slow).
_COMPILED_MIN_LINES = 200_000


def _signals(
    cols: dict[str, np.ndarray], opts: OIOptions
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per bar: ``oi_delta``, ``baseline``, ``tier`` (int8) and the trigger mask."""
    oi = cols["open_interest"]
    delta = np.empty(len(oi))
    delta[:1] = np.nan
    np.subtract(oi[1:], oi[:-1], out=delta[1:])
    magnitude = np.abs(delta)
    baseline = moving_average(magnitude, opts.ma_length, opts.ma_type, volume=cols["volume"])
    tier = np.zeros(len(oi), dtype=np.int8)
    for k in opts.thresholds:
        tier += magnitude > k * baseline  # NaN compares False: no signal
    if opts.direction == "increase":
        wanted = delta > 0
    elif opts.direction == "decrease":
        wanted = delta < 0
    else:
        wanted = delta != 0
    return delta, baseline, tier, (tier >= 1) & wanted


@check_keywords
def oi_signals(
    candles: pd.DataFrame,
    *,
    ma_length: int = 60,
    ma_type: MaType = "sma",
    thresholds: Sequence[float] = (1.2, 2.0, 3.0),
    direction: Direction = "increase",
    options: OIOptions | None = None,
) -> pd.DataFrame:
    """The per-bar quantities behind :func:`oi_levels` (docs/method.md 1.1 to 1.5).

    Parameters are those of :func:`oi_levels`; of an ``options`` object only ``ma_length,
    ma_type, thresholds, direction`` matter here (leverages and ``mmr`` place the lines).

    Returns
    -------
    pandas.DataFrame
        On ``candles.index``: ``oi_delta`` (signed OI change, OI units), ``baseline`` (its
        moving average of ``|oi_delta|``), ``tier`` (int, 0 to ``len(thresholds)``),
        ``trigger`` (bool: the bar draws lines) and ``entry`` (``(o+h+l+c)/4``, price).
    """
    opts = resolve_options(options, "oi_signals", ma_length=ma_length, ma_type=ma_type,
                           thresholds=thresholds, direction=direction)
    cols = validate_candles(candles)
    delta, baseline, tier, trigger = _signals(cols, opts)
    entry = (cols["open"] + cols["high"] + cols["low"] + cols["close"]) / 4
    return pd.DataFrame(
        {
            "oi_delta": delta,
            "baseline": baseline,
            "tier": tier.astype(np.int64),
            "trigger": trigger,
            "entry": entry,
        },
        index=candles.index,
    )


def _side_column(rows: int) -> pd.Series:
    """``rows`` side strings alternating "long", "short", as pandas' default string dtype.

    Built straight from Arrow buffers (offsets 0, 4, 9, 13, ... into "longshortlongshort..."):
    a million rows take milliseconds instead of the ~0.3 s that Python strings would. The
    offsets are int64 (``large_string``), the type pandas keeps, so it does not cast (a
    second copy of the offsets, 110 MB at 10M bars).
    """
    pairs = -(-rows // 2)
    offsets = np.empty(2 * pairs + 1, dtype=np.int64)
    np.multiply(np.arange(pairs + 1, dtype=np.int64), 9, out=offsets[0::2])
    np.add(offsets[:-1:2], 4, out=offsets[1::2])
    arrow = pa.LargeStringArray.from_buffers(
        rows, pa.py_buffer(offsets[: rows + 1]), pa.py_buffer(b"longshort" * pairs)
    )
    return pd.Series(arrow, dtype=STR, copy=False)


@check_keywords
def oi_levels(
    candles: pd.DataFrame,
    *,
    ma_length: int = 60,
    ma_type: MaType = "sma",
    thresholds: Sequence[float] = (1.2, 2.0, 3.0),
    leverages: Sequence[int] = (5, 10, 25, 50, 100),
    direction: Direction = "increase",
    mmr: float = 0.0,
    options: OIOptions | None = None,
) -> OILevels:
    """Liquidation lines from abnormal open-interest changes (docs/method.md section 1).

    Parameters
    ----------
    candles : pandas.DataFrame
        Bars on a tz-aware UTC ``DatetimeIndex`` (bar open time), with float columns
        ``open, high, low, close`` (price), ``volume`` and ``open_interest`` (coins or
        contracts at the bar's close; NaN when missing).
    ma_length : int, default 60
        Bars in the baseline window of ``|oi_delta|``, the current bar included.
    ma_type : {"sma", "ema", "wma", "vwma"}, default "sma"
        Baseline average (Pine semantics; ``"vwma"`` weights by ``volume``).
    thresholds : sequence of float, default (1.2, 2.0, 3.0)
        Strictly increasing multiples of the baseline for tiers 1, 2, 3, ...
    leverages : sequence of int, default (5, 10, 25, 50, 100)
        Leverages ``L > 1``; each gives a long and a short line per trigger, in this order.
    direction : {"increase", "decrease", "both"}, default "increase"
        Which OI changes trigger: rises (positions opened), falls, or either.
    mmr : float, default 0.0
        Maintenance margin rate (0.004 = 0.4%), ``0 <= mmr < 1/L`` for every ``L``.
    options : OIOptions, optional
        All six options in one checked object, in place of the keywords (which must then
        keep their defaults).

    Returns
    -------
    pandas.DataFrame
        One row per line, ordered by ``start``, then leverage (given order), long before
        short: ``start`` and ``end`` (datetime64[ns, UTC]; ``end`` is the first later bar
        whose low/high touches the line, NaT while untouched), ``side`` ("long"/"short"),
        ``leverage`` (int), ``price`` (liquidation price), ``entry`` ((o+h+l+c)/4 of the
        trigger bar), ``tier`` (int) and ``oi_delta`` (the trigger bar's signed OI change).

    Raises
    ------
    TypeError, ValueError
        Bad candles (see :func:`validate_candles`), a bad or misspelt option, naming it, or
        ``options`` together with keyword options.
    """
    opts = resolve_options(options, "oi_levels", ma_length=ma_length, ma_type=ma_type,
                           thresholds=thresholds, leverages=leverages, direction=direction,
                           mmr=mmr)
    cols = validate_candles(candles)
    delta, baseline, tier, trigger = _signals(cols, opts)
    bars = np.flatnonzero(trigger)
    del baseline, trigger
    if bars.size == 0:
        return empty_frame("oi_levels")
    # Only the trigger bars' values go on: the per-bar signals (9 bytes a bar) are freed
    # before the lines' columns are allocated.
    delta, tier = delta[bars], tier[bars]
    return _lines(candles.index, cols, bars, delta, tier, opts.leverages, opts.mmr)


def _lines(
    index: pd.DatetimeIndex,
    cols: dict[str, np.ndarray],
    bars: np.ndarray,
    delta: np.ndarray,
    tier: np.ndarray,
    levs: tuple[int, ...],
    mmr: float,
) -> pd.DataFrame:
    """Assemble the levels frame for trigger bar positions ``bars`` (``delta`` and ``tier``:
    the trigger bars' OI change and tier, one per trigger).

    Rows alternate long, short: the even rows are the longs, the odd ones the shorts, so each
    side is a strided view. Large inputs take the compiled passes of :mod:`._ends`; small
    ones, and any process without numba, the vectorised numpy search (the same frame).
    """
    entry = (cols["open"][bars] + cols["high"][bars] + cols["low"][bars] + cols["close"][bars]) / 4
    factors = liquidation_factors(levs, mmr).ravel()  # long, short for each leverage
    if len(bars) * len(factors) >= _COMPILED_MIN_LINES:
        kernels = _ends.kernels()
        if kernels.compiled:
            return _lines_compiled(kernels, index, cols, bars, delta, tier, levs, entry, factors)
    return _lines_numpy(index, cols, bars, delta, tier, levs, entry, factors)


def _lines_compiled(
    kernels: _ends.EndKernels,
    index: pd.DatetimeIndex,
    cols: dict[str, np.ndarray],
    bars: np.ndarray,
    delta: np.ndarray,
    tier: np.ndarray,
    levs: tuple[int, ...],
    entry: np.ndarray,
    factors: np.ndarray,
) -> pd.DataFrame:
    """:func:`_lines` by the kernels of :mod:`._ends`: the columns written in one pass over
    the triggers, then one backward sweep per side (on two threads for large inputs)."""
    rows = len(bars) * len(factors)
    index_ns = index.as_unit("ns").asi8
    start, leverage, end_ns, tier_col = (np.empty(rows, np.int64) for _ in range(4))
    price, entry_col, delta_col = (np.empty(rows, np.float64) for _ in range(3))
    kernels.fixed_columns(index_ns, bars, delta, tier, np.array(levs, dtype=np.int64), entry,
                          factors, start, leverage, price, entry_col, tier_col, delta_col)
    # A long line is touched by a low at or below it, a short line by a high at or above it.
    sides = ((cols["low"], False, price[0::2], end_ns[0::2]),
             (cols["high"], True, price[1::2], end_ns[1::2]))
    if rows < _THREAD_MIN_LINES:
        for values, negate, side_price, side_end in sides:
            kernels.side_ends(values, negate, bars, side_price, len(levs), index_ns, side_end)
    else:
        with ThreadPoolExecutor(max_workers=1) as pool:
            values, negate, side_price, side_end = sides[1]
            short = pool.submit(kernels.side_ends, values, negate, bars, side_price, len(levs),
                                index_ns, side_end)
            values, negate, side_price, side_end = sides[0]
            kernels.side_ends(values, negate, bars, side_price, len(levs), index_ns, side_end)
            short.result()
    return pd.DataFrame(
        {
            "start": utc_times(start),
            "end": utc_times(end_ns),
            "side": _side_column(rows),
            "leverage": leverage,
            "price": price,
            "entry": entry_col,
            "tier": tier_col,
            "oi_delta": delta_col,
        },
        copy=False,  # the arrays are fresh: keep one block per column, no consolidating copy
    )


def _lines_numpy(
    index: pd.DatetimeIndex,
    cols: dict[str, np.ndarray],
    bars: np.ndarray,
    delta: np.ndarray,
    tier: np.ndarray,
    levs: tuple[int, ...],
    entry: np.ndarray,
    factors: np.ndarray,
) -> pd.DataFrame:
    """:func:`_lines` by the vectorised search of :mod:`._search`, the line ends of both
    sides on two threads for large inputs (numpy releases the GIL in its gathers and
    comparisons) while this thread builds the columns that do not depend on them."""
    price = (entry[:, None] * factors[None, :]).ravel()
    after = np.repeat(bars + 1, len(levs))
    # A long line is touched by a low at or below it, a short line by a high at or above it.
    sides = ((cols["low"], price[0::2], False), (cols["high"], price[1::2], True))
    if len(after) < _THREAD_MIN_LINES:
        ends = [first_at_or_below(v, after, p, above=up) for v, p, up in sides]
        frame = _fixed_columns(index, bars, delta, tier, levs, entry, price)
    else:
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = [pool.submit(first_at_or_below, v, after, p, above=up) for v, p, up in sides]
            frame = _fixed_columns(index, bars, delta, tier, levs, entry, price)
            ends = [future.result() for future in futures]
    del sides, after
    index_ns = index.as_unit("ns").asi8
    end_ns = np.empty(len(price), dtype=np.int64)
    # A position of len(index) means "never touched": it picks the NaT appended at the end.
    with_nat = np.append(index_ns, np.iinfo(np.int64).min)
    end_ns[0::2] = with_nat[ends[0]]
    end_ns[1::2] = with_nat[ends[1]]
    frame.insert(1, "end", utc_times(end_ns))
    return frame


def _fixed_columns(
    index: pd.DatetimeIndex,
    bars: np.ndarray,
    delta: np.ndarray,
    tier: np.ndarray,
    levs: tuple[int, ...],
    entry: np.ndarray,
    price: np.ndarray,
) -> pd.DataFrame:
    """Every levels column but ``end``, in order."""
    per_bar = 2 * len(levs)
    index_ns = index.as_unit("ns").asi8
    return pd.DataFrame(
        {
            "start": utc_times(np.repeat(index_ns[bars], per_bar)),
            "side": _side_column(len(price)),
            "leverage": np.tile(np.repeat(np.array(levs, dtype=np.int64), 2), len(bars)),
            "price": price,
            "entry": np.repeat(entry, per_bar),
            "tier": np.repeat(tier.astype(np.int64), per_bar),
            "oi_delta": np.repeat(delta, per_bar),
        },
        copy=False,  # the arrays are fresh: keep one block per column, no consolidating copy
    )
