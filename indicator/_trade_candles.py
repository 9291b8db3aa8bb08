"""Trades -> OHLCV candles: the bars a chart draws beside a trade-based liquidation map."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..vocab import timeframe_ms
from ._frames import UTC_NS, utc_times
from ._selection import TradeArrays, trade_arrays

__all__ = ["trade_candles"]

_MONDAY_NS = 4 * 86_400 * 10**9  # 1970-01-05, the first Monday: where weekly bars start


def _bar_starts(time: np.ndarray, timeframe: str) -> np.ndarray:
    """Each trade's bar open time (int64 epoch ns), bars aligned to multiples of the timeframe
    since the epoch (weeks: since a Monday, as exchanges count them)."""
    step = timeframe_ms(timeframe) * 1_000_000
    origin = _MONDAY_NS if timeframe.endswith("w") else 0
    return (time - origin) // step * step + origin


def trade_candles(trades: pd.DataFrame | TradeArrays, timeframe: str = "1m") -> pd.DataFrame:
    """OHLCV candles of trades, one row per period that holds a trade.

    Parameters
    ----------
    trades : pandas.DataFrame or TradeArrays
        Trades as :func:`trade_levels` takes them (``time``, ``price`` in quote currency per
        coin, ``quantity`` in coins, ``side``), or :func:`trade_arrays`' checked arrays.
    timeframe : str, default "1m"
        Bar length as ccxt writes it: ``"1m"``, ``"5m"``, ``"1h"``, ``"1d"``, ``"1w"``. Bars
        are aligned in UTC (minutes on the minute, days at midnight, weeks on Monday).

    Returns
    -------
    pandas.DataFrame
        Indexed by bar open time (datetime64[ns, UTC], named ``time``), increasing; columns
        ``open``, ``high``, ``low``, ``close`` (first, highest, lowest, last trade price)
        and ``volume`` (coins traded). A period without a trade has no row; trades carry no
        open interest, so there is no ``open_interest`` column.

    Raises
    ------
    TypeError, ValueError
        Bad trades (see :func:`trade_arrays`) or a timeframe that is not one.
    """
    arrays = trades if isinstance(trades, TradeArrays) else trade_arrays(trades)
    if len(arrays) == 0:
        index = pd.DatetimeIndex([], dtype=UTC_NS, name="time")
        return pd.DataFrame({c: np.empty(0) for c in ("open", "high", "low", "close",
                                                      "volume")}, index=index)
    first, opens = _bars(arrays.time, timeframe)
    last = np.r_[first[1:], len(arrays)] - 1
    price = arrays.price
    return pd.DataFrame({
        "open": price[first],
        "high": np.maximum.reduceat(price, first),
        "low": np.minimum.reduceat(price, first),
        "close": price[last],
        "volume": np.add.reduceat(arrays.quantity, first),
    }, index=utc_times(opens).rename("time"))


def _bars(time: np.ndarray, timeframe: str) -> tuple[np.ndarray, np.ndarray]:
    """The position of each bar's first trade and the bar's open time (epoch ns), for
    times in order. When there are fewer bar slots than trades (a day of trades in
    minutes), the slots' edges are looked up by binary search instead of computing every
    trade's bar."""
    ends = _bar_starts(time[[0, -1]], timeframe)
    step = timeframe_ms(timeframe) * 1_000_000
    slots = int((ends[1] - ends[0]) // step) + 1
    if slots <= len(time):
        edges = ends[0] + step * np.arange(slots, dtype=np.int64)
        starts = np.searchsorted(time, edges, side="left")
        held = starts < np.r_[starts[1:], len(time)]
        return starts[held], edges[held]
    bar = _bar_starts(time, timeframe)
    first = np.flatnonzero(np.r_[True, bar[1:] != bar[:-1]])
    return first, bar[first]
