"""The density histogram of live liquidation lines (docs/method.md section 2)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..vocab import DENSITY_WEIGHTS, DensityWeight, check_choice, to_timestamp
from ._frames import NAT, DensityFrame, LevelArrays, OILevels, check_levels, empty_frame

__all__ = ["MAX_DENSITY_BINS", "active_mask", "density"]

#: The most bins a density may have (150 is the default; a chart has a few hundred pixels).
MAX_DENSITY_BINS = 1_000_000


def _live(lines: LevelArrays, at: Any) -> np.ndarray:
    """Lines live after bar ``at`` closes, from the parsed ``start``/``end`` (int64 ns)."""
    open_ = lines.end == NAT
    if at is None:
        return open_
    stamp = to_timestamp(at, "at").value
    return (lines.start <= stamp) & (open_ | (lines.end > stamp))


def active_mask(levels: OILevels, at: Any = None) -> np.ndarray:
    """Which lines are live after bar ``at`` closes: ``start <= at`` and (``end`` is NaT or
    ``end > at``); ``at=None`` means after the last bar (``end`` is NaT).

    ``at`` is a time as :func:`liqlevels.vocab.to_timestamp` reads it (naive means UTC, an
    integer is epoch milliseconds). Returns a bool array, one value per row of ``levels``.
    """
    return _live(check_levels(levels, ("start", "end")), at)


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
    levels: OILevels,
    *,
    at: Any = None,
    bins: int = 150,
    weight: DensityWeight = "count",
) -> DensityFrame:
    """Histogram of the lines live after bar ``at`` closes, by price (docs/method.md section 2).

    Parameters
    ----------
    levels : pandas.DataFrame
        The frame :func:`oi_levels` returns (``start, end, side, price`` are used, and
        ``oi_delta`` for ``weight="oi_delta"``).
    at : time, optional
        A bar time: a string, datetime, Timestamp or epoch milliseconds; naive means UTC.
        ``None`` means after the last bar (lines whose ``end`` is NaT).
    bins : int, default 150
        Equal-width price bins from the lowest to the highest live price (one bin when all
        live prices are equal), 1 to 1,000,000. The top edge belongs to the last bin.
    weight : {"count", "oi_delta"}, default "count"
        Count lines, or sum ``|oi_delta|`` (OI units) of the lines.

    Returns
    -------
    pandas.DataFrame
        ``price_low, price_high`` (bin edges, price) and ``long, short`` (int counts, or
        float sums for ``weight="oi_delta"``); empty when no line is live.

    Raises
    ------
    TypeError, ValueError
        A bad option, an unreadable ``at``, or a levels frame that is not one (naming the
        column and the first bad row).
    """
    weight = check_choice("weight", weight, DENSITY_WEIGHTS)
    bins = _check_bins(bins)
    needed = ("start", "end", "side", "price") + (("oi_delta",) if weight == "oi_delta" else ())
    lines = check_levels(levels, needed)
    live = _live(lines, at)
    dtype = np.int64 if weight == "count" else np.float64
    price = lines.price[live]
    if price.size == 0:
        return empty_frame("density", long=dtype, short=dtype)
    short = lines.short[live]
    w = None if lines.oi_delta is None else np.abs(lines.oi_delta[live])
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
