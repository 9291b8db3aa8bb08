"""The OI-delta engine and its density, held against the plain loops of reference.py."""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest
import reference
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from liqlevels import indicator
from liqlevels.feeds import sample_candles
from liqlevels.indicator._search import first_at_or_below
from liqlevels.vocab import DIRECTIONS, MA_TYPES


def gappy_sample(n=1500, seed=3, nan_share=0.02, drop_share=0.03) -> pd.DataFrame:
    """Synthetic candles with missing bars (rows absent) and NaN open interest."""
    frame = sample_candles(n, timeframe="1h", seed=seed, burst_rate=0.03)
    rng = np.random.default_rng(seed)
    frame.loc[rng.random(n) < nan_share, "open_interest"] = np.nan
    return frame[rng.random(n) >= drop_share]


def assert_levels_equal(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    assert list(ours.columns) == list(indicator.LEVEL_COLUMNS)
    assert len(ours) == len(theirs)
    if len(ours) == 0:
        return
    for col in ("start", "end"):
        a = ours[col].to_numpy(dtype="datetime64[ns]")
        b = pd.to_datetime(theirs[col], utc=True).to_numpy(dtype="datetime64[ns]")
        np.testing.assert_array_equal(a, b, err_msg=col)
    assert ours["side"].tolist() == theirs["side"].tolist()
    assert ours["leverage"].tolist() == theirs["leverage"].tolist()
    assert ours["tier"].tolist() == theirs["tier"].tolist()
    for col in ("price", "entry", "oi_delta"):
        assert_allclose(ours[col].to_numpy(), theirs[col].to_numpy(float), rtol=1e-12)


# --- the reference on synthetic and real data -------------------------------------------

@pytest.mark.parametrize("ma_type", MA_TYPES)
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_matches_reference_on_gappy_synthetic(ma_type, direction):
    candles = gappy_sample()
    ours = indicator.oi_levels(candles, ma_type=ma_type, direction=direction)
    theirs = reference.levels(candles, ma_type=ma_type, direction=direction)
    assert len(ours) > 100
    assert_levels_equal(ours, theirs)


@pytest.mark.parametrize(
    "options",
    [
        {"ma_length": 1},
        {"ma_length": 7, "thresholds": (1.05,)},
        {"ma_length": 20, "thresholds": (1.5, 2.5, 4.0, 8.0), "leverages": (100, 3, 20)},
        {"leverages": (2, 125), "mmr": 0.004},
        {"ma_type": "ema", "ma_length": 5, "mmr": 0.0099, "leverages": (50, 10)},
    ],
)
def test_matches_reference_with_custom_options(options):
    candles = gappy_sample(n=800, seed=11)
    ours = indicator.oi_levels(candles, **options)
    assert_levels_equal(ours, reference.levels(candles, **options))


@pytest.mark.parametrize("ma_type", MA_TYPES)
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_matches_reference_on_real_okx_1h(okx_1h, ma_type, direction):
    ours = indicator.oi_levels(okx_1h, ma_type=ma_type, direction=direction)
    theirs = reference.levels(okx_1h, ma_type=ma_type, direction=direction)
    assert len(ours) > 50
    assert_levels_equal(ours, theirs)


def test_real_okx_1h_density_matches_reference(okx_1h):
    levels = indicator.oi_levels(okx_1h, direction="both")
    for at in (None, okx_1h.index[300], okx_1h.index[-2]):
        for weight in ("count", "oi_delta"):
            ours = indicator.density(levels, at=at, bins=40, weight=weight)
            theirs = reference.density(levels, at=at, bins=40, weight=weight)
            assert len(ours) == len(theirs) > 0
            assert_allclose(ours.to_numpy(float), np.array(theirs, dtype=float), rtol=1e-12)


def test_signals_match_reference(okx_1h):
    for ma_type in MA_TYPES:
        sig = indicator.oi_signals(okx_1h, ma_type=ma_type, direction="both")
        delta, base, tier, trigger, entry = reference.signals(okx_1h, ma_type=ma_type,
                                                              direction="both")
        assert list(sig.columns) == list(indicator.SIGNAL_COLUMNS)
        assert_allclose(sig["oi_delta"], delta, rtol=1e-12, equal_nan=True)
        assert_allclose(sig["baseline"], base, rtol=1e-9, equal_nan=True)
        assert sig["tier"].tolist() == tier
        assert sig["trigger"].tolist() == trigger
        assert_allclose(sig["entry"], entry, rtol=1e-15)


# --- hand-made frames with known answers ----------------------------------------------

def frame(rows, start="2025-01-01", freq="1h"):
    """Candles from (open, high, low, close, open_interest) tuples; volume 1."""
    data = pd.DataFrame(rows, columns=["open", "high", "low", "close", "open_interest"],
                        dtype=float)
    data["volume"] = 1.0
    data.index = pd.date_range(start, periods=len(rows), freq=freq, tz="UTC")
    return data[list(indicator.CANDLE_COLUMNS)]


def test_a_wick_on_the_next_bar_ends_the_line_and_its_own_bar_never_does():
    # OI rises by 1 twice, then jumps by 5 on bar 3: the baseline includes the bar itself,
    # (1 + 5) / 2 = 3, and 5 > 1.2 * 3 but not 2 * 3: tier 1.
    rows = [(100, 101, 99, 100, 10), (100, 101, 99, 100, 11), (100, 101, 99, 100, 12),
            (100, 150, 50, 100, 17),  # trigger bar: its own wicks reach every line
            (100, 101, 89.9, 100, 17),  # touches the 10x long (90) but not the 5x (80)
            (100, 100, 100, 100, 17)]
    levels = indicator.oi_levels(frame(rows), ma_length=2, leverages=(5, 10))
    assert len(levels) == 4
    assert (levels["start"] == frame(rows).index[3]).all()
    assert (levels["tier"] == 1).all()
    by = {(r.side, r.leverage): r for r in levels.itertuples()}
    assert by[("long", 10)].price == pytest.approx(90.0)
    assert by[("long", 10)].end == frame(rows).index[4]
    assert pd.isna(by[("long", 5)].end)
    assert pd.isna(by[("short", 5)].end) and pd.isna(by[("short", 10)].end)
    assert levels["side"].tolist() == ["long", "short", "long", "short"]
    assert levels["leverage"].tolist() == [5, 5, 10, 10]


def test_a_touch_at_exactly_the_price_ends_the_line():
    # entry 64 and leverages 2 and 4 make every price exact in binary: 32, 96, 48, 80.
    rows = [(64, 64, 64, 64, 10), (64, 64, 64, 64, 11), (64, 64, 64, 64, 12),
            (64, 64, 64, 64, 20), (64, 80, 64, 64, 20), (64, 70, 48, 64, 20)]
    levels = indicator.oi_levels(frame(rows), ma_length=2, leverages=(2, 4))
    keys = zip(levels["side"], levels["leverage"], strict=True)
    ends = dict(zip(keys, levels["end"], strict=True))
    idx = frame(rows).index
    assert levels["price"].tolist() == [32.0, 96.0, 48.0, 80.0]
    assert ends[("short", 4)] == idx[4]  # high 80 == 64 * (1 + 1/4)
    assert ends[("long", 4)] == idx[5]  # low 48 == 64 * (1 - 1/4)
    assert pd.isna(ends[("long", 2)]) and pd.isna(ends[("short", 2)])


def test_flat_open_interest_never_triggers():
    candles = sample_candles(300, seed=1)
    candles["open_interest"] = 5000.0
    assert indicator.oi_levels(candles, direction="both", ma_length=5).empty
    sig = indicator.oi_signals(candles, ma_length=5)
    assert (sig["tier"] == 0).all() and not sig["trigger"].any()


def test_ema_restarts_after_a_nan():
    oi = [0, 1, 3, 4, 6, np.nan, 7, 8, 10, 11, 13]
    rows = [(100, 101, 99, 100, v) for v in oi]
    sig = indicator.oi_signals(frame(rows), ma_length=3, ma_type="ema")
    base = sig["baseline"].to_numpy()
    # |delta|: nan 1 2 1 2 nan nan 1 2 1 2 -> seeded at bar 3 by mean(1, 2, 1)
    assert np.isnan(base[:3]).all()
    assert base[3] == pytest.approx(4 / 3)
    assert base[4] == pytest.approx(0.5 * 2 + 0.5 * 4 / 3)
    # the NaN at bar 5 (and the NaN delta at 6) restart it: three fresh values again
    assert np.isnan(base[5:9]).all()
    assert base[9] == pytest.approx(4 / 3)
    assert base[10] == pytest.approx(0.5 * 2 + 0.5 * 4 / 3)


def test_missing_open_interest_gives_no_signal():
    candles = sample_candles(200, seed=5)
    candles["open_interest"] = np.nan
    assert indicator.oi_levels(candles, ma_length=3).empty


def test_empty_levels_have_the_spec_columns_and_dtypes():
    candles = sample_candles(10, seed=5)  # shorter than ma_length: no baseline
    levels = indicator.oi_levels(candles)
    assert levels.empty and list(levels.columns) == list(indicator.LEVEL_COLUMNS)
    assert str(levels["start"].dtype) == "datetime64[ns, UTC]"
    assert levels["leverage"].dtype == np.int64


def test_output_dtypes():
    levels = indicator.oi_levels(sample_candles(2000, seed=2))
    assert str(levels["start"].dtype) == "datetime64[ns, UTC]"
    assert str(levels["end"].dtype) == "datetime64[ns, UTC]"
    assert pd.api.types.is_string_dtype(levels["side"])
    assert levels["leverage"].dtype == np.int64 and levels["tier"].dtype == np.int64
    assert levels["price"].dtype == np.float64 and levels["oi_delta"].dtype == np.float64
    assert isinstance(levels["side"].iloc[0], str)


def test_microsecond_index_gives_nanosecond_output():
    candles = sample_candles(500, seed=2)
    candles.index = candles.index.as_unit("us")
    levels = indicator.oi_levels(candles)
    assert str(levels["start"].dtype) == "datetime64[ns, UTC]"
    assert levels["start"].iloc[0] in candles.index


# --- density --------------------------------------------------------------------------

def test_density_empty_and_one_bin():
    levels = indicator.oi_levels(sample_candles(2000, seed=2))
    gone = levels.assign(end=levels["start"] + pd.Timedelta(minutes=1))  # all ended
    empty = indicator.density(gone)
    assert empty.empty and list(empty.columns) == list(indicator.DENSITY_COLUMNS)
    one = levels.iloc[:1].assign(end=pd.NaT)
    out = indicator.density(one, bins=10)
    assert len(out) == 1
    assert out["price_low"].iloc[0] == out["price_high"].iloc[0] == one["price"].iloc[0]
    assert out[["long", "short"]].sum().sum() == 1


def test_density_top_edge_belongs_to_the_last_bin():
    t = pd.Timestamp("2025-01-01", tz="UTC")
    levels = pd.DataFrame({
        "start": [t] * 3, "end": [pd.NaT] * 3, "side": ["long", "short", "short"],
        "leverage": [5, 5, 10], "price": [10.0, 20.0, 15.0], "entry": [1.0] * 3,
        "tier": [1] * 3, "oi_delta": [1.0, -2.0, 3.0],
    })
    out = indicator.density(levels, bins=2)
    assert out["long"].tolist() == [1, 0] and out["short"].tolist() == [0, 2]
    weighted = indicator.density(levels, bins=2, weight="oi_delta")
    assert weighted["short"].tolist() == [0.0, 5.0]


def test_density_at_uses_the_spec_rule():
    levels = indicator.oi_levels(sample_candles(1500, seed=8))
    at = levels["end"].dropna().iloc[10]
    live = indicator.active_mask(levels, at)
    expect = (levels["start"] <= at) & (levels["end"].isna() | (levels["end"] > at))
    assert (live == expect.to_numpy()).all()
    assert indicator.density(levels, at=at)[["long", "short"]].to_numpy().sum() == live.sum()


# --- properties -------------------------------------------------------------------------

@st.composite
def candle_frames(draw):
    n = draw(st.integers(2, 70))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, draw(st.sampled_from([0.01, 0.05, 0.2])), n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.03, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.03, n)))
    oi = 1000 + np.cumsum(rng.choice([-3, -1, 0, 1, 2, 8, 25], n) * rng.random(n))
    oi[rng.random(n) < draw(st.sampled_from([0.0, 0.1]))] = np.nan
    keep = np.sort(rng.choice(10 * n, n, replace=False))
    index = pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(keep, unit="min")
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close,
                         "volume": rng.random(n) * 10, "open_interest": oi}, index=index)


