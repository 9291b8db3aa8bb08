"""charts: the scene's data (times, lines, profiles), its checks, and the page in Chromium."""

from __future__ import annotations

import base64
import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liqlevels import charts, indicator
from liqlevels.charts import _data, _html, _window
from liqlevels.charts._browser import CHROMIUM_ARGS

# ---------------------------------------------------------------- hand-built frames

LEVEL_COLUMNS = ["start", "end", "side", "leverage", "price", "entry", "tier", "oi_delta"]
JAN_1_2025 = 1735689600  # 2025-01-01T00:00:00Z in epoch seconds


def make_candles(n: int = 200, *, start: str = "2025-01-01", freq: str = "1h",
                 unit: str = "us", price: float = 100.0) -> pd.DataFrame:
    """Valid candles (docs/method.md section 1): a sine around ``price`` on a UTC index stored
    in ``unit``."""
    index = pd.date_range(start, periods=n, freq=freq, tz="UTC").as_unit(unit).rename("time")
    close = price + 10.0 * np.sin(np.arange(n) / 15.0) + 0.3 * np.cos(np.arange(n))
    open_ = np.r_[close[:1], close[:-1]]
    oi = 1000.0 + np.cumsum(np.where(np.arange(n) % 7 == 0, 30.0, -2.0))
    return pd.DataFrame(
        {"open": open_, "high": np.maximum(open_, close) + 0.5,
         "low": np.minimum(open_, close) - 0.5, "close": close,
         "volume": np.full(n, 5.0), "open_interest": oi},
        index=index,
    )


def make_levels(rows: list[tuple]) -> pd.DataFrame:
    """A levels frame (method 1 columns) from ``(start, end, side, leverage, price, tier)``."""
    frame = pd.DataFrame(rows, columns=["start", "end", "side", "leverage", "price", "tier"])
    for col in ("start", "end"):
        frame[col] = pd.to_datetime(frame[col], utc=True).dt.as_unit("ns")
    frame["entry"] = frame["price"]
    frame["oi_delta"] = 10.0
    frame = frame.astype({"leverage": np.int64, "tier": np.int64, "price": np.float64})
    return frame[LEVEL_COLUMNS]


def fan(candles: pd.DataFrame, *, every: int = 20, leverages=(5, 10, 25, 50, 100)):
    """Live lines for every leverage and side, all close to price (so all on screen)."""
    rows = []
    for k, t in enumerate(candles.index[::every]):
        close = float(candles.loc[t, "close"])
        for j, lev in enumerate(leverages):
            tier = 1 + (k + j) % 3
            rows.append((t, pd.NaT, "long", lev, close - 1.5 - 1.7 * j, tier))
            rows.append((t, pd.NaT, "short", lev, close + 1.5 + 1.7 * j, tier))
    return make_levels(rows)


def make_density(lows, highs, long, short) -> pd.DataFrame:
    return pd.DataFrame({"price_low": np.asarray(lows, float),
                         "price_high": np.asarray(highs, float),
                         "long": np.asarray(long), "short": np.asarray(short)})


def signals(candles: pd.DataFrame) -> pd.DataFrame:
    """An oi_signals-shaped frame (oi_delta, baseline, tier) built by hand."""
    delta = candles["open_interest"].diff()
    base = delta.abs().rolling(10).mean()
    tier = (delta.abs() > 1.2 * base).astype(int) + (delta.abs() > 2 * base).astype(int)
    return pd.DataFrame({"oi_delta": delta, "baseline": base, "tier": tier})


def hex_rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def blend(rgba: str, background: str) -> tuple[int, ...]:
    """The colour a CSS ``rgba(r, g, b, a)`` fill shows over an opaque ``#rrggbb``."""
    *rgb, alpha = (float(x) for x in rgba[rgba.index("(") + 1:-1].split(","))
    return tuple(round(alpha * c + (1 - alpha) * b)
                 for c, b in zip(rgb, hex_rgb(background), strict=True))


# ------------------------------------------------------------------------- times


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_times_are_epoch_seconds_whatever_the_unit(unit):
    # lightweight-charts 2.1 reads pandas 3's microseconds as nanoseconds (1970); we don't.
    payload, ns = _data.candle_payload(make_candles(5, unit=unit))
    assert payload["t0"] == JAN_1_2025
    assert payload["dt"] == [3600] * 4
    assert payload["n"] == 5
    assert ns[0] == JAN_1_2025 * 10**9


