"""A price-axis profile: horizontal bars per price bin, stacked by named columns.

The density histogram is one; the trade-based liquidation map beside candles is another. On
the page it is a Lightweight Charts series primitive (``LiqLevels.PriceProfile`` in
``js/liqlevels.js``) attached to the candle series, so it follows the price scale through zoom
and scroll while staying pinned to one edge of the pane.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..indicator import DENSITY_COLUMNS, DensityFrame
from ..vocab import EDGES, Edge, check_choice, check_frame, first_true
from ._checks import check_finite
from ._palette import PROFILE_LONG, PROFILE_SHORT, check_color

__all__ = ["Profile", "density_profile", "price_profile"]



@dataclass(frozen=True)
class Profile:
    """A checked price-axis profile, ready to draw; build it with :func:`price_profile`.

    Attributes
    ----------
    price_low, price_high : numpy.ndarray
        Bin edges (price) of each row.
    values : numpy.ndarray
        ``(rows, columns)`` bar lengths (any unit: lines, USD, coins), each >= 0.
    names, colors : tuple of str
        Column names (legend text) and CSS colours, stacked outward from ``edge`` in order.
    label : str
        Legend title ("" for none).
    width : float
        Fraction of the pane's width the longest bar takes.
    edge : {"right", "left"}
        Pane edge the bars grow from.
    unit : str
        What the values count ("lines", "USD", "coins"...): shown on the profile's value
        axis, in the legend and on hover.
    """

    price_low: np.ndarray
    price_high: np.ndarray
    values: np.ndarray
    names: tuple[str, ...]
    colors: tuple[str, ...]
    label: str = ""
    width: float = 0.25
    edge: str = "right"
    unit: str = "lines"
    _bars: int = field(default=0, repr=False)

    @property
    def bars(self) -> int:
        """How many rows are drawn (rows whose stacked total is > 0)."""
        return self._bars

    def payload(self) -> dict[str, Any]:
        """The JSON-ready form the page's ``PriceProfile`` primitive takes."""
        return {
            "lo": self.price_low.tolist(),
            "hi": self.price_high.tolist(),
            "v": self.values.tolist(),
            "names": list(self.names),
            "colors": list(self.colors),
            "label": self.label,
            "width": self.width,
            "edge": self.edge,
            "unit": self.unit,
        }


def _check_width(width: Any) -> float:
    if isinstance(width, bool) or not isinstance(width, (int, float, np.integer, np.floating)):
        raise TypeError(f"width={width!r} must be a number, the fraction of the pane (e.g. 0.25)")
    if not (math.isfinite(width) and 0 < width <= 1):
        raise ValueError(f"width={width!r} must be in (0, 1], the fraction of the pane width")
    return float(width)


def _check_colors(colors: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if not isinstance(colors, Mapping) or not colors:
        raise TypeError(
            "colors must be a non-empty mapping of column name -> CSS colour, e.g. "
            "{'long': '#40d6a0', 'short': '#ec70ce'}"
        )
    for name, color in colors.items():
        if not isinstance(name, str) or not isinstance(color, str) or not color:
            raise TypeError(f"colors[{name!r}]={color!r}: names and colours must be strings")
    return tuple(colors), tuple(check_color(c, f"colors[{n!r}]") for n, c in colors.items())


def price_profile(
    rows: pd.DataFrame,
    colors: Mapping[str, str],
    *,
    label: str = "",
    width: float = 0.25,
    edge: Edge = "right",
    unit: str = "lines",
) -> Profile:
    """A horizontal histogram on the price axis, one bar per row, stacked by column.

    Parameters
    ----------
    rows : pandas.DataFrame
        ``price_low`` and ``price_high`` (price, bin edges, ``low <= high``) and one numeric
        column (>= 0; lines, USD or coins) per key of ``colors``. A row whose values sum to
        0 draws nothing; a row with ``price_low == price_high`` draws a 1-pixel bar.
    colors : mapping of str to str
        Column name -> CSS colour, stacked outward from ``edge`` in this order: ``#rgb``,
        ``#rrggbb``, ``#rrggbbaa``, ``rgb(...)``/``rgba(...)`` with numbers, or a CSS colour
        name (nothing else, so no colour can load anything). The names are the legend's text
        (shown as text, never markup).
    label : str, optional
        Legend title of the profile.
    width : float, default 0.25
        Fraction (0, 1] of the pane's width the longest bar takes.
    edge : {"right", "left"}, default "right"
        Pane edge the bars grow from.
    unit : str, default "lines"
        What the values count (``"lines"``, ``"USD"``, ``"coins"``...), shown as text on the
        profile's value axis, in the legend and on hover.

    Returns
    -------
    Profile
        Pass it to :class:`charts.Scene` (``profiles=[...]``).

    Raises
    ------
    TypeError, ValueError
        On a missing column, a non-finite or negative value, ``price_low > price_high``, or a
        colour that is not one of the forms above.
    """
    names, palette = _check_colors(colors)
    check_frame(rows, "rows", ("price_low", "price_high", *names),
                made_by="price bins and one column per colour")
    lo = check_finite(rows, "rows", "price_low")
    hi = check_finite(rows, "rows", "price_high")
    row = first_true(lo > hi)
    if row is not None:
        raise ValueError(
            f"rows has price_low {float(lo[row])!r} > price_high {float(hi[row])!r} at row {row}; "
            f"swap them"
        )
    values = np.column_stack([check_finite(rows, "rows", n, nonneg=True) for n in names])
    values = values.reshape(len(rows), len(names))
    if not isinstance(label, str):
        raise TypeError(f"label={label!r} must be a string")
    if not isinstance(unit, str) or not unit.strip():
        raise TypeError(f"unit={unit!r} must be a non-empty string such as 'lines' or 'USD'")
    return Profile(
        price_low=lo, price_high=hi, values=values, names=names, colors=palette, label=label,
        width=_check_width(width), edge=check_choice("edge", edge, EDGES), unit=unit,
        _bars=int((values.sum(axis=1) > 0).sum()),
    )


def density_profile(
    density: DensityFrame, *, label: str = "live lines by price", width: float = 0.25,
    unit: str = "lines",
) -> Profile:
    """The density frame of :func:`indicator.density` as a profile: long and short stacked.

    Parameters
    ----------
    density : pandas.DataFrame
        ``price_low, price_high, long, short``: lines per bin, or the lines weighted (by
        ``|oi_delta|`` in coins, or by notional in USD).
    label : str, default "live lines by price"
        Legend title.
    width : float, default 0.25
        Fraction of the pane's width the longest bar takes.
    unit : str, default "lines"
        What a bin's value counts, from how the density was weighted: ``"lines"``,
        ``"coins"`` (OI delta), ``"USD"`` (notional). Shown on the profile's value axis, in
        the legend and on hover.

    Returns
    -------
    Profile
    """
    check_frame(density, "density", DENSITY_COLUMNS, made_by="the frame indicator.density returns")
    return price_profile(
        density,
        {"long": PROFILE_LONG, "short": PROFILE_SHORT},
        label=label,
        width=width,
        unit=unit,
    )
