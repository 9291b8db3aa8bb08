"""Big charts: candles sent packed and drawn at the resolution the screen shows.

The page's buckets are checked against a pandas resample of the same candles (gaps, partial
first and last buckets), zooming in against the candles themselves, and the lines, the OI
panes and the heatmap against the times they belong to.
"""

from __future__ import annotations

import base64

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_charts import Loaded, fan, make_candles, make_levels, signals
from test_charts import browser as browser  # the module-scoped Chromium fixture
from test_heatmap_chart import bands

from liqlevels import charts
from liqlevels.charts import _data
from liqlevels.charts import _palette as pal

WEEK_ORIGIN = pd.Timestamp("1970-01-05", tz="UTC")  # a Monday: weeks start on Monday


def gappy_candles(n: int = 60_000, *, seed: int = 5, freq_s: int = 60) -> pd.DataFrame:
    """Bars every ``freq_s`` seconds from an odd minute (the first buckets are partial), with
    15% of them missing at random, a gap of hours, open interest with holes."""
    rng = np.random.default_rng(seed)
    steps = np.arange(int(n * 1.25))
    keep = rng.random(steps.size) > 0.15
    keep[5000:5400] = False
    steps = steps[keep][:n]
    start = pd.Timestamp("2025-03-03 00:07", tz="UTC")
    index = pd.DatetimeIndex(start + pd.to_timedelta(steps * freq_s, "s")).as_unit("ns")
    close = 100.0 + np.cumsum(rng.normal(0.0, 0.05, n))
    open_ = np.r_[close[:1], close[:-1]]
    oi = 1000.0 + np.cumsum(rng.normal(0.0, 1.0, n))
    oi[rng.random(n) < 0.01] = np.nan
    return pd.DataFrame({
        "open": open_, "high": np.maximum(open_, close) + rng.random(n) * 0.1,
        "low": np.minimum(open_, close) - rng.random(n) * 0.1, "close": close,
        "volume": 1.0, "open_interest": oi,
    }, index=index.rename("time"))


def resample(candles: pd.DataFrame, seconds: int) -> pd.DataFrame:
    """The buckets a chart must show: pandas' resample, left-labelled from the epoch (weeks
    from a Monday), empty buckets dropped."""
    origin = WEEK_ORIGIN if seconds == 604_800 else "epoch"
    r = candles.resample(f"{seconds}s", origin=origin, label="left", closed="left")
    return r.agg({"open": "first", "high": "max", "low": "min", "close": "last"}).dropna()


def epoch_s(index: pd.DatetimeIndex) -> np.ndarray:
    return index.as_unit("ns").asi8 // 1_000_000_000


def quantum(candles: pd.DataFrame) -> float:
    """Half the packing's step: prices travel with 9 significant digits of the largest."""
    top = float(np.abs(candles[["high", "low"]].to_numpy()).max())
    return 0.5 * 10.0 ** -(8 - np.floor(np.log10(top)))


def assert_bars_equal(got: dict, want: pd.DataFrame, tol: float) -> None:
    assert got["t"] == epoch_s(want.index).tolist()
    for key, col in (("o", "open"), ("h", "high"), ("l", "low"), ("c", "close")):
        np.testing.assert_allclose(got[key], want[col].to_numpy(), rtol=0, atol=tol, err_msg=col)


SERIES_BARS = """() => {
  const d = __liqlevels.series.data();
  return {t: d.map(x => x.time), o: d.map(x => x.open), h: d.map(x => x.high),
          l: d.map(x => x.low), c: d.map(x => x.close)};
}"""

LEVELS = """(first) => {
  const py = __liqlevels.handle.big.pyramid;
  return py.ladder.map((f, k) => {
    if (k < first) return {f: f};
    const L = py.level(k);
    return {f: f, t: Array.from(L.t), o: Array.from(L.o), h: Array.from(L.h),
            l: Array.from(L.l), c: Array.from(L.c)};
  });
}"""

# The chart applies a new range on its next frame; the view follows on the frame after.
FRAMES = """() => { window.frames_ = async (n) => {
  for (let i = 0; i < n; i++) await new Promise(r => requestAnimationFrame(r));
}; }"""

