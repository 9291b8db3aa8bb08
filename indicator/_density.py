"""The density histogram of live liquidation lines (SPEC.md section 2)."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from ._validate import check_choice

__all__ = ["DENSITY_COLUMNS", "active_mask", "density"]

DENSITY_COLUMNS: tuple[str, ...] = ("price_low", "price_high", "long", "short")
_WEIGHTS: tuple[str, ...] = ("count", "oi_delta")


def _check_levels(levels: Any, needed: tuple[str, ...], name: str = "levels") -> None:
    if not isinstance(levels, pd.DataFrame):
        raise TypeError(f"{name} must be the DataFrame oi_levels returns, got {type(levels)}")
    missing = [c for c in needed if c not in levels.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {missing}; pass the frame oi_levels returns")
    bad = ~levels["side"].isin(["long", "short"]).to_numpy(dtype=bool)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name}['side'] is {levels['side'].iloc[row]!r} at row {row}; "
            f"expected 'long' or 'short'"
        )


def _as_utc(at: Any) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(at)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"at={at!r} is not a timestamp; pass a bar time such as "
                        f"candles.index[-1]") from exc
    if stamp is pd.NaT:
        raise ValueError("at is NaT; pass a bar time or None for after the last bar")
    if stamp.tzinfo is None:
        raise ValueError(f"at={at!r} is naive; pass a tz-aware UTC time, e.g. "
                         f"pd.Timestamp({str(stamp)!r}, tz='UTC')")
    return stamp.tz_convert("UTC")


def active_mask(levels: pd.DataFrame, at: Any = None) -> np.ndarray:
    """Which lines are live after bar ``at`` closes: ``start <= at`` and (``end`` is NaT or
    ``end > at``); ``at=None`` means after the last bar (``end`` is NaT)."""
    end = levels["end"]
    if at is None:
        return end.isna().to_numpy()
    stamp = _as_utc(at)
    start_ok = (levels["start"] <= stamp).to_numpy()
    end_ok = (end.isna() | (end > stamp)).to_numpy()
    return start_ok & end_ok


def _empty_density(weight: str) -> pd.DataFrame:
    dtype = np.int64 if weight == "count" else np.float64
    return pd.DataFrame(
        {
            "price_low": pd.Series([], dtype=np.float64),
            "price_high": pd.Series([], dtype=np.float64),
            "long": pd.Series([], dtype=dtype),
            "short": pd.Series([], dtype=dtype),
        }
    )


def _check_bins(bins: Any) -> int:
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)):
        raise TypeError(f"bins={bins!r} must be a whole number, e.g. 150")
    if bins < 1:
        raise ValueError(f"bins={bins!r} must be >= 1")
    return int(bins)


def density(
    levels: pd.DataFrame,
    *,
    at: Any = None,
    bins: int = 150,
    weight: Literal["count", "oi_delta"] = "count",
) -> pd.DataFrame:
    """Histogram of the lines live after bar ``at`` closes, by price (SPEC.md section 2).

    Parameters
    ----------
    levels : pandas.DataFrame
        The frame :func:`oi_levels` returns.
    at : timestamp-like, optional
        A tz-aware bar time; ``None`` means after the last bar (lines whose ``end`` is NaT).
    bins : int, default 150
        Equal-width price bins from the lowest to the highest live price (one bin when all
        live prices are equal). The top edge belongs to the last bin.
    weight : {"count", "oi_delta"}, default "count"
        Count lines, or sum ``|oi_delta|`` (OI units) of the lines.

    Returns
    -------
    pandas.DataFrame
        ``price_low, price_high`` (bin edges, price) and ``long, short`` (int counts, or
        float sums for ``weight="oi_delta"``); empty when no line is live.
    """
    weight = check_choice("weight", weight, _WEIGHTS)
    bins = _check_bins(bins)
    needed = ("start", "end", "side", "price") + (("oi_delta",) if weight == "oi_delta" else ())
    _check_levels(levels, needed)
    live = active_mask(levels, at)
    price = levels["price"].to_numpy(dtype=np.float64)[live]
    if price.size == 0:
        return _empty_density(weight)
    short = (levels["side"] == "short").to_numpy(dtype=bool)[live]
    w = None
    if weight == "oi_delta":
        w = np.abs(levels["oi_delta"].to_numpy(dtype=np.float64)[live])
    lo, hi = float(price.min()), float(price.max())
    nbins = 1 if lo == hi else bins
    edges = np.array([lo, hi]) if lo == hi else np.linspace(lo, hi, bins + 1)
    rng = (lo, hi) if lo < hi else None
    long_w = None if w is None else w[~short]
    short_w = None if w is None else w[short]
    long_h, _ = np.histogram(price[~short], bins=nbins, range=rng or (lo - 0.5, hi + 0.5),
                             weights=long_w)
    short_h, _ = np.histogram(price[short], bins=nbins, range=rng or (lo - 0.5, hi + 0.5),
                              weights=short_w)
    dtype = np.int64 if weight == "count" else np.float64
    return pd.DataFrame(
        {
            "price_low": edges[:-1],
            "price_high": edges[1:],
            "long": long_h.astype(dtype),
            "short": short_h.astype(dtype),
        }
    )
