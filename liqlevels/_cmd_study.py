"""``liqlevels study``: does price go to the clusters? Touch and reaction rates of the densest
live clusters against base rates, with block-bootstrap intervals (docs/study.md).

Candles come from the exchange (cached), the built-in sample (``--sample``) or a file
(``--candles``); levels from the OI method or from trades (``--method trades``: trade files
or the Binance/Bybit archives). Writes ``NAME-study.html``, ``.png``, ``.csv`` and ``.json``
(and ``NAME-study-liquidations.csv`` with ``--liquidations``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import indicator
from ._app import file_stem, safe_name
from ._args import (
    add_method_options,
    method_options,
    out_folder,
    positive_number,
    whole_number,
)
from ._cmd_chart import add_fetch_options, sample_or_fetched
from ._errors import run_guarded
from .vocab import DENSITY_WEIGHTS, path_under, safe_filename, timeframe_seconds

__all__ = ["read_candles_file", "read_liquidations_file", "register"]

EXAMPLES = """examples:
  liqlevels study --sample --bars 3000
  liqlevels study BTC/USDT:USDT --timeframe 1h --since 2026-05-01
  liqlevels study SOL/USDT:USDT --exchange okx --timeframe 15m --horizon 48 --since 2026-06-01
  liqlevels study --candles my-bars.csv --liquidations liquidations.csv --tolerance 0.2
  liqlevels study BTCUSDT --method trades --trades BTCUSDT-aggTrades-2026-06-01.zip \\
      --candles btc-1m.csv --mode top_n --threshold 200
"""

_TIME_COLUMNS = ("time", "timestamp", "ts", "datetime", "date", "open_time")
_PRICE_COLUMNS = ("open", "high", "low", "close")


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def _table(path: Path, flag: str) -> pd.DataFrame:
    """A CSV or parquet file as a frame (the error names the flag and the file)."""
    if not path.is_file():
        raise FileNotFoundError(f"{flag} {path}: no such file")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{flag} {path}: not a readable CSV or parquet file ({exc})") from None


def _times(values: pd.Series, flag: str) -> pd.DatetimeIndex:
    """UTC times from epoch numbers (s, ms, us or ns by magnitude) or time strings."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = values.to_numpy(dtype=np.float64)
        big = float(np.nanmax(np.abs(numbers))) if len(numbers) else 0.0
        unit = "ns" if big > 1e17 else "us" if big > 1e14 else "ms" if big > 1e11 else "s"
        return pd.DatetimeIndex(pd.to_datetime(values, unit=unit, utc=True))
    try:
        return pd.DatetimeIndex(pd.to_datetime(values, utc=True, format="mixed"))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{flag}: column {values.name!r} is not times ({exc})") from None


def read_candles_file(path: Path, *, need_oi: bool) -> pd.DataFrame:
    """Candles from a CSV or parquet file: a time column (``time``, ``timestamp``, ``ts``,
    ``datetime``, ``date`` or ``open_time``: bar open, epoch or text, naive = UTC), ``open,
    high, low, close``, optional ``volume`` and ``open_interest`` (needed by the OI
    method). Checked as :func:`indicator.validate_candles` checks, naming the flag."""
    flag = f"--candles {path}"
    frame = _table(path, "--candles")
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    column = next((c for c in _TIME_COLUMNS if c in frame.columns), None)
    if column is None:
        raise ValueError(f"{flag}: no time column; name the bar open time one of "
                         f"{', '.join(_TIME_COLUMNS)}")
    missing = [c for c in _PRICE_COLUMNS if c not in frame.columns]
    if need_oi and "open_interest" not in frame.columns:
        missing.append("open_interest")
    if missing:
        raise ValueError(f"{flag}: missing column(s) {', '.join(missing)} (open_interest is "
                         f"needed by --method oi; --method trades does without)")
    index = _times(frame[column], flag).rename("time")
    out = pd.DataFrame({c: pd.to_numeric(frame[c], errors="coerce").to_numpy(np.float64)
                        for c in _PRICE_COLUMNS}, index=index)
    out["volume"] = (pd.to_numeric(frame["volume"], errors="coerce").to_numpy(np.float64)
                     if "volume" in frame.columns else 0.0)
    out["open_interest"] = (pd.to_numeric(frame["open_interest"], errors="coerce")
                            .to_numpy(np.float64) if "open_interest" in frame.columns
                            else np.nan)
    indicator.validate_candles(out, name=flag)
    return out