options_strategy = st.fixed_dictionaries({
    "ma_length": st.integers(1, 8),
    "ma_type": st.sampled_from(MA_TYPES),
    "direction": st.sampled_from(DIRECTIONS),
    "leverages": st.sampled_from([(5, 10, 25, 50, 100), (2,), (100, 3)]),
})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(candle_frames(), options_strategy)
def test_properties_and_reference(candles, options):
    levels = indicator.oi_levels(candles, **options)
    assert_levels_equal(levels, reference.levels(candles, **options))
    if levels.empty:
        return
    long = levels["side"] == "long"
    assert (levels.loc[long, "price"] < levels.loc[long, "entry"]).all()
    assert (levels.loc[~long, "price"] > levels.loc[~long, "entry"]).all()
    ended = levels["end"].notna()
    assert (levels.loc[ended, "end"] > levels.loc[ended, "start"]).all()
    pos = {t: i for i, t in enumerate(candles.index)}
    low, high = candles["low"].to_numpy(), candles["high"].to_numpy()
    for row in levels.itertuples():
        s = pos[row.start]
        e = pos[row.end] if not pd.isna(row.end) else len(candles)
        between = slice(s + 1, e)
        if row.side == "long":
            assert (low[between] > row.price).all()
            assert e == len(candles) or low[e] <= row.price
        else:
            assert (high[between] < row.price).all()
            assert e == len(candles) or high[e] >= row.price
    # order: start, then leverage in the given order, long before short
    lev_rank = {lev: i for i, lev in enumerate(options["leverages"])}
    key = list(zip(levels["start"], levels["leverage"].map(lev_rank), ~long, strict=True))
    assert key == sorted(key)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(st.integers(1, 300), st.sampled_from([31, 32, 33, 64, 96, 1024])),
    st.integers(0, 2**32 - 1),
    st.integers(1, 40),
    st.booleans(),
)
def test_first_at_or_below_matches_brute_force(n, seed, q, above):
    # Lengths on and around the block size, starts up to and including n (no candidates),
    # and both directions: at or below (long lines), at or above (short lines).
    rng = np.random.default_rng(seed)
    values = np.round(rng.normal(0, 1, n).cumsum(), 1)
    starts = rng.integers(0, n + 1, q)
    limits = np.round(rng.normal(-1 if not above else 1, 3, q), 1)
    got = first_at_or_below(values, starts, limits, above=above)
    for s, p, g in zip(starts, limits, got, strict=True):
        hits = [t for t in range(s, n) if (values[t] >= p if above else values[t] <= p)]
        assert g == (hits[0] if hits else n)


