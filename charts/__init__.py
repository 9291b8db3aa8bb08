"""Drawing out: candles with liquidation lines, price-axis profiles and an optional liquidation
heatmap behind them, as a lightweight-charts window, a self-contained HTML file, a PNG, or a
live page that moves (:class:`LivePage`).

``charts`` receives finished frames (from :mod:`indicator`) and computes nothing about markets.
"""

from ..vocab import ChartsWarning
from ._heatmap import Heatmap, heatmap_layer
from ._liqmap import LiquidationMapChart, liquidation_map_chart, liquidation_profile
from ._live import LivePage
from ._palette import LEVERAGE_COLORS, TIER_COLORS, leverage_color
from ._profile import Profile, density_profile, price_profile
from ._scene import Scene

__all__ = [
    "LEVERAGE_COLORS",
    "TIER_COLORS",
    "ChartsWarning",
    "Heatmap",
    "LiquidationMapChart",
    "LivePage",
    "Profile",
    "Scene",
    "density_profile",
    "heatmap_layer",
    "leverage_color",
    "liquidation_map_chart",
    "liquidation_profile",
    "price_profile",
]