def test_candles_within_one_second_are_refused():
    c = make_candles(5, freq="100ms", unit="ms")
    with pytest.raises(ValueError, match=r"rows 0 and 1 .* same second"):
        charts.Scene(c)


def test_charts_check_only_the_candles_they_draw():
    """OHLC and the index are drawn, so checked; open interest only with the OI pane."""
    c = make_candles(5)
    assert charts.Scene(c.drop(columns=["open_interest", "volume"])).counts["candles"] == 5
    sig = indicator.oi_signals(c, ma_length=2)
    with pytest.raises(ValueError, match="'open_interest', which the OI pane"):
        charts.Scene(c.drop(columns="open_interest"), oi=sig)
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['close'\]"):
        charts.Scene(c.drop(columns="close"))
    with pytest.raises(ValueError, match=r"candles\['low'\] is nan at row 2"):
        charts.Scene(c.assign(low=[1.0, 1.0, np.nan, 1.0, 1.0]))
    with pytest.raises(ValueError, match=r"row 0 .* do not bracket"):
        charts.Scene(c.assign(high=c["low"] - 1))
    with pytest.raises(ValueError, match="naive"):
        charts.Scene(c.tz_localize(None))
    with pytest.raises(ValueError, match=r"duplicated at row 1 .*must be strictly increasing"):
        charts.Scene(c.iloc[[0, 0, 1]])
    with pytest.raises(TypeError, match="DatetimeIndex"):
        charts.Scene(c.reset_index())


def test_charts_warning_is_the_vocabulary_one():
    from liqlevels import vocab

    assert charts.ChartsWarning is vocab.ChartsWarning
    assert issubclass(charts.ChartsWarning, vocab.LiqLevelsWarning)


def test_small_prices_get_enough_decimals():
    assert _data.price_format(np.array([100.0]))["precision"] == 2
    fmt = _data.price_format(np.array([0.00001234]))
    assert fmt["precision"] == 9
    assert fmt["minMove"] == pytest.approx(1e-9)


# ------------------------------------------------------------------------- lines


def test_lines_run_from_start_to_end_or_to_the_last_bar():
    c = make_candles(10)
    t = c.index
    lv = make_levels([
        (t[2], t[6], "long", 10, 95.0, 1),      # touched at bar 6
        (t[3], pd.NaT, "short", 25, 105.0, 2),  # live: to the last bar
        (t[4] + pd.Timedelta(minutes=30), t[8] + pd.Timedelta(minutes=5), "long", 5, 90.0, 3),
    ])
    lines = _data.level_payload(lv, _data.epoch_ns(c.index), 500)
    assert lines["s"] == [2, 3, 4]  # a time inside a bar belongs to that bar
    assert lines["e"] == [6, 9, 8]
    assert lines["p"] == [95.0, 105.0, 90.0]


def test_lines_outside_the_candles_are_dropped_and_early_ones_start_at_the_first_bar():
    c = make_candles(10)
    t = c.index
    hour = pd.Timedelta(hours=1)
    lv = make_levels([
        (t[0] - 5 * hour, t[0] - 2 * hour, "long", 10, 95.0, 1),   # ended before bar 0
        (t[0] - 5 * hour, t[3], "long", 10, 96.0, 1),              # began before bar 0
        (t[9] + 2 * hour, pd.NaT, "short", 10, 104.0, 1),          # begins after the last
    ])
    lines = _data.level_payload(lv, _data.epoch_ns(c.index), 500)
    assert (lines["s"], lines["e"], lines["p"]) == ([0], [3], [96.0])
    assert lines["total"] == lines["drawn"] == 1


def test_newest_max_lines_by_start_and_none_draws_all():
    c = make_candles(50)
    rows = [(c.index[i], pd.NaT, "long", 10, 90.0 + i, 1) for i in range(50)]
    lv = make_levels(rows[::-1])  # order must not matter: newest is by start
    capped = _data.level_payload(lv, _data.epoch_ns(c.index), 20)
    assert capped["s"] == list(range(30, 50))  # the newest, as a live page takes them
    assert capped["more"]["s"] == list(range(30))  # the rest, for other views of the bars
    assert (capped["total"], capped["drawn"], capped["max"]) == (50, 20, 20)
    every = _data.level_payload(lv, _data.epoch_ns(c.index), None)
    assert sorted(every["s"]) == list(range(50))
    assert charts.Scene(c, lv).counts["lines"] == 50  # default cap 500
    assert charts.Scene(c, lv, max_lines=7).counts["lines"] == 7


