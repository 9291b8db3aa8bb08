"""Speed of the backtest features: ``python -m pytest benchmarks/bench_features.py``.

Target (issue 8): ``features`` on 1,000,000 one-minute bars in <= 1 s, given the levels
(``bench_features_given_levels``). The exact ``*_within_*`` counts are the costly part; the
frame without them is timed apart (``within=()``), and so is the whole pipeline from candles
(``oi_levels`` included) and the same kernels run as plain Python, as they do where numba
cannot be imported (100,000 bars: plain Python is slow). The numba kernels are compiled (or
loaded from their cache) in the warmup round, outside the timings.
"""

from __future__ import annotations

import functools
import warnings

import pytest

from liqlevels import indicator
from liqlevels.feeds import sample_candles
from liqlevels.indicator import _sweep


@functools.cache
def market(n: int):
    candles = sample_candles(n, timeframe="1m", seed=42)
    return candles, indicator.oi_levels(candles)


def _run(benchmark, n, rounds=7, **kwargs):
    candles, levels = market(n)
    frame = benchmark.pedantic(indicator.features, args=(candles, levels), kwargs=kwargs,
                               rounds=rounds, iterations=1, warmup_rounds=1)
    benchmark.extra_info["bars"] = n
    benchmark.extra_info["lines"] = len(levels)
    benchmark.extra_info["columns"] = frame.shape[1]


@pytest.mark.parametrize("n", [10_000, 100_000, 1_000_000])
def bench_features_given_levels(benchmark, n):
    _run(benchmark, n)


def bench_features_without_within_1m(benchmark):
    _run(benchmark, 1_000_000, within=())


def bench_features_from_candles_1m(benchmark):
    candles, _ = market(1_000_000)
    benchmark.pedantic(indicator.features, args=(candles,), rounds=2, iterations=1)


def bench_features_uncompiled_100k(benchmark, monkeypatch):
    monkeypatch.setattr(_sweep, "kernels", lambda: _sweep.PYTHON)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", _sweep.NumbaMissingWarning)
        _run(benchmark, 100_000, rounds=3)
