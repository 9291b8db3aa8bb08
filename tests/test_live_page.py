"""charts.LivePage: the state against a fresh Scene, and the page in Chromium as Python moves it.

The server runs on an asyncio loop in a thread of its own (as the live loop would run it);
Playwright's sync API drives Chromium from the test's thread. After each step the page is read
back (``liqlevelsLive.dump()``: the candles from ``series.data()``, the lines from the
LevelLines primitive, the markers from ``series.markers()``) and compared with
``LivePage.snapshot()``, which is itself compared with a freshly built ``charts.Scene``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import threading
from pathlib import Path

import aiohttp
import numpy as np
import pandas as pd
import pytest
from test_charts import CHROMIUM, make_candles, make_levels, pixels

from liqlevels import charts, indicator
from liqlevels.charts._browser import CHROMIUM_ARGS
from liqlevels.charts._live_state import SIDE_COLORS, LiveState
from liqlevels.feeds import sample_candles
from liqlevels.indicator._level_stream import Change, Line

FIELDS = ["open", "high", "low", "close", "volume", "open_interest"]
DOCS_PNG = Path(__file__).resolve().parents[1] / "docs" / "img" / "live.png"

# ------------------------------------------------------------------ a stream to follow


def forming(row: pd.Series, prev_oi: float) -> dict:
    """An earlier version of ``row``: half-way close, half the volume and OI step."""
    o, c = row["open"], (row["open"] + row["close"]) / 2
    return {"open": o, "high": max(o, c), "low": min(o, c), "close": c,
            "volume": row["volume"] / 2, "open_interest": (prev_oi + row["open_interest"]) / 2}


def scene_of(candles, stream, **kw) -> charts.Scene:
    live = stream.live_levels()
    return charts.Scene(candles, stream.levels(), indicator.density(live), **kw)


def send(live: charts.LivePage, stream, time, values: dict) -> None:
    """What the live loop does per bar version: the candle, the lines, the density."""
    change = stream.update(time, **values)
    live.bar(time, values["open"], values["high"], values["low"], values["close"])
    live.levels(change)
    live.density(indicator.density(stream.live_levels()))


def assert_same_as_scene(got: dict, want: dict) -> None:
    """A snapshot's scene against a fresh Scene payload (OI panes aside)."""
    assert got["candles"] == want["candles"]
    for key in ("s", "e", "k", "lv", "styles", "leverages", "total", "drawn"):
        assert got["lines"][key] == want["lines"][key], key
    np.testing.assert_allclose(got["lines"]["p"], want["lines"]["p"], rtol=1e-12)
    assert [{k: v for k, v in p.items() if k != "slot"} for p in got["profiles"]] \
        == want["profiles"]
    for key in ("title", "subtitle", "theme", "view"):
        assert got[key] == want[key], key


@pytest.mark.parametrize(("max_lines", "resend"), [(500, True), (40, True), (None, False)])
def test_snapshot_is_a_fresh_scene_after_every_bar_and_resend(max_lines, resend):
    candles = sample_candles(n=420, timeframe="1m", seed=5)
    stream = indicator.LevelStream(ma_length=20)
    first = 150
    for t, row in candles.iloc[:first].iterrows():
        stream.update(t, **row[FIELDS].to_dict())
    live = charts.LivePage(scene_of(candles.iloc[:first], stream, max_lines=max_lines),
                           **({} if max_lines else {"max_lines": None}))
    for i in range(first, len(candles)):
        t, row = candles.index[i], candles.iloc[i]
        if resend and i % 2:
            early = forming(row, candles["open_interest"].iloc[i - 1])
            send(live, stream, t, early)
            part = candles.iloc[:i + 1].copy()
            part.iloc[-1, [part.columns.get_loc(k) for k in early]] = list(early.values())
            assert_same_as_scene(live.snapshot()["scene"],
                                 scene_of(part, stream, max_lines=max_lines)._scene)
        send(live, stream, t, row[FIELDS].to_dict())
        assert_same_as_scene(live.snapshot()["scene"],
                             scene_of(candles.iloc[:i + 1], stream, max_lines=max_lines)._scene)
    lines, ends = live.snapshot()["scene"]["lines"], stream.levels()["end"]
    assert lines["total"] == len(ends) > 100 and ends.isna().any() and ends.notna().any()
    if max_lines == 40:
        assert lines["drawn"] == 40 < lines["total"]


