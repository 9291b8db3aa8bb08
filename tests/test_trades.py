"""indicator.trade_levels, liquidation_map and depth against a plain reading of the method
(docs/method.md section 3).

The reference functions below loop trade by trade and level by level, written from the spec's
words, independent of the vectorised engine.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import ref_bin, ref_bin_size

from liqlevels import indicator
from liqlevels.indicator import TradeSelection, trade_arrays
from liqlevels.indicator._map import default_bin_size

LEVS = (10, 25, 50, 100)


# ---------------------------------------------------------------------------------------------
# Plain references, from docs/method.md section 3
# ---------------------------------------------------------------------------------------------


def ref_trade_levels(trades, mode="gross_value", threshold=None, leverages=LEVS, mmr=0.0,
                     weights=None, survivors_only=False):
    """Trade by trade. 'Earlier' = earlier time, then earlier row."""
    rows = []
    for i in range(len(trades)):
        rec = trades.iloc[i]
        rows.append((rec["time"], i, float(rec["price"]), float(rec["quantity"]), rec["side"]))
    rows.sort(key=lambda r: (r[0], r[1]))  # time order, equal times keep row order
    kept = []
    for side in ("buy", "sell"):
        mine = [r for r in rows if r[4] == side]
        if mode == "gross_value":
            t = 100_000 if threshold is None else threshold
            kept += [r for r in mine if r[2] * r[3] >= t]
        else:
            if mode == "top_n":
                n = 100 if threshold is None else threshold
            else:
                n = int(len(mine) * (0.01 if threshold is None else threshold))
            by_size = sorted(mine, key=lambda r: (-(r[2] * r[3]), r[0], r[1]))
            kept += by_size[:n]
    kept.sort(key=lambda r: (r[0], r[1]))
    share = [1.0] * len(leverages)
    if weights is not None:
        share = [w / sum(weights) for w in weights]
    out = []
    for r in kept:
        for lev, w in zip(leverages, share, strict=True):
            if r[4] == "buy":
                price = r[2] * (1 - 1 / lev + mmr)
            else:
                price = r[2] * (1 + 1 / lev - mmr)
            if survivors_only:
                later = [x for x in rows if (x[0], x[1]) > (r[0], r[1])]
                if r[4] == "buy" and any(x[2] <= price for x in later):
                    continue
                if r[4] == "sell" and any(x[2] >= price for x in later):
                    continue
            side = "long" if r[4] == "buy" else "short"
            out.append((r[0], side, lev, price, r[2], r[2] * r[3] * w))
    return pd.DataFrame(out, columns=["start", "side", "leverage", "price", "entry", "notional"])






def ref_map(levels, price, bin_size=None):
    """{(k, side, leverage): notional}, long at or below price, short at or above."""
    size = ref_bin_size(levels) if bin_size is None else bin_size
    cells: dict = {}
    for rec in levels.itertuples():
        if (rec.side == "long" and rec.price <= price) or (rec.side == "short"
                                                           and rec.price >= price):
            key = (ref_bin(rec.price, size), rec.side, rec.leverage)
            cells[key] = cells.get(key, 0.0) + rec.notional
    return cells, size


def ref_depth(levels, price, bin_size=None):
    cells, size = ref_map(levels, price, bin_size)
    per_bin: dict = {}
    for (k, side, _lev), value in cells.items():
        per_bin[(k, side)] = per_bin.get((k, side), 0.0) + value
    out = {}
    for (k, side), value in per_bin.items():
        if side == "long":  # everything between this bin and the price: bins k..above
            cum = sum(v for (j, s), v in per_bin.items() if s == side and j >= k)
        else:
            cum = sum(v for (j, s), v in per_bin.items() if s == side and j <= k)
        out[(k, side)] = (value, cum)
    return out, size


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


def make_trades(times, prices, quantities, sides):
    return pd.DataFrame({
        "time": pd.to_datetime(np.asarray(times, dtype=np.int64), unit="s", utc=True),
        "price": np.asarray(prices, dtype=float),
        "quantity": np.asarray(quantities, dtype=float),
        "side": list(sides),
    })


@st.composite
def trades_frames(draw, max_size=40):
    n = draw(st.integers(1, max_size))
    times = draw(st.lists(st.integers(0, 15), min_size=n, max_size=n))  # duplicates: ties
    prices = draw(st.lists(st.sampled_from([95.0, 98.5, 99.0, 100.0, 100.25, 101.0, 104.0]),
                           min_size=n, max_size=n))
    qty = draw(st.lists(st.sampled_from([10.0, 500.0, 1000.0, 1500.0, 2000.0]),
                        min_size=n, max_size=n))
    sides = draw(st.lists(st.sampled_from(["buy", "sell"]), min_size=n, max_size=n))
    return make_trades(times, prices, qty, sides)


def assert_levels_equal(got, want):
    assert list(got.columns) == list(indicator.TRADE_LEVEL_COLUMNS)
    assert len(got) == len(want)
    if len(want):
        assert (got["start"].to_numpy() == want["start"].to_numpy()).all()
        assert got["side"].tolist() == want["side"].tolist()
        assert got["leverage"].tolist() == want["leverage"].tolist()
        np.testing.assert_allclose(got["price"], want["price"], rtol=1e-12)
        np.testing.assert_allclose(got["entry"], want["entry"], rtol=0)
        np.testing.assert_allclose(got["notional"], want["notional"], rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# trade_levels
# ---------------------------------------------------------------------------------------------

MODE_CASES = [
    ("gross_value", None), ("gross_value", 100_000.0), ("gross_value", 150_000),
    ("top_n", 1), ("top_n", 3), ("top_n", 100),
    ("portion", 0.01), ("portion", 0.25), ("portion", 0.5), ("portion", 1.0),
]


@pytest.mark.parametrize(("mode", "threshold"), MODE_CASES)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trades=trades_frames())
def test_trade_levels_matches_reference(trades, mode, threshold):
    got = indicator.trade_levels(trades, mode=mode, threshold=threshold)
    assert_levels_equal(got, ref_trade_levels(trades, mode, threshold))


@settings(max_examples=60, deadline=None)
@given(trades=trades_frames(), mmr=st.sampled_from([0.0, 0.001, 0.005]),
       mode=st.sampled_from(["gross_value", "top_n", "portion"]))
def test_survivors_only_matches_reference(trades, mmr, mode):
    threshold = {"gross_value": 50_000, "top_n": 4, "portion": 0.5}[mode]
    got = indicator.trade_levels(trades, mode=mode, threshold=threshold, mmr=mmr,
                                 survivors_only=True)
    want = ref_trade_levels(trades, mode, threshold, mmr=mmr, survivors_only=True)
    assert_levels_equal(got, want)


def test_survivors_only_drops_crossed_levels():
    # a long at 100 (10x level 90, 100x level 99); a later print at 99 crosses only 100x
    trades = make_trades([0, 1, 2], [100.0, 99.0, 99.5], [2000.0, 1.0, 1.0],
                         ["buy", "sell", "buy"])
    got = indicator.trade_levels(trades, survivors_only=True)
    assert got["leverage"].tolist() == [10, 25, 50]
    # the crossing trade printed *before* the entry does not count
    early = make_trades([1, 0, 2], [100.0, 98.0, 99.5], [2000.0, 1.0, 1.0],
                        ["buy", "sell", "buy"])
    assert indicator.trade_levels(early, survivors_only=True)["leverage"].tolist() == list(LEVS)


def test_columns_dtypes_and_formula():
    trades = make_trades([5, 1], [200.0, 100.0], [1000.0, 2000.0], ["sell", "buy"])
    got = indicator.trade_levels(trades, leverages=(10, 100), mmr=0.004)
    assert list(got.columns) == ["start", "side", "leverage", "price", "entry", "notional"]
    assert str(got["start"].dtype) == "datetime64[ns, UTC]"
    assert got["leverage"].dtype == np.int64
    assert got["price"].dtype == np.float64 and got["notional"].dtype == np.float64
    # ordered by trade time (the buy at t=1 first), then the leverages' order
    assert got["side"].tolist() == ["long", "long", "short", "short"]
    np.testing.assert_allclose(got["price"], [100 * (1 - 0.1 + 0.004), 100 * (1 - 0.01 + 0.004),
                                              200 * (1 + 0.1 - 0.004), 200 * (1 + 0.01 - 0.004)])
    assert got["notional"].tolist() == [200_000.0] * 4  # full notional at every leverage


def test_ties_go_to_the_earlier_trade():
    # three equal buys; the row order is not the time order
    trades = make_trades([3, 1, 2], [100.0] * 3, [1500.0] * 3, ["buy"] * 3)
    got = indicator.trade_levels(trades, mode="top_n", threshold=2, leverages=(10,))
    assert got["start"].dt.second.tolist() == [1, 2]
    same_time = make_trades([0, 0, 0], [100.0, 50.0, 25.0], [1000.0, 2000.0, 4000.0],
                            ["sell"] * 3)
    got = indicator.trade_levels(same_time, mode="top_n", threshold=1, leverages=(10,))
    assert got["entry"].tolist() == [100.0]  # equal times: the earlier row


def test_selection_is_per_side():
    # the sells are all smaller than the buys, yet top_n keeps n of each side
    trades = make_trades(range(6), [100.0] * 6, [9000, 8000, 7000, 10, 20, 30],
                         ["buy"] * 3 + ["sell"] * 3)
    got = indicator.trade_levels(trades, mode="top_n", threshold=2, leverages=(10,))
    assert got["notional"].tolist() == [900_000.0, 800_000.0, 2_000.0, 3_000.0]


def test_portion_truncates_and_can_keep_nothing():
    trades = make_trades(range(99), [100.0] * 99, np.arange(1, 100) * 100.0, ["buy"] * 99)
    empty = indicator.trade_levels(trades, mode="portion", threshold=0.01)
    assert empty.empty and list(empty.columns) == list(indicator.TRADE_LEVEL_COLUMNS)
    assert str(empty["start"].dtype) == "datetime64[ns, UTC]"
    two = indicator.trade_levels(trades, mode="portion", threshold=0.025, leverages=(10,))
    assert two["notional"].tolist() == [980_000.0, 990_000.0]  # int(99 * 0.025) = 2


def test_gross_value_is_inclusive():
    trades = make_trades([0, 1], [100.0, 100.0], [1000.0, 999.99], ["buy", "buy"])
    got = indicator.trade_levels(trades, leverages=(10,))
    assert got["notional"].tolist() == [100_000.0]


def test_weights_split_the_notional():
    trades = make_trades([0], [100.0], [2000.0], ["buy"])
    got = indicator.trade_levels(trades, weights=(4, 3, 2, 1))
    np.testing.assert_allclose(got["notional"], [80_000, 60_000, 40_000, 20_000])
    by_map = indicator.trade_levels(trades, weights={10: 1, 100: 1})
    np.testing.assert_allclose(by_map["notional"], [100_000, 0, 0, 100_000])
    assert math.isclose(got["notional"].sum(), 200_000)


def test_non_utc_times_are_converted():
    trades = make_trades([0], [100.0], [2000.0], ["buy"])
    trades["time"] = trades["time"].dt.tz_convert("Asia/Tokyo")
    got = indicator.trade_levels(trades)
    assert str(got["start"].dtype) == "datetime64[ns, UTC]"
    assert got["start"].iloc[0] == pd.Timestamp(0, tz="UTC")


def test_microsecond_times_are_kept_exact():
    trades = make_trades([0], [100.0], [2000.0], ["buy"])
    times = pd.to_datetime([1_690_848_000_123_456], unit="us", utc=True)
    trades["time"] = pd.Series(times.as_unit("us"))  # pandas 2 would give ns without as_unit
    assert trades["time"].dt.unit == "us"
    got = indicator.trade_levels(trades)
    assert got["start"].iloc[0].value == 1_690_848_000_123_456_000


# ---------------------------------------------------------------------------------------------
# Bad input: a clear error for each
# ---------------------------------------------------------------------------------------------


def good():
    return make_trades([0, 1, 2], [100.0, 101.0, 99.0], [2000.0, 5.0, 3000.0],
                       ["buy", "sell", "sell"])


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"mode": "gross_value", "threshold": 0}, ValueError, "must be > 0"),
    ({"mode": "gross_value", "threshold": -5.0}, ValueError, "must be > 0"),
    ({"mode": "gross_value", "threshold": float("nan")}, ValueError, "must be > 0"),
    ({"mode": "top_n", "threshold": 0}, ValueError, "n >= 1"),
    ({"mode": "top_n", "threshold": -3}, ValueError, "n >= 1"),
    ({"mode": "top_n", "threshold": 2.5}, TypeError, "whole number"),
    ({"mode": "portion", "threshold": 0}, ValueError, r"in \(0, 1\]"),
    ({"mode": "portion", "threshold": 1.5}, ValueError, r"in \(0, 1\]"),
    ({"mode": "portion", "threshold": -0.1}, ValueError, r"in \(0, 1\]"),
    ({"mode": "gross_value", "threshold": "100k"}, TypeError, "not a number"),
    ({"mode": "top_m"}, ValueError, "Did you mean 'top_n'"),
    ({"mode": "grossvalue"}, ValueError, "Did you mean 'gross_value'"),
    ({"leverages": (1, 10)}, ValueError, "must be > 1"),
    ({"leverages": (10, 10)}, ValueError, "repeats"),
    ({"mmr": 0.2}, ValueError, "below 1/L"),
    ({"weights": (1, 2)}, ValueError, "one share per leverage"),
    ({"weights": (0, 0, 0, 0)}, ValueError, "sum to 0"),
    ({"weights": (1, -1, 1, 1)}, ValueError, "25x"),
    ({"weights": {7: 1.0}}, ValueError, "not in leverages"),
])
def test_bad_options(kwargs, error, match):
    with pytest.raises(error, match=match):
        indicator.trade_levels(good(), **kwargs)


def test_bad_trades_frames():
    with pytest.raises(TypeError, match="DataFrame"):
        indicator.trade_levels([1, 2, 3])
    with pytest.raises(ValueError, match="empty"):
        indicator.trade_levels(good().iloc[:0])
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['quantity'\]"):
        indicator.trade_levels(good().drop(columns="quantity"))


def test_naive_timestamps_are_refused():
    trades = good()
    trades["time"] = trades["time"].dt.tz_localize(None)
    with pytest.raises(ValueError, match=r"naive.*tz_localize\('UTC'\)"):
        indicator.trade_levels(trades)
    trades["time"] = [0, 1, 2]
    with pytest.raises(TypeError, match="datetime64 UTC"):
        indicator.trade_levels(trades)


def test_missing_time_names_the_row():
    trades = good()
    trades.loc[1, "time"] = pd.NaT
    with pytest.raises(ValueError, match=r"NaT.*row 1"):
        indicator.trade_levels(trades)


@pytest.mark.parametrize(("col", "value"), [
    ("price", np.nan), ("price", 0.0), ("price", -1.0), ("price", np.inf),
    ("quantity", np.nan), ("quantity", 0.0), ("quantity", -2.0),
])
def test_bad_price_or_quantity_names_column_and_row(col, value):
    trades = good()
    trades.index = [10, 11, 12]
    trades.loc[12, col] = value
    with pytest.raises(ValueError, match=rf"trades\['{col}'\].*row 2 \(index 12\)"):
        indicator.trade_levels(trades)


def test_non_numeric_quantity():
    trades = good()
    trades["quantity"] = ["1", "2", "3"]
    with pytest.raises(TypeError, match=r"trades\['quantity'\] must be numeric"):
        indicator.trade_levels(trades)


@pytest.mark.parametrize("value", ["Buy", "long", None, "", 1])
def test_bad_side_names_the_row(value):
    trades = good().astype({"side": object})
    trades.loc[1, "side"] = value
    with pytest.raises(ValueError, match=r"trades\['side'\].*row 1.*'buy' or 'sell'"):
        indicator.trade_levels(trades)


def test_bad_map_arguments():
    levels = indicator.trade_levels(good())
    for bad in (0, -1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="price="):
            indicator.liquidation_map(levels, price=bad)
        with pytest.raises(ValueError, match="bin_size="):
            indicator.depth(levels, price=100.0, bin_size=bad)
    with pytest.raises(TypeError, match="not a number"):
        indicator.liquidation_map(levels, price="100")
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['notional'\]"):
        indicator.depth(levels.drop(columns="notional"), price=100.0)
    broken = levels.copy()
    broken.loc[0, "side"] = "buy"
    with pytest.raises(ValueError, match="'long' or 'short'"):
        indicator.liquidation_map(broken, price=100.0)


# ---------------------------------------------------------------------------------------------
# liquidation_map and depth
# ---------------------------------------------------------------------------------------------


def map_cells(frame, size):
    cells = {}
    for rec in frame.itertuples():
        k = round(rec.price_low / size)
        assert math.isclose(rec.price_low, k * size) and math.isclose(rec.price_high,
                                                                      (k + 1) * size)
        cells[(k, rec.side, rec.leverage)] = rec.notional
    return cells


@settings(max_examples=80, deadline=None)
@given(trades=trades_frames(), current=st.sampled_from([90.0, 98.0, 99.0, 100.0, 100.25, 103.0]),
       bin_size=st.sampled_from([None, 0.01, 0.25, 1.0, 3.0]))
def test_map_matches_reference(trades, current, bin_size):
    levels = indicator.trade_levels(trades, mode="portion", threshold=0.5)
    got = indicator.liquidation_map(levels, price=current, bin_size=bin_size)
    assert list(got.columns) == list(indicator.MAP_COLUMNS)
    if levels.empty:
        assert got.empty
        return
    want, size = ref_map(levels, current, bin_size)
    cells = map_cells(got, size)
    assert cells.keys() == want.keys()
    for key, value in want.items():
        assert math.isclose(cells[key], value, rel_tol=1e-12)
    # ordered by price, long before short, then leverage
    keys = [(k, s != "long", lev) for (k, s, lev) in cells]
    assert keys == sorted(keys)


@settings(max_examples=80, deadline=None)
@given(trades=trades_frames(), current=st.sampled_from([90.0, 99.0, 100.0, 103.0]),
       bin_size=st.sampled_from([None, 0.5, 2.0]))
def test_depth_matches_reference(trades, current, bin_size):
    levels = indicator.trade_levels(trades, mode="top_n", threshold=5)
    got = indicator.depth(levels, price=current, bin_size=bin_size)
    assert list(got.columns) == list(indicator.DEPTH_COLUMNS)
    want, size = ref_depth(levels, current, bin_size)
    assert len(got) == len(want)
    for rec in got.itertuples():
        key = (round(rec.price_low / size), rec.side)
        assert math.isclose(rec.notional, want[key][0], rel_tol=1e-12)
        assert math.isclose(rec.cumulative, want[key][1], rel_tol=1e-12)
    # the outermost bins carry each side's total
    for side in ("long", "short"):
        part = got[got["side"] == side]
        if len(part):
            edge = part["cumulative"].iloc[0 if side == "long" else -1]
            assert math.isclose(edge, part["notional"].sum(), rel_tol=1e-12)


@settings(max_examples=60, deadline=None)
@given(trades=trades_frames(), bin_size=st.sampled_from([None, 0.01, 0.1, 7.0]))
def test_no_level_falls_off_an_edge(trades, bin_size):
    """The seed's bins started at the rounded minimum and stopped short of the maximum."""
    levels = indicator.trade_levels(trades, mode="portion", threshold=1.0)
    current = float(trades["price"].iloc[-1])
    got = indicator.liquidation_map(levels, price=current, bin_size=bin_size)
    longs = levels[(levels["side"] == "long") & (levels["price"] <= current)]
    shorts = levels[(levels["side"] == "short") & (levels["price"] >= current)]
    for side, part in (("long", longs), ("short", shorts)):
        total = got.loc[got["side"] == side, "notional"].sum()
        assert math.isclose(total, part["notional"].sum(), rel_tol=1e-12)
    size = default_bin_size(levels["entry"].to_numpy()) if bin_size is None else bin_size
    for p in pd.concat([longs, shorts])["price"]:
        k = ref_bin(p, size)
        assert (got["price_low"] == k * size).any()


