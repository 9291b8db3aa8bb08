"""One scene, three outputs: a desktop window, a self-contained HTML file, a PNG."""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..indicator import DensityFrame, OILevels
from ..vocab import ChartsWarning
from . import _palette as pal
from ._browser import screenshot
from ._data import (
    AGGREGATE_FROM,
    candle_arrays,
    candle_payload,
    level_payload,
    oi_payload,
    packed_candles,
    packed_lines,
    packed_oi,
)
from ._heatmap import Heatmap, check_heatmap
from ._html import page
from ._profile import Profile, density_profile
from ._window import WindowError, open_window, window_unavailable

__all__ = ["Scene"]


def _check_count(name: str, value: Any, *, allow_none: bool) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        hint = " or None for all" if allow_none else ""
        raise TypeError(f"{name}={value!r} must be a whole number{hint}")
    if value < 0:
        raise ValueError(f"{name}={value!r} must be >= 0")
    return int(value)


def _check_text(name: str, value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TypeError(f"{name}={value!r} must be a string")
    return value


def _check_size(width: Any, height: Any) -> tuple[int, int]:
    for name, value in (("width", width), ("height", height)):
        size = _check_count(name, value, allow_none=False)
        if size is None or not 100 <= size <= 10000:
            raise ValueError(f"{name}={value!r} must be between 100 and 10000 pixels")
    return int(width), int(height)


def _profiles(density: Any, profiles: Sequence[Profile]) -> list[Profile]:
    out = [] if density is None else [density_profile(density)]
    for i, prof in enumerate(profiles):
        if not isinstance(prof, Profile):
            raise TypeError(
                f"profiles[{i}] is a {type(prof).__name__}; build it with charts.price_profile"
            )
        out.append(prof)
    return out


def _theme() -> dict[str, Any]:
    """The palette's colours for the page, each checked (``charts._palette.check_color``)."""
    named = {
        "background": "BACKGROUND", "text": "TEXT", "grid": "GRID", "up": "CANDLE_UP",
        "down": "CANDLE_DOWN", "oi": "OI_LINE", "baseline": "BASELINE",
    }
    theme: dict[str, Any] = {key: pal.check_color(getattr(pal, attr), attr)
                             for key, attr in named.items()}
    theme["tiers"] = [pal.check_color(c, f"TIER_COLORS[{i}]")
                      for i, c in enumerate(pal.TIER_COLORS)]
    return theme


class Scene:
    """Candles with liquidation lines, price-axis profiles and an optional OI pane.

    Build it once, then :meth:`show` it in a window, write it with :meth:`to_html` or
    :meth:`to_png`. Inputs are checked here, so a bad frame fails before anything is drawn.

    Parameters
    ----------
    candles : pandas.DataFrame
        Bars on a tz-aware, strictly increasing UTC index of bar open times: ``open, high,
        low, close`` (price) are drawn; ``open_interest`` (coins) only with ``oi=``. Other
        columns are ignored.
    levels : pandas.DataFrame, optional
        The lines, as :func:`indicator.oi_levels` returns them (``start, end, side,
        leverage, price, tier`` are used). Each runs from its ``start`` bar to its ``end`` bar,
        or to the last bar while ``end`` is NaT. Colour by leverage (5x cool to 100x hot),
        width by tier (1 to 3 px), long solid and short dashed.
    density : pandas.DataFrame, optional
        :func:`indicator.density` output (``price_low, price_high, long, short``), drawn as
        horizontal bars pinned to the right edge, long and short stacked.
    oi : pandas.DataFrame, optional
        :func:`indicator.oi_signals` output (``oi_delta, baseline, tier`` on the candles'
        index): adds an open-interest strip and OI-delta bars coloured by tier with the
        baseline, under the candles.
    profiles : sequence of Profile, optional
        More price-axis profiles (:func:`charts.price_profile`), e.g. a liquidation map.
    symbol : str, optional
        Shown as the legend's heading (always as text, never markup).
    title : str, default "Liquidation levels on OI"
        Shown under the symbol and as the page/window title.
    price_unit : str, optional
        The currency the prices are in (e.g. ``"USDT"``), said under the title: the price
        axis carries no unit of its own.
    max_lines : int or None, default 500
        Draw only the newest ``max_lines`` lines (by ``start``), as TradingView keeps 500;
        ``None`` draws all.
    visible_bars : int or None, default 500
        How many of the newest bars the first view shows; ``None`` fits all.
    heatmap : pandas.DataFrame or Heatmap, optional
        :func:`indicator.heatmap` output (``time, price_low, price_high, long, short``), or
        :func:`charts.heatmap_layer` of it to name its weight: drawn behind the candles, one
        column per time (to the next time), coloured by long + short with a colour scale in
        the legend and a tooltip per cell. Times are placed on the bar open at that time.
    aggregate : bool or None, default None
        Send the candles packed (binary) and draw them at the resolution the screen shows:
        coarser bars (a pandas resample of the candles, ``origin="epoch"``) when zoomed out,
        the candles themselves when zoomed in (docs/charts.md, "Big charts"). ``None``: from
        :data:`AGGREGATE_FROM` (50,000) candles on. ``False``: every candle as JSON, drawn one
        by one (the page before; slow past 100k).

    Raises
    ------
    TypeError, ValueError
        On a malformed frame or option, naming the argument, column and first bad row.
    """

    def __init__(
        self,
        candles: pd.DataFrame,
        levels: OILevels | None = None,
        density: DensityFrame | None = None,
        *,
        oi: pd.DataFrame | None = None,
        profiles: Sequence[Profile] = (),
        symbol: str | None = None,
        title: str | None = "Liquidation levels on OI",
        max_lines: int | None = 500,
        visible_bars: int | None = 500,
        heatmap: pd.DataFrame | Heatmap | None = None,
        price_unit: str | None = None,
        aggregate: bool | None = None,
    ) -> None:
        max_lines = _check_count("max_lines", max_lines, allow_none=True)
        visible = _check_count("visible_bars", visible_bars, allow_none=True)
        if aggregate is not None and not isinstance(aggregate, bool):
            raise TypeError(f"aggregate={aggregate!r} must be True, False or None (automatic)")
        self.symbol = _check_text("symbol", symbol)
        self.title = _check_text("title", title)
        unit = _check_text("price_unit", price_unit)
        cols, index_ns, secs = candle_arrays(candles)
        self._aggregate = secs.size >= AGGREGATE_FROM if aggregate is None else aggregate
        profs = _profiles(density, profiles)
        self._heatmap = check_heatmap(heatmap)
        self._inputs = (candles, levels, oi, max_lines, index_ns)
        common: dict[str, Any] = {
            "title": self.symbol or self.title,
            "subtitle": " \u00b7 ".join(x for x in (
                self.title if self.symbol else "", f"prices in {unit}" if unit else "") if x),
            "profiles": [p.payload() for p in profs],
            "theme": _theme(),
            "view": {"bars": visible, "profileWidth": max((p.width for p in profs), default=0)},
        }
        if self._heatmap is not None:
            common["heatmap"] = self._heatmap.payload(index_ns)
        self._json: dict[str, Any] | None = None
        if self._aggregate:
            self._page = {**common, "candles": packed_candles(cols, secs),
                          "lines": packed_lines(levels, index_ns, max_lines),
                          "oi": packed_oi(oi, candles, index_ns)}
        else:
            self._page = self._json = self._legacy(common)
        self._bars = sum(p.bars for p in profs)

    def _legacy(self, common: dict[str, Any]) -> dict[str, Any]:
        candles, levels, oi, max_lines, index_ns = self._inputs
        return {**common, "candles": candle_payload(candles)[0],
                "lines": level_payload(levels, index_ns, max_lines),
                "oi": oi_payload(oi, candles, index_ns)}

    @property
    def _scene(self) -> dict[str, Any]:
        """The scene with every column as JSON lists (what the live page starts from); built
        on first use when the page itself is packed."""
        if self._json is None:
            common = {k: v for k, v in self._page.items() if k not in ("candles", "lines", "oi")}
            self._json = self._legacy(common)
        return self._json

    @property
    def counts(self) -> dict[str, int]:
        """What the page draws: ``candles``, ``lines`` and profile ``bars`` (rows > 0)."""
        return {
            "candles": self._page["candles"]["n"],
            "lines": self._page["lines"]["drawn"],
            "bars": self._bars,
        }

    @property
    def heatmap_cells(self) -> int:
        """Heatmap cells the page colours (total > 0, on the candles); 0 without one."""
        heat = self._page.get("heatmap")
        if heat is None or not heat["vmax"] > 0:
            return 0
        return sum(1 for a, b in zip(heat["l"], heat["s"], strict=True) if a + b > 0)

    @property
    def page_title(self) -> str:
        """The page and window title: symbol and title joined."""
        parts = [p for p in (self.symbol, self.title) if p]
        return " - ".join(parts) or "liqlevels"

    def html(self) -> str:
        """The self-contained HTML page (no network access) as a string."""
        return page(self._page, title=self.page_title,
                    background=self._page["theme"]["background"])

    def to_html(self, path: str | Path) -> Path:
        """Write the self-contained, offline HTML page to ``path``; returns the path."""
        path = Path(path)
        path.write_text(self.html(), encoding="utf-8")
        return path

    def to_png(self, path: str | Path, *, width: int = 1400, height: int = 800) -> Path:
        """Screenshot the HTML page in headless Chromium into ``path`` (PNG, CSS pixels).

        Raises
        ------
        RuntimeError
            When no Chromium is found or the page fails to draw.
        """
        width, height = _check_size(width, height)
        path = Path(path)
        with tempfile.TemporaryDirectory(prefix="liqlevels-") as tmp:
            html_path = self.to_html(Path(tmp) / "chart.html")
            screenshot(html_path, path, width=width, height=height)
        return path

    def show(
        self,
        *,
        width: int = 1400,
        height: int = 800,
        block: bool = True,
        html_path: str | Path | None = None,
        timeout: float = 30.0,
    ) -> Any:
        """Open the chart in lightweight-charts' desktop window (pywebview, Qt backend).

        Without a display, or without the window extra (``pip install 'liqlevels[window]'``),
        or when the window fails to open within ``timeout`` seconds, it warns
        (:class:`ChartsWarning`) and writes the HTML page instead (to ``html_path``, or a
        temporary file), never waiting on a window that cannot appear.

        Returns
        -------
        lightweight_charts.Chart or pathlib.Path
            The window's chart (after it closes when ``block``), or the HTML file written.
        """
        width, height = _check_size(width, height)
        reason = window_unavailable()
        if reason is None:
            try:
                return open_window(self._page, title=self.page_title, width=width,
                                   height=height, block=block, timeout=timeout)
            except WindowError as exc:
                reason = str(exc)
        return self._fallback(reason, html_path)

    def _fallback(self, reason: str, html_path: str | Path | None) -> Path:
        if html_path is None:
            fd, name = tempfile.mkstemp(prefix="liqlevels-", suffix=".html")
            os.close(fd)
            html_path = name
        path = self.to_html(html_path)
        warnings.warn(ChartsWarning(f"cannot open a window: {reason}; wrote {path} instead"),
                      stacklevel=3)
        return path