class Mirror:
    """The page's bookkeeping of live.js in plain Python: messages in, lines by bar out."""

    def __init__(self, snap: dict) -> None:
        self.apply(snap)

    def apply(self, msg: dict) -> None:
        if msg["t"] == "snap":
            c, ln = msg["scene"]["candles"], msg["scene"]["lines"]
            self.times = np.cumsum([c["t0"], *c["dt"]]).tolist() if c["n"] else []
            self.lines = {i: [self.times[s], None if lv else self.times[e], p, ln["styles"][k]]
                          for i, s, e, p, k, lv in zip(ln["id"], ln["s"], ln["e"], ln["p"],
                                                       ln["k"], ln["lv"], strict=True)}
        elif msg["t"] == "bar" and (not self.times or msg["b"][0] > self.times[-1]):
            self.times.append(msg["b"][0])
        elif msg["t"] == "lines":
            for i in msg["del"]:
                del self.lines[i]
            for i, s, e, p, color, width, dash in msg["add"]:
                self.lines[i] = [s, e, p, {"color": color, "width": width, "dash": dash}]
            for i, e in msg["end"]:
                self.lines[i][1] = e
            for i in msg["live"]:
                self.lines[i][1] = None

    def view(self) -> list[tuple]:
        def at(t):
            return max(0, int(np.searchsorted(self.times, t, side="right")) - 1)
        n = len(self.times)
        return sorted((at(s), max(at(s), n - 1 if e is None else at(e)), round(p, 6),
                       tuple(st.values())) for s, e, p, st in self.lines.values())


def snapshot_view(scene: dict) -> list[tuple]:
    ln = scene["lines"]
    return sorted((s, e, round(p, 6), tuple(ln["styles"][k].values()))
                  for s, e, p, k in zip(ln["s"], ln["e"], ln["p"], ln["k"], strict=True))


@pytest.mark.parametrize("max_lines", [500, 40, None])
def test_messages_take_a_page_to_the_snapshot(max_lines):
    """Replaying each call's messages on the snapshot before it gives the snapshot after."""
    candles = sample_candles(n=400, timeframe="1m", seed=13)
    stream = indicator.LevelStream(ma_length=20)
    for t, row in candles.iloc[:120].iterrows():
        stream.update(t, **row[FIELDS].to_dict())
    state = LiveState(scene_of(candles.iloc[:120], stream, max_lines=max_lines)._scene,
                      max_lines=max_lines)
    page = Mirror(state.snapshot())
    sent = {"lines": 0, "end": 0, "live": 0, "del": 0}
    for i in range(120, len(candles)):
        t, row = candles.index[i], candles.iloc[i]
        final = row[FIELDS].to_dict()
        versions = [forming(row, candles["open_interest"].iloc[i - 1])] if i % 2 else []
        if i % 4 == 1:  # a spike taken back: what it ended is live again
            versions.append(dict(final, high=final["high"] * 1.004, low=final["low"] * 0.996))
        for values in [*versions, final]:
            change = stream.update(t, **values)
            msgs = state.bar(t, values["open"], values["high"], values["low"], values["close"])
            msgs += state.levels(change)
            for msg in msgs:
                page.apply(msg)
                if msg["t"] == "lines":
                    sent["lines"] += 1
                    for key in ("end", "live", "del"):
                        sent[key] += len(msg[key])
            assert page.view() == snapshot_view(state.snapshot()["scene"])
    # every kind of change was sent (the newest 40 lines are too young to end here)
    assert all(v > 0 for k, v in sent.items() if k != "end" or max_lines != 40), sent


def test_max_bars_keeps_the_newest_bars_as_a_scene_of_them_would():
    candles = sample_candles(n=300, timeframe="1m", seed=8)
    stream = indicator.LevelStream(ma_length=20)
    for t, row in candles.iloc[:100].iterrows():
        stream.update(t, **row[FIELDS].to_dict())
    live = charts.LivePage(scene_of(candles.iloc[:100], stream, max_lines=None), max_bars=60,
                           max_lines=None)
    assert live.snapshot()["scene"]["candles"]["n"] == 60  # trimmed at once
    sizes = set()
    for i in range(100, 300):
        send(live, stream, candles.index[i], candles.iloc[i][FIELDS].to_dict())
        n = live.snapshot()["scene"]["candles"]["n"]
        sizes.add(n)
        kept = candles.iloc[i + 1 - n:i + 1]
        levels = stream.levels()
        want = charts.Scene(kept, levels, indicator.density(stream.live_levels()),
                            max_lines=None)._scene
        assert_same_as_scene(live.snapshot()["scene"], want)
    assert sizes == set(range(60, 67))


