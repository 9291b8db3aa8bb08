"""Speed of a big chart: ``python -m pytest benchmarks/bench_big_chart.py --benchmark-only``.

Target (issue 20, item 4): 1,000,000 one-minute candles with the default lines (``oi_levels``
of them, the newest 500 drawn per view, the density profile) are ready in headless Chromium
in at most 2 s, from navigating to the HTML file to the chart reporting ``ready`` (drawn, two
animation frames after the data is set). The baseline, in the same run, is the page before:
every candle as JSON, each one handed to the chart (``Scene(aggregate=False)``). Also
measured: the scene and its HTML in Python, both ways.

The two pages are loaded in turn (``test_big_chart_interleaved``), so both see the same noise
on this shared 2-core machine; the medians go to extra_info and are printed.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import pytest
from _pages import CHROMIUM, load_ready

from liqlevels import charts

BARS = 1_000_000  # as many as the million_bars fixture (conftest.py) makes

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")


def _load(browser, path: Path) -> dict:
    return load_ready(browser, path, "{candles: __liqlevels.candles, lines: __liqlevels.lines, "
                      "error: __liqlevels.error}", timeout=120_000)


@pytest.mark.parametrize("aggregate", [False, True], ids=["json-every-candle", "packed"])
def test_scene_and_html_in_python(benchmark, million_bars, aggregate):
    candles, levels, density = million_bars
    benchmark.extra_info["target_s"] = None
    page = benchmark.pedantic(
        lambda: charts.Scene(candles, levels, density, aggregate=aggregate).html(),
        rounds=2, warmup_rounds=0,
    )
    benchmark.extra_info["html_mb"] = round(len(page) / 1e6, 1)


def test_big_chart_interleaved(benchmark, million_bars, browser, tmp_path):
    """Both pages loaded in turn, 3 times each after a warm-up pair: target <= 2 s packed."""
    candles, levels, density = million_bars
    paths = [charts.Scene(candles, levels, density, aggregate=agg).to_html(tmp_path / f"{i}.html")
             for i, agg in enumerate((False, True))]
    took: list[list[float]] = [[], []]

    def pair() -> None:
        for i, path in enumerate(paths):
            start = time.perf_counter()
            got = _load(browser, path)
            took[i].append(time.perf_counter() - start)
            assert got == {"candles": BARS, "lines": 500, "error": None}

    benchmark.pedantic(pair, rounds=4, warmup_rounds=0)
    json_s, packed_s = (statistics.median(t[1:] or t) for t in took)  # the first pair left out
    # (under --benchmark-disable pair() runs once: that one is all there is)
    benchmark.extra_info.update(json_s=round(json_s, 2), packed_s=round(packed_s, 2),
                                speedup=round(json_s / packed_s, 1), target_s=2.0)
    print(f"\nready, 1M candles: every candle as JSON {json_s:.2f} s, packed {packed_s:.2f} s "
          f"({json_s / packed_s:.1f}x)")
