"""The liquidation heatmap: live lines per time and price bin (docs/heatmap.md).

For every time of a grid, the lines live after the bar at that time closes (docs/method.md
section 2's rule), summed per side in the liquidation map's aligned price bins. Cost
O(lines + cells), no loop over times x lines: each line is live over one run of grid
positions (two ``searchsorted``), so it adds its weight at the run's first position and
takes it off at the position after; a cumulative sum along time over the (time, bin)
difference array gives every cell. The difference array is built a slab of times at a time
with ``bincount`` on the flattened index, so memory stays bounded whatever the grid.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..vocab import DENSITY_WEIGHTS, DensityWeight, check_choice, first_true, row_label
from ._density import weighted_lines
from ._frames import NAT, AnyLevels, HeatmapFrame, empty_frame, utc_times
from ._map import _bin_index, _check_bins, _check_positive, default_bin_size

__all__ = ["MAX_HEATMAP_CELLS", "LiveBins", "heatmap", "live_bins"]

#: The most (time, kept price bin) cells a heatmap may span: 50M non-empty cells are 2 GB of
#: output rows (40 bytes each) and several seconds; a chart shows a few hundred thousand.
MAX_HEATMAP_CELLS = 50_000_000
_SLAB_ENTRIES = 1 << 22  # (time, column) entries per slab of the difference array
_LITTLE = sys.byteorder == "little"


def _grid(times: Any) -> np.ndarray:
    """``times`` as int64 epoch ns, checked: a tz-aware, strictly increasing DatetimeIndex."""
    if isinstance(times, (pd.DataFrame, pd.Series)):
        raise TypeError(f"times must be a DatetimeIndex, got a {type(times).__name__}; pass "
                        f"candles.index (or pd.DatetimeIndex(series))")
    if not isinstance(times, pd.DatetimeIndex):
        raise TypeError(f"times must be a tz-aware pandas DatetimeIndex, got "
                        f"{type(times).__name__}; use pd.DatetimeIndex(values, tz='UTC') or "
                        f"pd.date_range(start, end, freq='1h', tz='UTC')")
    if times.tz is None:
        raise ValueError("times is naive; it must be tz-aware UTC: use times.tz_localize('UTC')")
    row = first_true(np.asarray(times.isna()))
    if row is not None:
        raise ValueError(f"times has NaT at position {row}; drop it: times.dropna()")
    ns = times.as_unit("ns").asi8
    row = first_true(np.diff(ns) <= 0)
    if row is not None:
        what = "repeated" if ns[row + 1] == ns[row] else "out of order"
        raise ValueError(f"times is {what} at {row_label(times, row + 1)}; it must be strictly "
                         f"increasing: use times.unique().sort_values()")
    return ns


def _runs(start: np.ndarray, end: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each line's live grid positions ``[first, stop)``: ``start <= grid[i]`` and (``end``
    NaT or ``end > grid[i]``)."""
    first = np.searchsorted(grid, start, side="left")
    stop = np.searchsorted(grid, end, side="left")
    stop[end == NAT] = len(grid)
    return first, stop


def _by_slab(flat: np.ndarray, slab_entries: int, n_slabs: int, *weights: np.ndarray):
    """The flat indices (and their weights) grouped by slab, and where each slab starts."""
    if n_slabs == 1:
        return (flat, *weights), np.array([0, len(flat)])
    slab = flat // slab_entries
    # Slab numbers are small: a stable sort of 16-bit keys is numpy's O(n) radix sort.
    order = np.argsort(slab.astype(np.uint16 if n_slabs <= 1 << 16 else np.int64), kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(slab, minlength=n_slabs))])
    return tuple(x[order] for x in (flat, *weights)), bounds