def test_a_page_started_empty_takes_its_first_bar_and_price_format():
    c = make_candles(3)
    c[["open", "high", "low", "close"]] *= 1e-7  # about 0.00001: more decimals than 2
    live = charts.LivePage(charts.Scene(c.iloc[:0]))
    assert live.snapshot()["scene"]["candles"]["n"] == 0
    live.bar(c.index[0], *c.iloc[0][["open", "high", "low", "close"]])
    snap = live.snapshot()["scene"]
    assert snap["candles"] == charts.Scene(c.iloc[:1])._scene["candles"]
    assert snap["candles"]["format"]["precision"] == 9


def test_a_map_given_with_the_scene_is_the_one_trade_map_replaces():
    c = make_candles(20)
    levels_map = pd.DataFrame({"price_low": [90.0], "price_high": [91.0], "side": ["long"],
                               "leverage": [10], "notional": [5e5]})
    live = charts.LivePage(charts.Scene(c, profiles=[charts.liquidation_profile(levels_map)]))
    (prof,) = live.snapshot()["scene"]["profiles"]
    assert (prof["slot"], prof["edge"]) == ("map", "left")
    live.trade_map(levels_map.assign(leverage=25))
    (prof,) = live.snapshot()["scene"]["profiles"]
    assert prof["names"] == ["25x"]


def test_degenerate_and_missing_profiles():
    c = make_candles(20)
    live = charts.LivePage(charts.Scene(c))
    empty = pd.DataFrame({"price_low": [], "price_high": [], "long": [], "short": []})
    zeros = pd.DataFrame({"price_low": [90.0, 95.0], "price_high": [95.0, 100.0],
                          "long": [0, 0], "short": [0, 0]})
    for frame in (empty, zeros):
        live.density(frame)
        (prof,) = live.snapshot()["scene"]["profiles"]
        assert prof["slot"] == "density" and sum(map(sum, prof["v"])) == 0
    live.density(None)
    live.trade_map(None)
    assert live.snapshot()["scene"]["profiles"] == []
    levels_map = pd.DataFrame({"price_low": [90.0, 110.0], "price_high": [91.0, 111.0],
                               "side": ["long", "short"], "leverage": [10, 25],
                               "notional": [5e5, 2e5]})
    live.trade_map(levels_map)
    (prof,) = live.snapshot()["scene"]["profiles"]
    assert prof["slot"] == "map" and prof["names"] == ["10x", "25x"]


def test_bad_inputs_say_what_is_wrong():
    c = make_candles(5)
    scene = charts.Scene(c)
    with pytest.raises(TypeError, match=r"pass a charts\.Scene"):
        charts.LivePage(c)
    with pytest.raises(ValueError, match=r"not a loopback address.*allow_remote=True"):
        charts.LivePage(scene, host="0.0.0.0")
    assert charts.LivePage(scene, host="0.0.0.0", allow_remote=True).host == "0.0.0.0"
    assert charts.LivePage(scene, host="::1").host == "::1"
    with pytest.raises(ValueError, match="port=70000"):
        charts.LivePage(scene, port=70000)
    with pytest.raises(ValueError, match="max_bars=0"):
        charts.LivePage(scene, max_bars=0)
    live = charts.LivePage(scene)
    t = c.index
    with pytest.raises(ValueError, match="before the latest bar"):
        live.bar(t[2], 100, 101, 99, 100)
    with pytest.raises(ValueError, match="do not bracket"):
        live.bar(t[-1], 100, 99, 98, 100)
    with pytest.raises(ValueError, match="finite"):
        live.bar(t[-1], 100, float("inf"), 98, 100)
    with pytest.raises(TypeError, match=r"LevelStream\.update returns"):
        live.levels({"born": []})
    with pytest.raises(ValueError, match=r"'side'\] is 'buy' at row 0"):
        live.liquidations(pd.DataFrame({"time": [t[1]], "side": ["buy"], "notional": [1.0]}))
    with pytest.raises(ValueError, match=r"'notional'\] is -1.0 at row 0"):
        live.liquidations(pd.DataFrame({"time": [t[1]], "side": ["long"], "notional": [-1.0]}))
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['notional'\]"):
        live.liquidations(pd.DataFrame({"time": [t[1]], "side": ["long"]}))
    with pytest.raises(TypeError, match="must be a string"):
        live.status(3)
    assert live.snapshot()["scene"]["candles"]["n"] == 5  # nothing half-applied


