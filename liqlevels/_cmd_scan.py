"""``liqlevels scan``: every symbol of an exchange ranked by its nearest dense liquidation cluster.

The fetch phase goes through the cache from one rate-limited async ccxt client per exchange;
the compute phase runs on Dask (a ``LocalCluster`` started and closed here, or the cluster at
``--scheduler``). Writes ``NAME.csv``, ``NAME.parquet``, ``NAME.html`` (small charts of the
top rows) and ``NAME.png``, and prints the top of the table.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from ._app import file_stem
from ._args import (
    add_method_options,
    base_url,
    check_window,
    method_options,
    out_folder,
    positive_number,
    timeframe,
    utc_time,
    whole_number,
)
from ._cmd_chart import exchange_list
from ._errors import run_guarded
from .vocab import MODES, path_under, safe_filename

__all__ = ["register", "scheduler_address", "symbol_list"]

EXAMPLES = """examples:
  liqlevels scan --top 50
  liqlevels scan --symbols BTC/USDT:USDT,ETH/USDT:USDT,SOL/USDT:USDT --timeframe 15m
  liqlevels scan --exchanges binanceusdm,bybit --top 100 --near 3
  liqlevels scan --method trades --top 30 --trade-mode top_n --trade-threshold 200
  liqlevels scan --scheduler tcp://10.0.0.5:8786 --cache-dir /mnt/shared/liqlevels
"""


def symbol_list(text: str) -> tuple[str, ...]:
    """An argparse ``type`` for ``--symbols``: ccxt symbols separated by commas, each once."""
    symbols = tuple(part.strip() for part in text.split(",") if part.strip())
    if not symbols:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give ccxt symbols separated by commas, e.g. BTC/USDT:USDT,ETH/USDT:USDT")
    repeated = sorted({s for s in symbols if symbols.count(s) > 1})
    if repeated:
        raise argparse.ArgumentTypeError(f"{text!r} names {', '.join(repeated)} twice")
    return symbols


def scheduler_address(text: str) -> str:
    """An argparse ``type`` for ``--scheduler``: ``tcp://HOST:PORT`` (or tls://, ucx://)."""
    scheme, _, rest = text.partition("://")
    host, _, port = rest.rpartition(":")
    if scheme not in ("tcp", "tls", "ucx", "inproc") or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a Dask scheduler address like tcp://10.0.0.5:8786")
    return text


def _share(text: str) -> float:
    value = positive_number("a share")(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"{text} is out of range: give a share in (0, 1]")
    return value


