"""``liqlevels heatmap``: the liquidation levels as a heatmap behind the candles.

Candles (fetched, or the built-in sample with ``--sample``), then ``indicator.oi_levels``,
then ``indicator.heatmap`` on a grid of at most ``--times`` columns, drawn by
``charts.Scene(heatmap=...)``: ``NAME-heatmap.html``, ``NAME-heatmap.png`` and
``NAME-heatmap.csv`` (the cells).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from . import charts, indicator
from ._app import chart_bin_size, file_stem
from ._args import add_method_options, method_options, out_folder, positive_number, whole_number
from ._cmd_chart import add_fetch_options, sample_or_fetched
from ._errors import run_guarded
from .vocab import path_under, quote_currency, safe_filename

__all__ = ["heatmap_times", "register"]

WEIGHTS: tuple[str, ...] = ("count", "oi_delta", "notional")

EXAMPLES = """examples:
  liqlevels heatmap --sample
  liqlevels heatmap BTC/USDT:USDT --timeframe 15m --bars 5000 --weight notional
  liqlevels heatmap ETH/USDT:USDT --exchange bybit --bin-size 5 --times 1000
"""


def heatmap_times(index: pd.DatetimeIndex, times: int) -> pd.DatetimeIndex:
    """At most ``times`` bar times, evenly spaced in bars, the first bar always among them:
    the columns of the heatmap (each runs to the next)."""
    step = max(1, math.ceil(len(index) / times))
    return index[::step]


def _paths(out: Path, name: str) -> tuple[Path, Path, Path]:
    stem = safe_filename(f"{name}-heatmap", "--name")
    return tuple(path_under(out, f"{stem}{ext}", what="--out")  # type: ignore[return-value]
                 for ext in (".html", ".png", ".csv"))


def _run(args: argparse.Namespace) -> int:
    options = method_options(args)  # a bad option fails before any download
    candles, label, name = sample_or_fetched(args)
    html, png, csv = _paths(args.out, args.name or name)
    levels = indicator.oi_levels(candles, options=options)
    grid = heatmap_times(candles.index, args.times)
    size = args.bin_size or chart_bin_size(candles)
    cells = indicator.heatmap(levels, grid, bin_size=size, weight=args.weight)
    layer = charts.heatmap_layer(cells, weight=args.weight)
    scene = charts.Scene(candles, heatmap=layer, symbol=label, price_unit=quote_currency(
                             None if args.sample else args.symbol),
                         title=f"Liquidation heatmap ({args.weight})", visible_bars=None)
    args.out.mkdir(parents=True, exist_ok=True)
    scene.to_html(html)
    cells.to_csv(csv, index=False)
    print(f"{len(candles)} bars {candles.index[0]} .. {candles.index[-1]}: {len(levels)} lines,"
          f" {len(grid)} columns, {scene.heatmap_cells} cells, bin {layer.bin_size:g}")
    print(f"wrote {html}")
    if not args.no_png:
        try:
            print(f"wrote {scene.to_png(png)}")
        except RuntimeError as exc:
            print(f"note: PNG skipped: {exc}", file=sys.stderr)
    print(f"wrote {csv}")
    return 0


def register(subparsers: Any) -> None:
    """Add ``heatmap``."""
    parser = subparsers.add_parser(
        "heatmap",
        description="Fetch candles and open interest (or use --sample), compute the OI-delta "
        "liquidation levels, bin the live ones by price at up to --times moments and draw "
        "them behind the candles: NAME-heatmap.html, NAME-heatmap.png, NAME-heatmap.csv.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("symbol", nargs="?", help="ccxt unified symbol, e.g. BTC/USDT:USDT")
    add_fetch_options(parser)
    parser.add_argument("--sample", action="store_true",
                        help="the built-in synthetic sample instead of a symbol (no network)")
    parser.add_argument("--seed", type=whole_number(0, 2**32 - 1), default=7,
                        help="random seed of --sample (7)")
    add_method_options(parser)
    heat = parser.add_argument_group("heatmap")
    heat.add_argument("--times", type=whole_number(1, 2000), default=2000,
                      help="most columns (times) in the heatmap, up to 2000 (2000)")
    heat.add_argument("--bin-size", type=positive_number("price"),
                      help="price height of a cell (a round step giving about 150 cells over the "
                      "candles' range when left out)")
    heat.add_argument("--weight", choices=WEIGHTS, default="count",
                      help="what a cell sums: count of lines, oi_delta (coins) or notional "
                      "(USD) (count)")
    heat.add_argument("--out", type=out_folder, default=Path("liqlevels-out"),
                      help="output folder (./liqlevels-out)")
    heat.add_argument("--name", type=file_stem,
                      help="file-name stem before -heatmap (from the symbol and timeframe)")
    heat.add_argument("--no-png", action="store_true", help="skip the PNG screenshot")
    parser.set_defaults(func=run_guarded(_run))
