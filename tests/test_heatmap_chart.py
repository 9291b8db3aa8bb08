"""The heatmap behind the candles: its checks, its packed payload, the page in Chromium (colours
in their price band, candles over it, the tooltip, nothing for empty or all-zero maps) and
``liqlevels heatmap`` end to end."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from test_charts import CHROMIUM, Loaded, hex_rgb, make_candles, pixels
from test_charts import browser as browser  # the module-scoped Chromium fixture

from liqlevels import charts
from liqlevels.charts import _heatmap
from liqlevels.charts import _palette as pal

# ---------------------------------------------------------------- hand-built frames


def cells(rows: list[tuple]) -> pd.DataFrame:
    """A heatmap frame from ``(time, price_low, price_high, long, short)`` rows."""
    frame = pd.DataFrame(rows, columns=list(_heatmap.HEATMAP_COLUMNS))
    frame["time"] = pd.to_datetime(frame["time"], utc=True, format="ISO8601").dt.as_unit("ns")
    return frame.astype({c: np.float64 for c in ("price_low", "price_high", "long", "short")})


def bands(times, spec) -> pd.DataFrame:
    """The same cells at every time: ``spec`` is ``[(price_low, price_high, long, short)]``."""
    return cells([(t, *row) for t in times for row in spec])


def ramp_color(f: float, background: str = pal.BACKGROUND) -> tuple[int, int, int]:
    """What a cell at fraction ``f`` of vmax looks like on the background: written from the
    module's docstring (viridis stops, opacity rising), not from heatmap.js."""
    f = round(f * 255) / 255
    stops = _heatmap.HEATMAP_RAMP
    for (a, ca), (b, cb) in itertools.pairwise(stops):
        if f <= b:
            w = (f - a) / (b - a)
            rgb = [round(x + (y - x) * w) for x, y in zip(hex_rgb(ca), hex_rgb(cb), strict=True)]
            break
    lo, hi = _heatmap.HEATMAP_ALPHA
    alpha = lo + (hi - lo) * f
    bg = hex_rgb(background)
    return tuple(round(c * alpha + g * (1 - alpha)) for c, g in zip(rgb, bg, strict=True))


# ===================================================================== checks and payload


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (lambda f: f.drop(columns="short"), ValueError, r"lacks column\(s\) \['short'\]"),
        (lambda f: f.assign(time=f["time"].dt.tz_localize(None)), TypeError, "tz-aware"),
        (lambda f: f.assign(long=[1.0, np.nan, 1.0]), ValueError, r"'long'.*row 1"),
        (lambda f: f.assign(short=[0.0, 0.0, -2.0]), ValueError, r"'short'.*row 2"),
        (lambda f: f.assign(price_high=[101.0, 102.0, 104.0]), ValueError,
         r"row 2: its bin is 2\.0 high"),
        (lambda f: f.assign(price_high=f["price_low"]), ValueError, "row 0: price_high"),
        (lambda f: f.assign(price_low=[100.0, 100.0, 102.0], price_high=[101.0, 101.0, 103.0]),
         ValueError, r"row 1 repeats the cell"),
    ],
)
def test_bad_frames_name_the_column_and_the_first_bad_row(change, error, match):
    t = pd.Timestamp("2025-01-01", tz="UTC")
    good = cells([(t, 100.0, 101.0, 1, 0), (t, 101.0, 102.0, 2, 0), (t, 102.0, 103.0, 0, 3)])
    charts.heatmap_layer(good)
    with pytest.raises(error, match=match):
        charts.Scene(make_candles(10), heatmap=change(good))


def test_a_misspelt_weight_gets_a_suggestion():
    with pytest.raises(ValueError, match="Did you mean 'notional'"):
        charts.heatmap_layer(cells([]), weight="notionl")


def test_weight_names_the_unit_from_the_argument_or_the_frame():
    frame = cells([("2025-01-01", 1.0, 2.0, 1, 1)])
    assert charts.heatmap_layer(frame).unit == "lines"
    assert charts.heatmap_layer(frame, weight="notional").unit == "USD"
    frame.attrs["weight"] = "oi_delta"
    assert charts.heatmap_layer(frame).unit == "coins of OI"


