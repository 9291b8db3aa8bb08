"""Trade levels get ends (indicator.trade_level_ends), held against a plain bar loop."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liqlevels import indicator
from liqlevels.feeds import sample_candles


def synthetic_trades(candles: pd.DataFrame, n: int = 3000, seed: int = 3) -> pd.DataFrame:
    """Trades inside the candles: a random bar each, a time inside it, a price in its range."""
    rng = np.random.default_rng(seed)
    bar = np.sort(rng.integers(0, len(candles), n))
    step = candles.index[1] - candles.index[0]
    time = candles.index[bar] + rng.uniform(0, 1, n) * step
    low, high = candles["low"].to_numpy()[bar], candles["high"].to_numpy()[bar]
    return pd.DataFrame({
        "time": time,
        "price": low + rng.uniform(0, 1, n) * (high - low),
        "quantity": rng.lognormal(3, 1.5, n),
        "side": np.where(rng.uniform(size=n) < 0.5, "buy", "sell"),
    })


def ref_ends(levels: pd.DataFrame, candles: pd.DataFrame) -> list:
    """The rule, one level and one bar at a time: the first bar opening after the level's
    start whose low (long) / high (short) touches it, else NaT."""
    bars = list(zip(candles.index, candles["low"], candles["high"], strict=True))
    out = []
    for row in levels.itertuples(index=False):
        end = pd.NaT
        for time, low, high in bars:
            if time <= row.start:
                continue
            if (low <= row.price) if row.side == "long" else (high >= row.price):
                end = time
                break
        out.append(end)
    return out


def assert_ends(got: pd.DataFrame, levels: pd.DataFrame, candles: pd.DataFrame) -> None:
    cols = list(levels.columns.drop("end", errors="ignore"))
    assert list(got.columns) == [cols[0], "end", *cols[1:]]
    assert str(got["end"].dtype) == "datetime64[ns, UTC]"
    pd.testing.assert_frame_equal(got[cols], levels[cols])
    want = pd.Series(ref_ends(levels, candles), dtype="datetime64[ns, UTC]", index=got.index)
    pd.testing.assert_series_equal(got["end"], want, check_names=False)


@pytest.fixture(scope="module")
def market():
    candles = sample_candles(600, timeframe="1h", seed=11)
    trades = synthetic_trades(candles)
    levels = indicator.trade_levels(trades, mode="top_n", threshold=60)
    return candles, trades, levels


def test_matches_loop_on_synthetic_trades(market):
    candles, _, levels = market
    got = indicator.trade_level_ends(levels, candles)
    assert_ends(got, levels, candles)
    assert got["end"].notna().any() and got["end"].isna().any()


def test_matches_loop_on_the_trades_own_candles(market):
    _, trades, levels = market
    candles = indicator.trade_candles(trades, "15m")
    assert_ends(indicator.trade_level_ends(levels, candles), levels, candles)


def test_gives_back_oi_levels_own_ends():
    candles = sample_candles(2000, timeframe="1h", seed=5)
    levels = indicator.oi_levels(candles, ma_length=20)
    got = indicator.trade_level_ends(levels.drop(columns="end"), candles)
    pd.testing.assert_frame_equal(got, levels)
    # An end already there is replaced, in its place.
    again = indicator.trade_level_ends(levels.assign(end=pd.NaT), candles)
    pd.testing.assert_frame_equal(again, levels)


def _levels(starts, sides, prices):
    return pd.DataFrame({
        "start": pd.to_datetime(starts, utc=True),
        "side": pd.array(sides, dtype="string"),
        "leverage": 10,
        "price": np.asarray(prices, dtype=float),
        "entry": 100.0,
        "notional": 1e5,
    }, index=[f"r{i}" for i in range(len(starts))])


def _candles(lows, highs, start="2025-01-01 10:00"):
    index = pd.date_range(start, periods=len(lows), freq="1h", tz="UTC")
    return pd.DataFrame({"low": np.asarray(lows, float), "high": np.asarray(highs, float)},
                        index=index)


def test_the_bar_holding_the_trade_never_ends_it():
    candles = _candles([90, 99, 95], [110, 101, 105])
    levels = _levels(
        ["2025-01-01 10:30", "2025-01-01 10:00", "2025-01-01 10:30", "2025-01-01 09:00",
         "2025-01-01 12:30"],
        ["long", "long", "short", "long", "long"],
        [98, 98, 104, 98, 50],
    )
    ends = indicator.trade_level_ends(levels, candles)["end"]
    want = pd.to_datetime(["2025-01-01 12:00", "2025-01-01 12:00", "2025-01-01 12:00",
                           "2025-01-01 10:00", None], utc=True)
    # 10:30 and 10:00 lie in the 10:00 bar, which reaches 90 and 110 but does not count;
    # 09:00 is before every bar, so the first bar ends it; the last trade has no later bar.
    assert list(ends) == list(want)
    assert list(ends.index) == list(levels.index)


def test_touch_is_inclusive():
    candles = _candles([100, 98], [101, 102])
    levels = _levels(["2025-01-01 10:00"] * 2, ["long", "short"], [98, 102])
    assert indicator.trade_level_ends(levels, candles)["end"].notna().all()


def test_empty_levels_and_empty_candles(market):
    candles, _, levels = market
    none = indicator.trade_level_ends(levels.iloc[:0], candles)
    assert list(none.columns) == ["start", "end", *levels.columns[1:]] and len(none) == 0
    later = indicator.trade_level_ends(levels, candles.iloc[:0])
    assert later["end"].isna().all()


@st.composite
def cases(draw):
    n_bars = draw(st.integers(1, 12))
    lows = draw(st.lists(st.sampled_from([95.0, 97.0, 98.0, 99.0, 100.0]),
                         min_size=n_bars, max_size=n_bars))
    highs = [low + draw(st.sampled_from([0.0, 1.0, 2.0, 5.0])) for low in lows]
    n = draw(st.integers(0, 10))
    minutes = draw(st.lists(st.integers(-60, 60 * n_bars + 60), min_size=n, max_size=n))
    sides = draw(st.lists(st.sampled_from(["long", "short"]), min_size=n, max_size=n))
    prices = draw(st.lists(st.sampled_from([95.0, 97.0, 98.0, 100.0, 101.0, 102.0, 105.0]),
                           min_size=n, max_size=n))
    starts = pd.Timestamp("2025-01-01 10:00", tz="UTC") + pd.to_timedelta(sorted(minutes),
                                                                           unit="min")
    return _candles(lows, highs), _levels(starts, sides, prices)


@given(cases())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_property_matches_loop(case):
    candles, levels = case
    assert_ends(indicator.trade_level_ends(levels, candles), levels, candles)


def test_bad_candles_teach(market):
    _, _, levels = market
    good = _candles([99, 98], [101, 102])
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['low'\]"):
        indicator.trade_level_ends(levels, good.drop(columns="low"))
    with pytest.raises(ValueError, match="naive"):
        indicator.trade_level_ends(levels, good.tz_localize(None))
    with pytest.raises(ValueError, match="out of order"):
        indicator.trade_level_ends(levels, good.iloc[::-1])
    with pytest.raises(ValueError, match=r"candles\['high'\] is nan"):
        indicator.trade_level_ends(levels, good.assign(high=[101, np.nan]))
    with pytest.raises(ValueError, match="below 'low'"):
        indicator.trade_level_ends(levels, good.assign(high=[101, 90]))
    with pytest.raises(TypeError, match="must be numeric"):
        indicator.trade_level_ends(levels, good.assign(low=["a", "b"]))
    with pytest.raises(ValueError, match=r"levels\['side'\]"):
        indicator.trade_level_ends(levels.assign(side="up"), good)
