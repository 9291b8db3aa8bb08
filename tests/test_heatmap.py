"""indicator.heatmap and density's notional weight, held against plain loops over times and
lines written here from docs/heatmap.md and docs/method.md section 2."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import reference
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from test_trade_ends import synthetic_trades

from liqlevels import indicator
from liqlevels.feeds import sample_candles
from liqlevels.indicator import _heatmap

WEIGHTS = ("count", "oi_delta", "notional")


# --- the plain loops -----------------------------------------------------------------------



def ref_weight(row, weight: str) -> float:
    if weight == "count":
        return 1
    if weight == "oi_delta":
        return abs(row["oi_delta"])
    return row["notional"] if "notional" in row else abs(row["oi_delta"]) * row["entry"]




def ref_heatmap(levels: pd.DataFrame, times, bin_size=None, weight="count") -> list:
    """One time and one line at a time: sorted ``(time, k, long, short)`` of non-empty cells."""
    size = bin_size if bin_size is not None else reference.ref_bin_size(levels)
    rows = [dict(zip(levels.columns, r, strict=True)) for r in levels.itertuples(index=False)]
    out = []
    for t in times:
        cells: dict[int, list] = {}
        for row in rows:
            end = row.get("end", pd.NaT)
            if row["start"] <= t and (pd.isna(end) or end > t):
                cell = cells.setdefault(reference.ref_bin(row["price"], size), [0, 0])
                cell[0 if row["side"] == "long" else 1] += ref_weight(row, weight)
        out += [(t, k, *cells[k]) for k in sorted(cells)]
    return out


def assert_matches(got: pd.DataFrame, levels, times, bin_size=None, weight="count") -> None:
    want = ref_heatmap(levels, times, bin_size, weight)
    size = got.attrs.get("bin_size", bin_size)
    assert list(got.columns) == list(indicator.HEATMAP_COLUMNS)
    dtype = "int64" if weight == "count" else "float64"
    assert [str(d) for d in got.dtypes] == ["datetime64[ns, UTC]", "float64", "float64",
                                            dtype, dtype]
    assert len(got) == len(want)
    if not want:
        return
    w_time, w_k, w_long, w_short = (list(c) for c in zip(*want, strict=True))
    assert list(got["time"]) == w_time
    k = np.asarray(w_k, dtype=float)
    assert_allclose(got["price_low"], k * size, rtol=0, atol=0)
    assert_allclose(got["price_high"], (k + 1) * size, rtol=0, atol=0)
    if weight == "count":
        assert got["long"].tolist() == w_long and got["short"].tolist() == w_short
    else:
        scale = max(max(w_long), max(w_short))
        assert_allclose(got["long"], w_long, rtol=1e-9, atol=1e-9 * scale)
        assert_allclose(got["short"], w_short, rtol=1e-9, atol=1e-9 * scale)


# --- fixtures ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def oi_case():
    candles = sample_candles(500, timeframe="1h", seed=3)
    levels = indicator.oi_levels(candles, ma_length=20)
    assert 100 < len(levels) < 2000 and levels["end"].notna().any()
    return candles, levels


@pytest.fixture(scope="module")
def trade_case():
    candles = sample_candles(300, timeframe="1h", seed=9)
    trades = synthetic_trades(candles, n=2000, seed=4)
    levels = indicator.trade_levels(trades, mode="top_n", threshold=40)
    return candles, levels


# --- against the loop ----------------------------------------------------------------------

@pytest.mark.parametrize("weight", WEIGHTS)
def test_oi_levels_every_bar(oi_case, weight):
    candles, levels = oi_case
    got = indicator.heatmap(levels, candles.index, weight=weight)
    assert_matches(got, levels, candles.index, weight=weight)


@pytest.mark.parametrize("weight", WEIGHTS)
def test_oi_levels_coarse_and_off_bar_grids(oi_case, weight):
    candles, levels = oi_case
    coarse = candles.index[::7]
    assert_matches(indicator.heatmap(levels, coarse, bin_size=0.5, weight=weight), levels,
                   coarse, 0.5, weight)
    off = pd.date_range(candles.index[0] - pd.Timedelta("3h"), periods=60, freq="9h10min")
    assert_matches(indicator.heatmap(levels, off, bin_size=2.5, weight=weight), levels, off,
                   2.5, weight)


@pytest.mark.parametrize("weight", WEIGHTS)
@pytest.mark.parametrize("slab", [1, 37, 1000])
def test_slabs_of_times_give_the_same_cells(oi_case, monkeypatch, weight, slab):
    # The difference array is cumulated a slab of times at a time: small slabs (one time
    # per slab with slab=1) must carry the running sums across slab boundaries exactly.
    candles, levels = oi_case
    grid = candles.index[::5]
    whole = indicator.heatmap(levels, grid, bin_size=1.0, weight=weight)
    monkeypatch.setattr(_heatmap, "_SLAB_ENTRIES", slab)
    got = indicator.heatmap(levels, grid, bin_size=1.0, weight=weight)
    assert_matches(got, levels, grid, 1.0, weight)
    pd.testing.assert_frame_equal(got, whole, check_exact=weight == "count", rtol=1e-12)


@pytest.mark.parametrize("weight", ["count", "notional"])
def test_trade_levels_without_and_with_ends(trade_case, weight):
    candles, levels = trade_case
    grid = candles.index[::3]
    assert_matches(indicator.heatmap(levels, grid, weight=weight), levels, grid, weight=weight)
    ended = indicator.trade_level_ends(levels, candles)
    assert ended["end"].notna().any()
    got = indicator.heatmap(ended, grid, weight=weight)
    assert_matches(got, ended, grid, weight=weight)
    assert len(got) < len(indicator.heatmap(levels, grid, weight=weight))


@pytest.mark.parametrize("weight", WEIGHTS)
def test_real_okx_1h(okx_1h, weight):
    levels = indicator.oi_levels(okx_1h, ma_length=20)
    grid = okx_1h.index[::48]
    assert_matches(indicator.heatmap(levels, grid, weight=weight), levels, grid, weight=weight)


# --- properties ----------------------------------------------------------------------------

T0 = pd.Timestamp("2025-01-01", tz="UTC")


@st.composite
def line_frames(draw):
    n = draw(st.integers(0, 25))
    start = draw(st.lists(st.integers(0, 20), min_size=n, max_size=n))
    life = draw(st.lists(st.one_of(st.none(), st.integers(1, 10)), min_size=n, max_size=n))
    # Prices on and off the bin edges (multiples of 0.5 with bin_size 0.5).
    price = draw(st.lists(st.sampled_from([1.0, 1.5, 1.75, 2.0, 2.4999, 2.5, 7.25, 100.0]),
                          min_size=n, max_size=n))
    side = draw(st.lists(st.sampled_from(["long", "short"]), min_size=n, max_size=n))
    delta = draw(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=n, max_size=n))
    hours = pd.to_timedelta(np.asarray(start, dtype=np.int64), unit="h")
    ends = [None if d is None else T0 + pd.Timedelta(hours=s + d)
            for s, d in zip(start, life, strict=True)]
    return pd.DataFrame({
        "start": T0 + hours,
        "end": pd.to_datetime(ends, utc=True) if n else pd.Series([], dtype="datetime64[ns, UTC]"),
        "side": pd.array(side, dtype="string"),
        "leverage": 10,
        "price": np.asarray(price, dtype=float),
        "entry": np.asarray(price, dtype=float) * 1.1,
        "tier": 1,
        "oi_delta": np.asarray(delta, dtype=float),
    })


@st.composite
def grids(draw):
    hours = sorted(set(draw(st.lists(st.integers(-2, 32), min_size=1, max_size=15))))
    return pd.DatetimeIndex([T0 + pd.Timedelta(hours=h) for h in hours]).as_unit("ns")


@given(line_frames(), grids(), st.sampled_from(WEIGHTS))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_property_each_time_sums_to_its_live_lines(levels, grid, weight):
    got = indicator.heatmap(levels, grid, bin_size=0.5, weight=weight)
    assert_matches(got, levels, grid, 0.5, weight)
    w = np.ones(len(levels)) if weight == "count" else np.abs(levels["oi_delta"].to_numpy())
    if weight == "notional":
        w = w * levels["entry"].to_numpy()
    for t in grid:
        live = indicator.active_mask(levels, t)
        cells = got[got["time"] == t]
        total = cells["long"].sum() + cells["short"].sum()
        assert_allclose(total, w[live].sum(), rtol=1e-9, atol=1e-9 * max(w.sum(), 1))
        assert (cells.empty if not live.any() else
                cells["price_low"].is_monotonic_increasing and cells["price_low"].is_unique)


# --- edges ---------------------------------------------------------------------------------

def _lines(rows) -> pd.DataFrame:
    """OI-like lines from ``(start hour, end hour or None, side, price)``."""
    return pd.DataFrame({
        "start": pd.to_datetime([T0 + pd.Timedelta(hours=r[0]) for r in rows], utc=True),
        "end": pd.to_datetime([None if r[1] is None else T0 + pd.Timedelta(hours=r[1])
                               for r in rows], utc=True),
        "side": pd.array([r[2] for r in rows], dtype="string"),
        "leverage": 10, "price": [float(r[3]) for r in rows], "entry": 100.0, "tier": 1,
        "oi_delta": 2.0,
    })


def _grid(*hours):
    return pd.DatetimeIndex([T0 + pd.Timedelta(hours=h) for h in hours])


def test_no_lines_and_no_times_give_the_empty_schema(oi_case):
    candles, levels = oi_case
    for weight, dtype in (("count", "int64"), ("oi_delta", "float64")):
        for got in (indicator.heatmap(levels.iloc[:0], candles.index, weight=weight),
                    indicator.heatmap(levels, candles.index[:0], weight=weight),
                    indicator.heatmap(levels, candles.index[:1], weight=weight)):
            assert list(got.columns) == list(indicator.HEATMAP_COLUMNS) and got.empty
            assert str(got["time"].dtype) == "datetime64[ns, UTC]"
            assert str(got["long"].dtype) == dtype


def test_one_time_is_a_density_on_aligned_bins(oi_case):
    candles, levels = oi_case
    at = candles.index[300]
    got = indicator.heatmap(levels, candles.index[300:301], bin_size=1.0)
    live = levels[indicator.active_mask(levels, at)]
    assert (got["time"] == at).all()
    assert got["long"].sum() == (live["side"] == "long").sum()
    assert got["short"].sum() == (live["side"] == "short").sum()
    assert_matches(got, levels, [at], 1.0)


def test_line_ending_exactly_at_t_is_not_live_at_t_but_starting_is():
    levels = _lines([(1, 3, "long", 10.0), (3, None, "short", 10.2)])
    got = indicator.heatmap(levels, _grid(0, 1, 2, 3, 4), bin_size=1.0)
    assert got["time"].tolist() == list(_grid(1, 2, 3, 4))
    assert got[["long", "short"]].to_numpy().tolist() == [[1, 0], [1, 0], [0, 1], [0, 1]]
    assert (got["price_low"] == 10.0).all() and (got["price_high"] == 11.0).all()


def test_bin_edges_belong_to_the_upper_bin():
    levels = _lines([(0, None, "long", 2.0), (0, None, "long", 1.9999), (0, None, "short", 2.5)])
    got = indicator.heatmap(levels, _grid(0), bin_size=0.5)
    assert got[["price_low", "price_high", "long", "short"]].to_numpy().tolist() == [
        [1.5, 2.0, 1, 0], [2.0, 2.5, 1, 0], [2.5, 3.0, 0, 1]]


def test_default_bin_size_is_the_maps(oi_case):
    candles, levels = oi_case
    got = indicator.heatmap(levels, candles.index[::50])
    assert got.attrs["bin_size"] == reference.ref_bin_size(levels)
    assert_allclose(got["price_high"] - got["price_low"], reference.ref_bin_size(levels))


def test_a_side_with_no_line_is_exactly_zero_after_floats_cancel():
    # 0.1 + 0.2 - 0.1 - 0.2 is 5.5e-17 in floats; a side whose lines have all ended is 0.
    levels = _lines([(0, 1, "short", 10.0), (0, 2, "short", 10.5),
                     (0, None, "long", 10.1)]).assign(oi_delta=[0.1, 0.2, 0.7])
    got = indicator.heatmap(levels, _grid(0, 1, 2, 3), bin_size=1.0, weight="oi_delta")
    assert_allclose(got["short"][:2], [0.3, 0.2])
    assert got["short"].tolist()[2:] == [0.0, 0.0]
    assert got["long"].tolist() == [0.7] * 4


# --- errors that teach ---------------------------------------------------------------------

def test_bad_times_teach(oi_case):
    candles, levels = oi_case
    cases = [
        (candles.index.tz_localize(None), ValueError, "naive"),
        (candles.index[::-1], ValueError, "out of order"),
        (candles.index.repeat(2), ValueError, "repeated"),
        (candles, TypeError, "candles.index"),
        (list(candles.index), TypeError, "DatetimeIndex"),
        (pd.DatetimeIndex([candles.index[0], pd.NaT]), ValueError, "NaT"),
    ]
    for times, error, match in cases:
        with pytest.raises(error, match=match):
            indicator.heatmap(levels, times)


def test_bad_options_teach(oi_case, trade_case):
    candles, levels = oi_case
    with pytest.raises(ValueError, match="Did you mean 'notional'"):
        indicator.heatmap(levels, candles.index, weight="notionl")
    for bad in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="finite number > 0"):
            indicator.heatmap(levels, candles.index, bin_size=bad)
    with pytest.raises(TypeError, match="not a number"):
        indicator.heatmap(levels, candles.index, bin_size="1")
    with pytest.raises(ValueError, match=r"too fine|more than"):
        indicator.heatmap(levels, candles.index, bin_size=1e-12)
    with pytest.raises(ValueError, match="use weight='notional'"):
        indicator.heatmap(trade_case[1], candles.index, weight="oi_delta")
    with pytest.raises(ValueError, match="use weight='notional'"):
        indicator.density(trade_case[1], weight="oi_delta")
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['entry'\]"):
        indicator.heatmap(levels.drop(columns="entry"), candles.index, weight="notional")


def test_too_many_cells_suggests_a_coarser_grid(oi_case, monkeypatch):
    candles, levels = oi_case
    monkeypatch.setattr(_heatmap, "MAX_HEATMAP_CELLS", 10_000)
    with pytest.raises(ValueError, match=r"coarser grid .* larger bin_size"):
        indicator.heatmap(levels, candles.index, bin_size=0.1)
    assert len(indicator.heatmap(levels, candles.index[::100], bin_size=0.1)) > 0


# --- density's notional weight -------------------------------------------------------------

def ref_density_notional(levels, at, bins):
    """reference.density with the notional weight: each live line's notional (the column of
    trade levels, |oi_delta| * entry of OI levels) in place of |oi_delta|."""
    weight = (levels["notional"] if "notional" in levels.columns
              else levels["oi_delta"].abs() * levels["entry"])
    frame = levels.assign(oi_delta=weight.to_numpy())
    if "end" not in frame.columns:
        frame = frame.assign(end=pd.NaT)
    return reference.density(frame, at=at, bins=bins, weight="oi_delta")


def assert_density(got, want):
    assert len(got) == len(want)
    if want:
        assert_allclose(got.to_numpy(dtype=float), np.asarray(want, dtype=float), rtol=1e-12)


@pytest.mark.parametrize("at_bar", [None, 100, 250, 499])
def test_density_notional_on_oi_levels(oi_case, at_bar):
    candles, levels = oi_case
    at = None if at_bar is None else candles.index[at_bar]
    got = indicator.density(levels, at=at, bins=30, weight="notional")
    assert got["long"].dtype == np.float64
    assert_density(got, ref_density_notional(levels, at, 30))


def test_density_notional_and_count_on_trade_levels_with_ends(trade_case):
    candles, levels = trade_case
    with pytest.raises(ValueError, match=r"\['end'\].*trade_level_ends\(levels, candles\)"):
        indicator.density(levels, weight="notional")
    with pytest.raises(ValueError, match=r"\['end'\].*trade_level_ends"):
        indicator.active_mask(levels)
    ended = indicator.trade_level_ends(levels, candles)
    assert indicator.active_mask(ended).sum() == ended["end"].isna().sum()
    for at in (None, candles.index[150], candles.index[-1]):
        got = indicator.density(ended, at=at, bins=20, weight="notional")
        assert len(got) > 0
        assert_density(got, ref_density_notional(ended, at, 20))
        assert_density(indicator.density(ended, at=at, bins=20),
                       reference.density(ended, at=at, bins=20))


def test_oi_levels_without_end_are_refused_by_density_but_not_heatmap(oi_case):
    candles, levels = oi_case
    for weight in WEIGHTS:
        with pytest.raises(ValueError, match=r"lacks column\(s\) \['end'\]"):
            indicator.density(levels.drop(columns="end"), weight=weight)
    grid = candles.index[::25]
    assert_matches(indicator.heatmap(levels.drop(columns="end"), grid), levels.assign(end=pd.NaT),
                   grid)


def test_density_notional_on_real_okx_1h(okx_1h):
    levels = indicator.oi_levels(okx_1h, ma_length=20)
    for at in (None, okx_1h.index[len(okx_1h) // 2]):
        assert_density(indicator.density(levels, at=at, bins=40, weight="notional"),
                       ref_density_notional(levels, at, 40))
