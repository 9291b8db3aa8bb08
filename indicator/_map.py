"""Trade levels -> the liquidation map and its depth curve (docs/method.md section 3).

The map sums the levels' notionals in price bins aligned to multiples of the bin size, per side
and leverage; the depth sums over leverages and cumulates outward from the current price.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd

from ._frames import (
    DepthFrame,
    MapFrame,
    TradeLevels,
    check_levels,
    empty_frame,
    side_strings,
)
from ._validate import MAX_LEVERAGE

__all__ = ["MAX_MAP_BINS", "default_bin_size", "depth", "liquidation_map"]

_MAP_INPUT: tuple[str, ...] = ("side", "leverage", "price", "entry", "notional")
#: The most bins a map may span, from its lowest to its highest level.
MAX_MAP_BINS = 10_000_000
# Bin numbers beyond this lose the float precision that keeps ``k * bin_size`` exact enough
# for every bin to have a distinct, ordered pair of edges.
_MAX_BIN_NUMBER = 2.0**50


def _check_positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name}={value!r} is not a number")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name}={value!r} must be a finite number > 0 (quote currency)")
    return float(value)


def default_bin_size(entry: np.ndarray) -> float:
    """The default bin of docs/method.md section 3: ``10 ** (floor(log10(max - min)) - 2)`` of
    the entries, or ``10 ** (floor(log10(entry)) - 4)`` when they are all equal (price units)."""
    lo, hi = float(np.min(entry)), float(np.max(entry))
    if hi > lo:
        return 10.0 ** (math.floor(math.log10(hi - lo)) - 2)
    return 10.0 ** (math.floor(math.log10(hi)) - 4)


def _bin_index(price: np.ndarray, bin_size: float) -> np.ndarray:
    """``k`` with ``k * bin_size <= price < (k + 1) * bin_size``, exact in float arithmetic
    (as float64; the caller checks its range)."""
    with np.errstate(over="ignore"):
        k = np.floor(price / bin_size)
        k -= price < k * bin_size
        k += price >= (k + 1) * bin_size
    return k


def _check_bins(k: np.ndarray, price: np.ndarray, bin_size: float, given: bool) -> np.ndarray:
    """``k`` as int64 once the bins are sane: edges finite and distinct, at most
    :data:`MAX_MAP_BINS` from the lowest level to the highest."""
    what = f"bin_size={bin_size!r}" if given else f"the default bin size {bin_size!r}"
    lo, hi = float(price.min()), float(price.max())
    top = float(np.max(np.abs(k)))
    if top <= _MAX_BIN_NUMBER and not math.isfinite((top + 1) * bin_size):
        raise ValueError(
            f"{what} puts the top bin's upper edge beyond the largest float (levels priced up "
            f"to {hi!r}): prices this close to float's limit cannot be binned"
        )
    if not top <= _MAX_BIN_NUMBER:
        raise ValueError(
            f"{what} is too fine for levels priced up to {hi!r}: the bins' edges would lose "
            f"float precision; pass a bin_size of at least {hi / _MAX_BIN_NUMBER:.3g}"
        )
    span = float(k.max() - k.min()) + 1
    if span > MAX_MAP_BINS:
        raise ValueError(
            f"{what} cuts the levels from {lo!r} to {hi!r} into {span:,.0f} bins, more than "
            f"{MAX_MAP_BINS:,}; pass a bin_size of at least {(hi - lo) / MAX_MAP_BINS:.3g}"
        )
    return k.astype(np.int64)


def _binned(levels: Any, price: Any, bin_size: Any) -> dict[str, Any] | None:
    """The levels on the right side of ``price``: bin ``k``, side code (0 long), leverage and
    notional, and the bin ``size``."""
    lines = check_levels(levels, _MAP_INPUT)
    current = _check_positive("price", price)
    if bin_size is not None:
        bin_size = _check_positive("bin_size", bin_size)
    if len(lines.price) == 0:
        return None
    size = bin_size if bin_size is not None else default_bin_size(lines.entry)
    keep = np.where(lines.short, lines.price >= current, lines.price <= current)
    if not keep.any():
        return None
    prices = lines.price[keep]
    return {
        "k": _check_bins(_bin_index(prices, size), prices, size, bin_size is not None),
        "code": lines.short[keep].astype(np.int64),
        "leverage": lines.leverage[keep],
        "notional": lines.notional[keep],
        "size": size,
    }


_LEVERAGE_SPAN = MAX_LEVERAGE + 1


def _cell_sums(binned: dict[str, Any], by_leverage: bool) -> dict[str, np.ndarray]:
    """The non-empty cells, bin ``k``, side ``code`` (and ``leverage``), in the order of
    ``groupby(["k", "code"(, "leverage")], sort=True)``, and their ``notional`` sums.

    The sums are that groupby's: pandas' compensated sum, each cell's rows in row order. It
    is grouped by one int64 number per cell that sorts as the columns do (the columns'
    factorisation and their re-insertion took most of the map's time, not the sum).
    """
    k0 = int(binned["k"].min())
    cell = (binned["k"] - k0) * 2 + binned["code"]  # < 2 * MAX_MAP_BINS
    if by_leverage:
        cell = cell * _LEVERAGE_SPAN + binned["leverage"]
    sums = pd.Series(binned["notional"]).groupby(cell, sort=True).sum()
    cells = sums.index.to_numpy()
    out = {"notional": sums.to_numpy()}
    if by_leverage:
        cells, out["leverage"] = np.divmod(cells, _LEVERAGE_SPAN)
    out["k"], out["code"] = cells // 2 + k0, cells % 2
    return out


def _edges(k: np.ndarray, code: np.ndarray, bin_size: float) -> dict[str, Any]:
    return {"price_low": k * bin_size, "price_high": (k + 1) * bin_size,
            "side": side_strings(code == 0)}


def liquidation_map(
    levels: TradeLevels, *, price: float, bin_size: float | None = None
) -> MapFrame:
    """Sum the levels' notional per price bin, side and leverage (docs/method.md section 3).

    Long levels at or below ``price`` and short levels at or above it are kept (the others
    were already crossed). Bin ``k`` is ``[k * bin_size, (k + 1) * bin_size)``: bins are
    aligned to multiples of ``bin_size``, so every level falls in exactly one bin.

    Parameters
    ----------
    levels : pandas.DataFrame
        The frame :func:`trade_levels` returns (``side``, ``leverage``, ``price``, ``entry``,
        ``notional`` are used).
    price : float
        The current price (quote currency), e.g. the last trade's.
    bin_size : float, optional
        Bin width (quote currency). Default ``10 ** (floor(log10(max(entry) - min(entry))) - 2)``,
        or ``10 ** (floor(log10(entry)) - 4)`` when all entries are equal.

    Returns
    -------
    pandas.DataFrame
        Columns ``price_low``, ``price_high`` (bin edges), ``side`` (``"long"``/``"short"``),
        ``leverage`` (int), ``notional`` (sum, quote currency); one row per non-empty cell,
        ordered by price, then long before short, then leverage. Empty when nothing is left.

    Raises
    ------
    TypeError, ValueError
        ``levels`` not a trade levels frame (naming the column and first bad row), ``price``
        or ``bin_size`` not a finite number > 0, or a ``bin_size`` so fine that the kept
        levels span more than 10,000,000 bins or the bins' edges lose float precision.
    """
    binned = _binned(levels, price, bin_size)
    if binned is None:
        return empty_frame("map")
    cells = _cell_sums(binned, by_leverage=True)
    return pd.DataFrame({**_edges(cells["k"], cells["code"], binned["size"]),
                         "leverage": cells["leverage"].astype(np.int64),
                         "notional": cells["notional"]})


def depth(levels: TradeLevels, *, price: float, bin_size: float | None = None) -> DepthFrame:
    """The map summed over leverages, cumulated outward from ``price`` (docs/method.md section 3).

    Longs cumulate downward (the bin nearest below ``price`` first), shorts upward.

    Parameters
    ----------
    levels : pandas.DataFrame
        The frame :func:`trade_levels` returns.
    price : float
        The current price (quote currency).
    bin_size : float, optional
        Bin width (quote currency); the default as in :func:`liquidation_map`.

    Returns
    -------
    pandas.DataFrame
        Columns ``price_low``, ``price_high``, ``side``, ``notional`` (bin sum, quote
        currency), ``cumulative`` (sum of this bin and every bin between it and ``price``);
        ordered by price, long before short. Empty when nothing is left.

    Raises
    ------
    TypeError, ValueError
        As :func:`liquidation_map`.
    """
    binned = _binned(levels, price, bin_size)
    if binned is None:
        return empty_frame("depth")
    cells = _cell_sums(binned, by_leverage=False)
    notional = cells["notional"]
    is_long = cells["code"] == 0
    cumulative = np.empty_like(notional)
    cumulative[is_long] = np.cumsum(notional[is_long][::-1])[::-1]  # outward: downward
    cumulative[~is_long] = np.cumsum(notional[~is_long])  # outward: upward
    return pd.DataFrame({**_edges(cells["k"], cells["code"], binned["size"]),
                         "notional": notional, "cumulative": cumulative})