def test_style_is_colour_by_leverage_width_by_tier_dash_for_short():
    c = make_candles(10)
    t = c.index
    lv = make_levels([(t[1], pd.NaT, "long", 5, 95.0, 1), (t[1], pd.NaT, "short", 100, 105.0, 3),
                      (t[2], pd.NaT, "long", 50, 97.0, 2)])
    lines = _data.level_payload(lv, _data.epoch_ns(c.index), 500)
    styles = [lines["styles"][k] for k in lines["k"]]
    assert styles == [
        {"color": charts.LEVERAGE_COLORS[5], "width": 1, "dash": False},
        {"color": charts.LEVERAGE_COLORS[100], "width": 3, "dash": True},
        {"color": charts.LEVERAGE_COLORS[50], "width": 2, "dash": False},
    ]
    assert [x["label"] for x in lines["leverages"]] == ["5x", "50x", "100x"]


def _reference_lines(starts, ends, n, max_lines):
    """A plain loop over the method's rules: bar of each time, live lines to the last bar."""
    kept = []
    for i, (s, e) in enumerate(zip(starts, ends, strict=True)):
        if s > n - 1 or (e is not None and e < 0):
            continue
        kept.append((s, i, max(s, 0), n - 1 if e is None else e))
    kept.sort()
    if max_lines is not None:
        kept = kept[len(kept) - min(max_lines, len(kept)):]
    return [(b, e) for _, _, b, e in kept]


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 30),
    spans=st.lists(st.tuples(st.integers(-5, 35), st.one_of(st.none(), st.integers(1, 20))),
                   max_size=40),
    max_lines=st.one_of(st.none(), st.integers(0, 15)),
)
def test_line_positions_match_a_plain_loop(n, spans, max_lines):
    c = make_candles(n)
    hour = pd.Timedelta(hours=1)
    t0 = c.index[0]
    starts = [s for s, _ in spans]
    ends = [None if d is None else s + d for s, d in spans]
    lv = make_levels([(t0 + s * hour, pd.NaT if e is None else t0 + e * hour, "long", 10, 1.0, 1)
                      for s, e in zip(starts, ends, strict=True)])
    got = _data.level_payload(lv, _data.epoch_ns(c.index), max_lines)
    # a bar time past the last bar is clipped to the last bar, as the page has no bar there
    want = [(b, min(e, n - 1)) for b, e in _reference_lines(starts, ends, n, max_lines)]
    assert list(zip(got["s"], got["e"], strict=True)) == want
    every = [(b, min(e, n - 1)) for b, e in _reference_lines(starts, ends, n, None)]
    more = got.get("more", {"s": [], "e": []})
    assert list(zip(more["s"] + got["s"], more["e"] + got["e"], strict=True)) == every
    assert all(0 <= s <= e <= n - 1 for s, e in want)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda f: f.assign(side="longg"), r"levels\['side'\] is 'longg' at row 0"),
        (lambda f: f.drop(columns="tier"), r"levels lacks column\(s\) \['tier'\]"),
        (lambda f: f.assign(price=[1.0, np.nan]), r"levels\['price'\] is nan at row 1"),
        (lambda f: f.assign(leverage=[10, 1]), r"levels\['leverage'\] is 1 at row 1"),
        (lambda f: f.assign(tier=[0, 1]), r"levels\['tier'\] is 0 at row 0"),
    ],
)
def test_bad_levels_name_the_column_and_row(change, match):
    c = make_candles(10)
    lv = make_levels([(c.index[1], pd.NaT, "long", 10, 95.0, 1)] * 2)
    with pytest.raises(ValueError, match=match):
        charts.Scene(c, change(lv))


def test_naive_level_times_are_refused():
    c = make_candles(10)
    lv = make_levels([(c.index[1], pd.NaT, "long", 10, 95.0, 1)])
    lv["start"] = lv["start"].dt.tz_localize(None)
    with pytest.raises(TypeError, match=r"levels\['start'\] must be tz-aware"):
        charts.Scene(c, lv)


# ---------------------------------------------------------------------- palette


