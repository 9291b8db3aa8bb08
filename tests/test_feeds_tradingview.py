"""liqlevels.feeds.read_tradingview_export: TradingView's "Export chart data" CSV, written here
by hand, read on a UTC index; errors name the file, the column and the first bad line."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from liqlevels import feeds
from liqlevels.feeds import TradingViewExport, read_tradingview_export

HEADER = "time,open,high,low,close,Baseline,Tier,Plot,Plot"
ROWS = [
    "1735689600,100,101,99,100.5,,0,1,1",
    "1735693200,100.5,102,100,101,NaN,1,2,2",
    "1735696800,101,101.5,100.2,100.8,3.25,2,3,3",
]


def _csv(header: str = HEADER, rows: list[str] = ROWS) -> str:
    return "\n".join([header, *rows]) + "\n"


def _read(text: str) -> TradingViewExport:
    return read_tradingview_export(io.StringIO(text))


def test_public_in_feeds():
    assert {"read_tradingview_export", "TradingViewExport"} <= set(feeds.__all__)
    assert feeds.read_tradingview_export is read_tradingview_export


def test_reads_bars_and_columns():
    export = _read(_csv())
    assert len(export) == 3 and export.source == "export"
    expected = pd.date_range("2025-01-01", periods=3, freq="1h", tz="UTC", name="time")
    assert export.index.equals(expected.as_unit("ns"))
    assert export.titles == tuple(HEADER.split(","))
    np.testing.assert_array_equal(export.column("close"), [100.5, 101.0, 100.8])
    np.testing.assert_array_equal(export.column("Baseline"), [np.nan, np.nan, 3.25])
    assert export.column("baseline") is export.column("Baseline")  # case ignored, read once
    assert export.positions("Plot") == (7, 8)
    np.testing.assert_array_equal(export.column("Plot"), [1.0, 2.0, 3.0])  # equal copies


def test_path_with_byte_order_mark(tmp_path):
    path = tmp_path / "BINANCE_BTCUSDT.P, 60.csv"
    path.write_bytes(("\ufeff" + _csv()).encode("utf-8"))
    export = read_tradingview_export(path)
    assert export.titles[0] == "time" and export.source == str(path)


def test_bad_cell_names_the_column_and_the_first_bad_line(tmp_path):
    rows = [ROWS[0], ROWS[1].replace("NaN", "1.5k"), ROWS[2].replace("3.25", "abc")]
    path = tmp_path / "e.csv"
    path.write_text(_csv(rows=rows))
    export = read_tradingview_export(path)
    np.testing.assert_array_equal(export.column("Tier"), [0, 1, 2])  # other columns read
    with pytest.raises(ValueError, match=r"e\.csv: column 'Baseline' \(column 6\) holds '1\.5k' "
                       r"at line 3, which is not a number"):
        export.column("Baseline")


def test_missing_column_suggests_and_lists_the_header():
    export = _read(_csv())
    with pytest.raises(ValueError) as info:
        export.column("Baselin", hint="add the script to the chart")
    message = str(info.value)
    assert message.startswith("export has no column 'Baselin'; add the script to the chart.")
    assert "Did you mean 'Baseline'?" in message
    assert message.endswith("Its columns: 'time', 'open', 'high', 'low', 'close', 'Baseline', "
                            "'Tier', 'Plot', 'Plot'")
    assert not export.has("Volume")


def test_repeated_title_with_different_values_is_refused():
    rows = [r[: r.rindex(",")] + ",9" for r in ROWS]
    export = _read(_csv(rows=rows))
    with pytest.raises(ValueError, match=r"'Plot' appears 2 times \(columns 8, 9\) with different"):
        export.column("Plot")
    np.testing.assert_array_equal(export.column_at(8), [9.0, 9.0, 9.0])


@pytest.mark.parametrize(
    ("header", "rows", "message"),
    [
        ("", [], "is empty"),
        (HEADER, [], "has a header but no bars"),
        (HEADER, [ROWS[0], ROWS[1] + ",7"], "line 3 has 10 fields but the header has 9"),
        (HEADER.replace("time", "date"), ROWS, "has no 'time' column"),
        (HEADER + ",time", [r + ",1" for r in ROWS], "has 2 'time' columns"),
        (HEADER, [ROWS[0], ROWS[0]], "line 3: time repeats"),
        (HEADER, [ROWS[1], ROWS[0]], "line 3: time goes back"),
        (HEADER, ["2025-01-01T00:00:00" + ROWS[0][10:]], "line 2: time '2025-01-01T00:00:00'"),
    ],
    ids=["empty", "no bars", "ragged", "no time", "two times", "repeat", "back", "naive"],
)
def test_malformed(header, rows, message):
    with pytest.raises(ValueError, match=message):
        _read(_csv(header, rows))


def test_iso_offsets_and_unix_milliseconds_read_as_utc():
    iso = [r.replace("1735689600", "2025-01-01T02:00:00+02:00", 1) for r in ROWS[:1]]
    iso += [r.replace("1735693200", "2024-12-31T20:00:00-05:00", 1) for r in ROWS[1:2]]
    ms = [r.replace(r[:10], r[:10] + "000", 1) for r in ROWS[:2]]
    assert _read(_csv(rows=iso)).index.equals(_read(_csv(rows=ms)).index)
    assert str(_read(_csv(rows=iso)).index[1]) == "2025-01-01 01:00:00+00:00"
