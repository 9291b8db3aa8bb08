"""Latency of the live page: ``python -P -m pytest benchmarks/bench_live_latency.py``.

Target (issue 15): at most 50 ms on loopback from a Python ``LivePage.bar(...)`` call to the
page in headless Chromium having applied it. Each round, on the server's asyncio loop (as the
live loop calls it): take the time, call ``bar()`` (the forming candle re-sent with a new
close; every tenth round a new candle appended), then wait until the page's acknowledgement
of that message's sequence number comes back over the websocket; take the time again. So the
figure holds everything a user waits for: state update, JSON, the socket both ways, the
page's ``JSON.parse``, ``series.update`` and status line, and the ack's trip back (which a user
does not wait for: the figure is an upper bound). ``painted`` waits one more step: the page's
ack sent from the first animation frame after applying (Lightweight Charts draws the canvas
in that frame, before our callback). The page holds 2,000 one-minute candles, their lines
(newest 500 drawn) and the density profile.

Baselines in the same run: ``echo``, a message the page applies nothing for (the same socket,
parse, ack and loop wake-ups: the transport's floor), and ``bare_ws``, a plain aiohttp
websocket echo between two Python ends (no browser). pytest-benchmark's times also hold a
thread hop (the test's thread hands each round to the loop's thread, ~0.1 ms);
``extra_info["in_loop_ms"]`` is the median measured inside the loop.

Rounds are paced 25 ms apart (untimed), so each starts with the page idle as it would be
between real updates; back to back, a round can land while Chromium paints the previous one.

Measured on the 2-core box while other work ran on it (load average 3 to 4), 300 rounds
(150 for painted and the full bar), pytest-benchmark median / max, and the median inside the
loop: bar applied 2.6 / 18.7 ms (2.1 in loop); bar painted 9.6 / 26.9 ms (7.8); a full bar
(``LevelStream.update``, ``bar``, ``levels``, ``density`` of 2,000 bars' live lines)
applied 8.4 / 23.5 ms (7.8); echo through the page 2.5 / 12.6 ms (1.8); bare websocket echo
0.59 / 4.0 ms (0.23). In the page itself applying a bar takes 0.4 ms (median of
``liqlevelsLive.applyMs``). Back to back (no pacing) the medians were bar applied 2.2 ms,
painted 16.6 ms, echo 0.5 ms, bare 0.07 ms: the idle wake-ups cost more than the work. So the
page follows a bar within a few ms, a frame at most for it to show: well under the 50 ms
target; the time is the browser's and the socket's, not LivePage's (its own part is the
difference between echo and bar: under 1 ms).
"""

from __future__ import annotations

import statistics
import time

import aiohttp
import pytest
from _pages import CHROMIUM, run
from aiohttp import web

from liqlevels import charts, indicator
from liqlevels.charts._browser import CHROMIUM_ARGS
from liqlevels.feeds import sample_candles

BARS = 2000
TARGET_MS = 50.0
PACE_S = 0.025  # 40 updates a second, faster than any feed's candle updates
FIELDS = ("open", "high", "low", "close", "volume", "open_interest")

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")


class Served:
    """A LivePage on the loop's thread with one Chromium page open on it."""

    def __init__(self, loop, browser):
        self.candles = sample_candles(n=BARS + 400, timeframe="1m", seed=17)
        self.stream = indicator.LevelStream()
        for t, row in self.candles.iloc[:BARS].iterrows():
            self.stream.update(t, **{k: row[k] for k in FIELDS})
        scene = charts.Scene(self.candles.iloc[:BARS], self.stream.levels(),
                             indicator.density(self.stream.live_levels()), symbol="BENCH")
        self.loop = loop
        self.live = charts.LivePage(scene)
        self.url = run(loop, self.live.start())
        self.page = browser.new_page(viewport={"width": 1400, "height": 800})
        self.page.goto(self.url)
        self.page.wait_for_function("() => window.liqlevelsLive && liqlevelsLive.snapshots > 0"
                                    " && liqlevelsLive.connected", timeout=30_000)
        self.next = BARS          # index of the next candle to append
        self.rounds = 0
        self.in_loop: list[float] = []

    def _bar_args(self) -> tuple:
        """The forming candle re-sent with a new close; every tenth round a new candle."""
        self.rounds += 1
        if self.rounds % 10 == 0:
            self.next += 1
        t = self.candles.index[self.next - 1]
        row = self.candles.iloc[self.next - 1]
        close = row["low"] + (row["high"] - row["low"]) * ((self.rounds * 0.37) % 1.0)
        return t, row["open"], row["high"], row["low"], close

    def round_trip(self, action, *, painted: bool = False) -> float:
        async def one() -> float:
            start = time.perf_counter()
            action()
            await self.live.applied(painted=painted, timeout=10)
            return time.perf_counter() - start
        seconds = run(self.loop, one())
        self.in_loop.append(seconds)
        return seconds

    def close(self) -> None:
        errors = self.page.evaluate("() => liqlevelsLive.error")
        self.page.close()
        run(self.loop, self.live.stop())
        assert errors is None


