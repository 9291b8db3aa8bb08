"""The live heatmap: the column of each bar, sent as bars come (forming bars re-sent and
replaced), equals the batch ``indicator.heatmap`` of the final levels at that bar; the page
state's snapshot equals a fresh Scene of the same frame; the page in Chromium draws the
columns the Python side holds, reload included."""

from __future__ import annotations

import asyncio
import io

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from test_live_state import _ScriptedFeed, _versions

from liqlevels import charts, indicator
from liqlevels._app import chart_bin_size
from liqlevels._live import StatusLine, run_live
from liqlevels._live_state import LiveState
from liqlevels.charts._heatmap import heatmap_layer
from liqlevels.charts._live_state import LiveState as PageState
from liqlevels.feeds import sample_candles

WEIGHTS = ("count", "oi_delta", "notional")


def _batch(candles: pd.DataFrame, options, bin_size: float, weight: str,
           times: pd.DatetimeIndex) -> pd.DataFrame:
    """From scratch: the levels of all bars, binned at ``times``."""
    levels = indicator.oi_levels(candles, options=options)
    return indicator.heatmap(levels, times, bin_size=bin_size, weight=weight)


def _stack(columns: dict) -> pd.DataFrame:
    parts = [f for _, f in sorted(columns.items()) if len(f)]
    return pd.concat(parts, ignore_index=True) if parts else parts


@pytest.mark.parametrize("weight", WEIGHTS)
def test_each_bars_column_equals_the_batch_heatmap_forming_bars_included(weight):
    candles = sample_candles(700, seed=5, burst_rate=0.06)
    warm, rest = candles.iloc[:250], candles.iloc[250:]
    state = LiveState(indicator.OIOptions(ma_type="ema", ma_length=30), heatmap=True,
                      weight=weight)
    state.warm_up(warm)
    size = state.heat_bin
    assert size == indicator.default_bin_size(state.levels()["entry"].to_numpy())
    columns: dict = {}
    for i, bar in enumerate(_versions(rest, 3)):
        state.bar(bar)
        columns[state.last_time] = state.heat_column()  # a re-sent bar replaces its column
        if i % 97 == 0 or i == len(rest) - 1:
            seen = state.candles()
            live_times = pd.DatetimeIndex(sorted(columns))
            want = _batch(seen, state.stream.options, size, weight, live_times)
            assert_frame_equal(_stack(columns), want, check_dtype=True)
    # the state's own whole-run heatmap is the batch one on every bar
    assert_frame_equal(state.heatmap(), _batch(candles, state.stream.options, size, weight,
                                               candles.index), check_like=False)


def test_no_line_in_the_warm_up_still_fixes_bins_from_the_close():
    flat = sample_candles(80, seed=1, burst_rate=0.0)
    state = LiveState(indicator.OIOptions(), heatmap=True)
    state.warm_up(flat.iloc[:5])
    assert state.levels().empty
    assert state.heat_bin == indicator.default_bin_size(np.array([state.last_close]))


def test_a_state_without_heatmap_says_so():
    state = LiveState(indicator.OIOptions())
    state.warm_up(sample_candles(20))
    with pytest.raises(ValueError, match="heatmap=True"):
        state.heat_column()


# ------------------------------------------------------------------ the page's state


def _scene(candles, levels, heat) -> charts.Scene:
    return charts.Scene(candles, levels, symbol="TEST", heatmap=heat)


def test_page_snapshot_equals_a_fresh_scene_after_columns_and_resends():
    candles = sample_candles(400, seed=8, burst_rate=0.06)
    state = LiveState(indicator.OIOptions(ma_length=20), heatmap=True, weight="notional")
    state.warm_up(candles.iloc[:150])
    warm_heat = state.heatmap()
    page = PageState(_scene(state.candles(), state.levels(), warm_heat)._scene,
                     heatmap=heatmap_layer(warm_heat))
    sent = 0
    for bar in _versions(candles.iloc[150:], 4):
        state.bar(bar)
        page.bar(bar.time, bar.open, bar.high, bar.low, bar.close)
        sent += len(page.heatmap(state.last_time, state.heat_column()))
    assert sent >= 250  # one column per new bar at least; unchanged re-sends send nothing
    got = page.snapshot()["scene"]["heatmap"]
    want = _scene(candles, state.levels(), state.heatmap())._scene["heatmap"]
    assert got == want


def test_page_heat_refuses_what_it_cannot_place():
    candles = sample_candles(120, seed=8, burst_rate=0.08)
    state = LiveState(indicator.OIOptions(ma_length=20), heatmap=True)
    state.warm_up(candles)
    heat = state.heatmap()
    page = PageState(_scene(candles, state.levels(), heat)._scene, heatmap=heatmap_layer(heat))
    col = state.heat_column()
    with pytest.raises(ValueError, match="before the latest"):
        page.heatmap(candles.index[-1], col)
        page.heatmap(candles.index[-2], col)
    wrong = col.assign(price_high=col["price_low"] + 3 * state.heat_bin)
    with pytest.raises(ValueError, match="one bin_size"):
        page.heatmap(candles.index[-1], wrong)
    bare = PageState(_scene(candles, state.levels(), None)._scene)
    with pytest.raises(ValueError, match="no heatmap"):
        bare.heatmap(candles.index[-1], col)


