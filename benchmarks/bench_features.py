"""Speed of the backtest features: ``python -m pytest benchmarks/bench_features.py``.

Target (issue 8): ``features`` on 1,000,000 one-minute bars in <= 1 s, given the levels
(``bench_features_given_levels``). The exact ``*_within_*`` counts are the costly part; the
frame without them is timed apart (``within=()``), and so is the whole pipeline from candles
(``oi_levels`` included) and the same kernels run as plain Python, as they do where numba
cannot be imported (100,000 bars: plain Python is slow). The numba kernels are compiled (or
loaded from their cache) in the warmup round, outside the timings.

Issue 20: ``features`` on 1M / 10M bars <= 0.30 s / <= 3.5 s and <= 3 GB at 10M. Each case
runs ``compiled`` (today: one live sweep per side for lines that end top first) beside
``baseline`` (before issue 20, ``benchmarks/_baseline.py``) in the same session. The 10M
bars and their levels are made once per session and run few rounds.
"""

from __future__ import annotations

import functools
import warnings

import _baseline
import pytest
from _peak import peaks, rounds_apart

from liqlevels import indicator
from liqlevels.feeds import sample_candles
from liqlevels.indicator import _sweep

IMPLS = {"compiled": indicator.features, "baseline": _baseline.features}
ROUNDS = {10_000: 7, 100_000: 7, 1_000_000: 5, 10_000_000: 5}  # 10M: 3 gave medians 2x apart


@functools.cache
def market(n: int):
    candles = sample_candles(n, timeframe="1m", seed=42)
    return candles, indicator.oi_levels(candles)


@functools.cache
def _warm() -> None:
    """Load the numba kernels outside the timings and the memory traces."""
    candles, levels = market(10_000)
    for impl in IMPLS.values():
        impl(candles, levels)


def _run(benchmark, n, rounds=7, impl="compiled", **kwargs):
    candles, levels = market(n)
    _warm()
    frame = rounds_apart(benchmark, IMPLS[impl], args=(candles, levels), kwargs=kwargs,
                         rounds=rounds, warmup_rounds=1)
    benchmark.extra_info["bars"] = n
    benchmark.extra_info["lines"] = len(levels)
    benchmark.extra_info["columns"] = frame.shape[1]


@pytest.mark.parametrize("impl", list(IMPLS))
@pytest.mark.parametrize("n", list(ROUNDS))
def bench_features_given_levels(benchmark, n, impl):
    _run(benchmark, n, ROUNDS[n], impl)


@pytest.mark.parametrize("impl", list(IMPLS))
@pytest.mark.parametrize("n", [1_000_000, 10_000_000])
def bench_features_peak_memory(benchmark, n, impl):
    """Peak memory of one call given the levels: the 24 output columns included (10M bars:
    24 x 80 MB = 1.9 GB of them)."""
    candles, levels = market(n)
    _warm()
    traced, resident = benchmark.pedantic(
        peaks, args=(lambda: IMPLS[impl](candles, levels),), rounds=1, iterations=1)
    input_bytes = candles.memory_usage(deep=True).sum() + levels.memory_usage(deep=True).sum()
    benchmark.extra_info["input_mb"] = round(input_bytes / 2**20, 1)
    benchmark.extra_info["peak_extra_mb"] = round(traced / 2**20, 1)
    if resident is not None:
        benchmark.extra_info["resident_peak_extra_mb"] = round(resident / 2**20, 1)


def bench_features_without_within_1m(benchmark):
    _run(benchmark, 1_000_000, within=())


@pytest.mark.parametrize("impl", list(IMPLS))
def bench_features_from_candles_1m(benchmark, impl):
    candles, _ = market(1_000_000)
    _warm()
    benchmark.pedantic(IMPLS[impl], args=(candles,), rounds=2, iterations=1)


def bench_features_uncompiled_100k(benchmark, monkeypatch):
    monkeypatch.setattr(_sweep, "kernels", lambda: _sweep.PYTHON)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", _sweep.NumbaMissingWarning)
        _run(benchmark, 100_000, rounds=3)
