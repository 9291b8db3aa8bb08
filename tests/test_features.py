"""indicator.features: held against a plain bar-by-bar reading of SPEC.md section 2."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liqlevels import indicator
from liqlevels.feeds import sample_candles
from liqlevels.indicator import _features, _sweep, _within

WITHIN = (0.01, 0.02, 0.05)
SIDES = ("long", "short")


# --- the reference: a plain loop over the bars and the levels frame ----------------------


def reference(candles: pd.DataFrame, levels: pd.DataFrame, within=WITHIN, leverages=None):
    """Each bar on its own: a line is live after bar t when start <= t and (end is NaT or
    end > t); hit on bar t when end == t."""
    start = levels["start"].tolist()
    end = levels["end"].tolist()
    side = levels["side"].tolist()
    lev = [int(v) for v in levels["leverage"]]
    price = [float(v) for v in levels["price"]]
    if leverages is None:
        leverages = sorted(set(lev))
    rows = []
    for t, close in zip(candles.index, candles["close"].tolist(), strict=True):
        row: dict[str, float] = {}
        for name in SIDES:
            live, hit = [], []
            for i in range(len(price)):
                if side[i] != name:
                    continue
                if start[i] <= t and (pd.isna(end[i]) or end[i] > t):
                    live.append(price[i])
                if not pd.isna(end[i]) and end[i] == t:
                    hit.append(lev[i])
            row[f"{name}_active"] = len(live)
            row[f"{name}_hit"] = len(hit)
            for lv in leverages:
                row[f"{name}_hit_{lv}x"] = hit.count(lv)
            if name == "long":
                nearest = max(live) if live else float("nan")
                row["nearest_long"] = nearest
                row["long_dist"] = (close - nearest) / close
                for x in within:
                    row[f"long_within_{x * 100:g}pct"] = sum(p >= close * (1 - x) for p in live)
            else:
                nearest = min(live) if live else float("nan")
                row["nearest_short"] = nearest
                row["short_dist"] = (nearest - close) / close
                for x in within:
                    row[f"short_within_{x * 100:g}pct"] = sum(p <= close * (1 + x) for p in live)
        rows.append(row)
    return pd.DataFrame(rows, index=candles.index)


def assert_matches_reference(candles, levels, within=WITHIN, leverages=None):
    ours = indicator.features(candles, levels, within=within)
    theirs = reference(candles, levels, within, leverages)
    assert sorted(ours.columns) == sorted(theirs.columns)
    pd.testing.assert_frame_equal(ours, theirs[ours.columns], check_dtype=False)
    return ours


@pytest.fixture(params=["sweep", (4096, 4), (64, 4), (16, 8), (8, 1)],
                ids=lambda p: p if isinstance(p, str) else f"numpy{p}")
def counts(request, monkeypatch):
    """Which within-x count runs: the compiled sweep, or the numpy fallback (numba absent)
    with coarse/fine blocks small enough that a few hundred bars cross many of them (both
    its general count and the one for lines ended by price)."""
    use_numpy(monkeypatch, request.param)
    return request.param


def use_numpy(monkeypatch, sizes):
    """Run the numpy within-x counts with these (coarse, fine) block sizes; "sweep" keeps
    the compiled count."""
    if sizes == "sweep":
        assert _sweep.AVAILABLE, "numba is a dependency; the compiled sweep must load"
        return
    coarse, fine = sizes
    monkeypatch.setattr(_sweep, "AVAILABLE", False)
    monkeypatch.setattr(_features, "_COARSE", coarse)
    monkeypatch.setattr(_features, "_FINE", fine)
    monkeypatch.setattr(_within, "COARSE", coarse)
    monkeypatch.setattr(_within, "FINE", fine)


# --- synthetic and real data ----------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_reference_on_synthetic(counts, seed):
    candles = sample_candles(700, timeframe="1m", seed=seed)
    levels = indicator.oi_levels(candles, ma_length=20, direction="both")
    assert len(levels) > 500
    ours = assert_matches_reference(candles, levels)
    assert ours["long_within_5pct"].max() > 0 and ours["short_hit"].sum() > 0


@pytest.mark.realdata
def test_matches_reference_on_real_okx_1h(okx_1h, counts):
    levels = indicator.oi_levels(okx_1h, ma_length=20)
    assert len(levels) > 100
    ours = assert_matches_reference(okx_1h, levels)
    assert ours["long_active"].max() > 0


@pytest.mark.realdata
def test_real_okx_1h_truncation(okx_1h):
    full = indicator.features(okx_1h, ma_length=20)
    for k in (1, 61, 200, 333, len(okx_1h) - 1):
        part = indicator.features(okx_1h.iloc[:k], ma_length=20)
        pd.testing.assert_frame_equal(part, full.iloc[:k])


def test_levels_none_computes_oi_levels_with_the_options():
    candles = sample_candles(500, timeframe="5m", seed=4)
    opts = {"ma_length": 15, "leverages": (100, 20), "mmr": 0.004, "thresholds": (1.1, 2.0)}
    ours = indicator.features(candles, **opts)
    levels = indicator.oi_levels(candles, **opts)
    pd.testing.assert_frame_equal(ours, indicator.features(candles, levels))
    assert [c for c in ours.columns if c.startswith("long_hit_")] == [
        "long_hit_20x", "long_hit_100x"]


# --- causality: truncation ------------------------------------------------------------


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**16), ks=st.lists(st.integers(1, 400), min_size=1, max_size=6),
       ma_length=st.integers(2, 30))
def test_first_k_bars_equal_the_first_k_rows(seed, ks, ma_length):
    """Features never look ahead: on the first k bars (levels recomputed there, so an end
    after k reads NaT) they equal the first k rows of the full frame."""
    candles = sample_candles(400, timeframe="1m", seed=seed)
    full = indicator.features(candles, ma_length=ma_length)
    for k in ks:
        part = indicator.features(candles.iloc[:k], ma_length=ma_length)
        pd.testing.assert_frame_equal(part, full.iloc[:k])


# --- arbitrary levels frames ----------------------------------------------------------


@st.composite
def market_and_levels(draw):
    """Any valid levels frame on any index: lines may start before the first bar, end
    between bars or after the last one, sit exactly on a within-x threshold, or cross the
    close (nothing ties them to the candles)."""
    n = draw(st.integers(1, 90))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    gaps = rng.choice([1, 1, 1, 2, 5], n) if draw(st.booleans()) else np.ones(n, int)
    base = pd.Timestamp("2025-03-01", tz="UTC")
    index = base + pd.to_timedelta(np.cumsum(gaps), unit="min")
    close = np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.01, n))), 2)
    candles = pd.DataFrame({"open": close, "high": close * 1.001, "low": close * 0.999,
                            "close": close, "volume": 1.0, "open_interest": 1.0},
                           index=index.rename("time"))
    m = draw(st.integers(0, 120))
    span = int(np.cumsum(gaps)[-1]) + 4
    start_min = rng.integers(-3, span, m)
    life = rng.choice([1, 1, 2, 3, 7, 30, 1000], m)
    end_min = start_min + life
    side = rng.choice(["long", "short"], m)
    anchor = close[rng.integers(0, n, m)]
    x = rng.choice(WITHIN, m)
    ties = np.where(side == "long", anchor * (1 - x), anchor * (1 + x))
    price = np.where(rng.random(m) < 0.3, ties, np.round(anchor * rng.uniform(0.9, 1.1, m), 2))
    levels = pd.DataFrame({
        "start": base + pd.to_timedelta(start_min, unit="min"),
        "end": (base + pd.to_timedelta(end_min, unit="min")).where(rng.random(m) < 0.8),
        "side": side,
        "leverage": rng.choice([5, 10, 25, 50, 100], m),
        "price": price,
        "entry": price,
        "tier": 1,
        "oi_delta": 1.0,
    })
    return candles, levels


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(market_and_levels(), st.sampled_from(["sweep", (4096, 4), (8, 4), (4, 1), (16, 16)]))
def test_any_levels_frame_matches_reference(data, sizes):
    candles, levels = data
    with pytest.MonkeyPatch.context() as patch:
        use_numpy(patch, sizes)
        assert_matches_reference(candles, levels)


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 200), st.integers(0, 250), st.integers(0, 2**32 - 1),
       st.sampled_from([(4096, 4), (16, 4), (8, 8), (2, 1)]))
def test_count_beyond_matches_brute_force(n, m, seed, sizes):
    rng = np.random.default_rng(seed)
    s = rng.integers(0, n, m)
    e = np.minimum(s + rng.choice([1, 2, 5, 40, 10**6], m), n)
    price = rng.choice(np.arange(90.0, 110.0, 0.5), m)
    thr = rng.choice(np.arange(88.0, 112.0, 0.5), (n, 3))
    old = _features._COARSE, _features._FINE
    _features._COARSE, _features._FINE = sizes
    try:
        got = _features._count_beyond(s, e, price, thr)
    finally:
        _features._COARSE, _features._FINE = old
    t = np.arange(n)[:, None, None]
    live = (s[None, :, None] <= t) & (t < e[None, :, None])
    want = (live & (price[None, :, None] >= thr[:, None, :])).sum(axis=1)
    np.testing.assert_array_equal(got, want)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 200), st.integers(0, 250), st.integers(0, 2**32 - 1), st.booleans())
def test_sweep_matches_brute_force(n, m, seed, negative):
    """The compiled sweep against a direct count: prices and thresholds on one coarse grid
    (ties), lines of every life from one bar to never ending, negated prices as the short
    side passes them."""
    rng = np.random.default_rng(seed)
    s = rng.integers(0, n, m)
    e = np.minimum(s + rng.choice([1, 2, 5, 40, 10**6], m), n)
    price = rng.choice(np.arange(90.0, 110.0, 0.5), m)
    base = rng.choice(np.arange(88.0, 112.0, 0.5), n)
    factors = np.array([1.0, 0.99, 0.98, 0.95, 1.05])
    if negative:
        price, base, factors = -price, -base, 2.0 - factors
    got = _sweep.count_beyond(s, e, price, base, factors)
    thr = base[:, None] * factors[None, :]
    t = np.arange(n)[:, None, None]
    live = (s[None, :, None] <= t) & (t < e[None, :, None])
    want = (live & (price[None, :, None] >= thr[:, None, :])).sum(axis=1)
    np.testing.assert_array_equal(got.T, want)


def test_sweep_refuses_what_it_cannot_count():
    rng = np.random.default_rng(3)
    base = rng.choice([99.0, 100.0, 101.0], 50)
    price = rng.choice(np.arange(97.0, 103.0, 0.5), 2)
    factors = np.array([0.99, 1.0])
    s, e = np.array([0, 10]), np.array([5, 50])
    with pytest.raises(ValueError, match="positive"):
        _sweep.count_beyond(s, e, price, base, np.array([1.0, -0.5]))
    for bad_s, bad_e in ((-1, 3), (4, 4), (2, 51)):  # the kernel must never index out of range
        with pytest.raises(ValueError, match=rf"line 1 spans bars \[{bad_s}, {bad_e}\)"):
            _sweep.count_beyond(np.array([0, bad_s]), np.array([1, bad_e]), price, base,
                                factors)


def test_sweep_stays_in_bounds(tmp_path):
    """The kernel compiled with numba's bounds checks (a fresh cache, so it recompiles) on
    edge cases: no lines, one bar, lines that never end, lines on the last bar."""
    code = """
