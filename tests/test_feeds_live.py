"""feeds.LiveFeed against the real ccxt.pro code on loopback websocket fakes of Binance USD-M,
Bybit v5 and OKX (tests/fakes/_ws.py) beside their REST fakes: bars that become final,
dropped sockets and backfills (no bar lost, none doubled, levels equal to the batch), repeated
and out-of-order messages, REST faults, trades, liquidations and one stream failing alone."""

from __future__ import annotations

import asyncio
import contextlib
import re
import warnings
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import ccxt
import numpy as np
import pandas as pd
import pytest
from fakes import (
    FakeWebsocket,
    Fault,
    MarketData,
    add_open_interest_route,
    agg_trades_csv,
    fake_exchange,
    point_ws,
    random_trades,
)

from liqlevels import feeds, indicator
from liqlevels.feeds import FeedStatus, FeedWarning, LiveBar, LiveLiquidations, LiveTrades
from liqlevels.feeds._live import point_urls

MIN = 60_000
SYMBOL = "SOL/USDT:USDT"
VENUES = ("binanceusdm", "bybit", "okx")
STEPS = {"1m": MIN, "5m": 5 * MIN}
FIELDS = ("open", "high", "low", "close", "volume", "open_interest")


def stamp(ms: int) -> pd.Timestamp:
    return pd.Timestamp(ms, unit="ms", tz="UTC")


class Recorder:
    """Every event of a feed, gathered by a background task."""

    def __init__(self, feed: feeds.LiveFeed) -> None:
        self.items: list[Any] = []
        self.task = asyncio.ensure_future(self._run(feed))

    async def _run(self, feed: feeds.LiveFeed) -> None:
        async for event in feed.events():
            self.items.append(event)

    def of(self, kind: type) -> list:
        return [e for e in self.items if isinstance(e, kind)]

    @property
    def bars(self) -> list[LiveBar]:
        return self.of(LiveBar)

    def statuses(self, stream: str | None = None, event: str | None = None) -> list[FeedStatus]:
        return [s for s in self.of(FeedStatus) if stream in (None, s.stream)
                and event in (None, s.event)]

    def has_bar(self, ms: int, final: bool | None = None) -> bool:
        return any(b.time == stamp(ms) and final in (None, b.final) for b in self.bars)

    async def wait(self, condition: Callable[[], bool], what: str, timeout: float = 8.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            if self.task.done():
                self.task.result()
            if loop.time() > deadline:
                raise AssertionError(f"no {what} within {timeout} s; events: {self.items}")
            await asyncio.sleep(0.01)


@dataclass
class Live:
    feed: feeds.LiveFeed
    rest: ccxt.Exchange
    server: Any
    ws: FakeWebsocket
    rec: Recorder
    history: pd.DataFrame
    since: int
    timeframe: str


@contextlib.asynccontextmanager
async def live(venue: str, tmp_path, timeframe: str = "1m", *, bars: int = 60,
               align: int | None = None, **options: Any) -> AsyncIterator[Live]:
    """A feed on fresh fakes whose clock is an hour before the data's end, at a bar open
    (one whose close is a multiple of ``align`` ms, when given)."""
    step = STEPS[timeframe]
    with fake_exchange(venue) as (rest, server), FakeWebsocket(server) as ws:
        server.now -= 60 * MIN
        server.now -= server.now % step
        if align:
            server.now -= (server.now + step) % align
        since = server.now - bars * step
        defaults = {"backoff": 0.05, "max_backoff": 0.2, "oi_interval": 0.2}
        feed = feeds.LiveFeed(ws.pro_exchange(), SYMBOL, timeframe, since=since,
                              cache_dir=tmp_path / "live", rest=rest, **{**defaults, **options})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FeedWarning)
            history = await feed.history()
        rec = Recorder(feed)
        try:
            yield Live(feed, rest, server, ws, rec, history, since, timeframe)
        finally:
            rec.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await rec.task
            await feed.close()


def run(scenario: Any) -> None:
    asyncio.run(asyncio.wait_for(scenario, 40))


def batch(live_: Live, until: int) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FeedWarning)
        return feeds.fetch_candles(live_.rest, SYMBOL, live_.timeframe, since=live_.since,
                                   until=until, cache_dir=False)


def check_contract(bars: list[LiveBar], after: pd.Timestamp) -> None:
    """Never older than the previous bar, nothing at or before a final bar after it, each
    final bar once."""
    previous, last_final, finals = after, after, set()
    for bar in bars:
        assert bar.time >= previous and bar.time > last_final, (bar, previous, last_final)
        if bar.final:
            assert bar.time not in finals
            finals.add(bar.time)
            last_final = bar.time
        previous = bar.time


def assert_bar_is(bar: LiveBar, row: pd.Series) -> None:
    got = [getattr(bar, name) for name in FIELDS]
    np.testing.assert_array_equal(got, row[list(FIELDS)].to_numpy(np.float64))