def test_default_leverages_have_five_distinct_fixed_colours():
    colors = [charts.leverage_color(L) for L in (5, 10, 25, 50, 100)]
    assert colors == [charts.LEVERAGE_COLORS[L] for L in (5, 10, 25, 50, 100)]
    assert len(set(colors)) == 5


@given(st.floats(1.01, 1000))
def test_any_leverage_gets_a_css_colour(leverage):
    color = charts.leverage_color(leverage)
    assert len(color) == 7
    assert color.startswith("#")
    int(color[1:], 16)


def test_between_two_leverages_the_colour_is_between_theirs():
    lo, mid, hi = (hex_rgb(charts.leverage_color(L)) for L in (50, 70, 100))
    for a, m, b in zip(lo, mid, hi, strict=True):
        assert min(a, b) <= m <= max(a, b)


# ---------------------------------------------------------------------- profiles


def test_profile_counts_rows_with_something_to_draw():
    d = make_density([1, 2, 3], [2, 3, 4], [0, 2, 0], [0, 1, 0])
    prof = charts.density_profile(d)
    assert prof.bars == 1
    assert prof.payload()["v"] == [[0, 0], [2, 1], [0, 0]]
    assert charts.Scene(make_candles(10), density=d).counts["bars"] == 1


@pytest.mark.parametrize(
    ("rows", "bars"),
    [
        (make_density([], [], [], []), 0),                 # empty: nothing
        (make_density([1, 2], [2, 3], [0, 0], [0, 0]), 0),  # all zero: nothing
        (make_density([5], [5], [3], [0]), 1),              # one bin of zero height: a 1px bar
    ],
)
def test_degenerate_profiles(rows, bars):
    assert charts.density_profile(rows).bars == bars


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1e9), st.floats(0, 1e9), st.floats(0, 1e3)), max_size=30))
def test_profile_bars_are_the_rows_with_a_positive_total(values):
    lows = np.arange(len(values), dtype=float)
    rows = pd.DataFrame({"price_low": lows, "price_high": lows + 1,
                         "a": [v[0] for v in values], "b": [v[1] for v in values],
                         "c": [v[2] for v in values]})
    prof = charts.price_profile(rows, {"a": "#111111", "b": "#222222", "c": "#333333"})
    assert prof.bars == sum(1 for v in values if sum(v) > 0)
    assert prof.payload()["v"] == [list(v) for v in values]


def test_generic_profile_stacks_named_columns():
    rows = pd.DataFrame({"price_low": [90.0, 100.0], "price_high": [100.0, 110.0],
                         "10x": [1.0, 0.0], "25x": [2.0, 5.0]})
    prof = charts.price_profile(rows, {"10x": "#19c9e6", "25x": "#f5d90a"}, label="map",
                                width=0.3, edge="left")
    payload = prof.payload()
    assert payload["names"] == ["10x", "25x"]
    assert payload["v"] == [[1.0, 2.0], [0.0, 5.0]]
    assert (payload["edge"], payload["width"], payload["label"]) == ("left", 0.3, "map")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"colors": {"x": "#fff"}}, ValueError, r"rows lacks column\(s\) \['x'\]"),
        ({"colors": ["long"]}, TypeError, "colors must be a non-empty mapping"),
        ({"width": 0}, ValueError, r"width=0 must be in \(0, 1\]"),
        ({"width": "wide"}, TypeError, "width='wide' must be a number"),
        ({"edge": "rigth"}, ValueError, "Did you mean 'right'"),
        ({"label": 3}, TypeError, "label=3 must be a string"),
    ],
)
def test_bad_profile_options(kwargs, error, match):
    rows = make_density([1], [2], [1], [1])
    args = {"colors": {"long": "#0f0", "short": "#f0f"}, **kwargs}
    with pytest.raises(error, match=match):
        charts.price_profile(rows, **args)


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        (make_density([1, 3], [2, 2], [1, 1], [0, 0]), "price_low 3.0 > price_high 2.0 at row 1"),
        (make_density([1], [2], [-1], [0]), r"rows\['long'\] is -1.0 at row 0"),
        (make_density([np.inf], [2], [1], [0]), r"rows\['price_low'\] is inf at row 0"),
    ],
)
def test_bad_profile_rows(rows, match):
    with pytest.raises(ValueError, match=match):
        charts.price_profile(rows, {"long": "#0f0", "short": "#f0f"})


