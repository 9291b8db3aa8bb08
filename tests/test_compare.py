"""``liqlevels compare``: TradingView exports built here, in TradingView's format, from a plain
bar-by-bar reading of docs/method.md (independent of the engine); faithful ones match, altered
ones fail naming the altered bar."""

from __future__ import annotations

import argparse
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import reference
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liqlevels import _cmd_compare as cmd
from liqlevels import _compare as cmp
from liqlevels import feeds
from liqlevels._compare_report import format_report, report_json
from liqlevels.cli import build_parser, main
from liqlevels.feeds import read_tradingview_export
from liqlevels.indicator import OI_OPTION_NAMES, OIOptions

ROOT = Path(__file__).resolve().parents[1]
NAN = float("nan")
LEVERAGES = (5, 10, 25, 50, 100)


# --------------------------------------------------------------------------- the reference


def reference_plots(candles: pd.DataFrame, ma_length: int = 60, ma_type: str = "sma",
                    thresholds=(1.2, 2.0, 3.0), direction: str = "increase",
                    mmr: float = 0.0, leverages=LEVERAGES) -> dict[str, list[float]]:
    """The script's plots (docs/method.md 1.1 to 1.6), by title, from the project's one plain
    loop."""
    delta, base, tiers, triggers, entries = reference.signals(
        candles, ma_length, ma_type, thresholds, direction)
    oi = candles["open_interest"].tolist()
    plots: dict[str, list[float]] = {t: [] for t in cmp.PLOT_TITLES[:5]}
    for lev in leverages:
        plots[f"Long {lev}x"], plots[f"Short {lev}x"] = [], []
    for t in range(len(oi)):
        trigger, entry = triggers[t], entries[t]
        for title, value in zip(cmp.CORE_TITLES, (oi[t], delta[t], base[t], tiers[t],
                                                  entry if trigger else NAN), strict=True):
            plots[title].append(value)
        for lev in leverages:
            plots[f"Long {lev}x"].append(entry * (1 - 1 / lev + mmr) if trigger else NAN)
            plots[f"Short {lev}x"].append(entry * (1 + 1 / lev - mmr) if trigger else NAN)
    return plots


# --------------------------------------------------------------------------- TradingView's format


def _cell(value: float, na: str) -> str:
    return na if math.isnan(value) else repr(float(value))


def _times(index: pd.DatetimeIndex, time_format: str, offsets: list[str] | None) -> list[str]:
    if time_format == "unix":
        return [str(int(ts.timestamp())) for ts in index]
    out = []
    for i, ts in enumerate(index):
        off = (offsets or ["+00:00"])[i % len(offsets or ["+00:00"])] if offsets else "+00:00"
        sign = 1 if off[0] == "+" else -1
        delta = pd.Timedelta(hours=int(off[1:3]), minutes=int(off[4:6]))
        out.append((ts + sign * delta).strftime("%Y-%m-%dT%H:%M:%S") + off)
    return out


def tv_csv(candles: pd.DataFrame, columns: list[tuple[str, list[float]]], *,
           time_format: str = "unix", offsets: list[str] | None = None, na: str = "",
           volume: bool = False) -> str:
    """An "Export chart data" CSV: time,open,high,low,close[,Volume],<titles...>."""
    head = ["time", "open", "high", "low", "close"] + (["Volume"] if volume else [])
    cols = [candles[k].tolist() for k in ("open", "high", "low", "close")]
    if volume:
        cols.append(candles["volume"].tolist())
    cols += [values for _, values in columns]
    lines = [",".join(head + [title for title, _ in columns])]
    for i, time in enumerate(_times(candles.index, time_format, offsets)):
        lines.append(",".join([time] + [_cell(col[i], na) for col in cols]))
    return "\n".join(lines) + "\n"


def plot_columns(plots: dict[str, list[float]]) -> list[tuple[str, list[float]]]:
    return list(plots.items())


