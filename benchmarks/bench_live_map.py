"""Speed of the live trade map: ``python -m pytest benchmarks/bench_live_map.py``.

Target (issue 15): 50,000 trades/s through ``LiveTradeMap.add`` + ``liquidation_map`` on
1,000,000 synthetic trades arriving in chunks of 100 (a map after every chunk, as a live chart
would redraw it). The figure is ``extra_info["trades_per_s"]``; the other modes are for
information. Each run feeds 1M trades, so it takes tens of seconds to two minutes.

Measured (2 shared cores, 2026-12-01; one round each), before and after removing the
per-chunk pandas overheads (the map's column reorder, Arrow string comparisons on a
100-row chunk, the time zone conversion, side strings built from Python strings):

| mode | kept levels at the end | trades/s before | trades/s now |
|---|---|---|---|
| ``gross_value`` 100k | 15,696 | about 45,000 | about 80,000 |
| ``top_n`` 100 | 800 | about 80,000 | about 173,000 |
| ``portion`` 1% | 39,996 | about 8,000 | about 6,500 (its heaps dominate) |

``gross_value`` keeps every large trade ever seen, and ``portion`` keeps 1% of all trades
(and remembers every trade), so a map per chunk costs more as the stream grows: the figures
are averages over the whole million. A map per chunk of 100 is also more than a chart
needs (a redraw every 100 ms covers hundreds of trades at a busy moment).
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest

from liqlevels.indicator import LiveTradeMap

TRADES = 1_000_000
CHUNK = 100
TARGET = 50_000  # trades/s


@functools.cache
def chunks(n: int = TRADES, size: int = CHUNK, seed: int = 0) -> list[pd.DataFrame]:
    """``n`` trades around 29,000 (heavy-tailed sizes: about 0.4% are >= 100k USDT) over one
    day, as the trades frames a websocket feed would hand over, ``size`` rows each."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2023-08-01", tz="UTC").value
    frame = pd.DataFrame({
        "time": pd.to_datetime(start + np.sort(rng.integers(0, 86_400 * 10**9, n)), utc=True),
        "price": np.round(29_000 + np.cumsum(rng.normal(0, 2, n)), 1),
        "quantity": np.round(rng.pareto(1.3, n) * 0.05 + 0.001, 3),
        "side": np.where(rng.random(n) < 0.5, "buy", "sell"),
    })
    return [frame.iloc[i : i + size] for i in range(0, n, size)]


def feed(mode: str, threshold: float | int) -> LiveTradeMap:
    live = LiveTradeMap(mode=mode, threshold=threshold)
    for part in chunks():
        live.add(part)
        live.liquidation_map()
    return live


@pytest.mark.parametrize(("mode", "threshold"),
                         [("gross_value", 100_000), ("top_n", 100), ("portion", 0.01)])
def bench_live_map_1m_trades_chunks_of_100(benchmark, mode, threshold):
    """add + liquidation_map per chunk of 100, 1M trades: target 50,000 trades/s."""
    chunks()  # generated outside the timing
    live = benchmark.pedantic(feed, args=(mode, threshold), rounds=1, iterations=1)
    seconds = benchmark.stats.stats.median
    benchmark.extra_info.update(trades=TRADES, chunk=CHUNK, levels=len(live.levels()),
                                trades_per_s=round(TRADES / seconds), target=TARGET)