def test_profiles_must_be_built_with_price_profile():
    with pytest.raises(TypeError, match=r"profiles\[0\] is a DataFrame"):
        charts.Scene(make_candles(5), profiles=[make_density([1], [2], [1], [1])])


# ------------------------------------------------------------------ scene options


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"max_lines": "all"}, TypeError, "max_lines='all' must be a whole number or None"),
        ({"max_lines": -1}, ValueError, "max_lines=-1 must be >= 0"),
        ({"visible_bars": 2.5}, TypeError, "visible_bars=2.5"),
        ({"symbol": 5}, TypeError, "symbol=5 must be a string"),
        ({"oi": pd.DataFrame({"oi_delta": [1.0]})}, ValueError, r"oi lacks column"),
    ],
)
def test_bad_scene_options(kwargs, error, match):
    with pytest.raises(error, match=match):
        charts.Scene(make_candles(5), **kwargs)


def test_oi_pane_needs_a_time_index():
    sig = signals(make_candles(20)).reset_index(drop=True)
    with pytest.raises(TypeError, match="oi must be indexed by a tz-aware DatetimeIndex"):
        charts.Scene(make_candles(20), oi=sig)


def test_oi_pane_rows_follow_the_candles_by_time():
    c = make_candles(20)
    sig = signals(c).iloc[::-1].iloc[:15]  # out of order and missing the first 5 bars
    oi = _data.oi_payload(sig, c, _data.epoch_ns(c.index))
    assert oi["delta"][:5] == [None] * 5
    assert oi["delta"][5] == pytest.approx(signals(c)["oi_delta"].iloc[5])
    assert oi["tier"][19] == int(signals(c)["tier"].iloc[19])
    assert len(oi["oi"]) == 20


def test_bad_output_sizes():
    scene = charts.Scene(make_candles(5))
    with pytest.raises(ValueError, match="width=50 must be between 100 and 10000"):
        scene.to_png("x.png", width=50)


# --------------------------------------------------------------------- the page


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_title = tag == "title"

    def handle_endtag(self, tag):
        self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data


def test_page_is_self_contained():
    parser = _Tags()
    parser.feed(charts.Scene(make_candles(20), fan(make_candles(20))).html())
    names = [t for t, _ in parser.tags]
    assert "link" not in names
    assert "img" not in names
    assert all("src" not in attrs and "href" not in attrs for _, attrs in parser.tags)
    assert names.count("script") == 4  # the scene (JSON), the library, ours, the boot


def test_markup_in_names_stays_text_in_the_page_source():
    evil = "</script><script>alert(1)</script><img src=x onerror=alert(1)>"
    page = charts.Scene(make_candles(5), symbol=evil, title=evil).html()
    parser = _Tags()
    parser.feed(page)
    assert [t for t, _ in parser.tags].count("script") == 4
    assert "img" not in [t for t, _ in parser.tags]
    assert parser.title == f"{evil} - {evil}"
    assert page.lower().count("</script") == 4


@settings(max_examples=200)
@given(st.text())
def test_scene_json_never_closes_its_script_and_round_trips(text):
    encoded = _html.scene_json({"title": text, "x": [1.5, None]})
    assert not {"<", ">", "&", "\u2028", "\u2029"} & set(encoded)
    assert json.loads(encoded) == {"title": text, "x": [1.5, None]}


def test_every_injected_script_begins_with_a_semicolon():
    for name in ("liqlevels.js", "pyramid.js", "page.js"):
        assert _html.our_js(name).startswith(";")
    script = _window.window_script("window.abc", {"x": 1})
    assert script.startswith(";")
    assert ";void window.LiqLevels.mountWindow(window.abc, {\"x\":1});" in script


def test_library_is_inlined_from_the_installed_package():
    js = _html.lightweight_charts_js()
    assert "Lightweight Charts" in js[:300]
    assert js in charts.Scene(make_candles(5)).html()


# ------------------------------------------------------------------------- show


def _no_display(monkeypatch):
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(var, raising=False)


