"""``liqlevels fetch``: fill the local cache with candles and open interest."""

from __future__ import annotations

import argparse
from typing import Any

from ._cmd_chart import add_fetch_options, fetch_for, venue_label
from ._errors import run_guarded

__all__ = ["register"]

EXAMPLES = """examples:
  liqlevels fetch BTC/USDT:USDT --since 2026-05-01
  liqlevels fetch SOL/USDT:USDT --exchange okx --timeframe 5m --bars 5000
"""


def _run_fetch(args: argparse.Namespace) -> int:
    candles = fetch_for(args)
    venues = venue_label(args)
    if candles.empty:
        print(f"no bars for {args.symbol} {args.timeframe} on {venues} in that range")
        return 0
    missing = int(candles["open_interest"].isna().sum())
    print(f"{venues} {args.symbol} {args.timeframe}: {len(candles)} bars "
          f"{candles.index[0]} .. {candles.index[-1]}, open interest missing on {missing}")
    return 0


def register(subparsers: Any) -> None:
    """Add ``fetch``."""
    parser = subparsers.add_parser(
        "fetch",
        description="Fetch candles and open interest through ccxt into the local parquet "
        "cache; a repeated or overlapping range fetches only what is missing.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("symbol", help="ccxt unified symbol, e.g. BTC/USDT:USDT")
    add_fetch_options(parser)
    parser.set_defaults(func=run_guarded(_run_fetch))
