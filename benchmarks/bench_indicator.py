"""Speed of the OI-delta engine: ``python -m pytest benchmarks/bench_indicator.py``.

Targets (issue 2): ``oi_levels`` on 1,000,000 one-minute bars <= 0.3 s with peak extra memory
<= 4x the input frame; near-linear growth from 10k to 1M bars; ``density`` on 100k lines
<= 50 ms. Issue 16: the baseline costs O(bars) whatever its window: ``oi_signals`` with a
50,000-bar WMA on 200,000 bars within 3x the same run's SMA (it took 40 s when the WMA was a
convolution, O(bars x window)).

Issue 20: ``oi_levels`` on 1M / 10M one-minute bars <= 0.10 s / <= 1.2 s with peak extra
memory <= 2x the input, linear to 10M. Each size runs twice in one session: ``compiled``
(today: the line ends by one backward sweep per side, :mod:`indicator._ends`) and
``baseline`` (before issue 20: the numpy search, ``benchmarks/_baseline.py``), so the ratio
is measured on the same machine in the same state. The 10M bars are generated once per
session (some seconds) and run few rounds.
"""

from __future__ import annotations

import functools

import _baseline
import pytest
from _peak import peaks, rounds_apart

from liqlevels import indicator
from liqlevels.feeds import sample_candles

IMPLS = {"compiled": indicator.oi_levels, "baseline": _baseline.oi_levels}
ROUNDS = {10_000: 15, 100_000: 15, 1_000_000: 7, 10_000_000: 4}


@functools.cache
def candles(n: int):
    return sample_candles(n, timeframe="1m", seed=42)


@functools.cache
def _warm() -> None:
    """Load the numba kernels (from numba's disk cache, or compile them) outside the timings
    and the memory traces."""
    indicator.oi_levels(candles(300_000))


@pytest.mark.parametrize("impl", list(IMPLS))
@pytest.mark.parametrize("n", list(ROUNDS))
def bench_oi_levels(benchmark, n, impl):
    frame = candles(n)
    _warm()
    levels = rounds_apart(benchmark, IMPLS[impl], args=(frame,), rounds=ROUNDS[n],
                          warmup_rounds=1)
    benchmark.extra_info["bars"] = n
    benchmark.extra_info["lines"] = len(levels)


@pytest.mark.parametrize("impl", list(IMPLS))
@pytest.mark.parametrize("n", [1_000_000, 10_000_000])
def bench_oi_levels_peak_memory(benchmark, n, impl):
    frame = candles(n)
    _warm()
    input_bytes = frame.memory_usage(deep=True).sum()
    traced, resident = benchmark.pedantic(peaks, args=(lambda: IMPLS[impl](frame),),
                                          rounds=1, iterations=1)
    benchmark.extra_info["input_mb"] = round(input_bytes / 2**20, 1)
    benchmark.extra_info["peak_extra_mb"] = round(traced / 2**20, 1)
    benchmark.extra_info["peak_over_input"] = round(traced / input_bytes, 2)
    if resident is not None:
        benchmark.extra_info["resident_peak_extra_mb"] = round(resident / 2**20, 1)


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
