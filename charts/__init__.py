"""Drawing out: candles with liquidation lines, price-axis profiles and an optional liquidation
heatmap behind them, as a lightweight-charts window, a self-contained HTML file, a PNG, or a
live page that moves (:class:`LivePage`).

``charts`` receives finished frames (from :mod:`indicator`) and computes nothing about markets.
Names load on first use (PEP 562): drawing a static chart imports no aiohttp.
"""

from __future__ import annotations

from ..vocab import ChartsWarning as ChartsWarning
from ..vocab import lazy_names

# name -> the module that defines it
_HOMES = {
    "Heatmap": "_heatmap", "heatmap_layer": "_heatmap",
    "LiquidationMapChart": "_liqmap", "liquidation_map_chart": "_liqmap",
    "liquidation_profile": "_liqmap",
    "LivePage": "_live",
    "LEVERAGE_COLORS": "_palette", "TIER_COLORS": "_palette", "leverage_color": "_palette",
    "Profile": "_profile", "density_profile": "_profile", "price_profile": "_profile",
    "Scene": "_scene",
    "StudyReport": "_study",
    "ScanCard": "_scan", "scan_page": "_scan", "scan_png": "_scan",
}

__all__ = sorted(["ChartsWarning", *_HOMES])


__getattr__, __dir__ = lazy_names(__name__, globals(), _HOMES)