def candles_with_gaps(n: int = 400, seed: int = 3) -> pd.DataFrame:
    candles = feeds.sample_candles(n, timeframe="1h", seed=seed)
    oi = candles["open_interest"].to_numpy().copy()
    oi[[40, 41, 200]] = np.nan  # missing OI: NaN deltas, restarted averages
    return candles.assign(open_interest=oi)


@pytest.fixture(scope="module")
def candles() -> pd.DataFrame:
    return candles_with_gaps()


@pytest.fixture(scope="module")
def plots(candles) -> dict[str, list[float]]:
    return reference_plots(candles)


@pytest.fixture
def export_path(tmp_path, candles, plots) -> Path:
    path = tmp_path / "BINANCE_BTCUSDT.P, 60.csv"
    path.write_text(tv_csv(candles, plot_columns(plots)))
    return path


def _altered(plots, title, row, factor=None, value=None):
    out = {k: list(v) for k, v in plots.items()}
    out[title][row] = out[title][row] * factor if factor is not None else value
    return out


def _trigger_rows(plots) -> list[int]:
    return [i for i, e in enumerate(plots["Entry"]) if not math.isnan(e)]


def _compare_text(text: str, **options) -> cmp.Comparison:
    """Compare an export's text; the six OI options go into one ``OIOptions``."""
    method = {k: options.pop(k) for k in list(options) if k in OI_OPTION_NAMES}
    chosen = OIOptions(**method) if method else None
    return cmp.compare_export(read_tradingview_export(io.StringIO(text)), chosen, **options)


# --------------------------------------------------------------------------- faithful exports


def test_reference_has_triggers_and_gaps(plots):
    """The fixture exercises what it should: triggers of every tier and NaN restarts."""
    tiers = set(plots["Tier"])
    assert {0, 1, 2, 3} <= tiers
    assert len(_trigger_rows(plots)) > 10
    assert math.isnan(plots["OI Delta"][41]) and math.isnan(plots["Baseline"][100])


def test_faithful_export_matches(export_path, candles):
    export = read_tradingview_export(export_path)
    assert export.index.equals(candles.index.as_unit("ns").rename("time"))
    result = cmp.compare_export(export)
    assert result.match, result.differences
    pairs = (f"{s} {lev}x" for lev in LEVERAGES for s in ("Long", "Short"))
    assert result.columns == ("OI Delta", "Baseline", "Tier", "Entry", *pairs)
    assert len(result.index) == len(candles)


@pytest.mark.parametrize(
    "options",
    [
        {"ma_type": "ema", "ma_length": 20},
        {"ma_type": "wma", "ma_length": 30},
        {"ma_type": "vwma", "ma_length": 25},
        {"direction": "decrease", "thresholds": (1.5, 2.5, 4.0)},
        {"direction": "both", "mmr": 0.004, "ma_length": 10},
    ],
    ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()),
)
def test_faithful_export_matches_every_option(candles, options):
    plots = reference_plots(candles, **options)
    text = tv_csv(candles, plot_columns(plots), volume=options.get("ma_type") == "vwma")
    result = _compare_text(text, **options)
    assert result.match, result.differences.head()


def test_options_matter(candles):
    """The check has teeth: the default export does not match other settings."""
    text = tv_csv(candles, plot_columns(reference_plots(candles)))
    for options in ({"ma_length": 59}, {"ma_type": "ema"}, {"direction": "both"},
                    {"mmr": 0.001}, {"thresholds": (1.2, 2.0, 4.0)}):
        assert not _compare_text(text, **options).match, options


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(st.integers(-40, 60), min_size=12, max_size=60),
    gaps=st.sets(st.integers(0, 59), max_size=4),
    ma_length=st.integers(1, 8),
    ma_type=st.sampled_from(["sma", "ema", "wma", "vwma"]),
    direction=st.sampled_from(["increase", "decrease", "both"]),
)
def test_any_faithful_export_matches(steps, gaps, ma_length, ma_type, direction):
    n = len(steps)
    base = feeds.sample_candles(n, timeframe="15m", seed=11)
    oi = 10_000.0 + np.cumsum(np.array(steps, dtype=np.float64))
    oi[[g for g in gaps if g < n]] = np.nan
    frame = base.assign(open_interest=oi)
    options = {"ma_length": ma_length, "ma_type": ma_type, "direction": direction}
    text = tv_csv(frame, plot_columns(reference_plots(frame, **options)), volume=True)
    result = _compare_text(text, **options)
    assert result.match, result.differences


