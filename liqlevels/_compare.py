"""``liqlevels compare``: our OI-delta numbers against a TradingView chart export, bar by bar.

The Pine script ``pine/liquidation_levels_on_oi.pine`` plots, per bar, what the engine computes
(SPEC.md section 1). TradingView's "Export chart data" writes those plots to a CSV whose header
is ``time,open,high,low,close,<plot title>,...``. This module reads that file, recomputes the
same series with :func:`indicator.oi_signals` and :func:`indicator.oi_levels` from the export's
own OHLC and "Open Interest" (or from open interest we fetch ourselves), and lists every bar and
column that differs.
"""

from __future__ import annotations

import argparse
import csv
import difflib
import io
import json
import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from . import indicator

__all__ = [
    "CORE_TITLES",
    "PINE_LEVERAGES",
    "PLOT_TITLES",
    "Comparison",
    "TradingViewExport",
    "compare_export",
    "compare_frames",
    "expected_columns",
    "export_candles",
    "fetched_open_interest",
    "infer_timeframe",
    "read_tradingview_csv",
    "register",
    "run",
]

CORE_TITLES: tuple[str, ...] = ("Open Interest", "OI Delta", "Baseline", "Tier", "Entry")
PINE_LEVERAGES: tuple[int, ...] = (5, 10, 25, 50, 100)
PLOT_TITLES: tuple[str, ...] = CORE_TITLES + tuple(
    f"{side} {lev}x" for lev in PINE_LEVERAGES for side in ("Long", "Short")
)
_COMPARED_CORE: tuple[str, ...] = ("OI Delta", "Baseline", "Tier", "Entry")
_OI_SCALED: frozenset[str] = frozenset({"OI Delta", "Baseline"})
_LEVERAGE_TITLE = re.compile(r"(Long|Short) (\d+)x")
_NA_CELLS = frozenset({"", "nan", "na", "n/a", "null", "none", "\u2205"})
_NUMBER = re.compile(r"[+-]?\d+(\.\d*)?([eE][+-]?\d+)?")
_OFFSET = re.compile(r"(Z|[+-]\d{2}(:?\d{2})?)$")

MaType = Literal["sma", "ema", "wma", "vwma"]
Direction = Literal["increase", "decrease", "both"]


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class TradingViewExport:
    """A TradingView "Export chart data" CSV, read as text and converted column by column.

    Attributes
    ----------
    index : pandas.DatetimeIndex
        Bar open times, UTC, strictly increasing.
    titles : tuple of str
        The header as written, the time column included; titles may repeat.
    cells : tuple of tuple of str
        The raw cells, one tuple per column (header order).
    lines : numpy.ndarray
        The file line number of each bar, for messages.
    source : str
        Where it was read from.
    """

    index: pd.DatetimeIndex
    titles: tuple[str, ...]
    cells: tuple[tuple[str, ...], ...]
    lines: np.ndarray
    source: str = "export"
    _cache: dict[int, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.index)

    def has(self, title: str) -> bool:
        """Whether a column is titled ``title`` (exactly, else ignoring case)."""
        return bool(_positions(self.titles, title))

    def column(self, title: str) -> np.ndarray:
        """The float64 values of the column titled ``title``; empty cells are NaN.

        Raises
        ------
        ValueError
            No such column (with the nearest titles), a title repeated with different values
            outside the script's block of plots, or a cell that is not a number.
        """
        pos = self._resolve(title)
        if pos not in self._cache:
            self._cache[pos] = _to_floats(self.cells[pos], self.titles[pos], pos, self.lines)
        return self._cache[pos]

    def leverages(self) -> tuple[int, ...]:
        """Leverages with both a "Long Lx" and a "Short Lx" column, in header order."""
        found: dict[str, set[int]] = {"Long": set(), "Short": set()}
        order: list[int] = []
        for title in self.titles:
            match = _LEVERAGE_TITLE.fullmatch(title)
            if match:
                lev = int(match.group(2))
                found[match.group(1)].add(lev)
                if lev not in order:
                    order.append(lev)
        return tuple(lev for lev in order if lev in found["Long"] and lev in found["Short"])

    def _resolve(self, title: str) -> int:
        positions = _positions(self.titles, title)
        if not positions:
            raise ValueError(_missing_message(self.titles, title, self.source))
        if len(positions) == 1:
            return positions[0]
        block = _script_block(self.titles)
        if title in block:
            return block[title]
        first = _to_floats(self.cells[positions[0]], title, positions[0], self.lines)
        for pos in positions[1:]:
            other = _to_floats(self.cells[pos], title, pos, self.lines)
            if not np.array_equal(first, other, equal_nan=True):
                cols = ", ".join(str(p + 1) for p in positions)
                raise ValueError(
                    f"{self.source}: column {title!r} appears {len(positions)} times (columns "
                    f"{cols}) with different values, and not inside one block of this script's "
                    f"plots; remove the other indicators from the chart and export again"
                )
        return positions[0]


