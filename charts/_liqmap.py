"""The trade-based liquidation map drawn on a price axis: a self-contained SVG page and its PNG.

Price runs left to right. Each price bin is a stack of bars, one colour per leverage (the
house palette, with a legend); long liquidations sit left of the current price, shorts right
of it; the current price is a dashed line; the cumulative depth curves (longs growing leftward
from the price, shorts rightward) use the right-hand axis. The page needs no network: the SVG
is built here, every text escaped.

The same map can sit beside candles as a price-axis profile (:func:`liquidation_profile`, the
charts' ``price_profile`` primitive).
"""

from __future__ import annotations

import html
import json
import math
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..indicator import DEPTH_COLUMNS, MAP_COLUMNS, DepthFrame, MapFrame
from ..vocab import CHART_KINDS, ChartKind, check_choice, check_frame
from ._browser import screenshot
from ._checks import check_finite
from ._palette import BACKGROUND, GRID, PROFILE_LONG, TEXT, leverage_color
from ._profile import Profile, price_profile

__all__ = ["LiquidationMapChart", "liquidation_map_chart", "liquidation_profile"]

_LONG_CURVE = "#40d6a0"
_SHORT_CURVE = "#ec70ce"
_PRICE_LINE = "#f2f2f2"
_FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif"


# --------------------------------------------------------------------------------------------
# Numbers and scales
# --------------------------------------------------------------------------------------------


def human(value: float) -> str:
    """A quote-currency amount for an axis: ``950``, ``12.5K``, ``3.2M``, ``1.1B``."""
    size = abs(value)
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if size >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def nice_ticks(lo: float, hi: float, count: int = 6) -> list[float]:
    """About ``count`` round tick values (1, 2, 5 x 10^k steps) covering ``[lo, hi]``."""
    if not hi > lo:
        return [lo]
    raw = (hi - lo) / max(count, 1)
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9)
    return [k * step for k in range(first, math.floor(hi / step + 1e-9) + 1)]


def _price_label(value: float, step: float) -> str:
    decimals = max(0, -math.floor(math.log10(step))) if step > 0 else 2
    return f"{value:,.{min(decimals, 8)}f}"


@dataclass(frozen=True)
class _Frame:
    """Plot area in pixels and the data ranges mapped onto it."""

    left: float
    top: float
    width: float
    height: float
    p_lo: float
    p_hi: float
    v_hi: float
    c_hi: float

    def x(self, price: np.ndarray | float) -> Any:
        return self.left + (np.asarray(price) - self.p_lo) / (self.p_hi - self.p_lo) * self.width

    def y(self, value: np.ndarray | float) -> Any:
        return self.top + self.height * (1 - np.asarray(value) / self.v_hi)

    def yc(self, value: np.ndarray | float) -> Any:
        return self.top + self.height * (1 - np.asarray(value) / self.c_hi)


# --------------------------------------------------------------------------------------------
# Data preparation
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Bars:
    """Display bins: edges, side (True = long) and one column of notional per leverage."""

    lo: np.ndarray
    hi: np.ndarray
    is_long: np.ndarray
    values: np.ndarray
    leverages: tuple[int, ...]


def _display_bars(levels_map: pd.DataFrame, max_bars: int) -> _Bars:
    """Merge neighbouring bins (whole multiples of the bin) so at most ~``max_bars`` are drawn."""
    lo = levels_map["price_low"].to_numpy(dtype=np.float64)
    hi = levels_map["price_high"].to_numpy(dtype=np.float64)
    leverages = tuple(sorted({int(v) for v in levels_map["leverage"]}))
    if len(lo) == 0:
        return _Bars(lo, hi, lo.astype(bool), np.zeros((0, 0)), leverages)
    size = float(np.median(hi - lo))
    k = np.rint(lo / size).astype(np.int64)
    span = int(k.max() - k.min()) + 1
    factor = max(1, math.ceil(span / max_bars))
    j = np.floor_divide(k, factor)
    code = (levels_map["side"].to_numpy() == "short").astype(np.int64)
    lev_pos = np.searchsorted(leverages, levels_map["leverage"].to_numpy())
    cells = pd.DataFrame({"j": j, "code": code, "lev": lev_pos,
                          "v": levels_map["notional"].to_numpy(dtype=np.float64)})
    table = cells.pivot_table(index=["j", "code"], columns="lev", values="v", aggfunc="sum",
                              fill_value=0.0).reindex(columns=range(len(leverages)), fill_value=0.0)
    jj = table.index.get_level_values("j").to_numpy()
    return _Bars(
        lo=jj * factor * size,
        hi=(jj + 1) * factor * size,
        is_long=table.index.get_level_values("code").to_numpy() == 0,
        values=table.to_numpy(dtype=np.float64),
        leverages=leverages,
    )