# -- bars ---------------------------------------------------------------------------------
@pytest.mark.parametrize("venue", VENUES)
def test_bars_stream_in_and_become_final_as_rest_has_them(venue: str, tmp_path) -> None:
    async def scenario() -> None:
        async with live(venue, tmp_path) as lv:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FeedWarning)
                again = feeds.fetch_candles(lv.rest, SYMBOL, "1m", since=lv.since,
                                            cache_dir=False)
            pd.testing.assert_frame_equal(lv.history, again)
            t = lv.server.now
            assert lv.history.index[-1] == stamp(t - MIN)
            await lv.ws.wait_subscribed("kline")
            lv.ws.send_kline(t, "1m")  # the bar has just opened
            await lv.rec.wait(lambda: lv.rec.has_bar(t), "the forming bar")
            lv.server.now = t + MIN
            lv.ws.send_kline(t, "1m", final=True)
            lv.ws.send_kline(t + MIN, "1m")
            await lv.rec.wait(lambda: lv.rec.has_bar(t + MIN), "the next bar")
            bars = lv.rec.bars
            assert [(b.time, b.final) for b in bars] == [
                (stamp(t), False), (stamp(t), False), (stamp(t), True), (stamp(t + MIN), False)]
            assert bars[0].volume == 0 and bars[1].volume > 0
            assert_bar_is(bars[2], batch(lv, t + MIN).loc[stamp(t)])
            assert not np.isnan(bars[3].open_interest)  # the forming bar: the latest poll
            assert lv.rec.statuses("klines", "connected")
            assert not lv.rec.statuses(event="error") + lv.rec.statuses(event="retrying")

    run(scenario())


@pytest.mark.parametrize("venue", VENUES)
def test_socket_dropped_mid_bar_backfills_and_levels_equal_the_batch(venue: str,
                                                                    tmp_path) -> None:
    step = 5 * MIN

    async def scenario() -> None:
        async with live(venue, tmp_path, "5m", bars=150) as lv:
            t0 = lv.server.now
            await lv.ws.wait_subscribed("kline")
            lv.server.now = t0 + 2 * MIN
            lv.ws.send_kline(t0, "5m")  # two minutes of the bar
            await lv.rec.wait(lambda: lv.rec.has_bar(t0), "the forming bar")
            lv.ws.drop()  # mid-bar; three bars close while the socket is down
            lv.server.now = t0 + 3 * step + 2 * MIN
            await lv.ws.wait_subscribed("kline", 2)
            lv.ws.send_kline(t0 + 3 * step, "5m")
            await lv.rec.wait(lambda: lv.rec.has_bar(t0 + 3 * step), "the bar after the gap")
            lv.server.now = t0 + 4 * step
            lv.ws.send_kline(t0 + 3 * step, "5m", final=True)
            lv.ws.send_kline(t0 + 4 * step, "5m")
            await lv.rec.wait(lambda: lv.rec.has_bar(t0 + 4 * step), "the last bar")
            expected = batch(lv, t0 + 4 * step)
            bars, history = lv.rec.bars, lv.history
            assert lv.rec.statuses("klines", "reconnected")
            assert lv.rec.statuses("klines", "backfilled")
            assert lv.ws.connections >= 2

        check_contract(bars, history.index[-1])
        finals = [b for b in bars if b.final]
        assert [b.time for b in finals] == [stamp(t0 + k * step) for k in range(4)]
        assert bars[0].volume < finals[0].volume  # the partial bar was re-fetched
        for bar in finals:
            assert_bar_is(bar, expected.loc[bar.time])
        stream = indicator.LevelStream(ma_length=20)
        born: list[tuple] = []
        updates = [(time, dict(row[list(FIELDS)])) for time, row in history.iterrows()]
        updates += [(bar.time, {name: getattr(bar, name) for name in FIELDS}) for bar in bars]
        for time, values in updates:
            change = stream.update(time, **values)
            if change.undone is not None:
                gone = {(line.start, line.side, line.leverage) for line in change.undone.born}
                born = [key for key in born if key not in gone]
            born += [(line.start, line.side, line.leverage) for line in change.born]
        forming = bars[-1]
        candles = pd.concat([history, expected.loc[expected.index > history.index[-1]]])
        candles.loc[forming.time] = [getattr(forming, n) for n in FIELDS] + [np.nan]
        levels = stream.levels()
        pd.testing.assert_frame_equal(levels, indicator.oi_levels(candles[list(FIELDS)],
                                                                  ma_length=20))
        assert len(levels) > 0
        assert len(born) == len(set(born)) == len(levels)  # no line born twice

    run(scenario())


