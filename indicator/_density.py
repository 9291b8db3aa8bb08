"""The density histogram of live liquidation lines (docs/method.md section 2)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from ..vocab import DENSITY_WEIGHTS, DensityWeight, check_choice, to_timestamp
from ._frames import NAT, AnyLevels, DensityFrame, LevelArrays, check_levels, empty_frame

__all__ = ["MAX_DENSITY_BINS", "active_mask", "density", "weighted_lines"]

#: The most bins a density may have (150 is the default; a chart has a few hundred pixels).
MAX_DENSITY_BINS = 1_000_000


def _live(lines: LevelArrays, at: Any) -> np.ndarray:
    """Lines live after bar ``at`` closes, from the parsed ``start``/``end`` (int64 ns)."""
    open_ = lines.end == NAT
    if at is None:
        return open_
    stamp = to_timestamp(at, "at").value
    return (lines.start <= stamp) & (open_ | (lines.end > stamp))


def weighted_lines(
    levels: Any, weight: str, columns: tuple[str, ...] = ("side", "price"), *,
    live_without_end: bool = False,
) -> tuple[LevelArrays, np.ndarray | None]:
    """The lines' ``start``, ``end`` and ``columns``, checked, with their weights.

    Either levels frame. Trade levels have no ``end`` until :func:`trade_level_ends` gives
    them one: with ``live_without_end`` a frame without ``end`` reads as all NaT (every line
    live from its start on), else it is refused, saying how to add ends. The weights
    (``None`` for ``"count"``) are ``|oi_delta|`` for ``"oi_delta"``; for ``"notional"`` the
    ``notional`` column when there is one (trade levels), else ``|oi_delta| * entry`` (OI
    levels: quote currency). ``weight`` must already be checked.
    """
    has_end = isinstance(levels, pd.DataFrame) and "end" in levels.columns
    if (weight == "oi_delta" and isinstance(levels, pd.DataFrame)
            and "oi_delta" not in levels.columns and "notional" in levels.columns):
        raise ValueError("weight='oi_delta' needs OI levels (indicator.oi_levels); these look "
                         "like trade levels, which have no 'oi_delta': use weight='notional'")
    if not (has_end or live_without_end) and isinstance(levels, pd.DataFrame) and (
            "notional" in levels.columns):
        raise ValueError(
            "levels lacks column(s) ['end']; this looks like trade levels, which have no 'end' "
            "until indicator.trade_level_ends(levels, candles) gives them one (the lines of "
            "indicator.oi_levels have it)"
        )
    needed = ("start", *columns) + (("end",) if has_end or not live_without_end else ())
    if weight == "oi_delta":
        needed += ("oi_delta",)
    elif weight == "notional":
        trade = isinstance(levels, pd.DataFrame) and "notional" in levels.columns
        needed += ("notional",) if trade else ("oi_delta", "entry")
    lines = check_levels(levels, needed)
    if not has_end:
        lines = replace(lines, end=np.full(len(lines.start), NAT, dtype=np.int64))
    if weight == "count":
        return lines, None
    if weight == "oi_delta":
        return lines, np.abs(lines.oi_delta)
    if lines.notional is not None:
        return lines, lines.notional
    return lines, np.abs(lines.oi_delta) * lines.entry


def active_mask(levels: AnyLevels, at: Any = None) -> np.ndarray:
    """Which lines are live after bar ``at`` closes: ``start <= at`` and (``end`` is NaT or
    ``end > at``); ``at=None`` means after the last bar (``end`` is NaT).

    ``at`` is a time as :func:`liqlevels.vocab.to_timestamp` reads it (naive means UTC, an
    integer is epoch milliseconds). Returns a bool array, one value per row of ``levels``.
    Trade levels need their ``end`` first: :func:`trade_level_ends`.
    """
    return _live(weighted_lines(levels, "count", ())[0], at)


def _check_bins(bins: Any) -> int:
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)):
        raise TypeError(f"bins={bins!r} must be a whole number, e.g. 150")
    if not 1 <= bins <= MAX_DENSITY_BINS:
        raise ValueError(f"bins={bins!r} must be from 1 to {MAX_DENSITY_BINS:,}, e.g. 150")
    return int(bins)


def _histogram(price: np.ndarray, weights: np.ndarray | None, nbins: int,
               lo: float, hi: float) -> np.ndarray:
    """Counts (or weight sums) in ``nbins`` equal bins over ``[lo, hi]``, top edge included."""
    rng = (lo, hi) if lo < hi else (lo - 0.5, hi + 0.5)
    return np.histogram(price, bins=nbins, range=rng, weights=weights)[0]


def density(
    levels: AnyLevels,
    *,
    at: Any = None,
    bins: int = 150,
    weight: DensityWeight = "count",
) -> DensityFrame:
    """Histogram of the lines live after bar ``at`` closes, by price (docs/method.md section 2).

    Parameters
    ----------
    levels : pandas.DataFrame
        Either levels frame: :func:`oi_levels`', or :func:`trade_levels`' once
        :func:`trade_level_ends` has given it an ``end`` (``start, end, side, price`` are
        used, and the weight's columns).
    at : time, optional
        A bar time: a string, datetime, Timestamp or epoch milliseconds; naive means UTC.
        ``None`` means after the last bar (lines whose ``end`` is NaT).
    bins : int, default 150
        Equal-width price bins from the lowest to the highest live price (one bin when all
        live prices are equal), 1 to 1,000,000. The top edge belongs to the last bin.
    weight : {"count", "oi_delta", "notional"}, default "count"
        Count lines, sum ``|oi_delta|`` (OI units, OI levels only), or sum the notional
        (quote currency): the ``notional`` column of trade levels, ``|oi_delta| * entry``
        for OI levels.

    Returns
    -------
    pandas.DataFrame
        ``price_low, price_high`` (bin edges, price) and ``long, short`` (int counts, or
        float sums for the other weights); empty when no line is live.

    Raises
    ------
    TypeError, ValueError
        A bad option, an unreadable ``at``, or a levels frame that is not one (naming the
        column and the first bad row).
    """
    weight = check_choice("weight", weight, DENSITY_WEIGHTS)
    bins = _check_bins(bins)
    lines, weights = weighted_lines(levels, weight)
    live = _live(lines, at)
    dtype = np.int64 if weight == "count" else np.float64
    price = lines.price[live]
    if price.size == 0:
        return empty_frame("density", long=dtype, short=dtype)
    short = lines.short[live]
    w = None if weights is None else weights[live]
    lo, hi = float(price.min()), float(price.max())
    nbins = 1 if lo == hi else bins
    edges = np.array([lo, hi]) if lo == hi else np.linspace(lo, hi, bins + 1)
    long_h = _histogram(price[~short], None if w is None else w[~short], nbins, lo, hi)
    short_h = _histogram(price[short], None if w is None else w[short], nbins, lo, hi)
    return pd.DataFrame({
        "price_low": edges[:-1],
        "price_high": edges[1:],
        "long": long_h.astype(dtype),
        "short": short_h.astype(dtype),
    })