def _min_usd(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of USD") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"{text} is out of range: give USD >= 0")
    return value


def _fmt(value: Any, spec: str) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return format(number, spec) if math.isfinite(number) else "-"


def _show(table: pd.DataFrame, rows: int, near: float, console: Any = None) -> None:
    """The top ``rows`` rows as a rich table on stdout (or ``console``)."""
    from rich.console import Console
    from rich.table import Table

    from ._scan import _usd

    several = table["exchange"].nunique() > 1
    out = Table(title=f"nearest dense liquidation clusters ({len(table)} symbols)",
                title_justify="left", header_style="bold")
    for name, justify in (("#", "right"), ("symbol", "left"), ("last", "right"),
                          ("long at", "right"), ("long %", "right"), ("long USD", "right"),
                          ("short at", "right"), ("short %", "right"), ("short USD", "right"),
                          ("live", "right"), (f"largest within {near:g}%", "left"),
                          ("error", "left")):
        out.add_column(name, justify=justify, no_wrap=name != "error",  # type: ignore[arg-type]
                       max_width=60 if name == "error" else None)
    for _, row in table.head(rows).iterrows():
        largest = "" if not row["near_side"] else (
            f"{row['near_side']} {_fmt(row['near_distance_pct'], '.2f')}% "
            f"{_usd(row['near_usd'])}")
        symbol = f"{row['symbol']} ({row['exchange']})" if several else str(row["symbol"])
        out.add_row(
            str(row["rank"]), symbol, _fmt(row["last_price"], ".6g"),
            _fmt(row["long_price"], ".6g"), f"[green]{_fmt(row['long_distance_pct'], '.2f')}",
            _usd(row["long_usd"]), _fmt(row["short_price"], ".6g"),
            f"[magenta]{_fmt(row['short_distance_pct'], '.2f')}", _usd(row["short_usd"]),
            str(row["live_lines"]), largest, f"[red]{row['error']}" if row["error"] else "")
    (console or Console(width=max(160, Console().width))).print(out)


def _paths(out: Path, name: str) -> dict[str, Path]:
    stem = safe_filename(name, "--name")
    return {ext: path_under(out, f"{stem}.{ext}", what="--out")
            for ext in ("csv", "parquet", "html", "png", "notes.txt")}


def _write(args: argparse.Namespace, result: Any, options: Any, rule: Any) -> list[str]:
    """The table as CSV and parquet, the page of small charts and its PNG; what was written
    and any notes."""
    from . import charts
    from ._scan import scan_cards

    venues = "+".join(args.exchanges or (args.exchange,))
    trades = "-trades" if args.method == "trades" else ""
    paths = _paths(args.out, args.name or f"scan-{venues}-{args.timeframe}{trades}")
    args.out.mkdir(parents=True, exist_ok=True)
    table = result.table
    table.to_csv(paths["csv"], index=False)
    table.to_parquet(paths["parquet"], index=False)
    said = [f"wrote {paths['csv']}", f"wrote {paths['parquet']}"]
    cards = scan_cards(result, count=args.charts, options=options, rule=rule)
    what = "live liquidation lines" if not trades else (
        f"live trade-based lines ({', '.join(result.trades.days)})")
    subtitle = (f"{venues} {args.timeframe}, {len(table)} symbols, ranked by the nearest dense "
                f"cluster of {what}; top {len(cards)} shown")
    page = charts.scan_page(cards, title="liqlevels scan", subtitle=subtitle)
    paths["html"].write_text(page, encoding="utf-8")
    said.append(f"wrote {paths['html']}")
    if not args.no_png:
        try:
            said.append(f"wrote {charts.scan_png(paths['html'], paths['png'])}")
        except RuntimeError as exc:
            said.append(f"note: PNG skipped: {exc}")
    if result.notes:
        paths["notes.txt"].write_text("\n".join(result.notes) + "\n", encoding="utf-8")
        said.append(f"note: {len(result.notes)} data notes (spans not cached, coarse open "
                    f"interest) in {paths['notes.txt']}")
    return said


def _trade_threshold(args: argparse.Namespace) -> float | int | None:
    """``--trade-threshold`` checked for ``--trade-mode``; ``--method trades`` on an exchange
    without a trade archive refused (both before any download or cluster)."""
    from ._scan import check_trade_exchanges
    from .indicator import check_threshold

    if args.method != "trades":
        given = [f for f, v in (("--trade-threshold", args.trade_threshold),
                                ("--archive-url", args.archive_url)) if v is not None]
        if given:
            raise ValueError(f"{given[0]} is for --method trades (this scan uses "
                             f"--method {args.method})")
        return None
    check_trade_exchanges(args.exchanges or (args.exchange,), flag="--method trades")
    value: float | int | None = args.trade_threshold
    if args.trade_mode == "top_n" and value is not None and float(value).is_integer():
        value = int(value)  # 200.0 from the command line means 200 trades
    return check_threshold(args.trade_mode, value, name="--trade-threshold")[1]


def _run(args: argparse.Namespace) -> int:
    from ._scan import ClusterRule, run_scan

    options = method_options(args)  # a bad option fails before any download
    check_window(args)
    if args.exchanges and args.api_url:
        raise ValueError(
            f"--api-url {args.api_url} with --exchanges {','.join(args.exchanges)}: one URL "
            f"cannot serve several exchanges; drop --api-url, or use --exchange with one venue")
    rule = ClusterRule(bin_pct=args.bin_pct, dense=args.dense, near=args.near,
                       min_usd=args.min_usd)
    threshold = _trade_threshold(args)
    result = run_scan(
        list(args.symbols) if args.symbols else None,
        exchanges=tuple(args.exchanges or (args.exchange,)), top=args.top,
        timeframe=args.timeframe, since=args.since, until=args.until, bars=args.bars,
        options=options, rule=rule, scheduler=args.scheduler, workers=args.workers,
        cache_dir=args.cache_dir, api_url=args.api_url,
        ccxt_options={"rateLimit": args.rate_limit} if args.rate_limit else None,
        concurrency=args.concurrency, batch_size=args.batch_size, method=args.method,
        trade_days=args.trade_days, trade_mode=args.trade_mode, trade_threshold=threshold,
        archive_url=args.archive_url)
    table = result.table
    _show(table, args.rows, args.near)
    failed = int(table["error"].ne("").sum())
    t = result.timings
    print(f"{len(table)} symbols, {failed} failed (see the error column); "
          f"{result.fetched} fetched, {len(table) - failed - result.fetched} from the cache; "
          f"fetch {t.get('fetch_s', 0):.1f} s, compute {t.get('compute_s', 0):.1f} s, "
          f"cluster start {t.get('cluster_s', 0):.1f} s")
    for line in _write(args, result, options, rule):
        print(line, file=sys.stderr if line.startswith("note:") else sys.stdout)
    return 0


def register(subparsers: Any) -> None:
    """Add ``scan``."""
    parser = subparsers.add_parser(
        "scan",
        description="Fetch candles and open interest for many symbols (through the cache, "
        "from one rate-limited client per exchange), compute each one's OI-delta levels on "
        "Dask, and rank the symbols by the nearest dense cluster of live liquidation lines. "
        "Writes NAME.csv, NAME.parquet, NAME.html (small charts of the top rows) and "
        "NAME.png. See docs/scan.md.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--exchange", default="binanceusdm",
                       help="ccxt exchange id (binanceusdm; also bybit, okx, ...)")
    where.add_argument("--exchanges", type=exchange_list,
                       help="several ccxt ids, e.g. binanceusdm,bybit: each scanned, one row "
                       "per exchange and symbol")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--symbols", type=symbol_list,
                       help="ccxt symbols, e.g. BTC/USDT:USDT,ETH/USDT:USDT (default: every "
                       "active perpetual)")
    which.add_argument("--top", type=whole_number(1), metavar="N",
                       help="the N perpetuals with the largest 24 h quote volume")
    parser.add_argument("--timeframe", type=timeframe, default="1h",
                        help="bar length: 1m, 5m, 1h, ... (1h)")
    parser.add_argument("--since", type=utc_time, help="first bar (UTC), e.g. 2026-06-01")
    parser.add_argument("--until", type=utc_time,
                        help="end of the range (UTC, exclusive); default now")
    parser.add_argument("--bars", type=whole_number(1, 5_000_000), default=600,
                        help="without --since: this many bars back from now (600)")
    add_method_options(parser)
    trades = parser.add_argument_group("trade-based levels (--method trades; docs/scan.md)")
    trades.add_argument("--method", default="oi", choices=("oi", "trades"),
                        help="oi: OI-delta levels of the candles; trades: levels of the large "
                        "taker trades of the last complete UTC day(s) from the exchange's "
                        "trade archive (binanceusdm, bybit) (oi)")
    trades.add_argument("--trade-days", type=whole_number(1, 31), default=1, metavar="N",
                        help="complete UTC days before today read from the archive (1)")
    trades.add_argument("--trade-mode", default="gross_value", choices=MODES,
                        help="which trades count: notional >= threshold, the threshold "
                        "largest per side, or the largest share per side (gross_value)")
    trades.add_argument("--trade-threshold", type=float,
                        help="the --trade-mode's threshold (its default: 100000, 100, 0.01)")
    trades.add_argument("--archive-url", type=base_url("http", "https"),
                        help="the trade archives' base URL (a mirror); default "
                        "data.binance.vision / public.bybit.com")
    clusters = parser.add_argument_group("clusters (docs/scan.md)")
    clusters.add_argument("--bin-pct", type=positive_number("percent"), default=0.5,
                          help="cluster bin width, percent of the last close (0.5)")
    clusters.add_argument("--dense", type=_share, default=0.25,
                          help="a bin is dense from this share of its side's heaviest (0.25)")
    clusters.add_argument("--near", type=positive_number("percent"), default=5.0,
                          help="the largest cluster within this percent is shown (5)")
    clusters.add_argument("--min-usd", type=_min_usd, default=0.0,
                          help="a dense bin holds at least this notional, USD (0)")
    dask = parser.add_argument_group("compute (Dask)")
    dask.add_argument("--scheduler", type=scheduler_address,
                      help="a running Dask scheduler, e.g. tcp://10.0.0.5:8786 (its workers "
                      "must see --cache-dir); default a local cluster")
    dask.add_argument("--workers", type=whole_number(1, 1024),
                      help="processes of the local cluster (one per core)")
    dask.add_argument("--batch-size", type=whole_number(1),
                      help="symbols per Dask task (about four tasks per worker)")
    fetch = parser.add_argument_group("fetch")
    fetch.add_argument("--cache-dir", type=Path,
                       help="cache folder (the user cache dir); on a multi-machine cluster, "
                       "a path every worker sees")
    fetch.add_argument("--api-url", type=base_url("http", "https"),
                       help="send the exchange's REST requests to this base URL instead")
    fetch.add_argument("--concurrency", type=whole_number(1, 256), default=8,
                       help="symbols fetched at once; the rate limiter spaces them (8)")
    fetch.add_argument("--rate-limit", type=whole_number(1, 60_000), metavar="MS",
                       help="milliseconds between requests (the exchange's ccxt default)")
    out = parser.add_argument_group("output")
    out.add_argument("--out", type=out_folder, default=Path("liqlevels-out"),
                     help="output folder (./liqlevels-out)")
    out.add_argument("--name", type=file_stem,
                     help="file-name stem (scan-EXCHANGE-TIMEFRAME)")
    out.add_argument("--rows", type=whole_number(0), default=25,
                     help="rows shown in the terminal (25)")
    out.add_argument("--charts", type=whole_number(0, 200), default=12,
                     help="small charts on the page, of the top rows (12)")
    out.add_argument("--no-png", action="store_true", help="skip the PNG screenshot")
    parser.set_defaults(func=run_guarded(_run))
