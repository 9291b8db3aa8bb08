"""``liqlevels live``: levels, the trade map and realised liquidations, from websockets, on a
page that moves; the final levels CSV and PNG when it ends."""

from __future__ import annotations

import argparse
import asyncio
import sys
import webbrowser
from pathlib import Path
from typing import Any

import pandas as pd

from ._app import chart_bin_size, density_layer, file_stem, heatmap_frame, render, safe_name
from ._args import (
    add_method_options,
    method_options,
    number_list,
    out_folder,
    positive_number,
    whole_number,
)
from ._cmd_chart import add_fetch_options, check_venues, venue_label
from ._errors import run_guarded
from .vocab import DENSITY_WEIGHTS, MODES, path_under, quote_currency

__all__ = ["register"]

EXAMPLES = """examples:
  liqlevels live BTC/USDT:USDT
  liqlevels live ETH/USDT:USDT --exchange bybit --timeframe 1m --trades gross_value
  liqlevels live BTC/USDT:USDT --record ~/liquidations --alert-within 0.5 --duration 3600
  liqlevels live BTC/USDT:USDT --heatmap --weight notional
  liqlevels live BTC/USDT:USDT --exchanges binanceusdm,bybit,okx
"""


def register(subparsers: Any) -> None:
    """Add ``live``."""
    live = subparsers.add_parser(
        "live",
        description="Warm up from the cache and REST (the same bars `liqlevels chart` "
        "draws), then follow the exchange's websockets: the forming candle, lines born and "
        "ended, the density of the live lines, the trade-based map (--trades) and realised "
        "liquidations as markers, on a page served on 127.0.0.1. Ends on Ctrl-C or "
        "--duration, writing NAME.html, NAME.png and NAME-levels.csv to --out.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    live.add_argument("symbol", help="ccxt unified symbol, e.g. BTC/USDT:USDT")
    add_fetch_options(live, default_timeframe="5m", live=True)
    add_method_options(live)
    _add_live_options(live)
    live.set_defaults(func=run_guarded(_run_live))


def _add_live_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("live")
    group.add_argument("--trades", choices=MODES, metavar="MODE",
                       help="also build the trade-based map from the trade stream: "
                       f"{', '.join(MODES)} (off)")
    group.add_argument("--trade-threshold", type=float,
                       help="the --trades mode's threshold (its default)")
    group.add_argument("--trade-leverages", type=number_list(int, "whole numbers"),
                       default=(10, 25, 50, 100), help="trade map leverages (10,25,50,100)")
    group.add_argument("--record", type=out_folder, metavar="DIR",
                       help="append realised liquidations to parquet files (one per day)")
    group.add_argument("--alert-within", type=positive_number("percent"), metavar="PCT",
                       help="print an alert (and a JSON line to --out) when price comes "
                       "within PCT percent of the densest live cluster")
    group.add_argument("--duration", type=positive_number("seconds"), metavar="S",
                       help="stop after S seconds (default: until Ctrl-C)")
    group.add_argument("--bins", type=whole_number(1, 10_000), default=150,
                       help="density histogram bins (150)")
    group.add_argument("--weight", default="count", choices=DENSITY_WEIGHTS,
                       help="what each live line adds to the density histogram and the "
                       "heatmap: 1 (count), its OI change in coins (oi_delta) or in USD "
                       "(notional) (count)")
    group.add_argument("--heatmap", action="store_true",
                       help="also draw the live lines per time and price bin behind the "
                       "candles, a column added with every bar")
    group.add_argument("--max-lines", type=whole_number(0), default=500,
                       help="newest lines in the final chart; 0 draws all (500)")
    group.add_argument("--out", type=out_folder, default=Path("liqlevels-out"),
                       help="folder for the final files and alerts (./liqlevels-out)")
    group.add_argument("--name", type=file_stem, help="file-name stem (symbol and timeframe)")
    group.add_argument("--port", type=whole_number(0, 65535), default=0,
                       help="the page's port on 127.0.0.1 (0: any free port)")
    group.add_argument("--no-browser", action="store_true",
                       help="do not open the page in a browser (print its address only)")
    group.add_argument("--no-png", action="store_true", help="skip the final PNG")


def _trade_map(args: argparse.Namespace) -> Any:
    if args.trades is None:
        return None
    from .indicator import LiveTradeMap

    threshold: float | int | None = args.trade_threshold
    if args.trades == "top_n" and threshold is not None and float(threshold).is_integer():
        threshold = int(threshold)
    try:
        return LiveTradeMap(mode=args.trades, threshold=threshold,
                            leverages=args.trade_leverages)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"--trades {args.trades}: {exc}") from None


