"""Values, not just types (issue 16 items 3 and 6): infinite numbers are refused like NaN,
bounds that keep integers from wrapping and maps from exploding, a WMA that costs O(bars),
one time unit per trades file, colours that cannot fetch anything, and command-line faults
that end in one ``liqlevels: error:`` line naming the flag or the file, never a traceback."""

from __future__ import annotations

import gzip
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import reference
from fakes import agg_trades_csv, bybit_trades_csv, random_trades, zip_bytes

from liqlevels import charts, feeds, indicator
from liqlevels.charts import _palette
from liqlevels.cli import main
from liqlevels.feeds import sample_candles
from liqlevels.indicator._ma import moving_average

NAN = float("nan")
INF = float("inf")


# --------------------------------------------------------------------------------------------
# Infinite values are refused like NaN
# --------------------------------------------------------------------------------------------


@pytest.fixture
def candles() -> pd.DataFrame:
    return sample_candles(100, seed=4)


def _with(frame: pd.DataFrame, col: str, row: int, value: float) -> pd.DataFrame:
    out = frame.copy()
    out.iloc[row, out.columns.get_loc(col)] = value
    return out


@pytest.mark.parametrize("col", ["high", "volume", "open_interest"])
def test_infinite_candle_values_are_refused(candles, col):
    bad = _with(candles, col, 7, INF)
    with pytest.raises(ValueError, match=rf"candles\['{col}'\] is inf at row 7 .*finite"):
        indicator.oi_levels(bad)


def test_all_infinite_prices_are_refused(candles):
    """A bar at +inf everywhere satisfied every ordering check."""
    bad = candles.copy()
    for col in ("open", "high", "low", "close"):
        bad.iloc[3, bad.columns.get_loc(col)] = INF
    with pytest.raises(ValueError, match=r"candles\['open'\] is inf at row 3"):
        indicator.validate_candles(bad)


