"""Does price go to the clusters? Touch, reaction and realised-liquidation rates against base
rates, with block-bootstrap intervals (docs/study.md).

Everything a sampled bar ``t`` uses to pick its clusters is known when ``t`` closes: the lines
live after ``t`` (``start <= t`` and not ended by ``t``, the heatmap's rule), binned as the
heatmap bins them, and the close and ATR of ``t``. Only the outcome reads bars after ``t``.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..vocab import DENSITY_WEIGHTS, DensityWeight, NumbaMissingWarning, check_choice
from ._heatmap import live_bins
from ._oi import oi_levels
from ._trade_ends import trade_level_ends
from ._validate import validate_candles

__all__ = [
    "ATR_WINDOW",
    "LIQUIDATION_STUDY_COLUMNS",
    "STUDY_BANDS",
    "STUDY_COLUMNS",
    "study",
    "study_liquidations",
    "study_verdict",
]

#: Bars in the average true range (``ta.volatility.AverageTrueRange``'s Wilder average).
ATR_WINDOW = 14
#: The default distance bands, as fractions of the close.
STUDY_BANDS: tuple[tuple[float, float], ...] = ((0.0, 0.005), (0.005, 0.01), (0.01, 0.02),
                                                (0.02, 0.05))
STUDY_COLUMNS: tuple[str, ...] = (
    "side", "band_low", "band_high", "n", "touch_rate", "expected_rate", "lift", "ci_low",
    "ci_high", "reaction_n", "reaction_rate", "reaction_expected", "reaction_lift",
    "reaction_ci_low", "reaction_ci_high",
)
LIQUIDATION_STUDY_COLUMNS: tuple[str, ...] = (
    "side", "n", "notional", "hit_share", "expected_share", "lift", "ci_low", "ci_high",
)
SIDES: tuple[str, ...] = ("long", "short")  # long: clusters below the close; short: above
_MAX_BOOT = 100_000
_TIE = 1e-9  # weights this close (relative) are a tie, decided by the distance


# --------------------------------------------------------------------------------------------
# Options
# --------------------------------------------------------------------------------------------


def _whole(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not (
            low <= value <= high):
        raise ValueError(f"{name}={value!r} must be a whole number from {low} to {high:,}")
    return int(value)


def _check_bands(bands: Any) -> tuple[tuple[float, float], ...]:
    try:
        pairs = tuple((float(lo), float(hi)) for lo, hi in bands)
    except (TypeError, ValueError):
        raise ValueError(f"bands={bands!r} must be pairs (low, high) of fractions of the "
                         f"close, e.g. ((0, 0.005), (0.005, 0.01))") from None
    if not pairs:
        raise ValueError("bands=() is empty; give at least one (low, high) pair")
    for lo, hi in pairs:
        if not (math.isfinite(lo) and math.isfinite(hi) and 0 <= lo < hi <= 1):
            raise ValueError(f"bands: ({lo:g}, {hi:g}) must satisfy 0 <= low < high <= 1 "
                             f"(fractions of the close: 0.005 is 0.5%)")
    return pairs


def _check_block(block: Any) -> int:
    """The bootstrap block length in ns (> 0)."""
    try:
        span = pd.Timedelta(block)
    except (TypeError, ValueError):
        raise ValueError(f"block={block!r} is not a duration like '1D', '6h' or "
                         f"pd.Timedelta(days=1)") from None
    if pd.isna(span) or span <= pd.Timedelta(0):
        raise ValueError(f"block={block!r} must be a positive duration like '1D'")
    return int(span.value)


def _check_level(level: Any) -> float:
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ValueError(f"level={level!r} must be a confidence level in (0, 1), e.g. 0.95")
    return float(level)


@dataclass(frozen=True)
class _Boot:
    """The bootstrap's options: block length (ns), draws, seed, confidence level."""

    block_ns: int
    n_boot: int
    seed: int
    level: float

    @classmethod
    def of(cls, block: Any, n_boot: Any, seed: Any, level: Any) -> _Boot:
        return cls(_check_block(block), _whole("n_boot", n_boot, 0, _MAX_BOOT),
                   _whole("seed", seed, 0, 2**32 - 1), _check_level(level))


# --------------------------------------------------------------------------------------------
# Bars: ATR, forward extremes, sampled bars
# --------------------------------------------------------------------------------------------


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """``ta``'s AverageTrueRange over :data:`ATR_WINDOW` bars (price), NaN before it fills."""
    from ta.volatility import AverageTrueRange

    out = AverageTrueRange(pd.Series(high), pd.Series(low), pd.Series(close),
                           window=ATR_WINDOW).average_true_range().to_numpy(dtype=np.float64)
    out = out.copy()
    out[: ATR_WINDOW - 1] = np.nan  # ta writes zeros before the window is full
    return out


