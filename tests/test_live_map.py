"""The live trade map (indicator.LiveTradeMap) equals the batch map over the same trades.

Fed chunk by chunk (random chunkings, down to one trade), after every chunk its levels, map
and depth equal ``trade_levels`` / ``liquidation_map`` / ``depth`` on every trade so far, in
every mode; it survives a pickle mid-stream; an older chunk is refused.
"""

from __future__ import annotations

import itertools
import pickle

import numpy as np
import pandas as pd
import pytest
from fakes import random_trades
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal
from test_trades import make_trades  # one builder of small trades frames

from liqlevels import indicator
from liqlevels.indicator import LiveTradeMap

MODES = ("gross_value", "top_n", "portion")


@st.composite
def trades_frames(draw, max_size=50):
    """Sorted trades with ties in time and in notional (few distinct prices and sizes)."""
    n = draw(st.integers(1, max_size))
    times = sorted(draw(st.lists(st.integers(0, 12), min_size=n, max_size=n)))
    prices = draw(st.lists(st.sampled_from([95.0, 98.5, 99.0, 100.0, 100.25, 101.0, 104.0]),
                           min_size=n, max_size=n))
    qty = draw(st.lists(st.sampled_from([10.0, 500.0, 1000.0, 1500.0, 2000.0]),
                        min_size=n, max_size=n))
    sides = draw(st.lists(st.sampled_from(["buy", "sell"]), min_size=n, max_size=n))
    return make_trades(times, prices, qty, sides)


def synthetic(n, seed=0):
    """``random_trades`` (aggTrades-like) as the trades frame of docs/method.md section 3."""
    raw = random_trades(n, seed=seed)
    return pd.DataFrame({
        "time": pd.to_datetime(raw["transact_time"], unit="ms", utc=True),
        "price": raw["price"], "quantity": raw["quantity"],
        "side": np.where(raw["is_buyer_maker"], "sell", "buy"),
    })


def chunks(trades, cuts):
    bounds = [0, *sorted(set(cuts)), len(trades)]
    return [trades.iloc[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def assert_live_equals_batch(live, seen, *, mode, threshold, bin_size=None, price=None,
                             **options):
    want = indicator.trade_levels(seen, mode=mode, threshold=threshold, **options)
    assert_frame_equal(live.levels(), want, check_exact=True)
    price = float(seen["price"].iloc[-1]) if price is None else price
    assert_frame_equal(live.liquidation_map(price=price),
                       indicator.liquidation_map(want, price=price, bin_size=bin_size),
                       check_exact=True)
    assert_frame_equal(live.depth(price=price),
                       indicator.depth(want, price=price, bin_size=bin_size), check_exact=True)


def feed_and_check(trades, cuts, *, mode, threshold, bin_size=None, price=None, **options):
    live = LiveTradeMap(mode=mode, threshold=threshold, bin_size=bin_size, **options)
    end = 0
    for part in chunks(trades, cuts):
        live.add(part)
        end += len(part)
        assert_live_equals_batch(live, trades.iloc[:end], mode=mode, threshold=threshold,
                                 bin_size=bin_size, price=price, **options)
    return live


def thresholds(mode):
    return {"gross_value": st.sampled_from([None, 5_000.0, 100_000.0, 150_000]),
            "top_n": st.integers(1, 8),
            "portion": st.sampled_from([0.05, 0.1, 0.3, 0.5, 1.0])}[mode]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trades=trades_frames(), data=st.data(), mode=st.sampled_from(MODES),
       bin_size=st.sampled_from([None, 0.5, 7.0]), price=st.sampled_from([None, 99.0, 101.0]))
def test_live_equals_batch_after_every_chunk(trades, data, mode, bin_size, price):
    threshold = data.draw(thresholds(mode))
    cuts = data.draw(st.lists(st.integers(1, max(len(trades) - 1, 1)), max_size=len(trades)))
    feed_and_check(trades, [c for c in cuts if c < len(trades)], mode=mode,
                   threshold=threshold, bin_size=bin_size, price=price)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trades=trades_frames(max_size=30), mode=st.sampled_from(MODES),
       mmr=st.sampled_from([0.0, 0.004]),
       weights=st.sampled_from([None, (1, 2, 3, 4), {10: 1.0, 100: 3.0}]))