def test_liquidations_sum_per_bar_and_side_and_wait_for_their_bar():
    c = make_candles(5)  # hourly bars
    live = charts.LivePage(charts.Scene(c))
    t = c.index
    minute = pd.Timedelta(minutes=1)
    live.liquidations(pd.DataFrame({
        "time": [t[0] - minute, t[3] + minute, t[3] + 2 * minute, t[4] + minute,
                 t[4] + 70 * minute],
        "exchange": "okx", "symbol": "BTC/USDT:USDT",
        "side": ["long", "long", "long", "short", "short"],
        "price": 100.0, "quantity": 1.0, "notional": [9.0, 1500.0, 2500.0, 2.5e6, 1e4],
    }))
    secs = [int(x.timestamp()) for x in t]
    assert live.snapshot()["scene"]["markers"] == [  # before the first bar: dropped
        [secs[3], "long", "L 4K (2)", 1.0],
        [secs[4], "short", "S 2.5M", 3.0],
    ]
    live.bar(t[4] + 60 * minute, 100, 101, 99, 100)  # its bar comes: the waiting one shows
    assert live.snapshot()["scene"]["markers"][-1] == [secs[4] + 3600, "short", "S 10K", 1.0]


# ------------------------------------------------------------------ the page in Chromium


@pytest.fixture(scope="module")
def loop():
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="live-page-loop", daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def run(loop, coro, timeout: float = 30.0):
    return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium (/usr/bin/chromium) is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS))
        yield b
        b.close()


def expected(snap: dict) -> dict:
    """What the page must hold for a snapshot, in the shape of ``liqlevelsLive.dump()``."""
    sc = snap["scene"]
    c, ln = sc["candles"], sc["lines"]
    times = np.cumsum([c["t0"], *c["dt"]]).tolist() if c["n"] else []
    lines = [[s, e, p, ln["styles"][k]["color"], ln["styles"][k]["width"],
              ln["styles"][k]["dash"]] for s, e, p, k in zip(ln["s"], ln["e"], ln["p"], ln["k"],
                                                             strict=True)]
    markers = [[t, "belowBar" if side == "long" else "aboveBar", SIDE_COLORS[side], text, size]
               for t, side, text, size in sc["markers"]]
    profiles = [(p["slot"], p["label"], sum(1 for row in p["v"] if sum(row) > 0))
                for p in sc["profiles"]]
    return {"times": times, "ohlc": list(zip(c["o"], c["h"], c["l"], c["c"], strict=True)),
            "lines": lines, "markers": markers, "profiles": profiles}


def _line_key(line):
    return (line[0], line[1], line[3], line[4], line[5], round(line[2], 6))


class Live:
    """A LivePage served on the loop thread, and one Chromium page showing it."""

    def __init__(self, loop, browser, scene, size=(1200, 700), **kw):
        self.loop = loop
        self.live = charts.LivePage(scene, **kw)
        self.url = run(loop, self.live.start())
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page = browser.new_page(viewport={"width": size[0], "height": size[1]})
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(self.url)
        self.wait("liqlevelsLive.snapshots > 0")

    def wait(self, condition: str, timeout: float = 15.0) -> None:
        self.page.wait_for_function(f"() => window.liqlevelsLive && ({condition})",
                                    timeout=timeout * 1000)

    def call(self, name: str, *args) -> None:
        """Call a LivePage method on the loop's thread, as the live loop does."""
        async def call():
            getattr(self.live, name)(*args)
        run(self.loop, call())

    def state(self) -> dict:
        run(self.loop, self.live.applied(timeout=15))
        return self.page.evaluate("() => liqlevelsLive.dump()")

    def check(self) -> dict:
        """The page against the Python state; returns what the page holds."""
        got, want = self.state(), expected(self.live.snapshot())
        assert got["times"] == want["times"]
        np.testing.assert_allclose(got["ohlc"], want["ohlc"], rtol=1e-8)
        g, w = sorted(got["lines"], key=_line_key), sorted(want["lines"], key=_line_key)
        assert [x[:2] + x[3:] for x in g] == [x[:2] + x[3:] for x in w]
        np.testing.assert_allclose([x[2] for x in g], [x[2] for x in w], rtol=1e-8)
        assert got["markers"] == want["markers"]
        assert [(p["slot"], p["label"], p["bars"]) for p in got["profiles"]] == want["profiles"]
        assert self.errors == []
        return got

    def close(self) -> None:
        self.page.close()
        run(self.loop, self.live.stop())