@pytest.mark.parametrize("venue", VENUES)
def test_repeated_and_out_of_order_klines(venue: str, tmp_path) -> None:
    async def scenario() -> None:
        async with live(venue, tmp_path) as lv:
            t = lv.server.now
            await lv.ws.wait_subscribed("kline")
            lv.server.now = t + 30_000
            lv.ws.send_kline(t, "1m", repeat=3)
            await lv.rec.wait(lambda: lv.rec.has_bar(t), "the forming bar")
            await asyncio.sleep(0.2)
            assert len(lv.rec.bars) == 1  # the same update thrice is one update
            lv.server.now = t + 2 * MIN
            # a newer bar, then the older bars' updates late and in reverse
            lv.ws.send_klines([(t + 2 * MIN, False), (t + MIN, True), (t, True), (t, False)],
                              "1m")
            await lv.rec.wait(lambda: lv.rec.has_bar(t + 2 * MIN), "the newest bar")
            await asyncio.sleep(0.3)
            lv.server.now = t + 3 * MIN
            lv.ws.send_kline(t + MIN, "1m", final=True)  # far too late: ignored
            lv.ws.send_kline(t + 3 * MIN, "1m")
            await lv.rec.wait(lambda: lv.rec.has_bar(t + 3 * MIN), "the bar after")
            bars, expected = lv.rec.bars, batch(lv, t + 3 * MIN)
            check_contract(bars, lv.history.index[-1])
            finals = [b for b in bars if b.final]
            assert [b.time for b in finals] == [stamp(t + k * MIN) for k in range(3)]
            for bar in finals:
                assert_bar_is(bar, expected.loc[bar.time])

    run(scenario())


def levels_equal_batch(history: pd.DataFrame, bars: list[LiveBar], batch_: pd.DataFrame,
                       ma_length: int = 20) -> pd.DataFrame:
    """LevelStream fed the history then the live bars equals oi_levels on the batch's bars
    plus the forming one."""
    stream = indicator.LevelStream(ma_length=ma_length)
    for time, row in history.iterrows():
        stream.update(time, **dict(row[list(FIELDS)]))
    for bar in bars:
        stream.update(bar.time, **{name: getattr(bar, name) for name in FIELDS})
    forming = bars[-1]
    candles = pd.concat([history, batch_.loc[batch_.index > history.index[-1]]])
    candles = candles.loc[candles.index < forming.time, list(FIELDS)]
    candles.loc[forming.time] = [getattr(forming, n) for n in FIELDS]
    levels = stream.levels()
    pd.testing.assert_frame_equal(levels, indicator.oi_levels(candles, ma_length=ma_length))
    return levels


@pytest.mark.parametrize("seed", range(3))
def test_random_message_sequences_keep_the_bar_contract(seed: int, tmp_path) -> None:
    """Forming updates, repeats, stale and out-of-order bars, clock jumps and drops in a
    seeded random order: then one newer bar, and every bar between is final exactly once,
    as REST has it, and the levels equal the batch's."""
    rng = np.random.default_rng(seed)
    venue = VENUES[seed % 3]

    async def scenario() -> None:
        async with live(venue, tmp_path, bars=80) as lv:
            t0 = lv.server.now
            drops = 0
            await lv.ws.wait_subscribed("kline")
            for _ in range(12):
                now = lv.server.now
                bar = now - now % MIN
                action = rng.choice(["forming", "repeat", "stale", "clock", "newer-older",
                                     "drop"], p=[0.3, 0.1, 0.15, 0.25, 0.1, 0.1])
                if action == "forming":
                    lv.ws.send_kline(bar, "1m")
                elif action == "repeat":
                    lv.ws.send_kline(bar, "1m", repeat=2)
                elif action == "stale":
                    lv.ws.send_kline(bar - int(rng.integers(1, 4)) * MIN, "1m", final=True)
                elif action == "clock":
                    lv.server.now += int(rng.integers(1, 3)) * MIN
                elif action == "newer-older":
                    lv.server.now = bar + MIN
                    lv.ws.send_klines([(bar + MIN, False), (bar, True)], "1m")
                else:
                    lv.ws.drop()
                    drops += 1
                    await lv.ws.wait_subscribed("kline", drops + 1)
                await asyncio.sleep(float(rng.uniform(0.0, 0.05)))
            end = lv.server.now - lv.server.now % MIN + MIN
            lv.server.now = end
            lv.ws.send_kline(end, "1m")
            await lv.rec.wait(lambda: lv.rec.has_bar(end), "the closing bar")
            bars, history = lv.rec.bars, lv.history
            expected = batch(lv, end)

        check_contract(bars, history.index[-1])
        finals = [b for b in bars if b.final]
        assert [b.time for b in finals] == [stamp(t) for t in range(t0, end, MIN)]
        for bar in finals:
            assert_bar_is(bar, expected.loc[bar.time])
        levels_equal_batch(history, bars, expected)

    run(scenario())