def _positions(titles: Sequence[str], title: str) -> list[int]:
    exact = [i for i, t in enumerate(titles) if t == title]
    if exact:
        return exact
    folded = title.casefold()
    return [i for i, t in enumerate(titles) if t.casefold() == folded]


def _script_block(titles: Sequence[str]) -> dict[str, int]:
    """Where this script's plots sit when its titles appear once as a contiguous run.

    The Pine script plots ``CORE_TITLES`` then "Long Lx"/"Short Lx" pairs, in that order, so
    the run identifies its columns even when other indicators repeat some of the titles.
    """
    k = len(CORE_TITLES)
    starts = [s for s in range(len(titles) - k + 1) if tuple(titles[s : s + k]) == CORE_TITLES]
    if len(starts) != 1:
        return {}
    block = {t: starts[0] + i for i, t in enumerate(CORE_TITLES)}
    pos = starts[0] + k
    while pos < len(titles) and _LEVERAGE_TITLE.fullmatch(titles[pos]):
        block.setdefault(titles[pos], pos)
        pos += 1
    return block


def _missing_message(titles: Sequence[str], title: str, source: str) -> str:
    close = difflib.get_close_matches(title, list(titles), n=3, cutoff=0.6)
    hint = f" (nearest: {', '.join(repr(c) for c in close)})" if close else ""
    extra = ""
    if title in PLOT_TITLES:
        extra = (
            "; add pine/liquidation_levels_on_oi.pine to the chart, keep its plot titles, and "
            "export the chart data again"
        )
    elif title == "Volume":
        extra = "; ma_type 'vwma' needs the bars' volume: add TradingView's Volume indicator"
    shown = ", ".join(repr(t) for t in titles)
    return f"{source} has no column {title!r}{hint}{extra}. Its columns: {shown}"


def _to_floats(cells: Sequence[str], title: str, pos: int, lines: np.ndarray) -> np.ndarray:
    """Cells as float64; empty and na-like cells become NaN."""
    clean = ["nan" if c.strip().casefold() in _NA_CELLS else c.strip() for c in cells]
    try:
        return np.array(clean, dtype=np.float64)
    except ValueError as exc:
        error = exc
    for row, cell in enumerate(clean):
        try:
            float(cell)
        except ValueError:
            raise ValueError(
                f"column {title!r} (column {pos + 1}) holds {cell!r} at line {lines[row]}, "
                f"which is not a number; empty cells are read as na"
            ) from None
    raise error


def _read_rows(text: io.TextIOBase, source: str) -> tuple[list[str], list[list[str]], list[int]]:
    reader = csv.reader(text)
    header = next(reader, None)
    if not header or not any(h.strip() for h in header):
        raise ValueError(f"{source} is empty; expected a TradingView 'Export chart data' CSV")
    header = [h.strip() for h in header]
    rows: list[list[str]] = []
    lines: list[int] = []
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise ValueError(
                f"{source} line {reader.line_num} has {len(row)} fields but the header has "
                f"{len(header)}; is the file cut short or edited?"
            )
        rows.append(row)
        lines.append(reader.line_num)
    if not rows:
        raise ValueError(f"{source} has a header but no bars")
    return header, rows, lines