@pytest.mark.realdata
def test_real_market_export_matches(okx_1h):
    """OKX SOL-USDT-SWAP hourly bars and OI (coins): real prices, real OI steps."""
    plots = reference_plots(okx_1h, ma_type="ema", direction="both")
    assert len(_trigger_rows(plots)) > 20
    text = tv_csv(okx_1h, plot_columns(plots), time_format="iso", offsets=["-04:00"])
    assert _compare_text(text, ma_type="ema", direction="both").match
    row = _trigger_rows(plots)[-1]
    altered = tv_csv(okx_1h, plot_columns(_altered(plots, "Short 10x", row, factor=1.001)))
    diffs = _compare_text(altered, ma_type="ema", direction="both").differences
    assert list(zip(diffs["time"], diffs["column"], strict=True)) == [
        (okx_1h.index[row], "Short 10x")]


# --------------------------------------------------------------------------- altered exports


def test_altered_baseline_names_the_bar(candles, plots):
    row = 150
    text = tv_csv(candles, plot_columns(_altered(plots, "Baseline", row, factor=1.01)))
    diffs = _compare_text(text).differences
    assert list(diffs["column"]) == ["Baseline"]
    assert diffs["time"].iloc[0] == candles.index[row]
    assert diffs["theirs"].iloc[0] == pytest.approx(plots["Baseline"][row] * 1.01)
    assert diffs["ours"].iloc[0] == pytest.approx(plots["Baseline"][row])


def test_dropped_trigger_names_every_column_of_that_bar(candles, plots):
    row = _trigger_rows(plots)[3]
    changed = {k: list(v) for k, v in plots.items()}
    for title in changed:
        if title == "Entry" or title.startswith(("Long", "Short")):
            changed[title][row] = NAN
    diffs = _compare_text(tv_csv(candles, plot_columns(changed))).differences
    assert set(diffs["time"]) == {candles.index[row]}
    assert set(diffs["column"]) == {"Entry"} | {f"{s} {lev}x" for lev in LEVERAGES
                                                for s in ("Long", "Short")}
    assert diffs["theirs"].isna().all()


def test_altered_price_and_tier(candles, plots):
    row = _trigger_rows(plots)[5]
    changed = _altered(plots, "Short 25x", row, factor=1.0 + 1e-4)
    changed["Tier"][row + 1] = changed["Tier"][row + 1] + 1
    diffs = _compare_text(tv_csv(candles, plot_columns(changed))).differences
    assert list(zip(diffs["time"], diffs["column"], strict=True)) == [
        (candles.index[row], "Short 25x"), (candles.index[row + 1], "Tier")]


def test_altered_ohlc_shows_in_entry(candles, plots):
    """We recompute from the export's own OHLC: a different close moves our entry."""
    row = _trigger_rows(plots)[2]
    moved = candles.copy()
    moved.iloc[row, moved.columns.get_loc("low")] = moved["low"].iloc[row] * 0.999
    diffs = _compare_text(tv_csv(moved, plot_columns(plots))).differences
    assert set(diffs["time"]) == {candles.index[row]}
    assert "Entry" in set(diffs["column"])


