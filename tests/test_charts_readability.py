"""charts as a trader reads them: colours a colour-blind reader tells apart, a legend that
hides nothing, lines across the whole view, what lies beyond it, units, the price line into the
histogram, and a liquidation map that one whale bin does not flatten (issue 17, item 5)."""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pandas as pd
import pytest
from test_charts import (
    Loaded,
    browser,  # noqa: F401 (the module-scoped Chromium fixture)
    hex_rgb,
    make_candles,
    make_density,
    make_levels,
    pixels,
    signals,
)

from liqlevels import charts
from liqlevels.charts import _liqmap
from liqlevels.charts import _palette as pal

# ------------------------------------------------------------- colour vision, by hand

# Machado, Oliveira & Fernandes (2009), severity 1.0, applied to linear RGB.
CVD = {
    "normal": np.eye(3),
    "deuteranopia": np.array([[0.367322, 0.860646, -0.227968],
                              [0.280085, 0.672501, 0.047413],
                              [-0.011820, 0.042940, 0.968881]]),
    "protanopia": np.array([[0.152286, 1.052583, -0.204868],
                            [0.114503, 0.786281, 0.099216],
                            [-0.003882, -0.048116, 1.051998]]),
}


def _lab(color: str, vision: str) -> tuple[float, float, float]:
    """CIELAB (D65) of a ``#rrggbb`` colour as seen with ``vision``."""
    c = np.array(hex_rgb(color), float) / 255
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    linear = np.clip(CVD[vision] @ linear, 0, 1)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                    [0.0193, 0.1192, 0.9505]]) @ linear / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])


