"""LevelStream (indicator/_level_stream.py) against the batch engine: stream equals batch."""

from __future__ import annotations

import datetime as dt
import pickle

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from pandas.testing import assert_frame_equal

from liqlevels import indicator
from liqlevels.feeds import sample_candles

COLS = ("open", "high", "low", "close", "volume", "open_interest")
MA_TYPES = ("sma", "ema", "wma", "vwma")
DIRECTIONS = ("increase", "decrease", "both")


def _bar(row) -> dict[str, float]:
    return {c: float(row[c]) for c in COLS}


def _gappy(n: int, seed: int) -> pd.DataFrame:
    """Synthetic candles with dropped rows (gaps) and runs of NaN open interest."""
    candles = sample_candles(n + n // 10, seed=seed, burst_rate=0.05)
    rng = np.random.default_rng(seed)
    candles = candles.drop(candles.index[rng.choice(len(candles), n // 10, replace=False)])
    oi = candles["open_interest"].to_numpy().copy()
    for at in rng.choice(len(candles), max(n // 100, 2), replace=False):
        oi[at : at + rng.integers(1, 4)] = np.nan
    return candles.assign(open_interest=oi)


def _forming(bar: dict[str, float], rng: np.random.Generator) -> dict[str, float]:
    """Another valid version of ``bar``: a forming candle seen before it closed."""
    low = bar["low"] * (1 + rng.uniform(-0.01, 0.01))
    high = max(bar["high"] * (1 + rng.uniform(-0.01, 0.01)), low)
    open_, close = (min(max(x, low), high) for x in (bar["open"], bar["close"]))
    oi = bar["open_interest"]
    oi = np.nan if rng.random() < 0.1 else (oi if np.isnan(oi) else oi * rng.uniform(0.9, 1.1))
    return {"open": open_, "high": high, "low": low, "close": close,
            "volume": bar["volume"] * rng.uniform(0, 1), "open_interest": oi}


def _check_signal(stream: indicator.LevelStream, signals: pd.DataFrame, i: int) -> None:
    delta, baseline, tier, trigger = stream.signal
    want = signals.iloc[i]
    assert_allclose([delta, baseline], [want["oi_delta"], want["baseline"]], rtol=1e-9)
    assert (tier, trigger) == (want["tier"], want["trigger"])


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("ma_type", MA_TYPES)
def test_stream_equals_batch_bar_by_bar(ma_type, direction):
    """After every bar (and every forming version of it), levels() is oi_levels of the bars
    seen; the closed bars give the batch of the final values."""
    candles = _gappy(300, seed=MA_TYPES.index(ma_type) * 3 + DIRECTIONS.index(direction))
    options = indicator.OIOptions(ma_length=12, ma_type=ma_type, direction=direction)
    stream = indicator.LevelStream(options=options)
    rng = np.random.default_rng(1)
    for i, (time, row) in enumerate(candles.iterrows()):
        bar = _bar(row)
        for _ in range(rng.integers(0, 3)):
            forming = _forming(bar, rng)
            stream.update(time, **forming)
            seen = pd.concat([candles.iloc[:i], pd.DataFrame([forming], index=[time])])
            assert_frame_equal(stream.levels(), indicator.oi_levels(seen, options=options))
        stream.update(time, **bar)
        prefix = candles.iloc[: i + 1]
        assert_frame_equal(stream.levels(), indicator.oi_levels(prefix, options=options))
        _check_signal(stream, indicator.oi_signals(prefix, ma_length=12, ma_type=ma_type,
                                                   direction=direction), i)
    assert stream.bars == len(candles)


@pytest.mark.parametrize("ma_length", [1, 2, 7, 60])
@pytest.mark.parametrize("ma_type", MA_TYPES)
def test_baseline_is_the_batch_bit_for_bit(ma_type, ma_length):
    """The stream repeats the batch's arithmetic, so ``tier`` agrees even at exact ties
    (a failure here after a pandas upgrade means its rolling kernels changed)."""
    candles = _gappy(3000, seed=ma_length)
    candles = candles.assign(open_interest=candles["open_interest"] * 1.1)  # not integers
    stream = indicator.LevelStream(ma_type=ma_type, ma_length=ma_length)
    got = []
    for time, row in candles.iterrows():
        stream.update(time, **_bar(row))
        got.append(stream.signal[1])
    want = indicator.oi_signals(candles, ma_type=ma_type, ma_length=ma_length)["baseline"]
    np.testing.assert_array_equal(np.array(got), want.to_numpy())


@pytest.mark.parametrize("ma_type", MA_TYPES)
def test_long_series_sampled(ma_type):
    candles = _gappy(5000, seed=11)
    options = indicator.OIOptions(ma_type=ma_type, direction="both", mmr=0.004)
    stream = indicator.LevelStream(options=options)
    signals = indicator.oi_signals(candles, ma_type=ma_type, direction="both")
    checks = set(range(0, len(candles), 997)) | {len(candles) - 1}
    for i, (time, row) in enumerate(candles.iterrows()):
        stream.update(time, **_bar(row))
        _check_signal(stream, signals, i)
        if i in checks:
            assert_frame_equal(stream.levels(),
                               indicator.oi_levels(candles.iloc[: i + 1], options=options))
    assert len(stream.levels()) > 0


@pytest.mark.parametrize("ma_type", MA_TYPES)
def test_real_okx_data(okx_1h, ma_type):
    candles = okx_1h
    stream = indicator.LevelStream(ma_type=ma_type)
    rng = np.random.default_rng(5)
    checks = set(range(0, len(candles), len(candles) // 5 + 1)) | {len(candles) - 1}
    for i, (time, row) in enumerate(candles.iterrows()):
        bar = _bar(row)
        if rng.random() < 0.2:
            stream.update(time, **_forming(bar, rng))
        stream.update(time, **bar)
        if i in checks:
            assert_frame_equal(stream.levels(),
                               indicator.oi_levels(candles.iloc[: i + 1], ma_type=ma_type))


# -- arbitrary re-send patterns ------------------------------------------------------------------


@st.composite
def _bars(draw):
    low = draw(st.floats(1.0, 100.0, allow_nan=False))
    up = st.floats(0.0, 5.0, allow_nan=False)
    a, b, c = draw(up), draw(up), draw(up)
    oi = draw(st.one_of(st.integers(0, 12).map(float), st.just(np.nan),
                        st.floats(0.0, 50.0, allow_nan=False)))
    volume = draw(st.sampled_from([0.0, 1.0, 2.5, 7.0]))
    return {"open": low + a, "high": low + max(a, b) + c, "low": low, "close": low + b,
            "volume": volume, "open_interest": oi}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sends=st.lists(st.lists(_bars(), min_size=1, max_size=3), min_size=1, max_size=25),
    ma_length=st.integers(1, 4),
    ma_type=st.sampled_from(MA_TYPES),
    direction=st.sampled_from(DIRECTIONS),
    thresholds=st.sampled_from([(1.2, 2.0, 3.0), (1.0, 2.0), (0.5,)]),
)
def test_resend_patterns(sends, ma_length, ma_type, direction, thresholds):
    """Each bar sent one to three times (the last version closes it): after every call the
    stream equals the batch over the closed bars plus the latest version (ties included:
    integer OI makes |oi_delta| equal k * baseline)."""
    options = indicator.OIOptions(ma_length=ma_length, ma_type=ma_type, direction=direction,
                                  thresholds=thresholds, leverages=(2, 10))
    stream = indicator.LevelStream(options=options)
    times = pd.date_range("2025-01-01", periods=len(sends), freq="1h", tz="UTC")
    closed: list[dict[str, float]] = []
    for time, versions in zip(times, sends, strict=True):
        for version in versions:
            stream.update(time, **version)
            seen = pd.DataFrame([*closed, version], index=times[: len(closed) + 1])
            batch = indicator.oi_levels(seen, options=options)
            assert_frame_equal(stream.levels(), batch)
            live = batch[batch["end"].isna()].reset_index(drop=True)
            assert_frame_equal(stream.live_levels(), live)
        closed.append(versions[-1])


def test_change_reports_born_and_ended_lines():
    candles = _gappy(400, seed=2)
    stream = indicator.LevelStream(ma_length=10)
    born, ended = [], []
    for time, row in candles.iterrows():
        change = stream.update(time, **_bar(row))
        assert all(line.start == time for line in change.born)
        assert all(line.end == time for line in change.ended)
        born += change.born
        ended += change.ended
    levels = indicator.oi_levels(candles, ma_length=10)
    assert len(born) == len(levels) > 0
    assert [line.price for line in born] == levels["price"].tolist()
    assert len(ended) == levels["end"].notna().sum()


def test_replacing_reports_what_was_undone_and_restores_state():
    """A forming bar overwritten, then restored to its first values, leaves the stream as
    if sent once."""
    candles = _gappy(200, seed=4)
    options = indicator.OIOptions(ma_length=8, direction="both")
    once, twice = indicator.LevelStream(options=options), indicator.LevelStream(options=options)
    rng = np.random.default_rng(0)
    for time, row in candles.iterrows():
        bar = _bar(row)
        first = twice.update(time, **bar)
        second = twice.update(time, **_forming(bar, rng))
        assert second.undone == first
        twice.update(time, **bar)
        assert once.update(time, **bar)[:2] == first[:2]
        assert_frame_equal(once.levels(), twice.levels())
        assert once.signal == twice.signal or np.isnan(once.signal[1])


@pytest.mark.parametrize("ma_type", MA_TYPES)
def test_pickle_mid_stream_and_resume(ma_type):
    candles = _gappy(600, seed=9)
    options = indicator.OIOptions(ma_length=20, ma_type=ma_type)
    stream = indicator.LevelStream(options=options)
    rows = list(candles.iterrows())
    for time, row in rows[:300]:
        stream.update(time, **_bar(row))
    stream.update(rows[300][0], **_forming(_bar(rows[300][1]), np.random.default_rng(3)))
    restored = pickle.loads(pickle.dumps(stream))
    for time, row in rows[300:]:
        restored.update(time, **_bar(row))
    assert_frame_equal(restored.levels(), indicator.oi_levels(candles, options=options))


def test_times():
    stream = indicator.LevelStream()
    bar = {"open": 10.0, "high": 11.0, "low": 9.0, "close": 10.5, "volume": 1.0,
           "open_interest": 5.0}
    stream.update(dt.datetime(2025, 1, 1, 1), **bar)  # naive: UTC
    stream.update(pd.Timestamp("2025-01-01 02:00", tz="Europe/Paris"), **bar)  # = 01:00 UTC
    assert stream.bars == 1
    with pytest.raises(ValueError, match=r"00:00:00\+00:00.*before.*01:00:00\+00:00"):
        stream.update("2025-01-01 00:00", **bar)
    with pytest.raises(TypeError):
        stream.update(True, **bar)
    stream.update(pd.Timestamp("2025-01-01 02:00", tz="UTC"), **bar)
    assert stream.bars == 2


@pytest.mark.parametrize(("field", "value", "message"), [
    ("open", 0.0, "open is 0.0"),
    ("close", np.nan, "close is nan"),
    ("high", np.inf, "high is inf"),
    ("low", -1.0, "low is -1.0"),
    ("volume", -1.0, "volume is -1.0"),
    ("volume", np.nan, "volume is nan"),
    ("open_interest", -2.0, "open_interest is -2.0"),
    ("open_interest", np.inf, "open_interest is inf"),
    ("high", 9.5, r"high \(9.5\) is below low"),
    ("low", 10.2, r"low \(10.2\) is above open"),
])
def test_bad_values_refused_naming_the_field(field, value, message):
    stream = indicator.LevelStream()
    bar = {"open": 10.0, "high": 11.0, "low": 9.6, "close": 10.5, "volume": 1.0,
           "open_interest": 5.0}
    stream.update("2025-01-01", **bar)
    with pytest.raises(ValueError, match=rf"{message}.*2025-01-01 01:00:00\+00:00"):
        stream.update("2025-01-01 01:00", **{**bar, field: value})
    assert stream.bars == 1  # nothing consumed
    with pytest.raises(TypeError, match="volume='1'"):
        stream.update("2025-01-01 01:00", **{**bar, "volume": "1"})
    stream.update("2025-01-01 01:00", **{**bar, "open_interest": np.nan})  # missing OI is fine
    assert stream.bars == 2


def test_options_checked_like_oi_levels():
    with pytest.raises(ValueError, match="ma_length"):
        indicator.LevelStream(ma_length=0)
    with pytest.raises(TypeError, match="one way"):
        indicator.LevelStream(ma_length=5, options=indicator.OIOptions())
    with pytest.raises(TypeError, match="Did you mean 'ma_length'"):
        indicator.LevelStream(ma_lenght=5)
    assert indicator.LevelStream(options=indicator.OIOptions(ma_type="ema")).options.ma_type \
        == "ema"


def test_empty_stream_is_the_empty_frame():
    stream = indicator.LevelStream()
    assert_frame_equal(stream.levels(), indicator.oi_levels(sample_candles(5)))


def test_live_levels_are_the_live_rows_and_give_the_same_density():
    """live_levels() is levels() where end is NaT, in order; density agrees on both."""
    candles = sample_candles(2000, seed=11)
    stream = indicator.LevelStream()
    for i, (time, row) in enumerate(candles.iterrows()):
        stream.update(time, **_bar(row))
        if i % 250 == 0 or i == len(candles) - 1:
            levels = stream.levels()
            assert_frame_equal(stream.live_levels(),
                               levels[levels["end"].isna()].reset_index(drop=True))
            assert stream.live_count == int(levels["end"].isna().sum())
    assert 0 < len(stream.live_levels()) < len(stream.levels())
    assert_frame_equal(indicator.density(stream.live_levels()),
                       indicator.density(stream.levels()))
