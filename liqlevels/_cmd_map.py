"""``liqlevels map``: the trade-based liquidation map from the exchanges' trade archives."""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ._args import number_list
from ._errors import run_guarded
from .indicator import check_threshold, check_trade_options

__all__ = ["register"]

EXAMPLES = """examples:
  liqlevels map BTCUSDT --exchange binance --since "2026-06-01 00:00" --until "2026-06-01 06:00"
  liqlevels map ETHUSDT --exchange bybit --since 2026-06-01 --until 2026-06-02 --mode top_n \\
      --threshold 200
  liqlevels map BTCUSDT --since 2026-06-01 --until 2026-06-01T12:00 --mode portion \\
      --threshold 0.02 --survivors-only --candles
  liqlevels map BTCUSDT --exchanges binance,bybit --since 2026-06-01 --until 2026-06-02
"""

def _archive_list(text: str) -> tuple[str, ...]:
    """An argparse ``type`` for ``--exchanges``: two or more archives, each once."""
    from ._mapping import EXCHANGES

    names = tuple(part.strip().lower() for part in text.split(",") if part.strip())
    unknown = [n for n in names if n not in EXCHANGES]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"{unknown[0]!r} has no trade archive here; give some of {','.join(EXCHANGES)}")
    if len(names) < 2 or len(set(names)) < len(names):
        raise argparse.ArgumentTypeError(
            f"{text!r}: give two or more archives, each once, e.g. binance,bybit (one: "
            f"--exchange)")
    return names


def _threshold_arguments(mode: str, threshold: float | None) -> dict[str, Any]:
    """``--threshold`` checked for ``--mode`` (errors name the flag), as the keywords of
    ``HistoricalMapping``'s methods."""
    value: float | int | None = threshold
    if mode == "top_n" and threshold is not None and float(threshold).is_integer():
        value = int(threshold)  # 200.0 from the command line means 200 trades
    mode, value = check_threshold(mode, value, name="--threshold")
    return {"mode": mode, f"threshold_{mode}": value}


@contextmanager
def _flag(flag: str, python_name: str | None = None) -> Iterator[None]:
    """A ``TypeError``/``ValueError`` raised inside names ``flag`` first (only those that
    start with ``python_name`` when it is given)."""
    try:
        yield
    except (TypeError, ValueError) as exc:
        if python_name is not None and not str(exc).startswith(python_name):
            raise
        raise type(exc)(f"{flag}: {exc}") from None


def _check_options(args: argparse.Namespace) -> dict[str, Any]:
    """The map's options, checked before anything is read or fetched; errors name the flag."""
    chosen = _threshold_arguments(args.mode, args.threshold)
    with _flag("--leverages", "leverages"), _flag("--mmr", "mmr"):
        check_trade_options(args.leverages, args.mmr)
    size = args.bin_size
    if size is not None and not (math.isfinite(size) and size > 0):
        raise ValueError(f"--bin-size {size:g}: a bin is a finite price step > 0, e.g. 10")
    return chosen


def _computed(run: Callable[[], Any]) -> Any:
    """``run()``; a bin size the data cannot take (too fine for the levels' span) names
    ``--bin-size``."""
    with _flag("--bin-size", "bin_size="):
        return run()


def _run_map(args: argparse.Namespace) -> int:
    from ._mapping import HistoricalMapping

    chosen = _check_options(args)
    mapping = HistoricalMapping(
        args.since, args.until, args.symbol, args.exchanges or args.exchange, out_dir=args.out,
        cache_dir=args.cache_dir, base_url=args.archive_url, leverages=args.leverages,
        mmr=args.mmr, survivors_only=args.survivors_only, bin_size=args.bin_size,
        png=not args.no_png,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        the_map = _computed(lambda: mapping.liquidation_map_from_historical(**chosen))
        the_depth = _computed(lambda: mapping.liquidation_map_depth_from_historical(**chosen))
        if args.candles:
            _computed(lambda: mapping.liquidation_map_with_candles(**chosen))
    print(f"{mapping.exchange} {args.symbol} {mapping.start} .. {mapping.end}: "
          f"{len(mapping.levels)} levels, current price {mapping.price:g}, "
          f"{len(the_map)} map cells, {len(the_depth)} depth rows")
    for path in getattr(mapping, "files", []):
        print(f"wrote {path}")
    for warning in caught:
        print(f"note: {warning.message}", file=sys.stderr)
    return 0


def register(subparsers: Any) -> None:
    """Add ``map``."""
    parser = subparsers.add_parser(
        "map",
        description="Read the window's large taker trades from the exchange's public trade "
        "archive (downloaded once, cached), place them at their liquidation prices and write "
        "the map and its cumulative depth as HTML, PNG and CSV.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("symbol", help="the archive's symbol, e.g. BTCUSDT")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--exchange", default="binance", help="binance or bybit (binance)")
    where.add_argument("--exchanges", type=_archive_list,
                       help="both archives, e.g. binance,bybit: their trades merged in time "
                       "order (equal times keep this order) and mapped as one")
    # --since/--until as everywhere else; --start/--end (the seed's words) still work.
    parser.add_argument("--since", "--start", dest="since", required=True,
                        help="window start, UTC (e.g. 2026-06-01)")
    parser.add_argument("--until", "--end", dest="until", required=True,
                        help="window end, UTC, exclusive")
    parser.add_argument("--mode", default="gross_value",
                        choices=("gross_value", "top_n", "portion"),
                        help="which trades count (gross_value)")
    parser.add_argument("--threshold", type=float,
                        help="the mode's threshold: notional in quote currency (100000), "
                        "a count (100) or a share (0.01)")
    parser.add_argument("--leverages", type=number_list(int, "whole numbers"),
                        default=(10, 25, 50, 100), help="leverages (10,25,50,100)")
    parser.add_argument("--mmr", type=float, default=0.0, help="maintenance margin rate (0)")
    parser.add_argument("--bin-size", type=float,
                        help="price bin (default: the rule of docs/method.md section 3)")
    parser.add_argument("--survivors-only", action="store_true",
                        help="drop levels that later trades in the window already crossed")
    parser.add_argument("--candles", action="store_true",
                        help="also draw the map as a profile beside the window's candles")
    parser.add_argument("--out", type=Path, default=Path("liqlevels-out"),
                        help="output folder (./liqlevels-out)")
    parser.add_argument("--cache-dir", type=Path, help="archive cache folder")
    parser.add_argument("--archive-url", help="the archive's base URL (a mirror)")
    parser.add_argument("--no-png", action="store_true", help="skip the PNG screenshots")
    parser.set_defaults(func=run_guarded(_run_map))
