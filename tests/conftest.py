"""Shared fixtures: the real market data beside the project (when it is there), and feed
retries that record their waits instead of sleeping."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "okx-sol-usdt-swap"


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real data not found at {path} (it lives beside the project, not in it)")
    return path


def load_okx_candles(timeframe: str = "1h") -> pd.DataFrame:
    """OKX SOL-USDT-SWAP candles with closing open interest in coins (USD OI / close).

    The hourly snapshot at ``T + 1h`` is the closing OI of the bar opening at ``T``; bars
    finer than an hour take the latest snapshot at or before their close (as-of).
    """
    candles = pd.read_csv(_need(SHARED_DATA / f"candles-{timeframe}.csv"))
    oi = pd.read_csv(_need(SHARED_DATA / "open-interest-1h.csv")).sort_values("ts")
    step = int(candles["ts"].diff().median())
    closes = candles.assign(close_ts=candles["ts"] + step).sort_values("close_ts")
    joined = pd.merge_asof(closes, oi, left_on="close_ts", right_on="ts",
                           suffixes=("", "_oi"), direction="backward")
    frame = joined.set_index(pd.to_datetime(joined["ts"], unit="ms", utc=True).rename("time"))
    frame["open_interest"] = frame["open_interest_usd"] / frame["close"]
    cols = ["open", "high", "low", "close", "volume", "open_interest"]
    return frame[cols].astype(np.float64)


@pytest.fixture(scope="session")
def okx_1h() -> pd.DataFrame:
    return load_okx_candles("1h")


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Feed retries record their waits instead of sleeping, with 4 tries."""
    from liqlevels import feeds
    from liqlevels.feeds import _retry

    recorded: list[float] = []
    monkeypatch.setattr(_retry, "_sleep", recorded.append)
    monkeypatch.setattr(feeds.settings, "tries", 4)
    return recorded


@pytest.fixture
def archive(monkeypatch: pytest.MonkeyPatch):
    """A loopback fake of the Binance and Bybit archives, where feeds looks for them."""
    from fakes import FakeArchive

    from liqlevels import feeds

    with FakeArchive() as server:
        monkeypatch.setitem(feeds.settings.archive_urls, "binance", server.base_url)
        monkeypatch.setitem(feeds.settings.archive_urls, "bybit", server.base_url)
        yield server


@pytest.fixture(scope="module")
def client():
    """A Dask client on a real two-worker ``LocalCluster`` (processes), one per test module
    that asks for it (the scan tests)."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as dask:
        yield dask