@pytest.mark.parametrize("venue", VENUES)
def test_rest_faults_during_a_backfill_are_retried(venue: str, tmp_path, waits,
                                                   monkeypatch) -> None:
    async def scenario() -> None:
        # the first bar closes on a 5m boundary, so the backfill needs a new OI snapshot
        async with live(venue, tmp_path, align=5 * MIN) as lv:
            t = lv.server.now
            await lv.ws.wait_subscribed("kline")
            lv.ws.send_kline(t, "1m")
            await lv.rec.wait(lambda: lv.rec.has_bar(t), "the forming bar")
            srv = lv.server
            # four 502s exhaust fetch_candles' 4 tries (a FeedError the feed retries), then
            # a 429 with Retry-After and a 502 are survived inside fetch_candles
            srv.fail(srv.KLINES, *[Fault.status(502)] * 4, Fault.status(429, retry_after=1),
                     Fault.status(502))
            srv.fail(srv.OI, Fault.status(503))
            lv.ws.drop()
            srv.now = t + 3 * MIN
            await lv.ws.wait_subscribed("kline", 2)
            lv.ws.send_kline(t + 3 * MIN, "1m")
            await lv.rec.wait(lambda: lv.rec.has_bar(t + 3 * MIN), "the bar after the gap")
            assert srv.pending_faults(srv.KLINES) == srv.pending_faults(srv.OI) == 0
            retried = lv.rec.statuses("klines", "retrying")
            assert any(re.search(r"REST backfill .* failed \(FeedError: .*4 tries", s.detail)
                       for s in retried), retried
            assert 1.0 in waits  # Retry-After honoured
            expected = batch(lv, t + 3 * MIN)
            finals = [b for b in lv.rec.bars if b.final]
            assert [b.time for b in finals] == [stamp(t + k * MIN) for k in range(3)]
            for bar in finals:
                assert_bar_is(bar, expected.loc[bar.time])
            check_contract(lv.rec.bars, lv.history.index[-1])

    run(scenario())


def test_refused_reconnects_are_retried_until_the_socket_comes_back(tmp_path) -> None:
    async def scenario() -> None:
        async with live("binanceusdm", tmp_path) as lv:
            t = lv.server.now
            await lv.ws.wait_subscribed("kline")
            lv.ws.send_kline(t, "1m")
            await lv.rec.wait(lambda: lv.rec.has_bar(t), "the forming bar")
            lv.ws.refuse(2, seconds=0.5)
            lv.ws.drop()
            lv.server.now = t + 2 * MIN
            await lv.ws.wait_subscribed("kline", 2)
            lv.ws.send_kline(t + 2 * MIN, "1m")
            await lv.rec.wait(lambda: lv.rec.has_bar(t + 2 * MIN), "the bar after")
            retried = lv.rec.statuses("klines", "retrying")
            assert lv.ws.refused >= 2 and len(retried) >= 3, retried
            assert "503" in retried[1].detail
            assert lv.rec.statuses("klines", "reconnected")[-1].reconnects == 1
            finals = [b.time for b in lv.rec.bars if b.final]
            assert finals == [stamp(t), stamp(t + MIN)]
            check_contract(lv.rec.bars, lv.history.index[-1])

    run(scenario())


@pytest.mark.parametrize("venue", VENUES)
def test_open_interest_in_coins_forming_from_polls_final_from_rest(venue: str,
                                                                  tmp_path) -> None:
    """BTC: OKX counts it in contracts of 0.01 BTC; the feed says coins. A final bar whose
    snapshot REST does not have yet takes the last poll at or before its close."""
    async def scenario() -> None:
        async with live(venue, tmp_path, align=5 * MIN) as lv:
            t = lv.server.now
            close = t + MIN  # a five-minute mark: a new snapshot
            coins = lambda at: float(  # noqa: E731
                dict(lv.server.content["SOL"].open_interest(5 * MIN)[:, :2])[at])
            await lv.ws.wait_subscribed("kline")
            await lv.rec.wait(lambda: polls(lv.server) >= 2, "a finished poll")
            lv.ws.send_kline(t, "1m")
            await lv.rec.wait(lambda: lv.rec.has_bar(t), "the forming bar")
            assert lv.rec.bars[0].open_interest == coins(close - 5 * MIN)
            lv.server.fail(lv.server.OI, Fault.empty())  # REST has no snapshot for it yet
            lv.server.now = close
            done = polls(lv.server) + 2
            await lv.rec.wait(lambda: polls(lv.server) >= done, "a poll at the new clock")
            lv.ws.send_kline(close, "1m")
            await lv.rec.wait(lambda: lv.rec.has_bar(close), "the next bar")
            assert lv.server.pending_faults(lv.server.OI) == 0
            final = next(b for b in lv.rec.bars if b.final)
            assert final.open_interest == coins(close)
            assert_bar_is(final, batch(lv, close).loc[stamp(t)])  # as the batch has it now

    run(scenario())


def polls(server: Any) -> int:
    """Current open-interest requests the REST fake has seen (fetch_open_interest)."""
    paths = {"/fapi/v1/openInterest", "/api/v5/public/open-interest"}
    return sum(1 for r in server.calls() if r.path in paths or (
        r.path == "/v5/market/open-interest" and "startTime" not in r.params))