def read_liquidations_file(path: Path, *, symbol: str | None = None) -> pd.DataFrame:
    """A realised-liquidation log: a ``LiquidationLog`` folder (``liqlevels live --record``)
    or a CSV/parquet file with ``time, side, price, notional`` (side: ``long``/``short``,
    the liquidated position)."""
    if path.is_dir():
        from .feeds import read_liquidations

        return read_liquidations(path, symbol=symbol)
    frame = _table(path, "--liquidations")
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    missing = [c for c in ("time", "side", "price", "notional") if c not in frame.columns]
    if missing:
        raise ValueError(f"--liquidations {path}: missing column(s) {', '.join(missing)}; "
                         f"it needs time, side (long/short), price, notional")
    frame["time"] = _times(frame["time"], f"--liquidations {path}")
    return frame


# --------------------------------------------------------------------------------------------
# Candles and levels
# --------------------------------------------------------------------------------------------


def _trades(args: argparse.Namespace) -> pd.DataFrame:
    """The trades of ``--trades`` files, or of the exchange's archive over the window."""
    from .feeds import archive_trades, read_trades

    fmt = "bybit" if "bybit" in args.exchange else "binance"
    if args.trades:
        frames = [read_trades(p, exchange=fmt) for p in args.trades]
    else:
        if not args.symbol:
            raise ValueError("--method trades needs --trades FILE or a SYMBOL whose archive "
                             "(binance or bybit) to read")
        now = pd.Timestamp.now(tz="UTC")
        step = pd.Timedelta(seconds=timeframe_seconds(args.timeframe))
        since = args.since or now.floor(step) - args.bars * step
        until = args.until or now
        days = math.ceil((until - since.normalize()) / pd.Timedelta(days=1))
        frames = [f for f in archive_trades(fmt, args.symbol, since, days=days,
                                            cache_dir=args.cache_dir)]
        frames = [f[(f["time"] >= since) & (f["time"] < until)] for f in frames]
    trades = pd.concat(frames, ignore_index=True).sort_values("time", kind="stable")
    if trades.empty:
        raise ValueError("--method trades: no trades in the files or the window")
    return trades.reset_index(drop=True)


def _candles(args: argparse.Namespace, trades: pd.DataFrame | None) -> tuple[pd.DataFrame, str,
                                                                              str]:
    """The candles, their label and the default file-name stem."""
    need_oi = args.method == "oi"
    if args.candles:
        candles = read_candles_file(args.candles, need_oi=need_oi)
        return candles, f"{args.candles.name}", safe_filename(args.candles.stem, "--candles")
    if trades is not None:
        candles = indicator.trade_candles(trades, args.timeframe)
        candles["open_interest"] = np.nan
        label = args.symbol or "trades"
        return candles, f"{label} {args.timeframe} (from trades)", safe_name(label,
                                                                             args.timeframe)
    return sample_or_fetched(args, or_also="--candles FILE, or ")


def _trade_levels(args: argparse.Namespace, trades: pd.DataFrame) -> pd.DataFrame:
    value: Any = args.threshold
    if args.mode == "top_n" and value is not None and float(value).is_integer():
        value = int(value)
    try:
        mode, value = indicator.check_threshold(args.mode, value, name="--threshold")
        return indicator.trade_levels(trades, mode=mode, threshold=value,
                                      leverages=args.leverages or (10, 25, 50, 100),
                                      mmr=args.mmr)
    except (TypeError, ValueError) as exc:
        message = str(exc)
        for name in ("leverages", "mmr"):
            if message.startswith(name):
                message = f"--{name}: {message}"
        raise type(exc)(message) from None


def _bands(text: str) -> tuple[tuple[float, float], ...]:
    """An argparse ``type``: ``0-0.5,0.5-1,1-2,2-5`` (percent) as fractions."""
    try:
        pairs = []
        for part in text.split(","):
            lo, hi = part.split("-")
            pairs.append((float(lo) / 100, float(hi) / 100))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not bands like 0-0.5,0.5-1,1-2,2-5 "
                                         f"(percent of the close)") from None
    for lo, hi in pairs:
        if not (math.isfinite(lo) and math.isfinite(hi) and 0 <= lo < hi <= 1):
            raise argparse.ArgumentTypeError(f"{text!r}: each band is low-high with 0 <= low < "
                                             f"high <= 100 (percent)")
    return tuple(pairs)


