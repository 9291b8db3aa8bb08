"""Frames -> plain JSON-ready columns for the page: times in epoch seconds, lines by bar index.

lightweight-charts 2.1 turns pandas 3's microsecond datetimes into 1970 (it divides by 10**9
as if they were nanoseconds), so every time here is converted by hand, from nanoseconds.
"""

from __future__ import annotations

import base64
import math
from typing import Any

import numpy as np
import pandas as pd

from ..indicator import LevelArrays, OILevels, check_levels
from ..vocab import check_frame, first_true
from ._checks import check_ohlc
from ._palette import leverage_color, tier_width

__all__ = [
    "AGGREGATE_FROM",
    "LINE_COLUMNS",
    "OI_COLUMNS",
    "candle_arrays",
    "candle_payload",
    "epoch_ns",
    "level_payload",
    "oi_payload",
    "packed_candles",
    "packed_lines",
    "packed_oi",
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


def candle_arrays(candles: Any) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """The checked ``open, high, low, close`` columns, the index in ns and in epoch seconds.

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
    return cols, ns, secs


def candle_payload(candles: Any) -> tuple[dict[str, Any], np.ndarray]:
    """The candles as columns ``t0`` + ``dt`` (epoch seconds of the first bar, then the gaps
    to each next bar), ``o h l c`` and the axis ``format``; and the index in ns.

    Only what is drawn is checked (:func:`check_ohlc`): ``volume`` and ``open_interest`` may
    be absent."""
    cols, ns, secs = candle_arrays(candles)
    data = {
        "t0": int(secs[0]) if secs.size else 0,
        "dt": np.diff(secs).tolist(),
        "n": int(secs.size),
        **{k[0]: _floats(v) for k, v in cols.items()},
        "format": price_format(cols["close"]),
    }
    return data, ns


#: From this many candles on, a page gets them packed (binary, base64) and draws them at the
#: resolution the screen shows (``charts/js/pyramid.js``), refined on zoom.
AGGREGATE_FROM = 50_000


def _b64(values: np.ndarray, dtype: str) -> str:
    """``values`` as little-endian ``dtype`` bytes, base64 (a typed array on the page)."""
    return base64.b64encode(np.ascontiguousarray(values, dtype=dtype).tobytes()).decode("ascii")


def _decimals(values: np.ndarray, digits: int = _DIGITS) -> int:
    """Decimal places keeping ``digits`` significant digits of the largest magnitude (as
    :func:`_floats` rounds): every value times ``10**decimals`` fits an Int32."""
    top = float(np.abs(values).max(initial=0.0))
    return digits - 1 - math.floor(math.log10(top)) if top > 0 else 0


def _ints(values: np.ndarray, decimals: int) -> np.ndarray:
    """Prices as whole numbers of ``10**-decimals`` (the page divides them back)."""
    scaled = values * 10.0**decimals if decimals >= 0 else values / 10.0**-decimals
    return np.rint(scaled).astype(np.int64)


def _runs(values: np.ndarray) -> np.ndarray:
    """``values`` as runs of equal values: ``[count, value, count, value, ...]`` (a regular
    series of gaps is one pair)."""
    if values.size == 0:
        return np.empty(0, np.int64)
    starts = np.r_[0, np.flatnonzero(np.diff(values)) + 1]
    counts = np.diff(np.r_[starts, values.size])
    return np.column_stack([counts, values[starts]]).ravel()


def packed_candles(cols: dict[str, np.ndarray], secs: np.ndarray) -> dict[str, Any]:
    """The candles for a big page: ``o h l c`` as base64 Int32 of ``10**-dec`` (9 significant
    digits of the largest price, as the JSON path rounds); times as ``t0`` (epoch seconds)
    and ``dt``, the gaps to each next bar in runs (:func:`_runs`, base64 Int32; or, were a
    gap over 68 years, ``t``: base64 Float64 epoch seconds); ``n``, ``dec``, the axis
    ``format`` and ``packed: true``."""
    dec = _decimals(np.concatenate([cols["high"], cols["low"]]))
    gaps = np.diff(secs)
    times = ({"t0": int(secs[0]) if secs.size else 0, "dt": _b64(_runs(gaps), "<i4")}
             if gaps.size == 0 or gaps.max() < 2**31 else {"t": _b64(secs.astype(float), "<f8")})
    return {
        "packed": True,
        "n": int(secs.size),
        **times,
        "dec": dec,
        **{k[0]: _b64(_ints(v, dec), "<i4") for k, v in cols.items()},
        "format": price_format(cols["close"]),
    }


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
    """One style index per line, and the styles: colour (by leverage), width (tier), dash.

    Styles are numbered in order of first appearance (``pandas.factorize`` of the three
    columns as one key); one Python step per distinct style, none per line."""
    lev, tie = np.asarray(leverage, np.int64), np.asarray(tier, np.int64)
    if lev.size == 0:
        return np.empty(0, np.int64), []
    if 0 <= tie.min() and tie.max() < 2**19 and 0 <= lev.min() and lev.max() < 2**43:
        key = (lev << 20) | (tie << 1) | np.asarray(short, np.int64)
        codes, uniq = pd.factorize(key)
        rows = [(int(k) >> 20, (int(k) >> 1) & (2**19 - 1), int(k) & 1) for k in uniq]
    else:  # out of the key's range (never from oi_levels): the slower row-wise unique
        keys = np.stack([lev, tie, np.asarray(short, np.int64)], axis=1)
        uniq2, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
        order = np.argsort(first, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        codes, rows = rank[inverse.ravel()], uniq2[order].tolist()
    styles = [{"color": leverage_color(lv), "width": tier_width(t), "dash": bool(sh)}
              for lv, t, sh in rows]
    return codes.astype(np.int64), styles


def _legend_leverages(leverage: np.ndarray) -> list[dict[str, Any]]:
    return [{"label": f"{lev}x", "color": leverage_color(lev)}
            for lev in sorted(pd.unique(leverage).tolist())]


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


def _chosen_lines(
    levels: OILevels | None, index_ns: np.ndarray, max_lines: int | None
) -> tuple[LevelArrays, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The checked lines, their bar positions, the kept rows by start (the older ones, at most
    :data:`PAGE_LINES`, and the newest ``max_lines``) and the keep mask."""
    lines = _NO_LINES if levels is None else check_levels(levels, LINE_COLUMNS)
    s, e, keep = _line_positions(lines.start, lines.end, index_ns)
    kept = np.flatnonzero(keep)
    starts = lines.start[kept]
    if (np.diff(starts) < 0).any():  # oi_levels orders by start already: no sort then
        kept = kept[np.argsort(starts, kind="stable")]
    cut = 0 if max_lines is None else kept.size - min(max_lines, kept.size)
    older, chosen = kept[max(0, cut - PAGE_LINES):cut], kept[cut:]
    return lines, s, e, older, chosen, keep


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
    lines, s, e, older, chosen, keep = _chosen_lines(levels, index_ns, max_lines)
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


def packed_lines(
    levels: OILevels | None, index_ns: np.ndarray, max_lines: int | None
) -> dict[str, Any]:
    """The lines of :func:`level_payload` in one table for a big page: the older lines and
    the newest ``max_lines`` together, by start (oldest first), one style table, columns
    packed in base64: ``s e`` (Int32 bar positions), ``p`` (Float64 price), ``k`` (style:
    Uint8, or Int32 past 256 styles, as ``k_bytes`` says), ``lv`` (Uint8, 1 while live);
    ``max``, ``styles``, ``leverages``, ``total``, ``drawn`` and ``n`` (how many lines the
    table holds)."""
    lines, s, e, older, chosen, keep = _chosen_lines(levels, index_ns, max_lines)
    rows = np.concatenate([older, chosen])
    k, styles = _styles(lines.leverage[rows], lines.tier[rows], lines.short[rows])
    return {
        "packed": True,
        "n": int(rows.size),
        "s": _b64(s[rows], "<i4"),
        "e": _b64(e[rows], "<i4"),
        "p": _b64(lines.price[rows], "<f8"),
        "k": _b64(k, "u1" if len(styles) <= 256 else "<i4"),
        "k_bytes": 1 if len(styles) <= 256 else 4,
        "lv": _b64(lines.end[rows] == np.iinfo(np.int64).min, "u1"),
        "max": max_lines,
        "styles": styles,
        "leverages": _legend_leverages(lines.leverage),
        "total": int(keep.sum()),
        "drawn": int(chosen.size),
    }


def _oi_checked(oi: Any, candles: pd.DataFrame, index_ns: np.ndarray) -> pd.DataFrame:
    """``oi`` checked and aligned on the candles' bars (missing bars NaN)."""
    check_frame(oi, "oi", OI_COLUMNS, made_by="the frame indicator.oi_signals returns")
    if "open_interest" not in candles.columns:
        raise ValueError("candles lacks column 'open_interest', which the OI pane (oi=) draws; "
                         "pass candles with open interest, or leave out oi=")
    if not isinstance(oi.index, pd.DatetimeIndex) or oi.index.tz is None:
        raise TypeError(
            "oi must be indexed by a tz-aware DatetimeIndex (the candles' index); pass "
            "indicator.oi_signals(candles)"
        )
    return oi.set_axis(epoch_ns(oi.index)).reindex(index_ns)


def packed_oi(oi: Any, candles: pd.DataFrame, index_ns: np.ndarray) -> dict[str, Any] | None:
    """The OI panes of :func:`oi_payload` for a big page: ``oi delta baseline tier`` as
    base64 Float64 per bar (NaN where missing), aggregated on the page with the candles."""
    if oi is None:
        return None
    aligned = _oi_checked(oi, candles, index_ns)
    col = {"oi": candles["open_interest"].to_numpy(dtype=np.float64, na_value=np.nan),
           **{k: aligned[c].to_numpy(dtype=np.float64)
              for k, c in (("delta", "oi_delta"), ("baseline", "baseline"), ("tier", "tier"))}}
    return {"packed": True, "unit": "coins", **{k: _b64(v, "<f8") for k, v in col.items()}}


def oi_payload(oi: Any, candles: pd.DataFrame, index_ns: np.ndarray) -> dict[str, Any] | None:
    """The OI pane: open interest (from the candles), OI delta, baseline and tier per bar.

    ``oi`` is the frame :func:`indicator.oi_signals` returns (``oi_delta, baseline, tier`` on
    the candles' index); rows are matched to bars by time, missing bars left empty.
    """
    if oi is None:
        return None
    aligned = _oi_checked(oi, candles, index_ns)
    tier = aligned["tier"].to_numpy(dtype=np.float64)
    return {
        "unit": "coins",
        "oi": _floats(candles["open_interest"].to_numpy(dtype=np.float64, na_value=np.nan)),
        "delta": _floats(aligned["oi_delta"].to_numpy(dtype=np.float64)),
        "baseline": _floats(aligned["baseline"].to_numpy(dtype=np.float64)),
        "tier": [None if not math.isfinite(t) else int(t) for t in tier.tolist()],
    }
