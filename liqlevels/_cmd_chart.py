"""``liqlevels demo`` and ``liqlevels chart``: fetch (or generate), compute, draw."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from ._app import Outputs, file_stem, render, safe_name
from ._args import (
    add_method_options,
    base_url,
    check_window,
    method_options,
    out_folder,
    timeframe,
    utc_time,
    whole_number,
)
from ._errors import run_guarded
from .indicator import OIOptions
from .vocab import DENSITY_WEIGHTS, quote_currency

__all__ = ["add_fetch_options", "add_level_options", "fetch_for", "register", "venue_label"]

DEMO_EXAMPLES = """examples:
  liqlevels demo
  liqlevels demo --out charts/ --leverages 10,25,50 --direction both
"""

CHART_EXAMPLES = """examples:
  liqlevels chart BTC/USDT:USDT
  liqlevels chart ETH/USDT:USDT --exchange bybit --timeframe 15m --since 2026-06-01
  liqlevels chart SOL/USDT:USDT --exchange okx --ma-type ema --thresholds 1.5,2.5,4 --show
  liqlevels chart BTC/USDT:USDT --exchanges binanceusdm,bybit,okx --weight oi_delta
"""


def add_level_options(parser: argparse.ArgumentParser) -> None:
    """The options of ``indicator.oi_levels`` (defaults from ``OIOptions``) and the drawing,
    shared by demo and chart."""
    add_method_options(parser)
    draw = parser.add_argument_group("output")
    draw.add_argument("--bins", type=whole_number(1, 10_000), default=150,
                      help="density histogram bins (150)")
    draw.add_argument("--weight", default="count", choices=DENSITY_WEIGHTS,
                      help="what each live line adds to the density histogram: 1 (count), its "
                      "|OI delta| in coins (oi_delta) or its notional in USD (notional) (count)")
    draw.add_argument("--heatmap", action="store_true",
                      help="also draw the live lines per time and price bin (weighted as "
                      "--weight) behind the candles")
    draw.add_argument("--max-lines", type=whole_number(0), default=500,
                      help="newest lines drawn, as TradingView keeps 500; 0 draws all (500)")
    draw.add_argument("--out", type=out_folder, default=Path("liqlevels-out"),
                      help="output folder (./liqlevels-out)")
    draw.add_argument("--name", type=file_stem,
                      help="file-name stem (from the symbol and timeframe)")
    draw.add_argument("--no-png", action="store_true", help="skip the PNG screenshot")
    draw.add_argument("--show", action="store_true", help="open the desktop window too")


def _report(outputs: Outputs, candles: pd.DataFrame) -> None:
    live = int(outputs.levels["end"].isna().sum())
    print(f"{len(candles)} bars {candles.index[0]} .. {candles.index[-1]}: "
          f"{len(outputs.levels)} lines, {live} still live")
    for path in (outputs.html, outputs.png, outputs.csv):
        if path is not None:
            print(f"wrote {path}")
    for note in outputs.notes:
        print(f"note: {note}", file=sys.stderr)


def _draw(args: argparse.Namespace, candles: pd.DataFrame, symbol: str, name: str,
          options: OIOptions) -> int:
    outputs = render(
        candles, out_dir=args.out, name=args.name or name, symbol=symbol,
        options=options, bins=args.bins, weight=args.weight, heatmap=args.heatmap,
        max_lines=args.max_lines or None, png=not args.no_png, show=args.show,
        price_unit=quote_currency(getattr(args, "symbol", None)),
    )
    _report(outputs, candles)
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    from .feeds import sample_candles

    options = method_options(args)
    candles = sample_candles(args.bars, timeframe="1h", seed=args.seed)
    return _draw(args, candles, "DEMO-PERP (synthetic sample)", "demo", options)


def exchange_for(args: argparse.Namespace) -> Any:
    """The ccxt exchange to use: the id itself, or an instance sent to ``--api-url``."""
    if not args.api_url:
        return args.exchange
    import ccxt

    from .feeds import point_urls

    if args.exchange not in ccxt.exchanges:
        return args.exchange  # feeds names it and suggests the closest ids
    exchange = getattr(ccxt, args.exchange)({"enableRateLimit": True})
    point_urls(exchange, args.api_url, websocket=False)
    return exchange


def venue_label(args: argparse.Namespace) -> str:
    """The venue or venues of ``args`` for titles and messages: ``bybit`` or
    ``binanceusdm+bybit+okx``."""
    venues = getattr(args, "exchanges", None)
    return "+".join(venues) if venues else str(args.exchange)


def check_venues(args: argparse.Namespace) -> None:
    """``--api-url`` names one server, so it cannot go with ``--exchanges``."""
    if getattr(args, "exchanges", None) and args.api_url:
        raise ValueError(
            f"--api-url {args.api_url} with --exchanges {','.join(args.exchanges)}: one URL "
            f"cannot serve several exchanges; drop --api-url, or use --exchange with one venue")


def fetch_for(args: argparse.Namespace) -> pd.DataFrame:
    """Candles for the symbol, range and exchange options of ``args`` (cached); with
    ``--exchanges``, open interest summed over the venues (``feeds.fetch_venues``)."""
    from .feeds import fetch_candles, fetch_venues, timeframe_seconds

    check_venues(args)
    check_window(args)
    since = args.since
    if since is None:
        step = pd.Timedelta(seconds=timeframe_seconds(args.timeframe))
        since = pd.Timestamp.now(tz="UTC").floor(step) - args.bars * step
    if getattr(args, "exchanges", None):
        return fetch_venues(list(args.exchanges), args.symbol, args.timeframe, since=since,
                            until=args.until, cache_dir=args.cache_dir)
    return fetch_candles(exchange_for(args), args.symbol, args.timeframe, since=since,
                         until=args.until, cache_dir=args.cache_dir)


def _run_chart(args: argparse.Namespace) -> int:
    options = method_options(args)  # a bad option fails before any download
    candles = fetch_for(args)
    if candles.empty:
        print(f"liqlevels: error: {venue_label(args)} returned no bars for {args.symbol} "
              f"{args.timeframe} in that range", file=sys.stderr)
        return 1
    label = f"{args.symbol} {args.timeframe} ({venue_label(args)})"
    return _draw(args, candles, label, safe_name(args.symbol, args.timeframe), options)


def register(subparsers: Any) -> None:
    """Add ``demo`` and ``chart``."""
    demo = subparsers.add_parser(
        "demo",
        description="Generate a realistic seeded sample (prices with volatility clusters, "
        "open interest with bursts) and draw its liquidation levels. No network needed.",
        epilog=DEMO_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--bars", type=whole_number(1, 5_000_000), default=1500,
                      help="hourly bars to generate (1500)")
    demo.add_argument("--seed", type=whole_number(0, 2**32 - 1), default=7,
                      help="random seed (7)")
    add_level_options(demo)
    demo.set_defaults(func=run_guarded(_run_demo))

    chart = subparsers.add_parser(
        "chart",
        description="Fetch candles and open interest (cached locally), compute the "
        "OI-delta liquidation levels and write NAME.html, NAME.png and NAME-levels.csv.",
        epilog=CHART_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    chart.add_argument("symbol", help="ccxt unified symbol, e.g. BTC/USDT:USDT")
    add_fetch_options(chart)
    add_level_options(chart)
    chart.set_defaults(func=run_guarded(_run_chart))


def sample_or_fetched(args: argparse.Namespace, *, or_also: str = ""
                      ) -> tuple[pd.DataFrame, str, str]:
    """The candles of ``--sample`` or of SYMBOL through :func:`fetch_for`, their label on the
    chart and the default file-name stem (heatmap, study). ``or_also`` names another way to
    give candles, for the message when neither is given."""
    if args.sample:
        from .feeds import sample_candles

        candles = sample_candles(args.bars, timeframe=args.timeframe, seed=args.seed)
        return candles, f"DEMO-PERP {args.timeframe} (synthetic sample)", "sample"
    if not args.symbol:
        raise ValueError(f"give a SYMBOL (e.g. BTC/USDT:USDT), {or_also}{'' if or_also else 'or '}"
                         f"--sample for the built-in sample (no network)")
    candles = fetch_for(args)
    if candles.empty:
        raise ValueError(f"{venue_label(args)} returned no bars for {args.symbol} "
                         f"{args.timeframe} in that range")
    return (candles, f"{args.symbol} {args.timeframe} ({venue_label(args)})",
            safe_name(args.symbol, args.timeframe))


def exchange_list(text: str) -> tuple[str, ...]:
    """An argparse ``type`` for ``--exchanges``: two or more ccxt ids, each once."""
    ids = tuple(part.strip() for part in text.split(",") if part.strip())
    if len(ids) < 2:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give two or more exchanges separated by commas, e.g. "
            f"binanceusdm,bybit,okx (one venue: --exchange)")
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise argparse.ArgumentTypeError(
            f"{text!r} names {', '.join(repeated)} twice: its open interest would count twice")
    return ids


def add_fetch_options(parser: argparse.ArgumentParser, *, default_timeframe: str = "1h",
                      live: bool = False) -> None:
    """Exchange, timeframe and range options, shared by chart, fetch and live (``live``: no
    ``--until``, the range is the warm-up before now; ``--ws-url`` as well). ``--exchanges``
    excludes ``--exchange`` and sums the venues' open interest (:func:`fetch_for`; live: the
    first venue streams, the others' open interest is polled)."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--exchange", default="binanceusdm",
                       help="ccxt exchange id (binanceusdm; also bybit, okx, ...)")
    where.add_argument("--exchanges", type=exchange_list,
                       help="several ccxt ids, e.g. binanceusdm,bybit,okx: open interest "
                       "summed over them in coins, prices from the first" + (
                           " (its websockets; the others' open interest polled over REST)"
                           if live else ""))
    parser.add_argument("--timeframe", type=timeframe, default=default_timeframe,
                        help=f"bar length: 1m, 5m, 1h, ... ({default_timeframe})")
    first = "first warm-up bar" if live else "first bar"
    parser.add_argument("--since", type=utc_time,
                        help=f"{first} (UTC), e.g. 2026-06-01 or 2026-06-01T12:00")
    if not live:
        parser.add_argument("--until", type=utc_time,
                            help="end of the range (UTC, exclusive); default now")
    parser.add_argument("--bars", type=whole_number(1, 5_000_000), default=600,
                        help="without --since: this many bars back from now (600)")
    parser.add_argument("--cache-dir", type=Path, help="cache folder (the user cache dir)")
    parser.add_argument("--api-url", type=base_url("http", "https"),
                        help="send the exchange's REST requests to this base URL instead (a "
                        "proxy, a mirror or a test server)")
    if live:
        parser.add_argument("--ws-url", type=base_url("ws", "wss"),
                            help="open the websockets at this base URL instead (ws://HOST:PORT;"
                            " a proxy, a mirror or a test server)")
