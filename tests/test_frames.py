"""indicator._frames: the schemas, the one levels check, the empty frames, the one price formula,
and indicator.trade_candles against a plain loop."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liqlevels import indicator
from liqlevels.feeds import sample_candles
from liqlevels.indicator._frames import (
    NAT,
    SCHEMAS,
    check_levels,
    empty_frame,
    level_arrays,
    liquidation_factors,
    which_of_two,
)

T0 = pd.Timestamp("2025-01-01", tz="UTC")


@pytest.fixture(scope="module")
def oi_levels() -> pd.DataFrame:
    levels = indicator.oi_levels(sample_candles(3000, seed=3), direction="both")
    assert len(levels) > 0 and levels["end"].isna().any() and levels["end"].notna().any()
    return levels


def random_trades(n: int = 400, seed: int = 0, span_s: int = 3 * 86_400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "time": T0 + pd.to_timedelta(np.sort(rng.integers(0, span_s, n)), unit="s"),
        "price": 100.0 + rng.normal(0, 1, n).cumsum(),
        "quantity": rng.lognormal(5, 2, n),
        "side": rng.choice(["buy", "sell"], n),
    })


@pytest.fixture(scope="module")
def trade_levels() -> pd.DataFrame:
    return indicator.trade_levels(random_trades(), mode="top_n", threshold=30)


def two_lines() -> pd.DataFrame:
    """Two OI lines by hand: one live long, one short ended an hour after its start."""
    return pd.DataFrame({
        "start": [T0, T0], "end": pd.to_datetime([None, T0 + pd.Timedelta("1h")], utc=True),
        "side": ["long", "short"], "leverage": [10, 25], "price": [90.0, 104.0],
        "entry": [100.0, 100.0], "tier": [1, 3], "oi_delta": [5.0, -2.5],
    })


# ---------------------------------------------------------------------------------------------
# Schemas and empty frames
# ---------------------------------------------------------------------------------------------


def test_public_column_tuples_come_from_the_schemas():
    assert indicator.LEVEL_COLUMNS == SCHEMAS["oi_levels"].columns
    assert indicator.TRADE_LEVEL_COLUMNS == SCHEMAS["trade_levels"].columns
    assert indicator.DENSITY_COLUMNS == SCHEMAS["density"].columns
    assert indicator.MAP_COLUMNS == SCHEMAS["map"].columns
    assert indicator.DEPTH_COLUMNS == SCHEMAS["depth"].columns
    assert "end" not in indicator.TRADE_LEVEL_COLUMNS
    assert "tier" not in indicator.TRADE_LEVEL_COLUMNS


def _dtypes(frame: pd.DataFrame) -> dict[str, str]:
    return {c: str(t) for c, t in frame.dtypes.items()}


def test_empty_frames_have_the_dtypes_of_real_results(oi_levels, trade_levels):
    price = float(trade_levels["entry"].median())
    real = {
        "oi_levels": oi_levels,
        "trade_levels": trade_levels,
        "density": indicator.density(oi_levels),
        "map": indicator.liquidation_map(trade_levels, price=price),
        "depth": indicator.depth(trade_levels, price=price),
    }
    for kind, frame in real.items():
        assert len(frame) > 0, kind
        empty = empty_frame(kind)
        assert len(empty) == 0
        assert _dtypes(empty) == _dtypes(frame), kind
    weighted = indicator.density(oi_levels, weight="oi_delta")
    assert _dtypes(empty_frame("density", long=float, short=float)) == _dtypes(weighted)


def test_functions_return_the_empty_frames(oi_levels, trade_levels):
    flat = sample_candles(200, seed=1).assign(open_interest=1000.0)
    pd.testing.assert_frame_equal(indicator.oi_levels(flat), empty_frame("oi_levels"))
    gone = oi_levels.iloc[:0]
    pd.testing.assert_frame_equal(indicator.density(gone), empty_frame("density"))
    none_kept = indicator.trade_levels(random_trades(), threshold=1e18)
    pd.testing.assert_frame_equal(none_kept, empty_frame("trade_levels"))
    far = float(trade_levels["price"].max()) * 10  # every long below, every short crossed
    shorts = trade_levels[trade_levels["side"] == "short"]
    pd.testing.assert_frame_equal(indicator.liquidation_map(shorts, price=far),
                                  empty_frame("map"))
    pd.testing.assert_frame_equal(indicator.depth(shorts, price=far), empty_frame("depth"))


def test_empty_frame_refuses_an_unknown_column():
    with pytest.raises(ValueError, match=r"no column\(s\) \['nope'\]"):
        empty_frame("map", nope=float)


# ---------------------------------------------------------------------------------------------
# The one check
# ---------------------------------------------------------------------------------------------


def test_each_levels_frame_is_accepted_and_parsed_once(oi_levels, trade_levels):
    lines = check_levels(oi_levels)
    assert (lines.start == oi_levels["start"].array.as_unit("ns").asi8).all()
    assert ((lines.end == NAT) == oi_levels["end"].isna().to_numpy()).all()
    assert (lines.short == (oi_levels["side"] == "short").to_numpy()).all()
    assert lines.leverage.dtype == np.int64 and lines.tier.dtype == np.int64
    np.testing.assert_array_equal(lines.price, oi_levels["price"].to_numpy())
    unchecked = level_arrays(oi_levels, indicator.LEVEL_COLUMNS)
    for field in ("start", "end", "short", "leverage", "price", "entry", "tier", "oi_delta"):
        np.testing.assert_array_equal(getattr(unchecked, field), getattr(lines, field))
    trade = check_levels(trade_levels, indicator.TRADE_LEVEL_COLUMNS)
    assert trade.end is None and trade.tier is None
    np.testing.assert_array_equal(trade.notional, trade_levels["notional"].to_numpy())


def test_only_the_columns_asked_for_must_exist():
    frame = two_lines()[["side", "price"]]
    lines = check_levels(frame, ("side", "price"))
    assert lines.start is None and lines.short.tolist() == [False, True]


def test_trade_levels_are_refused_where_lines_need_an_end(trade_levels):
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['end'\].*trade levels.*oi_levels"):
        indicator.density(trade_levels)
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['end'\]"):
        indicator.features(sample_candles(50), trade_levels)
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['notional'\]"):
        indicator.liquidation_map(two_lines(), price=100.0)


BAD_VALUES = [
    ("side", ["long", "up"], r"levels\['side'\] is 'up' at row 1; expected 'long' or 'short'"),
    ("side", [None, "short"], r"levels\['side'\] is (None|nan) at row 0"),
    ("leverage", [10, 1], r"levels\['leverage'\] is 1 at row 1; it must be a whole number > 1"),
    ("leverage", [10.0, 2.5], r"levels\['leverage'\] is 2.5 at row 1"),
    ("leverage", pd.array([10, None], dtype="Int64"), r"levels\['leverage'\] is nan at row 1"),
    ("price", [np.nan, 1.0], r"levels\['price'\] is nan at row 0; it must be a finite price > 0"),
    ("price", [1.0, -3.0], r"levels\['price'\] is -3.0 at row 1"),
    ("entry", [np.inf, 1.0], r"levels\['entry'\] is inf at row 0"),
    ("tier", [0, 1], r"levels\['tier'\] is 0 at row 0; it must be a whole number >= 1"),
    ("oi_delta", [1.0, np.nan], r"levels\['oi_delta'\] is nan at row 1; it must be a finite"),
    ("start", pd.to_datetime([T0, None], utc=True), r"levels\['start'\] is NaT at row 1"),
    ("end", pd.to_datetime([T0, None], utc=True), r"levels\['end'\] .* is not after .* at row 0"),
]


@pytest.mark.parametrize(("column", "values", "match"), BAD_VALUES)
def test_a_bad_value_is_named_with_its_column_and_first_row(column, values, match):
    with pytest.raises(ValueError, match=match):
        check_levels(two_lines().assign(**{column: values}))


@settings(max_examples=40, deadline=None)
@given(st.integers(4_097, 6_000), st.sampled_from(["string", "large_string"]),
       st.lists(st.sampled_from(["lon", "shor", "Long", "shorts", "longshor", "", None]),
                max_size=2), st.integers(0, 2**32 - 1))
def test_a_long_side_column_is_read_off_its_arrow_bytes(n, storage, odd, seed):
    """Past 4,096 rows an Arrow side column is checked from its offsets and bytes: the same
    mask as comparing each value, the same error at the same first bad row."""
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    values = list(np.where(rng.random(n) < 0.5, "long", "short"))
    for value in odd:
        values[int(rng.integers(0, n))] = value
    arrow = pa.chunked_array([pa.array(values[: n // 3], getattr(pa, storage)()),
                              pa.array(values[n // 3:], getattr(pa, storage)())])
    levels = pd.concat([two_lines()] * (n // 2 + 1), ignore_index=True).iloc[:n]
    levels["side"] = pd.Series(pd.arrays.ArrowStringArray(arrow), index=levels.index)
    plain = levels.assign(side=levels["side"].astype(object))
    try:
        want = check_levels(plain).short
    except ValueError as exc:
        with pytest.raises(ValueError, match=re.escape(str(exc))):
            check_levels(levels)
        assert which_of_two(levels["side"], "short", "long") is None
    else:
        assert np.array_equal(check_levels(levels).short, want)
        assert np.array_equal(which_of_two(levels["side"], "short", "long"),
                              np.array([v == "short" for v in values]))


def test_a_bad_trade_levels_value_is_named(trade_levels):
    bad = trade_levels.copy()
    bad.loc[3, "notional"] = -1.0
    with pytest.raises(ValueError, match=r"levels\['notional'\] is -1.0 at row 3; it must be"):
        indicator.depth(bad, price=100.0)


def test_the_row_shows_the_index_label_when_it_differs():
    frame = two_lines().set_axis([10, 11]).assign(side=["long", "up"])
    with pytest.raises(ValueError, match=r"at row 1 \(index 11\)"):
        check_levels(frame)


def test_types_are_refused_with_the_fix():
    with pytest.raises(TypeError,
                       match=r"levels must be a pandas DataFrame \(the frame indicator\.oi_levels"):
        check_levels(two_lines().to_dict())
    naive = two_lines().assign(start=[T0.tz_localize(None)] * 2)
    with pytest.raises(TypeError, match=r"levels\['start'\] must be tz-aware.*tz_localize"):
        check_levels(naive)
    with pytest.raises(TypeError, match=r"levels\['start'\].*pd.to_datetime"):
        check_levels(two_lines().assign(start=["2025-01-01", "2025-01-01"]))
    with pytest.raises(TypeError, match=r"levels\['price'\] must be numeric"):
        check_levels(two_lines().assign(price=["1", "x"]))
    with pytest.raises(TypeError, match=r"levels\['price'\] must be numeric"):
        check_levels(two_lines().assign(price=[True, False]))
    with pytest.raises(ValueError, match="not levels column"):
        check_levels(two_lines(), ("start", "volume"))


def test_an_end_of_nothing_but_nat_needs_no_time_zone():
    frame = two_lines().assign(end=[pd.NaT, pd.NaT])  # naive datetime64 of NaT
    assert (check_levels(frame).end == NAT).all()
    empty = pd.DataFrame({c: [] for c in indicator.LEVEL_COLUMNS})  # object columns, no rows
    assert len(check_levels(empty).start) == 0


# ---------------------------------------------------------------------------------------------
# The one formula
# ---------------------------------------------------------------------------------------------


def test_liquidation_factors_follow_spec_1_6():
    levs, mmr = (5, 10, 25, 50, 100), 0.004
    factors = liquidation_factors(levs, mmr)
    assert factors.shape == (5, 2)
    for i, lev in enumerate(levs):
        assert factors[i, 0] == 1 - 1 / lev + mmr  # long, below entry
        assert factors[i, 1] == 1 + 1 / lev - mmr  # short, above entry
    np.testing.assert_allclose(100.0 * liquidation_factors([10], 0.004), [[90.4, 109.6]])


def test_both_methods_price_their_levels_by_the_one_formula():
    mmr = 0.003
    oi = indicator.oi_levels(sample_candles(2000, seed=5), leverages=(5, 20), mmr=mmr)
    trade = indicator.trade_levels(random_trades(), leverages=(10, 50), mmr=mmr, threshold=1.0)
    for levels in (oi, trade):
        short = (levels["side"] == "short").to_numpy()
        inverse = 1.0 / levels["leverage"].to_numpy()
        factor = np.where(short, 1 + inverse - mmr, 1 - inverse + mmr)
        np.testing.assert_allclose(levels["price"], levels["entry"] * factor, rtol=1e-15)


# ---------------------------------------------------------------------------------------------
# trade_candles against a plain loop
# ---------------------------------------------------------------------------------------------


def _bar_open(t: pd.Timestamp, timeframe: str) -> pd.Timestamp:
    if timeframe == "1w":  # exchanges' weeks start on Monday, 00:00 UTC
        return (t - pd.Timedelta(days=t.weekday())).normalize()
    unit = {"m": "min", "h": "h", "d": "D"}[timeframe[-1]]
    return t.floor(pd.Timedelta(int(timeframe[:-1]), unit))


def reference_candles(trades: pd.DataFrame, timeframe: str) -> pd.DataFrame:
    """Trade by trade, in time order (ties: row order): open first, close last."""
    bars: dict[pd.Timestamp, list[float]] = {}
    for i in np.argsort(trades["time"].to_numpy(), kind="stable"):
        t, p, q = trades["time"].iloc[i], trades["price"].iloc[i], trades["quantity"].iloc[i]
        bar = bars.setdefault(_bar_open(t, timeframe), [p, p, p, p, 0.0])
        bar[1], bar[2], bar[3], bar[4] = max(bar[1], p), min(bar[2], p), p, bar[4] + q
    index = pd.DatetimeIndex(sorted(bars), name="time").as_unit("ns")
    return pd.DataFrame([bars[t] for t in index], index=index,
                        columns=["open", "high", "low", "close", "volume"])


@pytest.mark.parametrize("timeframe", ["1m", "5m", "1h", "4h", "1d", "1w"])
def test_trade_candles_match_a_plain_loop(timeframe):
    trades = random_trades(500, seed=7, span_s=20 * 86_400 if timeframe == "1w" else 2 * 86_400)
    got = indicator.trade_candles(trades, timeframe)
    pd.testing.assert_frame_equal(got, reference_candles(trades, timeframe), check_freq=False)
    assert str(got.index.dtype) == "datetime64[ns, UTC]"


@pytest.mark.parametrize(("timeframe", "span_s"), [("1m", 3 * 3600), ("5m", 86_400)])
def test_dense_trade_candles_match_a_plain_loop(timeframe, span_s):
    """More trades than bar slots (a day of trades in minutes): the slots' edges are found by
    binary search; empty slots stay absent."""
    trades = random_trades(2000, seed=3, span_s=span_s)
    trades = trades[(trades["time"] < T0 + pd.Timedelta(minutes=40))
                    | (trades["time"] >= T0 + pd.Timedelta(minutes=90))]  # a gap
    got = indicator.trade_candles(trades, timeframe)
    pd.testing.assert_frame_equal(got, reference_candles(trades, timeframe), check_freq=False)


@settings(max_examples=60, deadline=None)
@given(times=st.lists(st.integers(0, 900), min_size=1, max_size=40), seed=st.integers(0, 99))
def test_trade_candles_any_order_and_ties(times, seed):
    rng = np.random.default_rng(seed)
    n = len(times)
    trades = pd.DataFrame({
        "time": T0 + pd.to_timedelta(times, unit="s"),  # unsorted, with repeats
        "price": rng.choice([99.0, 100.0, 101.5], n), "quantity": rng.choice([1.0, 2.5], n),
        "side": rng.choice(["buy", "sell"], n),
    })
    got = indicator.trade_candles(trades, "1m")
    pd.testing.assert_frame_equal(got, reference_candles(trades, "1m"), check_freq=False)
    arrays = indicator.trade_arrays(trades)
    pd.testing.assert_frame_equal(indicator.trade_candles(arrays, "1m"), got)


def test_trade_candles_of_no_trades_and_bad_timeframes():
    empty = indicator.trade_candles(indicator.TradeArrays.empty(), "1m")
    assert empty.empty and list(empty.columns) == ["open", "high", "low", "close", "volume"]
    assert str(empty.index.dtype) == "datetime64[ns, UTC]"
    for bad in ("1x", "0m", "1M", 60):
        with pytest.raises(ValueError, match="timeframe"):
            indicator.trade_candles(random_trades(5), bad)


def test_utc_times_wraps_epoch_nanoseconds_without_a_copy():
    """The same index pandas' public constructor gives (NaT, far dates), on the very array."""
    from liqlevels.indicator._frames import NAT, UTC_NS, utc_times

    ns = np.random.default_rng(4).integers(-(2**62), 2**62, 500)
    ns[::7] = NAT
    got = utc_times(ns)
    pd.testing.assert_index_equal(
        got, pd.DatetimeIndex(ns.view("datetime64[ns]"), dtype=UTC_NS), exact=True)
    assert np.shares_memory(got.asi8, ns)
