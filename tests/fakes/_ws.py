"""Loopback websocket fakes of Binance USD-M, Bybit v5 and OKX v5 public streams.

Each speaks the venue's own protocol as ccxt.pro reads it (subscribe messages and their
replies, keep-alive pings, the raw kline / trade / liquidation messages), so the real
``ccxt.pro`` code subscribes and parses. A fake is built on the REST fake of the same venue
and shares its :class:`MarketData` and clock (``rest.now``): a kline sent for a bar carries
the values REST returns for it once it has closed. It also adds the venue's current
open-interest route to that REST fake, which ccxt's ``fetch_open_interest`` asks.

Usage::

    with fake_exchange("bybit") as (rest, server), FakeWebsocket(server) as ws:
        pro = ws.pro_exchange()          # ccxt.pro instance pointed at both fakes
        ...                              # in the test's event loop
        await ws.wait_subscribed("kline")
        ws.send_kline(t)                 # the forming bar as of server.now
        server.now = t + 60_000
        ws.send_kline(t, final=True)     # its closing update
        ws.drop()                        # close every socket (mid-bar)

Control methods are thread-safe and return once the frames are written; ``wait_*`` are
awaitables polled in the caller's loop (the server runs its own loop in a thread).
Faults: :meth:`drop` (close all sockets, or one kind's), :meth:`refuse` (answer the next
handshakes with HTTP 503), :meth:`fail_subscriptions` (close a socket that subscribes to one
kind: that stream alone fails), :meth:`silence` (accept but send nothing, pongs included),
``repeat=`` (send a message more than once), :meth:`send_klines` (messages in any order). Logs:
:attr:`subscriptions` (``(kind, topic)`` per subscribe, in order), :attr:`connections`
(handshakes accepted) and :attr:`refused`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
import time
from typing import Any

import ccxt
import ccxt.pro
import numpy as np
from aiohttp import WSMsgType, web

from ._data import MarketData
from ._exchanges import FakeBinanceUSDM, FakeBybit, FakeOKX, point_at
from ._server import FakeServer, Response

__all__ = ["FakeWebsocket", "point_ws"]

MIN = 60_000
_OI_STEP = 5 * MIN


def point_ws(exchange: ccxt.Exchange, base_url: str) -> ccxt.Exchange:
    """Point every websocket address of ``exchange`` at ``base_url`` (``ws://host:port``),
    keeping the paths (Bybit's ``{hostname}`` templates included)."""

    def swap(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, str):
            return re.sub(r"^wss?://[^/]+", base_url, value)
        return value

    exchange.urls["api"]["ws"] = swap(exchange.urls["api"]["ws"])
    return exchange


def _num(x: float) -> str:
    return f"{x:.10g}"


class FakeWebsocket:
    """A loopback websocket server for the venue of ``rest`` (a started REST fake).

    Parameters
    ----------
    rest : FakeBinanceUSDM, FakeBybit or FakeOKX
        The REST fake whose content and clock the streams share.
    """

    def __init__(self, rest: FakeServer) -> None:
        self.rest = rest
        self.venue = {FakeBinanceUSDM: "binanceusdm", FakeBybit: "bybit",
                      FakeOKX: "okx"}[type(rest)]
        self.subscriptions: list[tuple[str, str]] = []
        self.connections = 0
        self.refused = 0
        self._sockets: dict[web.WebSocketResponse, set[str]] = {}
        self._refuse = 0
        self._refuse_until = 0.0
        self._silent = False
        self._failing: set[str | None] = set()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._ids = itertools.count(1)
        add_open_interest_route(rest)

    # -- life cycle -------------------------------------------------------------------
    def start(self) -> FakeWebsocket:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._serve())
            ready.set()
            self._loop.run_forever()

        threading.Thread(target=run, daemon=True).start()
        ready.wait(5)
        return self

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def stop(self) -> None:
        if self._loop is None:
            return
        loop, self._loop = self._loop, None
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)

    async def _shutdown(self) -> None:
        await self._close_all()
        if self._runner is not None:
            await self._runner.cleanup()

    def __enter__(self) -> FakeWebsocket:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"ws://127.0.0.1:{self._port}"

    def pro_exchange(self, **config: Any) -> ccxt.pro.Exchange:
        """A ``ccxt.pro`` instance of this venue pointed at the REST and websocket fakes,
        its clock pinned to the REST fake's ``now``."""
        ex = getattr(ccxt.pro, self.venue)({"enableRateLimit": False, "timeout": 5000,
                                            **config})
        point_at(ex, self.rest.base_url)
        point_ws(ex, self.base_url)
        ex.milliseconds = lambda: self.rest.now
        return ex

    # -- faults -----------------------------------------------------------------------
    def drop(self, kind: str | None = None) -> None:
        """Close every open socket now, or those subscribed to ``kind`` ("kline",
        "trade", "liquidation"): the clients see the connection end."""
        self._call(self._close_all(kind))

    def fail_subscriptions(self, kind: str | None, on: bool = True) -> None:
        """While on, a socket that subscribes to ``kind`` is closed at once (that stream
        cannot connect; the others can)."""
        with self._lock:
            if on:
                self._failing.add(kind)
            else:
                self._failing.discard(kind)

    def refuse(self, count: int = 0, *, seconds: float = 0.0) -> None:
        """Answer the next ``count`` handshakes, and every handshake for the next
        ``seconds``, with HTTP 503."""
        with self._lock:
            self._refuse = count
            self._refuse_until = time.monotonic() + seconds

    def silence(self, on: bool = True) -> None:
        """Send nothing (data, replies or pongs) while on; what is asked is lost."""
        with self._lock:
            self._silent = on

    # -- logs -------------------------------------------------------------------------
    def subscribed(self, kind: str) -> int:
        """How many subscribe requests for ``kind`` ("kline", "trade", "liquidation")."""
        with self._lock:
            return sum(1 for k, _ in self.subscriptions if k == kind)

    async def wait_subscribed(self, kind: str, times: int = 1, timeout: float = 5.0) -> None:
        """Wait (in the caller's loop) until ``kind`` was subscribed ``times`` times."""
        await self.wait(lambda: self.subscribed(kind) >= times, timeout,
                        f"{kind} subscribed {times} times")

    async def wait(self, condition: Any, timeout: float = 5.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"fake websocket: no {what} within {timeout} s "
                                   f"(subscriptions {self.subscriptions})")
            await asyncio.sleep(0.01)

    # -- sending ----------------------------------------------------------------------
    def kline_values(self, t: int, timeframe: str, *, final: bool = False,
                     base: str = "SOL") -> tuple[float, float, float, float, float]:
        """OHLCV of the bar opening at ``t``: the full bar when ``final``, else the part
        of it before the clock (``rest.now``), or its open with no volume when none is."""
        step = _step(timeframe)
        data: MarketData = self.rest.content[base]
        ts, ohlcv = data.ts, data.ohlcv
        end = t + step if final else min(t + step, int(self.rest.now))
        rows = ohlcv[(ts >= t) & (ts < end)]
        if not len(rows):
            first = ohlcv[np.searchsorted(ts, t)]
            return float(first[0]), float(first[0]), float(first[0]), float(first[0]), 0.0
        return (float(rows[0, 0]), float(rows[:, 1].max()), float(rows[:, 2].min()),
                float(rows[-1, 3]), float(rows[:, 4].sum()))

    def kline_message(self, t: int, timeframe: str, *, final: bool = False, base: str = "SOL",
                      values: tuple | None = None) -> tuple[str, dict]:
        """``(topic, message)`` of one kline update in the venue's format."""
        o, h, low, c, v = values or self.kline_values(t, timeframe, final=final, base=base)
        step, now = _step(timeframe), int(self.rest.now)
        if self.venue == "binanceusdm":
            sym = f"{base}USDT"
            return f"{sym.lower()}@kline_{timeframe}", {
                "e": "kline", "E": now, "s": sym, "k": {
                    "t": t, "T": t + step - 1, "s": sym, "i": timeframe, "f": 1, "L": 2,
                    "o": _num(o), "c": _num(c), "h": _num(h), "l": _num(low), "v": _num(v),
                    "n": 2, "x": final, "q": _num(v * c), "V": "0", "Q": "0", "B": "0"}}
        if self.venue == "bybit":
            interval = _BYBIT_INTERVALS[timeframe]
            topic = f"kline.{interval}.{base}USDT"
            return topic, {"topic": topic, "type": "snapshot", "ts": now, "data": [{
                "start": t, "end": t + step - 1, "interval": interval, "open": _num(o),
                "close": _num(c), "high": _num(h), "low": _num(low), "volume": _num(v),
                "turnover": _num(v * c), "confirm": final, "timestamp": now}]}
        channel = f"candle{_OKX_BARS[timeframe]}"
        arg = {"channel": channel, "instId": f"{base}-USDT-SWAP"}
        return _okx_topic(arg), {"arg": arg, "data": [[
            str(t), _num(o), _num(h), _num(low), _num(c), _num(v), _num(v), _num(v * c),
            "1" if final else "0"]]}

    def send_kline(self, t: int, timeframe: str, *, final: bool = False, base: str = "SOL",
                   values: tuple | None = None, repeat: int = 1) -> int:
        """Send the bar opening at ``t`` (forming as of ``rest.now``, or ``final``) to its
        subscribers, ``repeat`` times; returns how many sockets got it."""
        topic, message = self.kline_message(t, timeframe, final=final, base=base,
                                            values=values)
        return self.send(topic, *[message] * repeat)

    def send_klines(self, bars: list[tuple[int, bool]], timeframe: str,
                    base: str = "SOL") -> int:
        """Send ``(t, final)`` kline updates in the order given (out of order if wanted)."""
        pairs = [self.kline_message(t, timeframe, final=f, base=base) for t, f in bars]
        return sum(self.send(topic, message) for topic, message in pairs)

    def trade_message(self, trade: dict, base: str = "SOL") -> tuple[str, dict]:
        """``trade``: ``id`` (int), ``time`` (ms), ``price``, ``quantity`` (coins), ``side``
        (the taker's, "buy"/"sell")."""
        t, price, qty = int(trade["time"]), trade["price"], trade["quantity"]
        buy = trade["side"] == "buy"
        if self.venue == "binanceusdm":
            sym = f"{base}USDT"
            return f"{sym.lower()}@trade", {
                "e": "trade", "E": t + 1, "T": t, "s": sym, "t": int(trade["id"]),
                "p": _num(price), "q": _num(qty), "X": "MARKET", "m": not buy}
        if self.venue == "bybit":
            topic = f"publicTrade.{base}USDT"
            return topic, {"topic": topic, "type": "snapshot", "ts": t + 1, "data": [{
                "T": t, "s": f"{base}USDT", "S": "Buy" if buy else "Sell", "v": _num(qty),
                "p": _num(price), "L": "PlusTick", "i": f"id-{int(trade['id']):012d}",
                "BT": False}]}
        arg = {"channel": "trades", "instId": f"{base}-USDT-SWAP"}
        size = qty / FakeOKX.CONTRACT[base]
        return _okx_topic(arg), {"arg": arg, "data": [{
            "instId": f"{base}-USDT-SWAP", "tradeId": str(int(trade["id"])), "px": _num(price),
            "sz": _num(size), "side": "buy" if buy else "sell", "ts": str(t)}]}

    def send_trades(self, trades: list[dict], base: str = "SOL", repeat: int = 1) -> int:
        """Send each trade as its own message, in the order given, ``repeat`` times."""
        pairs = [self.trade_message(tr, base) for tr in trades]
        return sum(self.send(topic, *[message] * repeat) for topic, message in pairs)

    def liquidation_message(self, *, position: str, price: float, quantity: float, time: int,
                            base: str = "SOL") -> tuple[str, dict]:
        """One liquidation of a ``position`` ("long"/"short") in the venue's raw format:
        Binance's ``S`` is the liquidation order's side (SELL closes a long), Bybit's
        allLiquidation ``S`` is the position's side (Buy = a long), OKX gives ``posSide``
        and the order ``side``."""
        long = position == "long"
        if self.venue == "binanceusdm":
            sym = f"{base}USDT"
            return f"{sym.lower()}@forceOrder", {"e": "forceOrder", "E": time + 1, "o": {
                "s": sym, "S": "SELL" if long else "BUY", "o": "LIMIT", "f": "IOC",
                "q": _num(quantity), "p": _num(price), "ap": _num(price), "X": "FILLED",
                "l": _num(quantity), "z": _num(quantity), "T": time}}
        if self.venue == "bybit":
            topic = f"allLiquidation.{base}USDT"
            return topic, {"topic": topic, "type": "snapshot", "ts": time + 1, "data": [{
                "T": time, "s": f"{base}USDT", "S": "Buy" if long else "Sell",
                "v": _num(quantity), "p": _num(price)}]}
        arg = {"channel": "liquidation-orders", "instType": "SWAP"}
        return _okx_topic(arg), {"arg": arg, "data": [{
            "details": [{"bkLoss": "0", "bkPx": _num(price), "ccy": "",
                         "posSide": position, "side": "sell" if long else "buy",
                         "sz": _num(quantity / FakeOKX.CONTRACT[base]), "ts": str(time)}],
            "instFamily": f"{base}-USDT", "instId": f"{base}-USDT-SWAP", "instType": "SWAP",
            "uly": f"{base}-USDT"}]}

    def send_liquidation(self, **kwargs: Any) -> int:
        """Send one liquidation (see :meth:`liquidation_message`)."""
        return self.send(*self.liquidation_message(**kwargs))

    def send(self, topic: str, *messages: dict | str) -> int:
        """Send raw ``messages`` to every socket subscribed to ``topic`` (as the venue names
        it); returns how many sockets were sent to."""
        return self._call(self._send(topic, messages))

    # -- serving ----------------------------------------------------------------------
    def _call(self, coro: Any) -> Any:
        assert self._loop is not None, "start the fake first"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(5)

    async def _send(self, topic: str, messages: tuple) -> int:
        with self._lock:
            if self._silent:
                return 0
            targets = [ws for ws, topics in self._sockets.items() if topic in topics]
        for ws in targets:
            for message in messages:
                text = message if isinstance(message, str) else json.dumps(message)
                try:
                    await ws.send_str(text)
                except (ConnectionError, RuntimeError):
                    break
        return len(targets)

    async def _close_all(self, kind: str | None = None) -> None:
        with self._lock:
            sockets = [ws for ws, topics in self._sockets.items()
                       if kind is None or any(_kind(t) == kind for t in topics)]
            for ws in sockets:
                self._sockets.pop(ws, None)
        for ws in sockets:
            await ws.close(code=1001, message=b"going away")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        with self._lock:
            refused = self._refuse > 0 or time.monotonic() < self._refuse_until
            if self._refuse > 0:
                self._refuse -= 1
            if refused:
                self.refused += 1
                return web.Response(status=503, text="503 Service Unavailable")
            self.connections += 1
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        with self._lock:
            self._sockets[ws] = set()
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self._on_text(ws, msg.data)
        finally:
            with self._lock:
                self._sockets.pop(ws, None)
        return ws

    async def _reply(self, ws: web.WebSocketResponse, message: dict | str) -> None:
        with self._lock:
            if self._silent:
                return
        await ws.send_str(message if isinstance(message, str) else json.dumps(message))

    async def _on_text(self, ws: web.WebSocketResponse, text: str) -> None:
        if text == "ping":  # OKX's text keep-alive
            await self._reply(ws, "pong")
            return
        message = json.loads(text)
        if self.venue == "binanceusdm":
            await self._binance(ws, message)
        elif self.venue == "bybit":
            await self._bybit(ws, message)
        else:
            await self._okx(ws, message)

    async def _subscribe(self, ws: web.WebSocketResponse, topics: list[str]) -> bool:
        """Record a subscription; False (and the socket closed) when its kind is failing."""
        with self._lock:
            self.subscriptions += [(_kind(topic), topic) for topic in topics]
            failing = any(_kind(t) in self._failing for t in topics)
            if ws in self._sockets and not failing:
                self._sockets[ws].update(topics)
            if failing:
                self._sockets.pop(ws, None)
        if failing:
            await ws.close(code=1011, message=b"subscription failed")
        return not failing

    async def _binance(self, ws: web.WebSocketResponse, message: dict) -> None:
        if message.get("method") == "SUBSCRIBE":
            if await self._subscribe(ws, list(message.get("params", []))):
                await self._reply(ws, {"result": None, "id": message.get("id")})

    async def _bybit(self, ws: web.WebSocketResponse, message: dict) -> None:
        op = message.get("op")
        reply = {"success": True, "ret_msg": "", "conn_id": "fake", "req_id":
                 message.get("req_id"), "op": op}
        if op == "ping":
            await self._reply(ws, {**reply, "ret_msg": "pong"})
        elif op == "subscribe":
            if await self._subscribe(ws, list(message.get("args", []))):
                await self._reply(ws, reply)

    async def _okx(self, ws: web.WebSocketResponse, message: dict) -> None:
        if message.get("op") == "subscribe":
            args = list(message.get("args", []))
            if not await self._subscribe(ws, [_okx_topic(arg) for arg in args]):
                return
            for arg in args:
                await self._reply(ws, {"event": "subscribe", "arg": arg, "connId": "fake"})