def _check_inputs(levels_map: Any, depth: Any, price: Any) -> float:
    check_frame(levels_map, "levels_map", MAP_COLUMNS,
                made_by="the frame indicator.liquidation_map returns")
    check_frame(depth, "depth", DEPTH_COLUMNS, made_by="the frame indicator.depth returns")
    for col in ("price_low", "price_high"):
        check_finite(levels_map, "levels_map", col)
        check_finite(depth, "depth", col)
    check_finite(levels_map, "levels_map", "notional", nonneg=True)
    check_finite(depth, "depth", "cumulative", nonneg=True)
    if isinstance(price, bool) or not isinstance(price, (int, float, np.integer, np.floating)):
        raise TypeError(f"price={price!r} must be a number (the current price)")
    if not (math.isfinite(price) and price > 0):
        raise ValueError(f"price={price!r} must be a finite number > 0 (the current price)")
    return float(price)


# --------------------------------------------------------------------------------------------
# SVG pieces
# --------------------------------------------------------------------------------------------


def _text(x: float, y: float, body: str, *, anchor: str = "start", size: int = 12,
          color: str = TEXT, weight: str = "normal", cls: str = "") -> str:
    klass = f' class="{cls}"' if cls else ""
    return (f'<text{klass} x="{x:.1f}" y="{y:.1f}" fill="{color}" font-size="{size}" '
            f'font-weight="{weight}" text-anchor="{anchor}">{html.escape(body)}</text>')


def _axes(fr: _Frame, *, right_axis: bool) -> list[str]:
    out = []
    bottom = fr.top + fr.height
    ticks = nice_ticks(fr.p_lo, fr.p_hi, 8)
    step = ticks[1] - ticks[0] if len(ticks) > 1 else fr.p_hi - fr.p_lo
    for t in ticks:
        x = float(fr.x(t))
        out.append(f'<line x1="{x:.1f}" y1="{fr.top}" x2="{x:.1f}" y2="{bottom}" '
                   f'stroke="{GRID}"/>')
        out.append(_text(x, bottom + 18, _price_label(t, step), anchor="middle", size=11))
    for t in nice_ticks(0, fr.v_hi, 6):
        y = float(fr.y(t))
        out.append(f'<line x1="{fr.left}" y1="{y:.1f}" x2="{fr.left + fr.width}" y2="{y:.1f}" '
                   f'stroke="{GRID}"/>')
        out.append(_text(fr.left - 8, y + 4, human(t), anchor="end", size=11))
    if right_axis:
        for t in nice_ticks(0, fr.c_hi, 6):
            y = float(fr.yc(t))
            out.append(_text(fr.left + fr.width + 8, y + 4, human(t), size=11))
    out.append(f'<rect x="{fr.left}" y="{fr.top}" width="{fr.width}" height="{fr.height}" '
               f'fill="none" stroke="{TEXT}" stroke-opacity="0.35"/>')
    return out


