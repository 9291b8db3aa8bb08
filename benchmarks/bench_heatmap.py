"""Speed of the liquidation heatmap: ``python -P -m pytest benchmarks/bench_heatmap.py``.

Targets (issue 17): ``heatmap`` of the OI levels of 1,000,000 one-minute bars
(``sample_candles(1_000_000, timeframe="1m")``, 1.37M lines) on a grid of 2,000 times with
about 200 price bins (``bin_size=2.5``) <= 0.3 s; of 100,000 bars (140k lines) at every bar
(100,000 times x 135 bins, 8.5M non-empty cells out) <= 1 s.

The baseline, in the same run, is the obvious way: for each time a live mask over all the
lines and one bincount per side on the same aligned bins (``per_time_loop``), O(times x
lines); it runs on 200 of the 2,000 times and ``extra_info["projected_2000_s"]`` scales it.

Measured 2026-12-02 on 2 cores shared with other sessions, so the medians swing and the
minimum is the figure to compare. Seconds, min (median); runs A and B at load average 11 to
14, run C at load average 4:

=============================================  ============  ============  ============
case                                           A             B             C
=============================================  ============  ============  ============
1M bars, 2,000 times x 197 bins, count         0.230 (0.36)  0.238 (0.31)  0.075 (0.09)
1M bars, 2,000 times x 197 bins, notional      0.305 (0.35)  0.219 (0.97)  0.088 (0.11)
100k bars, every bar (100,000 x 135), count    0.828 (1.27)  1.028 (4.67)  0.318 (0.69)
baseline loop, 200 of the 2,000 times          1.74 (3.10)   1.98 (2.19)   0.465 (0.69)
=============================================  ============  ============  ============

The 1M-bar grid gives 172,716 non-empty cells from 1,374,040 lines; the every-bar case
8,477,398 cells from 139,560 lines. The baseline projects to 4.7 s (run C) to 20 s for the
2,000 times: the heatmap is some 60 times faster, and its cost does not grow with times x
lines.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from liqlevels import indicator
from liqlevels.feeds import sample_candles
from liqlevels.indicator._map import _bin_index


@functools.cache
def levels(n: int):
    candles = sample_candles(n, timeframe="1m", seed=42)
    return candles.index, indicator.oi_levels(candles)


def per_time_loop(lines, times, bin_size: float) -> int:
    """The baseline: every time, mask the live lines and bincount them per side."""
    start = lines["start"].array.as_unit("ns").asi8
    end = lines["end"].array.as_unit("ns").asi8
    open_ = lines["end"].isna().to_numpy()
    short = (lines["side"] == "short").to_numpy()
    k = _bin_index(lines["price"].to_numpy(), bin_size).astype(np.int64)
    k -= k.min()
    cells = 0
    for t in times.as_unit("ns").asi8:
        live = (start <= t) & (open_ | (end > t))
        for side in (~short, short):
            cells += np.count_nonzero(np.bincount(k[live & side]))
    return cells


@pytest.mark.parametrize("weight", ["count", "notional"])
def bench_heatmap_1m_bars_2000_times(benchmark, weight):
    index, lines = levels(1_000_000)
    grid = index[::500]
    out = benchmark.pedantic(indicator.heatmap, args=(lines, grid),
                             kwargs={"bin_size": 2.5, "weight": weight},
                             rounds=7, iterations=1, warmup_rounds=1)
    benchmark.extra_info.update(lines=len(lines), times=len(grid),
                                bins=int(out["price_low"].nunique()), cells=len(out))


def bench_heatmap_100k_bars_every_bar(benchmark):
    index, lines = levels(100_000)
    out = benchmark.pedantic(indicator.heatmap, args=(lines, index), kwargs={"bin_size": 1.0},
                             rounds=5, iterations=1, warmup_rounds=1)
    benchmark.extra_info.update(lines=len(lines), times=len(index),
                                bins=int(out["price_low"].nunique()), cells=len(out))


def bench_baseline_per_time_loop_200_of_2000_times(benchmark):
    index, lines = levels(1_000_000)
    grid = index[::500][::10]
    benchmark.pedantic(per_time_loop, args=(lines, grid, 2.5), rounds=3, iterations=1)
    benchmark.extra_info.update(lines=len(lines), times=len(grid),
                                projected_2000_s=round(benchmark.stats.stats.min * 10, 2))