def _trades(n: int = 4, **columns) -> pd.DataFrame:
    frame = pd.DataFrame({
        "time": pd.date_range("2026-06-01", periods=n, freq="1s", tz="UTC"),
        "price": np.full(n, 100.0), "quantity": np.full(n, 2_000.0),
        "side": ["buy", "sell"] * (n // 2),
    })
    return frame.assign(**columns)


@pytest.mark.parametrize("col", ["price", "quantity"])
def test_infinite_trade_values_are_refused(col):
    values = _trades()[col].to_numpy().copy()
    values[2] = INF
    with pytest.raises(ValueError, match=rf"trades\['{col}'\] is inf at row 2"):
        indicator.trade_levels(_trades(**{col: values}))


def test_a_notional_that_overflows_is_refused():
    trades = _trades(price=[100.0, 1e200, 100.0, 100.0], quantity=[1.0, 1e200, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"trades at row 1: price 1e\+200 x quantity 1e\+200 "
                                         r"overflows"):
        indicator.trade_levels(trades)


@pytest.fixture
def levels(candles) -> pd.DataFrame:
    return indicator.oi_levels(candles, ma_length=5)


@pytest.mark.parametrize("col", ["price", "entry", "oi_delta"])
def test_infinite_level_values_are_refused(levels, col):
    bad = _with(levels, col, 1, INF)
    with pytest.raises(ValueError, match=rf"levels\['{col}'\] is inf at row 1"):
        indicator.check_levels(bad)


@pytest.mark.parametrize(("col", "value", "words"), [
    ("leverage", 5_000, r"a whole number > 1 and <= 1000"),
    ("tier", 200, r"a whole number >= 1 and <= 100"),
    ("leverage", np.uint64(2**63 + 5), r"is 9223372036854775813 at row 0"),
])
def test_level_integers_have_upper_bounds(levels, col, value, words):
    bad = levels.copy()
    column = bad[col].to_numpy().astype(np.asarray(value).dtype)
    column[0] = value
    bad[col] = column
    with pytest.raises(ValueError, match=words):
        charts.Scene(sample_candles(100, seed=4), bad)


# --------------------------------------------------------------------------------------------
# Bounds: leverages, thresholds, windows, bins
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("leverage", [1001, 2**63, 99999999999999999999,
                                      pytest.param(10**400, id="10**400"), 1e300])
def test_leverages_are_at_most_1000(leverage):
    with pytest.raises(ValueError, match=r"leverages\[1\]=.*: a leverage must be at most 1000"):
        indicator.OIOptions(leverages=(5, leverage))
    with pytest.raises(ValueError, match=r"at most 1000"):
        indicator.trade_levels(_trades(), leverages=(leverage,))


def test_1000x_is_accepted(candles):
    levels = indicator.oi_levels(candles, ma_length=5, leverages=(1000,))
    assert set(levels["leverage"]) <= {1000}


def test_an_int_too_large_for_a_float_is_a_clear_error():
    with pytest.raises(ValueError, match=r"mmr=inf must be a finite rate"):
        indicator.OIOptions(mmr=10**400)
    with pytest.raises(ValueError, match=r"thresholds\[0\]=10{400}"):
        indicator.OIOptions(thresholds=(10**400,))
    with pytest.raises(ValueError, match=r"threshold=1e\+400: 'top_n' needs n >= 1 and at most"):
        indicator.check_threshold("top_n", 10**400)
    with pytest.raises(ValueError, match=r"threshold=10{400}: 'gross_value'"):
        indicator.check_threshold("gross_value", 10**400)
    with pytest.raises(ValueError, match=r"the share for 10x is 10{400}; shares are finite"):
        indicator.trade_levels(_trades(), weights=(10**400, 1, 1, 1))


def test_thresholds_count_fits_the_tier(candles):
    """``tier`` is int8: 130 thresholds would have wrapped it to negative tiers."""
    with pytest.raises(ValueError, match=r"thresholds has 130 values; at most 100 tiers"):
        indicator.oi_signals(candles, thresholds=tuple(range(1, 131)))
    signals = indicator.oi_signals(candles, ma_length=5,
                                   thresholds=tuple(0.01 * k for k in range(1, 101)))
    assert signals["tier"].min() >= 0 and signals["tier"].max() <= 100


def test_thresholds_are_at_most_1000():
    with pytest.raises(ValueError, match=r"thresholds\[2\]=5000.0 .*at most 1000"):
        indicator.OIOptions(thresholds=(1.2, 2.0, 5000.0))


@pytest.mark.parametrize("ma_length", [1_000_001, 99999999999999999999])
def test_ma_length_has_an_upper_bound(candles, ma_length):
    with pytest.raises(ValueError, match=r"ma_length=\d+ must be from 1 to 1,000,000"):
        indicator.oi_levels(candles, ma_length=ma_length)


def test_top_n_has_an_upper_bound():
    with pytest.raises(ValueError, match=r"threshold=1000000001: 'top_n' .* at most"):
        indicator.trade_levels(_trades(), mode="top_n", threshold=1_000_000_001)


def test_density_bins_have_a_cap(levels):
    with pytest.raises(ValueError, match=r"bins=1000000000000 must be from 1 to 1,000,000"):
        indicator.density(levels, bins=10**12)
    assert len(indicator.density(levels, bins=1_000_000)) in (1, 1_000_000)


@pytest.fixture
def trade_levels() -> pd.DataFrame:
    return indicator.trade_levels(_trades(), threshold=1.0)


@pytest.mark.parametrize(("bin_size", "words"), [
    (1e-300, r"bin_size=1e-300 is too fine for levels priced up to .* float precision"),
    (1e-9, r"bin_size=1e-09 cuts the levels from .* bins, more than 10,000,000"),
])
def test_a_bin_size_that_explodes_the_map_is_refused(trade_levels, bin_size, words):
    for make in (indicator.liquidation_map, indicator.depth):
        with pytest.raises(ValueError, match=words):
            make(trade_levels, price=100.0, bin_size=bin_size)


def test_huge_bins_put_every_level_in_one_bin(trade_levels):
    got = indicator.liquidation_map(trade_levels, price=100.0, bin_size=1e300)
    assert (got["price_low"] == 0).all() and (got["price_high"] == 1e300).all()
    assert got["notional"].sum() == pytest.approx(trade_levels["notional"].sum())


def test_a_bin_edge_beyond_the_float_range_is_refused():
    levels = pd.DataFrame({
        "start": pd.to_datetime([0], utc=True), "side": ["short"], "leverage": [10],
        "price": [1.7e308], "entry": [1.6e308], "notional": [1.0],
    })
    with pytest.raises(ValueError, match=r"upper edge beyond the largest float"):
        indicator.liquidation_map(levels, price=1.0, bin_size=1e308)


# --------------------------------------------------------------------------------------------
# WMA in O(bars): held against the reference and a plain loop
# --------------------------------------------------------------------------------------------


def _plain_wma(x: list[float], n: int) -> list[float]:
    """Pine's ta.wma, bar by bar: weight n on the newest value down to 1 on the oldest."""
    out = [NAN] * len(x)
    for t in range(n - 1, len(x)):
        window = x[t - n + 1 : t + 1]
        if not any(math.isnan(v) for v in window):
            out[t] = sum((i + 1) * v for i, v in enumerate(window)) / (n * (n + 1) / 2)
    return out


@pytest.mark.parametrize(("bars", "length"), [
    (300, 1), (300, 2), (300, 7), (300, 60), (300, 299), (300, 300), (300, 301), (1001, 250),
])
def test_wma_matches_the_reference_and_a_plain_loop(bars, length):
    rng = np.random.default_rng(bars + length)
    x = np.abs(rng.normal(size=bars)) * rng.lognormal(3, 2, size=bars)
    x[rng.integers(0, bars, 3)] = NAN
    if length >= 250:
        x[:] = np.where(np.isnan(x), 1.0, x)  # long windows need a full run to say anything
        x[bars // 2 + 3] = NAN
    ours = moving_average(x, length, "wma")
    np.testing.assert_allclose(ours, _plain_wma(x.tolist(), length), rtol=1e-12)
    np.testing.assert_allclose(ours, reference._baseline(x.tolist(), None, length, "wma"),
                               rtol=1e-12)


def test_wma_on_a_long_window_stays_exact():
    rng = np.random.default_rng(5)
    x = np.abs(rng.normal(size=200_000)) * rng.lognormal(size=200_000)
    ours = moving_average(x, 50_000, "wma")
    weights = np.arange(1, 50_001, dtype=np.float64)
    for t in (49_999, 50_000, 99_999, 100_000, 123_456, 199_999):
        want = np.dot(weights, x[t - 49_999 : t + 1]) / weights.sum()
        assert ours[t] == pytest.approx(want, rel=1e-12)
    assert np.isnan(ours[:49_999]).all()


def test_wma_cost_does_not_grow_with_the_window():
    """A 50,000-bar WMA on 200,000 bars took 40 s as a convolution (O(bars x window))."""
    x = np.abs(np.random.default_rng(1).normal(size=200_000))

    def seconds(length: int) -> float:
        best = math.inf
        for _ in range(3):
            start = time.perf_counter()
            moving_average(x, length, "wma")
            best = min(best, time.perf_counter() - start)
        return best

    short, long = seconds(10), seconds(50_000)
    assert long < 20 * short + 0.5, (short, long)


# --------------------------------------------------------------------------------------------
# One time unit per trades file
# --------------------------------------------------------------------------------------------


def _mixed_agg_trades(tmp_path: Path, row: int, *, zipped: bool) -> tuple[Path, pd.DataFrame]:
    trades = random_trades(2_000, seed=3)
    ms = agg_trades_csv(trades, header=False).decode().splitlines()
    us = agg_trades_csv(trades, header=False, unit="us").decode().splitlines()
    data = ("\n".join([*ms[:row], us[row], *ms[row + 1 :]]) + "\n").encode()
    path = tmp_path / "BTCUSDT-aggTrades-2026-06-01.csv"
    if zipped:
        path = path.with_suffix(".zip")
        data = zip_bytes("BTCUSDT-aggTrades-2026-06-01.csv", data)
    path.write_bytes(data)
    return path, trades


@pytest.mark.parametrize("zipped", [False, True])
def test_mixed_ms_and_us_rows_are_refused(tmp_path, zipped):
    path, _ = _mixed_agg_trades(tmp_path, 1_234, zipped=zipped)
    with pytest.raises(ValueError, match=(
            rf"{path.name}: column 'transact_time': data row 1234 is in microseconds "
            r"\(\d+\) but data row 0 is in milliseconds")):
        feeds.read_trades(path, exchange="binance")


def test_a_window_cut_by_the_byte_search_does_not_stop_at_a_row_in_another_unit(tmp_path):
    path, trades = _mixed_agg_trades(tmp_path, 1_234, zipped=False)
    times = pd.to_datetime(trades["transact_time"], unit="ms", utc=True)
    since, until = times.iloc[100], times.iloc[1_900]
    with pytest.raises(ValueError, match=r"data row 1234 is in microseconds"):
        feeds.read_trades(path, exchange="binance", since=since, until=until)
    inside = feeds.read_trades(path, exchange="binance", since=since, until=times.iloc[1_000])
    assert len(inside) == (times.iloc[100:1_000] < times.iloc[1_000]).sum()  # never reaches it


def test_bybit_seconds_and_milliseconds_mixed_are_refused(tmp_path):
    lines = bybit_trades_csv(random_trades(50, seed=2)).decode().splitlines()
    fields = lines[8].split(",")
    fields[0] = str(int(float(fields[0]) * 1000))
    lines[8] = ",".join(fields)
    path = tmp_path / "SOLUSDT2026-06-01.csv.gz"
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    with pytest.raises(ValueError, match=r"data row 7 is in milliseconds .* data row 0 is in "
                                         r"seconds"):
        feeds.read_trades(path, exchange="bybit")


# --------------------------------------------------------------------------------------------
# Colours that reach the page
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("color", [
    "#fff", "#40d6a0", "#40d6a080", "rgb(1, 2, 3)", "rgba(64, 214, 160, 0.55)",
    "RGB(10%, 20%, 30%)", "orange", "RebeccaPurple", "transparent",
])
def test_plain_colours_are_accepted(color):
    rows = pd.DataFrame({"price_low": [1.0], "price_high": [2.0], "v": [1.0]})
    assert charts.price_profile(rows, {"v": color}).colors == (color,)


@pytest.mark.parametrize("color", [
    "url(https://example.com/x.png)", "red; background: url(https://example.com/)",
    "red\"", "'red'", "#ffff", "#fff\n", "rgb(1, 2)", "rgb(1e3, 2, 3)", "var(--x)",
    "expression(alert(1))", "rgb(1,2,3) url(x)", "notacolour", "red</style>",
])
def test_colours_that_could_fetch_or_break_out_are_refused(color):
    rows = pd.DataFrame({"price_low": [1.0], "price_high": [2.0], "v": [1.0]})
    with pytest.raises(ValueError, match=r"colors\['v'\]=.* is not a colour liqlevels draws"):
        charts.price_profile(rows, {"v": color})


def test_palette_colours_are_checked_where_they_reach_the_page(monkeypatch, candles):
    monkeypatch.setitem(charts.LEVERAGE_COLORS, 25, "url(https://example.com/)")
    with pytest.raises(ValueError, match=r"LEVERAGE_COLORS\[25\]="):
        charts.leverage_color(25)
    monkeypatch.undo()
    monkeypatch.setattr(_palette, "BACKGROUND", "#000;background:url(//example.com/)")
    with pytest.raises(ValueError, match=r"BACKGROUND="):
        charts.Scene(candles).html()


# --------------------------------------------------------------------------------------------
# The command line: one error line naming the flag or the file, never a traceback
# --------------------------------------------------------------------------------------------


def _cli(argv: list[str], capsys) -> tuple[int, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1, err
    assert err.startswith("liqlevels: error:") and "Traceback" not in err
    return code, err


def _map(tmp_path: Path, *extra: str) -> list[str]:
    return ["map", "BTCUSDT", "--since", "2026-01-01", "--until", "2026-01-02",
            "--archive-url", "http://127.0.0.1:9", "--cache-dir", str(tmp_path / "cache"),
            "--out", str(tmp_path / "out"), "--no-png", *extra]


@pytest.mark.parametrize(("extra", "words"), [
    (["--threshold", "inf"], "--threshold=inf: 'gross_value'"),
    (["--mode", "top_n", "--threshold", "inf"], "--threshold=inf: mode 'top_n'"),
    (["--mode", "top_n", "--threshold", "nan"], "--threshold=nan: mode 'top_n'"),
    (["--mode", "top_n", "--threshold", "1e300"], "--threshold=1e+300: 'top_n' needs n"),
    (["--leverages", "99999999999999999999"],
     "--leverages: leverages[0]=99999999999999999999: a leverage must be at most 1000"),
    (["--leverages", "9223372036854775808"], "a leverage must be at most 1000"),
    (["--mmr", "inf"], "--mmr: mmr=inf"),
    (["--bin-size", "inf"], "--bin-size inf: a bin is a finite price step"),
])
def test_map_options_are_checked_before_the_network(tmp_path, capsys, extra, words):
    code, err = _cli(_map(tmp_path, *extra), capsys)
    assert code == 1 and words in err
    assert not (tmp_path / "cache").exists()  # refused before any download


@pytest.mark.parametrize(("extra", "words"), [
    (["--leverages", "9223372036854775808"], "--leverages: leverages[0]=9223372036854775808"),
    (["--leverages", "99999999999999999999"], "--leverages: leverages[0]=99999999999999999999: "
                                              "a leverage must be at most 1000"),
    (["--ma-length", "99999999999999999999"], "--ma-length: ma_length=99999999999999999999 must "
                                              "be from 1 to 1,000,000"),
    (["--thresholds", ",".join(str(k) for k in range(1, 131))],
     "--thresholds: thresholds has 130 values; at most 100 tiers"),
])
def test_demo_options_beyond_their_bounds(tmp_path, capsys, extra, words):
    code, err = _cli(["demo", "--no-png", "--out", str(tmp_path), *extra], capsys)
    assert code == 1 and words in err


@pytest.fixture
def export_text() -> str:
    candles = sample_candles(40, timeframe="1h", seed=9)
    head = "time,open,high,low,close,Open Interest,OI Delta,Baseline,Tier,Entry,Long 5x,Short 5x"
    rows = [f"{int(ts.timestamp())},{r.open},{r.high},{r.low},{r.close},{r.open_interest},,,0,,,"
            for ts, r in zip(candles.index, candles.itertuples(), strict=True)]
    return "\n".join([head, *rows]) + "\n"


def test_compare_names_the_line_of_an_over_long_field(tmp_path, capsys, export_text):
    lines = export_text.splitlines()
    lines[5] = lines[5].replace(",0,", ',"' + "x" * 200_000 + '",', 1)
    path = tmp_path / "long.csv"
    path.write_text("\n".join(lines) + "\n")
    code, err = _cli(["compare", str(path)], capsys)
    assert code == 1 and f"{path} line 6: not readable as CSV (field larger than" in err


def test_compare_names_a_png_as_not_a_csv_export(tmp_path, capsys):
    path = tmp_path / "chart.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    code, err = _cli(["compare", str(path)], capsys)
    assert code == 1 and f"{path} is a PNG image, not a CSV export" in err


def test_compare_names_bytes_that_are_not_text(tmp_path, capsys, export_text):
    path = tmp_path / "odd.csv"
    path.write_bytes(export_text.encode()[:200] + b"\n\xff\xfe\x00\n")
    code, err = _cli(["compare", str(path)], capsys)
    assert code == 1 and f"{path} line " in err and "is not UTF-8 text" in err


@pytest.mark.parametrize("warmup", ["40", "41", "1000"])
def test_compare_warmup_that_skips_every_bar_is_an_error(tmp_path, capsys, export_text,
                                                        warmup):
    """It reported MATCH with nothing compared."""
    path = tmp_path / "e.csv"
    path.write_text(export_text)
    code, err = _cli(["compare", str(path), "--warmup", warmup], capsys)
    assert code == 1 and f"--warmup={warmup} skips every bar: the export has 40 bars" in err


def test_compare_warmup_leaving_one_bar_compares_it(tmp_path, capsys, export_text):
    path = tmp_path / "e.csv"
    path.write_text(export_text)
    main(["compare", str(path), "--warmup", "39", "--leverages", "5", "--json"])
    out, _ = capsys.readouterr()
    assert '"bars": 1' in out
