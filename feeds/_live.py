"""LiveFeed: bars, trades and liquidations of one market as they happen, over ccxt.pro.

The bar contract (what :class:`~liqlevels.indicator.LevelStream` needs): after the bars of
:meth:`LiveFeed.history`, every :class:`LiveBar` has the time of the previous one (it replaces
the forming bar) or a later one; never an older one, none lost, none doubled, and a bar sent
with ``final=True`` is never sent again.

How it keeps it. ccxt.pro's ``watch_ohlcv`` returns the candles changed since the last call
and drops the exchange's "closed" flag, and a socket that drops between two calls is
reconnected by the next call with nothing replayed. So the feed reads closing from the data
itself: the forming bar is final once a later bar appears. Each closed bar, and any bars
missed in between (a jump in bar times after a drop, or silence), is then fetched over REST
through :func:`~liqlevels.feeds.fetch_candles` (the verified cache): a final bar equals what
the batch returns for it, the last bar seen before a drop (maybe partial) included.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import math
import re
import time
import warnings
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import ccxt
import ccxt.pro
import numpy as np
import pandas as pd
import pyarrow as pa

from ..vocab import FeedError, FeedWarning, did_you_mean, to_ms
from ._exchanges import check_oi_history, check_timeframe, resolve_exchange, resolve_market
from ._fetch import fetch_candles
from ._join import join_open_interest
from ._venues import fetch_venues, resolve_venues, venue_ids

__all__ = ["FeedStatus", "LiveBar", "LiveFeed", "LiveLiquidations", "LiveTrades"]

STREAMS = ("klines", "trades", "liquidations", "open_interest")
_SEEN_IDS = 100_000  # trade ids remembered for de-duplication


@dataclass(frozen=True)
class LiveBar:
    """One bar update, in time order.

    ``time`` is the bar's open time (UTC); prices in quote currency, ``volume`` as the
    exchange counts it, ``open_interest`` in coins (contracts for inverse markets), NaN when
    unknown, as in :func:`fetch_candles`. ``final`` is True once the bar has closed: it is
    never sent again.
    """

    time: pd.Timestamp
    open: float
    high: float
    low: float
    close: float
    volume: float
    open_interest: float
    final: bool


@dataclass(frozen=True)
class LiveTrades:
    """New trades: the trades frame of :func:`read_trades` (``time, price, quantity, side``),
    time-ordered and de-duplicated, later than (or as late as) every trade sent before."""

    frame: pd.DataFrame


@dataclass(frozen=True)
class LiveLiquidations:
    """Realised liquidations, as ``feeds._liquidations.normalise_liquidations`` gives them
    (``time, exchange, symbol, side, price, quantity, notional``; ``side`` = whose position
    was liquidated)."""

    frame: pd.DataFrame


@dataclass(frozen=True)
class FeedStatus:
    """What happened to a stream: ``event`` is "connected", "reconnected", "backfilled",
    "retrying", "unsupported" or "error"; ``detail`` one line for people; ``reconnects``
    how many times that stream's socket came back."""

    stream: str
    event: str
    detail: str
    reconnects: int


Event = LiveBar | LiveTrades | LiveLiquidations | FeedStatus


def point_urls(exchange: Any, base_url: str, *, websocket: bool) -> None:
    """Point every REST (``websocket=False``) or websocket address of ``exchange`` at
    ``base_url`` (scheme, host and port), keeping the paths."""
    base_url = base_url.rstrip("/")
    if not re.match(r"^(https?|wss?)://[^/]+$", base_url):
        raise ValueError(
            f"{'ws_url' if websocket else 'api_url'}={base_url!r} must be a scheme, host and "
            f"optional port only, e.g. {'ws://127.0.0.1:8765' if websocket else 'http://127.0.0.1:8080'}")
    pattern = r"^wss?://[^/]+" if websocket else r"^https?://[^/]+"

    def swap(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, str):
            return re.sub(pattern, base_url, value)
        return value

    api = exchange.urls["api"]
    if websocket:
        api["ws"] = swap(api["ws"])
    elif isinstance(api, dict):
        exchange.urls["api"] = {k: v if k == "ws" else swap(v) for k, v in api.items()}
    else:
        exchange.urls["api"] = swap(api)


