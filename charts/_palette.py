"""Colours, widths and dash patterns: one fixed, legible palette for every chart."""

from __future__ import annotations

import itertools
import math
import re
from typing import Any

__all__ = [
    "BACKGROUND",
    "CANDLE_DOWN",
    "CANDLE_UP",
    "CSS_COLOR_NAMES",
    "LEVERAGE_COLORS",
    "PROFILE_LONG",
    "PROFILE_SHORT",
    "TEXT",
    "TIER_COLORS",
    "check_color",
    "leverage_color",
    "tier_width",
]

# --------------------------------------------------------------------------------------------
# What a colour may be: it reaches CSS, SVG attributes and canvas styles, so only plain colour
# values pass; nothing that could fetch (url(...)), quote or end a declaration.
# --------------------------------------------------------------------------------------------

#: The CSS named colours (CSS Color Module Level 4), and ``transparent``.
CSS_COLOR_NAMES: frozenset[str] = frozenset("""
aliceblue antiquewhite aqua aquamarine azure beige bisque black blanchedalmond blue blueviolet
brown burlywood cadetblue chartreuse chocolate coral cornflowerblue cornsilk crimson cyan
darkblue darkcyan darkgoldenrod darkgray darkgreen darkgrey darkkhaki darkmagenta
darkolivegreen darkorange darkorchid darkred darksalmon darkseagreen darkslateblue
darkslategray darkslategrey darkturquoise darkviolet deeppink deepskyblue dimgray dimgrey
dodgerblue firebrick floralwhite forestgreen fuchsia gainsboro ghostwhite gold goldenrod gray
green greenyellow grey honeydew hotpink indianred indigo ivory khaki lavender lavenderblush
lawngreen lemonchiffon lightblue lightcoral lightcyan lightgoldenrodyellow lightgray
lightgreen lightgrey lightpink lightsalmon lightseagreen lightskyblue lightslategray
lightslategrey lightsteelblue lightyellow lime limegreen linen magenta maroon
mediumaquamarine mediumblue mediumorchid mediumpurple mediumseagreen mediumslateblue
mediumspringgreen mediumturquoise mediumvioletred midnightblue mintcream mistyrose moccasin
navajowhite navy oldlace olive olivedrab orange orangered orchid palegoldenrod palegreen
paleturquoise palevioletred papayawhip peachpuff peru pink plum powderblue purple
rebeccapurple red rosybrown royalblue saddlebrown salmon sandybrown seagreen seashell sienna
silver skyblue slateblue slategray slategrey snow springgreen steelblue tan teal thistle
tomato turquoise violet wheat white whitesmoke yellow yellowgreen transparent
""".split())

_HEX = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")
_NUM = r"\s*(?:\d+(?:\.\d*)?|\.\d+)%?\s*"
_RGB = re.compile(rf"rgba?\({_NUM},{_NUM},{_NUM}(?:,{_NUM})?\)", re.IGNORECASE)


def check_color(color: Any, name: str = "color") -> str:
    """``color`` if it is a plain CSS colour, else an error naming ``name``.

    Accepted: ``#rgb``, ``#rrggbb``, ``#rrggbbaa``, ``rgb(r, g, b)`` / ``rgba(r, g, b, a)``
    with plain numbers (or percentages), and the CSS named colours
    (:data:`CSS_COLOR_NAMES`). Nothing else reaches the page, so a colour can never load
    anything (``url(...)``), add a declaration or leave its attribute or string.

    Raises
    ------
    TypeError
        Not a string.
    ValueError
        Any other string, e.g. ``"url(https://...)"`` or ``"red; background: ..."``.
    """
    if not isinstance(color, str):
        raise TypeError(f"{name}={color!r} must be a CSS colour string such as '#40d6a0'")
    if _HEX.fullmatch(color) or _RGB.fullmatch(color) or color.lower() in CSS_COLOR_NAMES:
        return color
    shown = color if len(color) <= 60 else color[:57] + "..."
    raise ValueError(
        f"{name}={shown!r} is not a colour liqlevels draws with: use #rgb, #rrggbb, "
        f"#rrggbbaa, rgb(r, g, b), rgba(r, g, b, a) or a CSS colour name such as 'orange'"
    )


#: Leverage -> line colour, cool (low leverage, far from price) to hot (high, close to it).
#: Chosen so that any two stay apart (CIEDE2000 >= 25) in normal vision and under simulated
#: deuteranopia and protanopia (Machado et al. 2009), each well clear of the background:
#: blue, mint, yellow, red-orange, magenta differ in lightness as well as hue
#: (tests/test_charts_readability.py checks it).
LEVERAGE_COLORS: dict[int, str] = {
    5: "#5799f8",
    10: "#78ffe8",
    25: "#ffff00",
    50: "#f04606",
    100: "#e60088",
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
    if lev in LEVERAGE_COLORS:  # a public dict: what a caller put there is checked too
        return check_color(LEVERAGE_COLORS[lev], f"LEVERAGE_COLORS[{lev}]")
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