def _block(text: str) -> str:
    """An argparse ``type``: a duration such as 1D, 12h, 2D."""
    try:
        span = pd.Timedelta(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 1D, 12h or 2D") \
            from None
    if span <= pd.Timedelta(0):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive duration")
    return text


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def _number(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _number(v) for k, v in row.items()} for row in frame.to_dict("records")]


def _json(table: pd.DataFrame, liq: pd.DataFrame | None, verdict: list[str],
          about: dict[str, Any]) -> dict[str, Any]:
    out = {"about": about, "settings": {k: _number(v) for k, v in table.attrs.items()},
           "touch_and_reaction": _records(table), "verdict": verdict}
    if liq is not None:
        out["liquidations"] = _records(liq)
        out["liquidation_settings"] = {k: _number(v) for k, v in liq.attrs.items()}
    return out


def _paths(out: Path, name: str) -> dict[str, Path]:
    stem = safe_filename(f"{name}-study", "--name")
    return {ext: path_under(out, f"{stem}{ext}", what="--out")
            for ext in (".html", ".png", ".csv", ".json", "-liquidations.csv")}


def _print_table(table: pd.DataFrame) -> None:
    print("side   band        n   touched  base   lift     interval")
    for _, r in table.iterrows():
        band = f"{r['band_low'] * 100:g}-{r['band_high'] * 100:g}%"
        if r["n"] == 0:
            print(f"{r['side']:<6} {band:<9} {0:>5}   (no cluster in this band)")
            continue
        ci = (f"{r['ci_low'] * 100:+.1f} .. {r['ci_high'] * 100:+.1f} pp"
              if np.isfinite(r["ci_low"]) else "-")
        print(f"{r['side']:<6} {band:<9} {int(r['n']):>5}   {r['touch_rate'] * 100:5.1f}%"
              f" {r['expected_rate'] * 100:5.1f}%  {r['lift'] * 100:+5.1f} pp  {ci}")


def _run(args: argparse.Namespace) -> int:
    from . import charts

    options = None
    if args.method == "trades" and args.weight == "oi_delta":
        raise ValueError("--weight oi_delta needs OI levels; with --method trades weigh the "
                         "clusters by notional or count")
    if args.method == "oi":
        chosen = {"leverages": args.leverages} if args.leverages else {}
        options = method_options(args, **{"leverages": indicator.OIOptions().leverages,
                                          **chosen})
    liquidations = (read_liquidations_file(args.liquidations, symbol=args.symbol)
                    if args.liquidations else None)
    trades = _trades(args) if args.method == "trades" else None
    candles, label, name = _candles(args, trades)
    paths = _paths(args.out, args.name or name)
    if trades is not None:
        levels = indicator.trade_level_ends(_trade_levels(args, trades), candles)
    else:
        levels = indicator.oi_levels(candles, options=options)
    common = {"bands": args.bands, "weight": args.weight, "block": args.block,
              "n_boot": args.n_boot, "seed": args.boot_seed}
    table = indicator.study(candles, levels, horizon=args.horizon, every=args.every, **common)
    liq = None
    if liquidations is not None:
        liq = indicator.study_liquidations(candles, liquidations, levels,
                                           tolerance=args.tolerance / 100, **common)
    verdict = indicator.study_verdict(table, liq)
    span = f"{candles.index[0]:%Y-%m-%d %H:%M} .. {candles.index[-1]:%Y-%m-%d %H:%M} UTC"
    subtitle = (f"{len(candles):,} bars {span} · {args.method} method, "
                f"{len(levels):,} lines")
    report = charts.StudyReport(table, verdict, title=f"Does price go to the clusters? "
                                f"{label}", subtitle=subtitle, liquidations=liq)
    args.out.mkdir(parents=True, exist_ok=True)
    report.to_html(paths[".html"])
    table.to_csv(paths[".csv"], index=False)
    about = {"label": label, "bars": len(candles), "first": str(candles.index[0]),
             "last": str(candles.index[-1]), "method": args.method, "lines": len(levels)}
    paths[".json"].write_text(json.dumps(_json(table, liq, verdict, about), indent=2),
                              encoding="utf-8")
    print(f"{label}: {len(candles)} bars {span}, {len(levels)} lines, "
          f"{table.attrs['samples']} sampled bars in {table.attrs['blocks']} blocks")
    _print_table(table)
    for sentence in verdict:
        print(sentence)
    print(f"wrote {paths['.html']}")
    if not args.no_png:
        try:
            print(f"wrote {report.to_png(paths['.png'])}")
        except RuntimeError as exc:
            print(f"note: PNG skipped: {exc}", file=sys.stderr)
    print(f"wrote {paths['.csv']}")
    print(f"wrote {paths['.json']}")
    if liq is not None:
        liq.to_csv(paths["-liquidations.csv"], index=False)
        print(f"wrote {paths['-liquidations.csv']}")
    return 0


