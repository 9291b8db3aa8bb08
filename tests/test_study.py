"""indicator.study: held against plain loops written here from docs/study.md, a hand-made
case with known counts, no lookahead, calibration on markets that ignore their levels, power
on a market drawn to them, and the real OKX data end to end."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import reference
from conftest import load_okx_candles
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from liqlevels import indicator
from liqlevels.feeds import sample_candles
from liqlevels.indicator import _study

BANDS = indicator.STUDY_BANDS


# --- the plain loops --------------------------------------------------------------------------


def ref_atr(candles: pd.DataFrame) -> list[float]:
    """Wilder's ATR over 14 bars as a loop: the mean of the first 14 true ranges (the first
    is high - low), then ``(atr * 13 + tr) / 14``; NaN before."""
    h, lo, c = (candles[k].tolist() for k in ("high", "low", "close"))
    tr = [h[0] - lo[0]] + [max(h[i] - lo[i], abs(h[i] - c[i - 1]), abs(lo[i] - c[i - 1]))
                           for i in range(1, len(c))]
    out = [math.nan] * len(c)
    if len(c) >= 14:
        out[13] = sum(tr[:14]) / 14
        for i in range(14, len(c)):
            out[i] = (out[i - 1] * 13 + tr[i]) / 14
    return out


def ref_weight(row: dict, weight: str) -> float:
    if weight == "count":
        return 1.0
    if weight == "oi_delta":
        return abs(row["oi_delta"])
    return row["notional"] if "notional" in row else abs(row["oi_delta"]) * row["entry"]


def ref_clusters(levels: pd.DataFrame, time, close: float, bands, weight: str, size: float):
    """``{(side, band): (price, distance)}``: the heaviest live bin (ties within 1e-9, then
    the nearest) per side and band, one line at a time."""
    bins: dict = {}
    for row in (dict(zip(levels.columns, r, strict=True))
                for r in levels.itertuples(index=False)):
        end = row.get("end", pd.NaT)
        if row["start"] <= time and (pd.isna(end) or end > time):
            key = (row["side"], reference.ref_bin(row["price"], size))
            bins[key] = bins.get(key, 0.0) + ref_weight(row, weight)
    out = {}
    for side in ("long", "short"):
        for b, (lo, hi) in enumerate(bands):
            found = []
            for (s, k), w in bins.items():
                mid = (k * size + (k + 1) * size) / 2
                d = (close - mid) / close if side == "long" else (mid - close) / close
                if s == side and lo <= d < hi:
                    found.append((w, d, mid))
            if found:
                best = max(w for w, _, _ in found)
                w, d, mid = min((f for f in found if f[0] >= best * (1 - 1e-9)),
                                key=lambda f: f[1])
                out[side, b] = (mid, d)
    return out


def ref_study(candles, levels, *, horizon, bands=BANDS, weight="count", every=1, size=None):
    """Rows ``(side, band) -> dict(n, touch_rate, expected_rate, reaction_n, reaction_rate,
    reaction_expected)`` from loops over the sampled bars."""
    h, lo_, c = (candles[k].tolist() for k in ("high", "low", "close"))
    atr = ref_atr(candles)
    n = len(c)
    size = size or reference.ref_bin_size(levels)
    samples = [t for t in range(0, n, every) if t + horizon <= n - 1 and atr[t] > 0]

    def reach(s: int, side: str, j: int) -> float:  # excursion (ATRs) over bars s+1..s+j
        if side == "short":
            return (max(h[s + 1: s + j + 1]) - c[s]) / atr[s]
        return (c[s] - min(lo_[s + 1: s + j + 1])) / atr[s]

    def back(s: int, side: str, j: int) -> float:  # where the close h bars after s+j is
        later = c[s + j + horizon]
        return (later - c[s]) / atr[s] if side == "short" else (c[s] - later) / atr[s]

    out = {}
    found = {t: ref_clusters(levels, candles.index[t], c[t], bands, weight, size)
             for t in samples}
    for side in ("long", "short"):
        excursions = [reach(s, side, horizon) for s in samples]
        base = [s for s in samples if s + 2 * horizon <= n - 1]
        for b in range(len(bands)):
            touch, expected, react, rexp = [], [], [], []
            for t in samples:
                if (side, b) not in found[t]:
                    continue
                p, _ = found[t][side, b]
                x = (p - c[t]) / atr[t] if side == "short" else (c[t] - p) / atr[t]
                hits = [j for j in range(1, horizon + 1)
                        if (h[t + j] >= p if side == "short" else lo_[t + j] <= p)]
                touch.append(bool(hits))
                expected.append(sum(e >= x for e in excursions) / len(excursions))
                if hits and t + hits[0] + horizon <= n - 1:
                    later = c[t + hits[0] + horizon]
                    touched = reacted = 0
                    for s in base:
                        first = next((j for j in range(1, horizon + 1)
                                      if reach(s, side, j) >= x), None)
                        if first is not None:
                            touched += 1
                            reacted += x > back(s, side, first)
                    if touched:
                        react.append(later < p if side == "short" else later > p)
                        rexp.append(reacted / touched)
            out[side, b] = {"n": len(touch), "touch_rate": np.mean(touch) if touch else np.nan,
                            "expected_rate": np.mean(expected) if touch else np.nan,
                            "reaction_n": len(react),
                            "reaction_rate": np.mean(react) if react else np.nan,
                            "reaction_expected": np.mean(rexp) if react else np.nan}
    return out


def assert_like_reference(got: pd.DataFrame, want: dict, bands) -> None:
    for i, (side, b) in enumerate((s, b) for s in ("long", "short") for b in range(len(bands))):
        row = got.iloc[i]
        assert (row["side"], row["band_low"], row["band_high"]) == (side, *bands[b])
        for key, value in want[side, b].items():
            assert_allclose(row[key], value, rtol=1e-12, atol=1e-12, err_msg=f"{side} {b} {key}")


# --- against the loops ------------------------------------------------------------------------


def test_atr_is_wilders_average_of_true_ranges() -> None:
    candles = sample_candles(300, seed=4)
    assert_allclose(_study.atr(*(candles[k].to_numpy() for k in ("high", "low", "close"))),
                    ref_atr(candles), rtol=1e-12)


@pytest.mark.parametrize(("seed", "horizon", "every", "weight"),
                         [(1, 6, 1, "count"), (2, 4, 3, "notional"), (3, 10, 2, "oi_delta")])
def test_rates_equal_the_plain_loop(seed: int, horizon: int, every: int, weight: str) -> None:
    candles = sample_candles(260, seed=seed, burst_rate=0.05)
    levels = indicator.oi_levels(candles, ma_length=20)
    got = indicator.study(candles, levels, horizon=horizon, every=every, weight=weight,
                          n_boot=0)
    want = ref_study(candles, levels, horizon=horizon, every=every, weight=weight)
    assert got["n"].sum() > 50
    assert_like_reference(got, want, BANDS)


def test_trade_levels_get_their_ends_and_equal_the_loop() -> None:
    candles = sample_candles(200, seed=5)
    rng = np.random.default_rng(5)
    times = candles.index[rng.integers(0, 150, 60)].sort_values()
    trades = pd.DataFrame({"time": times, "price": candles["close"].reindex(times).to_numpy(),
                           "quantity": rng.uniform(1, 5, 60),
                           "side": rng.choice(["buy", "sell"], 60)})
    levels = indicator.trade_levels(trades, mode="top_n", threshold=30,
                                    leverages=(50, 100, 200))
    got = indicator.study(candles, levels, horizon=5, n_boot=0)
    ended = indicator.trade_level_ends(levels, candles)
    want = ref_study(candles, ended, horizon=5, weight="notional")
    assert got["n"].sum() > 20
    assert_like_reference(got, want, BANDS)


def test_intervals_equal_a_loop_over_the_same_block_draws() -> None:
    candles = sample_candles(800, seed=6)
    got = indicator.study(candles, horizon=8, block="2D", n_boot=60, seed=3, level=0.9)
    levels = indicator.oi_levels(candles)
    bars = _study._bars(candles, 8, 1)
    picked = _study.clusters(levels, bars.index[bars.pos], bars.close[bars.pos], BANDS,
                             "notional", None)
    days = (bars.index[bars.pos].as_unit("ns").asi8 // (2 * 86_400 * 10**9)).tolist()
    names = sorted(set(days))
    blocks = [names.index(d) for d in days]
    rng = np.random.default_rng(3)
    draws = rng.integers(0, len(names), size=(60, len(names)))
    for i, side in enumerate(("long", "short")):
        base = np.sort(bars.down if side == "long" else bars.up)
        for b in range(len(BANDS)):
            o = _study._observations(bars, picked[side][0][:, b], 8, side, base,
                                     _study._reaction_base(bars, 8, side))
            lifts = []
            for draw in draws:
                picked_rows = [r for k in draw for r in range(len(o.row))
                               if blocks[o.row[r]] == k]
                if picked_rows:
                    lifts.append(np.mean([o.touch[r] - o.expected[r] for r in picked_rows]))
            row = got.iloc[i * len(BANDS) + b]
            if len(lifts) >= 30:
                assert_allclose([row["ci_low"], row["ci_high"]],
                                np.percentile(lifts, [5, 95]), rtol=1e-9, atol=1e-12)


def heatmap_pick(levels, times, close, bands, weight):
    """The clusters from the public ``indicator.heatmap`` frame, by pandas: per time, side
    and band the heaviest cell, ties (within 1e-9) to the nearest."""
    cells = indicator.heatmap(levels, times, weight=weight)
    at = pd.Series(close, index=times)
    out = {}
    for side in ("long", "short"):
        frame = cells[cells[side] > 0].copy()
        c = at.reindex(frame["time"]).to_numpy()
        frame["mid"] = (frame["price_low"] + frame["price_high"]) / 2
        frame["d"] = (c - frame["mid"]) / c if side == "long" else (frame["mid"] - c) / c
        for b, (lo, hi) in enumerate(bands):
            inside = frame[(frame["d"] >= lo) & (frame["d"] < hi)]
            best = inside.groupby("time")[side].transform("max")
            top = inside[inside[side] >= best * (1 - 1e-9)]
            pick = top.sort_values(["time", "d"]).groupby("time").first()
            out[side, b] = pick["mid"]
    return out


@pytest.mark.parametrize("weight", ["count", "notional"])
def test_the_sweep_picks_what_the_heatmap_frame_gives(weight: str) -> None:
    candles = sample_candles(3000, timeframe="5m", seed=10, burst_rate=0.03)
    levels = indicator.oi_levels(candles)
    times, close = candles.index[20:], candles["close"].to_numpy()[20:]
    got = _study.clusters(levels, times, close, BANDS, weight, None)
    want = heatmap_pick(levels, times, close, BANDS, weight)
    for side in ("long", "short"):
        assert np.isfinite(got[side][0]).sum() > 2000
        for b in range(len(BANDS)):
            expected = want[side, b].reindex(times).to_numpy()
            assert_allclose(got[side][0][:, b], expected, rtol=1e-12, err_msg=f"{side} {b}")


def test_the_uncompiled_sweep_is_the_same_function() -> None:
    candles = sample_candles(400, seed=13, burst_rate=0.05)
    levels = indicator.oi_levels(candles, ma_length=20)
    times, close = candles.index, candles["close"].to_numpy()
    compiled = _study.clusters(levels, times, close, BANDS, "notional", None)
    kernel = _study._KERNEL[0]
    try:
        _study._KERNEL[0] = _study._sweep_pick
        with pytest.warns(indicator.NumbaMissingWarning):
            plain = _study.clusters(levels, times, close, BANDS, "notional", None)
    finally:
        _study._KERNEL[0] = kernel
    for side in ("long", "short"):
        assert_array_equal(compiled[side][0], plain[side][0])
        assert_array_equal(compiled[side][1], plain[side][1])


# --- a hand-made case -------------------------------------------------------------------------


def flat_market(n: int = 60) -> pd.DataFrame:
    index = pd.date_range("2026-01-01", periods=n, freq="1h", tz="UTC", name="time")
    frame = pd.DataFrame({"open": 100.0, "high": 100.1, "low": 99.9, "close": 100.0,
                          "volume": 1.0, "open_interest": 1000.0}, index=index)
    frame.iloc[40, frame.columns.get_loc("high")] = 100.75  # the one spike up
    return frame


def test_a_hand_made_market_gives_the_known_counts() -> None:
    candles = flat_market()
    t = candles.index
    # One short line at 100.65 (bin [100.6, 100.8), middle 100.7, 0.7% above the close),
    # live from bar 20, ended by the spike at bar 40.
    levels = pd.DataFrame({"start": [t[20]], "end": [t[40]], "side": ["short"],
                           "leverage": [100], "price": [100.65], "entry": [99.65],
                           "tier": [1], "oi_delta": [10.0]})
    out = indicator.study(candles, levels, horizon=5, bin_size=0.2, n_boot=0)
    row = out[(out.side == "short") & (out.band_low == 0.005)].iloc[0]
    # Sampled: bars 13 (ATR full) .. 54 (5 bars after): 42. The line is live after bars
    # 20..39: 20 cases; the spike at 40 is within 5 bars of 35..39: 5 touches.
    assert out.attrs["samples"] == 42
    assert (row["n"], row["touch_rate"]) == (20, 0.25)
    # ATR is 0.2 until the spike, so the cluster is 3.5 ATRs away; of the 42 sampled bars
    # only 35..39 see a high 3.75 ATRs up within 5 bars.
    assert row["expected_rate"] == pytest.approx(5 / 42)
    # After the touch at bar 40 the close at 45 is back below: all 5 turned back, as every
    # base bar that reached 3.5 ATRs did.
    assert (row["reaction_n"], row["reaction_rate"], row["reaction_expected"]) == (5, 1.0, 1.0)
    assert out.loc[out.index != row.name, "n"].eq(0).all()
    assert out.loc[out.index != row.name, "touch_rate"].isna().all()


# --- no lookahead -----------------------------------------------------------------------------


@pytest.mark.parametrize("weight", ["count", "notional"])
def test_clusters_at_t_are_the_same_with_every_later_bar_cut_off(weight: str) -> None:
    candles = sample_candles(700, seed=8, burst_rate=0.03)
    full = indicator.oi_levels(candles)
    size = reference.ref_bin_size(full)
    found = 0
    for t in (120, 333, 500, 650, 698):
        cut = candles.iloc[: t + 1]
        times = candles.index[[t]]
        close = candles["close"].to_numpy()[[t]]
        a = _study.clusters(full, times, close, BANDS, weight, size)
        b = _study.clusters(indicator.oi_levels(cut), times, close, BANDS, weight, size)
        for side in ("long", "short"):
            assert_array_equal(a[side][0], b[side][0])
            assert_array_equal(a[side][1], b[side][1])
            found += int(np.isfinite(a[side][0]).sum())
    assert found >= 10


def test_only_the_outcome_reads_the_bars_after_t() -> None:
    """Scrambling the bars after ``t + horizon`` leaves every touch outcome of ``t`` alone;
    scrambling those inside the horizon changes them."""
    candles = sample_candles(600, seed=9)
    levels = indicator.oi_levels(candles)
    bars = _study._bars(candles, 10, 1)
    picked = _study.clusters(levels, bars.index[bars.pos], bars.close[bars.pos], BANDS,
                             "notional", None)
    row = 300
    t = bars.pos[row]
    side = "short"
    price = np.full_like(picked[side][0][:, 0], np.nan)
    price[row] = bars.close[t] * 1.5  # out of reach in 10 bars
    high = bars.high.copy()
    before = _study._observations(bars, price, 10, side, bars.up, (np.array([]),) * 3)
    bars.high = high.copy()
    bars.high[t + 11:] = bars.close[t] * 2  # far after the horizon
    after = _study._observations(bars, price, 10, side, bars.up, (np.array([]),) * 3)
    assert before.touch.tolist() == after.touch.tolist() == [0.0]
    bars.high = high.copy()
    bars.high[t + 1: t + 11] = bars.close[t] * 2  # inside it
    inside = _study._observations(bars, price, 10, side, bars.up, (np.array([]),) * 3)
    assert inside.touch.tolist() == [1.0]


# --- calibration and power --------------------------------------------------------------------


def test_calibrated_on_markets_that_ignore_their_levels() -> None:
    """60 seeded markets whose prices ignore the levels (random walks with volatility
    regimes and OI bursts): at 95%, at most 10% of the side/band intervals (with 30 cases or
    more) exclude zero, and the lifts average near zero."""
    excluded, lifts, reactions = [], [], []
    for seed in range(60):
        out = indicator.study(sample_candles(1200, seed=seed), horizon=12, n_boot=200,
                              seed=seed)
        rated = out[out["n"] >= 30]
        excluded += ((rated["ci_low"] > 0) | (rated["ci_high"] < 0)).tolist()
        lifts += rated["lift"].tolist()
        rated = out[out["reaction_n"] >= 30]
        reactions += ((rated["reaction_ci_low"] > 0) | (rated["reaction_ci_high"] < 0)).tolist()
    assert len(excluded) > 300 and len(reactions) > 300
    assert np.mean(excluded) <= 0.10, np.mean(excluded)
    assert np.mean(reactions) <= 0.10, np.mean(reactions)
    assert abs(np.mean(lifts)) < 0.015, np.mean(lifts)


def drawn_market(n: int, seed: int, pull: float = 1.0) -> pd.DataFrame:
    """A market drawn to its own clusters: each bar drifts ``pull`` of its volatility toward
    the heaviest live line (|OI delta| x entry) within 5% of the close. Open interest and
    its triggers come from ``sample_candles``; lines are born and ended by method 1's rules
    as the bars are made, so ``oi_levels`` on the result finds the same lines."""
    rng = np.random.default_rng(seed)
    base = sample_candles(n, seed=seed)
    signals = indicator.oi_signals(base)
    trigger = signals["trigger"].to_numpy()
    delta = signals["oi_delta"].to_numpy()
    sigma = 0.006
    factors = [(1 - 1 / L, 1 + 1 / L) for L in (5, 10, 25, 50, 100)]
    live: list[tuple[float, bool, float]] = []  # price, is_short, weight
    rows, close = [], 100.0
    for t in range(n):
        drift = 0.0
        near = [(w, p) for p, _, w in live if abs(p / close - 1) < 0.05]
        if near:
            target = max(near)[1]
            drift = pull * sigma * np.sign(target - close)
        ret = drift + sigma * rng.standard_normal()
        open_, new = close, close * math.exp(ret)
        high = max(open_, new) * math.exp(abs(rng.standard_normal()) * sigma * 0.5)
        low = min(open_, new) * math.exp(-abs(rng.standard_normal()) * sigma * 0.5)
        live = [(p, s, w) for p, s, w in live if not (high >= p if s else low <= p)]
        if trigger[t]:
            entry = (open_ + high + low + new) / 4
            for down, up in factors:
                live += [(entry * down, False, abs(delta[t]) * entry),
                         (entry * up, True, abs(delta[t]) * entry)]
        rows.append((open_, high, low, new))
        close = new
    frame = pd.DataFrame(rows, columns=["open", "high", "low", "close"], index=base.index)
    return frame.assign(volume=base["volume"], open_interest=base["open_interest"])


def test_power_on_a_market_drawn_to_its_clusters() -> None:
    candles = drawn_market(2000, seed=11, pull=1.0)
    out = indicator.study(candles, horizon=12, n_boot=500)
    near = out[out["band_high"] <= 0.02]
    assert len(near) == 6 and (near["n"] >= 100).all()
    assert (near["lift"] > 0.05).all(), near
    assert (near["ci_low"] > 0).all(), near
    words = " ".join(indicator.study_verdict(out))
    assert "touched more often than the base rate" in words


# --- options and the verdict ------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"horizon": 0}, "horizon=0"), ({"every": 1.5}, "every=1.5"),
    ({"bands": ((0.01, 0.005),)}, "0 <= low < high"), ({"bands": ()}, "empty"),
    ({"block": "soon"}, "block='soon'"), ({"block": "-1D"}, "positive"),
    ({"n_boot": -1}, "n_boot=-1"), ({"level": 1.5}, "level=1.5"),
    ({"weight": "notinal"}, "notional"),
])
def test_bad_options_are_named(kwargs: dict, match: str) -> None:
    with pytest.raises((TypeError, ValueError), match=match):
        indicator.study(sample_candles(100), **kwargs)


def test_verdict_claims_nothing_when_every_interval_spans_zero() -> None:
    out = indicator.study(sample_candles(1500, seed=2), horizon=12, n_boot=200)
    spans = (out["ci_low"] <= 0) & (out["ci_high"] >= 0)
    words = indicator.study_verdict(out)
    if spans.all():
        assert "no evidence" in words[0]
    assert not any("proves" in w or "price is drawn" in w for w in words)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(low=st.floats(-0.2, 0.2), width=st.floats(0, 0.2), n=st.integers(0, 200))
def test_verdict_names_a_cell_only_when_its_interval_excludes_zero(low, width, n) -> None:
    table = pd.DataFrame([{"side": "long", "band_low": 0.0, "band_high": 0.005, "n": n,
                           "touch_rate": 0.5, "expected_rate": 0.5, "lift": low + width / 2,
                           "ci_low": low, "ci_high": low + width, "reaction_n": 0,
                           "reaction_rate": np.nan, "reaction_expected": np.nan,
                           "reaction_lift": np.nan, "reaction_ci_low": np.nan,
                           "reaction_ci_high": np.nan}])
    table.attrs["level"] = 0.95
    words = " ".join(indicator.study_verdict(table))
    named = "long 0-0.5%" in words
    assert named == (n >= 30 and (low > 0 or low + width < 0))


# --- realised liquidations --------------------------------------------------------------------


def random_log(candles: pd.DataFrame, n: int = 400, seed: int = 0) -> pd.DataFrame:
    """Liquidations that ignore the levels: a time inside a random bar, a price in its range,
    long below the previous close and short above, lognormal notionals."""
    rng = np.random.default_rng(seed)
    bar = np.sort(rng.integers(1, len(candles), n))
    low, high = candles["low"].to_numpy()[bar], candles["high"].to_numpy()[bar]
    close = candles["close"].to_numpy()[bar - 1]
    price = low + rng.uniform(0, 1, n) * (high - low)
    step = candles.index[1] - candles.index[0]
    return pd.DataFrame({"time": candles.index[bar] + step / 2,
                         "side": np.where(price < close, "long", "short"),
                         "price": price, "notional": rng.lognormal(8, 1, n)})


def ref_liquidations(candles, log, levels, *, tolerance, block_bars, level=0.95):
    """The shift null one liquidation and one shift at a time: ``{side: (hit_share,
    expected_share, ci_low, ci_high)}`` (every shift, none drawn)."""
    c = candles["close"].to_numpy()
    atr = ref_atr(candles)
    valid = [t for t in range(len(c)) if atr[t] > 0]
    size = reference.ref_bin_size(levels)
    found = {t: ref_clusters(levels, candles.index[t], c[t], BANDS, "notional", size)
             for t in valid}
    step = candles.index[1] - candles.index[0]
    rows = []
    for r in log.itertuples(index=False):
        ref = max(t for t in range(len(c)) if candles.index[t] + step <= r.time)
        if ref not in valid:  # no ATR yet: left out
            continue
        off = (c[ref] - r.price if r.side == "long" else r.price - c[ref]) / atr[ref]
        rows.append((r.side, r.notional, valid.index(ref), off))

    def hit(side, k, off):
        t = valid[k]
        moved = off * atr[t] / c[t]
        return any(abs(found[t][side, b][1] - moved) <= tolerance
                   for b in range(len(BANDS)) if (side, b) in found[t])

    shifts = range(block_bars, (len(valid) // block_bars) * block_bars, block_bars)
    out = {}
    for name in ("long", "short", "all"):
        mine = [r for r in rows if name in ("all", r[0])]
        total = sum(r[1] for r in mine)
        share = sum(r[1] for r in mine if hit(r[0], r[2], r[3])) / total
        null = [sum(r[1] for r in mine if hit(r[0], (r[2] + s) % len(valid), r[3])) / total
                for s in shifts]
        k = math.floor((len(null) + 1) * (1 - level) / 2)
        ordered = sorted(null)
        out[name] = (share, np.mean(null), share - ordered[len(null) - k],
                     share - ordered[k - 1])
    return out


def test_liquidation_shares_equal_the_plain_loop() -> None:
    candles = sample_candles(360, seed=12)
    levels = indicator.oi_levels(candles)
    log = random_log(candles, 60, seed=3)
    got = indicator.study_liquidations(candles, log, levels, tolerance=0.003, block="6h")
    want = ref_liquidations(candles, log, levels, tolerance=0.003, block_bars=6)
    assert got.attrs["shifts"] == len(range(6, ((360 - 13) // 6) * 6, 6))
    assert got.set_index("side").loc["all", "n"] + got.attrs["outside"] == 60
    for row in got.itertuples(index=False):
        assert_allclose([row.hit_share, row.expected_share, row.ci_low, row.ci_high],
                        want[row.side], rtol=1e-9, atol=1e-12, err_msg=row.side)
    assert got.set_index("side").loc["all", "hit_share"] > 0


def test_liquidations_at_the_clusters_count_as_hits() -> None:
    candles = sample_candles(1500, seed=12)
    levels = indicator.oi_levels(candles)
    bars = _study._bars(candles, 1, 1)
    times = candles.index[bars.pos]
    picked = _study.clusters(levels, times, bars.close[bars.pos], BANDS, "notional", None)
    rows = []
    for i in np.random.default_rng(1).choice(len(times), 300, replace=False):
        for side in ("long", "short"):
            prices = picked[side][0][i]
            if np.isfinite(prices).any():
                rows.append({"time": times[i] + pd.Timedelta("65min"), "side": side,
                             "price": prices[np.isfinite(prices)][0], "notional": 1000.0})
    liq = pd.DataFrame(rows)
    table = indicator.study_liquidations(candles, liq, levels)
    out = table.set_index("side")
    assert out.loc["all", "n"] == len(liq) and out.loc["all", "hit_share"] == 1.0
    assert out.loc["all", "expected_share"] < 0.5
    assert (out["ci_low"] > 0).all(), out
    words = " ".join(indicator.study_verdict(indicator.study(candles, n_boot=0), table))
    assert "more often than when the log is moved" in words
    far = liq.assign(price=np.where(liq["side"] == "long", liq["price"] * 1.03,
                                    liq["price"] * 0.97))
    miss = indicator.study_liquidations(candles, far, levels, tolerance=0.001)
    assert miss.set_index("side").loc["all", "hit_share"] < 0.2


def test_liquidation_intervals_are_calibrated_on_logs_that_ignore_the_levels() -> None:
    """60 seeded markets, each with 400 liquidations placed without looking at the levels:
    at 95%, at most 10% of the long and short intervals exclude zero, lifts average near 0."""
    excluded, lifts = [], []
    for seed in range(60):
        candles = sample_candles(1500, seed=seed)
        out = indicator.study_liquidations(candles, random_log(candles, 400, seed), seed=seed)
        sides = out[out["side"] != "all"]
        excluded += ((sides["ci_low"] > 0) | (sides["ci_high"] < 0)).tolist()
        lifts += sides["lift"].tolist()
    assert np.mean(excluded) <= 0.10, np.mean(excluded)
    assert abs(np.mean(lifts)) < 0.01, np.mean(lifts)


def test_a_bad_liquidation_log_is_named() -> None:
    candles = sample_candles(100)
    bad = pd.DataFrame({"time": [candles.index[50]], "side": ["buy"], "price": [100.0],
                        "notional": [1.0]})
    with pytest.raises(ValueError, match="side='buy'"):
        indicator.study_liquidations(candles, bad)
    with pytest.raises(ValueError, match="lacks column"):
        indicator.study_liquidations(candles, bad.drop(columns="notional"))
    with pytest.raises(ValueError, match="tolerance=0"):
        indicator.study_liquidations(candles, bad.assign(side="long"), tolerance=0)


# --- the real data ----------------------------------------------------------------------------


@pytest.mark.realdata
def test_real_okx_hourly_run_end_to_end() -> None:
    candles = load_okx_candles("1h")
    out = indicator.study(candles, horizon=24, n_boot=300)
    assert list(out.columns) == list(indicator.STUDY_COLUMNS)
    assert out.attrs["samples"] == len(candles) - 14 - 24 + 1
    assert out["n"].sum() > 0
    rated = out[out["n"] > 0]
    assert rated[["touch_rate", "expected_rate"]].apply(lambda s: s.between(0, 1)).all().all()
    assert (rated["ci_low"].fillna(-1) <= rated["ci_high"].fillna(1)).all()
    assert indicator.study_verdict(out)


def test_too_few_bars_and_no_draws_are_said_plainly() -> None:
    with pytest.raises(ValueError, match="give at least 38 bars"):
        indicator.study(sample_candles(37), horizon=24)
    assert indicator.study(sample_candles(38), horizon=24).attrs["samples"] == 1
    out = indicator.study(sample_candles(300), n_boot=0)
    assert out[["ci_low", "ci_high", "reaction_ci_low"]].isna().all().all()
    assert all("n_boot=0" in s for s in indicator.study_verdict(out))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), horizon=st.integers(1, 30), every=st.integers(1, 4),
       weight=st.sampled_from(["count", "oi_delta", "notional"]))
def test_rates_are_shares_and_reactions_follow_touches(seed, horizon, every, weight) -> None:
    out = indicator.study(sample_candles(400, seed=seed, burst_rate=0.04), horizon=horizon,
                          every=every, weight=weight, n_boot=50)
    seen = out[out["n"] > 0]
    for col in ("touch_rate", "expected_rate"):
        assert seen[col].between(0, 1).all()
    assert_allclose(seen["lift"], seen["touch_rate"] - seen["expected_rate"])
    assert (out["reaction_n"] <= np.round(out["n"] * out["touch_rate"].fillna(0))).all()
    assert (out["n"] <= out.attrs["samples"]).all()
    bounded = seen.dropna(subset=["ci_low"])
    assert (bounded["ci_low"] <= bounded["ci_high"]).all()