def _forward(values: np.ndarray, horizon: int, how: str) -> np.ndarray:
    """``max``/``min`` of ``values[t + 1 : t + 1 + horizon]`` per bar; NaN when short."""
    series = pd.Series(values).rolling(horizon)
    rolled = series.max() if how == "max" else series.min()
    return rolled.shift(-horizon).to_numpy(dtype=np.float64)


def _windows(values: np.ndarray, horizon: int) -> np.ndarray:
    """Row ``t``: ``values[t + 1 : t + 1 + horizon]`` (a view; rows past the end are absent)."""
    return np.lib.stride_tricks.sliding_window_view(values[1:], horizon)


@dataclass
class _Bars:
    """The candles' arrays, the sampled bars and their excursions in ATRs."""

    index: pd.DatetimeIndex
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    atr: np.ndarray
    pos: np.ndarray  # sampled bar positions with a valid ATR and a whole horizon after them
    up: np.ndarray  # (max high over the horizon - close) / ATR, per sampled bar
    down: np.ndarray  # (close - min low over the horizon) / ATR


def _bars(candles: pd.DataFrame, horizon: int, every: int) -> _Bars:
    cols = validate_candles(candles)
    high, low, close = cols["high"], cols["low"], cols["close"]
    n = len(close)
    if n == 0:
        raise ValueError("candles is empty; the study needs bars")
    ranges = atr(high, low, close)
    pos = np.arange(0, n, every)
    pos = pos[(pos + horizon <= n - 1) & (ranges[pos] > 0)]
    if len(pos) == 0:
        raise ValueError(f"candles has {n} bars, too few for a {ATR_WINDOW}-bar ATR and "
                         f"horizon={horizon} bars after a sampled bar: give at least "
                         f"{ATR_WINDOW + horizon} bars (or a shorter horizon)")
    fmax, fmin = _forward(high, horizon, "max"), _forward(low, horizon, "min")
    a = ranges[pos]
    return _Bars(candles.index, high, low, close, ranges, pos,
                 (fmax[pos] - close[pos]) / a, (close[pos] - fmin[pos]) / a)


# --------------------------------------------------------------------------------------------
# Clusters: the densest live bin per side and band, at given bars
# --------------------------------------------------------------------------------------------


def _prepare_levels(levels: Any, candles: pd.DataFrame) -> Any:
    """OI levels when none are given; trade levels get their ends from the candles."""
    if levels is None:
        return oi_levels(candles)
    if isinstance(levels, pd.DataFrame) and "end" not in levels.columns and (
            "notional" in levels.columns):
        return trade_level_ends(levels, candles)
    return levels


