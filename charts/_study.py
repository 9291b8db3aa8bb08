"""The study report: one self-contained HTML page (inline SVG, no script library, no network)
of a finished :func:`liqlevels.indicator.study` table, and its PNG through headless Chromium.

It draws what it is given: the lift by band with its interval, touch rates against their
base rates, the reaction table, the sample sizes and the verdict sentences. It computes
nothing about markets.
"""

from __future__ import annotations

import html
import math
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

from ._browser import open_page

__all__ = ["StudyReport"]

_SIDE_COLORS = {"long": "#26a69a", "short": "#ab47bc", "all": "#78909c"}
_CSS = """
body{background:#131722;color:#d1d4dc;font:14px/1.45 -apple-system,Segoe UI,Roboto,sans-serif;
margin:0;padding:18px 26px}
h1{font-size:20px;margin:0 0 2px}h2{font-size:15px;margin:18px 0 6px;color:#e0e3eb}
.sub{color:#8a8f9c;margin-bottom:10px}.verdict{background:#1e2433;border-left:4px solid #f0b90b;
padding:8px 14px;margin:8px 0 10px}.verdict p{margin:3px 0}.verdict .cell{color:#aeb4c2;
margin-left:14px}
.row{display:flex;gap:26px;flex-wrap:wrap}table{border-collapse:collapse;font-size:12.5px}
td,th{padding:3px 9px;text-align:right;border-bottom:1px solid #2a2e39}th{color:#8a8f9c;
font-weight:600}td:first-child,th:first-child{text-align:left}.pos{color:#4caf50}
.neg{color:#ef5350}.muted{color:#6b7080}.note{color:#8a8f9c;font-size:12px;max-width:1150px}
svg text{fill:#b2b5be;font-size:11px}
"""


def _pct(value: Any, signed: bool = False, digits: int = 1) -> str:
    if value is None or not math.isfinite(float(value)):
        return "&ndash;"
    return f"{float(value) * 100:{'+' if signed else ''}.{digits}f}%"


def _pp(value: Any) -> str:
    if value is None or not math.isfinite(float(value)):
        return "&ndash;"
    return f"{float(value) * 100:+.1f} pp"


def _band(row: Any) -> str:
    return f"{row['band_low'] * 100:g}&ndash;{row['band_high'] * 100:g}%"


def _excludes_zero(low: Any, high: Any) -> str:
    if not (math.isfinite(low) and math.isfinite(high)):
        return "muted"
    return "pos" if low > 0 else "neg" if high < 0 else ""


class _Scale:
    """A linear map from values to pixels."""

    def __init__(self, lo: float, hi: float, p0: float, p1: float) -> None:
        self.lo, self.hi, self.p0, self.p1 = lo, hi, p0, p1

    def __call__(self, value: float) -> float:
        return self.p0 + (value - self.lo) / (self.hi - self.lo) * (self.p1 - self.p0)


def _ticks(lo: float, hi: float, count: int = 6) -> list[float]:
    raw = (hi - lo) / count
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 1)]


def _band_cells(table: pd.DataFrame, parts: list[str], left: float, slot: float,
                label_y: float, n: str) -> Iterator[tuple[float, int, str, pd.Series]]:
    """Walk the bands of ``table`` left to right: append each band's label under its slot
    to ``parts``, then yield ``(slot centre, k, side, row)`` for the long (k=0) and short
    (k=1) rows with ``n`` above zero."""
    bands = list(dict.fromkeys(zip(table["band_low"], table["band_high"], strict=True)))
    for b, (lo, hi) in enumerate(bands):
        cx = left + slot * (b + 0.5)
        parts.append(f'<text x="{cx:.1f}" y="{label_y}" text-anchor="middle">'
                     f'{lo * 100:g}&ndash;{hi * 100:g}% away</text>')
        for k, side in enumerate(("long", "short")):
            match = table[(table["side"] == side) & (table["band_low"] == lo)]
            if not match.empty and match.iloc[0][n] != 0:
                yield cx, k, side, match.iloc[0]