def test_bins_hold_their_levels_in_float():
    # 29000.1 * (1 - 1/100) lands exactly on a 0.01 edge in decimal but not in float
    levels = pd.DataFrame({
        "start": pd.to_datetime([0, 0], unit="s", utc=True), "side": ["long", "short"],
        "leverage": [100, 100], "price": [28709.099, 29000.10], "entry": [29000.1, 28800.0],
        "notional": [1.0, 2.0],
    })
    got = indicator.liquidation_map(levels, price=28900.0, bin_size=0.01)
    for rec, p in zip(got.itertuples(), [28709.099, 29000.10], strict=True):
        assert rec.price_low <= p < rec.price_high


def test_default_bin_size_rule():
    def levels_with(entries):
        n = len(entries)
        return pd.DataFrame({"side": ["long"] * n, "leverage": [10] * n,
                             "price": [e * 0.9 for e in entries], "entry": entries,
                             "notional": [1.0] * n})
    assert ref_bin_size(levels_with([29_000.0, 29_350.0])) == 1.0  # spread 350 -> 10**(2-2)
    assert default_bin_size(np.array([29_000.0, 29_350.0])) == 1.0
    assert default_bin_size(np.array([29_000.0, 30_000.0])) == 10.0  # spread 1000 -> 10
    assert default_bin_size(np.array([1.0, 1.05])) == 0.0001  # spread 0.05 -> 10**(-2-2)
    assert default_bin_size(np.array([29_000.0, 29_000.0])) == 1.0  # equal: 10**(4-4)
    assert default_bin_size(np.array([0.5])) == 1e-5  # 10**(-1-4)
    got = indicator.liquidation_map(levels_with([29_000.0, 29_350.0]), price=30_000.0)
    assert (got["price_high"] - got["price_low"]).round(9).eq(1.0).all()