def test_show_without_a_display_says_so_and_writes_html(monkeypatch, tmp_path):
    _no_display(monkeypatch)
    scene = charts.Scene(make_candles(20), fan(make_candles(20)))
    with pytest.warns(charts.ChartsWarning, match="no display") as caught:
        path = scene.show(html_path=tmp_path / "chart.html")
    assert path == tmp_path / "chart.html"
    assert str(path) in str(caught[0].message)
    assert path.read_text(encoding="utf-8") == scene.html()
    assert caught[0].filename == __file__  # stacklevel points at the caller


def test_show_without_a_display_picks_a_temporary_file(monkeypatch):
    _no_display(monkeypatch)
    with pytest.warns(charts.ChartsWarning):
        path = charts.Scene(make_candles(5)).show()
    try:
        assert path.suffix == ".html"
        assert path.stat().st_size > 100_000
    finally:
        path.unlink()


def test_show_without_pywebview_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setattr(_window, "_has_module", lambda name: name != "webview")
    with pytest.warns(charts.ChartsWarning, match=r"pip install 'liqlevels\[window\]'"):
        charts.Scene(make_candles(5)).show(html_path=tmp_path / "c.html")


def test_show_without_qt_webengine_says_so(monkeypatch, tmp_path):
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    monkeypatch.setattr(_window, "_has_module", lambda name: "WebEngine" not in name)
    with pytest.warns(charts.ChartsWarning, match="Qt backend is not installed"):
        charts.Scene(make_candles(5)).show(html_path=tmp_path / "c.html")


# ===================================================================== in Chromium

CHROMIUM = Path("/usr/bin/chromium")
browser_only = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed"),
]


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium (/usr/bin/chromium) is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS))
        yield b
        b.close()


class Loaded:
    """A chart page loaded in Chromium, with what it said and asked for."""

    def __init__(self, browser, scene: charts.Scene, path: Path, size=(1200, 700)):
        self.page = browser.new_page(viewport={"width": size[0], "height": size[1]})
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        scene.to_html(path)
        self.page.goto(path.as_uri())
        self.page.wait_for_function(
            "() => window.__liqlevels && (window.__liqlevels.ready || window.__liqlevels.error)"
        )
        self.state = self.page.evaluate(
            "() => ({candles: __liqlevels.candles, lines: __liqlevels.lines,"
            " bars: __liqlevels.bars, error: __liqlevels.error})"
        )

    def dataset(self) -> dict:
        return self.page.evaluate("() => Object.assign({}, document.getElementById('liqlevels')"
                                  ".dataset)")

    def close(self):
        self.page.close()


def pixels(browser, png: bytes, targets, tol: int = 6, left: int = 0) -> dict:
    """Decode ``png`` with Chromium's own decoder (PIL is not installed here) and report, for
    each target RGB, how many pixels (in columns >= ``left``) match within ``tol`` and their
    top/bottom rows and left/right columns, and how many distinct colours the image holds."""
    page = browser.new_page()
    try:
        return page.evaluate(
            """async ([b64, targets, tol, left]) => {
              const img = new Image();
              img.src = 'data:image/png;base64,' + b64;
              await img.decode();
              const w = img.naturalWidth, h = img.naturalHeight;
              const cv = document.createElement('canvas');
              cv.width = w; cv.height = h;
              const ctx = cv.getContext('2d', {willReadFrequently: true});
              ctx.drawImage(img, 0, 0);
              const d = ctx.getImageData(0, 0, w, h).data;
              const hits = targets.map(() => ({count: 0, top: h, bottom: -1, left: w, right: -1}));
              const seen = new Set();
              for (let i = 0, p = 0; i < d.length; i += 4, p++) {
                const r = d[i], g = d[i + 1], b = d[i + 2];
                seen.add((r << 16) | (g << 8) | b);
                if (p % w < left) continue;
                for (let k = 0; k < targets.length; k++) {
                  const t = targets[k];
                  if (Math.abs(r - t[0]) <= tol && Math.abs(g - t[1]) <= tol
                      && Math.abs(b - t[2]) <= tol) {
                    const y = Math.floor(p / w), x = p % w, hit = hits[k];
                    hit.count++;
                    if (x < hit.left) hit.left = x;
                    if (x > hit.right) hit.right = x;
                    if (y < hit.top) hit.top = y;
                    if (y > hit.bottom) hit.bottom = y;
                  }
                }
              }
              return {width: w, height: h, distinct: seen.size, hits: hits};
            }""",
            [base64.b64encode(png).decode(), [list(t) for t in targets], tol, left],
        )
    finally:
        page.close()