def test_tolerance(candles, plots):
    row = _trigger_rows(plots)[0]
    tiny = tv_csv(candles, plot_columns(_altered(plots, "Long 5x", row, factor=1 + 1e-9)))
    assert _compare_text(tiny).match
    small = tv_csv(candles, plot_columns(_altered(plots, "Long 5x", row, factor=1 + 1e-5)))
    assert not _compare_text(small).match
    assert _compare_text(small, tolerance=1e-4).match
    with pytest.raises(ValueError, match="tolerance"):
        _compare_text(small, tolerance=-1)


def test_oi_delta_tolerance_scales_with_open_interest(candles, plots):
    """A delta that is a tiny fraction of OI is rounding of OI, not a method difference."""
    row = 120
    shifted = _altered(plots, "OI Delta", row,
                       value=plots["OI Delta"][row] + 1e-8 * plots["Open Interest"][row])
    assert _compare_text(tv_csv(candles, plot_columns(shifted))).match
    off = _altered(plots, "OI Delta", row,
                   value=plots["OI Delta"][row] + 1e-4 * plots["Open Interest"][row])
    assert not _compare_text(tv_csv(candles, plot_columns(off))).match


def test_warmup_skips_history_the_export_does_not_hold(candles):
    """A chart computed from earlier bars than the export holds differs at first."""
    full = reference_plots(candles, ma_length=30)
    start = 250
    cut = {k: v[start:] for k, v in full.items()}
    text = tv_csv(candles.iloc[start:], plot_columns(cut))
    assert not _compare_text(text, ma_length=30).match
    assert not _compare_text(text, ma_length=30, warmup=29).match
    assert _compare_text(text, ma_length=30, warmup=30).match


# --------------------------------------------------------------------------- reading the CSV


def test_iso_times_with_offsets(candles, plots):
    """ISO time in the chart's zone, including a DST switch in the middle, reads as UTC."""
    offsets = ["+02:00"] * 200 + ["+01:00"] * 200
    text = tv_csv(candles, plot_columns(plots), time_format="iso", offsets=offsets)
    first = text.splitlines()[1].split(",")[0]
    assert first == "2025-01-01T02:00:00+02:00"
    export = read_tradingview_export(io.StringIO(text))
    assert export.index.equals(candles.index.as_unit("ns").rename("time"))
    assert cmp.compare_export(export).match
    negative = tv_csv(candles.iloc[:5], [], time_format="iso", offsets=["-05:30"])
    assert read_tradingview_export(io.StringIO(negative)).index.equals(
        candles.index[:5].as_unit("ns").rename("time"))


def test_unix_milliseconds_and_bom(candles):
    text = tv_csv(candles.iloc[:3], [])
    lines = text.splitlines()
    ms = [lines[0]] + [str(int(r.split(",")[0]) * 1000) + r[r.index(","):] for r in lines[1:]]
    export = read_tradingview_export(io.StringIO("\ufeff" + "\n".join(ms)))
    assert export.titles[0] == "time"
    assert export.index.equals(candles.index[:3].as_unit("ns").rename("time"))


def test_naive_iso_time_is_refused(candles):
    lines = tv_csv(candles.iloc[:3], [], time_format="iso").splitlines()
    lines[2] = "2025-01-01T01:00:00" + lines[2][lines[2].index(","):]
    with pytest.raises(ValueError, match=r"line 3: time '2025-01-01T01:00:00' .*offset"):
        read_tradingview_export(io.StringIO("\n".join(lines)))


def test_na_cells_empty_or_nan(candles, plots):
    for na in ("", "NaN", "nan"):
        text = tv_csv(candles, plot_columns(plots), na=na)
        export = read_tradingview_export(io.StringIO(text))
        assert np.isnan(export.column("Baseline")[:60]).all()
        assert cmp.compare_export(export).match