def test_one_side_empty_does_not_crash():
    """The seed crashed when one side had no level."""
    trades = make_trades([0, 1], [100.0, 100.0], [2000.0, 3000.0], ["buy", "buy"])
    levels = indicator.trade_levels(trades)
    m = indicator.liquidation_map(levels, price=100.0)
    d = indicator.depth(levels, price=100.0)
    assert set(m["side"]) == {"long"} and set(d["side"]) == {"long"}
    # nothing on the right side of the price at all: empty frames with the columns
    for frame in (indicator.liquidation_map(levels, price=50.0),
                  indicator.depth(levels, price=50.0)):
        assert frame.empty
    empty = indicator.liquidation_map(levels.iloc[:0], price=100.0)
    assert list(empty.columns) == list(indicator.MAP_COLUMNS) and empty.empty
    assert list(indicator.depth(levels.iloc[:0], price=1.0).columns) == list(
        indicator.DEPTH_COLUMNS)


def test_level_at_the_price_counts_on_its_side():
    levels = pd.DataFrame({"side": ["long", "short", "long", "short"], "leverage": [10] * 4,
                           "price": [100.0, 100.0, 100.5, 99.5], "entry": [111.0, 90.0, 1, 1],
                           "notional": [1.0, 2.0, 4.0, 8.0]})
    got = indicator.depth(levels, price=100.0, bin_size=1.0)
    assert got[["side", "notional"]].values.tolist() == [["long", 1.0], ["short", 2.0]]