ZOOM = """async ([from, to]) => {
  const big = __liqlevels.handle.big;
  __liqlevels.chart.timeScale().setVisibleLogicalRange({from: from, to: to});
  await frames_(4);
  return big.state();
}"""


def load(browser, scene, path, size=(1200, 700)) -> Loaded:
    page = Loaded(browser, scene, path, size=size)
    assert page.errors == [] and page.state["error"] is None, (page.errors, page.state)
    page.page.evaluate(FRAMES)
    return page


def first_view(page: Loaded) -> tuple[list, list, dict]:
    """Every level of the page's pyramid, the bars its series shows and the view's state,
    read once the page is drawn; the page is closed after."""
    try:
        return (page.page.evaluate(LEVELS, 1), page.page.evaluate(SERIES_BARS),
                page.page.evaluate("() => __liqlevels.handle.big.state()"))
    finally:
        page.close()


# ============================================================ Python: the packed payload


def test_aggregate_is_automatic_from_50000_candles_and_checked():
    small = charts.Scene(make_candles(100))
    assert "packed" not in small._page["candles"]
    assert charts.Scene(make_candles(100), aggregate=True)._page["candles"]["packed"]
    big = gappy_candles(_data.AGGREGATE_FROM)
    assert charts.Scene(big)._page["candles"]["packed"]
    assert "packed" not in charts.Scene(big, aggregate=False)._page["candles"]
    with pytest.raises(TypeError, match="aggregate='yes' must be True, False or None"):
        charts.Scene(make_candles(10), aggregate="yes")


def _unpack(b64: str, dtype: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(b64), dtype=dtype)


def test_packed_candles_are_the_json_candles():
    c = gappy_candles(3000)
    packed = charts.Scene(c, aggregate=True)._page["candles"]
    legacy = charts.Scene(c, aggregate=False)._page["candles"]
    runs = _unpack(packed["dt"], "<i4").reshape(-1, 2)
    assert (np.diff(runs[:, 1]) != 0).all()  # runs of equal gaps, each as long as it goes
    t = packed["t0"] + np.r_[0, np.cumsum(np.repeat(runs[:, 1], runs[:, 0]))]
    assert t.tolist() == (legacy["t0"] + np.r_[0, np.cumsum(legacy["dt"])]).tolist()
    for key in "ohlc":
        got = _unpack(packed[key], "<i4") / 10.0 ** packed["dec"]
        np.testing.assert_allclose(got, legacy[key], rtol=0, atol=quantum(c))
    assert packed["n"] == legacy["n"] and packed["format"] == legacy["format"]


def test_the_live_page_still_gets_json_columns_from_a_big_scene():
    c = gappy_candles(2000)
    lv = fan(c, every=50)
    assert (charts.Scene(c, lv, oi=signals(c), aggregate=True)._scene
            == charts.Scene(c, lv, oi=signals(c), aggregate=False)._scene)


def _styles_loop(leverage, tier, short):
    """The per-row reference: styles numbered by first appearance."""
    table: dict = {}
    idx = [table.setdefault((lev, t, sh), len(table))
           for lev, t, sh in zip(leverage, tier, short, strict=True)]
    styles = [{"color": pal.leverage_color(lev), "width": pal.tier_width(t), "dash": bool(sh)}
              for lev, t, sh in table]
    return idx, styles


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([2, 5, 10, 25, 50, 100, 125]),
                          st.integers(1, 3), st.booleans()), max_size=80))
def test_styles_are_numbered_by_first_appearance_as_a_plain_loop(rows):
    lev = np.array([r[0] for r in rows], np.int64)
    tier = np.array([r[1] for r in rows], np.int64)
    short = np.array([r[2] for r in rows], bool)
    idx, styles = _data._styles(lev, tier, short)
    want_idx, want_styles = _styles_loop(lev.tolist(), tier.tolist(), short.tolist())
    assert idx.tolist() == want_idx and styles == want_styles