class _Recorder:
    """The LivePage calls the loop makes, applied to a page state (no server)."""

    def __init__(self, state: PageState) -> None:
        self.state = state
        self.heat_messages = 0

    def bar(self, *a):
        self.state.bar(*a)

    def heatmap(self, time, frame):
        self.heat_messages += len(self.state.heatmap(time, frame))

    def levels(self, change):
        self.state.levels(change)

    def density(self, frame):
        self.state.profile("density", frame)

    def trade_map(self, frame):
        pass

    def liquidations(self, frame):
        pass

    def status(self, text):
        pass


class _EndingFeed(_ScriptedFeed):
    """The script, then the end of the events (the run ends with it, however slow)."""

    async def events(self):
        for event in self.script:
            yield event
            await asyncio.sleep(0)


def test_the_loop_sends_the_columns_a_fresh_scene_would_show():
    candles = sample_candles(360, seed=12, burst_rate=0.07)
    state = LiveState(indicator.OIOptions(ma_length=25), heatmap=True, weight="oi_delta")
    state.warm_up(candles.iloc[:120])
    heat = state.heatmap()
    page = _Recorder(PageState(_scene(state.candles(), state.levels(), heat)._scene,
                               heatmap=heatmap_layer(heat)))
    feed = _EndingFeed(_versions(candles.iloc[120:], 6))
    run = asyncio.run(run_live(feed, state, page=page, status=StatusLine(io.StringIO()),
                               duration=120))
    assert run.reason == "feed ended" and run.bars == len(feed.script)
    assert 240 <= page.heat_messages <= len(feed.script)
    want = _scene(candles, state.levels(), state.heatmap())._scene["heatmap"]
    assert page.state.snapshot()["scene"]["heatmap"] == want


# ------------------------------------------------------------------ the page in Chromium


@pytest.mark.browser
def test_the_page_draws_the_columns_as_they_come_and_after_a_reload(tmp_path):
    from test_live_page import CHROMIUM, CHROMIUM_ARGS, Live

    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium (/usr/bin/chromium) is not installed")
    import threading

    from playwright.sync_api import sync_playwright

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    candles = sample_candles(300, timeframe="1m", seed=21, burst_rate=0.08)
    state = LiveState(indicator.OIOptions(ma_length=20), heatmap=True, weight="notional")
    state.warm_up(candles.iloc[:150])
    state.heat_bin = chart_bin_size(candles.iloc[:150])  # as `liqlevels live --heatmap`
    heat = state.heatmap()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM),
                                         args=list(CHROMIUM_ARGS))
            live = Live(loop, browser, _scene(state.candles(), state.levels(), heat))
            send_heat_bars(loop, live.live, state, _versions(candles.iloc[150:], 7))
            got = live.state()["heat"]
            want = live.live.snapshot()["scene"]["heatmap"]
            _assert_page_heat(got, want)
            assert "heatmap: long + short USD" in live.state()["legend"]
            live.page.screenshot(path=str(tmp_path / "live-heat.png"))
            live.page.reload()
            live.wait("liqlevelsLive.snapshots > 0 && liqlevelsLive.heatColumns > 0")
            _assert_page_heat(live.state()["heat"], live.live.snapshot()["scene"]["heatmap"])
            assert live.errors == []
            live.close()
            browser.close()
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


def send_heat_bars(loop, page, state, bars) -> None:
    """As ``liqlevels live --heatmap`` does: each bar (forming versions too) into the loop's
    state, then to the page on its loop: the bar, and the latest bar's heat column."""
    from test_live_page import run

    for bar in bars:
        state.bar(bar)

        async def step(bar=bar):
            page.bar(bar.time, bar.open, bar.high, bar.low, bar.close)
            page.heatmap(state.last_time, state.heat_column())
        run(loop, step())


def _assert_page_heat(got: dict, want: dict) -> None:
    """The page's columns (unpacked, possibly re-based) hold the snapshot's cells."""
    assert got["columns"] == want["t"]
    assert got["b"] == want["b"]
    assert got["off"] == want["off"]
    assert got["bin"] == pytest.approx(want["bin"])
    lows_got = np.asarray(got["p0"]) + np.asarray(got["k"]) * got["bin"]
    lows_want = np.asarray(want["p0"]) + np.asarray(want["k"]) * want["bin"]
    np.testing.assert_allclose(lows_got, lows_want, rtol=1e-9)
    np.testing.assert_allclose(got["l"], np.asarray(want["l"]) * want["scale"],
                               rtol=1e-5, atol=want["scale"])
    np.testing.assert_allclose(got["s"], np.asarray(want["s"]) * want["scale"],
                               rtol=1e-5, atol=want["scale"])
    assert got["vmax"] == pytest.approx(want["vmax"])
    assert got["cells"] > 0