def test_live_equals_batch_one_trade_at_a_time_with_options(trades, mode, mmr, weights):
    threshold = {"gross_value": 20_000.0, "top_n": 3, "portion": 0.2}[mode]
    feed_and_check(trades, range(1, len(trades)), mode=mode, threshold=threshold, mmr=mmr,
                   weights=weights)


@pytest.mark.parametrize(("mode", "threshold"),
                         [("gross_value", 2_000.0), ("top_n", 25), ("portion", 0.02)])
def test_synthetic_trades_random_chunks(mode, threshold):
    trades = synthetic(3_000, seed=7)
    rng = np.random.default_rng(1)
    cuts = np.cumsum(rng.integers(1, 120, 200))
    live = feed_and_check(trades, cuts[cuts < len(trades)], mode=mode, threshold=threshold)
    assert len(live.levels()) > 0


def test_top_n_drops_a_kept_trade_and_ties_go_to_the_earlier():
    trades = make_trades([0, 1, 2, 2, 3], [100.0] * 5, [10.0, 20.0, 20.0, 30.0, 20.0],
                         ["buy"] * 5)
    live = LiveTradeMap(mode="top_n", threshold=2, leverages=(10,))
    live.add(trades.iloc[:3])  # 20 @1 and 20 @2 tie against 10: the two 20s
    assert live.levels()["start"].dt.second.tolist() == [1, 2]
    live.add(trades.iloc[3:])  # 30 beats them; the later 20s lose the tie to the one @1
    assert live.levels()["start"].dt.second.tolist() == [1, 2]
    assert live.levels()["notional"].tolist() == [2000.0, 3000.0]


def test_portion_keeps_a_trade_it_left_out_before():
    live = LiveTradeMap(mode="portion", threshold=0.5, leverages=(10,))
    live.add(make_trades([0, 1], [100.0, 100.0], [3.0, 2.0], ["buy", "buy"]))
    assert live.levels()["notional"].tolist() == [300.0]
    live.add(make_trades([2, 3], [100.0, 100.0], [1.0, 1.0], ["buy", "buy"]))
    assert live.levels()["notional"].tolist() == [300.0, 200.0]  # the 200 is back


@pytest.mark.parametrize("mode", MODES)
def test_pickle_mid_stream_then_continue(mode):
    trades = synthetic(1_200, seed=3)
    threshold = {"gross_value": 2_000.0, "top_n": 20, "portion": 0.03}[mode]
    live = LiveTradeMap(mode=mode, threshold=threshold, bin_size=0.05)
    live.add(trades.iloc[:500])
    live.levels()  # a filled cache must not leak into the copy
    restored = pickle.loads(pickle.dumps(live))
    for part in chunks(trades.iloc[500:].reset_index(drop=True), [1, 2, 50, 333]):
        restored.add(part)
        live.add(part)
    assert_live_equals_batch(restored, trades, mode=mode, threshold=threshold, bin_size=0.05)
    assert_frame_equal(restored.liquidation_map(), live.liquidation_map(), check_exact=True)


def test_an_older_chunk_is_refused_naming_both_times():
    live = LiveTradeMap(mode="top_n", threshold=3)
    live.add(make_trades([10, 11], [1.0, 1.0], [1.0, 1.0], ["buy", "sell"]))
    with pytest.raises(ValueError, match=r"1970-01-01 00:00:05.*1970-01-01 00:00:11"):
        live.add(make_trades([5], [1.0], [1.0], ["buy"]))
    live.add(make_trades([11], [1.0], [1.0], ["buy"]))  # an equal time is fine
    assert live.count == 3


def test_chunk_rows_in_any_order_and_empty_chunks():
    trades = make_trades([3, 1, 2], [100.0, 101.0, 99.0], [1000.0] * 3, ["buy", "sell", "buy"])
    live = LiveTradeMap(mode="gross_value", threshold=1.0)
    live.add(trades.iloc[:0])
    live.add(trades)
    assert_live_equals_batch(live, trades, mode="gross_value", threshold=1.0,
                             price=100.0)
    assert live.last_price == 100.0  # the latest trade's, not the last row's


