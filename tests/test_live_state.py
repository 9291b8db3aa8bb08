"""The live state and loop: what the live chart shows equals the batch engine on the same
bars, forming bars re-sent included; alerts fire once on the way in; the loop ends on its
duration, on SIGINT, and passes a feed error on."""

from __future__ import annotations

import asyncio
import io
import os
import signal

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from liqlevels import indicator
from liqlevels._live import StatusLine, run_live
from liqlevels._live_state import LiveState
from liqlevels.feeds import LiveBar, LiveLiquidations, sample_candles

COLS = ("open", "high", "low", "close", "volume", "open_interest")


def _versions(candles: pd.DataFrame, seed: int) -> list[LiveBar]:
    """Each bar sent as one to three forming versions, then closed with its real values."""
    rng = np.random.default_rng(seed)
    out = []
    for time, row in candles.iterrows():
        bar = {c: float(row[c]) for c in COLS}
        for _ in range(int(rng.integers(0, 3))):
            low = bar["low"] * (1 + rng.uniform(0, 0.01))
            high = max(bar["high"] * (1 - rng.uniform(0, 0.01)), low)
            o, c = (min(max(x, low), high) for x in (bar["open"], bar["close"]))
            oi = bar["open_interest"] * rng.uniform(0.9, 1.1)
            out.append(LiveBar(time, o, high, low, c, bar["volume"] / 2, oi, False))
        out.append(LiveBar(time, **bar, final=True))
    return out


def test_state_equals_batch_bar_by_bar_with_forming_bars():
    candles = sample_candles(900, seed=5, burst_rate=0.05)
    warm, rest = candles.iloc[:300], candles.iloc[300:]
    state = LiveState(indicator.OIOptions(ma_type="ema", direction="both"), bins=40)
    state.warm_up(warm)
    assert state.closed == 300
    options = state.stream.options
    for i, bar in enumerate(_versions(rest, 1)):
        state.bar(bar)
        seen = state.candles()
        if i % 37 == 0:
            assert_frame_equal(state.levels(), indicator.oi_levels(seen, options=options))
            assert_frame_equal(state.density(),
                               indicator.density(indicator.oi_levels(seen, options=options),
                                                 bins=40))
    assert_frame_equal(state.candles(), candles[list(COLS)], check_freq=False,
                       check_names=False)
    assert_frame_equal(state.levels(), indicator.oi_levels(candles, options=options))
    assert state.closed == len(candles)


def test_trade_map_equals_batch():
    rng = np.random.default_rng(3)
    n = 5000
    trades = pd.DataFrame({
        "time": pd.to_datetime(np.sort(rng.integers(0, 10**6, n)), unit="s", utc=True),
        "price": 100 + rng.normal(0, 1, n).cumsum() * 0.1,
        "quantity": rng.lognormal(0, 1.5, n),
        "side": rng.choice(["buy", "sell"], n),
    })
    state = LiveState(indicator.OIOptions(),
                      trade_map=indicator.LiveTradeMap(mode="top_n", threshold=50))
    state.warm_up(sample_candles(10))
    for chunk in np.array_split(np.arange(n), 17):
        state.trades(trades.iloc[chunk])
    got = state.trade_levels_map()
    levels = indicator.trade_levels(trades, mode="top_n", threshold=50)
    assert_frame_equal(got, indicator.liquidation_map(levels, price=state.last_close))


def _cluster_state(within: float) -> LiveState:
    """A state whose densest live cluster sits near 100 (a burst of OI at price 100)."""
    state = LiveState(indicator.OIOptions(ma_length=3, leverages=(10,)), bins=10,
                      alert_within=within)
    times = pd.date_range("2026-01-01", periods=6, freq="1h", tz="UTC")
    oi = [100, 100, 100, 100, 300, 300]
    rows = [dict(open=100, high=100.5, low=99.5, close=100, volume=1, open_interest=x)
            for x in oi]
    state.warm_up(pd.DataFrame(rows, index=times))
    return state


def _bar(time: str, close: float) -> LiveBar:
    return LiveBar(pd.Timestamp(time, tz="UTC"), close, close * 1.0001, close * 0.9999, close, 1,
               300, True)