def test_depth_is_monotone_outward():
    rng = np.random.default_rng(3)
    n = 2000
    trades = make_trades(np.arange(n), 100 + rng.normal(0, 1, n).cumsum() * 0.1,
                         rng.pareto(1.5, n) * 500, rng.choice(["buy", "sell"], n))
    levels = indicator.trade_levels(trades, mode="portion", threshold=0.05)
    current = float(trades["price"].iloc[-1])
    d = indicator.depth(levels, price=current)
    longs, shorts = d[d["side"] == "long"], d[d["side"] == "short"]
    assert longs["cumulative"].is_monotonic_decreasing and (longs["price_high"] <= current
                                                            + 1e-9).all()
    assert shorts["cumulative"].is_monotonic_increasing
    m = indicator.liquidation_map(levels, price=current)
    assert math.isclose(m["notional"].sum(), d["notional"].sum())


# ---------------------------------------------------------------------------------------------
# Streaming (one archive day at a time) equals batch
# ---------------------------------------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(prices=st.lists(st.floats(1, 1e6), min_size=0, max_size=40), data=st.data())
def test_later_extremes_at_positions_equals_a_loop(prices, data):
    """The lowest and highest price after each chosen trade, as a plain loop finds them."""
    price = np.array(prices, dtype=np.float64)
    chosen = sorted(data.draw(st.sets(st.integers(0, max(len(prices) - 1, 0)), max_size=12))
                    if len(prices) else [])
    low, high = indicator._selection.later_extremes_at(price, np.array(chosen, dtype=np.int64))
    for i, k in enumerate(chosen):
        after = prices[k + 1:]
        assert low[i] == (min(after) if after else np.inf)
        assert high[i] == (max(after) if after else -np.inf)
    assert len(low) == len(high) == len(chosen)


