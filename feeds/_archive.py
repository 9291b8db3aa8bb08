"""The exchanges' history archives: addresses, cached downloads, trades and candles.

Binance: ``https://data.binance.vision/data/futures/um/{daily,monthly}/{kind}/SYMBOL/...``
with a ``.CHECKSUM`` (SHA-256) beside each zip. Bybit:
``https://public.bybit.com/trading/SYMBOL/SYMBOL<YYYY-MM-DD>.csv.gz``. Files land under
``<cache_dir>/archives/<exchange>/`` mirroring the archive's paths, and stay there.
"""

from __future__ import annotations

import contextlib
import functools
import re
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..indicator import validate_candles
from ..vocab import (
    ArchiveKind,
    FeedWarning,
    check_choice,
    path_under,
    safe_filename,
    timeframe_ms,
    to_ms,
)
from ._cache import cache_root
from ._config import settings
from ._download import NotInArchiveError, download
from ._join import candles_frame, join_open_interest
from ._readers import (
    BYBIT_TRADES_COLUMNS,
    archive_exchange,
    gzip_csv_problem,
    read_klines,
    read_metrics,
    read_trades,
)
from ._time import DAY, align_ceil, day_ms, fmt_ms

__all__ = [
    "archive_candles",
    "archive_symbol",
    "archive_trades",
    "binance_metrics_rows",
    "download_archive",
]

_KINDS = {"binance": ("aggTrades", "klines", "metrics"), "bybit": ("trades",)}
_BINANCE_INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d")
_METRICS_STEP = 300_000  # metrics: a snapshot every 5 minutes
_BYBIT_CHECK = functools.partial(gzip_csv_problem, columns=BYBIT_TRADES_COLUMNS)


def archive_symbol(symbol: Any) -> str:
    """The archives' symbol: ``"BTC/USDT:USDT"`` -> ``"BTCUSDT"``; ids pass through."""
    if not isinstance(symbol, str) or not symbol:
        raise TypeError(f"symbol must be a string such as 'BTC/USDT:USDT' or 'BTCUSDT', "
                        f"got {symbol!r}")
    match = re.fullmatch(r"([A-Za-z0-9]+)/([A-Za-z0-9]+)(?::[A-Za-z0-9]+)?(?:-(\d{6}))?", symbol)
    if not match:
        return safe_filename(symbol, "symbol").upper()
    base, quote, expiry = match.groups()
    return f"{base}{quote}".upper() + (f"_{expiry}" if expiry else "")


def _period(period: Any) -> tuple[str, bool]:
    """``("2024-01-01", False)`` for a day, ``("2024-01", True)`` for a month."""
    if isinstance(period, str) and re.fullmatch(r"\d{4}-\d{2}", period.strip()):
        return period.strip(), True
    ms = day_ms(period, "period")
    return pd.Timestamp(ms, unit="ms").strftime("%Y-%m-%d"), False


def _archive_path(name: str, kind: str, symbol: str, period: str, monthly: bool,
                  timeframe: str | None) -> str:
    if name == "bybit":
        if monthly:
            raise ValueError("period: Bybit's trading archive has daily files only")
        return f"trading/{symbol}/{symbol}{period}.csv.gz"
    cadence = "monthly" if monthly else "daily"
    if kind == "klines":
        tf = check_choice("timeframe", timeframe, _BINANCE_INTERVALS)
        return f"data/futures/um/{cadence}/klines/{symbol}/{tf}/{symbol}-{tf}-{period}.zip"
    if kind == "metrics" and monthly:
        raise ValueError("period: Binance's metrics archive has daily files only")
    return f"data/futures/um/{cadence}/{kind}/{symbol}/{symbol}-{kind}-{period}.zip"


@contextlib.contextmanager
def _archive_dir(root: Path | None) -> Iterator[Path]:
    """``root``, or a temporary directory removed afterwards when there is no cache."""
    if root is not None:
        yield root
        return
    with tempfile.TemporaryDirectory(prefix="liqlevels-") as tmp:
        yield Path(tmp)


def _download(name: str, rel: str, root: Path, base_url: str | None) -> Path:
    base = (base_url or settings.archive_urls[name]).rstrip("/")
    url = f"{base}/{rel}"
    checksum = f"{url}.CHECKSUM" if name == "binance" else None  # Bybit publishes none:
    verify = _BYBIT_CHECK if name == "bybit" else None  # a whole gzip with the trades header
    dest = path_under(root, "archives", name, *rel.split("/"), what="cache_dir")
    return download(url, dest, checksum_url=checksum, verify=verify)