def test_open_interest_of_contracts_is_in_coins(tmp_path) -> None:
    async def scenario() -> None:
        with fake_exchange("okx") as (rest, server), FakeWebsocket(server) as ws:
            server.now -= 60 * MIN
            feed = feeds.LiveFeed(ws.pro_exchange(), "BTC/USDT:USDT", "1m", rest=rest,
                                  since=server.now - 20 * MIN, cache_dir=tmp_path,
                                  oi_interval=0.1)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FeedWarning)
                history = await feed.history()
            rec = Recorder(feed)
            try:
                await ws.wait_subscribed("kline")
                await rec.wait(lambda: polls(server) >= 2, "a finished poll")
                ws.send_kline(server.now, "1m", base="BTC")
                await rec.wait(lambda: rec.bars, "a bar")
            finally:
                rec.task.cancel()
                await feed.close()
        snaps = server.content["BTC"].open_interest(5 * MIN)
        latest = snaps[snaps[:, 0] <= server.now][-1, 1]
        assert rec.bars[0].open_interest == pytest.approx(latest, rel=1e-9)
        assert history["open_interest"].iloc[-1] == pytest.approx(latest, rel=1e-9)

    run(scenario())


@pytest.mark.parametrize("venue", ["bybit"])
def test_a_silent_stream_is_reported_and_redialled(venue: str, tmp_path) -> None:
    async def scenario() -> None:
        async with live(venue, tmp_path, silence=0.4) as lv:
            t = lv.server.now
            await lv.ws.wait_subscribed("kline")
            lv.ws.send_kline(t, "1m")
            await lv.rec.wait(lambda: lv.rec.has_bar(t), "the forming bar")
            lv.ws.silence(True)
            await lv.rec.wait(lambda: lv.rec.statuses("klines", "error"), "a silence status")
            assert "no klines message" in lv.rec.statuses("klines", "error")[0].detail
            lv.ws.silence(False)
            subscribed = lv.ws.subscribed("kline")
            await lv.ws.wait_subscribed("kline", subscribed + 1)
            lv.server.now = t + MIN
            lv.ws.send_kline(t + MIN, "1m")
            await lv.rec.wait(lambda: lv.rec.has_bar(t + MIN), "a bar after the silence")
            check_contract(lv.rec.bars, lv.history.index[-1])
            assert lv.rec.has_bar(t, final=True)

    run(scenario())


# -- trades and liquidations --------------------------------------------------------------
def _trades(t: int) -> list[dict]:
    return [{"id": 100 + i, "time": t + 1_000 * i, "price": 70.0 + i / 10,
             "quantity": 1.5 + i, "side": "buy" if i % 2 else "sell"} for i in range(6)]


def read_trades_schema(tmp_path) -> pd.Series:
    """The dtypes of feeds.read_trades' frame, read from a small aggTrades file."""
    path = tmp_path / "trades.csv"
    path.write_bytes(agg_trades_csv(random_trades(5)))
    frame = feeds.read_trades(path, exchange="binance")
    assert list(frame.columns) == ["time", "price", "quantity", "side"]
    return frame.dtypes


@pytest.mark.parametrize("venue", VENUES)
def test_trades_are_deduplicated_and_time_ordered(venue: str, tmp_path) -> None:
    async def scenario() -> None:
        async with live(venue, tmp_path, trades=True, reorder=0.3) as lv:
            t = lv.server.now
            trades = _trades(t)
            await lv.ws.wait_subscribed("trade")
            shuffled = [trades[i] for i in (2, 0, 1, 1, 4, 3, 5, 0)]
            lv.ws.send_trades(shuffled[:4])
            lv.ws.send_trades(shuffled[4:], repeat=2)
            rows = lambda: sum(len(e.frame) for e in lv.rec.of(LiveTrades))  # noqa: E731
            await lv.rec.wait(lambda: rows() >= 6, "six trades")
            await asyncio.sleep(0.5)
            frames = [e.frame for e in lv.rec.of(LiveTrades)]
            frame = pd.concat(frames, ignore_index=True)
            assert len(frame) == 6
            assert frame["time"].is_monotonic_increasing
            assert list(frame["time"]) == [stamp(tr["time"]) for tr in trades]
            assert list(frame["side"]) == [tr["side"] for tr in trades]
            np.testing.assert_allclose(frame["price"], [tr["price"] for tr in trades])
            np.testing.assert_allclose(frame["quantity"], [tr["quantity"] for tr in trades])
            schema = read_trades_schema(tmp_path)
            for chunk in frames:
                pd.testing.assert_series_equal(chunk.dtypes, schema)
                assert chunk.index.equals(pd.RangeIndex(len(chunk)))
            # a trade older than those sent, arriving after the window: dropped, and said
            lv.ws.send_trades([{**trades[0], "id": 999}])
            await lv.rec.wait(lambda: lv.rec.statuses("trades", "error"), "a late-trade status")
            assert "out of order; dropped" in lv.rec.statuses("trades", "error")[0].detail
            assert sum(len(e.frame) for e in lv.rec.of(LiveTrades)) == 6

    run(scenario())