def test_duplicated_titles_resolved_by_the_script_block(candles, plots):
    """Other indicators' plots repeat titles ("Plot", even "Open Interest"): the script's own
    contiguous block of plots decides."""
    rng = np.random.default_rng(0)
    noise = [("Plot", list(rng.normal(size=len(candles)))) for _ in range(2)]
    other_oi = ("Open Interest", list(rng.normal(size=len(candles))))
    other_base = ("Baseline", list(rng.normal(size=len(candles))))
    columns = [*noise, other_oi, other_base, *plot_columns(plots), ("Plot", [1.0] * len(candles))]
    export = read_tradingview_export(io.StringIO(tv_csv(candles, columns)))
    assert export.titles.count("Plot") == 3 and export.titles.count("Open Interest") == 2
    with pytest.raises(ValueError, match=r"'Open Interest' appears 2 times \(columns 8, 10\)"):
        export.column("Open Interest")  # the reader alone cannot tell which
    np.testing.assert_array_equal(cmp.export_candles(export)["open_interest"],
                                  plots["Open Interest"])
    assert cmp.compare_export(export).match


def test_duplicated_titles_with_equal_values_are_fine(candles, plots):
    """The script added twice with the same settings: two identical blocks."""
    columns = plot_columns(plots) * 2
    assert cmp.compare_export(read_tradingview_export(io.StringIO(tv_csv(candles, columns)))).match


def test_ambiguous_duplicates_are_refused(candles, plots):
    other = reference_plots(candles, ma_length=20)
    columns = plot_columns(plots) + plot_columns(other)
    export = read_tradingview_export(io.StringIO(tv_csv(candles, columns)))
    with pytest.raises(ValueError, match=r"'Baseline' appears 2 times \(columns 8, 23\)"):
        cmp.compare_export(export)


@pytest.mark.parametrize("title", ["Baseline", "Open Interest", "Tier"])
def test_missing_column_is_a_clear_error(candles, plots, title):
    columns = [(t, v) for t, v in plot_columns(plots) if t != title]
    export = read_tradingview_export(io.StringIO(tv_csv(candles, columns)))
    with pytest.raises(ValueError, match=rf"has no column '{title}'.*liquidation_levels_on_oi"):
        cmp.compare_export(export)


def test_no_leverage_columns(candles, plots):
    columns = [(t, v) for t, v in plot_columns(plots) if t in cmp.CORE_TITLES]
    export = read_tradingview_export(io.StringIO(tv_csv(candles, columns)))
    with pytest.raises(ValueError, match="has no column 'Long 5x'"):
        cmp.compare_export(export)
    with pytest.raises(ValueError, match="has no column 'Long 10x'"):
        cmp.compare_export(export, OIOptions(leverages=(10,)))


def test_leverages_subset_and_order(candles, plots):
    columns = [(t, v) for t, v in plot_columns(plots) if not t.endswith(" 50x")]
    export = read_tradingview_export(io.StringIO(tv_csv(candles, columns)))
    assert cmp.plotted_leverages(export) == (5, 10, 25, 100)
    assert cmp.compare_export(export).match
    chosen = OIOptions(leverages=(25,))
    assert cmp.compare_export(export, chosen).columns[-2:] == ("Long 25x", "Short 25x")


def test_options_are_one_oioptions(candles, plots):
    export = read_tradingview_export(io.StringIO(tv_csv(candles, plot_columns(plots))))
    with pytest.raises(TypeError, match=r"is not an OIOptions.*OIOptions\(ma_type='ema'"):
        cmp.compare_export(export, {"ma_type": "ema"})
    with pytest.raises(ValueError, match="Did you mean 'ema'"):
        cmp.compare_export(export, OIOptions(ma_type="emma"))


