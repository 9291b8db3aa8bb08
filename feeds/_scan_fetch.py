"""The fetch phase of a scan: many symbols, one rate-limited async ccxt client per exchange.

An exchange limits requests by address, so a scan fetches from one place: each exchange gets
one ``ccxt.async_support`` client (``enableRateLimit``: its token bucket spaces every request
of the scan) on an event loop in a thread of its own. The symbols are fetched by a few
threads running :func:`~._fetch.fetch_candles` unchanged (its paging, row checks, request
retries and the parquet cache); each thread holds a plain ccxt instance of the exchange whose
``throttle`` and HTTP ``fetch`` are sent to the async client, so every request waits its turn
in the one bucket and travels over the one aiohttp session.

What a symbol needs afterwards is a :class:`CachedCandles`: where its rows sit in the cache.
Its :meth:`CachedCandles.read` rebuilds exactly the frame ``fetch_candles`` returned, from the
cache alone (no ccxt, no network), so the compute phase can run on any machine that sees the
cache directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import math
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ccxt
import pandas as pd

from ..vocab import FeedError, timeframe_ms
from . import _retry
from ._cache import cache_root
from ._config import settings
from ._exchanges import check_oi_history, check_timeframe, choose_oi_timeframe, resolve_market
from ._fetch import _bar_range, _cache_name, _oi_segments, fetch_candles
from ._scan_cache import CachedCandles
from ._time import align_ceil, align_floor

__all__ = ["CachedCandles", "FetchReport", "ScanFetcher", "cached_candles", "fetch_many",
           "perpetuals", "scan_clients", "symbol_progress", "top_symbols"]

_SEEN: contextvars.ContextVar[dict | None] = contextvars.ContextVar("liqlevels_seen",
                                                                     default=None)
_MARKET_KEYS = ("symbol", "id", "linear", "inverse", "contractSize", "swap", "future")


def cached_candles(ex: ccxt.Exchange, market: dict, timeframe: str, start: int, end: int,
                   now: int, root: Path) -> CachedCandles:
    """The :class:`CachedCandles` of what ``fetch_candles`` reads for ``[start, end)``."""
    step = timeframe_ms(timeframe)
    oi_tf, _ = choose_oi_timeframe(ex, step)
    oi_step = timeframe_ms(oi_tf)
    a = align_ceil(start + step - oi_step + 1, oi_step)
    b = align_floor(min(end, now), oi_step) + oi_step
    segments = _oi_segments(ex, oi_tf, a, b, now) if end > start else []
    tolerance = max([oi_step, *(timeframe_ms(p) for p, *_ in segments)])
    return CachedCandles(
        exchange=str(ex.id), folder=_cache_name(ex), symbol=market["symbol"],
        timeframe=timeframe, start=start, end=end, oi_timeframe=oi_tf,
        oi=tuple((f"oi-{p}", lo, hi) for p, lo, hi, _ in segments), tolerance=tolerance,
        market={k: market.get(k) for k in _MARKET_KEYS}, cache_dir=str(root))


# -- one async client per exchange, shared by the fetching threads ---------------------


class _Loop:
    """An event loop in a daemon thread; :meth:`run` waits for a coroutine from any thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.closed = False
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True,
                                       name="liqlevels-scan-loop")
        self.thread.start()

    def run(self, coro: Any) -> Any:
        """The coroutine's result; a :class:`FeedError` once the loop is stopped, so no
        thread waits for ever on a loop that has gone (an interrupt)."""
        if self.closed:
            coro.close()
            raise FeedError("the scan's fetch phase has ended (interrupted)")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        while True:
            try:
                return future.result(timeout=0.25)
            except TimeoutError:
                if self.closed:
                    future.cancel()
                    raise FeedError("the scan's fetch phase has ended (interrupted)") from None

    def stop(self) -> None:
        """Cancel what is still in flight (its callers get ``CancelledError``) and stop."""
        self.closed = True

        def cancel_all() -> None:
            for task in asyncio.all_tasks(self.loop):
                task.cancel()

        self.loop.call_soon_threadsafe(cancel_all)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