def _bar_rects(fr: _Frame, bars: _Bars, opacity: float) -> tuple[list[str], int]:
    out: list[str] = []
    segments = 0
    x0 = fr.x(bars.lo)
    widths = np.maximum(fr.x(bars.hi) - x0, 1.0)
    base = np.zeros(len(bars.lo))
    for col, lev in enumerate(bars.leverages):
        color = leverage_color(lev)
        top = base + bars.values[:, col]
        for i in np.flatnonzero(bars.values[:, col] > 0):
            y_top = float(fr.y(min(top[i], fr.v_hi)))
            y_bot = float(fr.y(min(base[i], fr.v_hi)))
            side = "long" if bars.is_long[i] else "short"
            tip = (f"{lev}x {side} {bars.lo[i]:,.8g} to {bars.hi[i]:,.8g}: "
                   f"{human(bars.values[i, col])}")
            out.append(
                f'<rect class="bar" data-leverage="{lev}" data-side="{side}" '
                f'x="{x0[i]:.2f}" y="{y_top:.2f}" width="{widths[i]:.2f}" '
                f'height="{max(y_bot - y_top, 0.5):.2f}" fill="{color}" '
                f'fill-opacity="{opacity}"><title>{html.escape(tip)}</title></rect>'
            )
            segments += 1
        base = top
    return out, segments


def _clip_marks(fr: _Frame, bars: _Bars, unit: str, labels: int = 6) -> list[str]:
    """Bins taller than the axis: a break mark on each, and the value of the largest few."""
    totals = bars.values.sum(axis=1) if len(bars.lo) else np.zeros(0)
    over = np.flatnonzero(totals > fr.v_hi)
    out: list[str] = []
    named = set(over[np.argsort(totals[over])[::-1][:labels]].tolist())
    for i in over:
        x = float((fr.x(bars.lo[i]) + fr.x(bars.hi[i])) / 2)
        out.append(f'<path class="clipped" d="M{x - 5:.1f},{fr.top + 7:.1f} l5,-6 l5,6 z" '
                   f'fill="{TEXT}"><title>{html.escape(human(totals[i]))} {html.escape(unit)}'
                   f'</title></path>')
        if i in named:
            out.append(_text(x, fr.top + 20, human(totals[i]), anchor="middle", size=11,
                             color=TEXT, weight="bold", cls="clip-label"))
    return out


def _side_labels(fr: _Frame, price: float) -> list[str]:
    """Which side is which: long liquidations below the price, shorts above."""
    x = float(fr.x(price))
    return [
        _text(x - 10, fr.top + 42, "\u25c0 longs liquidated if price falls",
              anchor="end", size=12, color=_LONG_CURVE, weight="bold", cls="side"),
        _text(x + 10, fr.top + 42, "shorts liquidated if price rises \u25b6",
              size=12, color=_SHORT_CURVE, weight="bold", cls="side"),
    ]


def _curve_points(fr: _Frame, part: pd.DataFrame, price: float, long: bool) -> list[tuple]:
    """A staircase from the price outward: 0 at the price, each bin's cumulative beyond."""
    part = part.sort_values("price_low", ascending=not long)
    points = [(price, 0.0)]
    prev = 0.0
    for lo, hi, cum in part[["price_low", "price_high", "cumulative"]].itertuples(index=False):
        near, far = (min(hi, price), lo) if long else (max(lo, price), hi)
        points += [(near, prev), (near, cum), (far, cum)]
        prev = cum
    return [(float(fr.x(p)), float(fr.yc(c))) for p, c in points]


def _curves(fr: _Frame, depth: pd.DataFrame, price: float, fill: bool) -> tuple[list[str], int]:
    out: list[str] = []
    count = 0
    base = fr.top + fr.height
    for side, color in (("long", _LONG_CURVE), ("short", _SHORT_CURVE)):
        part = depth[depth["side"] == side]
        if part.empty:
            continue
        pts = _curve_points(fr, part, price, side == "long")
        path = " ".join(f"{x:.2f},{y:.2f}" for x, y in pts)
        if fill:
            area = f"{pts[0][0]:.2f},{base} {path} {pts[-1][0]:.2f},{base}"
            out.append(f'<polygon points="{area}" fill="{color}" fill-opacity="0.18"/>')
        out.append(f'<polyline class="curve" data-side="{side}" points="{path}" fill="none" '
                   f'stroke="{color}" stroke-width="2"/>')
        count += 1
    return out, count


