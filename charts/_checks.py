"""Input checks for the charts: errors that name the argument, the first bad row and the fix.

The charts check only what they draw: the candles' prices and times here, the levels frame
through the engine's one check (``indicator.check_levels``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..vocab import check_bar_index, check_frame, first_true, row_label

__all__ = [
    "OHLC",
    "check_finite",
    "check_ohlc",
]

OHLC: tuple[str, ...] = ("open", "high", "low", "close")


def check_finite(
    frame: pd.DataFrame, name: str, column: str, *, nonneg: bool = False
) -> np.ndarray:
    """``frame[column]`` as float64, every value finite (and >= 0 with ``nonneg``)."""
    try:
        values = frame[column].to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{name}[{column!r}] must be numeric; convert it with astype(float)"
        ) from exc
    bad = ~np.isfinite(values)
    if nonneg:
        bad |= values < 0
    row = first_true(bad)
    if row is not None:
        need = "finite and >= 0" if nonneg else "finite"
        raise ValueError(
            f"{name}[{column!r}] is {float(values[row])!r} at {row_label(frame.index, row)}; "
            f"every value must be "
            f"{need}. Drop or fill that row."
        )
    return values


def check_ohlc(candles: Any, name: str = "candles") -> dict[str, np.ndarray]:
    """What a chart draws of candles, checked: ``open, high, low, close`` (finite prices,
    ``low <= open, close <= high``) on a tz-aware, strictly increasing index of bar open
    times. Other columns are not looked at. Returns the four columns as float64 arrays."""
    check_frame(candles, name, OHLC, made_by="bars on a tz-aware UTC DatetimeIndex, e.g. what "
                "feeds.fetch_candles returns")
    check_bar_index(candles.index, name)
    cols = {c: check_finite(candles, name, c) for c in OHLC}
    top = np.maximum(cols["open"], cols["close"])
    bottom = np.minimum(cols["open"], cols["close"])
    row = first_true((cols["high"] < top) | (cols["low"] > bottom))
    if row is not None:
        raise ValueError(
            f"{name} row {row} ({candles.index[row]}): high {cols['high'][row]!r} and low "
            f"{cols['low'][row]!r} do not bracket open {cols['open'][row]!r} and close "
            f"{cols['close'][row]!r}; high must be the bar's highest price, low its lowest"
        )
    return cols