def _lift_svg(table: pd.DataFrame, lift: str, low: str, high: str, n: str,
              title: str) -> str:
    """Lift per band (points) with its interval (bars), long and short side by side."""
    rows = table[table[n] > 0]
    values = [v for c in (lift, low, high) for v in rows[c] if math.isfinite(v)] + [0.0]
    span = max(max(abs(v) for v in values), 0.02) * 1.15
    width, height, left, top, bottom = 560, 260, 56, 28, 56
    y = _Scale(-span, span, height - bottom, top)
    bands = list(dict.fromkeys(zip(table["band_low"], table["band_high"], strict=True)))
    slot = (width - left - 10) / max(len(bands), 1)
    parts = [f'<svg width="{width}" height="{height}" role="img" aria-label="{title}">',
             f'<text x="{left}" y="16" style="font-size:12.5px;fill:#e0e3eb">{title}</text>']
    for tick in _ticks(-span, span):
        py = y(tick)
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{py:.1f}" y2="{py:.1f}" '
                     f'stroke="{"#787b86" if abs(tick) < 1e-12 else "#2a2e39"}"/>')
        parts.append(f'<text x="{left - 6}" y="{py + 4:.1f}" text-anchor="end">'
                     f'{tick * 100:+.0f} pp</text>' if abs(tick) >= 1e-12 else
                     f'<text x="{left - 6}" y="{py + 4:.1f}" text-anchor="end">0</text>')
    for cx, k, side, r in _band_cells(table, parts, left, slot, height - bottom + 16, n):
        px = cx + (k - 0.5) * slot * 0.32
        color = _SIDE_COLORS[side]
        if math.isfinite(r[low]) and math.isfinite(r[high]):
            parts.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{y(r[low]):.1f}" '
                         f'y2="{y(r[high]):.1f}" stroke="{color}" stroke-width="3" '
                         f'opacity="0.55"/>')
        if math.isfinite(r[lift]):
            parts.append(f'<circle cx="{px:.1f}" cy="{y(r[lift]):.1f}" r="4.5" '
                         f'fill="{color}"><title>{side} {_band(r)}: lift '
                         f'{_pp(r[lift])} [{_pp(r[low])}, '
                         f'{_pp(r[high])}], n={int(r[n])}</title></circle>')
        parts.append(f'<text x="{px:.1f}" y="{height - bottom + 29 + 11 * k}" '
                     f'text-anchor="middle" style="font-size:10px;fill:{color}">'
                     f'n={int(r[n])}</text>')
    legend = "".join(f'<circle cx="{width - 150 + 70 * k}" cy="12" r="4.5" fill="{c}"/>'
                     f'<text x="{width - 142 + 70 * k}" y="16">{s}</text>'
                     for k, (s, c) in enumerate(list(_SIDE_COLORS.items())[:2]))
    parts.append(legend + "</svg>")
    return "".join(parts)


def _rates_svg(table: pd.DataFrame) -> str:
    """Touch rate (solid) against the base rate (outline) per side and band."""
    width, height, left, top, bottom = 560, 250, 44, 28, 46
    y = _Scale(0, 1, height - bottom, top)
    bands = list(dict.fromkeys(zip(table["band_low"], table["band_high"], strict=True)))
    slot = (width - left - 10) / max(len(bands), 1)
    bar = slot * 0.18
    parts = [f'<svg width="{width}" height="{height}" role="img" aria-label="touch rates">',
             '<text x="44" y="16" style="font-size:12.5px;fill:#e0e3eb">Touch rate '
             '(filled) against the base rate at the same ATR distance (outline)</text>']
    for tick in (0, 0.25, 0.5, 0.75, 1):
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{y(tick):.1f}" '
                     f'y2="{y(tick):.1f}" stroke="#2a2e39"/><text x="{left - 6}" '
                     f'y="{y(tick) + 4:.1f}" text-anchor="end">{tick * 100:.0f}%</text>')
    for cx, k, side, r in _band_cells(table, parts, left, slot, height - bottom + 16, "n"):
        x0 = cx + (k - 1) * (bar * 2 + 4) + 2
        color = _SIDE_COLORS[side]
        top_t, top_e = y(r["touch_rate"]), y(r["expected_rate"])
        parts.append(f'<rect x="{x0:.1f}" y="{top_t:.1f}" width="{bar:.1f}" '
                     f'height="{y(0) - top_t:.1f}" fill="{color}"><title>{side} '
                     f'{_band(r)}: touched {_pct(r["touch_rate"])}</title></rect>')
        parts.append(f'<rect x="{x0 + bar:.1f}" y="{top_e:.1f}" width="{bar:.1f}" '
                     f'height="{y(0) - top_e:.1f}" fill="none" stroke="{color}" '
                     f'stroke-width="1.5"><title>{side} {_band(r)}: base rate '
                     f'{_pct(r["expected_rate"])}</title></rect>')
    parts.append("</svg>")
    return "".join(parts)