def _price_marker(fr: _Frame, price: float) -> list[str]:
    x = float(fr.x(price))
    return [
        f'<line class="price" x1="{x:.1f}" y1="{fr.top - 6}" x2="{x:.1f}" '
        f'y2="{fr.top + fr.height}" stroke="{_PRICE_LINE}" stroke-width="1.5" '
        f'stroke-dasharray="6 4"/>',
        _text(x, fr.top - 10, f"current price {price:,.8g}", anchor="middle", size=12,
              color=_PRICE_LINE, weight="bold"),
    ]


def _legend(x: float, y: float, leverages: tuple[int, ...], curves: bool) -> list[str]:
    out = []
    items = [(leverage_color(lev), f"{lev}x leveraged", "box") for lev in leverages]
    if curves:
        items += [(_LONG_CURVE, "longs, cumulative below price", "line"),
                  (_SHORT_CURVE, "shorts, cumulative above price", "line")]
    items.append((_PRICE_LINE, "current price", "dash"))
    for color, label, shape in items:
        if shape == "box":
            out.append(f'<rect x="{x:.1f}" y="{y - 10:.1f}" width="12" height="12" '
                       f'fill="{color}"/>')
        else:
            dash = ' stroke-dasharray="4 3"' if shape == "dash" else ""
            out.append(f'<line x1="{x:.1f}" y1="{y - 4:.1f}" x2="{x + 14:.1f}" y2="{y - 4:.1f}" '
                       f'stroke="{color}" stroke-width="2"{dash}/>')
        out.append(_text(x + 18, y, label, size=12, cls="legend"))
        x += 28 + 6.9 * len(label)
    return out


# --------------------------------------------------------------------------------------------
# The chart
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LiquidationMapChart:
    """A drawn liquidation map; write it with :meth:`to_html` and :meth:`to_png`.

    Attributes
    ----------
    svg : str
        The chart as an SVG element.
    bars, segments, curves : int
        Price bins drawn, coloured bar segments (bin x leverage) and depth curves.
    width, height : int
        Size in CSS pixels.
    title : str
        The page title (plain text).
    """

    svg: str
    bars: int
    segments: int
    curves: int
    width: int
    height: int
    title: str

    def html(self) -> str:
        """The self-contained page: nothing fetched from the network.

        Its one script only publishes what is drawn, as ``window.__liqlevels`` (``ready``,
        ``bars``, ``segments``, ``curves``), for tests and the screenshot's wait.
        """
        counts = json.dumps({"ready": True, "bars": self.bars, "segments": self.segments,
                             "curves": self.curves})
        return (
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(self.title)}</title>"
            f"<script>window.__liqlevels = {counts};</script>"
            f"<style>html,body{{margin:0;background:{BACKGROUND};}}</style></head>"
            f"<body>{self.svg}</body></html>\n"
        )

    def to_html(self, path: str | Path) -> Path:
        """Write the page to ``path`` (UTF-8); returns the path."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(self.html(), encoding="utf-8")
        tmp.replace(path)
        return path

    def to_png(self, path: str | Path) -> Path:
        """Screenshot the page in headless Chromium to ``path`` (PNG, ``width`` x ``height``).

        Raises
        ------
        RuntimeError
            No Chromium was found (see ``charts._browser.chromium_path``).
        """
        path = Path(path)
        with tempfile.TemporaryDirectory(prefix="liqlevels-") as tmp:
            page = self.to_html(Path(tmp) / "liqmap.html")
            tmp_png = Path(tmp) / "liqmap.png"
            screenshot(page, tmp_png, width=self.width, height=self.height)
            shutil.move(tmp_png, path)
        return path


#: A bin taller than CLIP_RATIO times the 98th percentile of the bins is clipped: the bar axis
#: ends at that height (so one whale bin does not flatten the rest) and the bin is marked.
CLIP_RATIO = 3.0
_CLIP_QUANTILE = 0.98


def value_ceiling(totals: np.ndarray) -> tuple[float, bool]:
    """The bar axis's top for these bin totals (quote currency), and whether it clips.

    The largest total (plus 8% headroom) unless it exceeds :data:`CLIP_RATIO` times the 98th
    percentile; then that multiple, and the bins above it are drawn clipped, labelled with
    their value. No bins, or all zero: ``(1.0, False)``.
    """
    totals = np.asarray(totals, dtype=np.float64)
    top = float(totals.max()) if totals.size else 0.0
    if not top > 0:
        return 1.0, False
    cap = CLIP_RATIO * float(np.quantile(totals, _CLIP_QUANTILE))
    if 0 < cap < top:
        return cap, True
    return top * 1.08, False


def _bar_axis_title(bars: _Bars, unit: str, v_hi: float) -> str:
    """The bar axis's title: the unit, the bin width drawn and, when clipped, where."""
    text = f"notional per bin ({unit})"
    if len(bars.lo):
        step = float(np.median(bars.hi - bars.lo))
        text = f"notional per {step:,.6g} {unit} bin ({unit})"
        if float(bars.values.sum(axis=1).max()) > v_hi:
            text += f", clipped at {human(v_hi)}"
    return text