def trade_map(candles: pd.DataFrame, n: int = 4000, seed: int = 4) -> pd.DataFrame:
    """A liquidation map from made-up trades along the candles (the real pipeline)."""
    rng = np.random.default_rng(seed)
    at = np.sort(rng.integers(0, len(candles), n))
    trades = pd.DataFrame({
        "time": candles.index[at] + pd.to_timedelta(rng.integers(0, 59, n), unit="s"),
        "price": candles["close"].to_numpy()[at] * (1 + rng.normal(0, 3e-4, n)),
        "quantity": rng.lognormal(0.0, 1.6, n), "side": rng.choice(["buy", "sell"], n)})
    levels = indicator.trade_levels(trades, mode="top_n", threshold=150)
    return indicator.liquidation_map(levels, price=float(candles["close"].iloc[-1]))


def line(t, side, lev, price, tier=1, end=None) -> Line:
    return Line(t, end, side, lev, price, price, tier, 10.0)


@pytest.mark.browser
def test_candles_lines_and_markers_follow_python_step_by_step(loop, browser):
    c = make_candles(10)
    t = c.index
    hour = pd.Timedelta(hours=1)
    levels = make_levels([(t[2], pd.NaT, "long", 10, 95.0, 1), (t[3], t[6], "short", 25, 105.0, 2)])
    live = Live(loop, browser, charts.Scene(c, levels, symbol="TEST/USDT:USDT"))
    try:
        got = live.check()
        assert sorted(x[:2] for x in got["lines"]) == [[2, 9], [3, 6]]
        # a new forming candle: appended, and the live line reaches it
        t10 = t[9] + hour
        live.call("bar", t10, 100.0, 101.0, 99.5, 100.5)
        got = live.check()
        assert len(got["times"]) == 11 and [2, 10] in [x[:2] for x in got["lines"]]
        # the forming candle re-sent: replaced, not appended
        live.call("bar", t10, 100.0, 103.0, 99.0, 102.5)
        got = live.check()
        assert len(got["times"]) == 11 and got["ohlc"][-1] == [100.0, 103.0, 99.0, 102.5]
        # lines born on it, and the old live line ended by it
        born = (line(t10, "long", 50, 97.0, 3), line(t10, "short", 50, 106.0, 3))
        first = Change(born, (line(t[2], "long", 10, 95.0, 1, end=t10),))
        live.call("levels", first)
        got = live.check()
        spans = sorted(x[:3] for x in got["lines"])
        assert spans == [[2, 10, 95.0], [3, 6, 105.0], [10, 10, 97.0], [10, 10, 106.0]]
        assert live.page.evaluate("() => liqlevelsLive.live") == 2
        # the forming bar re-sent again: its born lines taken back, the ended line live again
        live.call("bar", t10, 100.0, 100.5, 99.8, 100.2)
        again = Change((line(t10, "long", 100, 98.5, 2),), (), undone=first)
        live.call("levels", again)
        got = live.check()
        assert sorted(x[:3] for x in got["lines"]) == [[2, 10, 95.0], [3, 6, 105.0],
                                                      [10, 10, 98.5]]
        assert "100x" in got["legend"] and "50x" not in got["legend"]
        # the next bar: live lines are drawn to it, the ended one stays put
        live.call("bar", t10 + hour, 100.2, 100.9, 100.0, 100.6)
        got = live.check()
        assert sorted(x[:2] for x in got["lines"]) == [[2, 11], [3, 6], [10, 11]]
        # liquidations: markers below (long) and above (short) with their size
        liq = pd.DataFrame({"time": [t10 + pd.Timedelta(minutes=5), t10 + hour,
                                     t10 + 2 * hour + pd.Timedelta(minutes=1)],
                            "side": ["long", "short", "long"], "notional": [1.2e6, 3e4, 5e5]})
        live.call("liquidations", liq)
        got = live.check()
        assert [m[1:4] for m in got["markers"]] == [
            ["belowBar", SIDE_COLORS["long"], "L 1.2M"],
            ["aboveBar", SIDE_COLORS["short"], "S 30K"]]  # the third waits for its bar
        live.call("bar", t10 + 2 * hour, 100.6, 101.0, 100.1, 100.3)
        assert len(live.check()["markers"]) == 3
        # profiles: an all-zero density draws nothing, a real one draws its rows, None removes
        zeros = pd.DataFrame({"price_low": [99.0, 100.0], "price_high": [100.0, 101.0],
                              "long": [0, 0], "short": [0, 0]})
        live.call("density", zeros)
        assert live.check()["profiles"] == [{"slot": "density", "label": "live lines by price",
                                             "bars": 0}]
        live.call("density", zeros.assign(long=[3, 0], short=[0, 2]))
        assert live.check()["profiles"][0]["bars"] == 2
        live.call("density", None)
        assert live.check()["profiles"] == []
        live.call("status", "okx <b>feed</b> 12 trades/s")
        got = live.check()
        assert "okx <b>feed</b> 12 trades/s" in got["status"] and "live" in got["status"]
        assert live.page.locator("b").count() == 0  # text, never markup
        assert all(u.startswith(live.url) or u.startswith("ws://") for u in live.requests)
    finally:
        live.close()


