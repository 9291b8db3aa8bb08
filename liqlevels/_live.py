"""The live loop: a feed's events into the levels, the trade map, the liquidation log, the
page and the terminal, until ``--duration`` runs out or Ctrl-C; then the final files.

The parts are :class:`feeds.LiveFeed` (websockets and REST), :class:`LiveState` (the
engines, no I/O), :class:`charts.LivePage` (the browser page), :class:`feeds.LiquidationLog`
(``--record``) and :class:`StatusLine` (the terminal). :func:`run_live` wires them; the
command (``_cmd_live.py``) builds them from the flags.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from ._live_state import Alert, LiveState
from .feeds import FeedStatus, LiveBar, LiveLiquidations, LiveTrades

__all__ = ["LiveRun", "StatusLine", "run_live"]


class StatusLine:
    """One line of state for the terminal: streams, last bar, staleness, reconnects, rate.

    On a terminal the line is redrawn in place every ``every`` seconds; otherwise (a log
    file, a test) it is printed as a new line every ``every`` seconds. Feed events
    (reconnects, backfills, errors) are always printed as their own lines at once.
    """

    def __init__(self, out: TextIO | None = None, *, every: float | None = None) -> None:
        self.out = out if out is not None else sys.stderr
        self.tty = bool(getattr(self.out, "isatty", lambda: False)())
        self.every = every if every is not None else (1.0 if self.tty else 10.0)
        self.streams: dict[str, str] = {}
        self.reconnects = 0  # all streams, as the feed counts them
        self._reconnects: dict[str, int] = {}
        self.messages = 0
        self.started = time.monotonic()
        self.last_message: float | None = None
        self.last_bar: pd.Timestamp | None = None
        self.close: float | None = None
        self.live_lines = 0
        self.liquidations = 0
        self._rate = (self.started, 0)  # (since, messages then): the rate's window
        self._shown = 0.0

    def message(self) -> None:
        self.messages += 1
        self.last_message = time.monotonic()

    def event(self, stream: str, event: str, detail: str, reconnects: int) -> None:
        self.streams[stream] = event
        self._reconnects[stream] = reconnects
        self.reconnects = sum(self._reconnects.values())
        self._print(f"live: {stream} {event}: {detail}" if detail else f"live: {stream} {event}")

    def line(self) -> str:
        now = time.monotonic()
        since, before = self._rate
        rate = (self.messages - before) / max(now - since, 1e-9)
        self._rate = (now, self.messages)
        streams = " ".join(f"{k} {v}" for k, v in sorted(self.streams.items())) or "connecting"
        bar = "no bar yet" if self.last_bar is None else (
            f"last bar {self.last_bar:%Y-%m-%d %H:%M} close {self.close:g}")
        lag = "no message yet" if self.last_message is None else (
            f"last message {now - self.last_message:.1f}s ago")
        return (f"{streams} | {bar} | {lag} | reconnects {self.reconnects} | "
                f"{rate:.1f} msg/s | {self.live_lines} live lines | "
                f"{self.liquidations} liquidations")

    def tick(self, *, force: bool = False) -> str | None:
        now = time.monotonic()
        if not force and now - self._shown < self.every:
            return None
        self._shown = now
        text = self.line()
        if self.tty:
            self.out.write("\r\x1b[2K" + text)
            self.out.flush()
        else:
            print(text, file=self.out, flush=True)
        return text

    def _print(self, text: str) -> None:
        if self.tty:
            self.out.write("\r\x1b[2K")
        print(text, file=self.out, flush=True)

    def done(self) -> None:
        if self.tty:
            self.out.write("\n")
            self.out.flush()


@dataclass
class LiveRun:
    """What a :func:`run_live` call did."""

    reason: str = ""  # "duration", "interrupted", "feed ended"
    bars: int = 0  # bar messages consumed
    trades: int = 0
    liquidations: int = 0
    alerts: list[Alert] = field(default_factory=list)


class _Loop:
    """The per-event work of :func:`run_live` (one instance per run)."""

    def __init__(self, state: LiveState, page: Any, log: Any, status: StatusLine,
                 on_alert: Callable[[Alert], None], run: LiveRun,
                 draw_density: Callable[[pd.DataFrame], Any] | None = None) -> None:
        self.state, self.page, self.log, self.status = state, page, log, status
        self.on_alert, self.run = on_alert, run
        self.draw_density = draw_density or (lambda frame: frame)
        self.density = state.density()
        self.heat = page is not None and state.heat
        self.density_dirty = False
        self.density_at = time.monotonic()
        self.density_every = 0.25  # s: the histogram is rebuilt at most this often
        self.map_dirty = False
        self.flushed_at = time.monotonic()
        status.live_lines = state.stream.live_count  # the warm-up's, until a bar changes it

    def handle(self, event: Any) -> None:
        self.status.message()
        if isinstance(event, LiveBar):
            self._bar(event)
        elif isinstance(event, LiveTrades):
            self.state.trades(event.frame)
            self.run.trades += len(event.frame)
            self.map_dirty = self.map_dirty or bool(len(event.frame))
        elif isinstance(event, LiveLiquidations):
            self._liquidations(event.frame)
        elif isinstance(event, FeedStatus):
            self.status.event(event.stream, event.event, event.detail, event.reconnects)
            if self.page is not None:
                self.page.status(self.status.line())

    def _bar(self, bar: Any) -> None:
        before = self.state.last_time
        change = self.state.bar(bar)
        self.run.bars += 1
        self.status.last_bar, self.status.close = self.state.last_time, self.state.last_close
        if self.page is not None:
            self.page.bar(bar.time, bar.open, bar.high, bar.low, bar.close)
        lines = bool(change.born or change.ended or change.undone is not None)
        if self.heat and (lines or self.state.last_time != before):
            # the latest bar's column: a new bar's (the live lines carry over), or this
            # bar's again when its lines changed; a page drops an unchanged one
            self.page.heatmap(self.state.last_time, self.state.heat_column())
        if lines:
            if self.page is not None:
                self.page.levels(change)
            self.density_dirty = True
            if time.monotonic() - self.density_at >= self.density_every:
                self._refresh_density()
        alert = self.state.alert(self.density)
        if alert is not None:
            self.run.alerts.append(alert)
            self.on_alert(alert)

    def _liquidations(self, frame: pd.DataFrame) -> None:
        if not len(frame):
            return
        self.state.liquidations_seen(frame)
        self.run.liquidations += len(frame)
        self.status.liquidations = self.state.liquidations
        if self.log is not None:
            self.log.append(frame)
        if self.page is not None:
            self.page.liquidations(frame)

    def _refresh_density(self) -> None:
        """Rebuild the histogram of the live lines (O(m log m)), send it, note the count."""
        self.density = self.state.density()
        self.density_dirty = False
        self.density_at = time.monotonic()
        self.status.live_lines = self.state.stream.live_count
        if self.page is not None:
            weight = self.state.weight
            shown = self.density if weight == "count" else self.state.density(weight)
            self.page.density(self.draw_density(shown))

    def tick(self) -> None:
        if self.density_dirty:
            self._refresh_density()
        log = self.log
        if log is not None and log.pending and \
                time.monotonic() - self.flushed_at >= log.flush_every:
            log.flush()  # rows wait for no next liquidation: a quiet stream still lands
            self.flushed_at = time.monotonic()
        if self.map_dirty and self.page is not None:
            self.page.trade_map(self.state.trade_levels_map())
        self.map_dirty = False
        text = self.status.tick()
        if text is not None and self.page is not None:
            self.page.status(text)


async def _consume(feed: Any, loop: _Loop) -> None:
    async for event in feed.events():
        loop.handle(event)


async def _ticker(loop: _Loop, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        loop.tick()


async def run_live(feed: Any, state: LiveState, *, page: Any = None, log: Any = None,
                   status: StatusLine | None = None, duration: float | None = None,
                   on_alert: Callable[[Alert], None] | None = None,
                   tick: float = 0.5,
                   draw_density: Callable[[pd.DataFrame], Any] | None = None) -> LiveRun:
    """Consume ``feed.events()`` into ``state`` (and the page, the log, the status line)
    until ``duration`` seconds pass, Ctrl-C (SIGINT/SIGTERM), or the feed ends.

    ``state`` must already hold the warm-up bars. A feed error propagates (after the
    page's last update); Ctrl-C does not: it ends the run like ``duration``.
    ``draw_density`` turns the density of the live lines (``state.weight``) into what
    ``page.density`` takes (a frame or a labelled :class:`charts.Profile`); default: as is.
    With ``state.heat`` the page gets the latest bar's heatmap column as it changes.
    """
    status = status or StatusLine()
    run = LiveRun()
    loop = _Loop(state, page, log, status, on_alert or (lambda a: None), run, draw_density)
    stop = asyncio.Event()
    aio = asyncio.get_running_loop()
    handled = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            aio.add_signal_handler(sig, stop.set)
            handled.append(sig)
    consumer = asyncio.create_task(_consume(feed, loop))
    stopper = asyncio.create_task(stop.wait())
    ticker = asyncio.create_task(_ticker(loop, tick))
    try:
        done, _ = await asyncio.wait({consumer, stopper}, timeout=duration,
                                     return_when=asyncio.FIRST_COMPLETED)
        run.reason = ("interrupted" if stopper in done else "feed ended" if consumer in done
                      else "duration")
        if consumer in done:
            consumer.result()  # a feed error propagates here
    finally:
        for task in (consumer, stopper, ticker):
            task.cancel()
        await asyncio.gather(consumer, stopper, ticker, return_exceptions=True)
        for sig in handled:
            aio.remove_signal_handler(sig)
        loop.tick()
        status.tick(force=True)
        status.done()
    return run


def write_alert(path: Path, alert: Alert) -> None:
    """Append one alert as a JSON line (flushed, so a crash loses none already printed)."""
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(alert.record()) + "\n")
        out.flush()
