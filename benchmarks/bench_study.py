"""Speed of the study: ``python -P -m pytest benchmarks/bench_study.py``.

Target (issue 18): ``indicator.study`` on 100,000 one-minute bars
(``sample_candles(100_000, timeframe="1m", seed=42)``: 139,560 OI lines computed inside, both
sides, the four default bands, horizon 24, 1,000 block-bootstrap draws over 70 one-day
blocks) <= 5 s.

Baselines, in the same run, are the obvious ways of its two costly steps, timed on a slice
and projected (``extra_info["projected_s"]``):

- picking the clusters with a live mask over all lines and a bincount per time
  (``per_time_clusters``, 1,000 of the 99,963 sampled times, x 100);
- a bootstrap that gathers each draw's observations block by block and averages them
  (``loop_bootstrap``, 50 of the 1,000 draws, x 20), against the vectorised one on the same
  observations (``bench_vectorised_bootstrap_1000_draws``).

Measured 2026-12-02 on 2 shared cores, seconds min / median: study 0.76 / 0.89 at load 8 to
9.5 (1.71 / 2.79 and 2.41 / 2.54 at load 13); per-time clusters 0.65 for 1,000 times (65 s
projected); bootstrap loop 0.070 for 50 draws (1.4 s projected) against 0.010 for the
vectorised 1,000.
Table and notes: docs/study.md ("Speed").
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from liqlevels import indicator
from liqlevels.feeds import sample_candles
from liqlevels.indicator import _study
from liqlevels.indicator._map import _bin_index, default_bin_size


@functools.cache
def market(n: int):
    candles = sample_candles(n, timeframe="1m", seed=42)
    return candles, indicator.oi_levels(candles)


def bench_study_100k_one_minute_bars(benchmark):
    candles, _ = market(100_000)
    out = benchmark.pedantic(indicator.study, args=(candles,), kwargs={"n_boot": 1000},
                             rounds=3, iterations=1, warmup_rounds=1)
    benchmark.extra_info.update(samples=out.attrs["samples"], blocks=out.attrs["blocks"],
                                observations=int(out["n"].sum()),
                                touches=int(out["reaction_n"].sum()))


def per_time_clusters(lines, times, close, size: float) -> int:
    """The obvious way: per time, the live lines, summed per bin and side, densest per band."""
    start = lines["start"].array.as_unit("ns").asi8
    end = lines["end"].array.as_unit("ns").asi8
    open_ = lines["end"].isna().to_numpy()
    short = (lines["side"] == "short").to_numpy()
    weight = (lines["oi_delta"].abs() * lines["entry"]).to_numpy()
    k = _bin_index(lines["price"].to_numpy(), size).astype(np.int64)
    low = k.min()
    found = 0
    for t, c in zip(times.as_unit("ns").asi8, close, strict=True):
        live = (start <= t) & (open_ | (end > t))
        for side in (~short, short):
            sums = np.bincount(k[live & side] - low, weights=weight[live & side])
            mids = ((np.arange(len(sums)) + low) * size + (np.arange(len(sums)) + low + 1)
                    * size) / 2
            dist = np.abs(mids - c) / c
            for lo, hi in indicator.STUDY_BANDS:
                inside = (sums > 0) & (dist >= lo) & (dist < hi)
                if inside.any():
                    found += int(np.argmax(np.where(inside, sums, -1.0)) >= 0)
    return found


def bench_baseline_per_time_clusters_1000_of_100k_times(benchmark):
    candles, lines = market(100_000)
    times = candles.index[50_000:51_000]
    close = candles["close"].to_numpy()[50_000:51_000]
    size = default_bin_size(lines["entry"].to_numpy())
    benchmark.pedantic(per_time_clusters, args=(lines, times, close, size), rounds=2,
                       iterations=1)
    benchmark.extra_info.update(projected_s=round(benchmark.stats.stats.min * 100, 1))


def loop_bootstrap(blocks: np.ndarray, diff: np.ndarray, n_blocks: int, draws: int) -> list:
    """The obvious way: per draw, the observations of each drawn block, then their mean."""
    rng = np.random.default_rng(0)
    rows = [np.flatnonzero(blocks == b) for b in range(n_blocks)]
    out = []
    for _ in range(draws):
        picked = np.concatenate([rows[b] for b in rng.integers(0, n_blocks, n_blocks)])
        out.append(diff[picked].mean())
    return out


@pytest.fixture(scope="module")
def observations():
    candles, lines = market(100_000)
    bars = _study._bars(candles, 24, 1)
    picked = _study.clusters(lines, bars.index[bars.pos], bars.close[bars.pos],
                             indicator.STUDY_BANDS, "notional", None)
    blocks, n_blocks = _study._block_ids(bars.index.as_unit("ns").asi8[bars.pos], 86_400 * 10**9)
    groups = []
    for side in ("long", "short"):
        base = np.sort(bars.down if side == "long" else bars.up)
        react = _study._reaction_base(bars, 24, side)
        for b in range(len(indicator.STUDY_BANDS)):
            o = _study._observations(bars, picked[side][0][:, b], 24, side, base, react)
            groups.append((blocks[o.row], o.touch - o.expected))
    return groups, n_blocks


def bench_baseline_loop_bootstrap_50_of_1000_draws(benchmark, observations):
    groups, n_blocks = observations

    def run():
        return [loop_bootstrap(b, d, n_blocks, 50) for b, d in groups]

    benchmark.pedantic(run, rounds=2, iterations=1)
    benchmark.extra_info.update(projected_s=round(benchmark.stats.stats.min * 20, 2))


def bench_vectorised_bootstrap_1000_draws(benchmark, observations):
    """What ``study`` does instead of the loop: the (draws x blocks) counts times the
    per-block sums, for all eight cells at once."""
    groups, n_blocks = observations
    boot = _study._Boot.of("1D", 1000, 0, 0.95)

    def run():
        draws = _study._draws(n_blocks, boot)
        zeros = [np.zeros(len(d)) for _, d in groups]
        return _study._intervals(draws, [b for b, _ in groups], [d for _, d in groups], zeros,
                                 None, n_blocks, 0.95)

    benchmark.pedantic(run, rounds=5, iterations=1)