import numpy as np
from liqlevels.indicator import _sweep
rng = np.random.default_rng(0)
for n, m in ((1, 0), (1, 3), (5, 0), (5, 9), (300, 400)):
    s = rng.integers(0, n, m)
    e = np.minimum(s + rng.choice([1, 2, 10**6], m), n)
    price = rng.choice(np.arange(95.0, 105.0), m)
    base = rng.choice(np.arange(94.0, 106.0), n)
    got = _sweep.count_beyond(s, e, price, base, np.array([1.0, 0.98]))
    t = np.arange(n)[:, None]
    live = (s <= t) & (t < e)
    want = [(live & (price >= base[:, None] * f)).sum(axis=1) for f in (1.0, 0.98)]
    assert np.array_equal(got, np.array(want)), (n, m)
print("ok")
"""
    env = {**os.environ, "NUMBA_BOUNDSCHECK": "1", "NUMBA_CACHE_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]


def _touched_lines(rng, n, m):
    """A random walk of lows and lines ended at their first touch, as oi_levels ends them."""
    kill = np.round(100 + np.cumsum(rng.choice([-0.5, 0.0, 0.5], n)), 1)
    s = rng.integers(0, n, m)
    price = np.round(kill[s] + rng.choice(np.arange(-4.0, 1.5, 0.5), m), 1)
    e = np.full(m, n)
    for i in range(m):
        touch = np.flatnonzero(kill[s[i] + 1 :] <= price[i])
        if touch.size:
            e[i] = s[i] + 1 + touch[0]
    return kill, s, e, price


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 200), st.integers(0, 250), st.integers(0, 2**32 - 1),
       st.sampled_from([(4096, 8), (16, 4), (8, 8), (2, 1), (32, 2)]))
def test_count_for_lines_ended_by_price_matches_brute_force(n, m, seed, sizes):
    """The stack-ordered count (lines ended at their first touch) against a direct count,
    with prices on a coarse grid so lines tie with thresholds and kills."""
    rng = np.random.default_rng(seed)
    kill, s, e, price = _touched_lines(rng, n, m)
    live = s < e
    s, e, price = s[live], e[live], price[live]
    assert _within.ends_at_first_touch(s, e, price, kill)
    base = np.round(kill + rng.choice([0.0, 0.5, 1.0], n), 1)
    factors = np.array([1.0, 0.99, 0.98, 0.95])
    old = _within.COARSE, _within.FINE
    _within.COARSE, _within.FINE = sizes
    try:
        got = _within.count_beyond_touched(s, e, price, base, factors, kill).T
    finally:
        _within.COARSE, _within.FINE = old
    thr = base[:, None] * factors[None, :]
    t = np.arange(n)[:, None, None]
    live = (s[None, :, None] <= t) & (t < e[None, :, None])
    want = (live & (price[None, :, None] >= thr[:, None, :])).sum(axis=1)
    np.testing.assert_array_equal(got, want)


def test_the_first_touch_guard_spots_ends_that_are_not_touches():
    kill = np.array([10.0, 9.0, 8.0, 7.0, 6.0])
    s, price = np.array([0, 0]), np.array([8.0, 5.0])
    assert _within.ends_at_first_touch(s, np.array([2, 5]), price, kill)
    assert not _within.ends_at_first_touch(s, np.array([3, 5]), price, kill)  # touched at 2
    assert not _within.ends_at_first_touch(s, np.array([1, 5]), price, kill)  # 9 > 8 at 1
    assert not _within.ends_at_first_touch(s, np.array([2, 4]), price, kill)  # never touched


def refuse(*args, **kwargs):
    raise AssertionError("this count must not run")


def test_the_sweep_counts_every_frame_when_numba_loads(monkeypatch):
    candles = sample_candles(600, timeframe="1m", seed=5)
    levels = indicator.oi_levels(candles, ma_length=20, direction="both")
    monkeypatch.setattr(_features, "_count_beyond", refuse)
    monkeypatch.setattr(_within, "count_beyond_touched", refuse)
    assert_matches_reference(candles, levels)
    assert_matches_reference(candles, levels.assign(end=levels["end"] + pd.Timedelta(minutes=1)))


def test_without_numba_oi_levels_take_the_stack_count_and_other_frames_the_general_one(
    monkeypatch,
):
    candles = sample_candles(600, timeframe="1m", seed=5)
    levels = indicator.oi_levels(candles, ma_length=20, direction="both")
    expected = indicator.features(candles, levels)
    monkeypatch.setattr(_sweep, "AVAILABLE", False)
    monkeypatch.setattr(_sweep, "count_beyond", refuse)
    with monkeypatch.context() as patch:
        patch.setattr(_features, "_count_beyond", refuse)
        pd.testing.assert_frame_equal(indicator.features(candles, levels), expected)
    # Ends moved off the touching bar: the stack order no longer holds.
    moved = levels.assign(end=levels["end"] + pd.Timedelta(minutes=1))
    with monkeypatch.context() as patch:
        patch.setattr(_within, "count_beyond_touched", refuse)
        assert_matches_reference(candles, moved)


# --- semantics by hand ----------------------------------------------------------------


def bars(closes, start="2025-01-01", freq="1h"):
    closes = np.asarray(closes, dtype=float)
    index = pd.date_range(start, periods=len(closes), freq=freq, tz="UTC", name="time")
    return pd.DataFrame({"open": closes, "high": closes, "low": closes, "close": closes,
                         "volume": 1.0, "open_interest": 1.0}, index=index)


def lines(*rows):
    frame = pd.DataFrame(rows, columns=["start", "end", "side", "leverage", "price"])
    frame["start"] = pd.to_datetime(frame["start"], utc=True)
    frame["end"] = pd.to_datetime(frame["end"], utc=True)
    return frame.assign(entry=frame["price"], tier=1, oi_delta=1.0)


def test_a_line_is_live_from_its_start_bar_until_the_bar_that_hits_it():
    candles = bars([100, 100, 100, 100, 100])
    levels = lines(
        ("2025-01-01 01:00", "2025-01-01 03:00", "long", 10, 99.5),
        ("2025-01-01 00:00", None, "long", 5, 98.0),
        ("2025-01-01 02:00", "2025-01-01 03:00", "short", 50, 100.8),
    )
    f = indicator.features(candles, levels)
    assert f["long_active"].tolist() == [1, 2, 2, 1, 1]
    assert f["short_active"].tolist() == [0, 0, 1, 0, 0]
    assert f["nearest_long"].tolist() == [98.0, 99.5, 99.5, 98.0, 98.0]
    assert f["long_dist"].tolist() == pytest.approx([0.02, 0.005, 0.005, 0.02, 0.02])
    assert f["nearest_short"].isna().tolist() == [True, True, False, True, True]
    assert f["short_dist"].iloc[2] == pytest.approx(0.008)
    assert f["long_hit"].tolist() == [0, 0, 0, 1, 0]
    assert f["long_hit_10x"].tolist() == [0, 0, 0, 1, 0]
    assert f["long_hit_5x"].sum() == 0
    assert f["short_hit_50x"].tolist() == [0, 0, 0, 1, 0]
    assert f["long_within_1pct"].tolist() == [0, 1, 1, 0, 0]
    assert f["long_within_2pct"].tolist() == [1, 2, 2, 1, 1]
    assert f["short_within_1pct"].tolist() == [0, 0, 1, 0, 0]


def test_no_lines_gives_zero_counts_and_nan_distances():
    candles = bars([100, 101])
    f = indicator.features(candles, lines())
    assert (f.filter(like="_active") == 0).all().all()
    assert (f.filter(like="_within_") == 0).all().all()
    assert f[["nearest_long", "nearest_short", "long_dist", "short_dist"]].isna().all().all()
    assert not any("_hit_" in c for c in f.columns)


def test_columns_dtypes_and_order():
    candles = sample_candles(300, timeframe="1h", seed=2)
    f = indicator.features(candles, ma_length=10, within=(0.005, 0.03), leverages=(10, 3))
    assert list(f.columns) == [
        "long_active", "short_active", "nearest_long", "nearest_short", "long_dist",
        "short_dist", "long_hit", "short_hit", "long_within_0.5pct", "long_within_3pct",
        "short_within_0.5pct", "short_within_3pct", "long_hit_3x", "long_hit_10x",
        "short_hit_3x", "short_hit_10x",
    ]
    assert f.index.equals(candles.index)
    for col in f.columns:
        kind = "f" if col.startswith(("nearest", "long_dist", "short_dist")) else "i"
        assert f[col].dtype.kind == kind, col
    assert "long_within_1pct" not in indicator.features(candles, within=())


def test_empty_candles():
    f = indicator.features(sample_candles(50).iloc[:0])
    assert len(f) == 0 and "long_within_5pct" in f.columns


# --- errors ---------------------------------------------------------------------------


def test_misspelt_option_gets_a_did_you_mean():
    with pytest.raises(TypeError, match="Did you mean 'ma_length'"):
        indicator.features(sample_candles(50), ma_lenght=10)


def test_options_with_levels_are_refused():
    candles = sample_candles(50)
    with pytest.raises(ValueError, match="only apply when levels is None"):
        indicator.features(candles, indicator.oi_levels(candles), ma_length=5)


@pytest.mark.parametrize("within, exc", [((0.0,), ValueError), ((1.5,), ValueError),
                                         ("0.01", TypeError), ((0.01, 0.01), ValueError),
                                         ((True,), TypeError), ((0.01, np.nan), ValueError),
                                         (0.01, TypeError)])
def test_bad_within(within, exc):
    with pytest.raises(exc, match="within"):
        indicator.features(sample_candles(50), within=within)


def test_bad_levels_frames_name_the_column_and_row():
    candles = bars([100, 100, 100])
    good = lines(("2025-01-01 00:00", None, "long", 10, 99.0),
                 ("2025-01-01 00:00", "2025-01-01 01:00", "short", 10, 101.0))
    with pytest.raises(TypeError, match="levels must be the DataFrame"):
        indicator.features(candles, good.to_dict())
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['price'\]"):
        indicator.features(candles, good.drop(columns="price"))
    naive = good.assign(start=good["start"].dt.tz_localize(None))
    with pytest.raises(TypeError, match="tz_localize"):
        indicator.features(candles, naive)
    with pytest.raises(ValueError, match=r"'side'.*'sideways' at row 1"):
        indicator.features(candles, good.assign(side=["long", "sideways"]))
    backwards = good.assign(end=pd.to_datetime([None, "2025-01-01 00:00"], utc=True))
    with pytest.raises(ValueError, match=r"not after.*at row 1"):
        indicator.features(candles, backwards)
    with pytest.raises(ValueError, match=r"'price'.*at row 0"):
        indicator.features(candles, good.assign(price=[-1.0, 101.0]))
    with pytest.raises(ValueError, match=r"'leverage'.*at row 1"):
        indicator.features(candles, good.assign(leverage=[10, 2.5]))
    with pytest.raises(ValueError, match=r"'leverage'.*1 at row 1"):  # integer column
        indicator.features(candles, good.assign(leverage=[10, 1]))
    with pytest.raises(ValueError, match=r"'leverage'.*at row 1"):  # nullable, missing
        indicator.features(candles, good.assign(leverage=pd.array([10, None], dtype="Int64")))
    with pytest.raises(TypeError, match=r"'leverage'.*numeric"):
        indicator.features(candles, good.assign(leverage=["10", "x"]))
    with pytest.raises(ValueError, match=r"'side'.*at row 0"):  # a missing side
        indicator.features(candles, good.assign(side=[None, "short"]))
    with pytest.raises(ValueError, match=r"\['start'\] is NaT at row 0"):
        indicator.features(candles, good.assign(start=pd.to_datetime([None, "2025-01-01"],
                                                                      utc=True)))


def test_bad_candles_are_refused():
    with pytest.raises(ValueError, match="close"):
        indicator.features(sample_candles(20).drop(columns="close"))


# --- the documentation's examples -----------------------------------------------------


def _doc_blocks() -> list[str]:
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "features.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 4
    return [b.replace("5_000", "1_500").replace("k = 3_000", "k = 900") for b in blocks]


def test_docs_pandas_examples_run():
    """docs/features.md's code runs as written, on fewer bars."""
    namespace: dict = {}
    for block in _doc_blocks()[:3]:
        exec(block, namespace)
    assert namespace["feats"].shape[0] == 1_500
    assert np.isfinite(namespace["equity"].iloc[-1])


def test_docs_backtesting_example_runs():
    pytest.importorskip("backtesting", reason="backtesting.py (the optional extra) is absent")
    blocks = _doc_blocks()
    namespace: dict = {}
    exec(blocks[0], namespace)
    exec(blocks[3], namespace)
    assert namespace["stats"]["# Trades"] > 0


def test_threaded_sides_equal_the_serial_path(monkeypatch):
    from liqlevels.indicator import _features

    candles = sample_candles(1500, timeframe="1h", seed=33)
    serial = indicator.features(candles)
    monkeypatch.setattr(_features, "_THREAD_MIN_LINES", 0)
    pd.testing.assert_frame_equal(serial, indicator.features(candles))