def clusters(levels: Any, times: pd.DatetimeIndex, close: np.ndarray,
             bands: tuple[tuple[float, float], ...], weight: str,
             bin_size: float | None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per side, ``(price, distance)`` arrays shaped ``(len(times), len(bands))``: the middle
    of the heaviest live bin whose distance from the close (fraction; below the close for
    ``long``, above for ``short``) lies in the band, ties (weights within a relative 1e-9)
    to the bin nearest the close; NaN where the band holds none.

    The bins and the live rule are :func:`heatmap`'s (same bin size, ``start <= t`` and not
    ended by ``t``); one compiled sweep over the times adds each line to its bin when it
    becomes live and takes it off when it ends, and scans only the bins within the widest
    band of each close (:func:`sweep_kernel`)."""
    shape = (len(times), len(bands))
    grid, live = live_bins(levels, times, bin_size, weight)
    if live is None:
        return {side: (np.full(shape, np.nan), np.full(shape, np.nan)) for side in SIDES}
    bins, size = live.bins, live.size
    mid = (bins * size + (bins + 1) * size) / 2
    w = np.ones(len(live.first)) if live.weights is None else live.weights
    price, dist = sweep_kernel()(
        live.first.astype(np.int64), live.stop.astype(np.int64), live.column.astype(np.int64),
        live.short.astype(np.int8), w.astype(np.float64), mid.astype(np.float64),
        np.ascontiguousarray(close, dtype=np.float64), len(grid),
        np.array([lo for lo, _ in bands]), np.array([hi for _, hi in bands]), _TIE)
    return {side: (price[i], dist[i]) for i, side in enumerate(SIDES)}


def _sweep_pick(first, stop, column, short, weight, mid, close, n, lows, highs, tie):
    """The sweep: ``price[side, t, band]`` and ``dist[side, t, band]`` (NaN: none); side 0
    long, 1 short. Lines live over grid positions ``[first, stop)``."""
    nb, m, nbins = lows.size, first.size, mid.size
    reach = highs.max()
    start_at = np.zeros(n + 2, np.int64)  # lines by the position they start and end at
    end_at = np.zeros(n + 2, np.int64)
    for i in range(m):
        start_at[first[i] + 2] += 1
        if stop[i] < n:
            end_at[stop[i] + 2] += 1
    for t in range(2, n + 2):
        start_at[t] += start_at[t - 1]
        end_at[t] += end_at[t - 1]
    by_start = np.empty(m, np.int64)
    by_end = np.empty(m, np.int64)
    for i in range(m):
        by_start[start_at[first[i] + 1]] = i
        start_at[first[i] + 1] += 1
        if stop[i] < n:
            by_end[end_at[stop[i] + 1]] = i
            end_at[stop[i] + 1] += 1
    sums = np.zeros((2, nbins))
    counts = np.zeros((2, nbins), np.int64)
    price = np.full((2, n, nb), np.nan)
    dist = np.full((2, n, nb), np.nan)
    best = np.empty(nb)
    for t in range(n):
        for q in range(end_at[t], end_at[t + 1]):
            i = by_end[q]
            sums[short[i], column[i]] -= weight[i]
            counts[short[i], column[i]] -= 1
        for q in range(start_at[t], start_at[t + 1]):
            i = by_start[q]
            sums[short[i], column[i]] += weight[i]
            counts[short[i], column[i]] += 1
        c = close[t]
        for side in range(2):
            # Bins in order of distance from the close: down from it (long), up (short).
            j0 = np.searchsorted(mid, c, side="right") - 1 if side == 0 else \
                np.searchsorted(mid, c, side="left")
            step = -1 if side == 0 else 1
            for b in range(nb):
                best[b] = -np.inf
            for rounds in range(2):  # the heaviest per band, then the nearest within tie
                j = j0
                while 0 <= j < nbins:
                    d = (c - mid[j]) / c if side == 0 else (mid[j] - c) / c
                    if d >= reach:
                        break
                    if counts[side, j] > 0:
                        wj = sums[side, j]
                        for b in range(nb):
                            if lows[b] <= d < highs[b]:
                                if rounds == 0:
                                    best[b] = max(best[b], wj)
                                elif np.isnan(price[side, t, b]) and (
                                        wj >= best[b] * (1 - tie)):
                                    price[side, t, b] = mid[j]
                                    dist[side, t, b] = d
                    j += step
    return price, dist


_KERNEL: list[Callable[..., Any]] = []
_KERNEL_LOCK = threading.Lock()
UNCOMPILED = ("numba could not be imported, so the study's cluster sweep runs as plain "
              "Python: the same clusters, far slower. Install numba, a dependency of "
              "liqlevels (pip install numba).")


def sweep_kernel() -> Callable[..., Any]:
    """The sweep of :func:`clusters`, compiled by numba on first use (cached on disk), or
    the same function uncompiled, with a :class:`NumbaMissingWarning`, without numba."""
    with _KERNEL_LOCK:
        if not _KERNEL:
            try:
                import numba
            except ImportError:
                _KERNEL.append(_sweep_pick)
            else:
                _KERNEL.append(numba.njit(cache=True, nogil=True)(_sweep_pick))
    if _KERNEL[0] is _sweep_pick:
        warnings.warn(UNCOMPILED, NumbaMissingWarning, stacklevel=3)
    return _KERNEL[0]


# --------------------------------------------------------------------------------------------
# Base rates
# --------------------------------------------------------------------------------------------


def _survival(ordered: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Share of the sorted excursions ``ordered`` at or beyond ``x`` (per ``x``)."""
    return (len(ordered) - np.searchsorted(ordered, x, side="left")) / max(len(ordered), 1)


def _reaction_base(bars: _Bars, horizon: int, side: str) -> tuple[np.ndarray, ...]:
    """For every sampled bar with two horizons after it, the distances (ATRs) at which a level
    is touched and price turns back: intervals ``(lo, hi]``, as sorted ``lo`` and ``hi``,
    and the sorted excursions of those bars (the touched count's base)."""
    n = len(bars.close)
    pos = bars.pos[bars.pos + 2 * horizon <= n - 1]
    if len(pos) == 0:
        empty = np.empty(0)
        return empty, empty, empty
    c, a = bars.close[pos], bars.atr[pos]
    if side == "short":
        run = np.maximum.accumulate(_windows(bars.high, horizon)[pos], axis=1)
        r = (run - c[:, None]) / a[:, None]
        turn = (bars.close[pos[:, None] + np.arange(1, horizon + 1) + horizon] - c[:, None])
    else:
        run = np.minimum.accumulate(_windows(bars.low, horizon)[pos], axis=1)
        r = (c[:, None] - run) / a[:, None]
        turn = (c[:, None] - bars.close[pos[:, None] + np.arange(1, horizon + 1) + horizon])
    turn = turn / a[:, None]
    before = np.concatenate([np.full((len(pos), 1), -np.inf), r[:, :-1]], axis=1)
    lo = np.maximum(before, turn)
    keep = (r > before) & (lo < r)
    return np.sort(lo[keep]), np.sort(r[keep]), np.sort(r[:, -1])