def test_columns_are_placed_on_the_bar_open_at_their_time():
    c = make_candles(10)  # hourly from 2025-01-01
    t = c.index
    frame = cells([
        (t[0] - pd.Timedelta("1h"), 100, 101, 5, 0),   # before the first bar: dropped
        (t[2], 101, 102, 1, 0), (t[2], 99, 100, 0, 2),  # two cells, given out of price order
        (t[4] + pd.Timedelta("10min"), 100, 101, 3, 0),  # inside bar 4, and a later one in it
        (t[4] + pd.Timedelta("40min"), 100, 101, 0, 4),
        (t[9] + pd.Timedelta("2h"), 100, 101, 9, 9),   # after the last bar opened: dropped
    ])
    p = charts.Scene(c, heatmap=frame)._scene["heatmap"]
    assert p["b"] == [2, 4]
    assert p["t"] == [int(t[2].timestamp()), int((t[4] + pd.Timedelta("40min")).timestamp())]
    assert p["off"] == [0, 2, 3]
    assert p["p0"] == 99.0 and p["bin"] == 1.0
    assert p["k"] == [0, 2, 1]
    assert (p["l"], p["s"]) == ([0, 1, 0], [2, 0, 4])
    assert p["n"] == 10 and p["unit"] == "lines"


@pytest.mark.parametrize(
    ("frame", "drawn"),
    [
        (cells([]), 0),                                                 # empty
        (cells([("2025-01-01", 100, 101, 0, 0), ("2025-01-01 03:00", 101, 102, 0, 0)]), 0),
        (cells([("2025-01-01", 100, 101, 0, 0), ("2025-01-01 03:00", 101, 102, 0, 2)]), 1),
    ],
)
def test_degenerate_heatmaps_have_nothing_to_colour(frame, drawn):
    scene = charts.Scene(make_candles(10), heatmap=frame)
    assert scene.heatmap_cells == drawn
    assert (scene._scene["heatmap"]["vmax"] > 0) == bool(drawn)


def test_colour_scale_tops_out_at_the_98th_percentile_and_says_so():
    t = pd.date_range("2025-01-01", periods=100, freq="h", tz="UTC")
    frame = cells([(x, 100, 101, 1.0 + i % 10, 0) for i, x in enumerate(t)])
    frame.loc[50, "long"] = 1000.0  # one spike
    p = charts.Scene(make_candles(100), heatmap=frame)._scene["heatmap"]
    assert p["clipped"] and p["vmax"] == pytest.approx(10.0)
    few = charts.Scene(make_candles(100), heatmap=frame.iloc[:20])._scene["heatmap"]
    assert not few["clipped"] and few["vmax"] == 10.0  # under 50 cells: the maximum


def test_values_travel_as_whole_numbers_of_one_scale():
    t = pd.Timestamp("2025-01-01", tz="UTC")
    frame = cells([(t, 100, 101, 1234.5678, 0.25), (t, 101, 102, 0.0, 3e-4)])
    p = charts.Scene(make_candles(10), heatmap=frame)._scene["heatmap"]
    assert p["scale"] == 0.01  # 6 significant digits of the largest value
    assert all(isinstance(v, int) for v in p["l"] + p["s"])
    assert np.allclose(np.array(p["l"]) * p["scale"], [1234.57, 0.0])
    assert np.allclose(np.array(p["s"]) * p["scale"], [0.25, 0.0])  # 3e-4: under half a step
    counts = charts.Scene(make_candles(10), heatmap=cells([(t, 1, 2, 7, 2)]))._scene["heatmap"]
    assert (counts["l"], counts["s"], counts["scale"]) == ([7], [2], 1.0)


def test_without_a_heatmap_the_page_is_unchanged():
    html = charts.Scene(make_candles(10)).html()
    assert "LiqHeatmap = " not in html and '"heatmap"' not in html
    assert "LiqHeatmap = " in charts.Scene(make_candles(10), heatmap=cells([])).html()