def _pro_class(exchange_id: str) -> type:
    if exchange_id not in ccxt.pro.exchanges:
        raise ValueError(
            f"{exchange_id} has no websocket API in ccxt.pro, so it cannot stream live."
            f"{did_you_mean(exchange_id, ccxt.pro.exchanges, n=3, cutoff=0.5)} Exchanges that "
            f"stream and have open-interest history include binanceusdm, bybit, okx"
        )
    return getattr(ccxt.pro, exchange_id)


def _copy_clock(source: Any, target: Any) -> None:
    """A testnet stays a testnet (its own cache folder), and a clock set on the instance
    (tests pin it) goes to the twins too."""
    if getattr(source, "isSandboxModeEnabled", False) and not getattr(
            target, "isSandboxModeEnabled", False):
        target.set_sandbox_mode(True)
    if "milliseconds" in vars(source):
        target.milliseconds = source.milliseconds


def _first_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


class LiveFeed:
    """Bars (with open interest), and optionally trades and liquidations, of one market.

    Parameters
    ----------
    exchange : str or ccxt.pro.Exchange
        A ccxt id (``"binanceusdm"``, ``"bybit"``, ``"okx"``) or a configured ccxt.pro
        instance (used for the klines; its addresses, timeout and clock are copied to one
        twin per other stream, so each stream has its own connection and fails on its own).
        A synchronous ccxt instance is taken too: its REST addresses and clock carry over.
    symbol : str
        ccxt symbol of a swap or future, e.g. ``"BTC/USDT:USDT"``.
    timeframe : str
        Bar length, one of the exchange's ccxt timeframes.
    since : str, datetime, pandas.Timestamp or int, optional
        Start of :meth:`history` (as :func:`fetch_candles` reads it; default 1000 bars).
    cache_dir : str, os.PathLike or False, optional
        The parquet cache of :func:`fetch_candles`, used by the history and every REST
        backfill.
    trades, liquidations : bool
        Also stream trades (:class:`LiveTrades`) / realised liquidations
        (:class:`LiveLiquidations`).
    api_url, ws_url : str, optional
        Point every REST / websocket address of the exchange at this scheme, host and port,
        keeping the paths (a proxy, a mirror, a test fake).
    rest : ccxt.Exchange, optional
        The synchronous ccxt instance for REST (history, backfills); default a twin of
        ``exchange``.
    venues : sequence of str or ccxt.Exchange, optional
        More exchanges whose open interest is summed with ``exchange``'s (in base coins, as
        :func:`fetch_venues` sums it): the history and every closed bar come from
        :func:`fetch_venues` (``exchange`` first: its prices, volume and bar grid), the
        forming bar carries the sum of each venue's latest poll, NaN until every venue has
        answered once (a missing venue is never read as zero). Prices, trades and
        liquidations stream from ``exchange`` alone. Each venue is polled over REST with
        its own backoff.
    oi_interval : float
        Seconds between open-interest polls (``fetch_open_interest``; 10, and one poll
        about a second before each bar closes): the forming bar carries the latest value; a
        closed bar takes REST's history snapshot at its close (as :func:`fetch_candles`
        joins it), or, when REST has none yet, the last poll in ``(close - oi period,
        close]``, as the batch join does. No exchange streams open interest through ccxt.
    reorder : float
        Seconds a trade is held so that trades arriving out of order are sent in time order
        (0.5): a trade is released once a trade ``reorder`` s later has arrived, or after
        ``reorder`` s of wall time; a trade arriving later than that is dropped, and said.
    silence : float
        Seconds without a kline or trade message after which that stream reports an
        "error" status and redials (60; exchanges push klines every second or so while
        the market trades). Liquidations can be rare: their stream is never redialled for
        silence.
    backoff, max_backoff : float
        Seconds before the first retry of a failed stream, doubling up to ``max_backoff``.

    Raises
    ------
    ValueError, TypeError
        An unknown exchange or timeframe, an exchange without websockets or without
        open-interest history (the message lists what is available); an unknown symbol is
        named by :meth:`history`.
    """

    def __init__(self, exchange: Any, symbol: str, timeframe: str, *, since: Any = None,
                 cache_dir: Any = None, trades: bool = False, liquidations: bool = False,
                 api_url: str | None = None, ws_url: str | None = None,
                 rest: ccxt.Exchange | None = None, venues: Any = (),
                 oi_interval: float = 10.0,
                 reorder: float = 0.5, silence: float = 60.0, backoff: float = 1.0,
                 max_backoff: float = 30.0) -> None:
        self._pro = self._pro_instance(exchange)
        self._rest = rest if rest is not None else self._rest_twin(self._pro)
        for instance in (self._pro, self._rest):
            if api_url:
                point_urls(instance, api_url, websocket=False)
        if ws_url:
            point_urls(self._pro, ws_url, websocket=True)
        self.step = check_timeframe(self._rest, timeframe)
        check_oi_history(self._rest)
        self._venues = self._venue_instances(venues, timeframe)
        if not isinstance(symbol, str):
            raise TypeError(f"symbol must be a ccxt symbol such as 'BTC/USDT:USDT', got "
                            f"{symbol!r}")
        to_ms(since, "since")
        for name, value, least in (("oi_interval", oi_interval, 0.01), ("reorder", reorder, 0),
                                   ("silence", silence, 0.01), ("backoff", backoff, 0),
                                   ("max_backoff", max_backoff, 0)):
            if not (isinstance(value, int | float) and not isinstance(value, bool)
                    and math.isfinite(value) and value >= least):
                raise ValueError(f"{name}={value!r} must be a finite number of seconds >= "
                                 f"{least:g}")
        self.exchange_id, self.symbol, self.timeframe = self._pro.id, symbol, timeframe
        self._since, self._cache_dir = since, cache_dir
        self._want_trades, self._want_liquidations = trades, liquidations
        self._oi_interval, self._reorder, self._backoff = oi_interval, reorder, backoff
        self._max_backoff = max_backoff
        self._silence = float(silence)
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._tasks: list[asyncio.Task] = []
        self._instances: dict[str, Any] = {}
        self._woken: dict[str, asyncio.Event] = {}
        self._heard: dict[str, float] = {}
        self._reconnects = dict.fromkeys(STREAMS, 0)
        self._market: dict | None = None
        self._last_final: int | None = None  # open time (ms) of the last final bar
        self._forming: list | None = None  # [ts, o, h, l, c, v] of the forming bar
        self._polled: list[tuple[int, float]] = []  # (ms, coins) open-interest polls
        # the other venues': their markets (set by history) and polls
        self._venue_markets: list[dict] = [{} for _ in self._venues]
        self._venue_polled: list[list[tuple[int, float]]] = [[] for _ in self._venues]
        self._held: list[tuple] = []  # trades held: (ts, seq, price, coins, side, arrived)
        self._seen: set = set()  # trade ids and liquidations already taken
        self._seen_order: deque = deque()
        self._released, self._seq = -1, 0  # time (ms) of the last trade sent; a counter
        self._history_done = False
        self._closed = False

    # -- instances --------------------------------------------------------------------
    @staticmethod
    def _pro_instance(exchange: Any) -> Any:
        if isinstance(exchange, str):
            resolve_exchange(exchange)  # the teaching message for an unknown id
            return _pro_class(exchange)({"enableRateLimit": True})
        if isinstance(exchange, ccxt.async_support.Exchange):
            _pro_class(exchange.id)
            return exchange
        if isinstance(exchange, ccxt.Exchange):  # a synchronous instance: its pro twin
            pro = _pro_class(exchange.id)({"enableRateLimit": True,
                                           "timeout": exchange.timeout})
            _copy_clock(exchange, pro)
            pro.urls["api"] = {**copy.deepcopy(exchange.urls["api"]),
                               "ws": pro.urls["api"]["ws"]}
            return pro
        raise TypeError(f"exchange must be a ccxt id such as 'binanceusdm' or a ccxt.pro "
                        f"instance, got {type(exchange).__name__}")

    @staticmethod
    def _rest_twin(pro: Any) -> ccxt.Exchange:
        rest = getattr(ccxt, pro.id)({"enableRateLimit": True, "timeout": pro.timeout})
        _copy_clock(pro, rest)
        rest.urls["api"] = copy.deepcopy(pro.urls["api"])
        return rest

    def _twin(self, stream: str) -> Any:
        """The ccxt.pro instance of one stream (its own sockets), markets shared."""
        if stream not in self._instances:
            pro = self._pro if not self._instances else type(self._pro)(
                {"enableRateLimit": self._pro.enableRateLimit, "timeout": self._pro.timeout})
            if pro is not self._pro:
                _copy_clock(self._pro, pro)
                pro.urls = copy.deepcopy(self._pro.urls)
            if self._rest.markets and not pro.markets:
                pro.set_markets(self._rest.markets, self._rest.currencies)
            self._hook(stream, pro)
            self._instances[stream] = pro
        return self._instances[stream]

    def _hook(self, stream: str, pro: Any) -> None:
        """Wake the stream on every message its sockets receive."""
        self._woken[stream] = asyncio.Event()
        self._heard[stream] = time.monotonic()
        handle = pro.handle_message

        def handle_message(client: Any, message: Any) -> Any:
            try:
                return handle(client, message)
            finally:
                self._heard[stream] = time.monotonic()
                self._woken[stream].set()

        pro.handle_message = handle_message  # read by ccxt when it makes the socket client

    # -- the public interface -----------------------------------------------------------
    async def history(self) -> pd.DataFrame:
        """The closed bars before the live ones: exactly :func:`fetch_candles` (exchange,
        symbol, timeframe, since, cache_dir) through the verified cache. Live bars start
        after its last bar.

        Raises
        ------
        ValueError
            An unknown or spot symbol (the message lists the exchange's markets).
        FeedError
            REST still failing after retries.
        """
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always", FeedWarning)
            frame = await asyncio.to_thread(self._fetch_history)
        for warning in said:  # said where history() was called, not from the thread
            warnings.warn(warning.message, warning.category, stacklevel=2)
        if len(frame):
            self._last_final = int(frame.index[-1].value // 1_000_000)
        self._history_done = True
        return frame

    def _venue_instances(self, venues: Any, timeframe: str) -> list[ccxt.Exchange]:
        if isinstance(venues, str):
            raise TypeError(f"venues={venues!r} must be a list of exchanges, e.g. "
                            f"['bybit', 'okx'] (the first exchange is the feed's own)")
        out = resolve_venues(venues, timeframe) if len(venues) else []
        venue_ids([self._rest.id, *(ex.id for ex in out)])  # each exchange once
        return out

    def _fetch_history(self) -> pd.DataFrame:
        self._market = resolve_market(self._rest, self.symbol)
        self.symbol = self._market["symbol"]
        if self._venues:
            frame = self._fetch_venues(self._since, None)
            self._venue_markets = [resolve_market(ex, frame.attrs["symbols"][ex.id])
                                   for ex in self._venues]
            return frame
        return fetch_candles(self._rest, self.symbol, self.timeframe, since=self._since,
                             cache_dir=self._cache_dir)

    def _fetch_venues(self, since: Any, until: Any) -> pd.DataFrame:
        return fetch_venues([self._rest, *self._venues], self.symbol, self.timeframe,
                            since=since, until=until, cache_dir=self._cache_dir)

    async def events(self) -> AsyncIterator[Event]:
        """Bar updates, trades, liquidations and status changes, as they come.

        Starts the streams on first use (calling :meth:`history` first if it was not);
        every stream retries on its own with backoff, reporting :class:`FeedStatus`. Ends
        when :meth:`close` is called.
        """
        if not self._history_done:
            await self.history()
        if not self._tasks and not self._closed:
            self._start()
        while not self._closed or not self._queue.empty():
            item = await self._queue.get()
            if item is None:  # close() was called
                return
            yield item

    async def close(self) -> None:
        """Stop every stream and close the sockets and sessions; :meth:`events` ends."""
        self._closed = True
        self._queue.put_nowait(None)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        instances = list(self._instances.values())
        if self._pro not in instances:
            instances.append(self._pro)
        # each close waits ccxt's timeout_on_exit: all at once
        await asyncio.gather(*(pro.close() for pro in instances), return_exceptions=True)

    async def __aenter__(self) -> LiveFeed:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _start(self) -> None:
        loops = [("klines", self._klines), ("open_interest", self._open_interest)]
        loops += [("open_interest", lambda i=i: self._venue_open_interest(i))
                  for i in range(len(self._venues))]
        if self._want_trades:
            loops.append(("trades", self._trades))
        if self._want_liquidations:
            loops.append(("liquidations", self._liquidations))
        self._tasks = [asyncio.ensure_future(self._guard(stream, loop))
                       for stream, loop in loops]

    async def _guard(self, stream: str, loop: Any) -> None:
        """Run one stream's loop; whatever escapes it is reported and the loop restarted
        after the backoff, so one stream failing never stops the others."""
        failures = 0
        while True:
            try:
                await loop()
                return
            except asyncio.CancelledError:
                raise
            except _UnsupportedError as exc:
                self._status(stream, "unsupported", str(exc).splitlines()[0][:200])
                return
            except Exception as exc:
                failures += 1
                delay = self._delay(failures)
                self._status(stream, "error", f"{_first_line(exc)}; restarting in {delay:g} s")
                await asyncio.sleep(delay)

    # -- shared helpers -----------------------------------------------------------------
    def _put(self, item: Event) -> None:
        self._queue.put_nowait(item)

    def _status(self, stream: str, event: str, detail: str) -> None:
        self._put(FeedStatus(stream, event, detail, self._reconnects[stream]))

    def _delay(self, failures: int) -> float:
        return min(self._backoff * 2.0 ** max(0, failures - 1), self._max_backoff)

    def _connection(self, stream: str, pro: Any, seen: Any) -> Any:
        """Report "connected"/"reconnected" when the stream's socket is a new one."""
        clients = list((getattr(pro, "clients", None) or {}).values())
        current = tuple(sorted((id(c), c.connectionEstablished or 0) for c in clients))
        if not current or current == seen:
            return seen
        if seen is None:
            self._status(stream, "connected", f"{self.exchange_id} {stream} socket open")
        else:
            self._reconnects[stream] += 1
            self._status(stream, "reconnected",
                         f"{self.exchange_id} {stream} socket reconnected and resubscribed")
        return current

    @staticmethod
    async def _reset(pro: Any) -> None:
        """Close the instance's sockets so the next watch dials afresh."""
        for client in list((getattr(pro, "clients", None) or {}).values()):
            with contextlib.suppress(Exception):
                await client.close()
        pro.clients = {}

    async def _pump(self, stream: str, call: Any, drain: Any, *, patient: bool = False,
                    on_fail: Any = None, wait: Any = None) -> None:
        """Keep one watch pending on the stream's socket and ``drain`` ccxt's cache after
        every message.

        ccxt resolves a watch only for the message that arrives while it is pending (one
        that arrives between two calls waits in the cache for the next message), so the
        feed is woken by every message itself (see :meth:`_twin`) and reads the cache. A
        failed watch is reported and retried after the backoff, then ``on_fail`` runs; no
        message for ``silence`` seconds (unless ``patient``) is reported and the socket
        redialled. ``wait()`` gives a shorter wake-up (the trade reorder window).
        """
        pro = self._twin(stream)
        woken = self._woken[stream]
        failures, seen, watch = 0, None, None
        while True:
            if watch is None:
                watch = asyncio.ensure_future(call(pro))
            waiter = asyncio.ensure_future(woken.wait())
            timeout = (wait() if wait else None) or (None if patient else self._silence)
            done, _ = await asyncio.wait({watch, waiter}, timeout=timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if watch in done:
                exc = None if watch.cancelled() else watch.exception()
                watch = None
                if isinstance(exc, ccxt.NotSupported):
                    raise _UnsupportedError(str(exc)) from exc
                if exc is not None:
                    failures += 1
                    delay = self._delay(failures)
                    self._status(stream, "retrying",
                                 f"{_first_line(exc)}; retrying in {delay:g} s")
                    await asyncio.sleep(delay)
                    if on_fail:
                        await on_fail()
                    continue
                failures = 0
            quiet = time.monotonic() - self._heard[stream]
            if not done and not patient and quiet >= self._silence:
                self._status(stream, "error", f"no {stream} message for {quiet:.0f} s; "
                                              f"reconnecting")
                watch.cancel()
                watch = None
                await self._reset(pro)
                self._heard[stream] = time.monotonic()
                if on_fail:
                    await on_fail()
                continue
            seen = self._connection(stream, pro, seen)
            woken.clear()
            await drain(pro)

    # -- klines ---------------------------------------------------------------------------
    async def _klines(self) -> None:
        await self._pump("klines", lambda pro: pro.watch_ohlcv(self.symbol, self.timeframe),
                         self._drain_klines, on_fail=self._close_by_clock)

    async def _drain_klines(self, pro: Any) -> None:
        stored = (getattr(pro, "ohlcvs", None) or {}).get(self.symbol, {}).get(self.timeframe)
        first = self._next_open()
        for candle in sorted(list(c) for c in stored or [] if first is None or c[0] >= first):
            await self._on_candle([int(candle[0]), *map(float, candle[1:6])])

    async def _on_candle(self, candle: list) -> None:
        ts = candle[0]
        if self._last_final is not None and ts <= self._last_final:
            return  # a closed bar again (late, repeated or out of order): already final
        forming = self._forming
        if forming is not None and ts < forming[0]:
            return
        if forming is None or ts > forming[0]:
            await self._finalize(ts)  # closes the forming bar and any bars missed
            self._forming = None
        elif candle == forming:
            return  # the same update twice
        self._forming = candle
        self._put(self._bar(candle, self._latest_oi(), final=False))

    async def _close_by_clock(self) -> None:
        """After a silence or failure: close over REST the bars the clock says are over."""
        now = int(self._rest.milliseconds())
        until = now - now % self.step
        start = self._next_open()
        if start is not None and until > start:
            await self._finalize(until)
            self._forming = None

    def _next_open(self) -> int | None:
        if self._last_final is not None:
            return self._last_final + self.step
        return self._forming[0] if self._forming is not None else None

    async def _finalize(self, until: int) -> None:
        """Send as final every bar from the first not yet final up to ``until`` (open
        time, exclusive), as REST has them."""
        start = self._next_open()
        if start is None or until <= start:
            return
        frame = await self._rest_bars(start, until)
        seen = self._forming
        rows = {int(t.value // 1_000_000): row for t, row in zip(
            frame.index, frame.itertuples(index=False), strict=True)}
        missing = 0
        for ts in range(start, until, self.step):
            row = rows.get(ts)
            if row is not None:
                oi = row.open_interest if not math.isnan(row.open_interest) else (
                    self._polled_at_close(ts))
                self._put(LiveBar(_stamp(ts), row.open, row.high, row.low, row.close,
                                  row.volume, float(oi), True))
            elif seen is not None and seen[0] == ts:  # REST lacks it: the socket's last word
                self._put(self._bar(seen, self._polled_at_close(ts), final=True))
                missing += 1
        self._last_final = until - self.step
        count = (until - start) // self.step
        if count > 1 or seen is None or seen[0] != start:
            unseen = count - (1 if seen is not None and seen[0] >= start else 0)
            self._status("klines", "backfilled",
                         f"{unseen} missed bar(s) backfilled over REST ({_when(start)} to "
                         f"{_when(until - self.step)} UTC)" + (
                             f"; {missing} not on REST yet, kept as last streamed"
                             if missing else ""))

    async def _rest_bars(self, start: int, until: int) -> pd.DataFrame:
        """Closed bars ``[start, until)`` over REST, retried with backoff until they come."""
        wait = (until - int(self._rest.milliseconds())) / 1000
        if wait > 0:  # our clock behind the exchange's: the bar is not closed here yet
            await asyncio.sleep(min(wait + 0.05, 5.0))
        failures = 0
        while True:
            try:
                return await asyncio.to_thread(self._fetch_range, start, until)
            except (FeedError, ccxt.BaseError, OSError) as exc:
                failures += 1
                delay = self._delay(failures)
                self._status("klines", "retrying", f"REST backfill {_when(start)} to "
                             f"{_when(until)} UTC failed ({_first_line(exc)}); "
                             f"retrying in {delay:g} s")
                await asyncio.sleep(delay)

    def _fetch_range(self, start: int, until: int) -> pd.DataFrame:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FeedWarning)  # coarse OI: said by history()
            if self._venues:
                return self._fetch_venues(start, until)
            return fetch_candles(self._rest, self.symbol, self.timeframe, since=start,
                                 until=until, cache_dir=self._cache_dir)

    def _bar(self, candle: list, oi: float, *, final: bool) -> LiveBar:
        ts, o, h, low, c, v = candle
        return LiveBar(_stamp(ts), o, h, low, c, v, float(oi), final)

    # -- open interest ----------------------------------------------------------------------
    def _coins(self, interest: dict, market: dict | None = None) -> float:
        market = (self._market if market is None else market) or {}
        amount = interest.get("openInterestAmount")
        size = float(market.get("contractSize") or 1.0)
        if amount is None:
            value = interest.get("openInterestValue")
            return float(value) / size if value is not None and market.get("inverse") else (
                math.nan)
        return float(amount) if market.get("inverse") else float(amount) * size

    def _latest_oi(self) -> float:
        """The latest poll, summed over the venues (NaN until each has answered)."""
        return sum((polled[-1][1] if polled else math.nan)
                   for polled in (self._polled, *self._venue_polled))

    def _polled_at_close(self, ts: int) -> float:
        """The last poll in ``(close - oi period, close]`` (the batch join's rule), summed
        over the venues."""
        return sum(self._at_close(polled, ts) for polled in (self._polled, *self._venue_polled))

    def _at_close(self, polled: list[tuple[int, float]], ts: int) -> float:
        if not polled:
            return math.nan
        snaps = np.array([(t, a, math.nan) for t, a in polled], dtype=np.float64)
        tolerance = max(self.step, 300_000)
        amount, _ = join_open_interest(np.array([ts]), self.step, snaps, tolerance)
        return float(amount[0])

    def _oi_pause(self) -> float:
        """Seconds to the next poll: ``oi_interval``, or less so that one poll lands about a
        second before the bar closes (the snapshot a closed bar falls back on)."""
        now = int(self._rest.milliseconds())
        to_close = (now - now % self.step + self.step - now) / 1000
        if 1.0 < to_close < self._oi_interval + 1.0:
            return to_close - 1.0 if to_close - 1.0 > 0.05 else self._oi_interval
        return self._oi_interval

    async def _open_interest(self) -> None:
        pro = self._twin("open_interest") if self._pro.has.get("fetchOpenInterest") else None
        params = {"interval": "5m"} if self._pro.id == "bybit" else {}
        await self._poll_open_interest(
            self._pro, lambda: pro.fetch_open_interest(self.symbol, params), self._polled,
            None, "")

    async def _venue_open_interest(self, i: int) -> None:
        """Poll venue ``i``'s current open interest over its (synchronous) REST, in a
        thread."""
        ex, market = self._venues[i], self._venue_markets[i]
        params = {"interval": "5m"} if ex.id == "bybit" else {}
        await self._poll_open_interest(
            ex, lambda: asyncio.to_thread(ex.fetch_open_interest, market["symbol"], params),
            self._venue_polled[i], market, f"{ex.id}: ")

    async def _poll_open_interest(self, ex: Any, fetch: Any, polled: list[tuple[int, float]],
                                  market: dict | None, said: str) -> None:
        """Poll ``fetch()`` (a venue's current open interest) every :meth:`_oi_pause` into
        ``polled`` (ms, coins), with its own backoff; statuses begin with ``said`` (the
        venue, for the summed ones)."""
        if not ex.has.get("fetchOpenInterest"):
            self._status("open_interest", "unsupported", f"{ex.id} has no current open "
                         f"interest in ccxt; forming bars carry NaN")
            return
        failures = 0
        while True:
            try:
                interest = await fetch()
                stamp = int(interest.get("timestamp") or ex.milliseconds())
                if not polled or stamp > polled[-1][0]:
                    polled.append((stamp, self._coins(interest, market)))
                    del polled[:-1000]
                failures = 0
                await asyncio.sleep(self._oi_pause())
            except ccxt.NotSupported as exc:
                self._status("open_interest", "unsupported", f"{said}{_first_line(exc)}")
                return
            except Exception as exc:
                failures += 1
                delay = self._delay(failures)
                self._status("open_interest", "retrying", f"{said}{_first_line(exc)}; "
                                                          f"retrying in {delay:g} s")
                await asyncio.sleep(delay)

    # -- trades -----------------------------------------------------------------------------
    async def _trades(self) -> None:
        await self._pump("trades", lambda pro: pro.watch_trades(self.symbol),
                         self._drain_trades, wait=lambda: self._reorder if self._held else None)

    def _fresh(self, key: Any) -> bool:
        """True the first time ``key`` is seen (the last 100,000 are remembered)."""
        if key in self._seen:
            return False
        self._seen.add(key)
        self._seen_order.append(key)
        if len(self._seen_order) > _SEEN_IDS:
            self._seen.discard(self._seen_order.popleft())
        return True

    async def _drain_trades(self, pro: Any) -> None:
        now, late, bad = time.monotonic(), 0, 0
        for trade in list((getattr(pro, "trades", None) or {}).get(self.symbol) or []):
            key = trade.get("id") or (trade.get("timestamp"), trade.get("price"),
                                      trade.get("amount"), trade.get("side"))
            if not self._fresh(("trade", key)):
                continue
            if not _whole(trade, ("timestamp", "price", "amount")) or trade.get("side") not in (
                    "buy", "sell"):
                bad += 1
                continue
            ts = int(trade["timestamp"])
            if ts < self._released:
                late += 1
                continue
            self._seq += 1
            self._held.append((ts, self._seq, float(trade["price"]), self._trade_coins(trade),
                               str(trade["side"]), now))
        if late:
            self._status("trades", "error", f"{late} trade(s) arrived more than "
                                            f"{self._reorder:g} s out of order; dropped")
        if bad:
            self._status("trades", "error", f"{bad} trade(s) without a time, price, amount "
                                            f"or side; dropped")
        out, self._held = self._release(self._held, now)
        if out:
            self._released = out[-1][0]
            self._put(LiveTrades(_trades_frame(out)))

    def _trade_coins(self, trade: dict) -> float:
        market = self._market or {}
        size = float(market.get("contractSize") or 1.0)
        amount = float(trade["amount"])
        return amount if market.get("inverse") else amount * size

    def _release(self, held: list, now: float) -> tuple[list, list]:
        """Trades old enough to be sent (in time order) and those still held."""
        if not held:
            return [], held
        newest = max(h[0] for h in held)
        window = self._reorder * 1000
        ripe = [h[0] for h in held if h[0] <= newest - window or now - h[5] >= self._reorder]
        if not ripe:
            return [], held
        cutoff = max(ripe)
        out = sorted(h for h in held if h[0] <= cutoff)
        return out, [h for h in held if h[0] > cutoff]

    # -- liquidations -----------------------------------------------------------------------
    async def _liquidations(self) -> None:
        if not self._pro.has.get("watchLiquidations"):
            self._status("liquidations", "unsupported",
                         f"{self.exchange_id} streams no liquidations in ccxt")
            return
        from ._liquidations import normalise_liquidations

        async def drain(pro: Any) -> None:
            mine = [item for item in list(getattr(pro, "liquidations", None) or [])
                    if item.get("symbol") == self.symbol
                    and self._fresh(("liquidation", json.dumps(item.get("info"),
                                                               sort_keys=True, default=str)))]
            if mine:
                frame = normalise_liquidations(self._rest, mine)
                if len(frame):
                    self._put(LiveLiquidations(frame))

        # liquidations may be rare: a long silence is normal, so no silence check
        await self._pump("liquidations", lambda pro: pro.watch_liquidations(self.symbol),
                         drain, patient=True)


class _UnsupportedError(Exception):
    """ccxt says the exchange cannot do it."""


def _stamp(ms: int) -> pd.Timestamp:
    return pd.Timestamp(int(ms), unit="ms", tz="UTC")


def _whole(item: dict, keys: tuple[str, ...]) -> bool:
    """True when every key holds a finite number (a price and amount also > 0)."""
    for key in keys:
        value = item.get(key)
        if not isinstance(value, int | float) or not math.isfinite(value) or (
                key != "timestamp" and value <= 0):
            return False
    return True


def _when(ms: int) -> str:
    return f"{_stamp(ms):%Y-%m-%d %H:%M}"


def _trades_frame(rows: list) -> pd.DataFrame:
    """The trades frame of :func:`read_trades` from ``(ts, seq, price, qty, side, t0)``."""
    ts = np.array([r[0] for r in rows], dtype=np.int64) * 1_000_000
    return pd.DataFrame({
        "time": pd.DatetimeIndex(ts.view("datetime64[ns]")).tz_localize("UTC"),
        "price": np.array([r[2] for r in rows], dtype=np.float64),
        "quantity": np.array([r[3] for r in rows], dtype=np.float64),
        "side": pa.array([r[4] for r in rows], pa.string()).to_pandas(),
    })
