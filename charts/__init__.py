"""Drawing out: candles with liquidation lines, price-axis profiles and an optional liquidation
heatmap behind them, as a lightweight-charts window, a self-contained HTML file, a PNG, or a
live page that moves (:class:`LivePage`).

``charts`` receives finished frames (from :mod:`indicator`) and computes nothing about markets.
Names load on first use (PEP 562): drawing a static chart imports no aiohttp.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from ..vocab import ChartsWarning as ChartsWarning

# name -> the module that defines it
_HOMES = {
    "Heatmap": "_heatmap", "heatmap_layer": "_heatmap",
    "LiquidationMapChart": "_liqmap", "liquidation_map_chart": "_liqmap",
    "liquidation_profile": "_liqmap",
    "LivePage": "_live",
    "LEVERAGE_COLORS": "_palette", "TIER_COLORS": "_palette", "leverage_color": "_palette",
    "Profile": "_profile", "density_profile": "_profile", "price_profile": "_profile",
    "Scene": "_scene",
}

__all__ = sorted(["ChartsWarning", *_HOMES])


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{home}", __name__), name)
    globals()[name] = value  # once loaded, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