@pytest.fixture
def demo():
    c = make_candles(300)
    density = make_density(np.arange(85, 115, 2.0), np.arange(87, 117, 2.0),
                           np.r_[np.arange(1, 9), np.zeros(7)],
                           np.r_[np.zeros(8), np.arange(7, 0, -1)])
    return charts.Scene(c, fan(c), density, oi=signals(c), symbol="TEST/USDT:USDT")


@pytest.mark.browser
def test_page_loads_clean_and_reports_its_counts(browser, demo, tmp_path):
    page = Loaded(browser, demo, tmp_path / "demo.html")
    try:
        assert page.errors == []
        assert page.state == {"candles": 300, "lines": 150, "bars": 15, "error": None}
        assert demo.counts == {"candles": 300, "lines": 150, "bars": 15}
        assert page.dataset() == {"candles": "300", "lines": "150", "bars": "15", "ready": "true"}
        assert {u.split(":", 1)[0] for u in page.requests} == {"file"}  # nothing from the net
        first = page.page.evaluate("() => __liqlevels.chart.timeScale().getVisibleRange().from")
        assert first >= JAN_1_2025  # not 1970
        panes = page.page.evaluate("() => document.querySelectorAll('.ll-pane').length")
        assert panes == 2
    finally:
        page.close()


@pytest.mark.browser
def test_png_is_not_blank_and_holds_the_leverage_colours(browser, demo, tmp_path):
    png = demo.to_png(tmp_path / "demo.png", width=1200, height=700).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    palette = [hex_rgb(charts.LEVERAGE_COLORS[L]) for L in (5, 10, 25, 50, 100)]
    theme = _data_theme()
    targets = [*palette, hex_rgb(theme["up"]), hex_rgb(theme["down"]),
               blend(theme["long"], theme["background"])]
    seen = pixels(browser, png, targets, left=400)  # right of the legend's swatches
    assert (seen["width"], seen["height"]) == (1200, 700)
    assert seen["distinct"] > 50
    counts = [h["count"] for h in seen["hits"]]
    assert all(n > 40 for n in counts[:5]), counts  # each leverage colour is drawn
    assert counts[5] > 40 and counts[6] > 40, counts  # up and down candles
    assert counts[7] > 200, counts                    # the density profile


def _data_theme() -> dict:
    from liqlevels.charts import _palette as pal

    return {"up": pal.CANDLE_UP, "down": pal.CANDLE_DOWN, "long": pal.PROFILE_LONG,
            "background": pal.BACKGROUND}


@pytest.mark.browser
def test_lines_are_drawn_from_their_start_bar_to_their_end_bar(browser, tmp_path):
    c = make_candles(100)
    t = c.index
    lv = make_levels([(t[20], t[60], "long", 100, 95.0, 3),     # ended at bar 60
                      (t[40], pd.NaT, "short", 5, 105.0, 3)])   # live: to the last bar
    page = Loaded(browser, charts.Scene(c, lv), tmp_path / "l.html")
    try:
        page.page.evaluate("() => document.querySelector('.liqlevels-legend').remove()")
        xs = page.page.evaluate("() => [20, 60, 40, 99].map("
                                "i => __liqlevels.chart.timeScale().logicalToCoordinate(i))")
        png = page.page.screenshot()
    finally:
        page.close()
    hot, cool = pixels(browser, png, [hex_rgb(charts.LEVERAGE_COLORS[100]),
                                      hex_rgb(charts.LEVERAGE_COLORS[5])])["hits"]
    assert abs(hot["left"] - xs[0]) <= 2 and abs(hot["right"] - xs[1]) <= 2, (hot, xs)
    assert abs(cool["left"] - xs[2]) <= 2 and abs(cool["right"] - xs[3]) <= 2, (cool, xs)
    assert hot["bottom"] - hot["top"] == 2  # tier 3: three pixels thick


