"""``feeds.read_trades(..., since=, until=)``: the windowed read equals the whole read cut to
``[start, end)``, whether the file is a plain Binance CSV (only the window's bytes parsed), a
zip or a ``.csv.gz`` (read whole, then cut)."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from fakes import agg_trades_csv, bybit_trades_csv, random_trades, zip_bytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liqlevels import feeds
from liqlevels.feeds import _readers

D0 = 1_780_272_000_000  # 2026-06-01 00:00 UTC, ms
SPAN = 600_000  # ten minutes: 20k trades give many equal timestamps
N = 20_000  # about 1.3 MB of CSV: the byte search bisects many times before it scans


def _trades(unit: str, seed: int = 5) -> pd.DataFrame:
    """aggTrades rows; ``transact_time`` in ``unit`` (us times have sub-ms digits, and some
    are equal)."""
    trades = random_trades(N, seed=seed, start=D0, span=SPAN)
    if unit == "us":
        rng = np.random.default_rng(seed + 1)
        us = trades["transact_time"].to_numpy(np.int64) * 1000 + rng.choice([0, 1, 250, 777], N)
        trades["transact_time"] = np.sort(us)
    return trades


def _ns(trades: pd.DataFrame, unit: str) -> np.ndarray:
    return trades["transact_time"].to_numpy(np.int64) * (1_000 if unit == "us" else 1_000_000)


def _write(path: Path, trades: pd.DataFrame, *, header: bool = True, crlf: bool = False) -> Path:
    data = agg_trades_csv(trades, header=header)  # unit "ms": the times are written as given
    path.write_bytes(data.replace(b"\n", b"\r\n") if crlf else data)
    return path


def _cut(frame: pd.DataFrame, lo: pd.Timestamp | None, hi: pd.Timestamp | None) -> pd.DataFrame:
    """The reference: a boolean filter on the whole read."""
    keep = np.ones(len(frame), dtype=bool)
    if lo is not None:
        keep &= (frame["time"] >= lo).to_numpy()
    if hi is not None:
        keep &= (frame["time"] < hi).to_numpy()
    return frame[keep].reset_index(drop=True)


def _stamp(ns: int) -> pd.Timestamp:
    return pd.Timestamp(ns, tz="UTC")


def _check(path: Path, exchange: str, lo: pd.Timestamp | None, hi: pd.Timestamp | None,
           ns: np.ndarray | None = None) -> pd.DataFrame:
    """The windowed read equals the whole read filtered (and, given the raw times, holds
    exactly the trades whose time is in the window)."""
    got = feeds.read_trades(path, exchange=exchange, since=lo, until=hi)
    want = _cut(feeds.read_trades(path, exchange=exchange), lo, hi)
    pd.testing.assert_frame_equal(got, want)
    if ns is not None:
        inside = np.ones(ns.size, dtype=bool)
        inside &= True if lo is None else ns >= lo.value
        inside &= True if hi is None else ns < hi.value
        assert len(got) == np.count_nonzero(inside)
        np.testing.assert_array_equal(got["time"].array.as_unit("ns").asi8, ns[inside])
    return got


@pytest.fixture
def whole_reads(monkeypatch) -> list[Path]:
    """The files parsed whole (``_read_csv``), in order."""
    calls: list[Path] = []
    real = _readers._read_csv

    def counting(path, *args, **kwargs):
        calls.append(Path(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(_readers, "_read_csv", counting)
    return calls


# -- plain Binance CSV: the byte search ------------------------------------------------------
@pytest.mark.parametrize("header", [True, False])
@pytest.mark.parametrize("unit", ["ms", "us"])
@pytest.mark.parametrize(("a", "b"), [(0.25, 0.5), (0.0, 0.01), (0.6, 0.99), (0.5, 0.501)])
def test_plain_csv_window_equals_whole_read_filtered(tmp_path, whole_reads, header, unit, a,
                                                     b) -> None:
    trades = _trades(unit)
    path = _write(tmp_path / "day.csv", trades, header=header)
    ns = _ns(trades, unit)
    lo, hi = (_stamp(int(ns[0] + f * (ns[-1] - ns[0]))) for f in (a, b))
    whole_reads.clear()
    got = feeds.read_trades(path, exchange="binance", since=lo, until=hi)
    assert whole_reads == []  # only the window's bytes were parsed
    assert 0 < len(got) < N
    _check(path, "binance", lo, hi, ns)


@pytest.mark.parametrize("unit", ["ms", "us"])
def test_edges_exactly_on_trade_times(tmp_path, whole_reads, unit) -> None:
    trades = _trades(unit)
    ns = _ns(trades, unit)
    path = _write(tmp_path / "day.csv", trades)
    equal = np.flatnonzero(np.diff(ns) == 0)  # times shared by several trades
    first, last = int(ns[equal[len(equal) // 4]]), int(ns[equal[3 * len(equal) // 4]])
    got = _check(path, "binance", _stamp(first), _stamp(last), ns)
    assert whole_reads == [path]  # the reference's whole read alone
    times = got["time"].array.as_unit("ns").asi8
    assert times[0] == first and times[-1] < last
    assert len(got) == np.searchsorted(ns, last) - np.searchsorted(ns, first)
    at_first = np.count_nonzero(ns == first)
    assert at_first > 1 and np.count_nonzero(times == first) == at_first  # all of them are in
    assert not (times == last).any()  # and none at ``end``
    one = _check(path, "binance", _stamp(first), _stamp(first + 1), ns)  # one tick wide
    assert len(one) == np.count_nonzero(ns == first)


@pytest.mark.parametrize("unit", ["ms", "us"])
def test_empty_windows_keep_the_columns_and_dtypes(tmp_path, whole_reads, unit) -> None:
    trades = _trades(unit)
    ns = _ns(trades, unit)
    path = _write(tmp_path / "day.csv", trades)
    whole = feeds.read_trades(path, exchange="binance")
    gap = int(np.argmax(np.diff(ns)))  # between two trades: no trade inside
    assert ns[gap + 1] - ns[gap] > 2
    windows = [(ns[gap] + 1, ns[gap + 1]),  # the gap
               (ns[0] - 10**12, ns[0]),  # before all data, ending on the first trade
               (ns[-1] + 1, ns[-1] + 10**12)]  # after all data
    for lo, hi in windows:
        whole_reads.clear()
        got = feeds.read_trades(path, exchange="binance", since=_stamp(lo), until=_stamp(hi))
        assert whole_reads == []
        assert len(got) == 0
        assert list(got.columns) == list(whole.columns)
        assert (got.dtypes == whole.dtypes).all()
        pd.testing.assert_frame_equal(got, whole.iloc[:0].reset_index(drop=True))


def test_windows_around_the_data_and_open_ends(tmp_path, whole_reads) -> None:
    trades = _trades("ms")
    ns = _ns(trades, "ms")
    path = _write(tmp_path / "day.csv", trades, header=False)
    whole = feeds.read_trades(path, exchange="binance")
    before, after = _stamp(ns[0] - 10**9), _stamp(ns[-1] + 10**9)
    for lo, hi in [(before, after), (None, None), (None, after), (before, None)]:
        pd.testing.assert_frame_equal(
            feeds.read_trades(path, exchange="binance", since=lo, until=hi), whole)
    mid = _stamp(int(ns[N // 2]))
    whole_reads.clear()
    _check(path, "binance", None, mid, ns)
    _check(path, "binance", mid, None, ns)
    _check(path, "binance", before, mid, ns)  # starting before the data
    _check(path, "binance", mid, after, ns)  # ending after it
    assert whole_reads == [path] * 4  # the references alone were whole reads


def test_windows_in_other_forms_are_the_same(tmp_path) -> None:
    trades = _trades("ms")
    path = _write(tmp_path / "day.csv", trades)
    lo, hi = pd.Timestamp("2026-06-01 00:02:00", tz="UTC"), pd.Timestamp("2026-06-01 00:05:30",
                                                                       tz="UTC")
    want = feeds.read_trades(path, exchange="binance", since=lo, until=hi)
    assert len(want) > 1000
    forms = [
        ("2026-06-01 00:02", "2026-06-01 00:05:30"),  # naive: UTC
        ("2026-06-01T02:02:00+02:00", "2026-06-01T00:05:30Z"),  # aware: converted
        (lo.value // 10**6, hi.value // 10**6),  # epoch ms
        (float(lo.value // 10**6), np.int64(hi.value // 10**6)),
        (dt.datetime(2026, 6, 1, 0, 2), lo.tz_convert("Asia/Tokyo").to_pydatetime() +
         dt.timedelta(minutes=3, seconds=30)),
        (np.datetime64("2026-06-01T00:02:00"), np.datetime64("2026-06-01T00:05:30.000000")),
    ]
    for start, end in forms:
        pd.testing.assert_frame_equal(
            feeds.read_trades(path, exchange="binance", since=start, until=end), want)
    day = feeds.read_trades(path, exchange="binance", since=dt.date(2026, 6, 1))
    assert len(day) == N


def test_crlf_lines_and_extra_columns(tmp_path, whole_reads) -> None:
    trades = _trades("us")
    ns = _ns(trades, "us")
    path = _write(tmp_path / "day.csv", trades, header=False, crlf=True)
    lo, hi = _stamp(int(ns[3000]) + 1), _stamp(int(ns[15_000]))
    assert len(_check(path, "binance", lo, hi, ns)) > 10_000
    assert whole_reads == [path]
    wide = tmp_path / "wide.csv"  # a future column appended to each row
    wide.write_bytes(b"".join(line.rstrip(b"\n") + b",x\n"
                              for line in agg_trades_csv(trades, header=False).splitlines()))
    whole_reads.clear()
    _check(wide, "binance", lo, hi, ns)
    assert whole_reads == [wide]


# -- the fall-backs: anything unexpected is read whole ---------------------------------------
def test_rows_out_of_order_are_read_whole_then_sorted(tmp_path, whole_reads) -> None:
    trades = _trades("ms")
    ns = _ns(trades, "ms")
    lo, hi = _stamp(int(ns[5000])), _stamp(int(ns[9000]))
    lines = agg_trades_csv(trades, header=False).splitlines(keepends=True)
    swapped = list(lines)
    swapped[6050], swapped[7050] = lines[7050], lines[6050]  # both inside the window
    assert ns[6050] < ns[7050]
    cases = {"swapped.csv": swapped, "reversed.csv": lines[::-1]}
    for name, rows in cases.items():
        path = tmp_path / name
        path.write_bytes(b"".join(rows))
        whole_reads.clear()
        got = feeds.read_trades(path, exchange="binance", since=lo, until=hi)
        assert whole_reads == [path], name  # fell back to the whole read
        np.testing.assert_array_equal(got["time"].array.as_unit("ns").asi8,
                                      ns[(ns >= lo.value) & (ns < hi.value)])
        _check(path, "binance", lo, hi)


def test_a_malformed_row_in_the_window_is_reported_as_the_whole_read_does(tmp_path) -> None:
    trades = _trades("ms")
    ns = _ns(trades, "ms")
    lines = agg_trades_csv(trades).splitlines(keepends=True)
    for row, bad in [(8000, b"2000008000,81.5,0.3,1,2,not-a-time,true\n"),
                     (8001, b"2000008001,,0.3,1,2,%d,true\n" % (ns[8000] // 10**6)),
                     (8002, b"\n")]:
        broken = list(lines)
        broken[row + 1] = bad  # + 1: the header line
        path = tmp_path / f"bad{row}.csv"
        path.write_bytes(b"".join(broken))
        lo, hi = _stamp(int(ns[6000])), _stamp(int(ns[12_000]))
        if bad == b"\n":  # pyarrow skips blank lines: both reads agree without it
            _check(path, "binance", lo, hi)
            continue
        with pytest.raises(ValueError) as whole:
            feeds.read_trades(path, exchange="binance")
        with pytest.raises(ValueError) as windowed:
            feeds.read_trades(path, exchange="binance", since=lo, until=hi)
        assert str(windowed.value) == str(whole.value)
        assert f"bad{row}.csv" in str(windowed.value)


def test_odd_plain_files(tmp_path) -> None:
    trades = _trades("ms")
    ns = _ns(trades, "ms")
    lo, hi = _stamp(int(ns[100])), _stamp(int(ns[200]))
    header_only = tmp_path / "header.csv"
    header_only.write_bytes(agg_trades_csv(trades.iloc[:0]))
    assert len(feeds.read_trades(header_only, exchange="binance", since=lo, until=hi)) == 0
    trailing = _write(tmp_path / "trailing.csv", trades)
    trailing.write_bytes(trailing.read_bytes() + b"\n\n")
    _check(trailing, "binance", lo, hi, ns)
    seconds = trades.assign(transact_time=trades["transact_time"] // 1000)
    in_seconds = _write(tmp_path / "seconds.csv", seconds)  # not Binance's unit: read whole
    _check(in_seconds, "binance", _stamp(int(ns[100]) // 10**9 * 10**9),
           _stamp(int(ns[200]) // 10**9 * 10**9))
    named_csv_zip = tmp_path / "plain.zip"  # a plain CSV behind a packed name: read whole
    named_csv_zip.write_bytes(agg_trades_csv(trades))
    _check(named_csv_zip, "binance", lo, hi, ns)


# -- packed files: read whole, then cut ------------------------------------------------------
@pytest.mark.parametrize("packed", ["zip", "csv.gz"])
@pytest.mark.parametrize("unit", ["ms", "us"])
def test_zip_and_gz_are_read_whole_then_cut(tmp_path, whole_reads, packed, unit) -> None:
    trades = _trades(unit)
    ns = _ns(trades, unit)
    data = agg_trades_csv(trades, header=unit == "ms")
    path = tmp_path / f"SOLUSDT-aggTrades-2026-06-01.{packed}"
    path.write_bytes(zip_bytes("SOLUSDT-aggTrades-2026-06-01.csv", data) if packed == "zip"
                     else gzip.compress(data))
    equal = int(ns[np.flatnonzero(np.diff(ns) == 0)[10]])
    for lo, hi in [(_stamp(equal), _stamp(int(ns[12_000]))), (None, _stamp(equal)),
                   (_stamp(ns[-1] + 1), None), (_stamp(ns[0] - 5), _stamp(ns[0]))]:
        whole_reads.clear()
        _check(path, "binance", lo, hi, ns)
        assert whole_reads == [path, path]


def test_bybit_newest_first_is_filtered_then_sorted(tmp_path) -> None:
    trades = _trades("ms")
    ns = _ns(trades, "ms")
    data = bybit_trades_csv(trades)  # newest first, seconds with 4 decimals
    gz, plain = tmp_path / "SOLUSDT2026-06-01.csv.gz", tmp_path / "SOLUSDT2026-06-01.csv"
    gz.write_bytes(gzip.compress(data))
    plain.write_bytes(data)
    lo, hi = _stamp(int(ns[4000])), _stamp(int(ns[4000]) + 60 * 10**9)
    for path in (gz, plain):
        got = _check(path, "bybit", lo, hi, ns)
        assert len(got) > 1000 and got["time"].is_monotonic_increasing
        assert len(feeds.read_trades(path, exchange="bybit", since=hi, until=hi + pd.Timedelta(
            1, "ms"))) == np.count_nonzero(ns == hi.value)


# -- arguments -------------------------------------------------------------------------------
@pytest.mark.parametrize(("start", "end", "error", "match"), [
    ("not a time", None, ValueError, r"since='not a time' is not a time pandas can read"),
    (None, "2026-13-45", ValueError, r"until='2026-13-45'"),
    ("2026-06-01 00:05", "2026-06-01 00:05", ValueError, r"until=.* must be after since="),
    ("2026-06-01 00:06", "2026-06-01 00:05", ValueError, r"must be after since="),
    (D0 + 1, D0, ValueError, r"must be after since=1780272000001"),
    (float("nan"), None, ValueError, r"since=nan"),
    (None, pd.NaT, ValueError, r"until is NaT"),
    (None, "9999-01-01", ValueError, r"until='9999-01-01'.*1677-2262"),
    (True, None, TypeError, r"since=True \(bool\) is not a time"),
    (None, [D0], TypeError, r"until=\[1780272000000\] \(list\)"),
])
def test_bad_windows_name_the_argument(tmp_path, start, end, error, match) -> None:
    path = _write(tmp_path / "day.csv", random_trades(10, start=D0))
    with pytest.raises(error, match=match):
        feeds.read_trades(path, exchange="binance", since=start, until=end)
    with pytest.raises(error, match=match):  # checked before the file is looked for
        feeds.read_trades(tmp_path / "missing.csv", exchange="bybit", since=start, until=end)


# -- random windows --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, tuple[Path, np.ndarray, pd.DataFrame]]:
    """Plain CSVs (ms with header, us without), their raw times and their whole reads."""
    folder = tmp_path_factory.mktemp("window")
    out = {}
    for unit, header in [("ms", True), ("us", False)]:
        trades = _trades(unit, seed=17)
        path = _write(folder / f"{unit}.csv", trades, header=header)
        out[unit] = path, _ns(trades, unit), feeds.read_trades(path, exchange="binance")
    return out


def _bound(ns: np.ndarray) -> st.SearchStrategy[int | None]:
    span = int(ns[-1] - ns[0])
    return st.one_of(
        st.none(),
        st.integers(int(ns[0]) - span // 10, int(ns[-1]) + span // 10),  # anywhere, to the ns
        st.sampled_from(ns.tolist()),  # exactly on a trade
        st.sampled_from(ns.tolist()).map(lambda t: t + 1),  # just after one
    )


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), unit=st.sampled_from(["ms", "us"]))
def test_random_windows_equal_the_whole_read_filtered(files, data, unit) -> None:
    path, ns, whole = files[unit]
    lo, hi = data.draw(_bound(ns), label="start"), data.draw(_bound(ns), label="end")
    start = None if lo is None else _stamp(lo)
    end = None if hi is None else _stamp(hi)
    if lo is not None and hi is not None and lo >= hi:
        with pytest.raises(ValueError, match="must be after since"):
            feeds.read_trades(path, exchange="binance", since=start, until=end)
        return
    with mock.patch.object(_readers, "_read_csv", wraps=_readers._read_csv) as whole_read:
        got = feeds.read_trades(path, exchange="binance", since=start, until=end)
    pd.testing.assert_frame_equal(got, _cut(whole, start, end))
    inside = np.ones(ns.size, dtype=bool)
    inside &= True if lo is None else ns >= lo
    inside &= True if hi is None else ns < hi
    np.testing.assert_array_equal(got["time"].array.as_unit("ns").asi8, ns[inside])
    # the whole file is parsed only when the window holds all of it
    assert whole_read.called == ((lo is None or lo <= ns[0]) and (hi is None or hi > ns[-1]))