def test_a_malformed_trade_is_dropped_and_said(tmp_path) -> None:
    async def scenario() -> None:
        async with live("bybit", tmp_path, trades=True, reorder=0.1) as lv:
            await lv.ws.wait_subscribed("trade")
            good, bad = _trades(lv.server.now)[:2]
            lv.ws.send_trades([good, {**bad, "price": 0.0}])
            await lv.rec.wait(lambda: lv.rec.statuses("trades", "error"), "a status")
            await lv.rec.wait(lambda: lv.rec.of(LiveTrades), "the good trade")
            await asyncio.sleep(0.3)
            frame = pd.concat([e.frame for e in lv.rec.of(LiveTrades)])
            assert list(frame["price"]) == [good["price"]]
            assert "without a time, price" in lv.rec.statuses("trades", "error")[0].detail

    run(scenario())


def test_trades_match_the_trade_map_input(tmp_path) -> None:
    """The frames feed indicator.LiveTradeMap, chunk by chunk, as the batch would."""
    async def scenario() -> None:
        async with live("binanceusdm", tmp_path, trades=True, reorder=0.1) as lv:
            await lv.ws.wait_subscribed("trade")
            trades = _trades(lv.server.now)
            lv.ws.send_trades(trades)
            rows = lambda: sum(len(e.frame) for e in lv.rec.of(LiveTrades))  # noqa: E731
            await lv.rec.wait(lambda: rows() >= 6, "six trades")
            chunks = [e.frame for e in lv.rec.of(LiveTrades)]
        live_map = indicator.LiveTradeMap(mode="top_n", threshold=2)
        for chunk in chunks:
            live_map.add(chunk)
        whole = pd.concat(chunks, ignore_index=True)
        pd.testing.assert_frame_equal(live_map.levels(),
                                      indicator.trade_levels(whole, mode="top_n", threshold=2))

    run(scenario())


@pytest.mark.parametrize("venue", VENUES)
def test_a_liquidation_is_mapped_to_the_liquidated_side(venue: str, tmp_path) -> None:
    async def scenario() -> None:
        async with live(venue, tmp_path, liquidations=True) as lv:
            t = lv.server.now
            await lv.ws.wait_subscribed("liquidation")
            lv.ws.send_liquidation(position="long", price=69.5, quantity=2.0, time=t + 10)
            lv.ws.send_liquidation(position="short", price=72.25, quantity=4.0, time=t + 20)
            rows = lambda: sum(len(e.frame) for e in lv.rec.of(LiveLiquidations))  # noqa: E731
            await lv.rec.wait(lambda: rows() >= 2, "two liquidations")
            await asyncio.sleep(0.2)
            frame = pd.concat([e.frame for e in lv.rec.of(LiveLiquidations)], ignore_index=True)
        assert list(frame.columns) == list(feeds.LIQUIDATION_COLUMNS)
        assert len(frame) == 2  # each once
        assert list(frame["side"]) == ["long", "short"]
        assert list(frame["time"]) == [stamp(t + 10), stamp(t + 20)]
        np.testing.assert_allclose(frame["price"], [69.5, 72.25])
        np.testing.assert_allclose(frame["quantity"], [2.0, 4.0])
        assert set(frame["exchange"]) == {venue} and set(frame["symbol"]) == {SYMBOL}

    run(scenario())


@pytest.mark.parametrize("venue", VENUES)
def test_the_trade_stream_failing_alone_leaves_klines_running(venue: str, tmp_path) -> None:
    async def scenario() -> None:
        async with live(venue, tmp_path, trades=True, liquidations=True, reorder=0.1) as lv:
            lv.ws.fail_subscriptions("trade")
            t = lv.server.now
            await lv.ws.wait_subscribed("kline")
            await lv.rec.wait(lambda: len(lv.rec.statuses("trades", "retrying")) >= 2,
                              "trade retries")
            for k in range(3):
                lv.server.now = t + k * MIN
                lv.ws.send_kline(t + k * MIN, "1m")
                await lv.rec.wait(lambda k=k: lv.rec.has_bar(t + k * MIN), f"bar {k}")
            lv.ws.send_liquidation(position="short", price=72.0, quantity=1.0, time=t + 5)
            await lv.rec.wait(lambda: lv.rec.of(LiveLiquidations), "a liquidation")
            assert not lv.rec.of(LiveTrades)
            lv.ws.fail_subscriptions("trade", on=False)
            subscribed = lv.ws.subscribed("trade")
            await lv.ws.wait_subscribed("trade", subscribed + 1)
            await asyncio.sleep(0.1)
            lv.ws.send_trades(_trades(t + 2 * MIN)[:2])
            await lv.rec.wait(lambda: lv.rec.of(LiveTrades), "trades once it recovers")
            assert lv.rec.has_bar(t + MIN, final=True)
            assert "NetworkError" in lv.rec.statuses("trades", "retrying")[0].detail
            assert not lv.rec.statuses("klines", "retrying")

    run(scenario())