def _parse_times(cells: Sequence[str], lines: np.ndarray, source: str) -> pd.DatetimeIndex:
    """Unix seconds (milliseconds when that large) or ISO 8601 with an offset, as UTC."""
    cells = [c.strip() for c in cells]
    if all(_NUMBER.fullmatch(c) for c in cells):
        secs = np.array(cells, dtype=np.float64)
        unit = "ms" if np.nanmax(np.abs(secs)) > 1e11 else "s"
        index = pd.to_datetime(secs, unit=unit, utc=True)
    else:
        for row, cell in enumerate(cells):
            if not _OFFSET.search(cell):
                raise ValueError(
                    f"{source} line {lines[row]}: time {cell!r} is neither unix seconds nor ISO "
                    f"time with a UTC offset; export with 'ISO time' (it carries the chart's "
                    f"offset) or 'UNIX timestamp'"
                )
        try:
            index = pd.DatetimeIndex(pd.to_datetime(cells, utc=True, format="ISO8601"))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{source}: cannot read the time column: {exc}") from exc
    index = index.as_unit("ns").rename("time")
    steps = np.diff(index.asi8)
    if (steps <= 0).any():
        row = int(np.flatnonzero(steps <= 0)[0]) + 1
        what = "repeats" if steps[row - 1] == 0 else "goes back"
        raise ValueError(
            f"{source} line {lines[row]}: time {what} ({index[row]} after {index[row - 1]}); "
            f"bars must be strictly increasing: export one symbol and timeframe at a time"
        )
    return index


def read_tradingview_csv(source: str | Path | io.TextIOBase) -> TradingViewExport:
    """Read a TradingView "Export chart data" CSV.

    Parameters
    ----------
    source : str, pathlib.Path or text file object
        The CSV. Its header is ``time,open,high,low,close,<plot titles>...``; titles may
        repeat (other indicators' plots). ``time`` is the bar open time as unix seconds or
        ISO 8601 with a UTC offset. Empty cells are na.

    Returns
    -------
    TradingViewExport
        The bars on a UTC index, with :meth:`TradingViewExport.column` to read a column.

    Raises
    ------
    OSError
        The file cannot be read.
    ValueError
        Empty file, ragged rows, no ``time`` column, unreadable or non-increasing times.
    """
    if isinstance(source, (str, Path)):
        name = str(source)
        with open(source, encoding="utf-8-sig", newline="") as fh:
            header, rows, lines = _read_rows(fh, name)
    else:
        name = getattr(source, "name", "export")
        header, rows, lines = _read_rows(source, str(name))
        if header and header[0].startswith("\ufeff"):
            header[0] = header[0][1:]
    columns = tuple(tuple(col) for col in zip(*rows, strict=True))
    line_arr = np.array(lines, dtype=np.int64)
    time_pos = _positions(header, "time")
    if len(time_pos) != 1:
        found = "no" if not time_pos else f"{len(time_pos)}"
        raise ValueError(f"{name} has {found} 'time' column; expected one (the bar open time)")
    index = _parse_times(columns[time_pos[0]], line_arr, str(name))
    return TradingViewExport(index, tuple(header), columns, line_arr, str(name))


# --------------------------------------------------------------------------- recomputing


def export_candles(
    export: TradingViewExport,
    *,
    open_interest: np.ndarray | None = None,
    need_volume: bool = False,
) -> pd.DataFrame:
    """The candles frame of SPEC.md section 1 from an export's own columns.

    Parameters
    ----------
    export : TradingViewExport
        What :func:`read_tradingview_csv` returned.
    open_interest : numpy.ndarray, optional
        Open interest per bar (coins or contracts) to use instead of the export's
        "Open Interest" column.
    need_volume : bool, default False
        Require a "Volume" column (``ma_type="vwma"``); otherwise volume is read when present
        and 0 when not.

    Returns
    -------
    pandas.DataFrame
        ``open, high, low, close`` (price), ``volume``, ``open_interest`` on the export's UTC
        index.
    """
    cols = {name: export.column(name) for name in ("open", "high", "low", "close")}
    if need_volume or export.has("Volume"):
        cols["volume"] = export.column("Volume")
    else:
        cols["volume"] = np.zeros(len(export))
    if open_interest is None:
        open_interest = export.column("Open Interest")
    oi = np.asarray(open_interest, dtype=np.float64)
    if oi.shape != (len(export),):
        raise ValueError(f"open_interest has {oi.size} values for {len(export)} bars")
    cols["open_interest"] = oi
    return pd.DataFrame(cols, index=export.index)