@pytest.fixture(scope="module")
def served(loop):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS))
        s = Served(loop, browser)
        yield s
        s.close()
        browser.close()


def _pace() -> None:
    """Untimed gap between rounds: a page gets updates at most tens of times a second, so
    each round starts with the page idle, not mid-paint of the previous round."""
    time.sleep(PACE_S)


def _record(benchmark, served: Served, name: str) -> None:
    ms = statistics.median(served.in_loop) * 1000
    benchmark.extra_info.update({"target_ms": TARGET_MS, "in_loop_ms": round(ms, 3),
                                 "what": name})
    served.in_loop.clear()


def bench_bar_applied(benchmark, served):
    """``bar()`` to ``series.update`` done in the page (its ack received)."""
    live = served.live
    benchmark.pedantic(lambda: served.round_trip(lambda: live.bar(*served._bar_args())),
                       rounds=300, iterations=1, warmup_rounds=10, setup=_pace)
    _record(benchmark, served, "bar -> applied")


def bench_bar_painted(benchmark, served):
    """``bar()`` to the first animation frame after it was applied."""
    live = served.live
    benchmark.pedantic(
        lambda: served.round_trip(lambda: live.bar(*served._bar_args()), painted=True),
        rounds=150, iterations=1, warmup_rounds=5, setup=_pace)
    _record(benchmark, served, "bar -> painted")


def bench_bar_lines_density_applied(benchmark, served):
    """One bar as the live loop sends it: the candle, its Change, the new density."""
    live, stream, candles = served.live, served.stream, served.candles

    def update():
        i = served.next
        served.next += 1
        t, row = candles.index[i], candles.iloc[i]
        change = stream.update(t, **{k: row[k] for k in FIELDS})
        live.bar(t, row["open"], row["high"], row["low"], row["close"])
        live.levels(change)
        live.density(indicator.density(stream.live_levels()))

    benchmark.pedantic(lambda: served.round_trip(update), rounds=150, iterations=1,
                       warmup_rounds=5, setup=_pace)
    _record(benchmark, served, "bar + levels + density -> applied (stream.update included)")


def bench_echo_baseline(benchmark, served):
    """The same socket and page, a message nothing is applied for: the transport's floor."""
    live = served.live

    def echo():
        with live._lock:  # the page acks a message type it does not know, applying nothing
            live._queue([{"t": "echo"}])

    benchmark.pedantic(lambda: served.round_trip(echo), rounds=300, iterations=1,
                       warmup_rounds=10, setup=_pace)
    _record(benchmark, served, "echo through the page")


def bench_bare_websocket_echo(benchmark, loop):
    """A plain aiohttp websocket echo between two Python ends on loopback: no browser."""
    async def handler(request):
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        async for msg in ws:
            await ws.send_str(msg.data)
        return ws

    async def setup():
        app = web.Application()
        app.router.add_get("/", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        session = aiohttp.ClientSession()
        ws = await session.ws_connect(f"http://127.0.0.1:{port}/", compress=0)
        return runner, session, ws

    runner, session, ws = run(loop, setup())
    times: list[float] = []

    async def one():
        start = time.perf_counter()
        await ws.send_str('[{"t":"bar","b":[1,2,3,1,2],"q":1}]')
        await ws.receive_str()
        times.append(time.perf_counter() - start)

    try:
        benchmark.pedantic(lambda: run(loop, one()), rounds=300, iterations=1, warmup_rounds=10,
                           setup=_pace)
    finally:
        async def teardown():
            await ws.close()
            await session.close()
            await runner.cleanup()
        run(loop, teardown())
    benchmark.extra_info.update({"target_ms": None, "what": "bare websocket echo",
                                 "in_loop_ms": round(statistics.median(times) * 1000, 3)})
