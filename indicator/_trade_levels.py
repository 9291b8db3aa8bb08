"""Kept trades -> the trade levels frame (docs/method.md section 3), a row per trade and
leverage."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd

from ..vocab import Mode
from ._frames import TradeLevels, empty_frame, liquidation_factors, side_strings, utc_times
from ._selection import check_threshold, later_extremes, select_both, trade_arrays
from ._validate import check_leverages, check_mmr

__all__ = ["Weights", "check_trade_options", "expand_levels", "trade_levels"]

Weights = Sequence[float] | Mapping[int, float] | None


def _weight_values(weights: Any, leverages: tuple[int, ...]) -> list[Any]:
    """The share of each leverage, in ``leverages`` order, from a sequence or a mapping."""
    if isinstance(weights, Mapping):
        unknown = [k for k in weights if k not in leverages]
        if unknown:
            raise ValueError(f"weights has leverage(s) {unknown} not in leverages={leverages}")
        return [weights.get(lev, 0.0) for lev in leverages]
    if isinstance(weights, Sequence) and not isinstance(weights, str):
        if len(weights) != len(leverages):
            raise ValueError(
                f"weights has {len(weights)} values for {len(leverages)} leverages {leverages}; "
                f"give one share per leverage or a mapping {{leverage: share}}"
            )
        return list(weights)
    raise TypeError(f"weights={weights!r} must be a sequence or a mapping {{leverage: share}}")


def _finite(x: Real) -> bool:
    """Whether ``x`` is a finite float (an int too large for a float is not)."""
    try:
        return math.isfinite(x)
    except OverflowError:
        return False


def _check_weights(weights: Any, leverages: tuple[int, ...]) -> np.ndarray:
    """Per-leverage shares of each trade's notional, normalised to sum to 1."""
    if weights is None:
        return np.ones(len(leverages))
    values = _weight_values(weights, leverages)
    for lev, w in zip(leverages, values, strict=True):
        if isinstance(w, bool) or not isinstance(w, Real) or not (_finite(w) and w >= 0):
            raise ValueError(f"weights: the share for {lev}x is {w!r}; shares are finite "
                             f"numbers >= 0")
    out = np.asarray(values, dtype=np.float64)
    if out.sum() <= 0:
        raise ValueError("weights sum to 0; give at least one leverage a positive share")
    return out / out.sum()


def check_trade_options(
    leverages: Sequence[int], mmr: float, weights: Weights = None
) -> tuple[tuple[int, ...], float, np.ndarray]:
    """The leverage options of :func:`trade_levels`, checked: ``(leverages, mmr, shares)``.

    ``shares`` is the fraction of each trade's notional placed at each leverage (ones when
    ``weights`` is None: the full notional at every leverage).

    Raises
    ------
    TypeError, ValueError
        A leverage <= 1 or repeated, ``mmr`` outside ``[0, 1/L)``, bad weights; named.
    """
    levs = check_leverages(leverages)
    return levs, check_mmr(mmr, levs), _check_weights(weights, levs)


def expand_levels(
    time: np.ndarray,
    entry: np.ndarray,
    notional: np.ndarray,
    is_long: np.ndarray,
    *,
    leverages: tuple[int, ...],
    mmr: float,
    shares: np.ndarray,
    later_low: np.ndarray | None = None,
    later_high: np.ndarray | None = None,
) -> TradeLevels:
    """The levels frame for kept trades (already in time order), one row per leverage.

    ``time`` is int64 epoch ns, ``entry`` the trade price, ``notional`` quote currency.
    ``shares`` multiplies the notional per leverage (ones: full notional at every leverage).
    With ``later_low``/``later_high`` (the extremes of the trades after each kept trade), a
    long level at or above ``later_low`` and a short level at or below ``later_high`` are
    dropped: later trades already crossed them.
    """
    m, n = len(leverages), len(time)
    factors = liquidation_factors(leverages, mmr)
    long_rows = np.repeat(is_long, m)
    factor = np.where(long_rows, np.tile(factors[:, 0], n), np.tile(factors[:, 1], n))
    entry_rows = np.repeat(entry, m)
    price = entry_rows * factor
    columns = {
        "start": np.repeat(time, m),
        "side": long_rows,
        "leverage": np.tile(np.asarray(leverages, dtype=np.int64), n),
        "price": price,
        "entry": entry_rows,
        "notional": np.repeat(notional, m) * np.tile(shares, n),
    }
    if later_low is not None and later_high is not None:
        keep = np.where(long_rows, np.repeat(later_low, m) > price,
                        np.repeat(later_high, m) < price)
        columns = {k: v[keep] for k, v in columns.items()}
    if len(columns["price"]) == 0:
        return empty_frame("trade_levels")
    columns["start"] = utc_times(columns["start"])
    columns["side"] = side_strings(columns["side"])
    return pd.DataFrame(columns)


