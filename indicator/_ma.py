"""Moving averages with Pine's ``na`` semantics: a value only when the whole window is present."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..vocab import MaType

__all__ = ["moving_average"]


def _full_windows(x: np.ndarray, length: int) -> np.ndarray:
    """True where the ``length`` values ending at each position are all present."""
    valid = (~np.isnan(x)).astype(np.int64)
    count = np.convolve(valid, np.ones(length, dtype=np.int64), mode="full")[: len(x)]
    return count == length


def _sma(x: np.ndarray, length: int) -> np.ndarray:
    # pandas' rolling mean is compensated (Kahan) and NaN unless the window is full.
    return pd.Series(x).rolling(length, min_periods=length).mean().to_numpy()


def _wma(x: np.ndarray, length: int) -> np.ndarray:
    """Pine's ``ta.wma``: weight ``length`` on the newest value down to 1 on the oldest."""
    out = np.full(len(x), np.nan)
    if len(x) < length:
        return out
    weights = np.arange(length, 0, -1, dtype=np.float64)
    total = np.convolve(np.nan_to_num(x, nan=0.0), weights, mode="valid")
    out[length - 1 :] = total / weights.sum()
    out[~_full_windows(x, length)] = np.nan
    return out


def _vwma(x: np.ndarray, volume: np.ndarray, length: int) -> np.ndarray:
    """Pine's ``ta.vwma``: ``sma(x * volume) / sma(volume)``; NaN where volume sums to 0."""
    num = pd.Series(x * volume).rolling(length, min_periods=length).sum().to_numpy()
    den = pd.Series(volume).rolling(length, min_periods=length).sum().to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / den
    out[~(den > 0)] = np.nan
    return out


def _runs(valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and stop (exclusive) positions of the runs of True in ``valid``."""
    padded = np.concatenate(([False], valid, [False])).astype(np.int8)
    edges = np.diff(padded)
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def _ema(x: np.ndarray, length: int) -> np.ndarray:
    """EMA with ``alpha = 2/(length+1)``, seeded by the SMA of the first ``length`` values of
    every run of present values; a NaN restarts it (docs/method.md 1.2)."""
    out = np.full(len(x), np.nan)
    alpha = 2.0 / (length + 1)
    starts, stops = _runs(~np.isnan(x))
    for start, stop in zip(starts, stops, strict=True):
        seed_at = start + length - 1
        if seed_at >= stop:
            continue
        seeded = x[seed_at:stop].copy()
        seeded[0] = x[start : seed_at + 1].mean()
        out[seed_at:stop] = pd.Series(seeded).ewm(alpha=alpha, adjust=False).mean().to_numpy()
    return out


def moving_average(
    x: np.ndarray, length: int, ma_type: MaType, volume: np.ndarray | None = None
) -> np.ndarray:
    """The ``ma_type`` moving average of ``x`` over ``length`` bars ending at each bar.

    Parameters
    ----------
    x : numpy.ndarray
        float64 values; NaN marks a missing value.
    length : int
        Window length in bars (>= 1).
    ma_type : {"sma", "ema", "wma", "vwma"}
        Average kind, with Pine's semantics; ``"vwma"`` weights by ``volume``.
    volume : numpy.ndarray, optional
        Bar volumes, required for ``"vwma"``.

    Returns
    -------
    numpy.ndarray
        float64, NaN unless the window (or, for ``"ema"``, the seeding run) is complete.
    """
    x = np.asarray(x, dtype=np.float64)
    if ma_type == "sma":
        return _sma(x, length)
    if ma_type == "ema":
        return _ema(x, length)
    if ma_type == "wma":
        return _wma(x, length)
    if ma_type == "vwma":
        if volume is None:
            raise ValueError("ma_type='vwma' needs the bars' volume")
        return _vwma(x, np.asarray(volume, dtype=np.float64), length)
    raise ValueError(f"unknown ma_type {ma_type!r}")