async def _http(client: Any, url: str, method: str, headers: Any, body: Any
                ) -> tuple[Any, BaseException | None, dict]:
    """One request through the async client: (result, error, what came back)."""
    seen: dict = {}
    _SEEN.set(seen)  # this task's own context: concurrent requests do not mix
    try:
        return await client.fetch(url, method, headers, body), None, seen
    except Exception as exc:
        return None, exc, seen


def _capture(client: Any) -> None:
    """Record each response's headers and body in the requesting task's ``_SEEN``."""
    original = client.on_rest_response

    def on_rest_response(code: Any, reason: Any, url: Any, method: Any, headers: Any,
                         body: Any, *rest: Any) -> Any:
        seen = _SEEN.get()
        if seen is not None:
            seen.update(headers=headers, body=body)
        return original(code, reason, url, method, headers, body, *rest)

    client.on_rest_response = on_rest_response


class ScanFetcher:
    """One async ccxt client of ``exchange_id`` and plain ccxt facades that send through it.

    Parameters
    ----------
    exchange_id : str
        ccxt id, e.g. ``"binanceusdm"``.
    loop : _Loop
        The event loop the client lives on.
    api_url : str, optional
        Send REST requests to this base URL (a proxy, a mirror, a test server).
    options : dict, optional
        More ccxt options for the client (e.g. ``{"rateLimit": 100}``, ms between requests).
    now : int
        The scan's clock, epoch ms: every symbol ends at the same closed bar.
    """

    def __init__(self, exchange_id: str, loop: _Loop, *, api_url: str | None, options: dict,
                 now: int) -> None:
        import ccxt.async_support as ccxt_async

        from ._live import point_urls

        if exchange_id not in ccxt.exchanges:
            from ._exchanges import resolve_exchange

            resolve_exchange(exchange_id)  # raises, naming the closest ids
        self.id, self.loop, self.now = exchange_id, loop, now
        config = {"enableRateLimit": True, **options}

        async def make() -> Any:  # aiohttp wants its loop running when the client is built
            return getattr(ccxt_async, exchange_id)(config)

        self.client = loop.run(make())
        if api_url:
            point_urls(self.client, api_url, websocket=False)
        _capture(self.client)
        self._config = {k: v for k, v in config.items() if k in ("timeout", "options")}
        self._local = threading.local()
        self._markets: ccxt.Exchange | None = None

    def facade(self) -> ccxt.Exchange:
        """This thread's plain ccxt instance, throttled by and fetching through the client."""
        ex = getattr(self._local, "ex", None)
        if ex is None:
            ex = getattr(ccxt, self.id)({"enableRateLimit": True, **self._config})
            ex.urls = self.client.urls
            ex.milliseconds = lambda: self.now
            ex.throttle = lambda cost=None: self.loop.run(self.client.throttle(cost))
            ex.fetch = self._fetch_for(ex)
            self._local.ex = ex
        if not ex.markets:
            ex.set_markets(self.markets().markets, self.markets().currencies)
        return ex

    def markets(self) -> ccxt.Exchange:
        """An instance with the exchange's markets loaded (once, with request retries)."""
        if self._markets is None:
            ex = getattr(ccxt, self.id)({"enableRateLimit": True, **self._config})
            ex.urls = self.client.urls
            ex.throttle = lambda cost=None: self.loop.run(self.client.throttle(cost))
            ex.fetch = self._fetch_for(ex)
            _retry.call_exchange(ex, "load_markets", (None, None), ex.load_markets)
            self._markets = ex
        return self._markets

    def _fetch_for(self, ex: ccxt.Exchange) -> Callable[..., Any]:
        def fetch(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
            result, error, seen = self.loop.run(_http(self.client, url, method, headers, body))
            ex.last_http_response = seen.get("body")
            ex.last_response_headers = seen.get("headers")
            if error is not None:
                raise error
            return result

        return fetch

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.loop.run(self.client.close())


# -- the phase ---------------------------------------------------------------------------


@dataclass
class FetchReport:
    """What the fetch phase got for one symbol: where to read it, or why not."""

    exchange: str
    symbol: str
    source: CachedCandles | None = None
    error: str = ""
    fetched: bool = False  # False: the cache already covered it


def _retryable(exc: BaseException) -> bool:
    """A failure the next attempt may not repeat: the network, a 5xx, a 429."""
    return isinstance(exc, FeedError) and isinstance(exc.__cause__, ccxt.NetworkError)


def _one(fetcher: ScanFetcher, symbol: str, timeframe: str, since: Any, until: Any,
         root: Path, tries: int) -> FetchReport:
    """Fill the cache for one symbol (skipped when it covers the range already)."""
    report = FetchReport(fetcher.id, symbol)
    for attempt in range(tries):
        try:
            ex = fetcher.facade()
            step = check_timeframe(ex, timeframe)
            market = resolve_market(ex, symbol)
            start, end = _bar_range(since, until, step, fetcher.now)
            source = cached_candles(ex, market, timeframe, start, end, fetcher.now, root)
            if not source.covered():
                fetch_candles(ex, symbol, timeframe, since=since, until=until, cache_dir=root)
                report.fetched = True
            report.source, report.error = source, ""
            return report
        except (FeedError, ValueError, TypeError, ccxt.BaseError) as exc:
            report.error = f"{type(exc).__name__}: {exc}"
            if not _retryable(exc) or attempt + 1 >= tries:
                return report
            delay = _retry.backoff_delay(attempt, None, fetcher.id)
            _retry.retry_notice(f"{fetcher.id} {symbol}", attempt, tries, delay, exc)
            _retry._sleep(delay)
    return report


@contextlib.contextmanager
def symbol_progress(label: str, total: int, show: bool | None
                    ) -> Iterator[Callable[[str], None]]:
    """``advance(symbol)``: a transient rich bar over the symbols on a terminal; elsewhere
    one line at each quarter; nothing when ``show`` (``settings.progress``) is False."""
    if show is False or total == 0:
        yield lambda symbol: None
        return
    if (sys.stderr.isatty() if show is None else show):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), transient=True) as bar:
            task = bar.add_task(label, total=total)
            yield lambda symbol: bar.update(task, advance=1, description=f"{label} {symbol}")
        return
    marks = {max(1, total * q // 4) for q in (1, 2, 3, 4)}
    done = [0]

    def advance(symbol: str) -> None:
        done[0] += 1
        if done[0] in marks:
            print(f"{label}: {done[0]} of {total} symbols", file=sys.stderr, flush=True)

    yield advance


def fetch_many(jobs: list[tuple[str, str]], timeframe: str, *, since: Any = None,
               until: Any = None, cache_dir: Any = None,
               api_url: str | dict[str, str] | None = None,
               options: dict | None = None, concurrency: int = 8, tries: int = 2,
               now: int | None = None, fetchers: dict[str, ScanFetcher] | None = None,
               ) -> tuple[list[FetchReport], list[str]]:
    """Fill the cache for many ``(exchange_id, symbol)`` pairs; one async client each.

    Parameters
    ----------
    jobs : list of (str, str)
        ccxt exchange id and symbol, in the order the reports come back.
    timeframe, since, until, cache_dir
        As :func:`fetch_candles` (``cache_dir=False`` is refused: workers read the cache).
    api_url : str or dict, optional
        Send the REST requests to this base URL, or ``{exchange_id: base_url}``.
    options : dict, optional
        ccxt options of each async client, e.g. ``{"rateLimit": 100}``.
    concurrency : int
        Symbols in flight at once (threads); the rate limiter spaces their requests.
    tries : int
        Attempts per symbol when it fails on the network or a 5xx after the request retries.
    now : int, optional
        The scan's clock, epoch ms (default: now).
    fetchers : dict, optional
        Clients to use (``{id: ScanFetcher}``), e.g. those :func:`top_symbols` made; they
        are left open.

    Returns
    -------
    (list of FetchReport, list of str)
        One report per job, and the data notes (``FeedWarning`` texts) met on the way.
    """
    root = cache_root(cache_dir)
    if root is None:
        raise ValueError("cache_dir=False: a scan's workers read the candles from the cache, "
                         "so it needs a cache directory")
    now = int(pd.Timestamp.now(tz="UTC").value // 1_000_000) if now is None else int(now)
    with _clients({e for e, _ in jobs}, api_url, options or {}, now, fetchers) as clients:
        for fetcher in clients.values():
            check_oi_history(fetcher.markets())
            check_timeframe(fetcher.markets(), timeframe)
        return _run_jobs(clients, jobs, timeframe, since, until, root, concurrency, tries)


def _run_jobs(clients: dict[str, ScanFetcher], jobs: list[tuple[str, str]], timeframe: str,
              since: Any, until: Any, root: Path, concurrency: int, tries: int
              ) -> tuple[list[FetchReport], list[str]]:
    reports: list[FetchReport | None] = [None] * len(jobs)
    shown, settings.progress = settings.progress, False  # no page bars inside the threads
    pool = ThreadPoolExecutor(max(1, concurrency), thread_name_prefix="liqlevels-fetch")
    finished = False
    try:
        with warnings.catch_warnings(record=True) as caught, \
                symbol_progress(f"fetching {timeframe}", len(jobs), shown) as advance:
            warnings.simplefilter("always")
            futures = {pool.submit(_one, clients[e], s, timeframe, since, until, root,
                                   tries): i for i, (e, s) in enumerate(jobs)}
            for future in as_completed(futures):
                reports[futures[future]] = future.result()
                advance(jobs[futures[future]][1])
        finished = True
    finally:
        settings.progress = shown
        pool.shutdown(wait=finished, cancel_futures=True)  # an interrupt does not wait
    notes = list(dict.fromkeys(str(w.message) for w in caught))
    return [r for r in reports if r is not None], notes


@contextlib.contextmanager
def _clients(ids: set[str], api_url: str | dict[str, str] | None, options: dict, now: int,
             given: dict[str, ScanFetcher] | None) -> Iterator[dict[str, ScanFetcher]]:
    if given is not None:
        yield given
        return
    urls = api_url if isinstance(api_url, dict) else dict.fromkeys(ids, api_url)
    loop = _Loop()
    clients: dict[str, ScanFetcher] = {}
    try:
        for exchange_id in sorted(ids):
            clients[exchange_id] = ScanFetcher(exchange_id, loop, api_url=urls.get(exchange_id),
                                               options=options, now=now)
        yield clients
    finally:
        for fetcher in clients.values():
            fetcher.close()
        loop.stop()


@contextlib.contextmanager
def scan_clients(ids: list[str], *, api_url: str | dict[str, str] | None = None,
                 options: dict | None = None,
                 now: int | None = None) -> Iterator[dict[str, ScanFetcher]]:
    """The async clients of a scan, closed at the end: for :func:`top_symbols` and then
    :func:`fetch_many` (``fetchers=``) without building them twice."""
    now = int(pd.Timestamp.now(tz="UTC").value // 1_000_000) if now is None else int(now)
    with _clients(set(ids), api_url, options or {}, now, None) as clients:
        yield clients


def _quote_volume(ticker: dict) -> float:
    value = ticker.get("quoteVolume")
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out


def perpetuals(fetcher: ScanFetcher) -> list[str]:
    """The exchange's active perpetual swaps (ccxt symbols), sorted."""
    markets = fetcher.markets().markets
    return sorted(s for s, m in markets.items()
                  if m.get("swap") and m.get("active") is not False)


def top_symbols(fetcher: ScanFetcher, n: int | None) -> list[str]:
    """The ``n`` active perpetuals with the largest 24 h quote volume (all of them, sorted
    by volume, when ``n`` is None)."""
    swaps = perpetuals(fetcher)
    ex = fetcher.markets()
    tickers = _retry.call_exchange(ex, "fetch_tickers", (None, None), ex.fetch_tickers,
                                   params={"type": "swap"} if not ex.id.startswith(
                                       "binance") else {})
    volume = {s: _quote_volume(tickers.get(s) or {}) for s in swaps}
    ranked = sorted(swaps, key=lambda s: (-volume[s] if math.isfinite(volume[s]) else math.inf,
                                          s))
    return ranked if n is None else ranked[:n]
