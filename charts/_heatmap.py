"""The liquidation heatmap behind the candles: one column per time, one cell per price bin.

On the page it is a Lightweight Charts custom series (``LiqHeatmap`` in ``js/heatmap.js``)
added before the candles, so every candle, wick and line is drawn over it. The frame
:func:`indicator.heatmap` returns (long, non-empty cells only) travels packed in columns:

``b``    bar position (on the candles) where each column starts; it runs to the next column's
         bar, the last one to the last bar.
``t``    each column's own time (epoch seconds), for the tooltip.
``off``  cell offsets: the cells of column ``i`` are ``off[i]:off[i+1]`` (sorted by price).
``k``    each cell's bin: it spans ``p0 + k * bin`` to ``p0 + (k + 1) * bin``.
``l s``  long and short value of each cell, in whole ``scale``s of the weight's unit.

Colour is the cell's total, long + short, on a viridis ramp (readable with every common
colour-vision deficiency, and dark where little is): a single sequential scale reads faster
than two hues, and which side a cell holds is mostly where it sits (longs below price, shorts
above); the tooltip gives both. The ramp tops out at ``vmax``, the 98th percentile of the
non-zero totals (so one spike does not darken the rest); the legend says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..vocab import check_choice, check_frame, first_true, row_label
from ._checks import check_finite
from ._data import epoch_ns

__all__ = ["HEATMAP_COLUMNS", "HEATMAP_RAMP", "UNITS", "Heatmap", "heatmap_layer"]

HEATMAP_COLUMNS: tuple[str, ...] = ("time", "price_low", "price_high", "long", "short")
Weight = Literal["count", "oi_delta", "notional"]
#: What a cell's value counts, by ``weight`` of :func:`indicator.heatmap`.
UNITS: dict[str, str] = {"count": "lines", "oi_delta": "coins of OI", "notional": "USD"}
#: Viridis, 0 (least) to 1 (``vmax`` and above): (position, "#rrggbb").
HEATMAP_RAMP: tuple[tuple[float, str], ...] = (
    (0.0, "#440154"), (0.25, "#3b528b"), (0.5, "#21918c"), (0.75, "#5ec962"), (1.0, "#fde725"),
)
#: Cell opacity at the bottom and the top of the ramp: faint cells let the grid show through.
HEATMAP_ALPHA: tuple[float, float] = (0.45, 1.0)
_CLIP_PERCENTILE = 98.0
_NS = 1_000_000_000


@dataclass(frozen=True)
class Heatmap:
    """A checked heatmap, ready to draw; build it with :func:`heatmap_layer`.

    Attributes
    ----------
    frame : pandas.DataFrame
        ``time, price_low, price_high, long, short``, sorted by time then price.
    weight : {"count", "oi_delta", "notional"}
        What the values count: lines, coins of OI, or USD notional (:data:`UNITS`).
    bin_size : float
        Price height of every cell (0.0 when the frame is empty).
    """

    frame: pd.DataFrame
    weight: str
    bin_size: float

    @property
    def unit(self) -> str:
        """The values' unit: ``lines``, ``coins of OI`` or ``USD``."""
        return UNITS[self.weight]

    @property
    def cells(self) -> int:
        """Cells with a total above zero (what the page can colour)."""
        return int(((self.frame["long"] + self.frame["short"]) > 0).sum())

    def payload(self, index_ns: np.ndarray) -> dict[str, Any]:
        """The packed columns the page's ``LiqHeatmap`` takes, placed on the candles' bars."""
        return _payload(self, index_ns)


def _check_times(frame: pd.DataFrame) -> np.ndarray:
    time = frame["time"]
    if not isinstance(time.dtype, pd.DatetimeTZDtype):
        raise TypeError(
            "heatmap['time'] must hold tz-aware UTC times (datetime64[ns, UTC]), got "
            f"{time.dtype}; use pd.to_datetime(heatmap['time'], utc=True)"
        )
    row = first_true(time.isna().to_numpy())
    if row is not None:
        raise ValueError(f"heatmap['time'] is missing at {row_label(frame.index, row)}; "
                         f"drop that row")
    return epoch_ns(pd.DatetimeIndex(time))


def _check_bins(frame: pd.DataFrame, low: np.ndarray, high: np.ndarray) -> float:
    """Every cell as high as the first: the bin size (0.0 for no cells)."""
    if low.size == 0:
        return 0.0
    height = high - low
    row = first_true(height <= 0)
    if row is not None:
        raise ValueError(f"heatmap {row_label(frame.index, row)}: price_high "
                         f"{float(high[row])!r} is not above price_low {float(low[row])!r}")
    size = float(height[0])
    row = first_true(np.abs(height - size) > 1e-6 * size)
    if row is not None:
        raise ValueError(
            f"heatmap {row_label(frame.index, row)}: its bin is {float(height[row])!r} high, the "
            f"first is {size!r}; every cell must be one bin_size high (as indicator.heatmap "
            f"makes them)"
        )
    return size