def test_vwma_needs_volume(candles):
    plots = reference_plots(candles, ma_type="vwma")
    export = read_tradingview_export(io.StringIO(tv_csv(candles, plot_columns(plots))))
    with pytest.raises(ValueError, match=r"no column 'Volume'.*Volume indicator"):
        cmp.compare_export(export, OIOptions(ma_type="vwma"))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda ls: [*ls[:3], ls[2], *ls[3:]], r"line 4: time repeats"),
        (lambda ls: [ls[0], ls[2], ls[1], *ls[3:]], r"line 3: time goes back"),
        (lambda ls: [*ls[:2], ls[2] + ",7", *ls[3:]], r"line 3 has 21 fields but the header"),
        (lambda ls: ls[:1], r"no bars"),
        (lambda ls: [], r"is empty"),
        (lambda ls: [ls[0].replace("time", "date"), *ls[1:]], r"no 'time' column"),
    ],
    ids=["repeated time", "time back", "ragged", "no bars", "empty", "no time"],
)
def test_malformed_files(candles, plots, edit, message):
    lines = tv_csv(candles.iloc[:10], plot_columns({k: v[:10] for k, v in plots.items()}))
    text = "\n".join(edit(lines.splitlines()))
    with pytest.raises(ValueError, match=message):
        read_tradingview_export(io.StringIO(text))


def test_non_number_cell_names_the_line(candles, plots):
    columns = plot_columns(_altered(plots, "Baseline", 70, value=NAN))
    text = tv_csv(candles, columns).splitlines()
    fields = text[71].split(",")
    fields[7] = "abc"
    text[71] = ",".join(fields)
    export = read_tradingview_export(io.StringIO("\n".join(text)))
    with pytest.raises(ValueError, match=r"'Baseline' \(column 8\) holds 'abc' at line 72"):
        export.column("Baseline")


def test_bad_candles_in_export(candles, plots):
    bad = candles.copy()
    bad.iloc[5, bad.columns.get_loc("low")] = bad["high"].iloc[5] * 2
    export = read_tradingview_export(io.StringIO(tv_csv(bad, plot_columns(plots))))
    with pytest.raises(ValueError, match="low"):
        cmp.compare_export(export)


# --------------------------------------------------------------------------- reports


def test_text_report(candles, plots):
    row = 150
    text = tv_csv(candles, plot_columns(_altered(plots, "Baseline", row, factor=1.01)))
    result = _compare_text(text)
    report = format_report(result, source="x.csv")
    stamp = candles.index[row].strftime("%Y-%m-%d %H:%M:%S")
    line = next(ln for ln in report.splitlines() if ln.startswith(stamp))
    assert "Baseline" in line and repr(plots["Baseline"][row]) in line
    assert "Baseline            1 differing bars, first at " + stamp in report
    assert report.splitlines()[-2] == f"DIFFERENT: 1 values in 1 of {len(candles)} bars differ"
    assert report.splitlines()[-1].startswith("hint: pass the script's inputs")
    ok = format_report(_compare_text(tv_csv(candles, plot_columns(plots))))
    assert ok.splitlines()[-1].startswith("MATCH")


def test_report_limit(candles, plots):
    changed = {k: list(v) for k, v in plots.items()}
    for row in range(100, 110):
        changed["Tier"][row] += 1
    report = format_report(_compare_text(tv_csv(candles, plot_columns(changed))), limit=3)
    assert "... 7 more (--limit 0 lists all)" in report


def test_json_report(candles, plots):
    row = _trigger_rows(plots)[1]
    text = tv_csv(candles, plot_columns(_altered(plots, "Long 100x", row, value=NAN)))
    doc = report_json(_compare_text(text))
    assert doc["match"] is False and doc["bars"] == len(candles)
    assert doc["differences"] == [{
        "time": candles.index[row].isoformat(), "column": "Long 100x",
        "ours": pytest.approx(plots["Long 100x"][row]), "theirs": None,
    }]
    assert doc["summary"]["Long 100x"] == {"differences": 1,
                                           "first": candles.index[row].isoformat()}
    json.dumps(doc)