def _ranges(bars: _Bars, depth: pd.DataFrame, price: float) -> tuple[float, float, float, float]:
    lows = [price, *bars.lo.tolist(), *depth["price_low"].tolist()]
    highs = [price, *bars.hi.tolist(), *depth["price_high"].tolist()]
    p_lo, p_hi = min(lows), max(highs)
    pad = (p_hi - p_lo) * 0.03 or price * 0.1
    v_hi, _ = value_ceiling(bars.values.sum(axis=1))
    c_hi = float(depth["cumulative"].max()) if len(depth) else 0.0
    return p_lo - pad, p_hi + pad, v_hi, c_hi * 1.08 or 1.0


def liquidation_map_chart(
    levels_map: MapFrame,
    depth: DepthFrame,
    *,
    price: float,
    title: str = "",
    subtitle: str = "",
    kind: ChartKind = "map",
    max_bars: int = 400,
    width: int = 1200,
    height: int = 700,
    unit: str = "USDT",
) -> LiquidationMapChart:
    """Draw a liquidation map on a price axis: stacked bars per leverage and depth curves.

    Parameters
    ----------
    levels_map : pandas.DataFrame
        :func:`indicator.liquidation_map`'s frame (``price_low, price_high, side, leverage,
        notional``; notional in quote currency).
    depth : pandas.DataFrame
        :func:`indicator.depth`'s frame for the same levels (``cumulative`` in quote currency).
    price : float
        The current price, drawn as a dashed line.
    title, subtitle : str
        Plain text above the chart (escaped: never markup).
    kind : {"map", "depth"}
        ``"map"``: opaque bars, thin curves. ``"depth"``: filled curves over faded bars.
    max_bars : int
        At most about this many price bins are drawn; neighbours are merged when there are more
        (the tables keep the exact bins).
    width, height : int
        Size in CSS pixels (the PNG's size too).
    unit : str, default "USDT"
        The quote currency the notional is in, written on the axes.

    Returns
    -------
    LiquidationMapChart
        The bar axis ends at :func:`value_ceiling`: a bin more than :data:`CLIP_RATIO` times
        the 98th percentile is drawn clipped at the top, marked and labelled with its value.
        With ``to_html(path)`` and ``to_png(path)``. An empty map draws axes and a note.

    Raises
    ------
    TypeError, ValueError
        A frame lacking its columns or holding non-finite values, a bad price or kind.
    """
    price = _check_inputs(levels_map, depth, price)
    kind = check_choice("kind", kind, CHART_KINDS)
    if not isinstance(title, str) or not isinstance(subtitle, str) or not isinstance(unit, str):
        raise TypeError("title, subtitle and unit must be strings")
    bars = _display_bars(levels_map, max(int(max_bars), 1))
    p_lo, p_hi, v_hi, c_hi = _ranges(bars, depth, price)
    fr = _Frame(left=80, top=104, width=width - 170, height=height - 104 - 56,
                p_lo=p_lo, p_hi=p_hi, v_hi=v_hi, c_hi=c_hi)
    body = [f'<rect width="{width}" height="{height}" fill="{BACKGROUND}"/>']
    body += _axes(fr, right_axis=len(depth) > 0)
    rects, segments = _bar_rects(fr, bars, 0.9 if kind == "map" else 0.35)
    curves, n_curves = _curves(fr, depth, price, fill=kind == "depth")
    body += rects + _clip_marks(fr, bars, unit) + curves + _price_marker(fr, price)
    if len(bars.lo):
        body += _side_labels(fr, price)
    else:
        body.append(_text(fr.left + fr.width / 2, fr.top + fr.height / 2,
                          "no liquidation levels on either side of the price", anchor="middle",
                          size=16))
    body.append(_text(fr.left, 28, title, size=18, weight="bold", cls="title"))
    body.append(_text(fr.left, 50, subtitle, size=12, cls="subtitle"))
    body += _legend(fr.left, 74, bars.leverages, n_curves > 0)
    body.append(_text(fr.left + fr.width / 2, height - 12, f"liquidation price ({unit})",
                      anchor="middle", cls="axis-title"))
    mid = fr.top + fr.height / 2
    body.append(f'<g transform="translate(16 {mid:.0f}) rotate(-90)">'
                + _text(0, 0, _bar_axis_title(bars, unit, fr.v_hi), anchor="middle", size=11,
                        cls="axis-title") + "</g>")
    if n_curves:
        body.append(f'<g transform="translate({width - 10} {mid:.0f}) rotate(90)">'
                    + _text(0, 0, f"cumulative from the price ({unit})", anchor="middle",
                            size=11, cls="axis-title") + "</g>")
    leverages = ",".join(str(v) for v in bars.leverages)
    svg = (
        f'<svg id="liqmap" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" style="{_FONT}" data-bars="{len(bars.lo)}" '
        f'data-segments="{segments}" data-curves="{n_curves}" data-leverages="{leverages}" '
        f'data-price="{price!r}">' + "".join(body) + "</svg>"
    )
    return LiquidationMapChart(svg=svg, bars=len(bars.lo), segments=segments, curves=n_curves,
                               width=width, height=height, title=title or "liquidation map")


