"""Speed of the charts: ``python -m pytest benchmarks/bench_charts.py --benchmark-only``.

Target (issue 4): 100k candles and 5,000 lines (with the density profile) load and render in
headless Chromium in at most 3 s (from 50,000 candles the page is packed and aggregated, see
bench_big_chart.py; ``json-every-candle`` is the page before, the baseline): from navigating
to the HTML file to the chart reporting ``ready`` (drawn, two animation frames after the data
is set). Also measured: building the scene and its HTML in Python, the same page with the OI
panes, and ``to_png`` end to end (browser start included).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _pages import CHROMIUM, load_ready

from liqlevels import charts, indicator
from liqlevels.feeds import sample_candles

BARS = 100_000
LINES = 5_000

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")


@pytest.fixture(scope="module")
def frames():
    candles = sample_candles(n=BARS, timeframe="1m", seed=11)
    levels = indicator.oi_levels(candles)
    assert len(levels) >= LINES
    return candles, levels, indicator.density(levels), indicator.oi_signals(candles)


def _load(browser, path: Path) -> dict:
    return load_ready(browser, path, "{candles: __liqlevels.candles, lines: __liqlevels.lines}")


def test_scene_and_html_in_python(benchmark, frames):
    candles, levels, density, _ = frames
    benchmark.extra_info["target_s"] = None
    page = benchmark.pedantic(
        lambda: charts.Scene(candles, levels, density, max_lines=LINES).html(),
        rounds=3, warmup_rounds=1,
    )
    benchmark.extra_info["html_mb"] = round(len(page) / 1e6, 1)


@pytest.mark.parametrize("aggregate", [None, False], ids=["packed", "json-every-candle"])
@pytest.mark.parametrize("oi_panes", [False, True], ids=["candles+lines", "with-oi-panes"])
def test_load_and_render_100k_candles_5000_lines(benchmark, frames, browser, tmp_path, oi_panes,
                                                 aggregate):
    """Target (without the OI panes): <= 3 s. ``json-every-candle`` is the page before big
    charts (``aggregate=False``), the baseline."""
    candles, levels, density, sig = frames
    scene = charts.Scene(candles, levels, density, oi=sig if oi_panes else None,
                         max_lines=LINES, aggregate=aggregate)
    path = scene.to_html(tmp_path / "big.html")
    benchmark.extra_info["target_s"] = None if oi_panes else 3.0
    got = benchmark.pedantic(_load, args=(browser, path), rounds=5, warmup_rounds=1)
    assert got == {"candles": BARS, "lines": LINES}


def test_to_png_end_to_end(benchmark, frames, tmp_path):
    candles, levels, density, _ = frames
    scene = charts.Scene(candles, levels, density, max_lines=LINES)
    benchmark.extra_info["target_s"] = None
    out = benchmark.pedantic(scene.to_png, args=(tmp_path / "big.png",), rounds=3)
    assert out.stat().st_size > 10_000