def test_no_liquidation_stream_is_said_once_and_the_rest_runs(tmp_path) -> None:
    async def scenario() -> None:
        with fake_exchange("okx") as (rest, server), FakeWebsocket(server) as ws:
            server.now -= 60 * MIN
            pro = ws.pro_exchange()
            pro.has = {**pro.has, "watchLiquidations": False}
            feed = feeds.LiveFeed(pro, SYMBOL, "1m", since=server.now - 30 * MIN,
                                  cache_dir=tmp_path, rest=rest, liquidations=True,
                                  backoff=0.05)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FeedWarning)
                await feed.history()
            rec = Recorder(feed)
            try:
                await ws.wait_subscribed("kline")
                ws.send_kline(server.now, "1m")
                await rec.wait(lambda: rec.bars, "a bar")
                await asyncio.sleep(0.1)
                said = rec.statuses("liquidations")
                assert [s.event for s in said] == ["unsupported"]
                assert "no liquidations" in said[0].detail
                assert ws.subscribed("liquidation") == 0
            finally:
                rec.task.cancel()
                await feed.close()

    run(scenario())


# -- addresses and errors -------------------------------------------------------------------
def test_api_url_and_ws_url_move_every_address_and_keep_paths() -> None:
    bybit = ccxt.pro.bybit()
    point_urls(bybit, "http://127.0.0.1:9", websocket=False)
    point_urls(bybit, "ws://127.0.0.1:8", websocket=True)
    ws = bybit.urls["api"]["ws"]
    assert ws["public"]["linear"] == "ws://127.0.0.1:8/v5/public/linear"
    assert bybit.urls["api"]["public"] == "http://127.0.0.1:9"
    okx = ccxt.pro.okx()
    point_ws(okx, "ws://127.0.0.1:7")
    assert okx.urls["api"]["ws"] == "ws://127.0.0.1:7/ws/v5"
    binance = ccxt.pro.binanceusdm()
    point_urls(binance, "ws://127.0.0.1:6", websocket=True)
    assert binance.urls["api"]["ws"]["linear"] == "ws://127.0.0.1:6/ws"
    assert binance.urls["api"]["fapiPublic"].startswith("https://fapi.binance.com/")
    with pytest.raises(ValueError, match=r"ws_url='ws://h/path' must be a scheme, host"):
        point_urls(binance, "ws://h/path", websocket=True)


def test_a_testnet_instance_keeps_its_rest_twin_on_the_testnet() -> None:
    from liqlevels.feeds._fetch import _cache_name

    pro = ccxt.pro.bybit()
    pro.set_sandbox_mode(True)
    feed = feeds.LiveFeed(pro, SYMBOL, "1m")
    assert feed._rest.urls["api"]["public"] == pro.urls["api"]["public"]
    assert "testnet" in feed._rest.urls["api"]["public"]
    assert _cache_name(feed._rest) == "bybit-sandbox"  # never mixed with the real market


def test_a_feed_made_from_an_id_and_urls_streams_from_them(tmp_path) -> None:
    # a feed made from an id runs on the real clock: a market that reaches past it
    now = pd.Timestamp.now(tz="UTC")
    data = MarketData.generated(days=2, start=f"{now - pd.Timedelta(days=1):%Y-%m-%d}")

    async def scenario() -> None:
        with fake_exchange("bybit", data=data) as (_rest, server), FakeWebsocket(server) as ws:
            server.now = now.value // 1_000_000
            feed = feeds.LiveFeed("bybit", SYMBOL, "1m", since=server.now - 30 * MIN,
                                  cache_dir=tmp_path, api_url=server.base_url,
                                  ws_url=ws.base_url, backoff=0.05)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FeedWarning)
                history = await feed.history()
            rec = Recorder(feed)
            try:
                assert 29 <= len(history) <= 30
                await ws.wait_subscribed("kline")
                assert ws.subscriptions[0] == ("kline", "kline.1.SOLUSDT")
            finally:
                rec.task.cancel()
                await feed.close()

    run(scenario())


def test_a_synchronous_instance_lends_its_rest_addresses_and_clock(tmp_path) -> None:
    async def scenario() -> None:
        with fake_exchange("binanceusdm") as (rest, server), FakeWebsocket(server) as ws:
            server.now -= 60 * MIN
            feed = feeds.LiveFeed(rest, SYMBOL, "1m", since=server.now - 20 * MIN,
                                  cache_dir=tmp_path, ws_url=ws.base_url, backoff=0.05)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FeedWarning)
                history = await feed.history()
            rec = Recorder(feed)
            try:
                assert history.index[-1] == stamp(server.now - MIN)
                await ws.wait_subscribed("kline")
                ws.send_kline(server.now, "1m")
                await rec.wait(lambda: rec.has_bar(server.now), "a bar")
            finally:
                rec.task.cancel()
                await feed.close()

    run(scenario())


def test_close_ends_the_events(tmp_path) -> None:
    async def scenario() -> None:
        async with live("okx", tmp_path) as lv:
            await lv.ws.wait_subscribed("kline")
            await lv.feed.close()
            await asyncio.wait_for(lv.rec.task, 5)  # the iteration ended by itself
            assert lv.ws.connections >= 1

    run(scenario())