def test_the_window_draws_the_heatmap_without_a_warning(monkeypatch):
    from liqlevels.charts import _scene, _window

    monkeypatch.setattr(_scene, "window_unavailable", lambda: None)
    monkeypatch.setattr(_scene, "open_window", lambda *a, **k: "window")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert charts.Scene(make_candles(10), heatmap=cells([])).show() == "window"
        assert charts.Scene(make_candles(10)).show() == "window"
    heat_js = "LiqHeatmap = "
    assert heat_js in _window.window_script("window.a", charts.Scene(
        make_candles(10), heatmap=cells([]))._page)
    assert heat_js not in _window.window_script("window.a", charts.Scene(make_candles(10))._page)


@pytest.mark.browser
def test_in_the_window_the_heatmap_is_under_the_candles(browser, tmp_path):
    """mountWindow, as the desktop window calls it on the wrapper's chart and candle series:
    the heatmap series comes first, the wrapper's series is hidden and the candles drawn anew
    over the heatmap."""
    from liqlevels.charts import _html, _window

    c = make_candles(120)
    t = c.index
    heat = cells([(t[i], 95.0, 105.0, 3, 1) for i in range(0, 120, 4)])
    scene = charts.Scene(c, heatmap=heat)
    script = _window.window_script("window.__w", scene._page)
    boot = ("<script>(function(){var chart=LightweightCharts.createChart(document.body,"
            "{width:700,height:500});var series=chart.addCandlestickSeries();"
            "window.__w={chart:chart,series:series,scale:{},reSize:function(){}};"
            "window.__c={chart:chart,series:series};})();</script>")
    run = script.replace(";void window.LiqLevels.mountWindow(window.__w,",
                         ";window.__h=window.LiqLevels.mountWindow(window.__w,")
    html = _html.document(title="w", background=pal.BACKGROUND, scripts=[
        f"<script>{_html.lightweight_charts_js()}</script>", boot, f"<script>{run}</script>"])
    path = tmp_path / "window.html"
    path.write_text(html, encoding="utf-8")
    page = browser.new_page(viewport={"width": 700, "height": 500})
    try:
        page.goto(path.as_uri())
        page.wait_for_function("() => window.__h && window.__liqlevels && window.__liqlevels.ready")
        got = page.evaluate("""() => ({
            cells: __h.heatmap.cells, columns: __h.heatmap.columns,
            wrapperVisible: __c.series.options().visible,
            candles: __h.series.data().length, drawnOver: __h.series !== __c.series,
            legend: document.querySelector('.liqlevels-legend').textContent})""")
    finally:
        page.close()
    assert got["cells"] == scene.heatmap_cells == 30 and got["columns"] == 30
    assert got["wrapperVisible"] is False and got["drawnOver"] and got["candles"] == 120
    assert "heatmap: long + short lines" in got["legend"]


def test_heatmap_times_keep_at_most_n_columns_from_the_first_bar():
    from liqlevels._cmd_heatmap import heatmap_times

    index = make_candles(1001).index
    for n in (1, 7, 1000, 1001, 2000):
        grid = heatmap_times(index, n)
        assert len(grid) <= n and grid[0] == index[0]
    assert len(heatmap_times(index, 2000)) == 1001


@pytest.mark.parametrize(("low", "high", "size"),
                         [(90, 110, 0.2), (95, 110, 0.1), (60_000, 75_000, 100.0),
                          (0.0011, 0.0014, 2e-6)])
def test_default_bin_size_is_a_round_step(low, high, size):
    from liqlevels._app import chart_bin_size

    c = make_candles(3).assign(low=float(low), high=float(high))
    assert chart_bin_size(c) == pytest.approx(size)


# ===================================================================== in Chromium


# Where the chart's pane sits on the page: a price's row and a bar's column in page pixels.
_ORIGIN = "__liqlevels.chart.chartElement().getBoundingClientRect()"


def _band_rows(page, low: float, high: float) -> tuple[float, float]:
    return tuple(page.page.evaluate(
        f"() => [{high}, {low}].map(p => __liqlevels.series.priceToCoordinate(p)"
        f" + {_ORIGIN}.top)"))


def _bar_xs(page, *bars: int) -> list[float]:
    return page.page.evaluate(
        f"() => {list(bars)}.map(i => __liqlevels.chart.timeScale().logicalToCoordinate(i)"
        f" + {_ORIGIN}.left)")