def test_alert_fires_once_on_the_way_in_and_again_after_leaving():
    state = _cluster_state(within=1.0)
    live = state.stream.live_levels()
    assert sorted(live["price"]) == pytest.approx([90.0, 110.0])  # the 10x pair of the burst
    # Ten bins over 90..110: the long at 90 and the short at 110 tie; the lower bin wins.
    alerts = []
    for t, close in [("2026-01-01 06:00", 100.0), ("2026-01-01 07:00", 91.5),
                     ("2026-01-01 08:00", 91.6), ("2026-01-01 09:00", 95.0),
                     ("2026-01-01 10:00", 92.5), ("2026-01-01 11:00", 92.4)]:
        state.bar(_bar(t, close))
        alerts.append(state.alert())
    fired = [a for a in alerts if a is not None]
    assert [a.time.hour for a in fired] == [7, 10]
    first, second = fired
    assert first.side == "long"
    assert (first.price_low, first.price_high) == pytest.approx((90.0, 92.0))
    assert first.distance_pct == 0.0  # the close is inside the cluster's bin
    assert second.distance_pct == pytest.approx(100 * 0.5 / 92.5)
    assert "ALERT" in first.text() and "long" in first.text() and "around" in first.text()
    assert second.record()["within"] == 1.0 and "above" not in second.text()


def test_alert_within_checked():
    with pytest.raises(ValueError, match="--alert-within"):
        LiveState(indicator.OIOptions(), alert_within=0)


class _ScriptedFeed:
    """Test double of ``feeds.LiveFeed``: yields a script, then waits (or raises)."""

    def __init__(self, events, *, then: BaseException | None = None) -> None:
        self.script, self.then = events, then

    async def events(self):
        for event in self.script:
            yield event
            await asyncio.sleep(0)
        if self.then is not None:
            raise self.then
        await asyncio.Event().wait()


def test_run_live_ends_on_duration_with_every_event_applied():
    candles = sample_candles(400, seed=9, burst_rate=0.05)
    state = LiveState(indicator.OIOptions())
    state.warm_up(candles.iloc[:200])
    feed = _ScriptedFeed(_versions(candles.iloc[200:], 2))
    out = io.StringIO()
    run = asyncio.run(run_live(feed, state, status=StatusLine(out, every=0.05), duration=1.0))
    assert run.reason == "duration"
    assert_frame_equal(state.levels(), indicator.oi_levels(candles))
    assert run.bars == len(feed.script)
    assert "last bar" in out.getvalue() and "live lines" in out.getvalue()


def test_run_live_passes_a_feed_error_on():
    state = LiveState(indicator.OIOptions())
    state.warm_up(sample_candles(50))
    feed = _ScriptedFeed([], then=RuntimeError("socket closed for good"))
    with pytest.raises(RuntimeError, match="for good"):
        asyncio.run(run_live(feed, state, status=StatusLine(io.StringIO()), duration=5))


def test_run_live_stops_cleanly_on_sigint():
    state = LiveState(indicator.OIOptions())
    state.warm_up(sample_candles(50))

    async def main():
        asyncio.get_running_loop().call_later(0.2, os.kill, os.getpid(), signal.SIGINT)
        return await run_live(_ScriptedFeed([]), state, status=StatusLine(io.StringIO()),
                              duration=10)

    assert asyncio.run(main()).reason == "interrupted"


def test_a_quiet_liquidation_stream_still_lands_in_the_log(tmp_path):
    """One liquidation and then silence: the loop's tick flushes the log, so the row is on
    disk before the log is closed."""
    from liqlevels.feeds import LiquidationLog, read_liquidations

    state = LiveState(indicator.OIOptions())
    state.warm_up(sample_candles(50))
    frame = pd.DataFrame({
        "time": [pd.Timestamp("2026-06-01 12:00:00.5", tz="UTC")], "exchange": ["binanceusdm"],
        "symbol": ["BTC/USDT:USDT"], "side": ["short"], "price": [70_000.0],
        "quantity": [0.5], "notional": [35_000.0]})
    log = LiquidationLog(tmp_path, flush_every=0.1)
    try:
        run = asyncio.run(run_live(_ScriptedFeed([LiveLiquidations(frame)]), state, log=log,
                                   status=StatusLine(io.StringIO()), duration=0.6, tick=0.05))
        assert run.liquidations == 1 and log.pending == 0
        got = read_liquidations(tmp_path)
        assert got["side"].tolist() == ["short"] and got["notional"].tolist() == [35_000.0]
    finally:
        log.close()
    assert state.liquidations == 1 and state.liquidated_notional == 35_000.0
