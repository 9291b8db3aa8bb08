"""Trade levels get ends: the first later bar that touches each level (docs/heatmap.md).

The rule is the OI method's (docs/method.md 1.7) with the trade in place of the trigger bar:
the bar that holds the trade (the last bar opening at or before the trade's time) never ends
its levels; the first bar opening **after** the trade's time whose low (long) or high (short)
reaches the level does. The search is the OI method's own first-touch search
(:func:`first_at_or_below`), no new loop.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..vocab import check_bar_index, check_frame, first_true, row_label
from ._frames import NAT, TradeLevels, check_levels, utc_times
from ._search import first_at_or_below

__all__ = ["trade_level_ends"]


def _highs_lows(candles: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The bars' open times (int64 ns), highs and lows, checked: a tz-aware strictly
    increasing index and finite prices > 0 with ``high >= low``."""
    check_frame(candles, "candles", ("high", "low"))
    check_bar_index(candles.index, "candles")
    cols = []
    for col in ("high", "low"):
        try:
            values = candles[col].to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"candles[{col!r}] must be numeric, got dtype {candles[col].dtype}; "
                            f"convert it with pd.to_numeric") from exc
        row = first_true(~((values > 0) & np.isfinite(values)))
        if row is not None:
            raise ValueError(f"candles[{col!r}] is {float(values[row])!r} at "
                             f"{row_label(candles.index, row)}; prices must be finite positive "
                             f"numbers: drop or repair that bar")
        cols.append(values)
    high, low = cols
    row = first_true(high < low)
    if row is not None:
        raise ValueError(f"candles['high'] ({float(high[row])!r}) is below 'low' "
                         f"({float(low[row])!r}) at {row_label(candles.index, row)}")
    return candles.index.as_unit("ns").asi8, high, low


def trade_level_ends(levels: TradeLevels, candles: pd.DataFrame) -> pd.DataFrame:
    """The levels frame with an ``end`` column: the first later bar that touches each level.

    A level ends at the first bar whose open time is **after** the level's ``start`` (the
    trade's time) and whose ``low <= price`` (long) or ``high >= price`` (short). The bar
    holding the trade never ends its levels, as a trigger bar never ends its own lines
    (docs/method.md 1.7); a trade before the first bar can be ended by the first bar. Applied
    to OI levels and their candles it gives back :func:`oi_levels`' own ``end``.

    Parameters
    ----------
    levels : pandas.DataFrame
        The frame :func:`trade_levels` returns (``start``, ``side``, ``price`` are used; an
        ``end`` column already there is replaced).
    candles : pandas.DataFrame
        Bars on a tz-aware, strictly increasing ``DatetimeIndex`` of open times, with
        ``high`` and ``low`` (price), e.g. :func:`trade_candles` of the same trades or an
        exchange's candles. Other columns are ignored.

    Returns
    -------
    pandas.DataFrame
        ``levels`` (same rows, same index) with ``end`` (datetime64[ns, UTC]; the touching
        bar's open time, NaT while untouched in ``candles``) inserted after ``start``.

    Raises
    ------
    TypeError, ValueError
        A levels frame that is not one, or candles without ``high``/``low``, with a naive,
        unsorted or duplicated index, or a bad price; the message names the row.
    """
    lines = check_levels(levels, ("start", "side", "price"))
    bars, high, low = _highs_lows(candles)
    after = np.searchsorted(bars, lines.start, side="right")  # first bar opening after start
    pos = np.empty(len(after), dtype=np.int64)
    is_long = ~lines.short
    pos[is_long] = first_at_or_below(low, after[is_long], lines.price[is_long])
    pos[lines.short] = first_at_or_below(high, after[lines.short], lines.price[lines.short],
                                         above=True)
    end = np.append(bars, NAT)[pos]  # len(bars): never touched -> NaT
    out = levels.drop(columns="end") if "end" in levels.columns else levels.copy()
    out.insert(int(out.columns.get_loc("start")) + 1, "end", utc_times(end))
    return out