def test_threaded_sides_equal_the_serial_path(monkeypatch):
    from liqlevels.indicator import _oi

    candles = gappy_sample(n=1200, seed=21)
    serial = indicator.oi_levels(candles, direction="both")
    monkeypatch.setattr(_oi, "_THREAD_MIN_LINES", 0)
    threaded = indicator.oi_levels(candles, direction="both")
    pd.testing.assert_frame_equal(serial, threaded)
    assert_levels_equal(threaded, reference.levels(candles, direction="both"))


# --- the options, checked once --------------------------------------------------------

@pytest.mark.parametrize("func", [indicator.oi_levels, indicator.oi_signals])
def test_keyword_defaults_are_the_options_defaults(func):
    """The public signatures (fixed by the method page) and OIOptions agree: one set of
    defaults, keyword-only."""
    params = inspect.signature(func).parameters
    defaults = indicator.OIOptions().as_dict()
    taken = [name for name in indicator.OI_OPTION_NAMES if name in params]
    assert taken == (list(defaults) if func is indicator.oi_levels
                     else ["ma_length", "ma_type", "thresholds", "direction"])
    for name in taken:
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY
        assert params[name].default == defaults[name], name
    assert params["options"].default is None


def test_an_options_object_gives_what_the_keywords_give():
    candles = gappy_sample(n=600, seed=5)
    keywords = {"ma_length": 9, "ma_type": "wma", "thresholds": (1.1, 2.5),
                "leverages": (50, 3), "direction": "both", "mmr": 0.002}
    opts = indicator.OIOptions(**keywords)
    pd.testing.assert_frame_equal(indicator.oi_levels(candles, options=opts),
                                  indicator.oi_levels(candles, **keywords))
    # oi_signals reads the four options it needs; leverages and mmr only place lines
    signal_keywords = {k: keywords[k] for k in ("ma_length", "ma_type", "thresholds",
                                                "direction")}
    pd.testing.assert_frame_equal(indicator.oi_signals(candles, options=opts),
                                  indicator.oi_signals(candles, **signal_keywords))