@pytest.mark.browser
def test_calls_from_another_thread_reach_the_page(loop, browser):
    c = make_candles(30)
    live = Live(loop, browser, charts.Scene(c))
    try:
        hour = pd.Timedelta(hours=1)
        for k in range(1, 40):  # straight from the test's thread, not the loop's
            live.live.bar(c.index[-1] + k * hour, 100.0, 105.0, 99.0, 100.0 + k / 10)
        assert len(live.check()["times"]) == 69
    finally:
        live.close()


def _stream_page(loop, browser, n_first=200, **kw):
    candles = sample_candles(n=400, timeframe="1m", seed=21)
    stream = indicator.LevelStream(ma_length=20)
    for t, row in candles.iloc[:n_first].iterrows():
        stream.update(t, **row[FIELDS].to_dict())
    live = Live(loop, browser, scene_of(candles.iloc[:n_first], stream, symbol="BTC/USDT:USDT"),
                **kw)
    return candles, stream, live


def _feed(live, candles, stream, rows, step=None):
    for i in rows:
        t, row = candles.index[i], candles.iloc[i]
        early = forming(row, candles["open_interest"].iloc[i - 1])
        final = row[FIELDS].to_dict()

        async def both(t=t, early=early, final=final):
            send(live.live, stream, t, early)
            send(live.live, stream, t, final)
        run(live.loop, both())
        if step:
            step(i)


@pytest.mark.browser
def test_a_page_far_behind_gets_a_snapshot_instead_of_the_backlog(loop, browser, monkeypatch):
    from liqlevels.charts import _live

    monkeypatch.setattr(_live, "_MAX_PENDING", 5)
    c = make_candles(30)
    live = Live(loop, browser, charts.Scene(c))
    try:
        hour = pd.Timedelta(hours=1)

        async def burst():  # all queued before the sender runs once
            for k in range(1, 21):
                live.live.bar(c.index[-1] + k * hour, 100.0, 105.0, 99.0, 100.0 + k / 10)
        run(loop, burst())
        live.wait("liqlevelsLive.snapshots >= 2")
        got = live.check()
        assert len(got["times"]) == 50 and live.page.evaluate("liqlevelsLive.seq") == live.live.seq
    finally:
        live.close()


@pytest.mark.browser
def test_a_page_reloaded_mid_stream_shows_the_same_state(loop, browser):
    candles, stream, live = _stream_page(loop, browser)
    try:
        _feed(live, candles, stream, range(200, 260))
        before = live.check()
        live.page.reload()
        live.wait("liqlevelsLive.snapshots > 0 && liqlevelsLive.connected")
        after = live.check()
        assert after["times"] == before["times"] and len(after["lines"]) == len(before["lines"])
        _feed(live, candles, stream, range(260, 280))
        live.check()
    finally:
        live.close()