def stream(trades, cuts, mode, threshold, **kwargs):
    """Feed ``trades`` (time-sorted) to a TradeSelection in chunks cut at ``cuts``."""
    sel = TradeSelection(mode, threshold)
    bounds = [0, *sorted(cuts), len(trades)]
    chunks = {}
    for i, (a, b) in enumerate(itertools.pairwise(bounds)):
        part = trades.iloc[a:b]
        chunks[i] = trade_arrays(part) if len(part) else None
        if chunks[i] is None:
            continue
        sel.add(chunks[i], key=i)
    reads = 0
    for key in sel.stale():
        sel.add(chunks[key], key=key, replace=True)
        reads += 1
    assert sel.stale() == []
    return sel.levels(**kwargs), reads


@settings(max_examples=100, deadline=None)
@given(trades=trades_frames(max_size=60), data=st.data(),
       mode=st.sampled_from(["gross_value", "top_n", "portion"]),
       survivors=st.booleans())
def test_streaming_equals_batch(trades, data, mode, survivors):
    trades = trades.sort_values("time", kind="stable").reset_index(drop=True)
    threshold = {"gross_value": 100_000, "top_n": data.draw(st.integers(1, 8)),
                 "portion": data.draw(st.sampled_from([0.05, 0.1, 0.3, 0.5, 1.0]))}[mode]
    cuts = data.draw(st.lists(st.integers(1, max(len(trades) - 1, 1)), max_size=5, unique=True))
    cuts = [c for c in cuts if c < len(trades)]
    got, _ = stream(trades, cuts, mode, threshold, survivors_only=survivors)
    want = indicator.trade_levels(trades, mode=mode, threshold=threshold,
                                  survivors_only=survivors)
    assert_levels_equal(got, want)