def _slabs(first, stop, column, weights, n_times: int, n_columns: int):
    """Yield ``(offset, counts, sums)`` for ``rows`` consecutive grid times at a time: the
    difference arrays (+1 or +weight at ``first``, -1 or -weight at ``stop``) cumulated along
    time, shaped ``(rows, n_columns)``; ``sums`` is None without weights."""
    rows = max(1, _SLAB_ENTRIES // n_columns)
    n_slabs = -(-n_times // rows)
    ends = stop < n_times
    w_in = () if weights is None else (weights,)
    w_out = () if weights is None else (weights[ends],)
    adds, add_at = _by_slab(first * n_columns + column, rows * n_columns, n_slabs, *w_in)
    subs, sub_at = _by_slab(stop[ends] * n_columns + column[ends], rows * n_columns, n_slabs,
                            *w_out)
    carry_n = np.zeros(n_columns, dtype=np.int32)
    carry_w = np.zeros(n_columns)
    for i, lo in enumerate(range(0, n_times, rows)):
        size = (min(lo + rows, n_times) - lo) * n_columns
        a = slice(add_at[i], add_at[i + 1])
        s = slice(sub_at[i], sub_at[i + 1])
        base = lo * n_columns
        counts = np.zeros(size, dtype=np.int32)  # int32: half the bytes to sweep
        # An array of ones, not the scalar 1: numpy's fast path for ufunc.at wants one.
        np.add.at(counts, adds[0][a] - base, np.ones(a.stop - a.start, np.int32))
        np.subtract.at(counts, subs[0][s] - base, np.ones(s.stop - s.start, np.int32))
        counts = counts.reshape(-1, n_columns)
        np.cumsum(counts, axis=0, out=counts)
        counts += carry_n
        carry_n = counts[-1].copy()
        sums = None
        if weights is not None:
            sums = np.zeros(size)
            np.add.at(sums, adds[0][a] - base, adds[1][a])
            np.subtract.at(sums, subs[0][s] - base, subs[1][s])
            sums = sums.reshape(-1, n_columns)
            np.cumsum(sums, axis=0, out=sums)
            sums += carry_w
            carry_w = sums[-1].copy()
        yield lo, counts, sums


def _cells(first, stop, column, weights, n_times, n_bins):
    """Non-empty cells: grid position, bin number (of the kept bins), long and short sums."""
    parts = []
    for lo, counts, sums in _slabs(first, stop, column, weights, n_times, 2 * n_bins):
        # Each (time, bin)'s two int32 counts (long, short; never negative) read as one
        # int64, nonzero exactly when the cell holds a line: one pass finds the cells.
        pairs = counts.reshape(-1).view(np.int64)
        cell = np.flatnonzero(pairs)
        both = pairs[cell]
        n_long = both & 0xFFFFFFFF if _LITTLE else both >> 32
        n_short = both >> 32 if _LITTLE else both & 0xFFFFFFFF
        if sums is None:
            long_, short = n_long, n_short
        else:
            values = sums.reshape(-1, 2)
            # A side with no live line is exactly 0, whatever the rounding of the sums.
            long_ = np.where(n_long > 0, values[:, 0][cell], 0.0)
            short = np.where(n_short > 0, values[:, 1][cell], 0.0)
        t, b = np.divmod(cell, n_bins)
        parts.append((t + lo, b, long_, short))
    return [np.concatenate(p) for p in zip(*parts, strict=True)]


def _kept_bins(k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct bin numbers, ascending, and each line's position among them: by a
    bincount over the bins' span (checked <= 10,000,000), no sort."""
    low = k.min()
    offset = k - low
    present = np.bincount(offset) > 0
    return np.flatnonzero(present) + low, (np.cumsum(present) - 1)[offset]


@dataclass(frozen=True)
class LiveBins:
    """The lines live at some grid time, on the aligned bins: each line's grid run
    ``[first, stop)``, its column among the kept ``bins`` (bin numbers, ascending), its side
    (``short``: 1 for short) and weight (None for counts)."""

    size: float
    first: np.ndarray
    stop: np.ndarray
    column: np.ndarray
    short: np.ndarray
    weights: np.ndarray | None
    bins: np.ndarray


def live_bins(levels: AnyLevels, times: pd.DatetimeIndex, bin_size: float | None,
              weight: str) -> tuple[np.ndarray, LiveBins | None]:
    """The checked grid, and the lines live on it binned as :func:`heatmap` bins them (None
    when no line is live at any grid time); ``weight`` must already be checked. The one
    front half of :func:`heatmap` and of the study's clusters."""
    given = bin_size is not None
    if given:
        bin_size = _check_positive("bin_size", bin_size)
    lines, weights = weighted_lines(levels, weight, ("side", "price") + (() if given else
                                                                          ("entry",)),
                                    live_without_end=True)
    grid = _grid(times)
    if len(lines.start) == 0 or len(grid) == 0:
        return grid, None
    size = bin_size if given else default_bin_size(lines.entry)
    k = _check_bins(_bin_index(lines.price, size), lines.price, size, given)
    first, stop = _runs(lines.start, lines.end, grid)
    live = first < stop
    if not live.any():
        return grid, None
    bins, column = _kept_bins(k[live])
    return grid, LiveBins(size, first[live], stop[live], column, lines.short[live],
                          None if weights is None else weights[live], bins)


def heatmap(
    levels: AnyLevels,
    times: pd.DatetimeIndex,
    *,
    bin_size: float | None = None,
    weight: DensityWeight = "count",
) -> HeatmapFrame:
    """Live lines per time and price bin: the density of every time at once (docs/heatmap.md).

    At each time ``t`` of ``times`` the lines live after the bar at ``t`` closes (``start <=
    t`` and (``end`` is NaT or ``end > t``), as :func:`density`) are summed per side in price
    bins aligned to multiples of ``bin_size``: bin ``k`` is ``[k * bin_size, (k + 1) *
    bin_size)``, as :func:`liquidation_map` bins.

    Parameters
    ----------
    levels : pandas.DataFrame
        Either levels frame (``start, side, price`` are used, ``end`` when there is one,
        ``entry`` for the default bin size, and the weight's columns). A frame without
        ``end`` (trade levels; see :func:`trade_level_ends`) reads as all NaT: every line
        live from its start on.
    times : pandas.DatetimeIndex
        The grid: tz-aware, strictly increasing; the candles' index or any coarser grid.
    bin_size : float, optional
        Bin width (quote currency). Default as :func:`liquidation_map`'s, over the frame's
        entries: ``10 ** (floor(log10(max(entry) - min(entry))) - 2)``, or ``10 **
        (floor(log10(entry)) - 4)`` when all entries are equal.
    weight : {"count", "oi_delta", "notional"}, default "count"
        Count lines, sum ``|oi_delta|`` (OI units; OI levels only), or sum the notional
        (quote currency): the ``notional`` column of trade levels, ``|oi_delta| * entry``
        for OI levels.

    Returns
    -------
    pandas.DataFrame
        Long form, one row per non-empty cell (a cell holding at least one live line), by
        ``time`` then ``price_low``: ``time`` (datetime64[ns, UTC], the grid time),
        ``price_low, price_high`` (bin edges, price), ``long, short`` (int64 counts for
        ``"count"``, else float64 sums; 0 for a side with no live line). ``attrs["bin_size"]``
        holds the bin width used. Empty when no line is live at any time.

    Raises
    ------
    TypeError, ValueError
        A levels frame that is not one, ``times`` not a tz-aware strictly increasing
        DatetimeIndex, an unknown ``weight``, a ``bin_size`` not finite > 0 or too fine for
        the levels' prices, or more than 50,000,000 (time, bin) cells: the message suggests a
        coarser grid or a larger bin size.
    """
    weight = check_choice("weight", weight, DENSITY_WEIGHTS)
    grid, live = live_bins(levels, times, bin_size, weight)
    dtype = np.int64 if weight == "count" else np.float64
    if live is None:
        return empty_frame("heatmap", long=dtype, short=dtype)
    bins, size = live.bins, live.size
    _check_cells(len(grid), len(bins), size, bin_size is not None)
    t, b, long_, short = _cells(live.first, live.stop, 2 * live.column + live.short,
                                live.weights, len(grid), len(bins))
    out = pd.DataFrame({
        "time": utc_times(grid[t]),
        "price_low": bins[b] * size,
        "price_high": (bins[b] + 1) * size,
        "long": long_.astype(dtype, copy=False),
        "short": short.astype(dtype, copy=False),
    }, copy=False)
    out.attrs["bin_size"] = size
    return out


def _check_cells(n_times: int, n_bins: int, size: float, given: bool) -> None:
    cells = n_times * n_bins
    if cells > MAX_HEATMAP_CELLS:
        what = f"bin_size={size!r}" if given else f"the default bin size {size!r}"
        raise ValueError(
            f"the heatmap would span {n_times:,} times x {n_bins:,} price bins = {cells:,} "
            f"cells, more than {MAX_HEATMAP_CELLS:,}; pass a coarser grid (e.g. times[::10] "
            f"or candles.resample('1h').first().index) or a larger bin_size than {what}"
        )
