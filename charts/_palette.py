"""Colours, widths and dash patterns: one fixed, legible palette for every chart."""

from __future__ import annotations

import itertools
import math

__all__ = [
    "BACKGROUND",
    "CANDLE_DOWN",
    "CANDLE_UP",
    "LEVERAGE_COLORS",
    "PROFILE_LONG",
    "PROFILE_SHORT",
    "TEXT",
    "TIER_COLORS",
    "leverage_color",
    "tier_width",
]

#: Leverage -> line colour, cool (low leverage, far from price) to hot (high, close to it).
LEVERAGE_COLORS: dict[int, str] = {
    5: "#3d7bff",
    10: "#19c9e6",
    25: "#f5d90a",
    50: "#ff8a1f",
    100: "#ff2e63",
}

#: OI-delta bar colour by tier: 0 (no trigger) to 3 (large).
TIER_COLORS: tuple[str, ...] = ("#3a3f4c", "#7b6ee6", "#b59cff", "#f2eaff")

BACKGROUND = "#0e1117"
TEXT = "#c7cbd4"
GRID = "rgba(255, 255, 255, 0.045)"
CANDLE_UP = "#6fa698"
CANDLE_DOWN = "#a86b78"
PROFILE_LONG = "rgba(64, 214, 160, 0.55)"
PROFILE_SHORT = "rgba(236, 112, 206, 0.55)"
OI_LINE = "#9aa3b5"
BASELINE = "#e8e8e8"

_ANCHORS: tuple[tuple[float, tuple[int, int, int]], ...] = tuple(
    (math.log(lev), (int(c[1:3], 16), int(c[3:5], 16), int(c[5:7], 16)))
    for lev, c in sorted(LEVERAGE_COLORS.items())
)


def leverage_color(leverage: float) -> str:
    """The line colour of a leverage, as ``#rrggbb``.

    The five default leverages have fixed colours (:data:`LEVERAGE_COLORS`); any other
    leverage is interpolated on a log scale between its neighbours, and clamped to the 5x or
    100x colour outside that range.

    Parameters
    ----------
    leverage : float
        The leverage ``L`` (``5`` for 5x), > 1.

    Returns
    -------
    str
        A CSS colour ``#rrggbb``.
    """
    lev = int(leverage) if float(leverage).is_integer() else float(leverage)
    if lev in LEVERAGE_COLORS:
        return LEVERAGE_COLORS[lev]
    x = math.log(max(float(leverage), 1.0001))
    if x <= _ANCHORS[0][0]:
        return _hex(_ANCHORS[0][1])
    for (x0, c0), (x1, c1) in itertools.pairwise(_ANCHORS):
        if x <= x1:
            f = (x - x0) / (x1 - x0)
            return _hex(tuple(round(a + (b - a) * f) for a, b in zip(c0, c1, strict=True)))
    return _hex(_ANCHORS[-1][1])


def _hex(rgb: tuple[int, ...]) -> str:
    return "#" + "".join(f"{v:02x}" for v in rgb)


def tier_width(tier: int) -> int:
    """Line width in CSS pixels for a tier: 1, 2, 3 (tiers above 3 are drawn as 3)."""
    return int(min(max(tier, 1), 3))