@pytest.mark.browser
def test_a_dropped_socket_shows_disconnected_then_the_page_is_whole_again(loop, browser):
    candles, stream, live = _stream_page(loop, browser)
    try:
        _feed(live, candles, stream, range(200, 220))
        live.check()
        # the server goes away: the page says so, and keeps trying
        run(loop, live.live.stop())
        live.wait("!liqlevelsLive.connected")
        banner = live.page.locator(".ll-banner")
        assert banner.is_visible() and "disconnected" in banner.text_content()
        _feed(live, candles, stream, range(220, 240))  # the state moves on meanwhile
        run(loop, live.live.start())
        live.wait("liqlevelsLive.connected && liqlevelsLive.snapshots >= 2")
        assert not banner.is_visible()
        # Chromium logs each refused retry; nothing else may have gone wrong
        assert all("ERR_CONNECTION_REFUSED" in e for e in live.errors), live.errors
        live.errors.clear()
        got = live.check()
        assert len(got["times"]) == 240
        assert "reconnects 1" in got["status"]
        # the page drops its own socket: it reconnects and is whole again
        live.page.evaluate("() => liqlevelsLive.close()")
        live.wait("liqlevelsLive.reconnects === 2 && liqlevelsLive.connected")
        _feed(live, candles, stream, range(240, 250))
        assert len(live.check()["times"]) == 250
    finally:
        live.close()


@pytest.mark.browser
def test_other_sites_cannot_read_the_socket(loop, browser):
    c = make_candles(5)
    live = Live(loop, browser, charts.Scene(c))

    async def probe(origin):
        async with aiohttp.ClientSession() as session:
            try:
                async with session.ws_connect(live.url + "ws", headers={"Origin": origin}) as ws:
                    return await ws.receive_str(timeout=5)
            except aiohttp.WSServerHandshakeError as exc:
                return exc.status

    async def rebound():  # another site's name resolved to 127.0.0.1
        port = live.live.port
        async with aiohttp.ClientSession() as session:
            url = live.url
            headers = {"Host": f"evil.example:{port}"}
            async with session.get(url, headers=headers) as page:
                status = page.status
            try:
                async with session.ws_connect(url + "ws", headers={
                        **headers, "Origin": f"http://evil.example:{port}"}):
                    return status, 101
            except aiohttp.WSServerHandshakeError as exc:
                return status, exc.status

    try:
        assert run(loop, probe("http://evil.example")) == 403
        assert run(loop, rebound()) == (421, 403)
        text = run(loop, probe(live.url.rstrip("/")))
        assert text.startswith('[{"t":"snap"') and '": ' not in text  # compact JSON
        assert json.loads(text)[0]["scene"]["candles"]["n"] == 5
        csp = live.page.locator("meta[http-equiv=Content-Security-Policy]").get_attribute(
            "content")
        assert "default-src 'none'" in csp and "connect-src 'self'" in csp
    finally:
        live.close()


@pytest.mark.browser
def test_screenshot_shows_lines_profiles_markers_and_status(loop, browser, tmp_path):
    candles, stream, live = _stream_page(loop, browser, n_first=240, size=(1400, 800))
    try:
        _feed(live, candles, stream, range(240, 330))
        levels_map = trade_map(candles.iloc[:330])
        live.call("trade_map", levels_map)
        last = candles.index[329]
        minute = pd.Timedelta(minutes=1)
        live.call("liquidations", pd.DataFrame({
            "time": [last - 9 * minute, last - 6 * minute, last - 3 * minute, last],
            "side": ["long", "short", "long", "short"],
            "notional": [2.4e6, 4.1e5, 8.5e4, 1.3e6]}))
        live.call("status", "okx BTC/USDT:USDT 1m \u00b7 feed lag 180 ms")
        got = live.check()
        assert len(got["markers"]) == 4 and [p["slot"] for p in got["profiles"]] == [
            "density", "map"]
        png = tmp_path / "live.png"
        live.page.wait_for_timeout(300)
        live.page.screenshot(path=str(png))
        if os.environ.get("LIQLEVELS_DOCS_PNG"):  # refresh the README's picture on purpose
            shutil.copyfile(png, DOCS_PNG)
        long_rgb = tuple(int(SIDE_COLORS["long"][i:i + 2], 16) for i in (1, 3, 5))
        short_rgb = tuple(int(SIDE_COLORS["short"][i:i + 2], 16) for i in (1, 3, 5))
        lev_rgb = [tuple(int(col[i:i + 2], 16) for i in (1, 3, 5))
                   for col in (charts.LEVERAGE_COLORS[25], charts.LEVERAGE_COLORS[100])]
        seen = pixels(browser, png.read_bytes(), [long_rgb, short_rgb, *lev_rgb], tol=8)
        assert all(h["count"] > 20 for h in seen["hits"]), seen["hits"]
        assert seen["distinct"] > 200
    finally:
        live.close()
