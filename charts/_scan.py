"""The scan's page: a grid of small charts, one per top-ranked symbol, self-contained and offline.

Each card shows the symbol's recent candles, the dense clusters of live liquidation lines it is
given as translucent price lines (long below in green, short above in pink, thicker for more
notional) and, dashed and labelled on the price axis, the nearest dense cluster of each side;
the price scale covers the candles and those two. The page receives finished frames
(the scan computed them); it computes nothing about markets.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..vocab import check_frame
from . import _palette as pal
from ._browser import screenshot
from ._data import candle_payload
from ._html import lightweight_charts_js, our_js, scene_json

__all__ = ["ScanCard", "scan_page", "scan_png"]

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="liqlevels scan">
<title>{title}</title>
<style>
html, body {{ margin: 0; background: {background}; color: {text};
  font: 13px/1.35 system-ui, -apple-system, "Segoe UI", sans-serif; }}
h1 {{ font-size: 16px; font-weight: 600; margin: 12px 16px 2px; }}
#liqlevels-sub {{ margin: 0 16px 10px; opacity: 0.7; }}
#liqlevels-grid {{ display: grid; gap: 10px; padding: 0 16px 16px;
  grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); }}
.card {{ border: 1px solid rgba(255,255,255,0.08); border-radius: 6px; padding: 6px 8px 4px; }}
.card-head {{ display: flex; justify-content: space-between; gap: 8px; }}
.card-title {{ font-weight: 600; }}
.card-sub {{ opacity: 0.75; font-size: 12px; }}
.long {{ color: {long}; }} .short {{ color: {short}; }}
.card-chart {{ height: 210px; }}
</style>
</head>
<body>
<h1 id="liqlevels-title"></h1>
<div id="liqlevels-sub"></div>
<div id="liqlevels-grid"></div>
{scripts}
</body>
</html>
"""

LONG_COLOR = "rgb(64, 214, 160)"
SHORT_COLOR = "rgb(236, 112, 206)"


@dataclass
class ScanCard:
    """One small chart of the scan's page.

    Attributes
    ----------
    title : str
        Heading (rank and symbol), shown as text.
    lines : list of str
        Text lines under it (the nearest clusters), each shown as text.
    candles : pandas.DataFrame
        ``open, high, low, close`` on a UTC index: the bars drawn.
    clusters : pandas.DataFrame
        ``side, price, usd, dense`` (the scan's clusters): the dense ones are drawn.
    marks : list of (str, float, str)
        ``(side, price, label)``: price lines labelled on the axis (the nearest clusters).
    """

    title: str
    lines: list[str]
    candles: pd.DataFrame
    clusters: pd.DataFrame
    marks: list[tuple[str, float, str]]

    def payload(self) -> dict[str, Any]:
        bars, _ = candle_payload(self.candles)
        frame = check_frame(self.clusters, "clusters", ("side", "price", "usd", "dense"),
                            made_by="the scan's clusters")
        dense = frame[frame["dense"].astype(bool)]
        top = float(dense["usd"].max()) if len(dense) else 0.0
        bands = [{"side": str(s), "price": float(p),
                  "width": 1 + round(2 * u / top) if top > 0 else 1}
                 for s, p, u in zip(dense["side"], dense["price"], dense["usd"], strict=True)
                 if math.isfinite(p)]
        marks = [{"side": s, "price": float(p), "label": str(t)}
                 for s, p, t in self.marks if math.isfinite(p)]
        return {"title": str(self.title), "lines": [str(x) for x in self.lines],
                "candles": bars, "bands": bands, "marks": marks}


def scan_page(cards: Sequence[ScanCard], *, title: str, subtitle: str = "") -> str:
    """The self-contained HTML page of ``cards`` (no network access) as a string."""
    for i, card in enumerate(cards):
        if not isinstance(card, ScanCard):
            raise TypeError(f"cards[{i}] is a {type(card).__name__}, not a ScanCard")
    scene = {"title": str(title), "subtitle": str(subtitle),
             "cards": [card.payload() for card in cards],
             "theme": {"background": pal.BACKGROUND, "text": pal.TEXT, "grid": pal.GRID,
                       "up": pal.CANDLE_UP, "down": pal.CANDLE_DOWN, "long": LONG_COLOR,
                       "short": SHORT_COLOR, "longBand": pal.PROFILE_LONG,
                       "shortBand": pal.PROFILE_SHORT}}
    scripts = [
        f'<script type="application/json" id="liqlevels-scene">{scene_json(scene)}</script>',
        f"<script>{lightweight_charts_js()}</script>",
        f"<script>{our_js('scan.js')}</script>",
    ]
    return _PAGE.format(title=html.escape(str(title), quote=True), background=pal.BACKGROUND,
                        text=pal.TEXT, long=LONG_COLOR, short=SHORT_COLOR,
                        scripts="\n".join(scripts))


def scan_png(html_path: str | Path, png_path: str | Path, *, width: int = 1400,
             height: int = 900) -> Path:
    """Screenshot the page at ``html_path`` in headless Chromium (``RuntimeError`` without
    one)."""
    return screenshot(Path(html_path), Path(png_path), width=width, height=height)
