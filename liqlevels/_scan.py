"""Scan every symbol: which perpetual sits closest to a dense cluster of live liquidation lines.

Two phases. The fetch phase (:func:`liqlevels.feeds.fetch_many`) fills the cache from one
rate-limited async ccxt client per exchange: an exchange limits by address, so workers never
talk to it. The compute phase runs on ``dask.distributed``: symbols are batched into a few
tasks per worker; each worker reads its symbols' candles from the cache directory
(:class:`liqlevels.feeds.CachedCandles`), computes the OI-delta levels and the clusters of
the live lines, and returns one small row per symbol. A symbol that fails, in either phase,
is a row with its error.

What a cluster is (docs/scan.md): the live lines (``end`` is NaT) of one side, weighted by
their notional (``|oi_delta| * entry``, USD, the ``"notional"`` weight of
:func:`indicator.heatmap`), summed in price bins of ``bin_pct`` percent of the last close,
aligned to multiples of the bin size. A bin is *dense* when it holds at least ``dense`` times
the heaviest bin of its side and at least ``min_usd``. A cluster's price is the
notional-weighted mean price of its lines; its distance is ``|price - close| / close`` in
percent.

With ``method="trades"`` (docs/scan.md, "Trade-based levels") the lines are those of the
large taker trades of the last complete UTC day(s) from the exchange's trade archive
(:func:`indicator.trade_levels`, ended by the symbol's candles with
:func:`indicator.trade_level_ends`), and each live line weighs its ``notional``; the cluster
rule is the same.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from . import indicator
from .vocab import timeframe_ms, to_ms

__all__ = ["METHODS", "ROW_COLUMNS", "TRADE_ARCHIVES", "ClusterRule", "ScanResult", "TradeScan",
           "check_trade_exchanges", "clusters", "rank_rows", "run_scan", "scan", "scan_batch",
           "symbol_row", "trade_scan_levels"]

METHODS: tuple[str, ...] = ("oi", "trades")
# the ccxt ids whose trades the archives hold, and the archive each reads
TRADE_ARCHIVES: dict[str, str] = {"binanceusdm": "binance", "bybit": "bybit"}
_DAY_MS = 86_400_000

ROW_COLUMNS: tuple[str, ...] = (
    "rank", "exchange", "symbol", "last_price",
    "long_price", "long_distance_pct", "long_usd",
    "short_price", "short_distance_pct", "short_usd",
    "live_lines", "near_side", "near_price", "near_distance_pct", "near_usd",
    "nearest_pct", "bars", "last_bar", "error",
)
CLUSTER_COLUMNS: tuple[str, ...] = ("side", "price_low", "price_high", "price", "usd", "lines",
                                    "distance_pct", "dense")


@dataclass(frozen=True)
class ClusterRule:
    """How live lines become clusters (docs/scan.md).

    Attributes
    ----------
    bin_pct : float
        Bin width, percent of the last close (0.5).
    dense : float
        A bin is dense from this share of its side's heaviest bin (0.25).
    near : float
        "Largest cluster within" this many percent of the close (5).
    min_usd : float
        A dense bin holds at least this notional, USD (0).
    """

    bin_pct: float = 0.5
    dense: float = 0.25
    near: float = 5.0
    min_usd: float = 0.0

    def __post_init__(self) -> None:
        for name, low, high in (("bin_pct", 0.0, 100.0), ("dense", 0.0, 1.0),
                                ("near", 0.0, math.inf)):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and low < value <= high):
                raise ValueError(f"{name}={value!r} must be a number in ({low:g}, {high:g}]")
        if not (isinstance(self.min_usd, (int, float)) and self.min_usd >= 0):
            raise ValueError(f"min_usd={self.min_usd!r} must be a number >= 0")


# -- one symbol ------------------------------------------------------------------------


def clusters(levels: pd.DataFrame, close: float, rule: ClusterRule = ClusterRule(),
             weight: str = "oi") -> pd.DataFrame:
    """The live lines of ``levels`` summed per side and price bin, nearest first.

    Parameters
    ----------
    levels : pandas.DataFrame
        :func:`indicator.oi_levels` output (or, with ``weight="notional"``, the trade levels
        of :func:`indicator.trade_level_ends`).
    close : float
        The last close, price.
    rule : ClusterRule
        Bin width and what counts as dense.
    weight : {"oi", "notional"}
        What a line weighs: ``|oi_delta| * entry`` (``"oi"``) or its ``notional`` column.

    Returns
    -------
    pandas.DataFrame
        One row per non-empty bin and side: ``side``, ``price_low``, ``price_high`` (the
        bin), ``price`` (notional-weighted mean of its lines), ``usd`` (notional),
        ``lines``, ``distance_pct`` (from ``close``), ``dense`` (bool); ordered by distance.
    """
    if weight not in ("oi", "notional"):
        raise ValueError(f"weight={weight!r} must be 'oi' or 'notional'")
    live = levels["end"].isna().to_numpy()
    if not live.any() or not (math.isfinite(close) and close > 0):
        return pd.DataFrame({c: pd.Series(dtype=object if c == "side" else bool if c == "dense"
                                          else float) for c in CLUSTER_COLUMNS})
    size = close * rule.bin_pct / 100.0
    price = levels["price"].to_numpy(np.float64)[live]
    if weight == "notional":
        usd = levels["notional"].to_numpy(np.float64)[live]
    else:
        usd = (np.abs(levels["oi_delta"].to_numpy(np.float64)[live])
               * levels["entry"].to_numpy(np.float64)[live])
    short = (levels["side"].to_numpy()[live] == "short").astype(np.int64)
    k = np.floor(price / size)
    cells, at = np.unique(k * 2 + short, return_inverse=True)  # one cell per bin and side
    total = np.bincount(at, usd)
    lines = np.bincount(at)
    mean = np.bincount(at, price) / lines
    weighted = np.divide(np.bincount(at, usd * price), total, out=mean.copy(), where=total > 0)
    is_short = (cells % 2).astype(bool)
    low = np.floor(cells / 2) * size
    distance = np.abs(weighted - close) / close * 100.0
    heaviest = np.where(is_short, total[is_short].max(initial=0.0),
                        total[~is_short].max(initial=0.0))
    out = pd.DataFrame({
        "side": np.where(is_short, "short", "long").astype(object), "price_low": low,
        "price_high": low + size, "price": weighted, "usd": total,
        "lines": lines.astype(np.int64), "distance_pct": distance,
        "dense": (total >= rule.dense * heaviest) & (total >= rule.min_usd)})
    order = np.lexsort((is_short, distance))
    return out.iloc[order].reset_index(drop=True)


def _empty_row() -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(ROW_COLUMNS, math.nan)
    row.update(exchange="", symbol="", live_lines=0, bars=0, near_side="", last_bar=pd.NaT,
               error="")
    return row


def symbol_row(candles: pd.DataFrame, options: indicator.OIOptions,
               rule: ClusterRule = ClusterRule(), *, levels: pd.DataFrame | None = None,
               weight: str = "oi") -> dict[str, Any]:
    """One row of the scan for one symbol's candles (``exchange``/``symbol`` from
    ``candles.attrs``): the nearest dense cluster of each side and the largest one within
    ``rule.near`` percent. ``levels`` (default: the OI-delta levels of ``candles``) and
    ``weight`` as :func:`clusters`."""
    row = _empty_row()
    row.update(exchange=candles.attrs.get("exchange", ""), symbol=candles.attrs.get("symbol", ""),
               bars=len(candles))
    if candles.empty:
        row["error"] = "no bars in the range"
        return row
    close = float(candles["close"].iloc[-1])
    row.update(last_price=close, last_bar=candles.index[-1])
    if levels is None:
        levels = indicator.oi_levels(candles, options=options)
    bins = clusters(levels, close, rule, weight)
    row["live_lines"] = int(levels["end"].isna().sum())
    side = bins["side"].to_numpy()
    dense = bins["dense"].to_numpy(bool)
    price, usd = bins["price"].to_numpy(), bins["usd"].to_numpy()
    distance = bins["distance_pct"].to_numpy()
    for name in ("long", "short"):  # bins are ordered by distance: the first is the nearest
        first = np.flatnonzero((side == name) & dense)[:1]
        if first.size:
            i = int(first[0])
            row.update({f"{name}_price": float(price[i]),
                        f"{name}_distance_pct": float(distance[i]),
                        f"{name}_usd": float(usd[i])})
    near = np.flatnonzero(distance <= rule.near)
    if near.size:
        # ties (a burst's long and short lines weigh the same; sums in another order differ
        # in the last bits): the nearest
        top = usd[near].max()
        i = int(near[np.flatnonzero(usd[near] >= top * (1 - 1e-9))[0]])
        row.update(near_side=str(side[i]), near_price=float(price[i]),
                   near_distance_pct=float(distance[i]), near_usd=float(usd[i]))
    row["nearest_pct"] = float(np.nanmin([row["long_distance_pct"], row["short_distance_pct"],
                                          math.inf]))
    if math.isinf(row["nearest_pct"]):
        row["nearest_pct"] = math.nan
    return row


def _error_row(exchange: str, symbol: str, error: str) -> dict[str, Any]:
    row = _empty_row()
    row.update(exchange=exchange, symbol=symbol, error=error)
    return row


@dataclass(frozen=True)
class TradeScan:
    """What ``method="trades"`` reads and keeps (docs/scan.md).

    Attributes
    ----------
    days : tuple of str
        The UTC days read from the archives (``"2026-06-01"``), in order.
    mode : {"gross_value", "top_n", "portion"}
        Which trades count (:func:`indicator.trade_levels`).
    threshold : float or int
        The mode's threshold, checked.
    archive_urls : tuple of (str, str)
        ``(archive, base URL)`` pairs overriding ``feeds.settings.archive_urls``.
    """

    days: tuple[str, ...]
    mode: str = "gross_value"
    threshold: float | int = 100_000
    archive_urls: tuple[tuple[str, str], ...] = ()

    def url(self, archive: str) -> str | None:
        """The base URL of ``archive`` (``None``: the configured one)."""
        return dict(self.archive_urls).get(archive)


def check_trade_exchanges(exchanges: Sequence[str], flag: str = "method='trades'") -> None:
    """Raise ``ValueError`` naming ``flag`` when an exchange has no trade archive."""
    bad = [e for e in exchanges if e not in TRADE_ARCHIVES]
    if bad:
        raise ValueError(
            f"{flag} reads the exchanges' trade archives, which only "
            f"{' and '.join(TRADE_ARCHIVES)} have; {', '.join(bad)} has none (scan it with the "
            f"OI-delta method, or pick an exchange with archives)")


def _trade_days(now: int, days: int) -> tuple[str, ...]:
    """The ``days`` complete UTC days before the one ``now`` (epoch ms) falls in."""
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError(f"trade_days={days!r} must be a whole number >= 1")
    today = now - now % _DAY_MS
    return tuple(pd.Timestamp(today - k * _DAY_MS, unit="ms").strftime("%Y-%m-%d")
                 for k in range(days, 0, -1))


def _archive_trades(exchange: str, symbol: str, trades: TradeScan, cache_dir: Any
                    ) -> pd.DataFrame:
    """The symbol's trades of ``trades.days`` as one frame (``time, price, quantity,
    side``), read through the archive cache (downloaded and decoded once)."""
    from .feeds import archive_day_trades

    name = TRADE_ARCHIVES[exchange]
    parts = [archive_day_trades(name, symbol, day, cache_dir=cache_dir,
                                base_url=trades.url(name)) for day in trades.days]
    time_ns = np.concatenate([p.time for p in parts])
    return pd.DataFrame({
        "time": pd.to_datetime(time_ns, unit="ns", utc=True),
        "price": np.concatenate([p.price for p in parts]),
        "quantity": np.concatenate([p.quantity for p in parts]),
        "side": np.where(np.concatenate([p.is_buy for p in parts]), "buy", "sell")})


def trade_scan_levels(candles: pd.DataFrame, trades: TradeScan, options: indicator.OIOptions,
                      cache_dir: Any) -> pd.DataFrame:
    """The trade levels of a symbol (``candles.attrs``' exchange and symbol) with their
    ``end`` from its candles: :func:`indicator.trade_levels` of the archive days (the
    options' leverages and mmr), then :func:`indicator.trade_level_ends`."""
    frame = _archive_trades(candles.attrs.get("exchange", ""), candles.attrs.get("symbol", ""),
                            trades, cache_dir)
    levels = indicator.trade_levels(frame, mode=trades.mode, threshold=trades.threshold,
                                    leverages=options.leverages, mmr=options.mmr)
    return indicator.trade_level_ends(levels, candles)


def _levels_of(source: Any, candles: pd.DataFrame, options: indicator.OIOptions,
               trades: TradeScan | None) -> tuple[pd.DataFrame | None, str]:
    """The levels and the weight of a symbol's clusters (``None``: the OI-delta levels)."""
    if trades is None:
        return None, "oi"
    return trade_scan_levels(candles, trades, options, source.cache_dir), "notional"


def scan_batch(sources: Sequence[Any], options: indicator.OIOptions, rule: ClusterRule,
               trades: TradeScan | None = None) -> list[dict[str, Any]]:
    """Rows of a batch of :class:`liqlevels.feeds.CachedCandles`, read from the cache (the
    task a Dask worker runs); with ``trades``, the trade levels of the archive days the
    fetch phase decoded into the cache. A symbol that fails is a row with its error."""
    rows = []
    for source in sources:
        try:
            candles = source.read()
            if trades is None or candles.empty:
                rows.append(symbol_row(candles, options, rule))
                continue
            levels, weight = _levels_of(source, candles, options, trades)
            rows.append(symbol_row(candles, options, rule, levels=levels, weight=weight))
        except Exception as exc:  # one symbol's failure is its row, never the batch's
            rows.append(_error_row(source.exchange, source.symbol,
                                   f"{type(exc).__name__}: {exc}"))
    return rows


def rank_rows(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The ranked table: the nearest dense cluster first; symbols with no dense cluster
    next, then the failed ones; ``rank`` from 1."""
    table = pd.DataFrame(list(rows), columns=[c for c in ROW_COLUMNS if c != "rank"])
    if table.empty:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in ROW_COLUMNS})
    failed = table["error"].astype(str).ne("")
    order = pd.DataFrame({"failed": failed, "none": table["nearest_pct"].isna(),
                          "pct": table["nearest_pct"].fillna(math.inf),
                          "exchange": table["exchange"], "symbol": table["symbol"]})
    keys = order.sort_values(["failed", "none", "pct", "exchange", "symbol"], kind="stable")
    table = table.loc[keys.index].reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    table["last_bar"] = pd.to_datetime(table["last_bar"], utc=True)
    for column in ("live_lines", "bars"):
        table[column] = table[column].astype(np.int64)
    return table


# -- the Dask side -----------------------------------------------------------------------


@contextlib.contextmanager
def _ignoring_sigint() -> Iterator[None]:
    """SIGINT ignored while worker processes start, so they inherit it: a Ctrl-C reaches
    the command alone, which cancels their work and closes them in order."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def dask_client(client: Any = None, scheduler: str | None = None, workers: int | None = None
                ) -> Iterator[Any]:
    """``client`` as given (left open); a ``Client`` of the cluster at ``scheduler``; or a
    ``LocalCluster`` of ``workers`` processes (one per core) with one thread each, started
    here and closed at the end."""
    if client is not None:
        yield client
        return
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler, timeout="30s") as remote:
            yield remote
        return
    n = workers or os.cpu_count() or 1
    with _ignoring_sigint():
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                               dashboard_address=":0", silence_logs=logging.CRITICAL)
        local = Client(cluster)
    try:
        yield local
    finally:
        local.close()
        cluster.close()


