"""indicator.features: held against a plain bar-by-bar reading of docs/method.md section 2."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_indicator import tie_candles

from liqlevels import indicator
from liqlevels.feeds import sample_candles
from liqlevels.indicator import _sweep

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


KERNELS = ("compiled", "python")


@pytest.fixture(params=KERNELS)
def counts(request, monkeypatch):
    """Which within-x kernels run: compiled by numba, or the same code as plain Python (what
    runs without numba; slow, so the inputs stay small)."""
    use_kernels(monkeypatch, request.param)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", _sweep.NumbaMissingWarning)
        yield request.param


def use_kernels(monkeypatch, which):
    """Run the within-x counts compiled ("compiled") or as plain Python ("python")."""
    if which == "compiled":
        assert _sweep.kernels().compiled, "numba is a dependency; the kernels must compile"
    else:
        monkeypatch.setattr(_sweep, "kernels", lambda: _sweep.PYTHON)


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
@given(market_and_levels(), st.sampled_from(KERNELS))
def test_any_levels_frame_matches_reference(data, which):
    candles, levels = data
    with pytest.MonkeyPatch.context() as patch, warnings.catch_warnings():
        warnings.simplefilter("ignore", _sweep.NumbaMissingWarning)
        use_kernels(patch, which)
        assert_matches_reference(candles, levels)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 200), st.integers(0, 250), st.integers(0, 2**32 - 1), st.booleans(),
       st.sampled_from(KERNELS))
def test_sweep_matches_brute_force(n, m, seed, negative, which):
    """The sweep, compiled and as plain Python, against a direct count: prices and
    thresholds on one coarse grid (ties), lines of every life from one bar to never ending,
    negated prices as the short side passes them."""
    rng = np.random.default_rng(seed)
    s = rng.integers(0, n, m)
    e = np.minimum(s + rng.choice([1, 2, 5, 40, 10**6], m), n)
    price = rng.choice(np.arange(90.0, 110.0, 0.5), m)
    base = rng.choice(np.arange(88.0, 112.0, 0.5), n)
    factors = np.array([1.0, 0.99, 0.98, 0.95, 1.05])
    if negative:
        price, base, factors = -price, -base, 2.0 - factors
    with pytest.MonkeyPatch.context() as patch:
        use_kernels(patch, which)
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
        with pytest.raises(ValueError, match=rf"line 1 spans bars \[{bad_s}, {bad_e}\)"):
            _sweep.live_columns(np.array([0, bad_s]), np.array([1, bad_e]), price, base, 1.0,
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


def test_the_kernels_compile_when_numba_loads():
    candles = sample_candles(300, timeframe="1m", seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", _sweep.NumbaMissingWarning)
        indicator.features(candles)
    assert _sweep.kernels().compiled
    assert _sweep.kernels().sweep is not _sweep.PYTHON.sweep


def test_without_numba_the_same_kernels_run_uncompiled_with_a_warning(monkeypatch):
    candles = sample_candles(600, timeframe="1m", seed=5)
    levels = indicator.oi_levels(candles, ma_length=20, direction="both")
    expected = indicator.features(candles, levels)
    monkeypatch.setattr(_sweep, "kernels", lambda: _sweep.PYTHON)
    with pytest.warns(_sweep.NumbaMissingWarning, match="plain Python") as caught:
        got = indicator.features(candles, levels)  # the warning points at this line
    pd.testing.assert_frame_equal(got, expected)
    assert issubclass(_sweep.NumbaMissingWarning, indicator.LiqLevelsWarning)
    assert [w.filename for w in caught] == [__file__]
    with warnings.catch_warnings():
        warnings.simplefilter("error", _sweep.NumbaMissingWarning)
        indicator.features(candles, levels, within=())  # no counts, no warning


def test_a_process_without_numba_warns_and_counts_the_same(tmp_path):
    """numba made unimportable (sys.modules["numba"] = None) in a fresh process: the kernels
    load as plain Python, features warns once at the caller's line, and the frame equals
    the compiled one."""
    script = tmp_path / "no_numba.py"
    script.write_text(f"""
import sys
import warnings
sys.modules["numba"] = None
from liqlevels import indicator
from liqlevels.feeds import sample_candles
candles = sample_candles(500, timeframe="1m", seed=9)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    line = sys._getframe().f_lineno + 1
    frame = indicator.features(candles, ma_length=20, direction="both")