_BYBIT_INTERVALS = {"1m": "1", "3m": "3", "5m": "5", "15m": "15", "30m": "30", "1h": "60",
                    "2h": "120", "4h": "240", "6h": "360", "12h": "720", "1d": "D"}
_OKX_BARS = {"1m": "1m", "3m": "3m", "5m": "5m", "15m": "15m", "30m": "30m", "1h": "1H",
             "2h": "2H", "4h": "4H", "6h": "6Hutc", "12h": "12Hutc", "1d": "1Dutc"}


def _step(timeframe: str) -> int:
    return int(timeframe[:-1]) * {"m": MIN, "h": 60 * MIN, "d": 1440 * MIN}[timeframe[-1]]


def _okx_topic(arg: dict) -> str:
    return f"{arg['channel']}:{arg.get('instId') or arg.get('instType')}"


def _kind(topic: str) -> str:
    """"kline", "trade" or "liquidation" for a venue's topic name."""
    low = topic.lower()
    if "kline" in low or low.startswith("candle"):
        return "kline"
    if "liquidation" in low or "forceorder" in low:
        return "liquidation"
    if "trade" in low:
        return "trade"
    return "other"


# -- the current open interest, which fetch_open_interest asks ----------------------------
def add_open_interest_route(rest: FakeServer) -> None:
    """Serve the venue's current open interest: the 5-minute snapshot at or before the
    clock (Bybit's existing history route already answers ccxt's call)."""

    def snapshot(base: str) -> tuple[int, float, float]:
        snaps = rest.content[base].open_interest(_OI_STEP)
        snaps = snaps[snaps[:, 0] <= rest.now]
        t, amount, value = snaps[-1]
        return int(t), float(amount), float(value)

    if isinstance(rest, FakeBinanceUSDM):
        def binance(params: dict, headers: dict) -> Response:
            base = params.get("symbol", "")[:-4]
            _, amount, _ = snapshot(base)
            return Response.json({"openInterest": f"{amount:.8f}", "symbol": f"{base}USDT",
                                  "time": int(rest.now)})

        rest.routes["/fapi/v1/openInterest"] = binance
    elif isinstance(rest, FakeOKX):
        def okx(params: dict, headers: dict) -> Response:
            base = params.get("instId", "").split("-")[0]
            _, amount, value = snapshot(base)
            return Response.json({"code": "0", "msg": "", "data": [{
                "instId": f"{base}-USDT-SWAP", "instType": "SWAP",
                "oi": _num(amount / FakeOKX.CONTRACT[base]), "oiCcy": _num(amount),
                "oiUsd": _num(value), "ts": str(int(rest.now))}]})

        rest.routes["/api/v5/public/open-interest"] = okx