@pytest.mark.browser
def test_profile_follows_the_price_scale(browser, tmp_path):
    c = make_candles(100)
    density = make_density([95.0], [105.0], [4], [0])
    page = Loaded(browser, charts.Scene(c, density=density), tmp_path / "p.html")
    target = [blend(_data_theme()["long"], _data_theme()["background"])]
    try:
        before = pixels(browser, page.page.screenshot(), target, left=600)["hits"][0]
        page.page.evaluate("""() => new Promise(done => {
            __liqlevels.series.priceScale().applyOptions({scaleMargins: {top: 0.4, bottom: 0.4}});
            requestAnimationFrame(() => requestAnimationFrame(done));
        })""")
        after = pixels(browser, page.page.screenshot(), target, left=600)["hits"][0]
    finally:
        page.close()
    assert before["count"] > 1000
    assert after["bottom"] - after["top"] < 0.6 * (before["bottom"] - before["top"])


@pytest.mark.browser
@pytest.mark.parametrize(
    ("levels", "density", "counts"),
    [
        (None, None, {"lines": 0, "bars": 0}),
        ("empty", make_density([100.0], [100.0], [3], [2]), {"lines": 0, "bars": 1}),
        ("empty", make_density([90.0], [110.0], [3], [0]), {"lines": 0, "bars": 1}),
        ("fan", make_density([90, 95], [95, 100], [0, 0], [0, 0]), {"lines": 20, "bars": 0}),
        ("fan", make_density([], [], [], []), {"lines": 20, "bars": 0}),
    ],
    ids=["nothing", "one-bin-zero-height", "one-bin", "all-zero", "empty-histogram"],
)
def test_degenerate_inputs_render_without_errors(browser, tmp_path, levels, density, counts):
    c = make_candles(60)
    lv = {None: None, "empty": make_levels([])[LEVEL_COLUMNS], "fan": fan(c, every=40)}[levels]
    page = Loaded(browser, charts.Scene(c, lv, density), tmp_path / "d.html")
    try:
        assert page.errors == []
        assert page.state == {"candles": 60, **counts, "error": None}
    finally:
        page.close()


@pytest.mark.browser
def test_no_candles_renders_without_errors(browser, tmp_path):
    c = make_candles(0)
    page = Loaded(browser, charts.Scene(c, make_levels([]), oi=signals(c)), tmp_path / "e.html")
    try:
        assert page.errors == []
        assert page.state == {"candles": 0, "lines": 0, "bars": 0, "error": None}
    finally:
        page.close()


@pytest.mark.browser
def test_symbol_holding_markup_stays_text(browser, tmp_path):
    evil = "<img src=x onerror=alert(1)>"
    rows = pd.DataFrame({"price_low": [90.0], "price_high": [95.0], evil: [1.0]})
    prof = charts.price_profile(rows, {evil: "#ffffff"}, label="<b>map</b>")
    scene = charts.Scene(make_candles(30), symbol=evil, title="</script><i>t</i>",
                         profiles=[prof])
    page = Loaded(browser, scene, tmp_path / "x.html")
    try:
        got = page.page.evaluate("""() => ({
            title: document.title,
            heading: document.querySelector('.ll-title').textContent,
            images: document.images.length,
            italics: document.getElementsByTagName('i').length,
            bold: document.getElementsByTagName('b').length,
            legend: document.querySelector('.liqlevels-legend').textContent})""")
    finally:
        page.close()
    assert page.errors == []
    assert page.dialogs == []
    assert got["title"] == scene.page_title
    assert got["heading"] == evil
    assert (got["images"], got["italics"], got["bold"]) == (0, 0, 0)
    assert evil in got["legend"] and "<b>map</b>" in got["legend"]


@pytest.mark.browser
def test_lines_are_capped_at_the_newest_500_unless_asked(browser, tmp_path):
    c = make_candles(400)
    lv = fan(c, every=1)  # 4000 lines
    page = Loaded(browser, charts.Scene(c, lv), tmp_path / "a.html")
    legend = page.page.evaluate("() => document.querySelector('.liqlevels-legend').textContent")
    page.close()
    assert page.state["lines"] == 500
    assert "up to 500 of 4000 lines" in legend
    page = Loaded(browser, charts.Scene(c, lv, max_lines=None), tmp_path / "b.html")
    page.close()
    assert page.state["lines"] == 4000
    assert page.errors == []


@pytest.mark.browser
def test_to_png_reports_a_broken_page(monkeypatch, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed")
    scene = charts.Scene(make_candles(5))
    monkeypatch.setattr(scene, "html", lambda: "<script>window.__liqlevels = {error: 'boom'}"
                        "</script>")
    with pytest.raises(RuntimeError, match="the chart page failed: boom"):
        scene.to_png(tmp_path / "x.png")