def heatmap_layer(frame: Any, *, weight: Weight | None = None) -> Heatmap:
    """Check a heatmap frame and ready it for :class:`Scene` (``Scene(heatmap=...)``).

    Parameters
    ----------
    frame : pandas.DataFrame
        :func:`indicator.heatmap` output: ``time`` (tz-aware), ``price_low, price_high``
        (price; every cell one bin high), ``long, short`` (>= 0, in the weight's unit).
    weight : {"count", "oi_delta", "notional"}, optional
        What the values count (lines, coins of OI, USD notional); by default
        ``frame.attrs["weight"]`` when present, else ``"count"``.

    Returns
    -------
    Heatmap

    Raises
    ------
    TypeError, ValueError
        A missing column, naive times, a NaN or negative value, cells of different heights
        or one cell twice; the message names the first bad row.
    """
    check_frame(frame, "heatmap", HEATMAP_COLUMNS,
                made_by="the frame indicator.heatmap returns")
    attrs = getattr(frame, "attrs", {}) or {}
    weight = check_choice("weight", weight if weight is not None else attrs.get("weight", "count"),
                          tuple(UNITS))
    times = _check_times(frame)
    low, high = (check_finite(frame, "heatmap", c) for c in ("price_low", "price_high"))
    for col in ("long", "short"):
        check_finite(frame, "heatmap", col, nonneg=True)
    size = _check_bins(frame, low, high)
    order = np.lexsort((low, times))
    dup = (np.diff(times[order]) == 0) & (np.diff(low[order]) == 0)
    row = first_true(dup)
    if row is not None:
        at = int(order[row + 1])
        raise ValueError(f"heatmap {row_label(frame.index, at)} repeats the cell at time "
                         f"{frame['time'].iloc[at]} and price_low {float(low[at])!r}; one row "
                         f"per cell")
    tidy = frame[list(HEATMAP_COLUMNS)]
    if (np.diff(order) != 1).any():
        tidy = tidy.iloc[order]
    tidy = tidy.reset_index(drop=True)
    return Heatmap(frame=tidy, weight=weight, bin_size=size)


def _columns(times: np.ndarray, index_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each distinct time's bar (the bar open at that time) and a keep mask: times before the
    first bar or after the last bar's open are dropped; of several times in one bar, the last
    is kept (the state at the later time)."""
    bar = np.searchsorted(index_ns, times, side="right") - 1
    keep = (bar >= 0) & (times <= index_ns[-1]) if index_ns.size else np.zeros(times.shape, bool)
    later_same_bar = np.r_[bar[1:] == bar[:-1], False]
    return bar, keep & ~later_same_bar


def _empty(index_ns: np.ndarray, heat: Heatmap) -> dict[str, Any]:
    return {"b": [], "t": [], "off": [0], "k": [], "l": [], "s": [], "scale": 1.0, "p0": 0.0,
            "bin": heat.bin_size, "vmax": 0.0, "clipped": False, "n": int(index_ns.size),
            "unit": heat.unit, "weight": heat.weight, "ramp": [list(r) for r in HEATMAP_RAMP],
            "alpha": list(HEATMAP_ALPHA)}


def _quantized(long_: np.ndarray, short: np.ndarray) -> tuple[list, list, float]:
    """Both sides as whole numbers of one ``scale`` (value = number * scale): counts as they
    are (scale 1), other weights with 6 significant digits of the largest value (a value under
    half a step, at most 5 millionths of the largest, becomes 0). Integers, not floats, as
    JSON writes them several times faster."""
    both = np.r_[long_, short]
    top = float(np.abs(both).max(initial=0.0))
    if top == 0 or (np.array_equal(both, np.rint(both)) and top < 2**53):
        scale = 1.0
    else:
        scale = 10.0 ** (math.floor(math.log10(top)) - 5)
    q = [np.rint(v / scale).astype(np.int64).tolist() for v in (long_, short)]
    return q[0], q[1], scale


def colour_top(total: np.ndarray) -> tuple[float, bool]:
    """The ramp's top ``vmax`` for the cells' totals, and whether some total is above it
    (clipped): the 98th percentile of the non-zero totals, or their largest under 50 cells."""
    positive = total[total > 0]
    top = float(positive.max()) if positive.size else 0.0
    vmax = float(np.percentile(positive, _CLIP_PERCENTILE)) if positive.size >= 50 else top
    return vmax, bool(top > vmax)


def _payload(heat: Heatmap, index_ns: np.ndarray) -> dict[str, Any]:
    f = heat.frame
    out = _empty(index_ns, heat)
    times = epoch_ns(pd.DatetimeIndex(f["time"]))
    uniq, first = np.unique(times, return_index=True)
    bar, keep = _columns(uniq, index_ns)
    if f.empty or not keep.any():
        return out
    bounds = np.r_[first, len(f)]
    starts, stops = bounds[:-1][keep], bounds[1:][keep]
    rows = np.concatenate([np.arange(a, z) for a, z in zip(starts, stops, strict=True)])
    low = f["price_low"].to_numpy(np.float64)
    p0 = float(low[rows].min())
    k = np.rint((low[rows] - p0) / heat.bin_size).astype(np.int64)
    long_, short = (f[c].to_numpy(np.float64)[rows] for c in ("long", "short"))
    vmax, clipped = colour_top(long_ + short)
    q_long, q_short, scale = _quantized(long_, short)
    out.update({
        "b": bar[keep].tolist(), "t": (uniq[keep] // _NS).tolist(),
        "off": np.r_[0, np.cumsum(stops - starts)].tolist(), "k": k.tolist(),
        "l": q_long, "s": q_short, "scale": scale, "p0": p0,
        "vmax": vmax, "clipped": clipped,
    })
    return out


def check_heatmap(value: Any) -> Heatmap | None:
    """``Scene(heatmap=...)``: a frame, a :class:`Heatmap`, or None."""
    if value is None or isinstance(value, Heatmap):
        return value
    return heatmap_layer(value)