@pytest.mark.browser
def test_colours_sit_in_their_price_band_under_the_candles(browser, tmp_path):
    c = make_candles(120)  # closes from about 90 to 110
    frame = bands(c.index[::10], [(104.0, 106.0, 0, 8.0), (90.0, 92.0, 4.0, 0)])
    page = Loaded(browser, charts.Scene(c, heatmap=frame), tmp_path / "h.html")
    try:
        assert page.errors == []
        assert page.page.evaluate("() => __liqlevels.heatmap") | {"tip": None} == {
            "columns": 12, "cells": 24, "tip": None}
        assert page.dataset()["heatmapCells"] == "24"
        page.page.evaluate("() => document.querySelector('.liqlevels-legend').remove()")
        page.page.wait_for_timeout(100)  # the chart takes the legend's room
        hot_rows, mid_rows = _band_rows(page, 104, 106), _band_rows(page, 90, 92)
        xs = _bar_xs(page, 0, 119)
        png = page.page.screenshot()
    finally:
        page.close()
    up, down = hex_rgb(pal.CANDLE_UP), hex_rgb(pal.CANDLE_DOWN)
    hot, mid, top_mid, ups = pixels(browser, png, [ramp_color(1.0), ramp_color(0.5),
                                                   ramp_color(1.0)[::-1], up])["hits"]
    assert hot["count"] > 2000 and mid["count"] > 2000, (hot, mid)
    assert abs(hot["top"] - hot_rows[0]) <= 2 and abs(hot["bottom"] - hot_rows[1]) <= 2
    assert abs(mid["top"] - mid_rows[0]) <= 2 and abs(mid["bottom"] - mid_rows[1]) <= 2
    assert hot["left"] <= xs[0] and hot["right"] >= xs[1] - 2  # from the first bar to the last
    assert top_mid["count"] == 0  # a control: a colour not drawn is not found
    assert ups["count"] > 100  # candles over the heatmap
    with_candles = pixels(browser, png, [up, down], left=int(xs[0]))["hits"]
    assert any(h["top"] <= hot_rows[1] and h["bottom"] >= hot_rows[0] for h in with_candles)


@pytest.mark.browser
def test_a_tall_sparse_map_is_drawn_cell_by_cell_in_its_band(browser, tmp_path):
    """Bins from 0 to 1000 at 0.001 (a million rows by 12 columns: too many for the
    one-pixel-per-cell bitmap) take the rectangle path; the cell in view sits in its band,
    at least a pixel high."""
    c = make_candles(120)
    frame = bands(c.index[::10], [(0.0, 0.001, 1.0, 0), (104.0, 104.001, 0, 1.0),
                                  (999.999, 1000.0, 1.0, 0)])
    page = Loaded(browser, charts.Scene(c, heatmap=frame), tmp_path / "t.html")
    try:
        assert page.errors == []
        assert page.page.evaluate("() => __liqlevels.heatmap.cells") == 36
        page.page.evaluate("() => document.querySelector('.liqlevels-legend').remove()")
        page.page.wait_for_timeout(100)
        y = _band_rows(page, 104.0, 104.001)
        png = page.page.screenshot()
    finally:
        page.close()
    hot = pixels(browser, png, [ramp_color(1.0)], left=100)["hits"][0]
    assert hot["count"] > 500 and hot["bottom"] - hot["top"] <= 1
    assert abs(hot["top"] - y[1]) <= 2


@pytest.mark.browser
def test_hover_shows_the_cell_under_the_mouse(browser, tmp_path):
    c = make_candles(120)
    t = c.index
    frame = cells([(t[40], 104.0, 106.0, 3, 5), (t[80], 90.0, 92.0, 7, 0)])
    scene = charts.Scene(c, heatmap=charts.heatmap_layer(frame, weight="count"))
    page = Loaded(browser, scene, tmp_path / "h.html")
    try:
        def tip_at(bar: int, price: float) -> str | None:
            (x,), (y, _) = _bar_xs(page, bar), _band_rows(page, price, price)
            page.page.mouse.move(x, y)
            page.page.wait_for_timeout(50)
            return page.page.evaluate("() => { const t = document.querySelector('.ll-heat-tip');"
                                      " return t.style.display === 'block' ? t.textContent"
                                      " : null; }")

        first = tip_at(60, 105.0)  # column of bar 40 runs to bar 79
        assert first is not None
        assert first.splitlines() == ["2025-01-02 16:00 UTC", "price 104.00 \u2013 106.00",
                                      "long and short: 8 lines",
                                      "long 3 lines \u00b7 short 5 lines"]
        second = tip_at(100, 91.0)
        assert second is not None and "long: 7 lines" in second and "90.00" in second
        assert tip_at(60, 97.0) is None   # no cell at that price
        assert tip_at(20, 105.0) is None  # before the first column
        assert page.errors == []
    finally:
        page.close()


