"""The application's one job: candles in; levels, density and a chart written out."""

from __future__ import annotations

import argparse
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import charts, indicator
from .vocab import path_under, safe_filename

__all__ = ["HEATMAP_TIMES", "Outputs", "chart_bin_size", "density_layer", "file_stem",
           "heatmap_frame", "heatmap_times", "render", "safe_name"]

HEATMAP_TIMES = 2_000  # the chart's heatmap columns at most: every k-th bar beyond that
# The density profile's legend and unit per weight (indicator.density's weights).
_DENSITY_LEGEND = {"count": ("live lines by price", "lines"),
                   "oi_delta": ("live lines by price, weighted by |OI delta|", "coins"),
                   "notional": ("live lines by price, weighted by notional", "USD")}


@dataclass
class Outputs:
    """What :func:`render` wrote and computed."""

    html: Path
    csv: Path
    png: Path | None
    levels: pd.DataFrame
    density: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    heatmap: pd.DataFrame | None = None


def safe_name(symbol: str, timeframe: str | None = None) -> str:
    """A file-name stem for a symbol: ``BTC/USDT:USDT`` and ``1h`` give ``BTC-USDT-USDT_1h``.

    Through :func:`liqlevels.vocab.safe_filename` (a symbol's ``/`` and ``:`` become ``-``);
    ``ValueError`` for anything else that cannot name a file.
    """
    return safe_filename(f"{symbol}_{timeframe}" if timeframe else symbol, "symbol", sep="-")


def file_stem(text: str) -> str:
    """An argparse ``type`` for ``--name``: ``text`` if it can name the output files, else
    a usage error that argparse prints as one line naming ``--name``."""
    try:
        return safe_filename(text, "")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _outputs(out_dir: Path, name: str) -> tuple[Path, Path, Path]:
    """``NAME.html``, ``NAME-levels.csv`` and ``NAME.png`` in ``out_dir``, checked to stay
    in it (``name`` is refused as ``--name`` when it cannot name a file)."""
    name = safe_filename(name, "--name")
    html, csv, png = (path_under(out_dir, f"{name}{suffix}", what="--out")
                      for suffix in (".html", "-levels.csv", ".png"))
    return html, csv, png


def heatmap_times(index: pd.DatetimeIndex, most: int = HEATMAP_TIMES) -> pd.DatetimeIndex:
    """The heatmap's time grid: every bar, or every ``k``-th (the fewest ``k`` giving at most
    ``most`` times), ending on the last bar so the newest column is current."""
    k = max(1, -(-len(index) // most))
    return index[::-1][::k][::-1]


def heatmap_frame(levels: pd.DataFrame, index: pd.DatetimeIndex, weight: str, *,
                  bin_size: float | None = None) -> pd.DataFrame:
    """:func:`indicator.heatmap` of ``levels`` on :func:`heatmap_times` of ``index``, its
    weight (and bin size) named in ``attrs`` for the chart's legend."""
    frame = indicator.heatmap(levels, heatmap_times(index), weight=weight, bin_size=bin_size)
    frame.attrs["weight"] = weight
    if bin_size is not None:
        frame.attrs["bin_size"] = bin_size
    return frame


def density_layer(dens: pd.DataFrame, weight: str) -> charts.Profile:
    """The density histogram as a profile whose legend and unit say what it weighs."""
    label, unit = _DENSITY_LEGEND.get(weight, (f"live lines by price ({weight})", weight))
    return charts.density_profile(dens, label=label, unit=unit)


def chart_bin_size(candles: pd.DataFrame, rows: int = 150) -> float | None:
    """A round price step (1, 2, 2.5 or 5 times a power of ten) giving about ``rows`` cells
    over the candles' price range: blocks a trader reads, not hair-lines. None for a flat
    range (then ``indicator.heatmap`` picks)."""
    span = float(candles["high"].max() - candles["low"].min())
    if not (math.isfinite(span) and span > 0):
        return None
    raw = span / rows
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw * (1 - 1e-9))


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def render(
    candles: pd.DataFrame,
    *,
    out_dir: Path,
    name: str,
    symbol: str,
    options: indicator.OIOptions,
    bins: int = 150,
    weight: str = "count",
    max_lines: int | None = 500,
    png: bool = True,
    show: bool = False,
    levels: pd.DataFrame | None = None,
    heatmap: bool = False,
    price_unit: str | None = None,
) -> Outputs:
    """Compute the levels and write ``NAME.html``, ``NAME.png`` and ``NAME-levels.csv``.

    Parameters
    ----------
    candles : pandas.DataFrame
        docs/method.md section 1 candles.
    out_dir : pathlib.Path
        Output folder (created if needed).
    name : str
        File-name stem: letters, digits, ``.``, ``_`` and ``-`` (checked as ``--name``).
    symbol : str
        Shown on the chart (as text).
    options : indicator.OIOptions
        The checked options of :func:`indicator.oi_levels`.
    bins : int
        Density bins.
    weight : str
        What each live line adds to the density histogram: ``"count"`` (1),
        ``"oi_delta"`` (its open-interest change, coins); any of
        :data:`liqlevels.vocab.DENSITY_WEIGHTS` (see :func:`indicator.density`).
    max_lines : int or None
        Newest lines drawn (the CSV always holds all of them); None draws all.
    png : bool
        Also screenshot the page (needs Chromium); a missing browser is a note, not a failure.
    show : bool
        Open the desktop window as well.
    levels : pandas.DataFrame, optional
        The levels already computed on ``candles`` with ``options`` (the live stream's,
        equal to ``oi_levels`` by construction); None computes them.
    price_unit : str, optional
        The prices' currency, said on the chart (:func:`liqlevels.vocab.quote_currency`).
    heatmap : bool
        Also draw the live lines per time and price bin behind the candles
        (:func:`indicator.heatmap` with ``weight``, on every bar or, beyond
        :data:`HEATMAP_TIMES` bars, every ``k``-th one); ``Outputs.heatmap`` holds the frame.

    Raises
    ------
    ValueError
        ``name`` cannot name a file, or a path would resolve outside ``out_dir`` (a link).
    """
    html_path, csv, png_path = _outputs(out_dir, name)
    if levels is None:
        levels = indicator.oi_levels(candles, options=options)
    signals = indicator.oi_signals(candles, options=options)
    dens = indicator.density(levels, bins=bins, weight=weight)
    heat = heatmap_frame(levels, candles.index, weight) if heatmap else None
    profile = density_layer(dens, weight)
    scene = charts.Scene(candles, levels, oi=signals, profiles=[profile], symbol=symbol,
                         max_lines=max_lines, heatmap=heat, price_unit=price_unit)
    out_dir.mkdir(parents=True, exist_ok=True)
    html = scene.to_html(html_path)
    _atomic_write_text(csv, levels.to_csv(index=False))
    notes: list[str] = []
    png_written: Path | None = None
    if png:
        try:
            png_written = scene.to_png(png_path)
        except RuntimeError as exc:
            notes.append(f"PNG skipped: {exc}")
    if show:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", charts.ChartsWarning)
            scene.show(html_path=html)
        notes.extend(str(w.message) for w in caught)
    return Outputs(html=html, csv=csv, png=png_written, levels=levels, density=dens, notes=notes,
                   heatmap=heat)
