"""The reports of ``liqlevels compare``: a text listing for people, a JSON document for tools."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from ._compare import Comparison

__all__ = ["format_report", "report_json"]

_HINT = ("hint: pass the script's inputs (--ma-length, --ma-type, --thresholds, --direction, "
         "--mmr); differences only in the first bars call for --warmup (docs/tradingview.md)")


def _fmt_value(value: float) -> str:
    if math.isnan(value):
        return "na"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _fmt_time(stamp: pd.Timestamp) -> str:
    return stamp.tz_convert("UTC").strftime("%Y-%m-%d %H:%M:%S")


def _difference_lines(result: Comparison, limit: int) -> list[str]:
    """The table of differences, cut to ``limit`` rows when ``limit`` > 0."""
    diffs = result.differences
    shown = diffs if limit <= 0 else diffs.iloc[:limit]
    width = max(len(c) for c in result.columns)
    lines = [f"{'time (UTC)':<19}  {'column':<{width}}  {'ours':>22}  {'theirs':>22}"]
    for row in shown.itertuples(index=False):
        lines.append(
            f"{_fmt_time(row.time):<19}  {row.column:<{width}}  "
            f"{_fmt_value(row.ours):>22}  {_fmt_value(row.theirs):>22}"
        )
    if len(shown) < len(diffs):
        lines.append(f"... {len(diffs) - len(shown)} more (--limit 0 lists all)")
    return lines


def format_report(result: Comparison, *, source: str = "export", limit: int = 0) -> str:
    """The text report: every difference (``limit`` > 0 keeps the first ``limit``), then a
    per-column summary and the verdict.

    Values are printed in their own units (OI units, price); na as ``na``; times as UTC.
    """
    n = len(result.index)
    span = f"{_fmt_time(result.index[0])} to {_fmt_time(result.index[-1])} UTC" if n else "none"
    lines = [f"{source}: {n} bars ({span}); columns: {', '.join(result.columns)}"]
    diffs = result.differences
    if not result.match:
        lines += _difference_lines(result, limit)
    lines.append(f"summary (relative tolerance {result.tolerance:g}):")
    for col, info in result.summary().items():
        first = f", first at {_fmt_time(info['first'])}" if info["first"] is not None else ""
        lines.append(f"  {col:<14} {info['differences']:>6} differing bars{first}")
    if result.match:
        lines.append("MATCH: every bar and column agrees")
    else:
        bars = diffs["time"].nunique()
        lines += [f"DIFFERENT: {len(diffs)} values in {bars} of {n} bars differ", _HINT]
    return "\n".join(lines)


def _json_number(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _iso(stamp: pd.Timestamp | None) -> str | None:
    return None if stamp is None else stamp.isoformat()


def report_json(result: Comparison, *, source: str = "export") -> dict[str, Any]:
    """The machine report: ``source``, ``match``, ``bars``, ``first_bar``, ``last_bar``,
    ``columns``, ``tolerance``, ``summary`` and ``differences`` (time as ISO 8601 UTC, na as
    null)."""
    index = result.index
    return {
        "source": source,
        "match": result.match,
        "bars": len(index),
        "first_bar": _iso(index[0]) if len(index) else None,
        "last_bar": _iso(index[-1]) if len(index) else None,
        "columns": list(result.columns),
        "tolerance": result.tolerance,
        "summary": {
            col: {"differences": info["differences"], "first": _iso(info["first"])}
            for col, info in result.summary().items()
        },
        "differences": [
            {"time": row.time.isoformat(), "column": row.column,
             "ours": _json_number(row.ours), "theirs": _json_number(row.theirs)}
            for row in result.differences.itertuples(index=False)
        ],
    }