@pytest.mark.browser
@pytest.mark.parametrize("kind", ["empty", "all zero", "control"])
def test_empty_and_all_zero_heatmaps_draw_nothing(browser, tmp_path, kind):
    c = make_candles(120)
    value = 1.0 if kind == "control" else 0.0  # the control draws, so the test can fail
    frame = cells([]) if kind == "empty" else bands(c.index[::10], [(98.0, 102.0, 0, value)])
    page = Loaded(browser, charts.Scene(c, heatmap=frame), tmp_path / "h.html")
    try:
        assert page.errors == []
        drawn = page.page.evaluate("() => __liqlevels.heatmap.cells")
        legend = page.page.evaluate("() => document.querySelector('.ll-heat').textContent")
        png = page.page.screenshot()
    finally:
        page.close()
    ramp = [ramp_color(f) for f in (0.0, 0.25, 0.5, 0.75, 1.0)]
    seen = pixels(browser, png, [*ramp, hex_rgb(pal.CANDLE_UP)])["hits"]
    assert seen[-1]["count"] > 100  # the candles are there
    if kind == "control":
        assert drawn == 12 and seen[4]["count"] > 2000 and "1 lines" in legend
    else:
        assert drawn == 0 and "nothing to draw" in legend
        assert [h["count"] for h in seen[:-1]] == [0] * 5


# ===================================================================== the command


def run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "liqlevels.cli", *args], capture_output=True,
                          text=True, timeout=300, env=env, check=False)


@pytest.mark.browser
def test_heatmap_command_on_the_sample_end_to_end(tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium")
    result = run("heatmap", "--sample", "--bars", "400", "--times", "150", "--weight",
                 "notional", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    html = (tmp_path / "sample-heatmap.html").read_text(encoding="utf-8")
    assert "LiqHeatmap" in html and '"unit":"USD"' in html
    assert (tmp_path / "sample-heatmap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    frame = pd.read_csv(tmp_path / "sample-heatmap.csv")
    assert list(frame.columns) == list(_heatmap.HEATMAP_COLUMNS)
    assert 1 < frame["time"].nunique() <= 150 and (frame["long"] + frame["short"] > 0).all()
    assert "134 columns" in result.stdout  # every 3rd of 400 bars
    assert "sample-heatmap.png" in result.stdout


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["heatmap", "--no-png"], 1, ["liqlevels: error:", "SYMBOL", "--sample"]),
        (["heatmap", "--sample", "--times", "2001"], 2, ["--times", "out of range"]),
        (["heatmap", "--sample", "--weight", "oi"], 2, ["--weight", "invalid choice"]),
        (["heatmap", "--sample", "--bin-size", "0"], 2, ["--bin-size"]),
    ],
)
def test_heatmap_command_errors(tmp_path, args, code, words):
    result = run(*args, "--out", str(tmp_path))
    assert result.returncode == code, (result.stdout, result.stderr)
    assert all(w in result.stderr for w in words), result.stderr


def test_heatmap_command_without_png_writes_html_and_csv(tmp_path):
    result = run("heatmap", "--sample", "--bars", "300", "--no-png", "--name", "mine",
                 "--bin-size", "0.5", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "mine-heatmap.html").exists()
    assert not (tmp_path / "mine-heatmap.png").exists()
    frame = pd.read_csv(tmp_path / "mine-heatmap.csv")
    assert np.allclose(frame["price_high"] - frame["price_low"], 0.5)
    assert np.allclose(frame["price_low"] / 0.5, np.round(frame["price_low"] / 0.5))
