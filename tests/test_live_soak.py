"""Soak: 50,000 bars and 1,000,000 trades through the live pipeline (feed events -> the
engines -> the live page), with memory that stays flat apart from what is kept on purpose.

What the pipeline keeps on purpose grows with the stream: the bars seen (56 bytes each) and
every line (``levels()`` must equal ``oi_levels`` over all bars). Everything else must not
grow: the page's state is capped (``max_bars``), nothing queues for pages that are not
connected, the ``top_n`` trade map keeps its ``n`` trades per side, and no per-event object
survives. The test measures the process's resident memory at five checkpoints and holds it
against the first checkpoint plus the purposely kept bytes.
"""

from __future__ import annotations

import asyncio
import gc
import io
import os

import numpy as np
import pandas as pd
from pandas.testing import assert_frame_equal

from liqlevels import charts, indicator
from liqlevels._live import LiveRun, StatusLine, _Loop
from liqlevels._live_state import LiveState
from liqlevels.feeds import LiveBar, LiveTrades, sample_candles

BARS = 50_000
TRADES = 1_000_000
CHUNK = 100
WARM = 600


def _rss() -> int:
    """Resident bytes of this process, after a full collection."""
    gc.collect()
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _trades(candles: pd.DataFrame, per_bar: int, rng: np.random.Generator) -> pd.DataFrame:
    """``per_bar`` trades inside each bar's range, sizes heavy-tailed."""
    n = len(candles) * per_bar
    bar = np.repeat(np.arange(len(candles)), per_bar)
    low, high = candles["low"].to_numpy()[bar], candles["high"].to_numpy()[bar]
    start = candles.index.asi8[bar] if candles.index.unit == "ns" else \
        candles.index.as_unit("ns").asi8[bar]
    return pd.DataFrame({
        "time": pd.to_datetime(start + np.tile(np.arange(per_bar), len(candles)) * 10**9,
                               utc=True),
        "price": low + (high - low) * rng.random(n),
        "quantity": rng.pareto(1.3, n) * 0.05 + 0.001,
        "side": np.where(rng.random(n) < 0.5, "buy", "sell"),
    })


def test_soak_50k_bars_1m_trades_memory_flat():
    rng = np.random.default_rng(0)
    candles = sample_candles(WARM + BARS, timeframe="1m", seed=4)
    warm, live = candles.iloc[:WARM], candles.iloc[WARM:]
    per_bar = TRADES // BARS  # 20 trades a bar, handed over in chunks of 100 (five bars)
    trades = _trades(live, per_bar, rng)
    state = LiveState(indicator.OIOptions(), bins=100,
                      trade_map=indicator.LiveTradeMap(mode="top_n", threshold=200))
    state.warm_up(warm)
    scene = charts.Scene(warm, state.levels(), state.density())

    async def soak() -> tuple[list[int], LiveRun, charts.LivePage]:
        page = charts.LivePage(scene, max_bars=2_000)
        await page.start()
        run = LiveRun()
        loop = _Loop(state, page, None, StatusLine(io.StringIO(), every=3600), lambda a: None,
                     run)
        values = live[["open", "high", "low", "close", "volume", "open_interest"]].to_numpy()
        memory = []
        for i, (time, row) in enumerate(zip(live.index, values, strict=True)):
            o, h, lo, c, v, oi = row.tolist()
            if i % 5 == 0:  # a forming version first, replaced by the closed bar
                loop.handle(LiveBar(time, o, h, lo, o, v / 2, oi, False))
            loop.handle(LiveBar(time, o, h, lo, c, v, oi, True))
            if (i + 1) % (CHUNK // per_bar) == 0:
                done = (i + 1) * per_bar
                loop.handle(LiveTrades(trades.iloc[done - CHUNK: done]))
            if i % 200 == 0:
                loop.tick()
                await asyncio.sleep(0)
            if (i + 1) % (BARS // 5) == 0:
                memory.append(_rss())
        await page.stop()
        return memory, run, page

    memory, run, page = asyncio.run(soak())
    assert run.trades == TRADES and run.bars == BARS + BARS // 5
    assert_frame_equal(state.levels(), indicator.oi_levels(candles))  # nothing lost or doubled
    levels = len(state.levels())
    snapshot = page.snapshot()
    assert snapshot["scene"]["candles"]["n"] <= 2_200  # the page keeps its window
    # What is kept on purpose after the first checkpoint: 4/5 of the bars and lines.
    kept = 0.8 * (BARS * 56 + levels * 400)
    growth = memory[-1] - memory[0]
    print(f"soak: RSS at 10k..50k bars {[round(m / 2**20) for m in memory]} MB, {levels} lines, "
          f"kept on purpose {kept / 2**20:.1f} MB")
    assert growth <= kept + 48 * 2**20, (
        f"RSS grew {growth / 2**20:.0f} MB over the last 40,000 bars (checkpoints "
        f"{[round(m / 2**20) for m in memory]} MB); expected at most the bars and lines kept "
        f"({kept / 2**20:.0f} MB) plus 48 MB of allocator slack")
