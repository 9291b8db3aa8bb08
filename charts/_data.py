"""Frames -> plain JSON-ready columns for the page: times in epoch seconds, lines by bar index.

lightweight-charts 2.1 turns pandas 3's microsecond datetimes into 1970 (it divides by 10**9
as if they were nanoseconds), so every time here is converted by hand, from nanoseconds.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ..indicator import LevelArrays, OILevels, check_levels
from ..vocab import check_frame, first_true
from ._checks import check_ohlc
from ._palette import leverage_color, tier_width

__all__ = [
    "LINE_COLUMNS",
    "OI_COLUMNS",
    "candle_payload",
    "epoch_ns",
    "level_payload",
    "oi_payload",
]

LINE_COLUMNS: tuple[str, ...] = ("start", "end", "side", "leverage", "price", "tier")
OI_COLUMNS: tuple[str, ...] = ("oi_delta", "baseline", "tier")
_NS = 1_000_000_000
_DIGITS = 9


def epoch_ns(index: pd.DatetimeIndex) -> np.ndarray:
    """A tz-aware index as int64 nanoseconds since the epoch, whatever its unit."""
    return index.tz_convert("UTC").as_unit("ns").asi8


def _floats(values: np.ndarray, digits: int = _DIGITS) -> list[float | None]:
    """Floats for JSON, ``digits`` significant digits relative to the largest value (plenty
    for a chart, and half the bytes of full ``repr``); NaN and infinities become ``None``."""
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    top = float(np.abs(values[finite]).max()) if finite.any() else 0.0
    if top > 0:
        values = np.round(values, digits - 1 - math.floor(math.log10(top)))
    out = values.tolist()
    if not finite.all():
        out = [v if math.isfinite(v) else None for v in out]
    return out


def price_format(close: np.ndarray) -> dict[str, Any]:
    """The price axis format for these prices: 2 decimals from 1 up, more below (0.00001234
    shows as 0.000012340)."""
    finite = np.abs(close[np.isfinite(close)])
    typical = float(np.median(finite)) if finite.size else 1.0
    decimals = 2 if typical >= 1 or typical == 0 else min(12, 4 - math.floor(math.log10(typical)))
    return {"type": "price", "precision": decimals, "minMove": 10.0**-decimals}


def candle_payload(candles: Any) -> tuple[dict[str, Any], np.ndarray]:
    """The candles as columns ``t0`` + ``dt`` (epoch seconds of the first bar, then the gaps
    to each next bar), ``o h l c`` and the axis ``format``; and the index in ns.

    Only what is drawn is checked (:func:`check_ohlc`): ``volume`` and ``open_interest`` may
    be absent."""
    cols = check_ohlc(candles, "candles")
    ns = epoch_ns(candles.index)
    secs = ns // _NS
    row = first_true(np.diff(secs) <= 0)
    if row is not None:
        raise ValueError(
            f"candles rows {row} and {row + 1} ({candles.index[row]}, {candles.index[row + 1]}) "
            f"fall in the same second; the chart's time unit is the second, so resample the "
            f"candles to 1s or longer bars"
        )
    data = {
        "t0": int(secs[0]) if secs.size else 0,
        "dt": np.diff(secs).tolist(),
        "n": int(secs.size),
        **{k[0]: _floats(v) for k, v in cols.items()},
        "format": price_format(cols["close"]),
    }
    return data, ns


def _line_positions(
    start: np.ndarray, end: np.ndarray, index_ns: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bar positions of each line's start and end (the last bar while live); and a keep mask.

    A time between bars belongs to the bar open before it. Lines wholly outside the candles
    (starting after the last bar or ended before the first) are dropped; a line that started
    before the first bar is drawn from the first bar.
    """
    n = index_ns.size
    live = end == np.iinfo(np.int64).min
    s = np.searchsorted(index_ns, start, side="right") - 1
    e = np.where(live, n - 1, np.searchsorted(index_ns, end, side="right") - 1)
    if n == 0:
        return s, e, np.zeros(start.shape, dtype=bool)
    keep = (start <= index_ns[-1]) & (live | (end >= index_ns[0]))
    return np.clip(s, 0, None), np.maximum(e, np.clip(s, 0, None)), keep


def _styles(leverage: np.ndarray, tier: np.ndarray, short: np.ndarray) -> tuple[np.ndarray, list]:
    """One style index per line, and the styles: colour (by leverage), width (tier), dash."""
    keys = list(zip(leverage.tolist(), tier.tolist(), short.tolist(), strict=True))
    table: dict[tuple, int] = {}
    idx = np.fromiter((table.setdefault(k, len(table)) for k in keys), np.int64, len(keys))
    styles = [
        {"color": leverage_color(lev), "width": tier_width(int(t)), "dash": bool(sh)}
        for (lev, t, sh) in table
    ]
    return idx, styles