def liquidation_profile(
    levels_map: MapFrame, *, label: str = "liquidation map", width: float = 0.3,
    unit: str = "USDT",
) -> Profile:
    """The map as a price-axis profile beside candles: one stacked colour per leverage.

    Parameters
    ----------
    levels_map : pandas.DataFrame
        :func:`indicator.liquidation_map`'s frame (notional in quote currency).
    label : str
        Legend title.
    width : float
        Fraction (0, 1] of the pane's width the longest bar takes.
    unit : str, default "USDT"
        The quote currency of the notional, shown on the profile's axis and on hover.

    Returns
    -------
    charts.Profile
        Columns ``"10x"``, ``"25x"`` ... in the leverage colours; pass it to the candles scene.
    """
    check_frame(levels_map, "levels_map", MAP_COLUMNS,
                made_by="the frame indicator.liquidation_map returns")
    levs = sorted({int(v) for v in levels_map["leverage"]})
    names = {lev: f"{lev}x" for lev in levs}
    if levels_map.empty:
        rows = pd.DataFrame({"price_low": [], "price_high": [], "notional": []})
        return price_profile(rows, {"notional": PROFILE_LONG}, label=label, width=width,
                             unit=unit)
    table = levels_map.pivot_table(index=["price_low", "price_high"], columns="leverage",
                                   values="notional", aggfunc="sum", fill_value=0.0)
    table = table.rename(columns=names).reset_index()
    table.columns = [str(c) for c in table.columns]
    colors = {names[lev]: leverage_color(lev) for lev in levs}
    return price_profile(table, colors, label=label, width=width, unit=unit)