def _reaction_expected(base: tuple[np.ndarray, ...], x: np.ndarray) -> np.ndarray:
    """Per distance ``x`` (ATRs): of the base bars whose level at ``x`` was touched, the share
    that turned back; NaN where none was touched."""
    lo, hi, excursion = base
    reacted = np.searchsorted(lo, x, side="left") - np.searchsorted(hi, x, side="left")
    touched = len(excursion) - np.searchsorted(excursion, x, side="left")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(touched > 0, reacted / np.maximum(touched, 1), np.nan)


# --------------------------------------------------------------------------------------------
# Observations
# --------------------------------------------------------------------------------------------


@dataclass
class _Obs:
    """One side and band's observations: sampled bar (row), outcome, expectation."""

    row: np.ndarray
    touch: np.ndarray
    expected: np.ndarray
    react_row: np.ndarray
    react: np.ndarray
    react_expected: np.ndarray


def _observations(bars: _Bars, price: np.ndarray, horizon: int, side: str,
                  base_touch: np.ndarray, base_react: tuple[np.ndarray, ...]) -> _Obs:
    row = np.flatnonzero(~np.isnan(price))
    p = price[row]
    t = bars.pos[row]
    c, a = bars.close[t], bars.atr[t]
    short = side == "short"
    x = (p - c) / a if short else (c - p) / a
    ahead = _windows(bars.high if short else bars.low, horizon)[t]
    hits = ahead >= p[:, None] if short else ahead <= p[:, None]
    touch = hits.any(axis=1)
    expected = _survival(base_touch, x)
    first = t + 1 + np.argmax(hits, axis=1)  # the touching bar, where touch is True
    ok = touch & (first + horizon <= len(bars.close) - 1)
    later = bars.close[np.where(ok, first + horizon, 0)]
    turned = later < p if short else later > p
    rexp = _reaction_expected(base_react, x[ok])
    good = ~np.isnan(rexp)
    return _Obs(row, touch.astype(np.float64), expected, row[ok][good],
                turned[ok][good].astype(np.float64), rexp[good])


# --------------------------------------------------------------------------------------------
# The block bootstrap
# --------------------------------------------------------------------------------------------


def _block_ids(times_ns: np.ndarray, block_ns: int) -> tuple[np.ndarray, int]:
    """Each time's block (aligned to multiples of the block length since the epoch),
    numbered 0.. in time order, and how many blocks."""
    raw = np.floor_divide(times_ns, block_ns)
    uniq, inverse = np.unique(raw, return_inverse=True)
    return inverse.reshape(-1), len(uniq)


def _draws(n_blocks: int, boot: _Boot) -> np.ndarray:
    """``(n_boot, n_blocks)`` counts: how often each block is drawn in each replicate (the
    same draws serve every side and band, so they are comparable)."""
    rng = np.random.default_rng(boot.seed)
    picks = rng.integers(0, n_blocks, size=(boot.n_boot, n_blocks))
    picks += (np.arange(boot.n_boot) * n_blocks)[:, None]
    return np.bincount(picks.ravel(), minlength=boot.n_boot * n_blocks).reshape(
        boot.n_boot, n_blocks).astype(np.float64)


def _intervals(draws: np.ndarray, blocks: list[np.ndarray], outcome: list[np.ndarray],
               expected: list[np.ndarray], weights: list[np.ndarray] | None,
               n_blocks: int, level: float) -> np.ndarray:
    """``(groups, 2)`` percentile intervals of ``sum(w * (outcome - expected)) / sum(w)``
    over the replicates; NaN without draws or when most replicates hold no observation."""
    g = len(blocks)
    out = np.full((g, 2), np.nan)
    if draws.shape[0] == 0 or g == 0:
        return out
    sums = np.zeros((n_blocks, 3 * g))
    for k, (b, y, e) in enumerate(zip(blocks, outcome, expected, strict=True)):
        w = np.ones(len(b)) if weights is None else weights[k]
        sums[:, 3 * k] = np.bincount(b, weights=w * y, minlength=n_blocks)
        sums[:, 3 * k + 1] = np.bincount(b, weights=w * e, minlength=n_blocks)
        sums[:, 3 * k + 2] = np.bincount(b, weights=w, minlength=n_blocks)
    rep = draws @ sums
    tail = (1 - level) / 2 * 100
    for k in range(g):
        den = rep[:, 3 * k + 2]
        ok = den > 0
        if ok.mean() < 0.5:
            continue
        lift = (rep[ok, 3 * k] - rep[ok, 3 * k + 1]) / den[ok]
        out[k] = np.percentile(lift, [tail, 100 - tail])
    return out