def _legend_leverages(leverage: np.ndarray) -> list[dict[str, Any]]:
    return [{"label": f"{lev}x", "color": leverage_color(lev)}
            for lev in sorted(set(leverage.tolist()))]


_NO_LINES = LevelArrays(**{
    "start": np.empty(0, np.int64), "end": np.empty(0, np.int64), "short": np.empty(0, bool),
    "leverage": np.empty(0, np.int64), "price": np.empty(0), "tier": np.empty(0, np.int64),
})


def _columns(lines: LevelArrays, s: np.ndarray, e: np.ndarray, k: np.ndarray,
             rows: np.ndarray) -> dict[str, Any]:
    return {
        "s": s[rows].tolist(),
        "e": e[rows].tolist(),
        "p": _floats(lines.price[rows]),
        "k": k.tolist(),
        "lv": (lines.end[rows] == np.iinfo(np.int64).min).astype(np.int8).tolist(),
    }


#: At most this many lines beyond ``max_lines`` travel to the page (the newest), so a page
#: stays a few MB however long the history; the CSV holds them all.
PAGE_LINES = 200_000


def level_payload(
    levels: OILevels | None, index_ns: np.ndarray, max_lines: int | None
) -> dict[str, Any]:
    """The lines to draw: all those on the candles, at most ``max_lines`` in any one view.

    ``levels`` is checked by ``indicator.check_levels`` for the columns drawn
    (:data:`LINE_COLUMNS`). Returns columns ``s``/``e`` (bar positions), ``p`` (price), ``k``
    (style index), ``lv`` (1 while the line is live, so drawn to the last bar; 0 once ended)
    for the newest ``max_lines`` lines (all with ``None``), by ``start``; the older ones in
    ``more`` (same columns and their own ``styles``, up to :data:`PAGE_LINES`), from which
    the page picks what each view of the bars draws (``max``, spread over the bars in view);
    the ``styles``, the leverages for the legend, and ``total``/``drawn`` line counts
    (``drawn`` at most ``max``).
    """
    lines = _NO_LINES if levels is None else check_levels(levels, LINE_COLUMNS)
    s, e, keep = _line_positions(lines.start, lines.end, index_ns)
    order = np.argsort(lines.start[keep], kind="stable")
    kept = np.flatnonzero(keep)[order]
    cut = 0 if max_lines is None else kept.size - min(max_lines, kept.size)
    older, chosen = kept[max(0, cut - PAGE_LINES):cut], kept[cut:]
    k, styles = _styles(lines.leverage[chosen], lines.tier[chosen], lines.short[chosen])
    out = _columns(lines, s, e, k, chosen)
    if older.size:  # a style table of its own: ``k`` here indexes ``more["styles"]``
        k_old, styles_old = _styles(lines.leverage[older], lines.tier[older], lines.short[older])
        out["more"] = {**_columns(lines, s, e, k_old, older), "styles": styles_old}
    return {
        **out,
        "max": max_lines,
        "styles": styles,
        "leverages": _legend_leverages(lines.leverage),
        "total": int(keep.sum()),
        "drawn": int(chosen.size),
    }


def oi_payload(oi: Any, candles: pd.DataFrame, index_ns: np.ndarray) -> dict[str, Any] | None:
    """The OI pane: open interest (from the candles), OI delta, baseline and tier per bar.

    ``oi`` is the frame :func:`indicator.oi_signals` returns (``oi_delta, baseline, tier`` on
    the candles' index); rows are matched to bars by time, missing bars left empty.
    """
    if oi is None:
        return None
    check_frame(oi, "oi", OI_COLUMNS, made_by="the frame indicator.oi_signals returns")
    if "open_interest" not in candles.columns:
        raise ValueError("candles lacks column 'open_interest', which the OI pane (oi=) draws; "
                         "pass candles with open interest, or leave out oi=")
    if not isinstance(oi.index, pd.DatetimeIndex) or oi.index.tz is None:
        raise TypeError(
            "oi must be indexed by a tz-aware DatetimeIndex (the candles' index); pass "
            "indicator.oi_signals(candles)"
        )
    aligned = oi.set_axis(epoch_ns(oi.index)).reindex(index_ns)
    tier = aligned["tier"].to_numpy(dtype=np.float64)
    return {
        "unit": "coins",
        "oi": _floats(candles["open_interest"].to_numpy(dtype=np.float64, na_value=np.nan)),
        "delta": _floats(aligned["oi_delta"].to_numpy(dtype=np.float64)),
        "baseline": _floats(aligned["baseline"].to_numpy(dtype=np.float64)),
        "tier": [None if not math.isfinite(t) else int(t) for t in tier.tolist()],
    }
