"""Moving averages with Pine's ``na`` semantics: a value only when the whole window is present."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..vocab import MaType

__all__ = ["moving_average"]


def _full_windows(x: np.ndarray, length: int) -> np.ndarray:
    """True where the ``length`` values ending at each position are all present.

    Counted with a running count of missing values (exact integers), O(bars) whatever the
    window."""
    missing = np.concatenate(([0], np.cumsum(np.isnan(x), dtype=np.int64)))
    full = np.zeros(len(x), dtype=bool)
    if len(x) >= length:
        full[length - 1 :] = missing[length:] == missing[: len(x) - length + 1]
    return full


def _sma(x: np.ndarray, length: int) -> np.ndarray:
    # pandas' rolling mean is compensated (Kahan) and NaN unless the window is full.
    return pd.Series(x).rolling(length, min_periods=length).mean().to_numpy()


def _block_sums(x: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Running sums of ``x`` and of ``r * x`` restarted every ``length`` bars (``r`` the
    position inside the block), laid out as ``(blocks, length)``; x padded with zeros."""
    blocks = -(-len(x) // length)
    padded = np.zeros(blocks * length)
    padded[: len(x)] = x
    padded = padded.reshape(blocks, length)
    plain = np.cumsum(padded, axis=1)
    ranked = np.cumsum(padded * np.arange(length, dtype=np.float64), axis=1)
    return plain, ranked


def _wma(x: np.ndarray, length: int) -> np.ndarray:
    """Pine's ``ta.wma``: weight ``length`` on the newest value down to 1 on the oldest.

    ``sum(w * x) / sum(w)`` over the window, in O(bars) whatever ``length``: the window
    ending at bar ``t`` (position ``r`` in its block of ``length`` bars) is the head of that
    block up to ``r``, weighted ``r' + length - r``, plus the tail of the block before after
    ``r``, weighted ``r' - r``; both read from the blocks' running sums, which stay as small
    as one window's sum (no drift along the series). NaN unless the whole window is present.
    """
    n = len(x)
    out = np.full(n, np.nan)
    if n < length:
        return out
    plain, ranked = _block_sums(np.nan_to_num(x, nan=0.0), length)
    r = np.arange(length, dtype=np.float64)
    head = ranked + (length - r) * plain  # bars [block start, t] of t's own block
    tail = np.zeros_like(head)  # bars (t - length, block start) of the block before
    tail[1:] = (ranked[:-1, -1:] - ranked[:-1]) - r * (plain[:-1, -1:] - plain[:-1])
    total = (head + tail).ravel()[:n]
    out[length - 1 :] = total[length - 1 :] / (length * (length + 1) / 2)
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
