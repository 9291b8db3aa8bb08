"""Input checks for the charts: errors that name the argument, the first bad row and the fix.

The charts check only what they draw: the candles' prices and times here, the levels frame
through the engine's one check (``indicator.check_levels``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "OHLC",
    "check_finite",
    "check_frame",
    "check_ohlc",
    "first_bad",
]

OHLC: tuple[str, ...] = ("open", "high", "low", "close")


def check_frame(frame: Any, name: str, columns: Sequence[str], made_by: str) -> pd.DataFrame:
    """``frame`` must be a DataFrame holding ``columns``; ``made_by`` names its usual source."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(
            f"{name} must be a pandas DataFrame ({made_by}), got {type(frame).__name__}"
        )
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{name} lacks column(s) {missing}; it needs {list(columns)} ({made_by})"
        )
    return frame


def first_bad(mask: np.ndarray) -> int | None:
    """Position of the first ``True`` in ``mask``, or ``None``."""
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else None


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
    row = first_bad(bad)
    if row is not None:
        need = "finite and >= 0" if nonneg else "finite"
        raise ValueError(
            f"{name}[{column!r}] is {float(values[row])!r} at row {row}; every value must be "
            f"{need}. Drop or fill that row."
        )
    return values


def _check_bar_index(index: pd.Index, name: str) -> None:
    """Bar open times: a tz-aware DatetimeIndex, no NaT, strictly increasing."""
    if not isinstance(index, pd.DatetimeIndex):
        raise TypeError(f"{name} must be indexed by a DatetimeIndex of bar open times, got "
                        f"{type(index).__name__}; use {name}.set_index(pd.to_datetime(ts, "
                        f"unit='ms', utc=True))")
    if index.tz is None:
        raise ValueError(f"{name}.index is naive; it must be tz-aware UTC: use "
                         f"{name}.tz_localize('UTC')")
    row = first_bad(np.asarray(index.isna()))
    if row is not None:
        raise ValueError(f"{name}.index has a missing timestamp at row {row}; drop that row")
    row = first_bad(np.diff(index.asi8) <= 0)
    if row is not None:
        raise ValueError(
            f"{name}.index is not strictly increasing at row {row + 1} ({index[row + 1]}); "
            f"use {name}[~{name}.index.duplicated()].sort_index()"
        )


def check_ohlc(candles: Any, name: str = "candles") -> dict[str, np.ndarray]:
    """What a chart draws of candles, checked: ``open, high, low, close`` (finite prices,
    ``low <= open, close <= high``) on a tz-aware, strictly increasing index of bar open
    times. Other columns are not looked at. Returns the four columns as float64 arrays."""
    check_frame(candles, name, OHLC, "bars on a tz-aware UTC DatetimeIndex, e.g. what "
                "feeds.fetch_candles returns")
    _check_bar_index(candles.index, name)
    cols = {c: check_finite(candles, name, c) for c in OHLC}
    top = np.maximum(cols["open"], cols["close"])
    bottom = np.minimum(cols["open"], cols["close"])
    row = first_bad((cols["high"] < top) | (cols["low"] > bottom))
    if row is not None:
        raise ValueError(
            f"{name} row {row} ({candles.index[row]}): high {cols['high'][row]!r} and low "
            f"{cols['low'][row]!r} do not bracket open {cols['open'][row]!r} and close "
            f"{cols['close'][row]!r}; high must be the bar's highest price, low its lowest"
        )
    return cols
