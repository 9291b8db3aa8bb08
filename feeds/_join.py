"""Building the candles frame: bars joined to their closing open interest, no lookahead.

Exchanges stamp an open-interest row with the time of its snapshot. The bar that opens at
``T`` closes at ``T + timeframe``, so it carries the snapshot stamped ``T + timeframe``; when
snapshots are coarser than the bars, the latest one at or before the bar's close (as-of),
never a later one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["FRAME_COLUMNS", "candles_frame", "join_open_interest"]

FRAME_COLUMNS = ("open", "high", "low", "close", "volume", "open_interest", "open_interest_value")


def join_open_interest(bar_ts: np.ndarray, step: int, oi: np.ndarray,
                       tolerance: int) -> tuple[np.ndarray, np.ndarray]:
    """Closing open interest of each bar: ``(amount, value)`` arrays, NaN where absent.

    Parameters
    ----------
    bar_ts : numpy.ndarray
        Bar open times, epoch ms, increasing.
    step : int
        Bar length, ms.
    oi : numpy.ndarray
        ``(n, 3)`` snapshots ``ts`` (epoch ms, increasing), amount, value.
    tolerance : int
        Snapshot period, ms: the snapshot used is the last one in ``(close - tolerance,
        close]``, so a missing snapshot leaves NaN instead of a stale value.
    """
    n = len(bar_ts)
    amount = np.full(n, np.nan)
    value = np.full(n, np.nan)
    if not n or not len(oi):
        return amount, value
    close = np.asarray(bar_ts, dtype=np.int64) + step
    oi_ts = oi[:, 0].astype(np.int64)
    pos = np.searchsorted(oi_ts, close, side="right") - 1
    ok = pos >= 0
    ok[ok] = close[ok] - oi_ts[pos[ok]] < tolerance
    amount[ok] = oi[pos[ok], 1]
    value[ok] = oi[pos[ok], 2]
    return amount, value


def _units(amount: np.ndarray, value: np.ndarray, close: np.ndarray,
           market: dict) -> tuple[np.ndarray, np.ndarray]:
    """Amount in coins (linear) or contracts (inverse); value in quote currency."""
    size = float(market.get("contractSize") or 1.0)
    if market.get("inverse"):
        amount = np.where(np.isnan(amount), value / size, amount)
        return amount, np.where(np.isnan(value), amount * size, value)
    amount = amount * size
    return amount, np.where(np.isnan(value), amount * close, value)


def candles_frame(ohlcv: np.ndarray, amount: np.ndarray, value: np.ndarray,
                  market: dict | None = None) -> pd.DataFrame:
    """The candles frame of docs/method.md section 1, plus ``open_interest_value``.

    ``ohlcv`` is ``(n, 6)``: ts (epoch ms), open, high, low, close, volume.
    """
    index = pd.DatetimeIndex(
        (ohlcv[:, 0].astype(np.int64) * 1_000_000).view("datetime64[ns]"), name="time"
    ).tz_localize("UTC")
    close = ohlcv[:, 4]
    amount, value = _units(amount, value, close, market or {})
    columns = [ohlcv[:, 1], ohlcv[:, 2], ohlcv[:, 3], close, ohlcv[:, 5], amount, value]
    data = {name: np.ascontiguousarray(col, dtype=np.float64)
            for name, col in zip(FRAME_COLUMNS, columns, strict=True)}
    return pd.DataFrame(data, index=index)