def test_portion_rereads_a_day_whose_dropped_trades_make_the_cut():
    # day 1: 200 large trades; day 2: 2000 tiny ones. The window keeps int(2200*0.05) = 110
    # buys, all from day 1, more than day 1's own margin (ceil(2*0.05*200) + 64 = 84).
    big = make_trades(np.arange(200), [100.0] * 200, 1000.0 + np.arange(200), ["buy"] * 200)
    small = make_trades(1000 + np.arange(2000), [100.0] * 2000, [0.5] * 2000, ["buy"] * 2000)
    trades = pd.concat([big, small], ignore_index=True)
    got, reads = stream(trades, [200], "portion", 0.05, leverages=(10,))
    assert reads == 1
    want = indicator.trade_levels(trades, mode="portion", threshold=0.05, leverages=(10,))
    assert len(want) == 110
    assert_levels_equal(got, want)


def test_streaming_refuses_chunks_out_of_order_and_empty_windows():
    sel = TradeSelection("top_n", 3)
    late = trade_arrays(make_trades([10, 11], [1.0, 1.0], [1.0, 1.0], ["buy", "sell"]))
    early = trade_arrays(make_trades([5], [1.0], [1.0], ["buy"]))
    sel.add(late, key="b")
    with pytest.raises(ValueError, match="time order"):
        sel.add(early, key="a")
    with pytest.raises(ValueError, match="added already"):
        sel.add(late, key="b")
    with pytest.raises(ValueError, match="window holds no trades"):
        TradeSelection().levels()