@pytest.mark.parametrize("max_lines", [None, 30, 500])
def test_packed_lines_are_the_json_lines_in_one_table(max_lines):
    c = make_candles(400)
    lv = fan(c, every=7)
    index_ns = _data.epoch_ns(c.index)
    legacy = _data.level_payload(lv, index_ns, max_lines)
    packed = _data.packed_lines(lv, index_ns, max_lines)
    parts = [p for p in (legacy.get("more"), legacy) if p is not None]

    def rows(part):
        return [(s, e, p, lv_, tuple(sorted(part["styles"][k].items())))
                for s, e, p, k, lv_ in zip(part["s"], part["e"], part["p"], part["k"],
                                           part["lv"], strict=True)]

    want = [r for part in parts for r in rows(part)]
    got_cols = {k: _unpack(packed[k], d).tolist()
                for k, d in (("s", "<i4"), ("e", "<i4"), ("k", "u1"), ("lv", "u1"))}
    price = _unpack(packed["p"], "<f8")
    got = [(s, e, p, lv_, tuple(sorted(packed["styles"][k].items())))
           for s, e, p, k, lv_ in zip(got_cols["s"], got_cols["e"], price, got_cols["k"],
                                      got_cols["lv"], strict=True)]
    assert len(got) == len(want) == packed["n"]
    for g, w in zip(got, want, strict=True):
        assert g[:2] == w[:2] and g[3:] == w[3:]
        assert g[2] == pytest.approx(w[2], rel=1e-8)
    assert {k: packed[k] for k in ("max", "leverages", "total", "drawn")} == \
        {k: legacy[k] for k in ("max", "leverages", "total", "drawn")}


# ============================================================ in Chromium


@pytest.mark.browser
def test_every_level_equals_a_pandas_resample(browser, tmp_path):
    c = gappy_candles()
    page = load(browser, charts.Scene(c, visible_bars=None), tmp_path / "big.html")
    levels, shown, state = first_view(page)
    tol = quantum(c)
    assert [lv["f"] for lv in levels] == [0, 180, 300, 900, 1800, 3600, 7200, 14400, 21600,
                                          43200, 86400, 259200, 604800]
    for lv in levels[1:]:
        assert_bars_equal(lv, resample(c, lv["f"]), tol)
    # the first view shows every candle, aggregated to at most a bar per pixel
    assert state["seconds"] > 0 and state["from"] == 0 and state["to"] == state["buckets"]
    assert state["buckets"] <= 1200
    assert_bars_equal(shown, resample(c, state["seconds"]), tol)


@pytest.mark.browser
def test_zooming_in_refines_to_the_candles_and_out_again(browser, tmp_path):
    c = gappy_candles()
    secs = epoch_s(c.index)
    page = load(browser, charts.Scene(c, visible_bars=None), tmp_path / "big.html")
    try:
        coarse = page.page.evaluate("() => __liqlevels.handle.big.state()")
        bucket = coarse["seconds"]
        fine = page.page.evaluate(ZOOM, [200, 203])
        shown = page.page.evaluate(SERIES_BARS)
        seen = page.page.evaluate("() => __liqlevels.chart.timeScale().getVisibleRange()")
        price_line = page.page.evaluate(
            "() => [__liqlevels.handle.big.priceLine.options().price,"
            " __liqlevels.series.options().priceLineVisible]")
        out = page.page.evaluate(ZOOM, [0, fine["to"] - fine["from"] - 1])
    finally:
        page.close()
    coarse_t = epoch_s(resample(c, bucket).index)
    assert fine["seconds"] == 0 and fine["to"] - fine["from"] == 20_000
    a, z = fine["from"], fine["to"]
    assert_bars_equal(shown, c.iloc[a:z], quantum(c))
    # the same stretch of time before and after: buckets 200 to 203 of the coarse view
    assert coarse_t[200] <= seen["from"] < coarse_t[201]
    assert coarse_t[203] <= seen["to"] < coarse_t[204]
    assert secs[a] < seen["from"] and seen["to"] < secs[z - 1]
    # the slice ends before the last candle; the price line is still the last close
    assert z < len(c) and price_line[0] == pytest.approx(c["close"].iloc[-1], abs=quantum(c))
    assert price_line[1] is False
    assert out["seconds"] > 0