@pytest.mark.parametrize("func", [indicator.oi_levels, indicator.oi_signals])
def test_options_and_keywords_together_are_refused(func):
    candles = gappy_sample(n=200, seed=5)
    opts = indicator.OIOptions(ma_length=9)
    with pytest.raises(TypeError, match=rf"{func.__name__}\(\) got options= and "
                                        r"ma_length=, direction=; pass the options one way"):
        func(candles, options=opts, ma_length=20, direction="both")
    with pytest.raises(TypeError, match="takes an OIOptions, got dict"):
        func(candles, options={"ma_length": 9})
    func(candles, options=opts, ma_length=60)  # a keyword left at its default is no clash


@pytest.mark.parametrize("func", [indicator.oi_levels, indicator.oi_signals,
                                  indicator.features])
def test_a_misspelt_keyword_gets_a_did_you_mean(func):
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'direktion'\. "
                                        r"Did you mean 'direction'\?"):
        func(gappy_sample(n=100), direktion="both")


# --- the compiled line ends (indicator/_ends.py) against the numpy search and brute force ---

END_KERNELS = ("compiled", "python")


def end_kernels(which):
    from liqlevels.indicator import _ends

    if which == "compiled":
        assert _ends.kernels().compiled, "numba is a dependency; the kernels must compile"
        return _ends.kernels()
    return _ends.PYTHON


