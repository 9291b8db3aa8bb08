"""Speed of ``liqlevels compare``: ``python -m pytest benchmarks/bench_compare.py``.

Target (issue 7): a 20,000-bar TradingView export (about what a chart loads on 1m) with the
script's 15 plots is read, recomputed and compared in at most 1 s. Reading the CSV and the
comparison are also timed apart.
"""

from __future__ import annotations

import io
import math

import pytest

from liqlevels import _compare as cmp
from liqlevels._compare_report import format_report
from liqlevels.feeds import read_tradingview_export, sample_candles

BARS = 20_000


def _export_text(bars: int) -> str:
    candles = sample_candles(bars, timeframe="1m", seed=5)
    plots = cmp.expected_columns(candles)
    head = ["time", "open", "high", "low", "close", *plots.columns]
    cols = [candles[k].tolist() for k in ("open", "high", "low", "close")]
    cols += [plots[c].tolist() for c in plots.columns]
    lines = [",".join(head)]
    for i, ts in enumerate(candles.index):
        cells = ["" if math.isnan(col[i]) else repr(col[i]) for col in cols]
        lines.append(",".join([str(int(ts.timestamp())), *cells]))
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def text() -> str:
    return _export_text(BARS)


def bench_read_export(benchmark, text):
    export = benchmark(lambda: read_tradingview_export(io.StringIO(text)))
    assert len(export) == BARS


def bench_compare_export(benchmark, text):
    export = read_tradingview_export(io.StringIO(text))
    result = benchmark(lambda: cmp.compare_export(export))
    assert result.match


def bench_read_compare_report(benchmark, text):
    """Target: <= 1 s for 20,000 bars."""

    def run():
        result = cmp.compare_export(read_tradingview_export(io.StringIO(text)))
        return result, format_report(result)

    result, _ = benchmark(run)
    assert result.match
    if benchmark.stats is not None:  # None under --benchmark-disable
        assert benchmark.stats.stats.median <= 1.0