def ciede2000(lab1, lab2) -> float:
    """CIEDE2000 colour difference (Sharma, Wu & Dalal 2005)."""
    (l1, a1, b1), (l2, a2, b2) = lab1, lab2
    cbar = (math.hypot(a1, b1) + math.hypot(a2, b2)) / 2
    g = 0.5 * (1 - math.sqrt(cbar**7 / (cbar**7 + 25**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = math.hypot(a1p, b1), math.hypot(a2p, b2)
    h1p = math.degrees(math.atan2(b1, a1p)) % 360
    h2p = math.degrees(math.atan2(b2, a2p)) % 360
    dh = h2p - h1p
    if c1p * c2p == 0:
        dh = 0.0
    elif dh > 180:
        dh -= 360
    elif dh < -180:
        dh += 360
    d_l, d_c = l2 - l1, c2p - c1p
    d_h = 2 * math.sqrt(c1p * c2p) * math.sin(math.radians(dh / 2))
    lbar, cbarp = (l1 + l2) / 2, (c1p + c2p) / 2
    if c1p * c2p == 0:
        hbar = h1p + h2p
    elif abs(h1p - h2p) <= 180:
        hbar = (h1p + h2p) / 2
    else:
        hbar = (h1p + h2p + 360) / 2 if h1p + h2p < 360 else (h1p + h2p - 360) / 2
    cos = [math.cos(math.radians(a)) for a in (hbar - 30, 2 * hbar, 3 * hbar + 6, 4 * hbar - 63)]
    t = 1 - 0.17 * cos[0] + 0.24 * cos[1] + 0.32 * cos[2] - 0.20 * cos[3]
    s_l = 1 + 0.015 * (lbar - 50) ** 2 / math.sqrt(20 + (lbar - 50) ** 2)
    s_c, s_h = 1 + 0.045 * cbarp, 1 + 0.015 * cbarp * t
    rot = 30 * math.exp(-(((hbar - 275) / 25) ** 2))
    r_t = -math.sin(math.radians(2 * rot)) * 2 * math.sqrt(cbarp**7 / (cbarp**7 + 25**7))
    return math.sqrt((d_l / s_l) ** 2 + (d_c / s_c) ** 2 + (d_h / s_h) ** 2
                     + r_t * (d_c / s_c) * (d_h / s_h))


def difference(a: str, b: str, vision: str) -> float:
    return ciede2000(_lab(a, vision), _lab(b, vision))


def test_ciede2000_matches_the_published_pairs():
    # Sharma, Wu & Dalal (2005), table 1: pairs 1, 7 and 17
    assert ciede2000((50, 2.6772, -79.7751), (50, 0, -82.7485)) == pytest.approx(2.0425, abs=1e-4)
    assert ciede2000((50, 0, 0), (50, -1, 2)) == pytest.approx(2.3669, abs=1e-4)
    assert ciede2000((50, 2.5, 0), (73, 25, -18)) == pytest.approx(27.1492, abs=1e-4)


@pytest.mark.parametrize("vision", list(CVD))
def test_every_two_leverages_stay_apart_in_any_colour_vision(vision):
    colors = [charts.LEVERAGE_COLORS[lev] for lev in (5, 10, 25, 50, 100)]
    worst = min((difference(a, b, vision), a, b) for a, b in itertools.combinations(colors, 2))
    assert worst[0] >= 20, worst  # 5x/10x were 19 apart (deuteranopia), 25x/50x 11
    for a, b in itertools.pairwise(colors):  # neighbours, the pairs a reader compares most
        assert difference(a, b, vision) >= 25, (a, b)


def test_the_old_palette_fails_the_check():
    # the check has teeth: the palette before issue 17 (5x vs 10x looked alike) fails it
    old = ["#3d7bff", "#19c9e6", "#f5d90a", "#ff8a1f", "#ff2e63"]
    assert min(difference(a, b, "deuteranopia") for a, b in itertools.pairwise(old)) < 20


def test_leverage_colours_stand_out_from_the_background():
    for lev, color in charts.LEVERAGE_COLORS.items():
        assert difference(color, pal.BACKGROUND, "normal") >= 40, lev


# --------------------------------------------------------------- the page in Chromium


def spread_levels(candles: pd.DataFrame, every: int = 3, life: int = 60) -> pd.DataFrame:
    """A line every ``every`` bars, each ending ``life`` bars later, around the close."""
    t = candles.index
    rows = []
    for i in range(0, len(t), every):
        end = t[i + life] if i + life < len(t) else pd.NaT
        close = float(candles["close"].iloc[i])
        rows.append((t[i], end, "long" if i % 2 else "short", (5, 10, 25, 50, 100)[i % 5],
                     close + (-2.0 if i % 2 else 2.0), 2))
    return make_levels(rows)


def page_eval(page: Loaded, script: str):
    return page.page.evaluate(script)


@pytest.mark.browser
def test_legend_is_an_opaque_band_above_the_plot(browser, tmp_path):  # noqa: F811
    c = make_candles(300)
    density = make_density([90.0], [110.0], [3], [1])
    scene = charts.Scene(c, spread_levels(c), density, oi=signals(c),
                         symbol="A-VERY-LONG-SYMBOL/USDT:USDT " * 3)
    for width in (1200, 640):  # wide, and narrow enough for the band to wrap
        page = Loaded(browser, scene, tmp_path / f"legend{width}.html", size=(width, 700))
        try:
            got = page_eval(page, """() => {
                const legend = document.querySelector('.liqlevels-legend');
                const plot = document.querySelector('#liqlevels-main .tv-lightweight-charts');
                return {legend: legend.getBoundingClientRect().bottom,
                        plot: plot.getBoundingClientRect().top,
                        height: legend.getBoundingClientRect().height,
                        background: getComputedStyle(legend).backgroundColor};
            }""")
        finally:
            page.close()
        assert page.errors == []
        assert got["height"] > 30
        assert got["plot"] >= got["legend"] - 0.5, got  # nothing of the plot under the band
        assert re.fullmatch(r"rgb\(\d+, \d+, \d+\)", got["background"]), got  # opaque


@pytest.mark.browser
def test_capped_lines_cover_the_whole_view_and_follow_a_scroll(browser, tmp_path):  # noqa: F811
    c = make_candles(1500)
    lv = spread_levels(c)  # 500 lines, one every 3 bars
    scene = charts.Scene(c, lv, max_lines=60, visible_bars=500)
    page = Loaded(browser, scene, tmp_path / "spread.html")
    try:
        read = """() => {
            const r = __liqlevels.chart.timeScale().getVisibleLogicalRange();
            return {from: r.from, to: r.to, drawn: __liqlevels.handle.lines.state().drawn};
        }"""
        views = [page_eval(page, read)]
        page_eval(page, """() => new Promise(done => {
            __liqlevels.chart.timeScale().setVisibleLogicalRange({from: 200, to: 600});
            requestAnimationFrame(() => requestAnimationFrame(done));
        })""")
        views.append(page_eval(page, read))
        png = page.page.screenshot()
        x40 = page_eval(page, "() => __liqlevels.chart.timeScale().logicalToCoordinate(360)")
    finally:
        page.close()
    assert page.errors == []
    for view in views:
        lo, hi = view["from"], min(view["to"], 1499)
        drawn = view["drawn"]
        assert 0 < len(drawn) <= 60
        assert all(s <= hi + 1 and e >= lo - 1 for s, e, _ in drawn)  # all in view
        edges = np.linspace(lo, hi, 11)
        for a, b in itertools.pairwise(edges):  # every tenth of the view holds lines
            assert any(s <= b and e >= a for s, e, _ in drawn), (a, b, view["from"])
    # pixels: the left 40% of the scrolled view shows lines (it was bare with the newest 60)
    colors = [hex_rgb(charts.LEVERAGE_COLORS[lev]) for lev in (5, 10, 25, 50, 100)]
    hits = pixels(browser, png, colors)["hits"]
    assert min(h["left"] for h in hits) < x40


@pytest.mark.browser
def test_price_axis_counts_lines_beyond_the_view(browser, tmp_path):  # noqa: F811
    c = make_candles(100)  # closes 90..110
    t = c.index
    lv = make_levels([
        (t[10], pd.NaT, "short", 10, 150.0, 1), (t[20], pd.NaT, "short", 25, 140.0, 1),
        (t[30], pd.NaT, "short", 50, 170.0, 1), (t[40], pd.NaT, "long", 5, 50.0, 1),
        (t[50], pd.NaT, "long", 100, 60.0, 1), (t[60], pd.NaT, "long", 10, 100.0, 1)])
    page = Loaded(browser, charts.Scene(c, lv), tmp_path / "beyond.html")
    try:
        beyond = page_eval(page, "() => __liqlevels.handle.lines.state().beyond")
        pane = page_eval(page, "() => __liqlevels.chart.paneSize()")
        offset = page_eval(page, "() => __liqlevels.chart.chartElement().offsetTop")
        axis = {"x": pane["width"] + 1, "y": offset, "width": 1200 - pane["width"] - 1,
                "height": pane["height"]}
        png = page.page.screenshot(clip=axis)
        page_eval(page, """() => new Promise(done => {
            __liqlevels.series.applyOptions({autoscaleInfoProvider: () => ({
                priceRange: {minValue: 40, maxValue: 180}})});
            requestAnimationFrame(() => requestAnimationFrame(done));
        })""")
        zoomed = page_eval(page, "() => __liqlevels.handle.lines.state().beyond")
        png_all = page.page.screenshot(clip=axis)
    finally:
        page.close()
    assert page.errors == []
    assert beyond == {"above": {"n": 3, "nearest": 140.0}, "below": {"n": 2, "nearest": 60.0}}
    assert zoomed == {"above": {"n": 0, "nearest": None}, "below": {"n": 0, "nearest": None}}
    # the axis labels: solid blocks of the label colour at the top and bottom of the axis
    label = hex_rgb("#c7cbd4")
    hit = pixels(browser, png, [label], tol=2)["hits"][0]
    assert hit["count"] > 300 and hit["top"] < 25 and hit["bottom"] > pane["height"] - 25, hit
    gone = pixels(browser, png_all, [label], tol=2)["hits"][0]
    assert gone["count"] < hit["count"] / 3, (gone, hit)


@pytest.mark.browser
def test_current_price_line_runs_into_the_histogram(browser, tmp_path):  # noqa: F811
    c = make_candles(120)
    last = float(c["close"].iloc[-1])
    density = make_density([last - 5], [last + 5], [8], [0])  # a bar right behind the price
    page = Loaded(browser, charts.Scene(c, density=density), tmp_path / "price.html")
    try:
        y = page_eval(page, f"() => __liqlevels.series.priceToCoordinate({last})")
        offset = page_eval(page, "() => __liqlevels.chart.chartElement().offsetTop")
        width = page_eval(page, "() => __liqlevels.chart.paneSize().width")
        png = page.page.screenshot(clip={"x": width * 0.8, "y": offset + y - 1,
                                         "width": width * 0.2 - 2, "height": 3})
    finally:
        page.close()
    line = pixels(browser, png, [hex_rgb(pal.TEXT)], tol=30)["hits"][0]
    assert line["count"] > 0.15 * width * 0.2, line  # dashes across the histogram's width


@pytest.mark.browser
def test_histogram_has_a_scale_a_unit_and_values_on_hover(browser, tmp_path):  # noqa: F811
    c = make_candles(120)  # closes 90..110
    density = make_density([90.0, 100.0], [100.0, 110.0], [8, 0], [0, 3])
    prof = charts.density_profile(density, unit="USD")
    assert prof.payload()["unit"] == "USD"
    assert charts.density_profile(density).payload()["unit"] == "lines"
    scene = charts.Scene(c, profiles=[prof], oi=signals(c))
    page = Loaded(browser, scene, tmp_path / "hist.html")
    try:
        labels = page_eval(page, "() => __liqlevels.handle.profiles[0].scaleLabels")
        legend = page_eval(page, "() => document.querySelector('.liqlevels-legend').textContent")
        panes = page_eval(page, "() => [...document.querySelectorAll('.ll-pane-label')]"
                          ".map(e => e.textContent)")
        width = page_eval(page, "() => __liqlevels.chart.paneSize().width")
        offset = page_eval(page, "() => __liqlevels.chart.chartElement().offsetTop")
        tip = []
        for price, x in ((95.0, width - 5), (105.0, width - 5), (95.0, width * 0.3)):
            y = page_eval(page, f"() => __liqlevels.series.priceToCoordinate({price})")
            page.page.mouse.move(x - 1, offset + y)
            page.page.mouse.move(x, offset + y)  # the crosshair follows on the next frame
            page.page.evaluate("() => new Promise(done => requestAnimationFrame(() =>"
                               " requestAnimationFrame(() => setTimeout(done, 50))))")
            tip.append(page_eval(page, "() => { const t = document.querySelector('.ll-tip');"
                                 " return t.style.display === 'none' ? '' : t.textContent; }"))
    finally:
        page.close()
    assert page.errors == []
    assert labels == ["0", "4", "8 USD"]
    assert "(USD per 10 bin)" in legend
    assert "90.00" in tip[0] and "100.00" in tip[0] and "long 8" in tip[0] and "USD" in tip[0]
    assert "short 3" in tip[1]
    assert tip[2] == ""  # over the candles, no tip
    assert panes == ["open interest (coins)", "OI delta (coins per bar) by tier, baseline"]


# ------------------------------------------------------------------ the liquidation map


def whale_map(whale: float | None):
    rng = np.random.default_rng(3)
    lows = np.arange(80.0, 120.0, 0.5)
    rows = []
    for lo in lows:
        side = "long" if lo < 100 else "short"
        rows.append((lo, lo + 0.5, side, 25, float(rng.uniform(1e5, 2e5))))
    frame = pd.DataFrame(rows, columns=["price_low", "price_high", "side", "leverage",
                                        "notional"])
    if whale is not None:
        frame.loc[10, "notional"] = whale
    depth = pd.DataFrame({"price_low": [90.0, 100.0], "price_high": [100.0, 110.0],
                          "side": ["long", "short"], "notional": [1e6, 1e6],
                          "cumulative": [1e6, 1e6]})
    return frame, depth


def bar_heights(svg: str) -> list[float]:
    return [float(h) for h in re.findall(r'class="bar"[^>]* height="([\d.]+)"', svg)]


def test_one_whale_bin_does_not_flatten_the_map():
    calm = charts.liquidation_map_chart(*whale_map(None), price=100.0, max_bars=10_000)
    whale = charts.liquidation_map_chart(*whale_map(5e8), price=100.0, max_bars=10_000)
    plot = 700 - 104 - 56
    assert 'class="clipped"' not in calm.svg
    assert np.median(bar_heights(calm.svg)) > 0.3 * plot
    # with a whale 2500x the rest: the others keep most of their height, the whale is marked
    assert np.median(bar_heights(whale.svg)) > 0.15 * plot
    assert max(bar_heights(whale.svg)) <= plot + 0.01
    assert whale.svg.count('class="clipped"') == 1
    assert re.search(r'class="clip-label"[^>]*>500M<', whale.svg)
    assert "clipped at" in whale.svg and "clipped at" not in calm.svg
    assert re.search(r"<title>25x long 85 to 85.5: 500M</title>", whale.svg)  # the true value


def test_value_ceiling():
    assert _liqmap.value_ceiling(np.array([])) == (1.0, False)
    assert _liqmap.value_ceiling(np.zeros(5)) == (1.0, False)
    assert _liqmap.value_ceiling(np.array([1.0, 2.0, 2.5])) == (2.5 * 1.08, False)
    totals = np.r_[np.full(99, 10.0), 1000.0]
    top, clipped = _liqmap.value_ceiling(totals)
    assert clipped and top == pytest.approx(_liqmap.CLIP_RATIO * np.quantile(totals, 0.98))


def test_map_axes_carry_units_and_the_sides_are_explained():
    chart = charts.liquidation_map_chart(*whale_map(None), price=100.0, max_bars=10_000)
    titles = re.findall(r'class="axis-title"[^>]*>([^<]+)<', chart.svg)
    assert titles == ["liquidation price (USDT)", "notional per 0.5 USDT bin (USDT)",
                      "cumulative from the price (USDT)"]
    sides = re.findall(r'class="side"[^>]*>([^<]+)<', chart.svg)
    assert sides == ["\u25c0 longs liquidated if price falls",
                     "shorts liquidated if price rises \u25b6"]
    legend = re.findall(r'class="legend"[^>]*>([^<]+)<', chart.svg)
    assert "longs, cumulative below price" in legend
    assert "shorts, cumulative above price" in legend
    coins = charts.liquidation_map_chart(*whale_map(None), price=100.0, unit="USDC")
    assert "liquidation price (USDC)" in coins.svg


def test_the_map_beside_candles_is_in_its_quote_currency():
    the_map, _ = whale_map(None)
    assert charts.liquidation_profile(the_map).payload()["unit"] == "USDT"
    assert charts.liquidation_profile(the_map, unit="USDC").payload()["unit"] == "USDC"
    with pytest.raises(TypeError, match="unit="):
        charts.price_profile(the_map.assign(x=1.0), {"x": "#ffffff"}, unit="")


@pytest.mark.browser
def test_in_the_window_the_candles_stay_below_the_band(browser, tmp_path):  # noqa: F811
    from liqlevels.charts import _html

    c = make_candles(200)
    density = make_density([90.0], [110.0], [3], [1])
    scene = charts.Scene(c, spread_levels(c), density, symbol="BTC/USDT:USDT " * 4)
    boot = ("<script>(function(){var s=JSON.parse(document.getElementById('liqlevels-scene')"
            ".textContent);var chart=LightweightCharts.createChart(document.body,"
            "{width:700,height:600});var series=chart.addCandlestickSeries();"
            "window.__h=LiqLevels.mountWindow({chart:chart,series:series,scale:{},"
            "reSize:function(){}},s);window.__c={chart:chart,series:series};})();</script>")
    html = _html.document(title="w", background=pal.BACKGROUND, scripts=[
        f'<script type="application/json" id="liqlevels-scene">'
        f'{_html.scene_json(scene._scene)}</script>',
        f"<script>{_html.lightweight_charts_js()}</script>",
        f"<script>{_html.our_js('liqlevels.js')}</script>", boot])
    path = tmp_path / "window.html"
    path.write_text(html, encoding="utf-8")
    page = browser.new_page(viewport={"width": 700, "height": 600})
    try:
        page.goto(path.as_uri())
        page.wait_for_function("() => window.__liqlevels && window.__liqlevels.ready")
        got = page.evaluate(f"""() => {{
            const legend = document.querySelector('.liqlevels-legend').getBoundingClientRect();
            const top = __c.chart.chartElement().getBoundingClientRect().top;
            return {{band: legend.bottom, right: legend.right, pane: __c.chart.paneSize().width,
                     high: top + __c.series.priceToCoordinate({float(c['high'].max())})}};
        }}""")
    finally:
        page.close()
    assert got["band"] > 90, got  # a tall band: the symbol wraps in 700 pixels
    assert got["high"] >= got["band"], got  # the highest candle is below the band
    assert got["right"] <= got["pane"] + 1, got  # the price axis stays uncovered


def test_the_prices_currency_is_said_under_the_title():
    """The price axis has no unit of its own: the legend says what the prices are in."""
    from liqlevels.vocab import quote_currency

    assert [quote_currency(s) for s in ("BTC/USDT:USDT", "BTC/USD:BTC", "ETH/USDC:USDC-250328",
                                        "DEMO-PERP (synthetic sample)", None)] == [
        "USDT", "USD", "USDC", None, None]
    from liqlevels.feeds import sample_candles

    candles = sample_candles(50)
    scene = charts.Scene(candles, symbol="BTC/USDT:USDT 1h (binanceusdm)", price_unit="USDT")
    assert scene._scene["subtitle"] == "Liquidation levels on OI \u00b7 prices in USDT"
    assert charts.Scene(candles, symbol="X")._scene["subtitle"] == "Liquidation levels on OI"
    with pytest.raises(TypeError, match="price_unit"):
        charts.Scene(candles, price_unit=5)