@pytest.mark.browser
def test_scrolling_to_a_slice_edge_loads_the_next_slice_in_place(browser, tmp_path):
    c = gappy_candles()
    page = load(browser, charts.Scene(c, visible_bars=None), tmp_path / "big.html")
    try:
        first = page.page.evaluate(ZOOM, [200, 203])
        before = page.page.evaluate("""async () => {
          const big = __liqlevels.handle.big, ts = __liqlevels.chart.timeScale();
          big.busy = true;  /* hold the view still to read the range asked for */
          ts.setVisibleLogicalRange({from: 10, to: 600});
          await frames_(2);
          const seen = ts.getVisibleRange();
          big.busy = false;
          return seen;
        }""")
        moved = page.page.evaluate("() => __liqlevels.handle.big.check()")
        after = page.page.evaluate("""async () => {
          await frames_(3);
          return [__liqlevels.handle.big.state(),
                  __liqlevels.chart.timeScale().getVisibleRange()];
        }""")
        shown = page.page.evaluate(SERIES_BARS)
    finally:
        page.close()
    state, seen = after
    assert moved and state["seconds"] == 0 and state["from"] < first["from"]
    assert seen == before
    assert_bars_equal(shown, c.iloc[state["from"]:state["to"]], quantum(c))


LINE_XS = """() => {
  const h = __liqlevels.handle, ts = __liqlevels.chart.timeScale();
  const st = h.lines.state();
  return {drawn: st.drawn, xs: h.lines.xs(), spacing: ts.options().barSpacing,
          big: h.big.state()};
}"""

COORDS = """(times) => times.map(t => __liqlevels.chart.timeScale().timeToCoordinate(t))"""


