"""The live page of a big history: every bar packed in the snapshot, drawn aggregated.

A :class:`charts.LivePage` started from a Scene that packs its candles (``AGGREGATE_FROM`` bars
on) sends them packed (``charts._data.packed_candles``) and the page draws them through
``pyramid.js`` (buckets of candles at the screen's resolution, refined on zoom). Live bars update
the last bucket of every level built so far. Each check here is against a pandas resample of the
same bars (first / max / min / last, epoch origin, weeks from Monday 1970-01-05, left labels),
written from the spec, never against the page's own arithmetic.
"""

from __future__ import annotations

import base64
import math

import numpy as np
import pandas as pd
import pytest
from test_live_page import Live, browser, loop, run  # noqa: F401  (fixtures)

from liqlevels import charts, indicator
from liqlevels.charts._data import AGGREGATE_FROM
from liqlevels.feeds import sample_candles

OHLC = ["open", "high", "low", "close"]
WEEK = 604800

# ------------------------------------------------------------------ plain decoders


def decode_packed(c: dict) -> tuple[np.ndarray, np.ndarray, int]:
    """A packed candles payload: bar times (epoch s), prices as sent (whole ``10**-dec``),
    and ``dec``, written from packed_candles' docstring."""
    def raw(key, dtype):
        return np.frombuffer(base64.b64decode(c[key]), dtype=dtype)

    if "t" in c:
        times = raw("t", "<f8").astype(np.int64)
    else:
        times, at = [c["t0"]], c["t0"]
        runs = raw("dt", "<i4").tolist()
        for count, gap in zip(runs[::2], runs[1::2], strict=True):
            for _ in range(count):
                at += gap
                times.append(at)
        times = np.asarray(times[:c["n"]], dtype=np.int64)
    ints = np.column_stack([raw(k, "<i4") for k in "ohlc"]).astype(np.int64)
    return times, ints, c["dec"]


def secs(index: pd.DatetimeIndex) -> np.ndarray:
    """Epoch seconds of a tz-aware index, whatever its unit."""
    return index.as_unit("ns").asi8 // 10**9


def whole(values: np.ndarray, dec: int) -> np.ndarray:
    """Prices in whole ``10**-dec``, as the snapshot must send them."""
    return np.rint(np.asarray(values, dtype=np.float64) * 10.0**dec).astype(np.int64)


def next_bars(candles: pd.DataFrame, count: int, seed: int) -> pd.DataFrame:
    """``count`` more one-minute bars after ``candles``, a random walk from its last close."""
    rng = np.random.default_rng(seed)
    t = candles.index[-1] + pd.Timedelta(minutes=1) * np.arange(1, count + 1)
    close = candles["close"].iloc[-1] * np.exp(np.cumsum(rng.normal(0, 0.002, count)))
    open_ = np.r_[candles["close"].iloc[-1], close[:-1]]
    spread = np.abs(rng.normal(0, 0.001, count)) * close
    return pd.DataFrame({"open": open_, "high": np.maximum(open_, close) + spread,
                         "low": np.minimum(open_, close) - spread, "close": close}, index=t)


# ------------------------------------------------------------------ Python side


def test_a_small_scene_keeps_the_json_snapshot_and_aggregate_false_forces_it():
    small = sample_candles(n=300, timeframe="1m", seed=2)
    assert "packed" not in charts.LivePage(charts.Scene(small)).snapshot()["scene"]["candles"]
    big = sample_candles(n=AGGREGATE_FROM, timeframe="1m", seed=2)
    assert charts.LivePage(charts.Scene(big)).snapshot()["scene"]["candles"]["packed"] is True
    json_page = charts.LivePage(charts.Scene(big, aggregate=False))
    c = json_page.snapshot()["scene"]["candles"]
    assert "packed" not in c and c["n"] == AGGREGATE_FROM and len(c["o"]) == AGGREGATE_FROM
    assert "root.LiqPyramid = {" not in json_page._html  # pyramid.js only on a packed page
    assert "root.LiqPyramid = {" in charts.LivePage(charts.Scene(big))._html