# --------------------------------------------------------------------------- the command


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(["compare", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_registered_in_cli():
    args = build_parser().parse_args(["compare", "x.csv", "--ma-type", "ema", "--json"])
    assert args.func is cmd.run and args.ma_type == "ema" and args.json


def test_command_options_reach_the_engine(tmp_path, candles, capsys):
    options = {"ma_type": "wma", "ma_length": 12, "thresholds": (1.1, 1.9, 2.5),
               "direction": "both", "mmr": 0.002}
    path = tmp_path / "e.csv"
    path.write_text(tv_csv(candles, plot_columns(reference_plots(candles, **options))))
    argv = [str(path), "--ma-type", "wma", "--ma-length", "12", "--thresholds", "1.1,1.9,2.5",
            "--direction", "both", "--mmr", "0.002"]
    code, out, _ = _run(argv, capsys)
    assert code == 0 and out.splitlines()[-1].startswith("MATCH")
    code, out, _ = _run([*argv[:-2]], capsys)
    assert code == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--leverages", "5,1"], "leverage must be > 1"),
        (["--leverages", "7"], "no column 'Long 7x'"),
        (["--thresholds", "3,2"], "strictly increasing"),
        (["--mmr", "0.05"], "mmr"),
        (["--ma-length", "0"], "ma_length=0"),
        (["--exchange", "binanceusdm"], "--exchange and --symbol go together"),
        (["--warmup", "-1"], "warmup=-1"),
        (["--tolerance", "-1"], "tolerance=-1"),
        (["--exchange", "okx", "--symbol", "X", "--timeframe", "1x"], "--timeframe='1x'"),
    ],
)
def test_bad_options_exit_1(export_path, capsys, argv, message):
    """Values the engine refuses: one ``liqlevels: error:`` line, as for ``chart``."""
    code, out, err = _run([str(export_path), *argv], capsys)
    assert code == 1 and out == ""
    assert err.startswith("liqlevels: error:") and message in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--ma-type", "emma"], "invalid choice: 'emma'"),
        (["--direction", "up"], "invalid choice: 'up'"),
        (["--thresholds", "1.2,x"], "'1.2,x' is not a comma-separated list of numbers"),
        (["--leverages", "5,x"], "'5,x' is not a comma-separated list of whole numbers"),
        (["--ma-length", "ten"], "invalid int value"),
    ],
)
def test_unreadable_options_are_usage_errors(export_path, capsys, argv, message):
    """Options argparse cannot read exit 2 on one line, exactly as ``chart``'s do."""
    with pytest.raises(SystemExit) as stop:
        main(["compare", str(export_path), *argv])
    out, err = capsys.readouterr()
    assert stop.value.code == 2 and out == ""
    assert err.startswith("liqlevels: error:") and err.count("\n") == 1 and message in err


def test_method_options_match_chart():
    """compare reads the script's inputs with chart's parsers and defaults (leverages aside:
    compare's default is every pair in the export)."""
    chart = build_parser().parse_args(["chart", "X"])
    ours = build_parser().parse_args(["compare", "x.csv"])
    for name in OI_OPTION_NAMES:
        expected = None if name == "leverages" else getattr(chart, name)
        assert getattr(ours, name) == expected, name
    given = {k: getattr(ours, k) for k in OI_OPTION_NAMES if k != "leverages"}
    assert OIOptions(**given) == OIOptions()  # the script's defaults


def test_missing_file_exit_1(tmp_path, capsys):
    code, _, err = _run([str(tmp_path / "nope.csv")], capsys)
    assert code == 1 and "nope.csv" in err


def _fake_fetch(frame: pd.DataFrame, calls: list):
    def fetch(exchange, symbol, timeframe, *, since=None, until=None):
        calls.append((exchange, symbol, timeframe, since, until))
        return frame

    return fetch