@pytest.mark.browser
def test_lines_are_placed_at_their_times_in_buckets_and_in_candles(browser, tmp_path):
    c = make_candles(3000, freq="1min")
    t = c.index
    lv = make_levels([(t[700], t[1900], "long", 100, 99.0, 3),
                      (t[1234], pd.NaT, "short", 5, 101.0, 1),
                      (t[2500], t[2980], "short", 25, 100.0, 2)])
    secs = epoch_s(t)
    page = load(browser, charts.Scene(c, lv, visible_bars=None, aggregate=True),
                tmp_path / "lines.html")
    try:
        views = []
        for zoom in (None, [2480, 2990]):
            if zoom is not None:
                page.page.evaluate("""async ([a, b]) => {
                  const big = __liqlevels.handle.big, L = big.current();
                  __liqlevels.chart.timeScale().setVisibleLogicalRange(
                    {from: L.pos(a) - big.a, to: L.pos(b) - big.a});
                  await frames_(4);
                }""", zoom)
            got = page.page.evaluate(LINE_XS)
            bucket = got["big"]["seconds"] or 60
            starts = [int(secs[s] // bucket * bucket) for s, _, _ in got["drawn"]]
            ends = [int(secs[e] // bucket * bucket) for _, e, _ in got["drawn"]]
            got["centres"] = page.page.evaluate(COORDS, starts + ends)
            views.append(got)
    finally:
        page.close()
    coarse, fine = views
    assert coarse["big"]["seconds"] == 180 and fine["big"]["seconds"] == 0
    assert sorted(d[0] for d in coarse["drawn"]) == [700, 1234, 2500]
    assert sorted(d[0] for d in fine["drawn"]) == [1234, 2500]
    for view in views:
        n = len(view["drawn"])
        half = view["spacing"] / 2 + 0.01
        for i, (xa, xb) in enumerate(view["xs"]):
            # each end within the bar (bucket) holding its time, at its share of the bucket
            assert abs(xa - view["centres"][i]) <= half, (view, i)
            assert abs(xb - view["centres"][n + i]) <= half, (view, i)
    for i, (xa, _) in enumerate(fine["xs"]):  # in candles: exactly on the bar
        assert xa == pytest.approx(fine["centres"][i], abs=0.01)


@pytest.mark.browser
def test_oi_panes_follow_the_buckets(browser, tmp_path):
    c = gappy_candles(20_000, seed=9)
    sig = signals(c)
    page = load(browser, charts.Scene(c, oi=sig, visible_bars=None, aggregate=True),
                tmp_path / "oi.html", size=(1000, 800))
    try:
        got = page.page.evaluate("""() => {
          const p = __liqlevels.handle.big.oiPanes;
          return {state: __liqlevels.handle.big.state(), oi: p.line.data(),
                  delta: p.bars.data(), baseline: p.baseline.values,
                  range: __liqlevels.handle.oi.map(ch => ch.timeScale().getVisibleLogicalRange()),
                  main: __liqlevels.chart.timeScale().getVisibleLogicalRange()};
        }""")
    finally:
        page.close()
    f = got["state"]["seconds"]
    assert f > 0
    buckets = resample(c, f).index
    key = pd.Series(np.arange(len(buckets)), index=buckets)
    bucket_of = key.reindex(c.index, method="ffill").to_numpy()
    want_oi, want_delta, want_tier, want_base = [], [], [], []
    for j in range(len(buckets)):  # the reference: a plain loop over each bucket's bars
        rows = np.flatnonzero(bucket_of == j)
        oi = c["open_interest"].to_numpy()[rows]
        oi = oi[np.isfinite(oi)]
        want_oi.append(float(oi[-1]) if oi.size else None)
        d = sig["oi_delta"].to_numpy()[rows]
        d = d[np.isfinite(d)]
        want_delta.append(float(d[np.argmax(np.abs(d))]) if d.size else None)
        tier = sig["tier"].to_numpy()[rows]
        want_tier.append(int(tier.max()))
        b = sig["baseline"].to_numpy()[rows]
        b = b[np.isfinite(b)]
        want_base.append(float(b[-1]) if b.size else None)
    assert [x["time"] for x in got["oi"]] == epoch_s(buckets).tolist()
    assert [x.get("value") for x in got["oi"]] == pytest.approx(want_oi)
    assert [x.get("value") for x in got["delta"]] == pytest.approx(want_delta)
    colors = [pal.TIER_COLORS[min(t, 3)] for t in want_tier]
    assert [x.get("color") for x in got["delta"] if "value" in x] == \
        [col for col, d in zip(colors, want_delta, strict=True) if d is not None]
    assert got["baseline"] == pytest.approx(want_base)
    for r in got["range"]:
        assert r == pytest.approx(got["main"])


@pytest.mark.browser
def test_heatmap_follows_the_buckets_and_adds_no_bars(browser, tmp_path):
    c = gappy_candles(60_000, seed=3)
    times = c.index[::250]
    heat = bands(times, [(95.0, 96.0, 3.0, 0.0), (104.0, 105.0, 0.0, 5.0)])
    scene = charts.Scene(c, heatmap=heat, visible_bars=None)
    page = load(browser, scene, tmp_path / "heat.html")
    read = """() => {
      const s = __liqlevels.heatmap, big = __liqlevels.handle.big;
      const candles = new Set(__liqlevels.series.data().map(x => x.time));
      const heat = s.series.data().map(x => x.time);
      return {cells: s.cells, state: big.state(), items: heat.length,
              stray: heat.filter(t => !candles.has(t)).length};
    }"""
    try:
        coarse = page.page.evaluate(read)
        page.page.evaluate(ZOOM, [100, 102])
        fine = page.page.evaluate(read)
        png = page.page.screenshot()
    finally:
        errors = page.errors
        page.close()
    assert errors == []
    assert coarse["cells"] == scene.heatmap_cells == 2 * len(times)
    assert coarse["state"]["seconds"] > 0 and fine["state"]["seconds"] == 0
    # the heatmap's series never adds a time the candles lack (bars stay where they are)
    for view in (coarse, fine):
        assert view["items"] > 0 and view["stray"] == 0
    assert len(png) > 10_000


@pytest.mark.realdata
@pytest.mark.browser
def test_real_candles_aggregate_as_pandas_resamples_them(browser, tmp_path):
    from conftest import load_okx_candles

    c = load_okx_candles("1m")
    page = load(browser, charts.Scene(c, visible_bars=None, aggregate=True),
                tmp_path / "okx.html")
    levels, shown, state = first_view(page)
    for lv in levels[1:]:
        assert_bars_equal(lv, resample(c, lv["f"]), quantum(c))
    assert_bars_equal(shown, resample(c, state["seconds"]), quantum(c))
