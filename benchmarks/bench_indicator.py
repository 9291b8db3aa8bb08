"""Speed of the OI-delta engine: ``python -m pytest benchmarks/bench_indicator.py``.

Targets (issue 2): ``oi_levels`` on 1,000,000 one-minute bars <= 0.3 s with peak extra memory
<= 4x the input frame; near-linear growth from 10k to 1M bars; ``density`` on 100k lines
<= 50 ms. Issue 16: the baseline costs O(bars) whatever its window: ``oi_signals`` with a
50,000-bar WMA on 200,000 bars within 3x the same run's SMA (it took 40 s when the WMA was a
convolution, O(bars x window)).
"""

from __future__ import annotations

import functools
import tracemalloc

import pytest

from liqlevels import indicator
from liqlevels.feeds import sample_candles


@functools.cache
def candles(n: int):
    return sample_candles(n, timeframe="1m", seed=42)


@pytest.mark.parametrize("n", [10_000, 100_000, 1_000_000])
def bench_oi_levels(benchmark, n):
    frame = candles(n)
    levels = benchmark.pedantic(indicator.oi_levels, args=(frame,), rounds=15, iterations=1,
                                warmup_rounds=1)
    benchmark.extra_info["bars"] = n
    benchmark.extra_info["lines"] = len(levels)


def bench_oi_levels_peak_memory(benchmark):
    frame = candles(1_000_000)
    input_bytes = frame.memory_usage(deep=True).sum()

    def run():
        tracemalloc.start()
        indicator.oi_levels(frame)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return peak

    peak = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info["input_mb"] = round(input_bytes / 2**20, 1)
    benchmark.extra_info["peak_extra_mb"] = round(peak / 2**20, 1)
    benchmark.extra_info["peak_over_input"] = round(peak / input_bytes, 2)


def bench_density_100k_lines(benchmark):
    levels = indicator.oi_levels(candles(100_000))
    levels = levels.iloc[:100_000].assign(end=levels["end"].iloc[:100_000])
    live = levels.assign(end=levels["end"].where(levels.index % 3 != 0))
    at = live["start"].iloc[len(live) // 2]
    benchmark.extra_info["lines"] = len(live)
    benchmark(indicator.density, live, at=at)


@pytest.mark.parametrize("ma_type", ["sma", "wma"])
def bench_long_window_baseline(benchmark, ma_type):
    """A 50,000-bar baseline on 200,000 bars: WMA beside SMA, in one run."""
    frame = candles(200_000)
    benchmark.pedantic(indicator.oi_signals, args=(frame,),
                       kwargs={"ma_length": 50_000, "ma_type": ma_type},
                       rounds=5, iterations=1, warmup_rounds=1)
    benchmark.extra_info["bars"] = len(frame)
    benchmark.extra_info["window"] = 50_000
