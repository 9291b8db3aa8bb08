"""The live page: a chart served on 127.0.0.1 that moves as the live loop calls it.

:class:`LivePage` serves one HTML page (Lightweight Charts, ``js/liqlevels.js`` and
``js/live.js``, all inlined: the page loads nothing else) and a websocket. A page that connects
first receives the whole picture (a ``snap`` message holding a :class:`Scene` payload, drawn by
the same ``LiqLevels.mount`` as the static chart), then every change as a compact JSON message.
The state lives here (``charts._live_state.LiveState``), so a page opened, reloaded or
reconnected later shows what a freshly built :class:`Scene` of the same data would.

Wire format: each websocket text frame from the server is a JSON array of messages; every
message has ``t`` (its type) and ``q`` (a sequence number, increasing by one per message):

``snap``   ``scene``: the whole picture (``charts.Scene`` payload plus ``lines.id``/``lv``,
           ``markers``, ``status``, ``profiles[].slot``); the page rebuilds its chart. A big
           history (a Scene that packs its candles: ``AGGREGATE_FROM`` bars on, or
           ``aggregate=True``) sends every bar packed (``charts._data.packed_candles``), and the
           page draws them aggregated to the screen's resolution, refined on zoom
           (``js/pyramid.js``); its ``bar`` messages update the last bucket of each level.
``bar``    ``b: [time, open, high, low, close]`` (epoch s): same time as the last bar
           replaces it, a newer one appends it; ``w``: server wall clock (ms) when queued.
``lines``  ``add: [[id, start, end|null, price, colour, width, dashed]]`` (times epoch s),
           ``end: [[id, end]]``, ``live: [id]`` (ended no more), ``del: [id]``, ``total`` and,
           when it changed, ``leverages`` (the legend's).
``prof``   ``slot`` ("density" or "map"), ``p``: a profile payload or null (removed),
           ``pw``: the widest profile's share of the pane.
``marks``  ``m: [[bar time, "long"|"short", text, size]]``: markers added or grown.
``status`` ``s``: the status text.
``heat``   ``c: [time, [price_low], [long], [short]]``: the heatmap column at ``time`` (epoch s;
           the latest column's time replaces it, a later one appends), ``vmax`` and
           ``clipped``: the colour ramp's top.

The page answers each frame with ``{"a": q}`` once it has applied it (``series.update`` and
the primitives' data set) and ``{"f": q}`` after the next animation frame (drawn); see
:meth:`LivePage.applied`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import threading
import time as _time
from typing import Any, Literal

from aiohttp import WSMsgType, web

from ._html import document, lightweight_charts_js, our_js
from ._live_state import LiveState
from ._scene import Scene

__all__ = ["LivePage"]

_MAX_PENDING = 5000   # messages queued for one page before they are replaced by a snapshot
# Nothing but the inlined scripts and styles, and the page's own socket.
_CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "connect-src 'self'; img-src data:")


def _encode(msg: dict[str, Any]) -> str:
    return json.dumps(msg, separators=(",", ":"), allow_nan=False)


def _check_host(host: Any, allow_remote: bool) -> str:
    if not isinstance(host, str) or not host:
        raise TypeError(f"host={host!r} must be a host name or IP address string")
    if host == "localhost":
        return host
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and not allow_remote:
        raise ValueError(
            f"host={host!r} is not a loopback address: the live page has no authentication, "
            f"so it binds to 127.0.0.1 only; pass allow_remote=True to serve it to other "
            f"machines on purpose")
    return host


def _check_port(port: Any) -> int:
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f"port={port!r} must be a whole number (0 picks a free port)")
    if not 0 <= port <= 65535:
        raise ValueError(f"port={port!r} must be between 0 and 65535 (0 picks a free port)")
    return port


def _check_max_bars(value: Any, name: str = "max_bars") -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}={value!r} must be a whole number or None for all")
    if value < 1:
        raise ValueError(f"{name}={value!r} must be >= 1")
    return value


class _Client:
    """One connected page: its socket, what is queued for it, what it has acknowledged."""

    def __init__(self, ws: web.WebSocketResponse, loop: asyncio.AbstractEventLoop) -> None:
        self.ws = ws
        self.loop = loop
        self.pending: list[str] = []
        self.wake = asyncio.Event()
        self.applied = 0
        self.painted = 0

    def notify(self) -> None:
        """Wake the sender from any thread."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self.wake.set()
        else:
            self.loop.call_soon_threadsafe(self.wake.set)