def _since(args: argparse.Namespace) -> pd.Timestamp:
    if args.since is not None:
        return args.since
    from .feeds import timeframe_seconds

    step = pd.Timedelta(seconds=timeframe_seconds(args.timeframe))
    return pd.Timestamp.now(tz="UTC").floor(step) - args.bars * step


def _run_live(args: argparse.Namespace) -> int:
    from ._live_state import LiveState

    options = method_options(args)  # every bad flag fails before any connection
    check_venues(args)
    state = LiveState(options, bins=args.bins, trade_map=_trade_map(args),
                      alert_within=args.alert_within, weight=args.weight,
                      heatmap=args.heatmap)
    name = args.name or safe_name(args.symbol, args.timeframe)
    alerts_path = path_under(args.out, f"{name}-alerts.jsonl", what="--out")
    return asyncio.run(_live(args, state, name, alerts_path))


async def _live(args: argparse.Namespace, state: Any, name: str, alerts_path: Path) -> int:
    from . import charts
    from ._live import StatusLine, run_live, write_alert
    from .feeds import LiquidationLog, LiveFeed

    venues = tuple(args.exchanges or (args.exchange,))
    feed = LiveFeed(venues[0], args.symbol, args.timeframe, since=_since(args),
                    cache_dir=args.cache_dir, trades=args.trades is not None,
                    liquidations=True, api_url=args.api_url, ws_url=args.ws_url,
                    venues=venues[1:])
    log = page = None
    try:
        # the record folder is checked (and locked) before anything connects
        log = LiquidationLog(args.record) if args.record is not None else None
        candles = await feed.history()
        if candles.empty:
            raise ValueError(f"{venue_label(args)} returned no bars for {args.symbol} "
                             f"{args.timeframe} to warm up from; try --since or --bars")
        state.warm_up(candles)
        if args.heatmap:  # blocks a trader reads (about 150 over the warm-up's range)
            state.heat_bin = chart_bin_size(candles) or state.heat_bin
        label = f"{args.symbol} {args.timeframe} ({venue_label(args)}) live"
        scene = charts.Scene(candles, state.levels(),
                             profiles=[density_layer(state.density(args.weight), args.weight)],
                             symbol=label, max_lines=args.max_lines or None,
                             price_unit=quote_currency(args.symbol),
                             heatmap=heatmap_frame(state.levels(), candles.index, args.weight,
                                                   bin_size=state.heat_bin)
                             if args.heatmap else None)
        page = charts.LivePage(scene, max_bars=max(2 * len(candles), 5_000),
                               max_lines=args.max_lines or None)
        url = await page.start()
        print(f"live page: {url}  (Ctrl-C to stop)", flush=True)
        if not args.no_browser:
            webbrowser.open(url)
        args.out.mkdir(parents=True, exist_ok=True)

        def alert(found: Any) -> None:
            print(found.text(), flush=True)
            write_alert(alerts_path, found)

        run = await run_live(feed, state, page=page, log=log, status=StatusLine(),
                             duration=args.duration, on_alert=alert,
                             draw_density=lambda dens: density_layer(dens, args.weight))
    finally:
        await feed.close()
        if page is not None:
            await page.stop()
        if log is not None:
            log.close()
    print(f"stopped ({run.reason}): {run.bars} bar updates, {run.trades} trades, "
          f"{run.liquidations} liquidations, {len(run.alerts)} alerts")
    return _finish(args, state, name)


def _finish(args: argparse.Namespace, state: Any, name: str) -> int:
    candles = state.candles()
    outputs = render(candles, out_dir=args.out, name=name,
                     symbol=f"{args.symbol} {args.timeframe} ({venue_label(args)})",
                     options=state.stream.options, bins=args.bins, weight=args.weight,
                     max_lines=args.max_lines or None, png=not args.no_png,
                     levels=state.levels(), heatmap=args.heatmap,
                     price_unit=quote_currency(args.symbol))
    live = int(outputs.levels["end"].isna().sum())
    print(f"{len(candles)} bars {candles.index[0]} .. {candles.index[-1]}: "
          f"{len(outputs.levels)} lines, {live} still live")
    trade_map = state.trade_levels_map()
    if trade_map is not None:
        path = path_under(args.out, f"{name}-map.csv", what="--out")
        trade_map.to_csv(path, index=False)
        print(f"wrote {path}")
    for path in (outputs.html, outputs.png, outputs.csv):
        if path is not None:
            print(f"wrote {path}")
    for note in outputs.notes:
        print(f"note: {note}", file=sys.stderr)
    return 0