def trade_levels(
    trades: pd.DataFrame,
    *,
    mode: Mode = "gross_value",
    threshold: float | int | None = None,
    leverages: Sequence[int] = (10, 25, 50, 100),
    mmr: float = 0.0,
    weights: Weights = None,
    survivors_only: bool = False,
) -> TradeLevels:
    """Liquidation levels of the large taker trades (docs/method.md section 3).

    Each side is selected on its own, with ``notional = price * quantity``. A kept taker buy
    gives long levels at ``entry * (1 - 1/L + mmr)``, a taker sell short levels at
    ``entry * (1 + 1/L - mmr)``, one per leverage, each with the trade's full notional.

    Parameters
    ----------
    trades : pandas.DataFrame
        ``time`` (datetime64 UTC), ``price`` (quote currency per coin, e.g. USDT),
        ``quantity`` (coins), ``side`` (``"buy"``/``"sell"``, the taker's side).
    mode : {"gross_value", "top_n", "portion"}
        ``"gross_value"`` keeps trades with notional >= ``threshold`` (quote currency, default
        100,000); ``"top_n"`` keeps the ``threshold`` largest per side (default 100);
        ``"portion"`` keeps the largest ``int(count * threshold)`` per side (default 0.01).
        Ties at the cut go to the earlier trade.
    threshold : float or int, optional
        The mode's threshold; ``None`` uses the mode's default.
    leverages : sequence of int
        Leverages (> 1), in output order within each trade.
    mmr : float
        Maintenance margin rate (0.004 = 0.4%), ``0 <= mmr < 1/L``.
    weights : sequence of float or mapping of int to float, optional
        Split each trade's notional across leverages instead of counting it in full at every
        leverage: one share per leverage (or ``{leverage: share}``), >= 0, normalised to sum
        to 1. ``None`` (default, the seed's rule): full notional at every leverage.
    survivors_only : bool
        Drop levels that a later trade in ``trades`` already crossed: a long level at ``p``
        is gone if any later trade printed at or below ``p``, a short one at or above.
        "Later" is later in time; equal times follow row order.

    Returns
    -------
    pandas.DataFrame
        One row per kept trade and leverage, ordered by trade time, then ``leverages`` order.
        Columns ``start`` (datetime64[ns, UTC], trade time), ``side`` (``"long"`` for taker
        buys, ``"short"`` for taker sells), ``leverage`` (int), ``price`` (liquidation price),
        ``entry`` (trade price), ``notional`` (quote currency). No ``end``, no ``tier``.

    Raises
    ------
    TypeError, ValueError
        Bad trades (see :func:`trade_arrays`), unknown mode, bad threshold, leverages, mmr
        or weights. The message names the argument or column and the first bad row.
    """
    mode, threshold = check_threshold(mode, threshold)
    levs, mmr, shares = check_trade_options(leverages, mmr, weights)
    arrays = trade_arrays(trades)
    kept = select_both(arrays, mode, threshold)
    later_low = later_high = None
    if survivors_only:
        low, high = later_extremes(arrays.price)
        later_low, later_high = low[kept], high[kept]
    return expand_levels(
        arrays.time[kept], arrays.price[kept], arrays.notional[kept], arrays.is_buy[kept],
        leverages=levs, mmr=mmr, shares=shares, later_low=later_low, later_high=later_high,
    )