def brute_first_touch(values, after, limit, above):
    for t in range(after, len(values)):
        if (values[t] >= limit) if above else (values[t] <= limit):
            return t
    return len(values)


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(st.integers(1, 120), st.sampled_from([1023, 1024, 1025, 2100])),
    st.integers(0, 2**32 - 1),
    st.integers(1, 4),
    st.booleans(),
    st.sampled_from(END_KERNELS),
)
def test_side_ends_match_brute_force(n, seed, per_bar, negate, which):
    """Values and prices on one coarse grid (ties: a touch at exactly the price), trigger
    bars anywhere up to the last bar (no bar after it), long runs of falling values (the
    stack grows past its first capacity of 1024 records)."""
    rng = np.random.default_rng(seed)
    if n > 1000 and rng.random() < 0.5:
        values = np.arange(n, 0, -1, dtype=np.float64) * (-1 if negate else 1)
    else:
        values = np.round(rng.normal(0, 1, n).cumsum() * 2) / 2
    bars = np.sort(rng.choice(n, size=int(rng.integers(1, min(n, 60) + 1)), replace=False))
    price = np.round(rng.choice(values, bars.size * per_bar) * 2) / 2 + rng.choice(
        [-1.0, -0.5, 0.0, 0.5, 1.0], bars.size * per_bar)
    index_ns = np.arange(n, dtype=np.int64) * 60_000_000_000 + 7
    end_ns = np.zeros(price.size, np.int64)
    end_kernels(which).side_ends(values, negate, bars, price, per_bar, index_ns, end_ns)
    for r in range(price.size):
        t = brute_first_touch(values, bars[r // per_bar] + 1, price[r], negate)
        assert end_ns[r] == (index_ns[t] if t < n else np.iinfo(np.int64).min)


def tie_candles(n, seed, gaps=True):
    """1m candles on a 0.5 price grid (many equal lows and highs), with missing bars."""
    frame = sample_candles(n, timeframe="1m", seed=seed, burst_rate=0.05)
    for col in ("open", "high", "low", "close"):
        frame[col] = np.round(frame[col] * 2) / 2
    frame["high"] = frame[["open", "high", "close"]].max(axis=1)
    frame["low"] = frame[["open", "low", "close"]].min(axis=1)
    if gaps:
        frame = frame[np.random.default_rng(seed).random(n) >= 0.05]
    return frame


@pytest.mark.parametrize("n", [1, 2, 3, 64, 1500, 30_000])
@pytest.mark.parametrize("kind", ["ties", "gappy"])
def test_compiled_oi_levels_equal_the_numpy_path(monkeypatch, n, kind):
    """Identity, column by column and bit for bit: the compiled passes (forced on from 0
    lines) against today's numpy search, serial and threaded, and the plain reference."""
    from liqlevels.indicator import _oi

    candles = tie_candles(n, seed=n) if kind == "ties" else gappy_sample(n=max(n, 2), seed=n)
    options = {"direction": "both", "ma_length": 5, "mmr": 0.004}
    monkeypatch.setattr(_oi, "_COMPILED_MIN_LINES", 10**15)
    numpy_path = indicator.oi_levels(candles, **options)
    monkeypatch.setattr(_oi, "_COMPILED_MIN_LINES", 0)
    compiled = indicator.oi_levels(candles, **options)
    pd.testing.assert_frame_equal(compiled, numpy_path, check_exact=True)
    monkeypatch.setattr(_oi, "_THREAD_MIN_LINES", 0)
    pd.testing.assert_frame_equal(indicator.oi_levels(candles, **options), numpy_path,
                                  check_exact=True)
    if n <= 1500:
        assert_levels_equal(compiled, reference.levels(candles, **options))
    if n >= 1500:
        assert 0 < compiled["end"].notna().mean() < 1  # touched lines and live ones


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(candle_frames(), options_strategy)
def test_compiled_properties_and_reference(candles, options):
    from liqlevels.indicator import _oi

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_oi, "_COMPILED_MIN_LINES", 0)
        levels = indicator.oi_levels(candles, **options)
    assert_levels_equal(levels, reference.levels(candles, **options))


def test_without_numba_oi_levels_keeps_the_numpy_search(monkeypatch):
    """Where numba cannot be imported the kernels of _ends would run as plain Python (slow
    over every bar): oi_levels takes the numpy search instead, the same frame."""
    from liqlevels.indicator import _ends, _oi

    candles = tie_candles(3000, seed=5)
    want = indicator.oi_levels(candles, direction="both")
    monkeypatch.setattr(_oi, "_COMPILED_MIN_LINES", 0)
    monkeypatch.setattr(_ends, "kernels", lambda: _ends.PYTHON)
    monkeypatch.setattr(_oi, "_lines_compiled", None)  # would fail if it were called
    pd.testing.assert_frame_equal(indicator.oi_levels(candles, direction="both"), want,
                                  check_exact=True)