# --------------------------------------------------------------------------------------------
# study
# --------------------------------------------------------------------------------------------


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else float("nan")


def study(
    candles: pd.DataFrame,
    levels: Any = None,
    *,
    horizon: int = 24,
    bands: Sequence[tuple[float, float]] = STUDY_BANDS,
    weight: DensityWeight = "notional",
    every: int = 1,
    block: Any = "1D",
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    bin_size: float | None = None,
) -> pd.DataFrame:
    """Does price touch the densest live cluster more often than it moves that far anyway?

    At each sampled bar ``t`` (every ``every``-th bar with a full ATR and ``horizon`` bars
    after it), for each side and band: the heaviest live bin (the heatmap's bins and rule:
    lines with ``start <= t`` not ended by ``t``) whose middle lies at a distance from the
    close of ``t`` inside the band, below the close for ``long`` and above for ``short``.
    Outcome: the high (short) or low (long) of the next ``horizon`` bars reaches the bin's
    middle. Expectation: the share of all sampled bars whose move in that direction within
    ``horizon`` bars reaches the same distance counted in ATRs of their own bar (the base
    rate at that distance, whatever the clusters). After a touch, the reaction: the close
    ``horizon`` bars after the touching bar is back on the near side, against the same share
    for levels placed at the same ATR distance on every sampled bar. Intervals: percentile
    block bootstrap, whole ``block``-long time blocks resampled; the base rates are held at
    their full-sample values (docs/study.md says why this errs on the wide side).

    Parameters
    ----------
    candles : pandas.DataFrame
        Bars as :func:`oi_levels` takes them (price columns; ``open_interest`` for the
        default levels).
    levels : pandas.DataFrame, optional
        Either levels frame; default ``oi_levels(candles)``. Trade levels without ``end``
        get it from :func:`trade_level_ends` on these candles.
    horizon : int, default 24
        Bars after ``t`` in which a touch counts (1 to 10,000).
    bands : sequence of (low, high), default 0-0.5%, 0.5-1%, 1-2%, 2-5%
        Distances from the close as fractions (``low <= d < high``).
    weight : {"count", "oi_delta", "notional"}, default "notional"
        What makes a bin dense, as :func:`heatmap`'s ``weight``.
    every : int, default 1
        Sample every ``every``-th bar.
    block : str or Timedelta, default "1D"
        Bootstrap block length; blocks are aligned to multiples of it since the epoch.
    n_boot : int, default 1000
        Bootstrap replicates (0: no intervals).
    seed : int, default 0
        Seed of the bootstrap draws.
    level : float, default 0.95
        Confidence level of the intervals.
    bin_size : float, optional
        Cluster bin width (price); default :func:`heatmap`'s.

    Returns
    -------
    pandas.DataFrame
        One row per side (``long``, ``short``) and band, :data:`STUDY_COLUMNS`: ``n``
        (observations), ``touch_rate``, ``expected_rate``, ``lift = touch_rate -
        expected_rate`` and its interval ``ci_low, ci_high`` (fractions); ``reaction_n``
        (touches with ``horizon`` bars after the touch), ``reaction_rate``,
        ``reaction_expected``, ``reaction_lift`` and its interval. ``attrs``: ``horizon``,
        ``samples`` (sampled bars), ``blocks``, ``level``, ``weight``, ``n_boot``,
        ``atr_window``.

    Raises
    ------
    TypeError, ValueError
        Bad candles or levels (as :func:`validate_candles`, :func:`heatmap`), or an option
        out of range (named).
    """
    weight = check_choice("weight", weight, DENSITY_WEIGHTS)
    horizon = _whole("horizon", horizon, 1, 10_000)
    every = _whole("every", every, 1, 10_000_000)
    bands = _check_bands(bands)
    boot = _Boot.of(block, n_boot, seed, level)
    bars = _bars(candles, horizon, every)
    lines = _prepare_levels(levels, candles)
    picked = clusters(lines, bars.index[bars.pos], bars.close[bars.pos], bands, weight, bin_size)
    block_of, n_blocks = _block_ids(bars.index.as_unit("ns").asi8[bars.pos], boot.block_ns)
    draws = _draws(n_blocks, boot)
    rows, obs = [], []
    for side in SIDES:
        base = np.sort(bars.down if side == "long" else bars.up)
        react_base = _reaction_base(bars, horizon, side)
        for b, (lo, hi) in enumerate(bands):
            o = _observations(bars, picked[side][0][:, b], horizon, side, base, react_base)
            obs.append(o)
            rows.append({"side": side, "band_low": lo, "band_high": hi, "n": len(o.row),
                         "touch_rate": _mean(o.touch), "expected_rate": _mean(o.expected),
                         "reaction_n": len(o.react_row),
                         "reaction_rate": _mean(o.react),
                         "reaction_expected": _mean(o.react_expected)})
    touch_ci = _intervals(draws, [block_of[o.row] for o in obs], [o.touch for o in obs],
                          [o.expected for o in obs], None, n_blocks, boot.level)
    react_ci = _intervals(draws, [block_of[o.react_row] for o in obs], [o.react for o in obs],
                          [o.react_expected for o in obs], None, n_blocks, boot.level)
    out = pd.DataFrame(rows)
    out["lift"] = out["touch_rate"] - out["expected_rate"]
    out["ci_low"], out["ci_high"] = touch_ci[:, 0], touch_ci[:, 1]
    out["reaction_lift"] = out["reaction_rate"] - out["reaction_expected"]
    out["reaction_ci_low"], out["reaction_ci_high"] = react_ci[:, 0], react_ci[:, 1]
    out = out[list(STUDY_COLUMNS)].astype({"n": np.int64, "reaction_n": np.int64})
    out.attrs.update(horizon=horizon, samples=len(bars.pos), blocks=n_blocks,
                     level=boot.level, weight=weight, n_boot=boot.n_boot,
                     atr_window=ATR_WINDOW, every=every)
    return out