def test_unknown_exchange_timeframe_and_symbol_teach(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"'binanceusd' is not a ccxt exchange.*binanceusdm"):
        feeds.LiveFeed("binanceusd", SYMBOL, "1m")
    with pytest.raises(TypeError, match="exchange must be"):
        feeds.LiveFeed(42, SYMBOL, "1m")
    with pytest.raises(ValueError, match=r"timeframe='2m' is not served by bybit.*Available"):
        feeds.LiveFeed("bybit", SYMBOL, "2m")
    with pytest.raises(ValueError, match="bitstamp has no open-interest history"):
        feeds.LiveFeed("bitstamp", "BTC/USD", "1m")
    with pytest.raises(ValueError, match=r"reorder=-1 must be a finite number of seconds >= 0"):
        feeds.LiveFeed("bybit", SYMBOL, "1m", reorder=-1)
    with pytest.raises(ValueError, match=r"silence=0 must be a finite number of seconds >= 0.01"):
        feeds.LiveFeed("bybit", SYMBOL, "1m", silence=0)

    async def scenario() -> None:
        with fake_exchange("bybit") as (rest, server), FakeWebsocket(server) as ws:
            feed = feeds.LiveFeed(ws.pro_exchange(), "SOL/USDT:USDC", "1m", rest=rest,
                                  cache_dir=tmp_path)
            with pytest.raises(ValueError, match=r"Did you mean 'SOL/USDT:USDT'"):
                await feed.history()
            await feed.close()

    run(scenario())


# -- open interest summed over venues -----------------------------------------------------
def test_venues_sum_open_interest_in_history_forming_and_final_bars(tmp_path) -> None:
    """Binance streams the prices; Bybit and OKX (contracts of 0.01 coin) add their open
    interest over REST: the history and each final bar are fetch_venues' rows, a forming
    bar carries the sum of each venue's latest poll."""
    async def scenario() -> None:
        with fake_exchange("binanceusdm") as (rest, server), \
                fake_exchange("bybit") as (by, by_server), \
                fake_exchange("okx") as (ok, ok_server), FakeWebsocket(server) as ws:
            server.now -= 60 * MIN
            server.now -= server.now % MIN
            server.now -= (server.now + MIN) % (5 * MIN)
            servers = (server, by_server, ok_server)
            for other in servers[1:]:
                other.now = server.now
                add_open_interest_route(other)  # fetch_open_interest (FakeWebsocket's own)
            t, since = server.now, server.now - 60 * MIN
            feed = feeds.LiveFeed(ws.pro_exchange(), SYMBOL, "1m", since=since,
                                  cache_dir=tmp_path / "live", rest=rest, venues=[by, ok],
                                  backoff=0.05, max_backoff=0.2, oi_interval=0.2)

            def summed(until: int | None) -> pd.DataFrame:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", FeedWarning)
                    return feeds.fetch_venues([rest, by, ok], SYMBOL, "1m", since=since,
                                              until=until, cache_dir=False)

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FeedWarning)
                history = await feed.history()
            want = summed(None)
            pd.testing.assert_frame_equal(history, want)
            assert "open_interest_okx" in history.columns
            rec = Recorder(feed)
            try:
                def coins(s: Any, at: int) -> float:
                    return float(dict(s.content["SOL"].open_interest(5 * MIN)[:, :2])[at])

                await ws.wait_subscribed("kline")
                await rec.wait(lambda: all(polls(s) >= 2 for s in servers), "every venue polled")
                ws.send_kline(t, "1m")
                await rec.wait(lambda: rec.has_bar(t), "the forming bar")
                forming = rec.bars[0].open_interest
                assert forming == pytest.approx(sum(coins(s, t + MIN - 5 * MIN)
                                                    for s in servers), rel=1e-12)
                for s in servers:
                    s.now = t + MIN
                ws.send_kline(t, "1m", final=True)
                ws.send_kline(t + MIN, "1m")
                await rec.wait(lambda: rec.has_bar(t, final=True), "the final bar")
                final = next(b for b in rec.bars if b.final)
                assert_bar_is(final, summed(t + MIN).loc[stamp(t)])
                assert final.open_interest == pytest.approx(
                    sum(coins(s, t + MIN) for s in servers), rel=1e-12)
                assert not rec.statuses(event="error") + rec.statuses(event="retrying")
            finally:
                rec.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await rec.task
                await feed.close()

    run(scenario())


def test_venues_are_checked_before_anything_connects() -> None:
    with pytest.raises(TypeError, match="list of exchanges"):
        feeds.LiveFeed("binanceusdm", SYMBOL, "1m", venues="bybit")
    with pytest.raises(ValueError, match="binanceusdm"):
        feeds.LiveFeed("binanceusdm", SYMBOL, "1m", venues=["bybit", "binanceusdm"])
    with pytest.raises(ValueError, match="bybitt"):
        feeds.LiveFeed("binanceusdm", SYMBOL, "1m", venues=["bybitt"])
