"""Market content for the fake exchanges: real OKX SOL data when it is beside the project,
else a seeded synthetic market, both as 1-minute bars and 5-minute open interest."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["SHARED_DATA", "MarketData"]

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "okx-sol-usdt-swap"
MINUTE = 60_000
OI_STEP = 300_000


@dataclass(eq=False)
class MarketData:
    """One market: 1m bars (epoch ms) and open interest (coins) every 5 minutes.

    Every other timeframe is aggregated from the 1m bars; open interest at a period ``p``
    is the 5-minute series at the multiples of ``p``.
    """

    ts: np.ndarray
    ohlcv: np.ndarray  # (n, 5): open, high, low, close, volume
    oi_ts: np.ndarray
    oi_amount: np.ndarray
    source: str
    _bars: dict = field(default_factory=dict, repr=False)

    @property
    def now(self) -> int:
        """The fake exchange's clock: the close of the last 1m bar."""
        return int(self.ts[-1]) + MINUTE

    @classmethod
    def shared(cls) -> MarketData:
        """OKX SOL-USDT-SWAP from ``../shared/data`` (FileNotFoundError when absent)."""
        return _shared()

    @classmethod
    def generated(cls, *, days: float = 26, seed: int = 3,
                  start: str = "2026-05-31") -> MarketData:
        """A seeded synthetic market of ``days`` days of 1m bars."""
        return _generated(days, seed, start)

    @classmethod
    def default(cls) -> MarketData:
        """Shared data when present, else the synthetic market of the same length (also
        when the environment sets ``LIQLEVELS_FAKE_DATA=synthetic``)."""
        synthetic = os.environ.get("LIQLEVELS_FAKE_DATA") == "synthetic"
        return _shared() if SHARED_DATA.is_dir() and not synthetic else _generated(
            26, 3, "2026-05-31")

    def scaled(self, factor: float) -> MarketData:
        """The same market with prices times ``factor`` (another symbol's content)."""
        ohlcv = self.ohlcv.copy()
        ohlcv[:, :4] *= factor
        return MarketData(self.ts, ohlcv, self.oi_ts, self.oi_amount / factor, self.source)

    def candles(self, step: int) -> np.ndarray:
        """``(n, 6)`` bars of ``step`` ms: ts, open, high, low, close, volume (the last may be
        still forming at :attr:`now`)."""
        if step not in self._bars:
            self._bars[step] = _aggregate(self.ts, self.ohlcv, step)
        return self._bars[step]

    def close_at(self, when: np.ndarray) -> np.ndarray:
        """Close of the 1m bar that ends at each ``when`` (ms)."""
        pos = np.clip(np.searchsorted(self.ts, when - MINUTE), 0, len(self.ts) - 1)
        return self.ohlcv[pos, 3]

    def open_interest(self, step: int) -> np.ndarray:
        """``(n, 3)`` snapshots every ``step`` ms: ts, amount (coins), value (USD)."""
        keep = self.oi_ts % step == 0
        ts = self.oi_ts[keep]
        amount = self.oi_amount[keep]
        return np.column_stack([ts, amount, amount * self.close_at(ts)])

    def expected(self, step: int, start: int, end: int, oi_step: int | None = None
                 ) -> pd.DataFrame:
        """What fetch_candles must return: closed bars in ``[start, end)``, each with the
        snapshot stamped at its close (or the last one before it within ``oi_step``)."""
        bars = self.candles(step)
        bars = bars[(bars[:, 0] >= start) & (bars[:, 0] < end) & (bars[:, 0] + step <= self.now)]
        oi_step = oi_step or step
        snaps = {int(t): (a, v) for t, a, v in self.open_interest(oi_step)}
        rows = []
        for t, o, h, low, c, v in bars:
            close_time = int(t) + step
            snap = close_time - close_time % oi_step
            amount, value = snaps.get(snap, (np.nan, np.nan))
            rows.append((o, h, low, c, v, amount, value))
        index = pd.DatetimeIndex(pd.to_datetime(bars[:, 0].astype(np.int64), unit="ms",
                                                utc=True), name="time").as_unit("ns")
        cols = ["open", "high", "low", "close", "volume", "open_interest", "open_interest_value"]
        return pd.DataFrame(rows, index=index, columns=cols, dtype=np.float64)


def _aggregate(ts: np.ndarray, ohlcv: np.ndarray, step: int) -> np.ndarray:
    if step == MINUTE:
        return np.column_stack([ts, ohlcv]).astype(np.float64)
    group = ts - ts % step
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    ends = np.r_[starts[1:], len(ts)] - 1
    return np.column_stack([
        group[starts], ohlcv[starts, 0], np.maximum.reduceat(ohlcv[:, 1], starts),
        np.minimum.reduceat(ohlcv[:, 2], starts), ohlcv[ends, 3],
        np.add.reduceat(ohlcv[:, 4], starts),
    ]).astype(np.float64)


def _oi_grid(ts: np.ndarray) -> np.ndarray:
    first = int(ts[0]) + MINUTE
    first += -first % OI_STEP
    return np.arange(first, int(ts[-1]) + MINUTE + 1, OI_STEP, dtype=np.int64)


@functools.cache
def _shared() -> MarketData:
    if not SHARED_DATA.is_dir():
        raise FileNotFoundError(f"no shared data at {SHARED_DATA}")
    bars = pd.read_csv(SHARED_DATA / "candles-1m.csv")
    usd = pd.read_csv(SHARED_DATA / "open-interest-1h.csv").sort_values("ts")
    ts = bars["ts"].to_numpy(np.int64)
    ohlcv = bars[["open", "high", "low", "close", "volume"]].to_numpy(np.float64)
    grid = _oi_grid(ts)
    usd_at = np.interp(grid, usd["ts"].to_numpy(np.float64), usd["open_interest_usd"].to_numpy())
    wiggle = 1.0 + 0.002 * np.random.default_rng(11).standard_normal(len(grid))
    close = ohlcv[np.clip(np.searchsorted(ts, grid - MINUTE), 0, len(ts) - 1), 3]
    return MarketData(ts, ohlcv, grid, np.round(usd_at * wiggle / close, 2), "shared")


@functools.cache
def _generated(days: float, seed: int, start: str) -> MarketData:
    from liqlevels.feeds import sample_candles

    frame = sample_candles(n=int(days * 1440), timeframe="1m", seed=seed, start=start,
                           price=80.0)
    ts = frame.index.as_unit("ms").asi8.astype(np.int64)
    ohlcv = frame[["open", "high", "low", "close", "volume"]].to_numpy(np.float64)
    grid = _oi_grid(ts)
    pos = np.clip(np.searchsorted(ts, grid - MINUTE), 0, len(ts) - 1)
    amount = np.round(frame["open_interest"].to_numpy()[pos], 2)
    return MarketData(ts, np.round(ohlcv, 4), grid, amount, "generated")
