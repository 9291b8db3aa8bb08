"""Paging through row-limited pages and the no-lookahead join, as properties against
plain reference loops."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liqlevels.feeds._join import candles_frame, join_open_interest
from liqlevels.feeds._rest import page_through

STEP = 10


@st.composite
def exchanges(draw):
    """A series on a grid with gaps, and an exchange that serves windows in its own way:
    oldest or newest first, capped at a limit, sometimes cut short, with duplicates."""
    n = draw(st.integers(0, 60))
    present = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    origin = draw(st.integers(0, 5)) * STEP
    series = {origin + i * STEP: (float(i),) for i, keep in enumerate(present) if keep}
    limit = draw(st.integers(1, 12))
    newest_first = draw(st.booleans())
    cuts = draw(st.lists(st.floats(0.1, 1.0), min_size=1, max_size=8))
    dup = draw(st.booleans())
    return series, limit, newest_first, cuts, dup, origin, n


@given(exchanges(), st.integers(0, 4))
@settings(max_examples=300, deadline=None)
def test_every_row_in_range_is_fetched_whatever_the_pages_look_like(exchange, pad) -> None:
    series, limit, newest_first, cuts, dup, origin, n = exchange
    calls = []

    def window(a: int, b: int):
        rows = sorted(t for t in series if a <= t < b)
        rows = rows[-limit:] if newest_first else rows[:limit]
        cut = cuts[len(calls) % len(cuts)]
        calls.append((a, b))
        keep = max(1, math.ceil(len(rows) * cut)) if rows else 0
        rows = rows[-keep:] if newest_first else rows[:keep]  # truncated page
        if dup:
            rows = rows + rows[:2]
        if newest_first:
            rows = rows[::-1]
        yield from ((t, series[t]) for t in rows)
        yield (origin - STEP * 100, (0.0,))  # outside the window: must be ignored

    start, end = origin - pad * STEP, origin + n * STEP + pad * STEP
    got = page_through(window, start, end, STEP, limit, width=2)
    assert {int(t): (v,) for t, v in got.rows} == {
        t: v for t, v in series.items() if start <= t < end}
    assert len(calls) <= 4 * (len(series) + 1) + (end - start) // (STEP * limit) + 2
    assert all(b - a <= STEP * limit for a, b in calls)
    # what it vouches for holds every row, and a slot it vouches for without a row has none
    for a, b in got.vouched:
        assert start <= a < b <= end
        assert all((t in series) == (t in set(got.rows[:, 0])) for t in range(a, b, STEP))
    assert all(any(a <= t < b for a, b in got.vouched) for t in got.rows[:, 0])
    assert got.refused == []


def _reference_join(bars, step, oi, tolerance):
    """Bar by bar: the newest snapshot stamped at or before the bar's close, if it is
    younger than ``tolerance``."""
    out = []
    for t in bars:
        close = t + step
        best = None
        for ts, amount, value in oi:
            if ts <= close and close - ts < tolerance and (best is None or ts > best[0]):
                best = (ts, amount, value)
        out.append((np.nan, np.nan) if best is None else best[1:])
    return out


@given(st.sets(st.integers(0, 40), max_size=30), st.sets(st.integers(0, 200), max_size=40),
       st.sampled_from([(5, 5), (5, 1), (1, 5), (15, 5), (5, 15)]))
@settings(max_examples=200, deadline=None)
def test_join_matches_the_reference_and_never_looks_ahead(bar_slots, oi_slots, steps) -> None:
    step, oi_step = steps
    bars = np.array(sorted(s * step for s in bar_slots), dtype=np.int64)
    snaps = sorted(s * oi_step for s in oi_slots)
    oi = np.array([[t, 1000.0 + t, 2000.0 + t] for t in snaps]).reshape(-1, 3)
    amount, value = join_open_interest(bars, step, oi, oi_step)
    expected = _reference_join(bars, step, oi, oi_step)
    np.testing.assert_array_equal(amount, [e[0] for e in expected])
    np.testing.assert_array_equal(value, [e[1] for e in expected])
    used = amount[~np.isnan(amount)] - 1000.0
    assert (used <= bars[~np.isnan(amount)] + step).all()  # never a later snapshot


def test_units_linear_contracts_are_coins_and_missing_values_are_amount_times_close() -> None:
    ohlcv = np.array([[0, 10.0, 11.0, 9.0, 10.0, 5.0], [60_000, 10.0, 12.0, 9.5, 11.0, 6.0]])
    frame = candles_frame(ohlcv, np.array([100.0, np.nan]), np.array([np.nan, np.nan]),
                          {"linear": True, "contractSize": 0.01})
    assert frame["open_interest"].tolist()[0] == pytest.approx(1.0)
    assert frame["open_interest_value"].tolist()[0] == pytest.approx(10.0)
    assert np.isnan(frame["open_interest"].iloc[1])
    inverse = candles_frame(ohlcv, np.array([np.nan, 7.0]), np.array([500.0, np.nan]),
                            {"inverse": True, "contractSize": 100.0})
    assert inverse["open_interest"].tolist() == [5.0, 7.0]  # contracts
    assert inverse["open_interest_value"].tolist() == [500.0, 700.0]  # USD
    assert list(frame.columns) == ["open", "high", "low", "close", "volume", "open_interest",
                                   "open_interest_value"]


def test_time_helpers() -> None:
    import pandas as pd

    from liqlevels.feeds._time import align_ceil, align_floor, fmt_ms
    from liqlevels.vocab import timeframe_ms, to_ms

    monday = pd.Timestamp("2026-06-22", tz="UTC")  # a Monday
    inside = int((monday + pd.Timedelta(days=3, hours=5)).value // 10**6)
    week = timeframe_ms("1w")
    assert align_floor(inside, week) == monday.value // 10**6
    assert align_ceil(inside, week) == monday.value // 10**6 + week
    assert align_ceil(monday.value // 10**6, week) == monday.value // 10**6
    assert to_ms("2026-06-22", "since") == to_ms(monday, "since") == monday.value // 10**6
    assert to_ms(pd.Timestamp("2026-06-22 09:00", tz="Asia/Tokyo"), "x") == to_ms(
        "2026-06-22 00:00", "x")
    assert to_ms(None, "x") is None and to_ms(1.5e12, "x") == 1_500_000_000_000
    assert fmt_ms(monday.value // 10**6) == "2026-06-22 00:00 UTC"
    for bad, error in [("soon", ValueError), (True, TypeError), (float("nan"), ValueError),
                       (object(), TypeError)]:
        with pytest.raises(error, match="since"):
            to_ms(bad, "since")
    with pytest.raises(ValueError, match="timeframe"):
        timeframe_ms("5 minutes")


def test_exchange_ids_get_one_shared_instance_with_the_rate_limiter_on() -> None:
    from liqlevels.feeds._exchanges import choose_oi_timeframe, resolve_exchange

    first = resolve_exchange("okx")
    assert first is resolve_exchange("okx") and first.enableRateLimit
    assert choose_oi_timeframe(first, 4 * 3_600_000) == ("1h", False)
    assert choose_oi_timeframe(first, 60_000) == ("5m", True)
    assert choose_oi_timeframe(resolve_exchange("bybit"), 2 * 3_600_000) == ("1h", False)