kinds = [(w.category.__name__, w.filename, w.lineno) for w in caught]
assert kinds == [("NumbaMissingWarning", __file__, line)], kinds
frame.to_pickle({str(tmp_path / "frame.pkl")!r})
""")
    done = subprocess.run([sys.executable, "-P", str(script)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    expected = indicator.features(sample_candles(500, timeframe="1m", seed=9), ma_length=20,
                                  direction="both")
    pd.testing.assert_frame_equal(pd.read_pickle(tmp_path / "frame.pkl"), expected)


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
    levels = indicator.oi_levels(candles)
    with pytest.raises(ValueError, match=r"options \('ma_length',\) only apply when levels"):
        indicator.features(candles, levels, ma_length=5)
    with pytest.raises(ValueError, match="options in options= only apply when levels is None"):
        indicator.features(candles, levels, options=indicator.OIOptions())


def test_features_takes_the_options_as_typed_keywords_or_one_object():
    """The six options are explicit keyword-only parameters with oi_levels' defaults (no
    **options), or one OIOptions; both at once is refused."""
    params = inspect.signature(indicator.features).parameters
    defaults = indicator.OIOptions().as_dict()
    for name, default in defaults.items():
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY
        assert params[name].default == default, name
    assert not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    candles = sample_candles(300, timeframe="1h", seed=8)
    opts = indicator.OIOptions(ma_length=12, leverages=(50, 10), direction="both")
    pd.testing.assert_frame_equal(indicator.features(candles, options=opts),
                                  indicator.features(candles, **opts.as_dict()))
    with pytest.raises(TypeError, match="got options= and ma_length="):
        indicator.features(candles, options=opts, ma_length=30)
    with pytest.raises(ValueError, match="ma_length"):  # checked once, by OIOptions
        indicator.features(candles, ma_length=0)


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
    with pytest.raises(TypeError, match="levels must be a pandas DataFrame"):
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


# --- the live sweep (lines that end top first) against the general path and brute force ---


def general_path(monkeypatch):
    """Make features count the general way: today's Fenwick sweep over ranks, the
    stabbing maximum and the bincounts (what any other levels frame takes)."""
    from liqlevels.indicator import _features

    monkeypatch.setattr(_sweep, "live_columns", lambda *args: None)
    monkeypatch.setattr(_features, "_side_features", _general_side_features)


def _general_side_features(start, end, price, lev, index_ns, close, within, leverages, short,
                           close_order=None):
    from liqlevels.indicator import _features as f

    n = close.size
    s, e, hit = f._bar_positions(start, end, index_ns)
    name, sign = ("short", -1.0) if short else ("long", 1.0)
    live = s < e
    s, e, price = s[live], e[live], price[live]
    cols = f._nearest_columns(s, e, price, close, n, name, sign)
    cols[f"{name}_hit"] = f._hits(hit, n)
    counts = _sweep.count_beyond(s, e, sign * price, sign * close, 1.0 - sign * np.asarray(within))
    for j, x in enumerate(within):
        cols[f"{name}_within_{f._pct(x)}"] = counts[j]
    for lv, c in zip(leverages, f._hits_by_leverage(hit, lev, leverages, n), strict=True):
        cols[f"{name}_hit_{lv}x"] = c
    count = _sweep.int_dtype(len(start))  # the counts come out int64 here
    return {k: c.astype(count) if c.dtype.kind == "i" else c for k, c in cols.items()}


@pytest.mark.parametrize("n", [1, 2, 40, 1500, 30_000])
@pytest.mark.parametrize("kind", ["ties", "gappy", "1h"])
@pytest.mark.parametrize("epoch", [_sweep.EPOCH, 997])
def test_live_sweep_equals_the_general_path(monkeypatch, n, kind, epoch):
    """Identity, bit for bit, of every column: the one sweep per side against the general
    counts, on oi_levels frames with ties (prices on a grid), missing bars and mmr, the bars
    swept in one epoch or in epochs of 997 bars (as 10M bars are in epochs of 2**20)."""
    monkeypatch.setattr(_sweep, "EPOCH", epoch)
    if kind == "1h":
        candles = sample_candles(n, timeframe="1h", seed=n)
    else:
        candles = tie_candles(n, seed=n, gaps=kind == "gappy")
    levels = indicator.oi_levels(candles, ma_length=5, direction="both", mmr=0.004)
    within = (0.005, 0.01, 0.02, 0.05, 0.3)
    fast = indicator.features(candles, levels, within=within)
    with pytest.MonkeyPatch.context() as patch:
        general_path(patch)
        general = indicator.features(candles, levels, within=within)
    pd.testing.assert_frame_equal(fast, general, check_exact=True)
    if n <= 1500:
        assert_matches_reference(candles, levels, within)
    if n >= 1500:
        assert fast["long_within_0.5pct"].max() > 0 and fast["short_hit"].sum() > 0


@st.composite
def first_touch_lines(draw):
    """Lines ending at their first touch of a random path on a coarse grid (ties), started
    on any bar, some priced above their own bar (touched on it, which does not count)."""
    n = draw(st.integers(1, 150))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    low = np.round(100 + rng.normal(0, 1, n).cumsum() * 2) / 2
    m = draw(st.integers(0, 200))
    s = np.sort(rng.integers(0, n, m))
    price = np.round(low[s] * 2) / 2 + rng.choice([-3.0, -1.0, -0.5, 0.0, 0.5], m)
    e = np.array([next((t for t in range(a + 1, n) if low[t] <= p), n)
                  for a, p in zip(s, price, strict=True)], dtype=np.int64)
    close = np.round((low + np.abs(rng.normal(0, 1, n))) * 2) / 2
    return s, e, price, close


@settings(max_examples=200, deadline=None)
@given(first_touch_lines(), st.booleans(), st.sampled_from(KERNELS),
       st.sampled_from([1, 2, 7, 64, _sweep.EPOCH]))
def test_live_columns_match_brute_force(data, short, which, epoch):
    """The sweep, compiled and as plain Python, against a direct count: long lines as they
    are, short lines as their mirror image (negated prices, the close negated in the
    thresholds), thresholds on the same grid as the prices (ties); the bars swept in epochs
    of 1 to 64 bars (lines carried over the cuts, started in them, ending on them) or one."""
    s, e, price, close = data
    sign = -1.0 if short else 1.0
    if short:
        price, close = 300.0 - price, 300.0 - close
    factors = 1.0 - sign * np.array([0.0, 0.01, 0.02, 0.05])
    with pytest.MonkeyPatch.context() as patch:
        use_kernels(patch, which)
        patch.setattr(_sweep, "EPOCH", epoch)
        got = _sweep.live_columns(s, e, price, close, sign, factors)
    assert got is not None, "lines that end at their first touch end top first"
    n = close.size
    for t in range(n):
        live = [p for a, b, p in zip(s, e, price, strict=True) if a <= t < b]
        assert got.active[t] == len(live)
        near = (min(live) if short else max(live)) if live else np.nan
        np.testing.assert_equal(got.nearest[t], near)
        np.testing.assert_equal(got.dist[t], sign * (close[t] - near) / close[t])
        for j, f in enumerate(factors):
            thr = sign * close[t] * f
            assert got.counts[j, t] == sum(sign * p >= thr for p in live)


def test_live_columns_refuse_lines_that_do_not_end_top_first():
    """A higher line outliving a lower one that ends: not first-touch lines, so the sweep
    says so and features takes the general path (still the reference's numbers)."""
    s, e = np.array([0, 0]), np.array([5, 3])
    price = np.array([99.0, 98.0])  # the lower line ends first
    close = np.full(6, 100.0)
    assert _sweep.live_columns(s, e, price, close, 1.0, np.array([0.99])) is None
    index = pd.date_range("2025-01-01", periods=6, freq="1min", tz="UTC")
    candles = pd.DataFrame({"open": close, "high": close, "low": close, "close": close,
                            "volume": 1.0, "open_interest": 1.0}, index=index)
    levels = pd.DataFrame({"start": index[[0, 0]], "end": index[[5, 3]], "side": "long",
                           "leverage": [50, 100], "price": price, "entry": 100.0, "tier": 1,
                           "oi_delta": 1.0})
    ours = assert_matches_reference(candles, levels)
    assert ours["long_active"].tolist() == [2, 2, 2, 1, 1, 0]
    assert ours["long_within_1pct"].tolist() == [1, 1, 1, 1, 1, 0]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(market_and_levels(), st.sampled_from(KERNELS))
def test_positions_and_hits_match_numpy(data, which):
    """Bar positions and hit counts in one compiled pass against the vectorised ones, on
    any levels frame (starts before the first bar, ends between bars or after the last)."""
    from liqlevels.indicator import _features as f
    from liqlevels.indicator._frames import check_levels

    candles, levels = data
    lines = check_levels(levels, ("start", "end", "leverage"))
    index_ns = candles.index.as_unit("ns").asi8
    with pytest.MonkeyPatch.context() as patch:
        use_kernels(patch, which)
        got = _sweep.bar_positions(lines.start, lines.end, index_ns)
        want = f._bar_positions(lines.start, lines.end, index_ns)
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)
        leverages = sorted(set(lines.leverage.tolist()))
        hits, by_leverage = _sweep.hit_columns(got[2], lines.leverage, np.array(leverages),
                                               len(candles))
    np.testing.assert_array_equal(hits, f._hits(want[2], len(candles)))
    want_by_leverage = f._hits_by_leverage(want[2], lines.leverage, leverages, len(candles))
    np.testing.assert_array_equal(
        by_leverage, np.array(want_by_leverage).reshape(len(leverages), len(candles)))


def test_counts_are_int32_on_every_path(monkeypatch):
    """One dtype for the counts whichever path computes them: the sweep, the general
    counts (``within=()`` skips the kernels) and plain Python."""
    candles = tie_candles(400, seed=3)
    levels = indicator.oi_levels(candles, ma_length=5, direction="both")
    frames = [indicator.features(candles, levels), indicator.features(candles, levels, within=())]
    monkeypatch.setattr(_sweep, "kernels", lambda: _sweep.PYTHON)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", _sweep.NumbaMissingWarning)
        frames.append(indicator.features(candles, levels))
    for frame in frames:
        floats = {"nearest_long", "nearest_short", "long_dist", "short_dist"}
        assert {c: str(t) for c, t in frame.dtypes.items() if c not in floats} == dict.fromkeys(
            [c for c in frame.columns if c not in floats], "int32")
    assert frames[0]["long_active"].max() > 0
    assert _sweep.int_dtype(2**31 - 1) is np.int32 and _sweep.int_dtype(2**31) is np.int64