def register(subparsers: Any) -> None:
    """Add ``study``."""
    parser = subparsers.add_parser(
        "study",
        description="At every bar, the densest live cluster on each side in each distance "
        "band; how often price touches it within --horizon bars against how often it moves "
        "that far (in ATRs) anyway, whether it turns back after, and optionally where "
        "realised liquidations fell. Block-bootstrap intervals; a verdict that claims no "
        "more than they allow. Writes NAME-study.html, .png, .csv, .json (docs/study.md).",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("symbol", nargs="?", help="ccxt unified symbol, e.g. BTC/USDT:USDT")
    add_fetch_options(parser)
    data = parser.add_argument_group("data")
    data.add_argument("--sample", action="store_true",
                      help="the built-in synthetic sample instead of a symbol (no network)")
    data.add_argument("--seed", type=whole_number(0, 2**32 - 1), default=7,
                      help="random seed of --sample (7)")
    data.add_argument("--candles", type=Path,
                      help="your own bars: CSV or parquet with a time column, open, high, low, "
                      "close, volume and (for --method oi) open_interest")
    data.add_argument("--method", choices=("oi", "trades"), default="oi",
                      help="levels from OI jumps (oi) or from large trades (trades) (oi)")
    data.add_argument("--trades", type=Path, action="append",
                      help="--method trades: an aggTrades (binance) or trading (bybit) archive "
                      "file; repeat for more days (default: the exchange's archive)")
    data.add_argument("--mode", default="gross_value", choices=("gross_value", "top_n",
                                                                 "portion"),
                      help="--method trades: which trades count (gross_value)")
    data.add_argument("--threshold", type=float,
                      help="--method trades: notional (100000), count (100) or share (0.01)")
    data.add_argument("--liquidations", type=Path,
                      help="realised liquidations: a `live --record` folder or a CSV/parquet "
                      "with time, side (long/short), price, notional")
    add_method_options(parser, leverages_help="leverages (5,10,25,50,100 for oi; "
                       "10,25,50,100 for trades)")
    study = parser.add_argument_group("study")
    study.add_argument("--horizon", type=whole_number(1, 10_000), default=24,
                       help="bars within which a touch counts (24)")
    study.add_argument("--bands", type=_bands, default=indicator.STUDY_BANDS,
                       help="distance bands, percent of the close (0-0.5,0.5-1,1-2,2-5)")
    study.add_argument("--weight", choices=DENSITY_WEIGHTS, default="notional",
                       help="what makes a cluster dense (notional)")
    study.add_argument("--every", type=whole_number(1, 1_000_000), default=1,
                       help="sample every N-th bar (1)")
    study.add_argument("--block", type=_block, default="1D",
                       help="bootstrap block length (1D)")
    study.add_argument("--n-boot", type=whole_number(0, 100_000), default=1000,
                       help="bootstrap draws (1000)")
    study.add_argument("--boot-seed", type=whole_number(0, 2**32 - 1), default=0,
                       help="seed of the bootstrap draws (0)")
    study.add_argument("--tolerance", type=positive_number("percent"), default=0.2,
                       help="--liquidations: hit window around a cluster, percent of the "
                       "close (0.2)")
    study.add_argument("--out", type=out_folder, default=Path("liqlevels-out"),
                       help="output folder (./liqlevels-out)")
    study.add_argument("--name", type=file_stem,
                       help="file-name stem before -study (from the symbol and timeframe)")
    study.add_argument("--no-png", action="store_true", help="skip the PNG screenshot")
    parser.set_defaults(func=run_guarded(_run))
