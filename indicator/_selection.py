"""Trades in, large trades picked: the trades check and the selection of docs/method.md section 3.

Large taker trades are read as freshly opened leveraged positions: a taker buy as a long, a
taker sell as a short. Each side is selected on its own by ``notional = price * quantity``.
Everything here is vectorised numpy; nothing loops over trades in Python. The pieces are
shared by :func:`trade_levels` (one frame at once) and :class:`TradeSelection` (chunk by
chunk, e.g. one archive day at a time).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd

from ..vocab import MODES, check_choice, check_frame, first_true, row_label
from ._frames import which_of_two

__all__ = [
    "DEFAULT_THRESHOLD",
    "MAX_TOP_N",
    "TRADE_COLUMNS",
    "TradeArrays",
    "check_threshold",
    "checked_trade_arrays",
    "later_extremes",
    "later_extremes_at",
    "select_both",
    "select_positions",
    "top_k",
    "trade_arrays",
]

DEFAULT_THRESHOLD: dict[str, float | int] = {
    "gross_value": 100_000.0, "top_n": 100, "portion": 0.01,
}
TRADE_COLUMNS: tuple[str, ...] = ("time", "price", "quantity", "side")
#: The most trades per side ``top_n`` may keep.
MAX_TOP_N = 1_000_000_000


# --------------------------------------------------------------------------------------------
# The trades check
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TradeArrays:
    """Validated trades as numpy arrays, in time order (stable: equal times keep row order).

    ``time`` is int64 nanoseconds since the epoch (UTC), ``price`` (quote currency per coin)
    and ``quantity`` (coins) float64, ``is_buy`` bool (taker buy).
    """

    time: np.ndarray
    price: np.ndarray
    quantity: np.ndarray
    is_buy: np.ndarray

    def __len__(self) -> int:
        return len(self.time)

    @property
    def notional(self) -> np.ndarray:
        """``price * quantity`` (quote currency, e.g. USDT)."""
        return self.price * self.quantity

    @classmethod
    def empty(cls) -> TradeArrays:
        """No trades."""
        return cls(np.empty(0, np.int64), np.empty(0), np.empty(0), np.empty(0, bool))


def _check_frame(trades: Any, name: str) -> None:
    check_frame(trades, name, TRADE_COLUMNS, made_by="feeds.read_trades returns exactly these")
    if len(trades) == 0:
        raise ValueError(f"{name} is empty: there are no trades to map; widen the window")


def _time_ns(trades: pd.DataFrame, name: str) -> np.ndarray:
    col = trades["time"]
    if not isinstance(col.dtype, pd.DatetimeTZDtype):
        if pd.api.types.is_datetime64_dtype(col.dtype):
            raise ValueError(
                f"{name}['time'] is naive; trade times must be tz-aware UTC: use "
                f"{name}['time'] = {name}['time'].dt.tz_localize('UTC')"
            )
        raise TypeError(
            f"{name}['time'] must be datetime64 UTC, got dtype {col.dtype}; convert epoch "
            f"milliseconds with pd.to_datetime(ms, unit='ms', utc=True)"
        )
    values = col.array.as_unit("ns")  # epoch ns do not depend on the zone
    bad = first_true(np.asarray(values.isna()))
    if bad is not None:
        raise ValueError(
            f"{name}['time'] is missing (NaT) at {row_label(trades.index, bad)}; drop that row"
        )
    return values.asi8


def _numeric(trades: pd.DataFrame, col: str, name: str) -> np.ndarray:
    series = trades[col]
    if not pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series):
        raise TypeError(
            f"{name}[{col!r}] must be numeric, got dtype {series.dtype}; convert it with "
            f"pd.to_numeric"
        )
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def _check_positive(values: np.ndarray, col: str, name: str,
                    where: Callable[[int], str]) -> None:
    bad = first_true(~(np.isfinite(values) & (values > 0)))
    if bad is not None:
        raise ValueError(
            f"{name}[{col!r}] is {float(values[bad])!r} at {where(bad)}; every "
            f"{col} must be a finite number > 0: drop or repair that row"
        )


def _is_buy(trades: pd.DataFrame, name: str) -> np.ndarray:
    side = trades["side"]
    fast = which_of_two(side, "buy", "sell") if len(side) > 4096 else None
    if fast is not None:
        return fast
    if len(side) <= 4096:  # a live chunk: plain objects compare faster than Arrow's kernels
        values = side.to_numpy(dtype=object, na_value=None)
        buy, sell = values == "buy", values == "sell"
    else:
        buy = np.asarray((side == "buy").to_numpy(dtype=bool, na_value=False))
        sell = np.asarray((side == "sell").to_numpy(dtype=bool, na_value=False))
    bad = first_true(~(buy | sell))
    if bad is not None:
        raise ValueError(
            f"{name}['side'] is {side.iloc[bad]!r} at {row_label(trades.index, bad)}; side must be "
            f"'buy' or 'sell' (the taker's side; Binance: is_buyer_maker == false means 'buy'; "
            f"for Bybit's 'Buy'/'Sell' use .str.lower())"
        )
    return buy


def _checked(time: np.ndarray, price: np.ndarray, quantity: np.ndarray, is_buy: np.ndarray,
             name: str, where: Callable[[int], str], *, positive: bool = False) -> TradeArrays:
    """The columns as :class:`TradeArrays` once price and quantity are finite and > 0
    (already checked when ``positive``) and their product finite, sorted by time (stable)
    unless already in order."""
    if not positive:
        _check_positive(price, "price", name, where)
        _check_positive(quantity, "quantity", name, where)
    with np.errstate(over="ignore"):
        bad = first_true(~np.isfinite(price * quantity))
    if bad is not None:
        raise ValueError(
            f"{name} at {where(bad)}: price {float(price[bad])!r} x "
            f"quantity {float(quantity[bad])!r} overflows (the notional is not a finite "
            f"number); drop or repair that row"
        )
    if len(time) > 1 and (time[1:] < time[:-1]).any():
        order = np.argsort(time, kind="stable")
        time, price, quantity, is_buy = time[order], price[order], quantity[order], is_buy[order]
    return TradeArrays(time=time, price=price, quantity=quantity, is_buy=is_buy)


def checked_trade_arrays(time: Any, price: Any, quantity: Any, is_buy: Any, *,
                         name: str = "trades") -> TradeArrays:
    """Trade columns already decoded (an archive day, say) checked as :func:`trade_arrays`
    checks a frame, without building one.

    Parameters
    ----------
    time : array of int64
        Epoch nanoseconds (UTC).
    price, quantity : array of float
        Quote currency per coin, and coins.
    is_buy : array of bool
        Taker buys.
    name : str
        What messages call the trades (``"trades of BTCUSDT-aggTrades-2026-06-01.zip"``).

    Returns
    -------
    TradeArrays
        The columns in time order (stable).

    Raises
    ------
    ValueError
        Columns of unequal length, or a NaN, infinite or non-positive price or quantity, or
        a notional that overflows; the message names the column and the first bad row (its
        position in the arrays given).
    """
    time = np.asarray(time, dtype=np.int64)
    price = np.asarray(price, dtype=np.float64)
    quantity = np.asarray(quantity, dtype=np.float64)
    is_buy = np.asarray(is_buy, dtype=bool)
    if not len(time) == len(price) == len(quantity) == len(is_buy):
        raise ValueError(f"{name}: time, price, quantity and is_buy have "
                         f"{len(time)}, {len(price)}, {len(quantity)} and {len(is_buy)} rows")
    return _checked(time, price, quantity, is_buy, name, lambda i: f"row {i}")


def trade_arrays(trades: Any, name: str = "trades") -> TradeArrays:
    """Validate a trades frame (docs/method.md section 3) and return its columns in time order.

    Parameters
    ----------
    trades : pandas.DataFrame
        Columns ``time`` (datetime64 UTC), ``price`` (quote per coin), ``quantity`` (coins),
        ``side`` (``"buy"`` or ``"sell"``, the taker's side). Any order of rows.
    name : str
        The argument's name, for error messages.

    Returns
    -------
    TradeArrays
        The columns sorted by time (stable, so equal times keep their row order).

    Raises
    ------
    TypeError
        Not a DataFrame, a non-datetime ``time`` or non-numeric ``price``/``quantity``.
    ValueError
        Empty frame, missing column, naive or missing time, a NaN, infinite or non-positive
        price or quantity (or a notional that overflows), a side other than
        ``"buy"``/``"sell"``; names the column and first bad row.
    """
    _check_frame(trades, name)
    time = _time_ns(trades, name)
    price = _numeric(trades, "price", name)
    quantity = _numeric(trades, "quantity", name)
    where = functools.partial(row_label, trades.index)
    _check_positive(price, "price", name, where)
    _check_positive(quantity, "quantity", name, where)
    is_buy = _is_buy(trades, name)
    return _checked(time, price, quantity, is_buy, name, where, positive=True)


def _short(n: int) -> str:
    """A whole number for a message: ``1e+300`` (leading digit, power of ten) beyond 15
    digits, instead of hundreds of digits."""
    sign, digits = ("-" if n < 0 else ""), str(abs(n))
    return f"{sign}{digits}" if len(digits) <= 15 else f"{sign}{digits[0]}e+{len(digits) - 1}"


def check_threshold(mode: Any, threshold: Any,
                    name: str = "threshold") -> tuple[str, float | int]:
    """The mode and its threshold (the mode's default when ``None``), checked.

    Parameters
    ----------
    mode : {"gross_value", "top_n", "portion"}
        As :func:`trade_levels`.
    threshold : float or int or None
        Notional (quote currency) for ``gross_value``, a count of trades per side for
        ``top_n`` (at most :data:`MAX_TOP_N`), a share in (0, 1] for ``portion``.
    name : str, default "threshold"
        How messages name the threshold (``"--threshold"`` on the command line).

    Raises
    ------
    ValueError
        Unknown mode (with a "did you mean"), ``gross_value`` threshold <= 0 or infinite,
        ``top_n`` n outside 1 to :data:`MAX_TOP_N`, ``portion`` outside (0, 1].
    TypeError
        A threshold that is not a number, or a non-integer ``top_n``.
    """
    mode = check_choice("mode", mode, MODES)
    if threshold is None:
        return mode, DEFAULT_THRESHOLD[mode]
    if isinstance(threshold, bool) or not isinstance(threshold, Real):
        raise TypeError(f"{name}={threshold!r} is not a number")
    if mode == "top_n":
        if not isinstance(threshold, Integral):
            raise TypeError(
                f"{name}={threshold!r}: mode 'top_n' keeps the n largest trades per side, so "
                f"n must be a whole number such as 100"
            )
        if not 1 <= threshold <= MAX_TOP_N:
            raise ValueError(f"{name}={_short(int(threshold))}: 'top_n' needs n >= 1 and at most "
                             f"{MAX_TOP_N:,} trades per side")
        return mode, int(threshold)
    try:
        value = float(threshold)
    except OverflowError:  # an int beyond float range
        value = math.inf
    if mode == "gross_value" and not (math.isfinite(value) and value > 0):
        raise ValueError(
            f"{name}={threshold!r}: 'gross_value' keeps trades whose notional (price x "
            f"quantity, quote currency) is >= threshold, so it must be > 0 and finite, "
            f"e.g. 100000"
        )
    if mode == "portion" and not (0 < value <= 1):
        raise ValueError(
            f"{name}={threshold!r}: 'portion' is the share of each side's trades to keep, in "
            f"(0, 1]; 0.01 keeps the largest 1%"
        )
    return mode, value


# --------------------------------------------------------------------------------------------
# Selection
# --------------------------------------------------------------------------------------------


def top_k(values: np.ndarray, k: int) -> np.ndarray:
    """Positions (ascending) of the ``k`` largest values; ties go to the lower position."""
    n = len(values)
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    if k >= n:
        return np.arange(n, dtype=np.int64)
    kth = np.partition(values, n - k)[n - k]
    above = np.flatnonzero(values > kth)
    ties = np.flatnonzero(values == kth)[: k - len(above)]
    return np.sort(np.concatenate([above, ties]))


def select_positions(notional: np.ndarray, mode: str, threshold: float | int) -> np.ndarray:
    """Positions (ascending) of one side's kept trades, per docs/method.md section 3.

    ``notional`` (quote currency) must be in time order so that a lower position is an
    earlier trade: ties at the cut go to the earlier trade. ``mode`` and ``threshold`` as
    checked by :func:`check_threshold`.
    """
    if mode == "gross_value":
        return np.flatnonzero(notional >= threshold)
    if mode == "top_n":
        return top_k(notional, int(threshold))
    return top_k(notional, int(len(notional) * threshold))


def select_both(arrays: TradeArrays, mode: str, threshold: float | int) -> np.ndarray:
    """Positions (ascending) of the kept trades of both sides, each side selected alone."""
    notional = arrays.notional
    if mode == "gross_value":  # a trade is kept on its own notional: both sides at once
        return select_positions(notional, mode, threshold)
    kept = []
    for mask in (arrays.is_buy, ~arrays.is_buy):
        pos = np.flatnonzero(mask)
        kept.append(pos[select_positions(notional[pos], mode, threshold)])
    return np.sort(np.concatenate(kept))


def later_extremes(price: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each trade, the lowest and highest price of the trades after it (exclusive).

    ``inf`` / ``-inf`` for the last trade. ``price`` must be in time order.
    """
    low = np.empty_like(price)
    high = np.empty_like(price)
    if len(price):
        low[-1], high[-1] = np.inf, -np.inf
        low[:-1] = np.minimum.accumulate(price[:0:-1])[::-1]
        high[:-1] = np.maximum.accumulate(price[:0:-1])[::-1]
    return low, high


def later_extremes_at(price: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`later_extremes` at ``positions`` only (strictly increasing): the lowest and
    highest price after each of them, in one pass over ``price`` (segment extremes between
    consecutive positions, then a running extreme over the few segments from the end)."""
    m = len(positions)
    low, high = np.full(m, np.inf), np.full(m, -np.inf)
    starts = np.asarray(positions, dtype=np.intp) + 1
    inside = starts < len(price)  # the last trade has nothing after it
    if inside.any():
        cuts = starts[inside]
        low[inside] = np.minimum.accumulate(np.minimum.reduceat(price, cuts)[::-1])[::-1]
        high[inside] = np.maximum.accumulate(np.maximum.reduceat(price, cuts)[::-1])[::-1]
    return low, high