def download_archive(exchange: Any, kind: ArchiveKind, symbol: str, period: Any, *,
                     timeframe: str | None = None, cache_dir: Any = None,
                     base_url: str | None = None) -> Path:
    """Path of one archive file, downloaded (resumably, checksum-verified) unless cached.

    Parameters
    ----------
    exchange : {"binance", "binanceusdm", "bybit"} or ccxt.Exchange
        Whose archive.
    kind : {"aggTrades", "klines", "metrics"} for Binance, {"trades"} for Bybit
        Which data set.
    symbol : str
        ``"BTC/USDT:USDT"`` or the archive's ``"BTCUSDT"``.
    period : str, date or Timestamp
        A UTC day (``"2024-03-01"``) or, for Binance klines and aggTrades, a month
        (``"2024-03"``).
    timeframe : str, optional
        Bar length of Binance klines (``"1m"`` ... ``"1d"``).
    cache_dir : str or os.PathLike, optional
        Cache root (default the user cache directory); files go under ``archives/``.
    base_url : str, optional
        The archive's address; default ``feeds.settings.archive_urls[exchange]``.

    Raises
    ------
    FeedError
        Not in the archive (recent days appear the next day, months a few days after they
        end), a download that keeps failing, or a checksum mismatch.
    """
    name = archive_exchange(exchange)
    kind = check_choice("kind", kind, _KINDS[name])
    day, monthly = _period(period)
    rel = _archive_path(name, kind, archive_symbol(symbol), day, monthly, timeframe)
    root = cache_root(cache_dir)
    if root is None:
        raise ValueError("cache_dir=False: archive files must be kept somewhere; pass a path")
    return _download(name, rel, root, base_url)


def archive_trades(exchange: Any, symbol: str, day: Any, *, days: int = 1, cache_dir: Any = None,
                   base_url: str | None = None) -> Iterator[pd.DataFrame]:
    """Trades of ``days`` UTC days from the exchange's archive, one frame per day.

    This signature is stable: ``liqlevels.HistoricalMapping`` relies on it.

    Parameters
    ----------
    exchange : {"binance", "binanceusdm", "bybit"} or ccxt.Exchange
        Binance USD-M aggTrades or Bybit's trading archive.
    symbol : str
        ``"BTC/USDT:USDT"`` or ``"BTCUSDT"``.
    day : str, date, Timestamp or int
        The first UTC day (a time inside it is enough).
    days : int, default 1
        How many consecutive days.
    cache_dir, base_url
        As for :func:`download_archive`.

    Yields
    ------
    pandas.DataFrame
        The trades frame of :func:`read_trades` (``time, price, quantity, side``) for each
        day in order, with ``attrs`` ``exchange, symbol, day``. Files are downloaded
        lazily, one day at a time, and kept in the cache.
    """
    name = archive_exchange(exchange)
    kind = "aggTrades" if name == "binance" else "trades"
    first = day_ms(day, "day")
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError(f"days={days!r} must be a whole number >= 1")
    for i in range(days):
        stamp = pd.Timestamp(first + i * DAY, unit="ms").strftime("%Y-%m-%d")
        frame = _read_cached(lambda s=stamp: download_archive(
            name, kind, symbol, s, cache_dir=cache_dir, base_url=base_url),
            lambda path: read_trades(path, exchange=name))
        frame.attrs.update(exchange=name, symbol=archive_symbol(symbol), day=stamp)
        yield frame


def _read_cached(get: Any, read: Any, path: Path | None = None) -> Any:
    """``read(path)`` (default ``get()``); a cached file that cannot be read is deleted and
    fetched once more with ``get``."""
    path = get() if path is None else path
    try:
        return read(path)
    except (ValueError, OSError) as exc:
        warnings.warn(f"archive file {path} is unreadable ({exc}); downloading it again",
                      FeedWarning, stacklevel=3)
        path.unlink(missing_ok=True)
        return read(get())


def binance_metrics_rows(symbol: str, start: int, end: int, root: Path | None,
                         base_url: str | None = None, *, lenient_last: bool = False
                         ) -> np.ndarray:
    """Open interest snapshots in ``[start, end)`` from the daily metrics archive.

    Returns an ``(n, 3)`` array: ts (epoch ms), amount (coins), value (USD). With
    ``lenient_last``, a last day not yet in the archive is skipped.
    """
    parts = []
    last = (end - 1) - (end - 1) % DAY
    with _archive_dir(root) as base:
        for day in range(start - start % DAY, end, DAY):
            stamp = pd.Timestamp(day, unit="ms").strftime("%Y-%m-%d")
            rel = _archive_path("binance", "metrics", archive_symbol(symbol), stamp, False, None)
            try:
                frame = _read_cached(lambda rel=rel: _download("binance", rel, base, base_url),
                                     read_metrics)
            except NotInArchiveError:
                if lenient_last and day == last:
                    break
                raise
            parts.append(frame)
    if not parts:
        return np.empty((0, 3))
    frame = pd.concat(parts)
    ts = frame.index.asi8 // 1_000_000
    keep = (ts >= start) & (ts < end)
    rows = np.column_stack([ts, frame["open_interest"], frame["open_interest_value"]])
    return rows[keep].astype(np.float64)


