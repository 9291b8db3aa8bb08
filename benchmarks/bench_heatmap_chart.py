"""Speed of the heatmap behind the candles:
``python -m pytest benchmarks/bench_heatmap_chart.py --benchmark-only``.

Target (issue 17): a 2,000-column x 200-bin heatmap (every cell filled: 400,000 cells, the
worst case) under 100k candles is ready in headless Chromium in at most 2 s, from navigating
to the HTML file to the chart reporting ``ready`` (drawn, two animation frames after the data
is set), with every bar in view (so every cell is drawn). The baseline, measured in the same
run, is the same page without the heatmap. Also measured: the scene and its HTML in Python.

Measured (2 cores shared with other work, load average 8 to 11; Debian Chromium): loaded in
turn 8 times each (``test_heatmap_cost_interleaved``, so both see the same noise), the page is
ready in 2.93 s with the heatmap against 2.81 s without: the heatmap costs about 0.12 s. The
2 s target is not met on this machine, because the 100k-candle page alone takes longer than
that under this load. Run apart (median of 5), the two pages varied from 2.4 to 3.2 s between
runs. The scene and its HTML in Python: 0.80 to 0.89 s with the heatmap (9.2 MB) against
0.34 s (4.5 MB). A first version that filled a rectangle per cell on every paint measured
3.17 s against 2.50 s; the one-pixel-per-cell bitmap scaled with ``drawImage`` replaced it.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _pages import CHROMIUM, load_ready

from liqlevels import charts
from liqlevels.feeds import sample_candles

BARS = 100_000
COLUMNS = 2_000
BINS = 200

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")


def dense_heatmap(candles: pd.DataFrame) -> pd.DataFrame:
    """Every one of COLUMNS x BINS cells filled, over the candles' price range, long below the
    middle and short above it (values vary so the colours do)."""
    times = candles.index[:: BARS // COLUMNS]
    low, high = float(candles["low"].min()), float(candles["high"].max())
    size = (high - low) / BINS
    k = np.arange(BINS)
    rng = np.random.default_rng(3)
    values = rng.gamma(2.0, 3.0, size=(len(times), BINS))
    side_long = np.broadcast_to(k < BINS // 2, values.shape)
    return pd.DataFrame({
        "time": times.repeat(BINS),
        "price_low": np.tile(low + k * size, len(times)),
        "price_high": np.tile(low + (k + 1) * size, len(times)),
        "long": np.where(side_long, values, 0.0).ravel(),
        "short": np.where(side_long, 0.0, values).ravel(),
    })


@pytest.fixture(scope="module")
def frames():
    candles = sample_candles(n=BARS, timeframe="1m", seed=11)
    return candles, dense_heatmap(candles)


def _load(browser, path: Path) -> dict:
    return load_ready(browser, path, "{candles: __liqlevels.candles, error: __liqlevels.error, "
                      "cells: __liqlevels.heatmap ? __liqlevels.heatmap.cells : 0}")


@pytest.mark.parametrize("heat", [False, True], ids=["baseline-candles", "with-heatmap"])
def test_scene_and_html_in_python(benchmark, frames, heat):
    candles, cells = frames
    benchmark.extra_info["target_s"] = None
    page = benchmark.pedantic(
        lambda: charts.Scene(candles, heatmap=cells if heat else None, visible_bars=None).html(),
        rounds=3, warmup_rounds=1,
    )
    benchmark.extra_info["html_mb"] = round(len(page) / 1e6, 1)


@pytest.mark.parametrize("heat", [False, True], ids=["baseline-candles", "with-heatmap"])
def test_ready_in_chromium_100k_candles_2000x200_heatmap(benchmark, frames, browser, tmp_path,
                                                         heat):
    """Target (with the heatmap): <= 2 s; the baseline is the same page without it."""
    candles, cells = frames
    scene = charts.Scene(candles, heatmap=cells if heat else None, visible_bars=None)
    path = scene.to_html(tmp_path / "heat.html")
    benchmark.extra_info["target_s"] = 2.0 if heat else None
    got = benchmark.pedantic(_load, args=(browser, path), rounds=5, warmup_rounds=1)
    assert got == {"candles": BARS, "error": None, "cells": COLUMNS * BINS if heat else 0}


def test_heatmap_cost_interleaved(benchmark, frames, browser, tmp_path):
    """The pages loaded in turn, 8 times each, so all see the same noise: without and with the
    heatmap, and with it on the page before big charts (every candle as JSON,
    ``aggregate=False``); the medians and the heatmap's own cost go to extra_info."""
    candles, cells = frames
    paths = [charts.Scene(candles, heatmap=h, visible_bars=None, aggregate=agg)
             .to_html(tmp_path / f"{i}.html")
             for i, (h, agg) in enumerate(((None, None), (cells, None), (cells, False)))]
    took: list[list[float]] = [[], [], []]

    def pair() -> None:
        for i, path in enumerate(paths):
            start = time.perf_counter()
            _load(browser, path)
            took[i].append(time.perf_counter() - start)

    benchmark.pedantic(pair, rounds=8, warmup_rounds=1)
    base, heat, old = (statistics.median(t[1:] or t) for t in took)  # the warm-up round left out
    # (under --benchmark-disable pair() runs once: that one is all there is)
    benchmark.extra_info.update(baseline_s=round(base, 2), heatmap_s=round(heat, 2),
                                cost_s=round(heat - base, 2), json_page_s=round(old, 2),
                                target_s=2.0)
    print(f"\nready: baseline {base:.2f} s, with heatmap {heat:.2f} s, cost {heat - base:.2f} s;"
          f" with heatmap, every candle as JSON (the page before) {old:.2f} s")