def test_no_trades_and_bad_options():
    live = LiveTradeMap()
    with pytest.raises(ValueError, match="no trades were added"):
        live.levels()
    with pytest.raises(ValueError, match="no trades were added"):
        live.liquidation_map()
    with pytest.raises(ValueError, match="Did you mean"):
        LiveTradeMap(mode="top")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="portion"):
        LiveTradeMap(mode="portion", threshold=2.0)
    with pytest.raises(ValueError, match="bin_size"):
        LiveTradeMap(bin_size=0.0)
    with pytest.raises(ValueError, match="side"):
        live.add(make_trades([1], [1.0], [1.0], ["long"]))
    assert live.count == 0


def test_duplicates_count_twice_as_in_the_batch():
    trades = make_trades([1, 2], [100.0, 100.0], [5.0, 7.0], ["buy", "buy"])
    live = LiveTradeMap(mode="gross_value", threshold=100.0)
    live.add(trades)
    live.add(trades.iloc[1:])
    assert_live_equals_batch(live, pd.concat([trades, trades.iloc[1:]]), mode="gross_value",
                             threshold=100.0)


@pytest.mark.parametrize(("mode", "threshold"), [("gross_value", 1.0), ("portion", 0.7)])
def test_crowded_cells_sum_as_the_batch_bit_for_bit(mode, threshold):
    # thousands of levels of very different sizes in a few cells: a plain running sum differs
    # from pandas' compensated groupby sum in the last bits; the live map must not
    rng = np.random.default_rng(5)
    n = 3_000
    trades = pd.DataFrame({
        "time": pd.to_datetime(np.arange(n), unit="s", utc=True),
        "price": rng.choice([100.0, 100.01, 100.02], n),
        "quantity": np.exp(rng.normal(0, 3, n)),
        "side": rng.choice(["buy", "sell"], n),
    })
    live = LiveTradeMap(mode=mode, threshold=threshold, bin_size=1.0)
    for part in chunks(trades, [1, 700, 701, 2_000]):
        live.add(part)
    assert_live_equals_batch(live, trades, mode=mode, threshold=threshold, bin_size=1.0,
                             price=100.005)
    want = indicator.trade_levels(trades, mode=mode, threshold=threshold)
    cell = want[(want["side"] == "long") & (want["leverage"] == 10)]["notional"].tolist()
    assert len(cell) > 500


def test_bad_price_is_named():
    live = LiveTradeMap(mode="top_n", threshold=2)
    live.add(make_trades([1], [100.0], [1.0], ["buy"]))
    with pytest.raises(ValueError, match="price"):
        live.liquidation_map(price=-1.0)
    with pytest.raises(TypeError, match="price"):
        live.depth(price="100")  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bin_size", [None, 0.01, 0.5])
def test_many_prices_between_chunks(mode, bin_size):
    # the cells are built once per kept set; each price filters them again (cells that
    # straddle the price are summed anew)
    trades = synthetic(2_000, seed=11)
    threshold = {"gross_value": 1_000.0, "top_n": 30, "portion": 0.05}[mode]
    live = LiveTradeMap(mode=mode, threshold=threshold, bin_size=bin_size)
    for part in chunks(trades, [700, 701, 1_500]):
        live.add(part)
        seen = trades.iloc[: live.count]
        want = indicator.trade_levels(seen, mode=mode, threshold=threshold)
        lo, hi = want["price"].min(), want["price"].max()
        for price in [*np.linspace(lo * 0.99, hi * 1.01, 9), *want["price"].iloc[:5]]:
            assert_frame_equal(live.liquidation_map(price=float(price)),
                               indicator.liquidation_map(want, price=float(price),
                                                         bin_size=bin_size), check_exact=True)
            assert_frame_equal(live.depth(price=float(price)),
                               indicator.depth(want, price=float(price), bin_size=bin_size),
                               check_exact=True)