def expected_columns(
    candles: pd.DataFrame,
    *,
    ma_length: int = 60,
    ma_type: MaType = "sma",
    thresholds: Sequence[float] = (1.2, 2.0, 3.0),
    leverages: Sequence[int] = PINE_LEVERAGES,
    direction: Direction = "increase",
    mmr: float = 0.0,
) -> pd.DataFrame:
    """What the Pine script plots, per bar, computed by the engine.

    Parameters
    ----------
    candles : pandas.DataFrame
        SPEC.md section 1 candles.
    ma_length, ma_type, thresholds, leverages, direction, mmr
        As :func:`indicator.oi_levels`.

    Returns
    -------
    pandas.DataFrame
        On ``candles.index``: "Open Interest" (OI units), "OI Delta", "Baseline" (OI units),
        "Tier" (0 to 3), "Entry" (price, trigger bars only, NaN elsewhere) and for each
        leverage ``L`` "Long Lx" and "Short Lx" (liquidation prices on trigger bars, NaN
        elsewhere).
    """
    signals = indicator.oi_signals(
        candles, ma_length=ma_length, ma_type=ma_type, thresholds=thresholds, direction=direction
    )
    levels = indicator.oi_levels(
        candles, ma_length=ma_length, ma_type=ma_type, thresholds=thresholds,
        leverages=leverages, direction=direction, mmr=mmr,
    )
    trigger = signals["trigger"].to_numpy(dtype=bool)
    out = {
        "Open Interest": candles["open_interest"].to_numpy(dtype=np.float64),
        "OI Delta": signals["oi_delta"].to_numpy(dtype=np.float64),
        "Baseline": signals["baseline"].to_numpy(dtype=np.float64),
        "Tier": signals["tier"].to_numpy(dtype=np.float64),
        "Entry": np.where(trigger, signals["entry"].to_numpy(dtype=np.float64), np.nan),
    }
    at = candles.index.get_indexer(levels["start"])
    lev_col = levels["leverage"].to_numpy()
    side_col = levels["side"].to_numpy()
    price = levels["price"].to_numpy(dtype=np.float64)
    for lev in leverages:
        for side in ("long", "short"):
            values = np.full(len(candles), np.nan)
            pick = (lev_col == int(lev)) & (side_col == side)
            values[at[pick]] = price[pick]
            out[f"{side.title()} {int(lev)}x"] = values
    return pd.DataFrame(out, index=candles.index)


# --------------------------------------------------------------------------- comparing