def _warm() -> int:
    """Import what a task needs (pandas, pyarrow, the engine) on a worker, ahead of it."""
    from .feeds import CachedCandles

    return len(CachedCandles.__dataclass_fields__) + len(indicator.OIOptions().leverages)


def warm_workers(client: Any) -> list[Any]:
    """One import task per worker, left running (gather them before relying on them)."""
    workers = list(client.scheduler_info().get("workers", {}))
    return [client.submit(_warm, workers=[w], allow_other_workers=True, pure=False)
            for w in workers]


@contextlib.contextmanager
def _deferred_sigint() -> Iterator[threading.Event]:
    """SIGINT sets the event instead of raising at once: a KeyboardInterrupt raised inside
    a blocking Dask call would orphan the client's own tasks (asyncio then prints their
    tracebacks at exit). The caller checks the event between short waits."""
    flag = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: flag.set())
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def _finished(futures: set[Any], interrupted: threading.Event) -> set[Any]:
    """The futures done so far, after waiting up to a quarter second for one."""
    from distributed import wait

    try:
        wait(list(futures), timeout=0.25, return_when="FIRST_COMPLETED")
    except TimeoutError:
        pass
    if interrupted.is_set():
        raise KeyboardInterrupt
    return {f for f in futures if f.done()}


def compute_rows(sources: Sequence[Any], client: Any, *, options: indicator.OIOptions,
                 rule: ClusterRule, trades: TradeScan | None = None,
                 batch_size: int | None = None,
                 advance: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
    """Rows of ``sources`` on the Dask ``client``, in batches of ``batch_size`` symbols
    (default: about four tasks per worker); ``advance(n)`` as each batch of ``n`` comes
    back. An interrupt (Ctrl-C, or ``advance`` raising) cancels what is still queued."""
    if not sources:
        return []
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    size = batch_size or max(1, math.ceil(len(sources) / (4 * workers)))
    batches = [list(sources[i:i + size]) for i in range(0, len(sources), size)]
    extra = {} if trades is None else {"trades": trades}
    futures = client.map(scan_batch, batches, options=options, rule=rule, pure=False, **extra)
    rows: list[dict[str, Any]] = []
    pending = set(futures)
    try:
        with _deferred_sigint() as interrupted:
            while pending:
                for future in _finished(pending, interrupted):
                    pending.discard(future)
                    got = future.result()
                    rows.extend(got)
                    if advance is not None:
                        advance(len(got))
    except BaseException:
        with contextlib.suppress(Exception):
            client.cancel(futures, force=True)
        raise
    return rows


# -- the whole scan ----------------------------------------------------------------------


@dataclass
class ScanResult:
    """The ranked table, where each symbol's candles are, the data notes and the timings."""

    table: pd.DataFrame
    sources: dict[tuple[str, str], Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    fetched: int = 0
    trades: TradeScan | None = None


def _since_ms(since: Any, bars: int, timeframe: str, now: int) -> int:
    given = to_ms(since, "since")
    if given is not None:
        return given
    step = timeframe_ms(timeframe)
    return now - now % step - bars * step


def _symbol_lists(fetchers: dict[str, Any], symbols: Sequence[str] | None, top: int | None
                  ) -> list[tuple[str, str]]:
    from .feeds import perpetuals, top_symbols

    jobs = []
    for exchange_id, fetcher in fetchers.items():
        if symbols is not None:
            chosen = list(symbols)
        elif top is not None:
            chosen = top_symbols(fetcher, top)
        else:
            chosen = perpetuals(fetcher)
        jobs += [(exchange_id, s) for s in chosen]
    return jobs


def run_scan(symbols: Sequence[str] | None = None, *, exchanges: Sequence[str] = ("binanceusdm",),
             top: int | None = None, timeframe: str = "1h", since: Any = None, until: Any = None,
             bars: int = 600, options: indicator.OIOptions | None = None,
             rule: ClusterRule = ClusterRule(), client: Any = None, scheduler: str | None = None,
             workers: int | None = None, cache_dir: Any = None,
             api_url: str | dict[str, str] | None = None,
             ccxt_options: dict | None = None, concurrency: int = 8,
             batch_size: int | None = None,
             advance: Callable[[int], None] | None = None, method: str = "oi",
             trade_days: int = 1, trade_mode: str = "gross_value",
             trade_threshold: float | int | None = None,
             archive_url: str | dict[str, str] | None = None) -> ScanResult:
    """:func:`scan`, with the sources, notes and timings kept (see :class:`ScanResult`);
    ``advance(n)`` is called as each batch of ``n`` rows comes back."""
    from .feeds import fetch_many, scan_clients

    options = options or indicator.OIOptions()
    if isinstance(symbols, str):
        raise TypeError(f"symbols must be a list of ccxt symbols, got the string {symbols!r}")
    if top is not None and symbols is not None:
        raise ValueError("give symbols or top, not both")
    if method not in METHODS:
        raise ValueError(f"method={method!r} must be one of {', '.join(map(repr, METHODS))}")
    timings: dict[str, float] = {}
    now = int(pd.Timestamp.now(tz="UTC").value // 1_000_000)
    trades = None
    if method == "trades":
        check_trade_exchanges(exchanges)
        mode, threshold = indicator.check_threshold(trade_mode, trade_threshold,
                                                    name="trade_threshold")
        urls = (archive_url if isinstance(archive_url, dict)
                else dict.fromkeys(TRADE_ARCHIVES.values(), archive_url) if archive_url
                else {})
        trades = TradeScan(_trade_days(now, trade_days), mode, threshold,
                           tuple(sorted((k, str(v)) for k, v in urls.items() if v)))
    since_ms = _since_ms(since, bars, timeframe, now)
    with scan_clients(list(exchanges), api_url=api_url, options=ccxt_options,
                      now=now) as fetchers:  # unknown exchange ids fail here, before Dask
        started = time.perf_counter()
        with dask_client(client, scheduler, workers) as dask:
            timings["cluster_s"] = time.perf_counter() - started
            warming = warm_workers(dask)  # imports on the workers while the fetch runs
            started = time.perf_counter()
            jobs = _symbol_lists(fetchers, symbols, top)
            reports, notes = fetch_many(jobs, timeframe, since=since_ms, until=until,
                                        cache_dir=cache_dir, concurrency=concurrency,
                                        now=now, fetchers=fetchers)
            failed = [_error_row(r.exchange, r.symbol, r.error) for r in reports
                      if r.source is None]
            sources = [r.source for r in reports if r.source is not None]
            if trades is not None:
                missing = fetch_trade_days(sources, trades, concurrency, notes)
                failed += [_error_row(s.exchange, s.symbol, missing[i])
                           for i, s in enumerate(sources) if i in missing]
                sources = [s for i, s in enumerate(sources) if i not in missing]
            timings["fetch_s"] = time.perf_counter() - started
            started = time.perf_counter()
            rows = compute_rows(sources, dask, options=options, rule=rule, trades=trades,
                                batch_size=batch_size, advance=advance)
            timings["compute_s"] = time.perf_counter() - started
            del warming  # held until here: a released future is cancelled
    table = rank_rows(rows + failed)
    return ScanResult(table, {(s.exchange, s.symbol): s for s in sources}, notes, timings,
                      sum(r.fetched for r in reports), trades)


def fetch_trade_days(sources: Sequence[Any], trades: TradeScan, concurrency: int,
                     notes: list[str]) -> dict[int, str]:
    """Download, verify and decode each symbol's archive days into its cache (the fetch
    phase of ``method="trades"``, ``concurrency`` symbols at once); the errors by position
    in ``sources``. Data notes met on the way are appended to ``notes``."""

    def one(source: Any) -> str:
        try:
            _archive_trades(source.exchange, source.symbol, trades, source.cache_dir)
        except Exception as exc:  # one symbol's failure is its row
            return f"{type(exc).__name__}: {exc}"
        return ""

    pool = ThreadPoolExecutor(max(1, concurrency), thread_name_prefix="liqlevels-archive")
    finished = False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            errors = list(pool.map(one, sources))
        finished = True
    finally:
        pool.shutdown(wait=finished, cancel_futures=True)
    notes.extend(n for n in dict.fromkeys(str(w.message) for w in caught) if n not in notes)
    return {i: e for i, e in enumerate(errors) if e}


def scan(symbols: Sequence[str] | None = None, *, exchange: str = "binanceusdm",
         exchanges: Sequence[str] | None = None, top: int | None = None,
         timeframe: str = "1h", since: Any = None, until: Any = None, bars: int = 600,
         options: indicator.OIOptions | None = None, bin_pct: float = 0.5,
         dense: float = 0.25, near: float = 5.0, min_usd: float = 0.0, client: Any = None,
         scheduler: str | None = None, workers: int | None = None, cache_dir: Any = None,
         api_url: str | dict[str, str] | None = None, ccxt_options: dict | None = None,
         concurrency: int = 8, batch_size: int | None = None, method: str = "oi",
         trade_days: int = 1, trade_mode: str = "gross_value",
         trade_threshold: float | int | None = None,
         archive_url: str | dict[str, str] | None = None) -> pd.DataFrame:
    """Rank every symbol of an exchange by its nearest dense cluster of live liquidation lines.

    Fetches candles and open interest through the cache (one rate-limited async ccxt client
    per exchange), then computes each symbol's OI-delta levels and clusters on Dask.

    Parameters
    ----------
    symbols : list of str, optional
        ccxt symbols; default every active perpetual of the exchange (or ``top`` of them).
    exchange : str
        ccxt id (``"binanceusdm"``).
    exchanges : list of str, optional
        Several ccxt ids instead of ``exchange``: each symbol is scanned on each, one row
        per exchange and symbol.
    top : int, optional
        The ``top`` perpetuals with the largest 24 h quote volume.
    timeframe : str
        Bar length (``"1h"``).
    since, until : optional
        The bars' range (UTC; as :func:`liqlevels.feeds.fetch_candles`); default the
        ``bars`` closed bars before now.
    bars : int
        Bars back from now when ``since`` is not given (600).
    options : indicator.OIOptions, optional
        The method's options (docs/method.md section 1).
    bin_pct, dense, near, min_usd : float
        The cluster rule (:class:`ClusterRule`): bin width in percent of the close, the
        share of the side's heaviest bin a dense bin holds, the "within" distance in percent
        and the least notional of a dense bin in USD.
    client : distributed.Client, optional
        Compute on this Dask client (left open). Default: ``scheduler``'s cluster, or a
        ``LocalCluster`` of ``workers`` processes started and closed here.
    scheduler : str, optional
        Address of a running Dask scheduler, e.g. ``"tcp://10.0.0.5:8786"``; its workers
        must see ``cache_dir`` (docs/scan.md).
    workers : int, optional
        Processes of the local cluster (default one per core).
    cache_dir : str or os.PathLike, optional
        The candle cache (default the user cache directory); workers read it.
    api_url : str or dict, optional
        Send REST requests to this base URL (a proxy, a mirror or a test server); a dict
        gives one per exchange id.
    ccxt_options : dict, optional
        Options of each async ccxt client, e.g. ``{"rateLimit": 100}`` (ms between requests).
    concurrency : int
        Symbols fetched at once (8); the rate limiter spaces their requests.
    batch_size : int, optional
        Symbols per Dask task (default: about four tasks per worker).
    method : {"oi", "trades"}
        ``"oi"``: the OI-delta levels of the candles (docs/method.md section 1).
        ``"trades"``: the levels of the large taker trades of the last ``trade_days``
        complete UTC days from the exchange's trade archive (binanceusdm: Binance USD-M
        aggTrades; bybit: Bybit's trading archive; docs/method.md section 3), ended by the
        candles, each live line weighted by its notional (docs/scan.md).
    trade_days : int
        With ``method="trades"``: how many complete UTC days before today (1).
    trade_mode, trade_threshold
        With ``method="trades"``: which trades count, as :func:`indicator.trade_levels`'
        ``mode`` and ``threshold`` (``"gross_value"``, its default threshold); the
        leverages and mmr are ``options``'.
    archive_url : str or dict, optional
        With ``method="trades"``: the archives' base URL (a mirror, a test server), or
        ``{"binance": url, "bybit": url}``; default ``feeds.settings.archive_urls``.

    Returns
    -------
    pandas.DataFrame
        One row per exchange and symbol, ranked (``rank`` 1 = nearest dense cluster):
        ``exchange, symbol, last_price``; ``long_price, long_distance_pct, long_usd`` and
        the same for ``short`` (the nearest dense cluster of each side: notional-weighted
        price, distance in percent of the close, notional in USD); ``live_lines``;
        ``near_side, near_price, near_distance_pct, near_usd`` (the largest cluster within
        ``near`` percent); ``nearest_pct`` (the ranking key), ``bars``, ``last_bar`` and
        ``error`` (empty unless the symbol failed: its row is kept, ranked last).
        ``attrs`` holds ``notes`` (data warnings) and ``timings`` (seconds per phase).

    Raises
    ------
    ValueError
        An unknown exchange or timeframe, or a bad option (one symbol's failure is its row,
        e.g. a day missing from its trade archive); ``method="trades"`` on an exchange
        without a trade archive.
    """
    result = run_scan(
        symbols, exchanges=tuple(exchanges or (exchange,)), top=top, timeframe=timeframe,
        since=since, until=until, bars=bars, options=options,
        rule=ClusterRule(bin_pct=bin_pct, dense=dense, near=near, min_usd=min_usd),
        client=client, scheduler=scheduler, workers=workers, cache_dir=cache_dir,
        api_url=api_url, ccxt_options=ccxt_options, concurrency=concurrency,
        batch_size=batch_size, method=method, trade_days=trade_days, trade_mode=trade_mode,
        trade_threshold=trade_threshold, archive_url=archive_url)
    table = result.table
    table.attrs.update(notes=result.notes, timings=result.timings)
    return table


# -- the page of small charts -------------------------------------------------------------


def _usd(value: float) -> str:
    """``$1.2M``-style notional for labels."""
    if not math.isfinite(value):
        return "-"
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"${value / size:.3g}{unit}"
    return f"${value:.3g}"


def scan_cards(result: ScanResult, *, count: int, options: indicator.OIOptions,
               rule: ClusterRule, bars: int = 168) -> list[Any]:
    """``charts.ScanCard`` of the ``count`` top-ranked rows that have a dense cluster: their
    last ``bars`` candles, dense clusters within ``rule.near`` percent and the nearest one
    of each side (read back from the cache and recomputed here, for these few only)."""
    from . import charts

    cards = []
    table = result.table
    ranked = table[table["error"].eq("") & table["nearest_pct"].notna()].head(count)
    for _, row in ranked.iterrows():
        source = result.sources.get((row["exchange"], row["symbol"]))
        if source is None:
            continue
        candles = source.read()
        levels, weight = _levels_of(source, candles, options, result.trades)
        if levels is None:
            levels = indicator.oi_levels(candles, options=options)
        bins = clusters(levels, float(row["last_price"]), rule, weight)
        bins = bins[bins["distance_pct"] <= rule.near]
        marks = [(side, float(row[f"{side}_price"]),
                  f"{side[0].upper()} {row[f'{side}_distance_pct']:.2f}%")
                 for side in ("long", "short") if math.isfinite(row[f"{side}_price"])]
        lines = [f"{side} {row[f'{side}_distance_pct']:.2f}% away at {row[f'{side}_price']:.6g}"
                 f", {_usd(row[f'{side}_usd'])}" for side in ("long", "short")
                 if math.isfinite(row[f"{side}_price"])]
        where = f" ({row['exchange']})" if table["exchange"].nunique() > 1 else ""
        cards.append(charts.ScanCard(
            title=f"#{row['rank']} {row['symbol']}{where}  {row['last_price']:.6g}",
            lines=lines, candles=candles.iloc[-bars:], clusters=bins, marks=marks))
    return cards