def _months_and_days(start: int, end: int, today: int) -> list[tuple[str, bool]]:
    """Archive periods covering the UTC days of ``[start, end)``: whole past months as
    monthly files, the rest as daily ones."""
    out: list[tuple[str, bool]] = []
    day = start - start % DAY
    while day < end:
        stamp = pd.Timestamp(day, unit="ms")
        month_end = int((stamp + pd.offsets.MonthBegin(1)).value // 1_000_000)
        if stamp.day == 1 and month_end <= end and month_end <= today:
            out.append((stamp.strftime("%Y-%m"), True))
            day = month_end
        else:
            out.append((stamp.strftime("%Y-%m-%d"), False))
            day += DAY
    return out


def _klines(symbol: str, timeframe: str, start: int, end: int, base: Path,
            base_url: str | None, today: int) -> pd.DataFrame:
    frames = []
    for period, monthly in _months_and_days(start, end, today):
        try:
            rel = _archive_path("binance", "klines", symbol, period, monthly, timeframe)
            path = _download("binance", rel, base, base_url)
        except NotInArchiveError:
            if not monthly:
                raise
            first = to_ms(period + "-01", "period")
            nxt = int((pd.Timestamp(first, unit="ms") + pd.offsets.MonthBegin(1)).value // 10**6)
            frames.append(_klines(symbol, timeframe, first, nxt, base, base_url, 0))
            continue
        again = functools.partial(_download, "binance", rel, base, base_url)
        frames.append(_read_cached(again, read_klines, path))
    frame = pd.concat(frames) if frames else pd.DataFrame()
    return frame[~frame.index.duplicated(keep="last")].sort_index() if len(frame) else frame


def archive_candles(symbol: str, timeframe: str, *, since: Any, until: Any = None,
                    cache_dir: Any = None, base_url: str | None = None) -> pd.DataFrame:
    """Binance USD-M candles with closing open interest, from the archive alone.

    Klines come from monthly files for whole past months and daily files otherwise; open
    interest from the daily metrics files (``sum_open_interest``, every 5 minutes), joined
    with no lookahead as in :func:`fetch_candles`.

    Parameters
    ----------
    symbol : str
        ``"BTC/USDT:USDT"`` or ``"BTCUSDT"``.
    timeframe : str
        Bar length of Binance's klines archive (``"1m"`` ... ``"1d"``).
    since, until : str, datetime, Timestamp or int
        Bars opening in ``[since, until)``; ``until`` defaults to today 00:00 UTC (the
        archive's days are published after they end).
    cache_dir, base_url
        As for :func:`download_archive`.

    Returns
    -------
    pandas.DataFrame
        As :func:`fetch_candles`: ``open, high, low, close, volume, open_interest`` (coins),
        ``open_interest_value`` (USD), indexed by bar open time (UTC).

    Warns
    -----
    FeedWarning
        1m or 3m bars: open interest comes every 5 minutes and is joined as-of.
    """
    step = timeframe_ms(check_choice("timeframe", timeframe, _BINANCE_INTERVALS))
    sym = archive_symbol(symbol)
    today = day_ms(pd.Timestamp.now(tz="UTC"), "today")
    start = align_ceil(to_ms(since, "since") if since is not None else today - DAY, step)
    end = to_ms(until, "until") if until is not None else today
    if start >= end:
        raise ValueError(f"since ({fmt_ms(start)}) must be before until ({fmt_ms(end)})")
    root = cache_root(cache_dir)
    with _archive_dir(root) as base:
        bars = _klines(sym, timeframe, start, end, base, base_url, today)
        bars = bars[(bars.index >= pd.Timestamp(start, unit="ms", tz="UTC"))
                    & (bars.index < pd.Timestamp(end, unit="ms", tz="UTC"))]
        ts = bars.index.asi8 // 1_000_000
        first_snap = align_ceil(start + step - _METRICS_STEP + 1, _METRICS_STEP)
        oi = binance_metrics_rows(sym, first_snap, end + 1, base, base_url,
                                  lenient_last=True) if len(bars) else np.empty((0, 3))
    amount, value = join_open_interest(ts, step, oi, _METRICS_STEP)
    ohlcv = np.column_stack([ts, bars.to_numpy()]) if len(bars) else np.empty((0, 6))
    frame = candles_frame(ohlcv, amount, value, {"linear": True})
    frame.attrs.update(exchange="binanceusdm", symbol=sym, timeframe=timeframe,
                       oi_timeframe="5m")
    if step < _METRICS_STEP and len(frame):
        warnings.warn(f"Binance's metrics archive has open interest every 5m, coarser than "
                      f"the {timeframe} bars: each bar carries the last snapshot at or "
                      f"before its close (as-of join)", FeedWarning, stacklevel=2)
    validate_candles(frame, name="archive candles")
    return frame