@pytest.mark.parametrize("max_bars", [None, 60_000])
def test_the_packed_snapshot_decodes_to_exactly_the_bars_held(max_bars):
    candles = sample_candles(n=AGGREGATE_FROM + 5_000, timeframe="1m", seed=7)
    live = charts.LivePage(charts.Scene(candles), max_bars=max_bars)
    # what the page must hold, kept here by the spec: bar times and o, h, l, c rows
    held_t, held = secs(candles.index).tolist(), candles[OHLC].to_numpy().tolist()
    more = next_bars(candles, 12_000, seed=8)
    trims = 0

    def check() -> None:
        snap = live.snapshot()["scene"]["candles"]
        times, ints, dec = decode_packed(snap)
        assert snap["packed"] is True and snap["n"] == len(held_t) == len(held)
        np.testing.assert_array_equal(times, held_t)
        rows = np.asarray(held)
        np.testing.assert_array_equal(ints, whole(rows, dec))
        assert dec == 9 - 1 - math.floor(math.log10(np.abs(rows[:, 1:3]).max()))

    for k, (t, row) in enumerate(zip(more.index, more[OHLC].to_numpy().tolist(), strict=True)):
        if k % 3 == 0:  # a forming version first, then the bar itself replaces it
            o, c = row[0], (row[0] + row[3]) / 2
            live.bar(t, o, max(o, c), min(o, c), c)
        live.bar(t, *row)
        held_t.append(int(t.as_unit("ns").value // 10**9))
        held.append(row)
        if max_bars is not None and len(held) > max_bars + max_bars // 10:
            del held_t[:-max_bars], held[:-max_bars]
            trims += 1
        if k in (0, 7_001) or k == len(more) - 1:
            check()
    o, c = held[-1][0], held[-1][3]  # the last bar re-sent with a lower high: replaced
    held[-1] = [o, max(o, c), held[-1][2], c]
    live.bar(more.index[-1], *held[-1])
    check()
    assert trims == (0 if max_bars is None else 1)


def test_a_packed_scene_gives_the_live_page_the_lines_its_json_scene_gives():
    candles = sample_candles(n=AGGREGATE_FROM + 1_000, timeframe="1m", seed=4)
    levels = indicator.oi_levels(candles)
    for max_lines in (500, 40):
        packed = charts.Scene(candles, levels, max_lines=max_lines)
        plain = charts.Scene(candles, levels, max_lines=max_lines, aggregate=False)
        got = charts.LivePage(packed).snapshot()["scene"]
        want = charts.LivePage(plain).snapshot()["scene"]
        for key in ("s", "e", "k", "lv", "id", "styles", "leverages", "total", "drawn"):
            assert got["lines"][key] == want["lines"][key], key
        np.testing.assert_allclose(got["lines"]["p"], want["lines"]["p"], rtol=1e-12)
        assert got["lines"]["drawn"] == max_lines < got["lines"]["total"]
        _, ints, dec = decode_packed(got["candles"])
        np.testing.assert_allclose(ints / 10.0**dec, np.column_stack(
            [want["candles"][k] for k in "ohlc"]), rtol=1e-12)


# ------------------------------------------------------------------ the page in Chromium

BIG = 200_000


def resample(bars: pd.DataFrame, seconds: int) -> pd.DataFrame:
    """pandas' buckets of ``seconds`` (0: the bars), as the page's levels must be."""
    if seconds == 0:
        return bars[OHLC]
    origin = pd.Timestamp("1970-01-05", tz="UTC") if seconds == WEEK else "epoch"
    out = bars[OHLC].resample(f"{seconds}s", origin=origin, label="left", closed="left").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last"})
    return out.dropna()


def as_frame(times, ohlc) -> pd.DataFrame:
    return pd.DataFrame(np.asarray(ohlc, dtype=np.float64).reshape(-1, 4), columns=OHLC,
                        index=pd.to_datetime(np.asarray(times, dtype=np.int64), unit="s",
                                             utc=True))


def assert_same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert len(got) == len(want) > 0
    np.testing.assert_array_equal(secs(got.index), secs(want.index))
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=1e-8)


LEVELS_JS = """(tail) => {
  var big = window.__liqlevels.handle.big, py = big.pyramid, out = [];
  for (var k = 0; k < py.ladder.length; k++) {
    var L = py.level(k), a = Math.max(0, L.m - tail), rows = [];
    for (var j = a; j < L.m; j++) rows.push([L.o[j], L.h[j], L.l[j], L.c[j]]);
    out.push({f: py.ladder[k], m: L.m, t: Array.from(L.t.subarray(a, L.m)), ohlc: rows,
              same: !!(window.__levels && window.__levels[k] === L)});
  }
  return out;
}"""

SHOWN_JS = """() => {
  var big = window.__liqlevels.handle.big, data = big.series.data();
  return {state: big.state(), times: data.map(function (x) { return x.time; }),
          ohlc: data.map(function (x) { return [x.open, x.high, x.low, x.close]; }),
          range: big.chart.timeScale().getVisibleLogicalRange(),
          page: liqlevelsLive.candles, last: liqlevelsLive.last};
}"""


def assert_levels(levels: list[dict], bars: pd.DataFrame, tail: int, *, kept: bool) -> None:
    """Every level's count and its last ``tail`` buckets against the resample of ``bars``."""
    assert [x["f"] for x in levels][:3] == [0, 180, 300] and levels[-1]["f"] == WEEK
    for x in levels:
        want = resample(bars, x["f"])
        assert x["m"] == len(want), x["f"]
        assert_same(as_frame(x["t"], x["ohlc"]), want.iloc[-len(x["t"]):])
        assert x["same"] == kept, x["f"]  # followed in place, never rebuilt


def assert_shown(shown: dict, bars: pd.DataFrame) -> None:
    """The buckets the series holds: the resample of the bars at the view's level."""
    want = resample(bars, shown["state"]["seconds"])
    got = as_frame(shown["times"], shown["ohlc"])
    assert_same(got, want.loc[got.index[0]:got.index[-1]])
    assert got.index[-1] == want.index[-1]  # following the latest bar: its bucket is drawn
    assert shown["page"] == len(bars)


@pytest.mark.browser
def test_a_big_live_page_draws_aggregated_and_follows_live_bars(loop, browser):  # noqa: F811
    candles = sample_candles(n=BIG, timeframe="1m", seed=3)
    more = next_bars(candles, 400, seed=5)
    bars = candles[OHLC].copy()
    scene = charts.Scene(candles, indicator.oi_levels(candles), visible_bars=None)
    live = Live(loop, browser, scene, size=(1200, 700))
    try:
        live.page.wait_for_function("() => window.__liqlevels && window.__liqlevels.ready")
        shown = live.page.evaluate(SHOWN_JS)
        assert shown["state"]["candles"] == BIG and shown["state"]["seconds"] >= 3600
        assert_shown(shown, bars)  # the whole history at the level the screen needs
        live.page.evaluate("() => { var py = __liqlevels.handle.big.pyramid; window.__levels ="
                           " py.ladder.map(function (f, k) { return py.level(k); }); }")
        assert_levels(live.page.evaluate(LEVELS_JS, 3), bars, 3, kept=True)

        # new bars, each first forming (a lower close), then replaced by itself
        for k, (t, row) in enumerate(more.iterrows()):
            async def both(t=t, row=row, k=k):
                if k % 2 == 0:
                    o, c = row["open"], (row["open"] + row["close"]) / 2
                    live.live.bar(t, o, max(o, c), min(o, c), c)
                live.live.bar(t, *row[OHLC])
            run(loop, both())
            bars.loc[t] = row[OHLC].to_numpy()
            if k in (0, 1, 57, 199):
                run(loop, live.live.applied(timeout=15))
                assert_levels(live.page.evaluate(LEVELS_JS, 3), bars, 3, kept=True)
        t = bars.index[-1]  # the forming bar re-sent with a lower high and a higher low
        o, c = bars["open"].iloc[-1], bars["close"].iloc[-1]
        lowered = [o, max(o, c), min(o, c), c]
        run(loop, _bar(live, t, lowered))
        bars.iloc[-1] = lowered
        run(loop, live.live.applied(timeout=15))
        assert_levels(live.page.evaluate(LEVELS_JS, 5), bars, 5, kept=True)
        shown = live.page.evaluate(SHOWN_JS)
        assert_shown(shown, bars)  # the series holds the last bucket, updated
        assert shown["last"]["close"] == pytest.approx(c)
        assert shown["last"]["time"] == secs(bars.index)[-1]

        # zoom in: the last ~40 hours refine to a finer level, again a resample
        coarse = shown["state"]["seconds"]
        live.page.evaluate("""() => {
            var big = __liqlevels.handle.big, L = big.current();
            var to = L.pos(big.axis.n - 1) - big.a + 2, from = to - 2400 * 60 / L.f;
            big.chart.timeScale().setVisibleLogicalRange({from: from, to: to}); }""")
        live.wait(f"__liqlevels.handle.big.state().seconds < {coarse}")
        zoomed = live.page.evaluate(SHOWN_JS)
        assert 0 < zoomed["state"]["seconds"] < coarse
        assert_shown(zoomed, bars)
        for t, row in next_bars(bars, 7, seed=6).iterrows():  # followed at the zoomed level
            run(loop, _bar(live, t, row[OHLC].tolist()))
            bars.loc[t] = row[OHLC].to_numpy()
        run(loop, live.live.applied(timeout=15))
        zoomed = live.page.evaluate(SHOWN_JS)
        assert_shown(zoomed, bars)
        assert zoomed["times"][-1] == secs(resample(bars, zoomed["state"]["seconds"]).index)[-1]
        assert live.errors == []

        # a reload: the snapshot holds every bar again, the same as the incremental state
        before = live.page.evaluate(LEVELS_JS, 2000)
        live.page.reload()
        live.wait("liqlevelsLive.snapshots > 0 && liqlevelsLive.connected")
        live.page.wait_for_function("() => window.__liqlevels && window.__liqlevels.ready")
        after = live.page.evaluate(LEVELS_JS, 2000)
        assert [x["m"] for x in after] == [x["m"] for x in before]
        for a, b in zip(after, before, strict=True):
            assert a["t"] == b["t"]
            np.testing.assert_allclose(a["ohlc"], b["ohlc"], rtol=1e-8)
        assert_levels(after, bars, 2000, kept=False)
        assert live.errors == []
    finally:
        live.close()


async def _bar(live, t, ohlc):
    live.live.bar(t, *ohlc)


@pytest.mark.browser
def test_max_bars_trims_a_big_page_to_a_packed_snapshot_of_the_newest(loop, browser):  # noqa: F811
    candles = sample_candles(n=60_000, timeframe="1m", seed=12)
    more = next_bars(candles, 501, seed=13)
    live = Live(loop, browser, charts.Scene(candles, visible_bars=None), max_bars=55_000)
    try:
        live.page.wait_for_function("() => window.__liqlevels && window.__liqlevels.ready")
        live.page.evaluate("() => { var py = __liqlevels.handle.big.pyramid; window.__levels ="
                           " py.ladder.map(function (f, k) { return py.level(k); }); }")

        async def feed():
            for t, row in more.iterrows():
                live.live.bar(t, *row[OHLC])
        run(loop, feed())
        run(loop, live.live.applied(timeout=15))
        live.wait("liqlevelsLive.snapshots >= 2")  # the trim re-based the page
        bars = pd.concat([candles[OHLC], more]).iloc[-55_000:]
        assert live.page.evaluate("liqlevelsLive.candles") == 55_000
        assert_levels(live.page.evaluate(LEVELS_JS, 50), bars, 50, kept=False)
        assert_shown(live.page.evaluate(SHOWN_JS), bars)
        assert live.errors == []
    finally:
        live.close()


@pytest.mark.browser
def test_a_packed_page_draws_heat_columns_as_they_come(loop, browser):  # noqa: F811
    """``liqlevels live --heatmap`` on a big history: columns reach the aggregated chart (one
    heat item per bucket, on the buckets' own times) and a reload gives the same."""
    from test_live_heat import _assert_page_heat, send_heat_bars
    from test_live_state import _versions

    from liqlevels._app import chart_bin_size
    from liqlevels._live_state import LiveState as LoopState

    candles = sample_candles(1_500, timeframe="1m", seed=21, burst_rate=0.08)
    state = LoopState(indicator.OIOptions(ma_length=20), heatmap=True, weight="notional")
    state.warm_up(candles.iloc[:1_440])
    state.heat_bin = chart_bin_size(candles.iloc[:1_440])
    scene = charts.Scene(state.candles(), state.levels(), symbol="TEST", heatmap=state.heatmap(),
                         aggregate=True, visible_bars=None)  # packed, as a big history is
    live = Live(loop, browser, scene)
    try:
        live.page.wait_for_function("() => window.__liqlevels && window.__liqlevels.ready")
        level = live.page.evaluate("__liqlevels.handle.big.state().seconds")
        assert level > 0  # 1,440 bars on 1,200 px: buckets
        send_heat_bars(loop, live.live, state, _versions(candles.iloc[1_440:], 3))
        got = live.state()
        _assert_page_heat(got["heat"], live.live.snapshot()["scene"]["heatmap"])
        items, shown = got["heat"]["items"], got["times"]  # heat items; the buckets drawn
        assert {t for t, _ in items} <= set(shown)  # on the buckets' times, none of its own
        assert items[-1] == [shown[-1], len(got["heat"]["columns"]) - 1]  # the newest drawn
        assert len(shown) == live.page.evaluate("__liqlevels.handle.big.current().m")
        live.page.reload()
        live.wait("liqlevelsLive.snapshots > 0 && liqlevelsLive.heatColumns > 0")
        _assert_page_heat(live.state()["heat"], live.live.snapshot()["scene"]["heatmap"])
        assert live.state()["heat"]["items"] == items
        assert live.errors == []
    finally:
        live.close()