def test_exchange_open_interest(monkeypatch, export_path, candles, capsys):
    calls: list = []
    monkeypatch.setattr(feeds, "fetch_candles", _fake_fetch(candles, calls), raising=False)
    code, out, _ = _run([str(export_path), "--exchange", "binanceusdm", "--symbol",
                         "BTC/USDT:USDT", "--json"], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["match"] and doc["columns"][0] == "Open Interest"
    assert calls == [("binanceusdm", "BTC/USDT:USDT", "1h", candles.index[0],
                      candles.index[-1] + pd.Timedelta(hours=1))]


def test_exchange_open_interest_differs(monkeypatch, export_path, candles, capsys):
    """Their OI against ours: the report tells a data difference at its bar."""
    ours = candles.copy()
    row = 300
    ours.iloc[row, ours.columns.get_loc("open_interest")] *= 1.05
    monkeypatch.setattr(feeds, "fetch_candles", _fake_fetch(ours.iloc[5:], []), raising=False)
    code, out, _ = _run([str(export_path), "--exchange", "okx", "--symbol", "BTC/USDT:USDT",
                         "--timeframe", "1h", "--json"], capsys)
    doc = json.loads(out)
    assert code == 1
    by_column = {(d["column"], d["time"]) for d in doc["differences"]}
    assert ("Open Interest", candles.index[row].isoformat()) in by_column
    assert ("Open Interest", candles.index[0].isoformat()) in by_column  # we have none there
    assert doc["summary"]["Open Interest"]["differences"] == 6


def test_exchange_errors_exit_1(monkeypatch, export_path, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("binanceusdm fetchOpenInterestHistory: 418 I'm a teapot")

    monkeypatch.setattr(feeds, "fetch_candles", broken, raising=False)
    code, _, err = _run([str(export_path), "--exchange", "binanceusdm", "--symbol", "X"], capsys)
    assert code == 1 and "could not fetch X 1h from binanceusdm" in err and "teapot" in err
    empty = pd.DataFrame({"open_interest": []}, index=pd.DatetimeIndex([], tz="UTC"))
    monkeypatch.setattr(feeds, "fetch_candles", lambda *a, **k: empty)
    code, _, err = _run([str(export_path), "--exchange", "okx", "--symbol", "X"], capsys)
    assert code == 1 and "gave no open interest" in err


def test_infer_timeframe():
    for freq, expected in (("1min", "1m"), ("15min", "15m"), ("4h", "4h"), ("1D", "1d"),
                           ("7D", "1w"), ("30s", "30s")):
        index = pd.date_range("2025-01-01", periods=5, freq=freq, tz="UTC")
        assert cmd.infer_timeframe(index.delete(2)) == expected
    with pytest.raises(ValueError, match="--timeframe"):
        cmd.infer_timeframe(pd.date_range("2025-01-01", periods=1, tz="UTC"))


def _cli(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "liqlevels.cli", "compare", *argv],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_cli_subprocess_exit_codes(tmp_path, candles, plots):
    good = tmp_path / "good.csv"
    good.write_text(tv_csv(candles, plot_columns(plots), time_format="iso",
                           offsets=["+03:00"]))
    row = _trigger_rows(plots)[4]
    bad = tmp_path / "bad.csv"
    bad.write_text(tv_csv(candles, plot_columns(_altered(plots, "Entry", row, factor=0.99))))
    missing = tmp_path / "missing.csv"
    missing.write_text(tv_csv(candles, [(t, v) for t, v in plot_columns(plots) if t != "Tier"]))

    done = _cli(str(good))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith("MATCH")
    done = _cli(str(bad), "--json")
    assert done.returncode == 1
    doc = json.loads(done.stdout)
    assert [(d["time"], d["column"]) for d in doc["differences"]] == [
        (candles.index[row].isoformat(), "Entry")]
    done = _cli(str(missing))
    assert done.returncode == 1 and done.stdout == ""
    assert "has no column 'Tier'" in done.stderr


def test_args_namespace_run(export_path, capsys):
    """``run`` takes the parsed namespace alone."""
    args = build_parser().parse_args(["compare", str(export_path), "--limit", "1"])
    assert isinstance(args, argparse.Namespace) and cmd.run(args) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("MATCH")
