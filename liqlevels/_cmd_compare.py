"""``liqlevels compare``: our numbers against a TradingView chart export, bar by bar."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import feeds
from ._args import add_method_options, method_options
from ._compare import Comparison, check_warmup, compare_export, plotted_leverages
from ._compare_report import format_report, report_json
from ._errors import run_guarded
from .indicator import OIOptions
from .vocab import timeframe_seconds

__all__ = ["fetched_open_interest", "infer_timeframe", "register", "run"]

EXAMPLES = """examples:
  liqlevels compare "BINANCE_BTCUSDT.P, 60.csv"
  liqlevels compare export.csv --ma-type ema --direction both --warmup 300 --json
  liqlevels compare export.csv --exchange binanceusdm --symbol BTC/USDT:USDT
"""


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
    export: feeds.TradingViewExport, exchange: str, symbol: str, timeframe: str | None = None
) -> np.ndarray:
    """Our own open interest for the export's bars, via :func:`liqlevels.feeds.fetch_candles`.

    Parameters
    ----------
    export : liqlevels.feeds.TradingViewExport
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

    Raises
    ------
    ValueError
        The fetch failed (naming the symbol, timeframe and exchange) or gave no open interest.
    """
    timeframe = timeframe or infer_timeframe(export.index)
    step = pd.Timedelta(seconds=timeframe_seconds(timeframe, "--timeframe"))
    try:
        frame = feeds.fetch_candles(exchange, symbol, timeframe,
                                    since=export.index[0], until=export.index[-1] + step)
    except (ValueError, TypeError):
        raise
    except Exception as exc:  # ccxt and feed errors: one line, the cause kept for the hint
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


# --------------------------------------------------------------------------- the command


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("export", type=Path, help="the exported CSV")
    parser.add_argument("--tolerance", type=float, default=1e-6,
                        help="relative tolerance (1e-6)")
    parser.add_argument("--json", action="store_true", help="print a JSON report")
    parser.add_argument("--limit", type=int, default=0,
                        help="list at most N differences in the text report (0: all)")
    parser.add_argument("--warmup", type=int, default=0, help="leading bars not compared (0)")
    add_method_options(
        parser, title="method (as the script's inputs on TradingView; docs/method.md section 1)",
        leverages_help="leverages to compare, e.g. 5,10 (every Long/Short pair in the export)")
    ours = parser.add_argument_group("our own open interest instead of the export's")
    ours.add_argument("--exchange", help="ccxt exchange id, e.g. binanceusdm")
    ours.add_argument("--symbol", help="ccxt symbol, e.g. BTC/USDT:USDT")
    ours.add_argument("--timeframe", help="bar length, e.g. 1h (from the export)")


def register(subparsers: Any) -> None:
    """Add the ``compare`` sub-command."""
    parser = subparsers.add_parser(
        "compare",
        description=(
            "Read a TradingView 'Export chart data' CSV of a chart carrying\n"
            "pine/liquidation_levels_on_oi.pine, recompute its plots from the export's own OHLC\n"
            "and Open Interest, and list every bar and column that differs (docs/tradingview.md).\n"
            "Exit 0 when all match within the tolerance, 1 otherwise or on bad input, 2 on a\n"
            "usage error."
        ),
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_arguments(parser)
    parser.set_defaults(func=run)


def _options(args: argparse.Namespace, export: feeds.TradingViewExport) -> OIOptions:
    """The six options from ``args``, checked; without ``--leverages`` every pair the export
    plots."""
    return method_options(args, leverages=args.leverages or plotted_leverages(export))


def _compute(args: argparse.Namespace) -> tuple[Comparison, str]:
    if (args.exchange is None) != (args.symbol is None):
        raise ValueError("--exchange and --symbol go together, e.g. --exchange binanceusdm "
                         "--symbol BTC/USDT:USDT")
    export = feeds.read_tradingview_export(args.export)
    check_warmup(args.warmup, len(export), name="--warmup")
    options = _options(args, export)
    source = str(args.export)
    oi = None
    if args.exchange is not None:
        oi = fetched_open_interest(export, args.exchange, args.symbol, args.timeframe)
        source += f" vs {args.exchange} {args.symbol} open interest"
    result = compare_export(export, options, tolerance=args.tolerance, open_interest=oi,
                            warmup=args.warmup)
    return result, source


@run_guarded
def run(args: argparse.Namespace) -> int:
    """Run ``liqlevels compare``; 0 when every bar matches, 1 otherwise or on bad input."""
    result, source = _compute(args)
    if args.json:
        print(json.dumps(report_json(result, source=source), indent=2))
    else:
        print(format_report(result, source=source, limit=args.limit))
    return 0 if result.match else 1