def _lift_table(table: pd.DataFrame, columns: list[tuple[str, Any]], lift: str = "") -> str:
    """A table of ``columns`` (header, row -> cell text), then the lift and its interval
    (``{lift}lift``, ``{lift}ci_low``, ``{lift}ci_high``), the lift marked when the
    interval excludes zero."""
    heads = [h for h, _ in columns] + ["lift", "interval"]
    head = "<tr>" + "".join(f"<th>{h}</th>" for h in heads) + "</tr>"
    rows = []
    for _, r in table.iterrows():
        low, high = r[f"{lift}ci_low"], r[f"{lift}ci_high"]
        cells = "".join(f"<td>{cell(r)}</td>" for _, cell in columns)
        rows.append(f"<tr>{cells}<td class='{_excludes_zero(low, high)}'>"
                    f"{_pp(r[f'{lift}lift'])}</td><td>{_pp(low)} .. {_pp(high)}</td></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _touch_table(table: pd.DataFrame) -> str:
    return _lift_table(table, [
        ("side", lambda r: r["side"]), ("band", _band), ("n", lambda r: int(r["n"])),
        ("touched", lambda r: _pct(r["touch_rate"])),
        ("base rate", lambda r: _pct(r["expected_rate"]))])


def _reaction_table(table: pd.DataFrame) -> str:
    return _lift_table(table, [
        ("side", lambda r: r["side"]), ("band", _band),
        ("touches", lambda r: int(r["reaction_n"])),
        ("turned back", lambda r: _pct(r["reaction_rate"])),
        ("at any level", lambda r: _pct(r["reaction_expected"]))], lift="reaction_")


def _liquidation_table(table: pd.DataFrame) -> str:
    return _lift_table(table, [
        ("side", lambda r: r["side"]), ("liquidations", lambda r: int(r["n"])),
        ("notional", lambda r: f"{r['notional']:,.0f}"),
        ("at a cluster", lambda r: _pct(r["hit_share"])),
        ("log moved to other days", lambda r: _pct(r["expected_share"]))])


class StudyReport:
    """The study's page: verdict, lift charts with intervals, rate and reaction tables.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`liqlevels.indicator.study`'s result (its ``attrs`` give the horizon, samples,
        blocks and level shown).
    verdict : sequence of str
        Sentences (:func:`liqlevels.indicator.study_verdict`); lines starting with spaces
        are drawn as details of the line before.
    title, subtitle : str
        The heading and the line under it (symbol, venue, span).
    liquidations : pandas.DataFrame, optional
        :func:`liqlevels.indicator.study_liquidations`' result.
    """

    def __init__(self, table: pd.DataFrame, verdict: Sequence[str], *, title: str,
                 subtitle: str = "", liquidations: pd.DataFrame | None = None) -> None:
        self.table = table
        self.verdict = list(verdict)
        self.title = title
        self.subtitle = subtitle
        self.liquidations = liquidations

    def _verdict_html(self) -> str:
        lines = []
        for sentence in self.verdict:
            cls = " class='cell'" if sentence.startswith(" ") else ""
            lines.append(f"<p{cls}>{html.escape(sentence.strip())}</p>")
        return "<div class='verdict'>" + "".join(lines) + "</div>"

    def html(self) -> str:
        """The self-contained page as a string."""
        t, a = self.table, self.table.attrs
        level = float(a.get("level", 0.95))
        facts = (f"horizon {a.get('horizon', '?')} bars &middot; {a.get('samples', '?')} sampled "
                 f"bars in {a.get('blocks', '?')} bootstrap blocks &middot; "
                 f"{a.get('n_boot', '?')} draws &middot; clusters by {a.get('weight', '?')} "
                 f"&middot; {level:.0%} intervals")
        liq = ""
        if self.liquidations is not None:
            tol = self.liquidations.attrs.get("tolerance")
            tol_words = f" within {tol * 100:g}% of a cluster" if tol is not None else ""
            shifts = self.liquidations.attrs.get("shifts", "?")
            liq = (f"<h2>Realised liquidations{tol_words}</h2>"
                   f"{_liquidation_table(self.liquidations)}<p class='note'>Expected: the "
                   f"same log moved by whole blocks to other days ({shifts} shifts), each "
                   f"liquidation keeping its distance from the close in ATRs; interval: the "
                   f"observed share minus the shifts' central {level:.0%}.</p>")
        touch = _lift_svg(t, "lift", "ci_low", "ci_high", "n",
                          "Touch lift: touched minus base rate")
        react = _lift_svg(t, "reaction_lift", "reaction_ci_low", "reaction_ci_high",
                          "reaction_n", "Reaction lift: turned back minus any level")
        body = (
            f"<h1>{html.escape(self.title)}</h1><div class='sub'>"
            f"{html.escape(self.subtitle)}<br>{facts}</div>{self._verdict_html()}"
            f"<div class='row'>{touch}{react}</div>"
            f"<div class='row'>{_rates_svg(t)}<div><h2>Touches</h2>{_touch_table(t)}</div></div>"
            f"<div class='row'><div><h2>After a touch: the close {a.get('horizon', '?')} bars "
            f"later back on the near side</h2>{_reaction_table(t)}</div><div>{liq}</div></div>"
            "<p class='note'>Long: the densest live cluster of long liquidation lines below "
            "the close in each band; short: of short lines above. The base rate is the share "
            "of all sampled bars whose move that way reached the same distance in ATRs within "
            "the horizon. Intervals: block bootstrap over whole time blocks (overlapping "
            "horizons make neighbouring bars dependent). Green/red: the interval excludes "
            "zero. Method and caveats: docs/study.md.</p>"
        )
        return ("<!DOCTYPE html><html><head><meta charset='utf-8'>"
                f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head>"
                f"<body>{body}<script>window.__liqlevels={{ready:true}};</script>"
                "</body></html>")

    def to_html(self, path: str | Path) -> Path:
        """Write the page to ``path``; returns the path."""
        path = Path(path)
        path.write_text(self.html(), encoding="utf-8")
        return path

    def to_png(self, path: str | Path, *, width: int = 1200, height: int = 800) -> Path:
        """Screenshot the whole page in headless Chromium into ``path`` (``width`` CSS pixels
        wide, as tall as the page, at least ``height``).

        Raises
        ------
        RuntimeError
            No Chromium found, or the page failed.
        """
        path = Path(path)
        with tempfile.TemporaryDirectory(prefix="liqlevels-") as tmp:
            page = self.to_html(Path(tmp) / "study.html")
            # Playwright's sync API wants a thread of its own (Jupyter runs an event loop).
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="liqlevels-png") as pool:
                pool.submit(_whole_page, page, path, width, height).result()
        return path


def _whole_page(html_path: Path, png_path: Path, width: int, height: int) -> None:
    """The page at ``width``, as tall as its content (at least ``height``)."""
    with open_page(html_path, width=width, height=height) as page:
        page.screenshot(path=str(png_path), full_page=True)