# --------------------------------------------------------------------------------------------
# study_liquidations
# --------------------------------------------------------------------------------------------


def _liquidation_arrays(liquidations: Any) -> tuple[np.ndarray, ...]:
    """``time`` (ns), ``is_long``, ``price``, ``notional`` of a liquidation log, checked."""
    if not isinstance(liquidations, pd.DataFrame):
        raise TypeError(f"liquidations must be a DataFrame with columns time, side, price, "
                        f"notional, got {type(liquidations).__name__}")
    missing = [c for c in ("time", "side", "price", "notional") if c not in liquidations]
    if missing:
        raise ValueError(f"liquidations lacks column(s) {missing}; it needs time, side "
                         f"(long/short: the liquidated position), price, notional")
    try:
        times = pd.to_datetime(liquidations["time"], utc=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"liquidations: column 'time' is not times ({exc})") from None
    side = liquidations["side"].astype(str).str.lower().to_numpy()
    bad = np.flatnonzero(~np.isin(side, SIDES) | times.isna().to_numpy())
    if len(bad):
        first = liquidations.iloc[bad[0]]
        raise ValueError(f"liquidations: row {bad[0]} has side={first['side']!r}, "
                         f"time={first['time']!r}; side is 'long' or 'short' (the liquidated "
                         f"position), time a UTC time")
    price = pd.to_numeric(liquidations["price"], errors="coerce").to_numpy(dtype=np.float64)
    notional = pd.to_numeric(liquidations["notional"], errors="coerce").to_numpy(
        dtype=np.float64)
    bad = np.flatnonzero(~(np.isfinite(price) & (price > 0) & np.isfinite(notional)
                           & (notional >= 0)))
    if len(bad):
        raise ValueError(f"liquidations: row {bad[0]} has price={price[bad[0]]!r}, "
                         f"notional={notional[bad[0]]!r}; price must be > 0 and notional >= 0")
    return (times.dt.as_unit("ns").astype("int64").to_numpy(), side == "long", price, notional)


def _shift_hits(dist: dict[str, np.ndarray], ratio: np.ndarray, where: np.ndarray,
                 off_atr: np.ndarray, is_long: np.ndarray, tolerance: float) -> np.ndarray:
    """``hit[j, s]``: liquidation ``j`` moved to valid bar ``where[j, s]`` (its distance
    from the close kept in ATRs, ``ratio`` = ATR / close per valid bar) lies within
    ``tolerance`` of a cluster there on its side."""
    hits = np.zeros(where.shape, dtype=bool)
    for side in SIDES:
        mine = np.flatnonzero(is_long if side == "long" else ~is_long)
        if len(mine) == 0:
            continue
        at = where[mine]
        moved = off_atr[mine][:, None] * ratio[at]
        centres = dist[side][at]  # (mine, shifts, bands)
        hits[mine] = (np.abs(centres - moved[..., None]) <= tolerance).any(axis=2)
    return hits