class LivePage:
    """A chart page that moves: served on 127.0.0.1, updated in place over a websocket.

    Start from the static picture (``scene``), :meth:`start` the server inside the running
    asyncio loop, open :attr:`url` in a browser, then call :meth:`bar`, :meth:`levels`,
    :meth:`density`, :meth:`trade_map`, :meth:`liquidations` and :meth:`status` as data
    comes. Each call is synchronous and cheap: it updates the state kept here and queues one
    message for every connected page (safe to call from another thread too). A page that
    connects later, or reconnects after the socket dropped, receives :meth:`snapshot`.

    Parameters
    ----------
    scene : charts.Scene
        The starting picture: candles, lines, density and map profiles, title. Its OI panes
        are not drawn live (the live calls carry no per-bar OI). A profile labelled as
        :func:`density_profile` labels it is the one :meth:`density` replaces; one labelled
        as :func:`liquidation_profile` labels it, the one :meth:`trade_map` replaces.
    host : str, default "127.0.0.1"
        Where to listen. Only loopback addresses (and ``localhost``) unless
        ``allow_remote=True``: the page has no authentication.
    port : int, default 0
        TCP port; 0 picks a free one (kept across :meth:`stop`/:meth:`start`).
    max_bars : int or None, default None
        Keep at most this many newest bars (lines ended and liquidations before them go
        too); trimmed in steps of a tenth, each step sending pages a snapshot. None keeps all.
    max_lines : int, None or "scene", default "scene"
        Draw the newest ``max_lines`` lines, as Scene's ``max_lines`` (None: all). "scene"
        reads it off the scene: the drawn count when the scene cut lines, else 500 (Scene's
        default); pass the scene's value when it was built with ``max_lines=None``.
    allow_remote : bool, default False
        Allow a non-loopback ``host`` (and any Host header). Otherwise only requests naming
        this host and port (or ``localhost``/``127.0.0.1`` with it) are served, and the socket
        only to its own page (``Origin``), so no other web site open in the same browser can
        read it, not even by rebinding its name to 127.0.0.1.

    Attributes
    ----------
    url : str
        ``http://127.0.0.1:PORT/`` once started ("" before).
    clients : int
        Pages connected now.
    sent : int
        Messages written to pages so far (each page counted; snapshots included).
    seq : int
        Sequence number of the latest message (see :meth:`applied`).

    Raises
    ------
    TypeError, ValueError
        A scene that is not a :class:`Scene`, a non-loopback host, a bad port or max_bars.
    """

    def __init__(self, scene: Scene, *, host: str = "127.0.0.1", port: int = 0,
                 max_bars: int | None = None, max_lines: int | Literal["scene"] | None = "scene",
                 allow_remote: bool = False) -> None:
        if not isinstance(scene, Scene):
            raise TypeError(f"scene is a {type(scene).__name__}; pass a charts.Scene")
        if max_lines != "scene":
            max_lines = _check_max_bars(max_lines, "max_lines")
        self.host = _check_host(host, allow_remote)
        self.allow_remote = bool(allow_remote)
        self.port = _check_port(port)
        # a big scene (packed: Scene's aggregate) starts the state from its packed page, and
        # the page draws the candles aggregated (pyramid.js); a small one from its JSON
        start = scene._page if scene._aggregate else scene._scene
        self._state = LiveState(start, max_bars=_check_max_bars(max_bars),
                                max_lines=max_lines, heatmap=scene._heatmap)
        heat_js = ["heatmap.js"] if scene._heatmap is not None else []
        big_js = ["pyramid.js"] if scene._aggregate else []
        self._html = document(
            title=scene.page_title, csp=_CSP, generator="liqlevels live",
            background=start["theme"]["background"],
            scripts=[f"<script>{lightweight_charts_js()}</script>",
                     *(f"<script>{our_js(name)}</script>"
                       for name in ("liqlevels.js", *big_js, *heat_js, "live.js"))])
        self._lock = threading.Lock()
        self._clients: set[_Client] = set()
        self._acks: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.seq = 0
        self.sent = 0
        self.url = ""

    # ----------------------------------------------------------------------- server

    @property
    def clients(self) -> int:
        """How many pages are connected now."""
        return len(self._clients)

    async def start(self) -> str:
        """Serve the page inside the running asyncio loop; returns its URL
        (``http://127.0.0.1:PORT/``). Calling it again while serving returns the URL."""
        if self._runner is not None:
            return self.url
        self._loop = asyncio.get_running_loop()
        self._acks = asyncio.Event()
        app = web.Application()
        app.router.add_get("/", self._page)
        app.router.add_get("/ws", self._socket)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{host}:{self.port}/"
        return self.url

    async def stop(self) -> None:
        """Close every page's socket (the pages show "disconnected" and keep retrying) and
        stop serving; the state is kept, so :meth:`start` serves it again on the same port."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        with self._lock:
            clients = list(self._clients)
        for client in clients:
            await client.ws.close(code=1001, message=b"server stopping")
        await runner.cleanup()

    def _our_host(self, request: web.Request) -> bool:
        """The Host a browser sends for our own URL (a name rebound to 127.0.0.1 by another
        site's DNS sends that site's name, and is refused)."""
        if self.allow_remote:
            return True
        host = self.url.split("//", 1)[1].rstrip("/")
        return request.host in (host, f"localhost:{self.port}", f"127.0.0.1:{self.port}")

    async def _page(self, request: web.Request) -> web.Response:
        if not self._our_host(request):
            raise web.HTTPMisdirectedRequest(text="unknown host")
        return web.Response(text=self._html, content_type="text/html",
                            headers={"Cache-Control": "no-store",
                                     "X-Content-Type-Options": "nosniff"})

    def _same_origin(self, request: web.Request) -> bool:
        """A page of another site (in the same browser) may not read this socket."""
        origin = request.headers.get("Origin")
        return origin is None or origin == f"http://{request.host}"

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        if not (self._our_host(request) and self._same_origin(request)):
            raise web.HTTPForbidden(text="the live page's socket serves its own page only")
        ws = web.WebSocketResponse(compress=False, heartbeat=20.0)
        await ws.prepare(request)
        client = _Client(ws, asyncio.get_running_loop())
        with self._lock:
            client.pending.append(_encode(dict(self._state.snapshot(), q=self.seq)))
            self._clients.add(client)
        client.wake.set()
        sender = asyncio.create_task(self._send(client))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._ack(client, msg.data)
        finally:
            with self._lock:
                self._clients.discard(client)
            sender.cancel()
            if self._acks is not None:
                self._acks.set()
        return ws

    async def _send(self, client: _Client) -> None:
        ws = client.ws
        while not ws.closed:
            await client.wake.wait()
            client.wake.clear()
            with self._lock:
                batch, client.pending = client.pending, []
            if batch:
                try:
                    await ws.send_str("[" + ",".join(batch) + "]")
                except (ConnectionError, RuntimeError):
                    return
                self.sent += len(batch)

    def _ack(self, client: _Client, data: str) -> None:
        try:
            msg = json.loads(data)
            client.applied = max(client.applied, int(msg.get("a", 0)))
            client.painted = max(client.painted, int(msg.get("f", 0)))
        except (ValueError, TypeError, AttributeError):
            return
        if self._acks is not None:
            self._acks.set()

    async def applied(self, seq: int | None = None, *, painted: bool = False,
                      timeout: float = 10.0) -> None:
        """Wait until every connected page has applied message ``seq`` (default: the latest);
        with ``painted``, until it has also drawn a frame after it.

        Raises
        ------
        TimeoutError
            Not within ``timeout`` seconds.
        """
        seq = self.seq if seq is None else seq
        acks = self._acks
        if acks is None:
            return
        async with asyncio.timeout(timeout):
            while True:
                acks.clear()
                if all((c.painted if painted else c.applied) >= seq for c in self._clients):
                    return
                await acks.wait()

    # ------------------------------------------------------------------------ state

    def _stamped(self, msg: dict[str, Any]) -> str:
        """Number a message and encode it (lock held)."""
        self.seq += 1
        msg["q"] = self.seq
        return _encode(msg)

    def _queue(self, msgs: list[dict[str, Any]]) -> None:
        """Number, encode and queue messages for every page (lock held)."""
        if not msgs:
            return
        encoded = [self._stamped(m) for m in msgs]
        snap = None
        for client in self._clients:
            client.pending.extend(encoded)
            if len(client.pending) > _MAX_PENDING:  # a page far behind: start it afresh
                snap = snap or _encode(dict(self._state.snapshot(), q=self.seq))
                client.pending = [snap]
            client.notify()

    def bar(self, time: Any, open: float, high: float, low: float,
            close: float) -> None:
        """The forming candle (same ``time`` as the latest bar: replaced) or a new one
        (a later ``time``: appended). ``time``: the bar's open time (Timestamp, datetime,
        string or epoch ms; naive means UTC); prices in quote currency.

        Raises
        ------
        ValueError
            A time before the latest bar, or high/low that do not bracket open/close.
        """
        with self._lock:
            msgs = self._state.bar(time, open, high, low, close)
            for m in msgs:
                if m["t"] == "bar":
                    m["w"] = int(_time.time() * 1000)
            self._queue(msgs)

    def levels(self, change: Any) -> None:
        """Lines born, ended and (``change.undone``) taken back by the latest bar: the
        :class:`indicator.Change` ``LevelStream.update`` returned (call :meth:`bar` first)."""
        with self._lock:
            self._queue(self._state.levels(change))

    def density(self, frame: Any) -> None:
        """Replace the density histogram: :func:`indicator.density` output (or a
        :class:`Profile`); None removes it. Empty or all-zero frames draw nothing."""
        with self._lock:
            self._queue(self._state.profile("density", frame))

    def trade_map(self, frame: Any) -> None:
        """Replace the trade-based map profile: :func:`indicator.liquidation_map` output
        (drawn as :func:`charts.liquidation_profile`, on the pane's left edge at width 0.2 so
        it never covers the density on the right) or a :class:`Profile` (drawn as built);
        None removes it."""
        with self._lock:
            self._queue(self._state.profile("map", frame))

    def liquidations(self, frame: Any) -> None:
        """Add realised liquidations as markers, summed per bar and side: ``time`` (UTC
        datetimes or epoch ms, a column or the index), ``side`` ("long"/"short": whose
        position), ``notional`` (quote currency); other columns are ignored. A liquidation
        after the latest bar waits for its bar; one before the first bar is dropped."""
        with self._lock:
            self._queue(self._state.liquidations(frame))

    def heatmap(self, time: Any, frame: Any) -> None:
        """Set the heatmap column at ``time`` (the latest column's time: replaced; a later
        time: appended) to ``frame``, :func:`indicator.heatmap` of the live lines at that time
        with the scene heatmap's bin size (the same weight). Earlier columns never change (a
        line ends after the bars it was live on). Needs a Scene built with ``heatmap=``."""
        with self._lock:
            self._queue(self._state.heatmap(time, frame))

    def status(self, text: str) -> None:
        """The status line's text (shown as text, never markup)."""
        with self._lock:
            self._queue(self._state.set_status(text))

    def snapshot(self) -> dict[str, Any]:
        """The full current state a newly connected page receives (a ``snap`` message)."""
        with self._lock:
            return dict(self._state.snapshot(), q=self.seq)