@dataclass(frozen=True)
class Comparison:
    """The outcome of a bar-by-bar comparison.

    Attributes
    ----------
    differences : pandas.DataFrame
        One row per differing bar and column, by time then column: ``time`` (bar open,
        UTC), ``column``, ``ours``, ``theirs`` (NaN for na).
    columns : tuple of str
        The columns compared.
    index : pandas.DatetimeIndex
        The bars compared.
    tolerance : float
        The relative tolerance used.
    """

    differences: pd.DataFrame
    columns: tuple[str, ...]
    index: pd.DatetimeIndex
    tolerance: float

    @property
    def match(self) -> bool:
        """True when no bar differs."""
        return self.differences.empty

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per column: how many bars differ and the first one (None if none)."""
        out: dict[str, dict[str, Any]] = {}
        for col in self.columns:
            rows = self.differences[self.differences["column"] == col]
            first = rows["time"].iloc[0] if len(rows) else None
            out[col] = {"differences": len(rows), "first": first}
        return out


def _mismatch(
    ours: np.ndarray, theirs: np.ndarray, tolerance: float, scale: np.ndarray | None
) -> np.ndarray:
    """Where two series differ: one na and not the other, or apart by more than
    ``tolerance`` times the larger magnitude (and ``scale``, when given)."""
    a_na, b_na = np.isnan(ours), np.isnan(theirs)
    magnitude = np.maximum(np.abs(ours), np.abs(theirs))
    if scale is not None:
        magnitude = np.fmax(magnitude, np.abs(scale))
    with np.errstate(invalid="ignore"):
        close = np.abs(ours - theirs) <= tolerance * magnitude
        close |= ours == theirs
    return (a_na != b_na) | (~a_na & ~b_na & ~close)


def compare_frames(
    ours: pd.DataFrame,
    theirs: pd.DataFrame,
    *,
    tolerance: float = 1e-6,
    scale: pd.Series | None = None,
    columns: Sequence[str] | None = None,
) -> Comparison:
    """Compare two frames on the same index, column by column.

    Parameters
    ----------
    ours, theirs : pandas.DataFrame
        Same index (UTC bar times); the compared columns in both.
    tolerance : float, default 1e-6
        Relative: values match when ``|ours - theirs| <= tolerance * max(|ours|, |theirs|)``
        or both are na.
    scale : pandas.Series, optional
        Open interest per bar; for "OI Delta" and "Baseline" it also counts as a magnitude,
        since both are differences of OI values and inherit their rounding.
    columns : sequence of str, optional
        Columns to compare; default all of ``ours``.

    Returns
    -------
    Comparison
    """
    if not (isinstance(tolerance, (int, float)) and math.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"tolerance={tolerance!r} must be a number >= 0, e.g. 1e-6")
    if not ours.index.equals(theirs.index):
        raise ValueError("ours and theirs must share one index (the same bars)")
    columns = tuple(ours.columns if columns is None else columns)
    scale_values = None if scale is None else scale.to_numpy(dtype=np.float64)
    frames = []
    for order, col in enumerate(columns):
        a = ours[col].to_numpy(dtype=np.float64)
        b = theirs[col].to_numpy(dtype=np.float64)
        bad = _mismatch(a, b, tolerance, scale_values if col in _OI_SCALED else None)
        rows = np.flatnonzero(bad)
        frames.append(pd.DataFrame({
            "time": ours.index[rows], "column": col, "ours": a[rows], "theirs": b[rows],
            "_order": order,
        }))
    diffs = pd.concat(frames, ignore_index=True)
    diffs = diffs.sort_values(["time", "_order"], kind="stable").drop(columns="_order")
    return Comparison(diffs.reset_index(drop=True), columns, ours.index, float(tolerance))


def compare_export(
    export: TradingViewExport,
    *,
    tolerance: float = 1e-6,
    open_interest: np.ndarray | None = None,
    warmup: int = 0,
    ma_length: int = 60,
    ma_type: MaType = "sma",
    thresholds: Sequence[float] = (1.2, 2.0, 3.0),
    leverages: Sequence[int] | None = None,
    direction: Direction = "increase",
    mmr: float = 0.0,
) -> Comparison:
    """Recompute the script's plots from an export and compare them bar by bar.

    Parameters
    ----------
    export : TradingViewExport
        What :func:`read_tradingview_csv` returned.
    tolerance : float, default 1e-6
        Relative tolerance (see :func:`compare_frames`).
    open_interest : numpy.ndarray, optional
        Our own open interest per export bar; replaces the export's for the computation, and
        "Open Interest" itself is then compared too.
    warmup : int, default 0
        Leading bars not compared (when the chart computed from earlier history).
    ma_length, ma_type, thresholds, direction, mmr
        As :func:`indicator.oi_levels`; use the script's inputs on TradingView.
    leverages : sequence of int, optional
        The "Long Lx"/"Short Lx" columns to compare; default every pair in the export.

    Returns
    -------
    Comparison

    Raises
    ------
    ValueError, TypeError
        A missing column, bad candles in the export, or a bad option.
    """
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup={warmup!r} must be a whole number of bars >= 0")
    if leverages is None:
        leverages = export.leverages()
        if not leverages:
            raise ValueError(_missing_message(export.titles, "Long 5x", export.source))
    candles = export_candles(export, open_interest=open_interest, need_volume=ma_type == "vwma")
    ours = expected_columns(
        candles, ma_length=ma_length, ma_type=ma_type, thresholds=thresholds,
        leverages=leverages, direction=direction, mmr=mmr,
    )
    columns = (("Open Interest",) if open_interest is not None else ()) + _COMPARED_CORE
    columns += tuple(c for lev in leverages for c in (f"Long {int(lev)}x", f"Short {int(lev)}x"))
    theirs = pd.DataFrame({col: export.column(col) for col in columns}, index=export.index)
    scale = pd.Series(export.column("Open Interest"), index=export.index)
    keep = slice(min(warmup, len(export)), None)
    return compare_frames(
        ours.iloc[keep], theirs.iloc[keep], tolerance=tolerance, scale=scale.iloc[keep],
        columns=columns,
    )


# --------------------------------------------------------------------------- our own OI


def infer_timeframe(index: pd.DatetimeIndex) -> str:
    """The ccxt timeframe ("1m", "4h", "1d", ...) of the most common step between bars."""
    if len(index) < 2:
        raise ValueError("one bar is not enough to tell the timeframe; pass --timeframe")
    steps = np.diff(index.as_unit("ns").asi8) // 1_000_000_000
    values, counts = np.unique(steps, return_counts=True)
    seconds = int(values[np.argmax(counts)])
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def fetched_open_interest(
    export: TradingViewExport, exchange: str, symbol: str, timeframe: str | None = None
) -> np.ndarray:
    """Our own open interest for the export's bars, via ``feeds.fetch_candles``.

    Parameters
    ----------
    export : TradingViewExport
        The bars to cover.
    exchange, symbol : str
        ccxt exchange id and unified symbol (e.g. "binanceusdm", "BTC/USDT:USDT").
    timeframe : str, optional
        Bar length; default inferred from the export.

    Returns
    -------
    numpy.ndarray
        Open interest (coins or contracts, as feeds supplies it) at each export bar's close;
        NaN where the exchange has none.
    """
    from . import feeds
    from .feeds import timeframe_seconds

    fetch = getattr(feeds, "fetch_candles", None)
    if fetch is None:
        raise ValueError("feeds.fetch_candles is not available; --exchange/--symbol need it")
    timeframe = timeframe or infer_timeframe(export.index)
    step = pd.Timedelta(seconds=timeframe_seconds(timeframe))
    try:
        frame = fetch(exchange, symbol, timeframe,
                      since=export.index[0], until=export.index[-1] + step)
    except (ValueError, TypeError):
        raise
    except Exception as exc:  # ccxt and feed errors: report, don't trace
        raise ValueError(f"could not fetch {symbol} {timeframe} from {exchange}: {exc}") from exc
    oi = frame["open_interest"]
    oi.index = pd.DatetimeIndex(oi.index).tz_convert("UTC").as_unit("ns")
    values = oi.reindex(export.index).to_numpy(dtype=np.float64)
    if np.isnan(values).all():
        raise ValueError(
            f"{exchange} gave no open interest for {symbol} {timeframe} between "
            f"{export.index[0]} and {export.index[-1]}"
        )
    return values


# --------------------------------------------------------------------------- reporting


def _fmt_value(value: float) -> str:
    if math.isnan(value):
        return "na"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _fmt_time(stamp: pd.Timestamp) -> str:
    return stamp.tz_convert("UTC").strftime("%Y-%m-%d %H:%M:%S")


def format_report(result: Comparison, *, source: str = "export", limit: int = 0) -> str:
    """The text report: every difference (``limit`` > 0 keeps the first ``limit``), then a
    per-column summary and the verdict."""
    n = len(result.index)
    span = f"{_fmt_time(result.index[0])} to {_fmt_time(result.index[-1])} UTC" if n else "none"
    lines = [f"{source}: {n} bars ({span}); columns: {', '.join(result.columns)}"]
    diffs = result.differences
    if not result.match:
        shown = diffs if limit <= 0 else diffs.iloc[:limit]
        width = max(len(c) for c in result.columns)
        lines.append(f"{'time (UTC)':<19}  {'column':<{width}}  {'ours':>22}  {'theirs':>22}")
        for row in shown.itertuples(index=False):
            lines.append(
                f"{_fmt_time(row.time):<19}  {row.column:<{width}}  "
                f"{_fmt_value(row.ours):>22}  {_fmt_value(row.theirs):>22}"
            )
        if len(shown) < len(diffs):
            lines.append(f"... {len(diffs) - len(shown)} more (--limit 0 lists all)")
    lines.append(f"summary (relative tolerance {result.tolerance:g}):")
    for col, info in result.summary().items():
        first = f", first at {_fmt_time(info['first'])}" if info["first"] is not None else ""
        lines.append(f"  {col:<14} {info['differences']:>6} differing bars{first}")
    bars = diffs["time"].nunique()
    verdict = "MATCH: every bar and column agrees" if result.match else (
        f"DIFFERENT: {len(diffs)} values in {bars} of {n} bars differ"
    )
    lines.append(verdict)
    if not result.match:
        lines.append(
            "hint: pass the script's inputs (--ma-length, --ma-type, --thresholds, --direction, "
            "--mmr); differences only in the first bars call for --warmup "
            "(docs/tradingview.md)"
        )
    return "\n".join(lines)


def _json_number(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def report_json(result: Comparison, *, source: str = "export") -> dict[str, Any]:
    """The machine report: ``match``, ``bars``, ``columns``, ``tolerance``, ``summary`` and
    ``differences`` (time as ISO 8601 UTC, na as null)."""
    return {
        "source": source,
        "match": result.match,
        "bars": len(result.index),
        "first_bar": result.index[0].isoformat() if len(result.index) else None,
        "last_bar": result.index[-1].isoformat() if len(result.index) else None,
        "columns": list(result.columns),
        "tolerance": result.tolerance,
        "summary": {
            col: {"differences": info["differences"],
                  "first": info["first"].isoformat() if info["first"] is not None else None}
            for col, info in result.summary().items()
        },
        "differences": [
            {"time": row.time.isoformat(), "column": row.column,
             "ours": _json_number(row.ours), "theirs": _json_number(row.theirs)}
            for row in result.differences.itertuples(index=False)
        ],
    }


# --------------------------------------------------------------------------- command line


def _number_list(text: str, name: str) -> tuple[float, ...]:
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise ValueError(f"{name}={text!r}: give numbers separated by commas, e.g. "
                         f"{name} 1.2,2,3") from None
    if not values:
        raise ValueError(f"{name} is empty; give numbers separated by commas")
    return values


def _options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {
        "ma_length": args.ma_length,
        "ma_type": args.ma_type,
        "thresholds": _number_list(args.thresholds, "--thresholds"),
        "direction": args.direction,
        "mmr": args.mmr,
        "warmup": args.warmup,
    }
    if args.leverages is not None:
        levs = _number_list(args.leverages, "--leverages")
        options["leverages"] = tuple(int(v) if v.is_integer() else v for v in levs)
    return options


def register(subparsers: Any) -> None:
    """Add the ``compare`` sub-command."""
    parser = subparsers.add_parser(
        "compare",
        help="check our numbers against a TradingView chart export, bar by bar",
        description=(
            "Read a TradingView 'Export chart data' CSV of a chart carrying "
            "pine/liquidation_levels_on_oi.pine, recompute its plots from the export's own "
            "OHLC and Open Interest, and list every bar and column that differs. Exit 0 when "
            "all match within the tolerance, 1 otherwise or on bad input."
        ),
    )
    parser.add_argument("export", type=Path, help="the exported CSV")
    parser.add_argument("--tolerance", type=float, default=1e-6,
                        help="relative tolerance (default 1e-6)")
    parser.add_argument("--json", action="store_true", help="print a JSON report")
    parser.add_argument("--limit", type=int, default=0,
                        help="list at most N differences in the text report (default 0: all)")
    parser.add_argument("--warmup", type=int, default=0,
                        help="leading bars not compared (default 0)")
    method = parser.add_argument_group("method (as the script's inputs on TradingView)")
    method.add_argument("--ma-length", type=int, default=60, help="bars (default 60)")
    method.add_argument("--ma-type", default="sma", help="sma, ema, wma or vwma (default sma)")
    method.add_argument("--thresholds", default="1.2,2,3",
                        help="baseline multiples for tiers 1,2,3 (default 1.2,2,3)")
    method.add_argument("--leverages", default=None,
                        help="leverages to compare, e.g. 5,10 (default: every Long/Short pair "
                             "in the export)")
    method.add_argument("--direction", default="increase",
                        help="increase, decrease or both (default increase)")
    method.add_argument("--mmr", type=float, default=0.0,
                        help="maintenance margin rate (default 0)")
    ours = parser.add_argument_group("our own open interest instead of the export's")
    ours.add_argument("--exchange", help="ccxt exchange id, e.g. binanceusdm")
    ours.add_argument("--symbol", help="ccxt symbol, e.g. BTC/USDT:USDT")
    ours.add_argument("--timeframe", help="bar length, e.g. 1h (default: from the export)")
    parser.set_defaults(func=run)


def _compute(args: argparse.Namespace) -> tuple[Comparison, str]:
    options = _options(args)
    if (args.exchange is None) != (args.symbol is None):
        raise ValueError("--exchange and --symbol go together, e.g. --exchange binanceusdm "
                         "--symbol BTC/USDT:USDT")
    export = read_tradingview_csv(args.export)
    source = str(args.export)
    oi = None
    if args.exchange is not None:
        oi = fetched_open_interest(export, args.exchange, args.symbol, args.timeframe)
        source += f" vs {args.exchange} {args.symbol} open interest"
    return compare_export(export, tolerance=args.tolerance, open_interest=oi, **options), source


def run(args: argparse.Namespace) -> int:
    """Run ``liqlevels compare``; 0 when every bar matches, 1 otherwise or on bad input."""
    try:
        result, source = _compute(args)
    except (OSError, ValueError, TypeError) as exc:
        print(f"liqlevels compare: error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report_json(result, source=source), indent=2))
    else:
        print(format_report(result, source=source, limit=args.limit))
    return 0 if result.match else 1
