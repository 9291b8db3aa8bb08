"""Our OI-delta numbers against a TradingView export of the project's Pine script, bar by bar.

The Pine script ``pine/liquidation_levels_on_oi.pine`` plots, per bar, what the engine computes
(docs/method.md section 1). :func:`liqlevels.feeds.read_tradingview_export` reads TradingView's
"Export chart data" CSV; this module recomputes the same series with
:func:`liqlevels.indicator.oi_signals` and :func:`liqlevels.indicator.oi_levels` from the
export's own OHLC and "Open Interest" (or open interest fetched by the caller) and lists every
bar and column that differs. The reports are in ``_compare_report``, the command in
``_cmd_compare``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .feeds import TradingViewExport
from .indicator import OIOptions, oi_levels, oi_signals

__all__ = [
    "CORE_TITLES",
    "PINE_LEVERAGES",
    "PLOT_TITLES",
    "Comparison",
    "check_warmup",
    "compare_export",
    "compare_frames",
    "expected_columns",
    "export_candles",
    "plotted_leverages",
]

# The script's inputs default to OIOptions(); its plot titles are constants, so its ten
# "Long/Short Lx" plots always show the default leverages, whatever the Leverages input.
PINE_LEVERAGES: tuple[int, ...] = tuple(OIOptions().leverages)
CORE_TITLES: tuple[str, ...] = ("Open Interest", "OI Delta", "Baseline", "Tier", "Entry")
PLOT_TITLES: tuple[str, ...] = CORE_TITLES + tuple(
    f"{side} {lev}x" for lev in PINE_LEVERAGES for side in ("Long", "Short")
)
_COMPARED_CORE: tuple[str, ...] = ("OI Delta", "Baseline", "Tier", "Entry")
_OI_SCALED: frozenset[str] = frozenset({"OI Delta", "Baseline"})
_LEVERAGE_TITLE = re.compile(r"(Long|Short) (\d+)x")
_ADD_SCRIPT = ("add pine/liquidation_levels_on_oi.pine to the chart, keep its plot titles, "
               "and export the chart data again")
_ADD_VOLUME = "ma_type 'vwma' needs the bars' volume: add TradingView's Volume indicator"


# --------------------------------------------------------------------------- the script's plots


def plotted_leverages(export: TradingViewExport) -> tuple[int, ...]:
    """Leverages with both a "Long Lx" and a "Short Lx" column in ``export``, in header order.

    Raises
    ------
    ValueError
        No such pair: names the first of the script's plots the export lacks.
    """
    found: dict[str, set[int]] = {"Long": set(), "Short": set()}
    order: list[int] = []
    for title in export.titles:
        match = _LEVERAGE_TITLE.fullmatch(title)
        if match:
            lev = int(match.group(2))
            found[match.group(1)].add(lev)
            if lev not in order:
                order.append(lev)
    pairs = tuple(lev for lev in order if lev in found["Long"] and lev in found["Short"])
    if not pairs:
        missing = [t for t in PLOT_TITLES if not export.has(t)] or ["Long 5x"]
        raise ValueError(export.missing_message(missing[0], hint=_ADD_SCRIPT))
    return pairs


def _script_block(titles: Sequence[str]) -> dict[str, int]:
    """Where this script's plots sit when its titles appear once as a contiguous run.

    The script plots ``CORE_TITLES`` then "Long Lx"/"Short Lx" pairs, in that order, so the
    run identifies its columns even when other indicators repeat some of the titles.
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


def _plot(export: TradingViewExport, title: str, block: dict[str, int]) -> np.ndarray:
    """One of the script's plots: from its own block of columns when the export has one."""
    if title in block:
        return export.column_at(block[title])
    return export.column(title, hint=_ADD_SCRIPT if title in PLOT_TITLES else "")


# --------------------------------------------------------------------------- recomputing