def study_liquidations(
    candles: pd.DataFrame,
    liquidations: pd.DataFrame,
    levels: Any = None,
    *,
    tolerance: float = 0.002,
    bands: Sequence[tuple[float, float]] = STUDY_BANDS,
    weight: DensityWeight = "notional",
    block: Any = "1D",
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    bin_size: float | None = None,
) -> pd.DataFrame:
    """Did realised liquidations happen at the predicted clusters more than by chance?

    Each liquidation at time ``tau`` is set against the last bar closed by ``tau`` (bar
    length: the candles' median spacing) and the clusters :func:`study` picks there on the
    liquidated side (one per band). It is a hit when its price lies within ``tolerance``
    (fraction of that bar's close) of a cluster's price. The expectation keeps where the
    liquidations fell relative to the close and moves them in time: the whole log is shifted
    by whole ``block`` lengths (circularly over the bars with an ATR; each liquidation keeps
    its distance from the close in ATRs), and the hit share is counted against the clusters
    of the bars it lands on. ``expected_share`` is the mean over the shifts (up to
    ``n_boot`` of them, drawn with ``seed`` when there are more). The interval of the lift
    is ``hit_share`` minus the ``k``-th largest and the ``k``-th smallest shifted share, ``k
    = floor((shifts + 1) * (1 - level) / 2)``: it excludes zero only when the observed share
    is beyond all but ``k - 1`` shifts on one side, a permutation test at ``level`` (below
    39 shifts at 95% ``k`` is 0 and there is no interval). Shifting keeps the persistence
    of both the clusters and the log, which resampling blocks would not.

    Parameters
    ----------
    candles, levels, bands, weight, block, n_boot, seed, level, bin_size
        As :func:`study` (``n_boot``: the most shifts).
    liquidations : pandas.DataFrame
        ``time`` (UTC), ``side`` (``long``/``short``: the liquidated position), ``price``,
        ``notional`` (quote currency), e.g. ``feeds.read_liquidations``. Liquidations before
        the first bar with an ATR closes or after the last bar do not count
        (``attrs["outside"]``).
    tolerance : float, default 0.002
        Half-width of a hit window, fraction of the close (0.002 = 0.2%).

    Returns
    -------
    pandas.DataFrame
        Rows ``long``, ``short`` and ``all``, :data:`LIQUIDATION_STUDY_COLUMNS`: ``n``,
        ``notional`` (sum), ``hit_share`` and ``expected_share`` (of notional), ``lift =
        hit_share - expected_share`` and its interval (NaN with too few shifts).
        ``attrs``: ``outside``, ``tolerance``, ``shifts``, ``level``.
    """
    weight = check_choice("weight", weight, DENSITY_WEIGHTS)
    bands = _check_bands(bands)
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not (
            0 < tolerance < 1):
        raise ValueError(f"tolerance={tolerance!r} must be a fraction of the close in (0, 1)")
    boot = _Boot.of(block, n_boot, seed, level)
    cols = validate_candles(candles)
    tau, is_long, price, notional = _liquidation_arrays(liquidations)
    opens = candles.index.as_unit("ns").asi8
    n = len(opens)
    step = int(np.median(np.diff(opens))) if n > 1 else 1
    ranges = atr(cols["high"], cols["low"], cols["close"])
    valid = np.flatnonzero(ranges > 0)  # bars with an ATR: contiguous, from ATR_WINDOW - 1
    ref = np.searchsorted(opens + step, tau, side="right") - 1
    inside = (ref >= (valid[0] if len(valid) else n)) & (tau < opens[-1] + step)
    tau, is_long, price, notional, ref = (a[inside] for a in (tau, is_long, price, notional, ref))
    close = cols["close"][valid]
    ratio = ranges[valid] / close
    lines = _prepare_levels(levels, candles)
    picked = clusters(lines, candles.index[valid], close, bands, weight, bin_size)
    dist = {side: picked[side][1] for side in SIDES}
    home = ref - (valid[0] if len(valid) else 0)  # position among the valid bars
    c = cols["close"][ref]
    off_atr = np.where(is_long, c - price, price - c) / ranges[ref]
    per_block = max(1, round(boot.block_ns / step))
    shifts = np.arange(1, len(valid) // per_block) * per_block if len(valid) else np.array([])
    if len(shifts) > boot.n_boot:
        shifts = np.sort(np.random.default_rng(boot.seed).choice(shifts, boot.n_boot, False))
    groups = {"long": is_long, "short": ~is_long, "all": np.ones(len(tau), bool)}
    observed = _shift_hits(dist, ratio, home[:, None], off_atr, is_long, tolerance)[:, 0]
    shifted = np.zeros((len(shifts), 3))
    for lo in range(0, len(shifts), 64):  # 64 shifts at a time bound the memory
        where = (home[:, None] + shifts[None, lo:lo + 64]) % max(len(valid), 1)
        hits = _shift_hits(dist, ratio, where, off_atr, is_long, tolerance)
        for g, mask in enumerate(groups.values()):
            w = notional[mask]
            shifted[lo:lo + 64, g] = (w @ hits[mask]) / w.sum() if w.sum() > 0 else np.nan
    k = math.floor((len(shifts) + 1) * (1 - boot.level) / 2)  # rank of the bounds
    rows = []
    for g, (name, mask) in enumerate(groups.items()):
        total = float(notional[mask].sum())
        share = float(notional[mask] @ observed[mask] / total) if total > 0 else float("nan")
        expected = float(shifted[:, g].mean()) if len(shifts) and total > 0 else float("nan")
        low = high = float("nan")
        if k >= 1 and total > 0:
            ordered = np.sort(shifted[:, g])
            low, high = share - ordered[-k], share - ordered[k - 1]
        rows.append({"side": name, "n": int(mask.sum()), "notional": total, "hit_share": share,
                     "expected_share": expected, "lift": share - expected, "ci_low": low,
                     "ci_high": high})
    out = pd.DataFrame(rows, columns=list(LIQUIDATION_STUDY_COLUMNS))
    out.attrs.update(outside=int((~inside).sum()), tolerance=float(tolerance),
                     shifts=len(shifts), level=boot.level)
    return out


# --------------------------------------------------------------------------------------------
# The verdict
# --------------------------------------------------------------------------------------------

#: Fewer observations than this in a cell: no verdict on it.
MIN_CASES = 30


def _pct(x: float) -> str:
    return f"{x * 100:+.1f} pp"


def _cell_words(row: Any, what: str, lift: str, low: str, high: str, n: str) -> str | None:
    if row[n] < MIN_CASES or not np.isfinite(row[low]):
        return None
    band = f"{row['side']} {row['band_low'] * 100:g}-{row['band_high'] * 100:g}%"
    span = f"{_pct(row[lift])}, interval {_pct(row[low])} to {_pct(row[high])}, n={row[n]}"
    if row[low] > 0:
        return f"{band}: {what} more often than the base rate ({span})"
    if row[high] < 0:
        return f"{band}: {what} less often than the base rate ({span})"
    return None


def study_verdict(table: pd.DataFrame, liquidations: pd.DataFrame | None = None) -> list[str]:
    """Plain sentences on a :func:`study` table that claim no more than its intervals: a
    cell counts only when its interval excludes zero and it has at least
    :data:`MIN_CASES` observations, and the chance of such cells by luck alone is said."""
    level = float(table.attrs.get("level", 0.95))
    sentences: list[str] = []
    for label, what, cols in (
            ("touch", "touched", ("lift", "ci_low", "ci_high", "n")),
            ("reaction", "turned back after a touch",
             ("reaction_lift", "reaction_ci_low", "reaction_ci_high", "reaction_n"))):
        rated = table[(table[cols[3]] >= MIN_CASES) & np.isfinite(table[cols[1]])]
        notes = [w for _, r in table.iterrows() if (w := _cell_words(r, what, *cols))]
        k, m = len(notes), len(rated)
        if m == 0:
            why = ("no intervals were computed (n_boot=0)" if not table.attrs.get("n_boot", 1)
                   else f"too few cases (fewer than {MIN_CASES} in every side and band)")
            sentences.append(f"{label.capitalize()}: nothing can be said: {why}.")
            continue
        luck = m * (1 - level)
        head = (f"{label.capitalize()}: {k} of {m} side/band cells have a {level:.0%} interval "
                f"that excludes zero (by chance alone about {luck:.1f} would).")
        if k == 0:
            head += (" The data give no evidence that price "
                     + ("reaches the clusters more or less often than it moves that far anyway."
                        if label == "touch" else
                        "turns back at the clusters more or less often than at any level."))
        elif k <= max(1, round(luck * 2)):
            head += " That many could be luck; treat them as leads to test on other data."
        sentences.append(head)
        sentences.extend(f"  {w}." for w in notes)
    if liquidations is not None:
        sentences.extend(_liquidation_words(liquidations))
    return sentences


def _liquidation_words(table: pd.DataFrame) -> list[str]:
    row = table[table["side"] == "all"].iloc[0]
    if row["n"] < MIN_CASES or not np.isfinite(row["ci_low"]):
        return [f"Realised liquidations: {int(row['n'])} in the window, too few (or too few "
                f"blocks to move them by) to say anything."]
    span = (f"{row['hit_share'] * 100:.1f}% of the notional within the tolerance of a cluster "
            f"against {row['expected_share'] * 100:.1f}% when the log is moved to other "
            f"days; lift {_pct(row['lift'])}, interval {_pct(row['ci_low'])} to "
            f"{_pct(row['ci_high'])}")
    if row["ci_low"] > 0:
        return [f"Realised liquidations fell at the clusters more often than when the log is "
                f"moved to other days ({span})."]
    if row["ci_high"] < 0:
        return [f"Realised liquidations fell at the clusters less often than when the log is "
                f"moved to other days ({span})."]
    return [f"Realised liquidations: no evidence either way ({span})."]
