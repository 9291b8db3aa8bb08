"""Speed of the incremental engine: ``python -m pytest benchmarks/bench_level_stream.py``.

Target (issue 15): ``LevelStream.update`` at most 20 us per bar amortised on the 1M-bar
synthetic series. Here 100,000 one-minute bars (the cost per bar does not grow with the
series: O(1) baseline, O(log m + lines ended) line ends); ``extra_info["us_per_bar"]`` is the
figure. The bars are unpacked to Python floats beforehand: the loop times ``update`` alone.
"""

from __future__ import annotations

import functools

import pytest

from liqlevels import indicator
from liqlevels.feeds import sample_candles

BARS = 100_000
COLS = ("open", "high", "low", "close", "volume", "open_interest")


@functools.cache
def bars(n: int) -> list[tuple]:
    candles = sample_candles(n, timeframe="1m", seed=42)
    return list(zip(candles.index, *(candles[c].tolist() for c in COLS), strict=True))


def _feed(rows: list[tuple], ma_type: str, resend: bool) -> indicator.LevelStream:
    stream = indicator.LevelStream(ma_type=ma_type)
    update = stream.update
    for time, o, h, lo, c, v, oi in rows:
        if resend:  # the forming candle first, then the closed one
            update(time, open=o, high=h, low=lo, close=o, volume=v / 2, open_interest=oi)
        update(time, open=o, high=h, low=lo, close=c, volume=v, open_interest=oi)
    return stream


@pytest.mark.parametrize("ma_type", ["sma", "ema", "wma", "vwma"])
def bench_update_per_bar(benchmark, ma_type):
    rows = bars(BARS)
    stream = benchmark.pedantic(_feed, args=(rows, ma_type, False), rounds=3, iterations=1)
    benchmark.extra_info["bars"] = BARS
    benchmark.extra_info["lines"] = len(stream.levels())
    benchmark.extra_info["us_per_bar"] = round(benchmark.stats.stats.mean / BARS * 1e6, 2)


def bench_update_with_forming_resend(benchmark):
    """Every bar sent twice: a forming version, then the closed one (undo + redo)."""
    rows = bars(BARS)
    benchmark.pedantic(_feed, args=(rows, "sma", True), rounds=3, iterations=1)
    benchmark.extra_info["bars"] = BARS
    benchmark.extra_info["us_per_bar"] = round(benchmark.stats.stats.mean / BARS * 1e6, 2)