def export_candles(
    export: TradingViewExport,
    *,
    open_interest: np.ndarray | None = None,
    need_volume: bool = False,
) -> pd.DataFrame:
    """The candles frame of docs/method.md section 1 from an export's own columns.

    Parameters
    ----------
    export : liqlevels.feeds.TradingViewExport
        What :func:`liqlevels.feeds.read_tradingview_export` returned.
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
        cols["volume"] = export.column("Volume", hint=_ADD_VOLUME)
    else:
        cols["volume"] = np.zeros(len(export))
    if open_interest is None:
        open_interest = _plot(export, "Open Interest", _script_block(export.titles))
    oi = np.asarray(open_interest, dtype=np.float64)
    if oi.shape != (len(export),):
        raise ValueError(f"open_interest has {oi.size} values for {len(export)} bars")
    cols["open_interest"] = oi
    return pd.DataFrame(cols, index=export.index)


def expected_columns(candles: pd.DataFrame, options: OIOptions | None = None) -> pd.DataFrame:
    """What the Pine script plots, per bar, computed by the engine.

    Parameters
    ----------
    candles : pandas.DataFrame
        Candles as docs/method.md section 1 describes them.
    options : liqlevels.indicator.OIOptions, optional
        The script's inputs; default ``OIOptions()``, the script's defaults.

    Returns
    -------
    pandas.DataFrame
        On ``candles.index``: "Open Interest" (OI units), "OI Delta", "Baseline" (OI units),
        "Tier" (0 to 3), "Entry" (price, trigger bars only, NaN elsewhere) and for each
        leverage ``L`` "Long Lx" and "Short Lx" (liquidation prices on trigger bars, NaN
        elsewhere).
    """
    options = OIOptions() if options is None else options
    chosen = options.as_dict()
    signals = oi_signals(candles, **{k: v for k, v in chosen.items()
                                     if k not in ("leverages", "mmr")})
    trigger = signals["trigger"].to_numpy(dtype=bool)
    out = {
        "Open Interest": candles["open_interest"].to_numpy(dtype=np.float64),
        "OI Delta": signals["oi_delta"].to_numpy(dtype=np.float64),
        "Baseline": signals["baseline"].to_numpy(dtype=np.float64),
        "Tier": signals["tier"].to_numpy(dtype=np.float64),
        "Entry": np.where(trigger, signals["entry"].to_numpy(dtype=np.float64), np.nan),
    }
    out.update(_line_columns(candles.index, oi_levels(candles, **chosen), options.leverages))
    return pd.DataFrame(out, index=candles.index)


def _line_columns(index: pd.DatetimeIndex, levels: pd.DataFrame,
                  leverages: Sequence[int]) -> dict[str, np.ndarray]:
    """"Long Lx"/"Short Lx": each line's price (price units) on its trigger bar, else NaN."""
    at = index.get_indexer(levels["start"])
    lev_col = levels["leverage"].to_numpy()
    side_col = levels["side"].to_numpy()
    price = levels["price"].to_numpy(dtype=np.float64)
    out: dict[str, np.ndarray] = {}
    for lev in leverages:
        for side in ("long", "short"):
            values = np.full(len(index), np.nan)
            pick = (lev_col == int(lev)) & (side_col == side)
            values[at[pick]] = price[pick]
            out[f"{side.title()} {int(lev)}x"] = values
    return out


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

    Raises
    ------
    ValueError
        A negative or non-finite tolerance, or frames on different indexes.
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
        rows = np.flatnonzero(_mismatch(a, b, tolerance, scale_values if col in _OI_SCALED
                                        else None))
        frames.append(pd.DataFrame({
            "time": ours.index[rows], "column": col, "ours": a[rows], "theirs": b[rows],
            "_order": order,
        }))
    diffs = pd.concat(frames, ignore_index=True)
    diffs = diffs.sort_values(["time", "_order"], kind="stable").drop(columns="_order")
    return Comparison(diffs.reset_index(drop=True), columns, ours.index, float(tolerance))


def check_warmup(warmup: Any, bars: int, name: str = "warmup") -> int:
    """``warmup`` checked against an export of ``bars`` bars: a whole number >= 0 that
    leaves at least one bar to compare (else nothing would be compared, and all would
    "match"). ``name`` is how messages call it (``"--warmup"`` on the command line)."""
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"{name}={warmup!r} must be a whole number of bars >= 0")
    if warmup >= bars:
        raise ValueError(
            f"{name}={warmup} skips every bar: the export has {bars} bars, so nothing would "
            f"be compared; pass a {name} below {bars}"
        )
    return warmup


def compare_export(
    export: TradingViewExport,
    options: OIOptions | None = None,
    *,
    tolerance: float = 1e-6,
    open_interest: np.ndarray | None = None,
    warmup: int = 0,
) -> Comparison:
    """Recompute the script's plots from an export and compare them bar by bar.

    Parameters
    ----------
    export : liqlevels.feeds.TradingViewExport
        What :func:`liqlevels.feeds.read_tradingview_export` returned.
    options : liqlevels.indicator.OIOptions, optional
        The script's inputs on TradingView; its ``leverages`` pick the "Long Lx"/"Short Lx"
        columns compared. Default: the script's defaults, comparing every pair in the export.
    tolerance : float, default 1e-6
        Relative tolerance (see :func:`compare_frames`).
    open_interest : numpy.ndarray, optional
        Our own open interest per export bar (coins or contracts); replaces the export's for
        the computation, and "Open Interest" itself is then compared too.
    warmup : int, default 0
        Leading bars not compared (when the chart computed from earlier history).

    Returns
    -------
    Comparison

    Raises
    ------
    ValueError, TypeError
        A missing column, bad candles in the export, a bad option, or a ``warmup`` that
        leaves no bar to compare.
    """
    warmup = check_warmup(warmup, len(export))
    if options is None:
        options = OIOptions(leverages=plotted_leverages(export))
    elif not isinstance(options, OIOptions):
        raise TypeError(f"options={options!r} is not an OIOptions; pass the script's inputs "
                        f"as e.g. OIOptions(ma_type='ema', leverages=(5, 10))")
    candles = export_candles(export, open_interest=open_interest,
                             need_volume=options.ma_type == "vwma")
    ours = expected_columns(candles, options)
    columns = (("Open Interest",) if open_interest is not None else ()) + _COMPARED_CORE
    columns += tuple(f"{side} {lev}x" for lev in options.leverages for side in ("Long", "Short"))
    block = _script_block(export.titles)
    theirs = pd.DataFrame({col: _plot(export, col, block) for col in columns}, index=export.index)
    scale = pd.Series(_plot(export, "Open Interest", block), index=export.index)
    keep = slice(warmup, None)
    return compare_frames(
        ours.iloc[keep], theirs.iloc[keep], tolerance=tolerance, scale=scale.iloc[keep],
        columns=columns,
    )
