"""The compiled aggTrades parser (feeds/_parse_agg.py) against pyarrow and a plain loop, the
taker sides it builds, and the trades check's fast read of an Arrow side column.

The parser must give pyarrow's numbers bit for bit on every line it accepts, accept exactly
the plain lines its module describes (written out here again as a loop over the fields), and
hand everything else back (``None``) so that pyarrow reads it, with today's messages.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import re
import zipfile
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from fakes import agg_trades_csv, random_trades
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liqlevels import feeds, indicator
from liqlevels.feeds import _parse_agg, _readers
from liqlevels.indicator import _frames, _map, _selection

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
D0 = 1_780_272_000_000  # 2026-06-01 00:00 UTC, ms

# -- the plain form, from the module's text ----------------------------------------------------

_WHOLE = re.compile(rb"0|[1-9][0-9]*")
_DECIMAL = re.compile(rb"-?(0|[1-9][0-9]*)(\.[0-9]+)?")


def _plain_whole(token: bytes) -> bool:
    return _WHOLE.fullmatch(token) is not None and len(token) <= 18


def _plain_decimal(token: bytes) -> bool:
    if _DECIMAL.fullmatch(token) is None:
        return False
    digits = token.lstrip(b"-").replace(b".", b"")
    return len(digits) <= 18 and int(digits) <= 2**53


def _plain_line(line: bytes, width: int) -> bool:
    fields = line.split(b",")
    if len(fields) != width:
        return False
    wholes = [fields[i] for i in (0, 3, 4, 5)] + fields[7:]
    return (all(_plain_whole(f) for f in wholes) and _plain_decimal(fields[1])
            and _plain_decimal(fields[2]) and fields[6] in (b"true", b"false"))


def _plain(data: bytes, width: int) -> bool:
    """Whether every line of ``data`` is plain: ``\\n`` or ``\\r\\n`` endings (the last may
    lack one), no empty line."""
    body = data[:-1] if data.endswith(b"\n") else data
    lines = body.split(b"\n")
    for k, line in enumerate(lines):
        if line.endswith(b"\r") and (k < len(lines) - 1 or data.endswith(b"\n")):
            line = line[:-1]
        if not _plain_line(line, width):
            return False
    return bool(data)


def _loop(data: bytes) -> tuple[np.ndarray, ...]:
    """The columns of plain lines by Python's own (correctly rounded) ``float`` and ``int``."""
    rows = [line.rstrip(b"\r").split(b",") for line in data.splitlines()]
    return (np.array([float(r[1]) for r in rows]), np.array([float(r[2]) for r in rows]),
            np.array([int(r[5]) for r in rows], np.int64),
            np.array([r[6] == b"true" for r in rows]))


def _same(got: tuple, want: tuple[np.ndarray, ...]) -> None:
    """Equal dtypes and equal bits (so -0.0 is not 0.0); the kernel's fifth column, the
    taker sides, is ``if_else(is_buyer_maker, "sell", "buy")`` exactly."""
    if len(got) == 5:
        side = got[4]
        side.validate(full=True)
        assert side.type == pa.large_string()
        want_side = pc.if_else(pa.array(want[3], pa.bool_()), "sell", "buy")
        assert side.equals(want_side.cast(pa.large_string()))
        got = got[:4]
    assert len(got) == len(want) == 4
    for a, b in zip(got, want, strict=True):
        assert a.dtype == b.dtype
        assert a.tobytes() == np.ascontiguousarray(b).tobytes()


# -- tokens: mostly plain, some not --------------------------------------------------------------

def _decimal_text(sign: bool, mantissa: int, k: int) -> str:
    digits = str(mantissa).rjust(k + 1, "0")
    text = f"{digits[:-k]}.{digits[-k:]}" if k else digits
    return ("-" if sign else "") + text


plain_decimals = st.builds(_decimal_text, st.booleans(),
                           st.one_of(st.integers(0, 10**6), st.integers(0, 2**53 + 3)),
                           st.integers(0, 20))
odd_decimals = st.sampled_from([
    "1e5", "1E-3", "+1.5", "1.", ".5", "01.5", "00", "-", " 1", "1 ", "", "nan", "inf", "-0",
    "-0.0", "1.5.5", "\"1.5\"", "9007199254740993", "123456789012345678.9", "0.1234567890123456789",
    "1_000", "0x10", "\u0661".encode().decode(),
])
plain_wholes = st.one_of(st.integers(0, 10**6), st.integers(0, 10**18 - 1)).map(str)
odd_wholes = st.sampled_from(["", "-5", "+5", "007", "1.0", "1e3", "\"7\"", " 7",
                              "1234567890123456789", "x"])
bools = st.sampled_from(["true", "false"] * 6 + ["True", "TRUE", "False", "FALSE", "1", "t",
                                                 "", "tru", "falsey"])


@st.composite
def agg_lines(draw: st.DrawFn) -> tuple[bytes, int]:
    """Header-less aggTrades bytes (1 or 2 extra columns now and then) and their width."""
    width = draw(st.sampled_from([7, 7, 7, 8, 9]))
    odd = draw(st.booleans())
    decimal = st.one_of(plain_decimals, odd_decimals) if odd else plain_decimals
    whole = st.one_of(plain_wholes, odd_wholes) if odd else plain_wholes
    lines = []
    for _ in range(draw(st.integers(1, 12))):
        fields = [draw(whole), draw(decimal), draw(decimal), draw(whole), draw(whole),
                  draw(whole), draw(bools if odd else st.sampled_from(["true", "false"]))]
        fields += [draw(whole) for _ in range(width - 7)]
        lines.append(",".join(fields))
    if odd and draw(st.booleans()):  # a line too short or too long, or an empty one
        lines.insert(draw(st.integers(0, len(lines))),
                     draw(st.sampled_from(["", "1,2,3", ",".join(["1"] * (width + 1))])))
    end = draw(st.sampled_from(["\n", "\r\n"]))
    data = end.join(lines) + (end if draw(st.booleans()) else "")
    if odd and draw(st.booleans()):
        data = data.replace("\n", "\r", 1)  # a lone carriage return
    return data.encode(), width


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(agg_lines(), st.sampled_from([1, 2]))
def test_parses_plain_lines_as_pyarrow_and_nothing_else(case: tuple[bytes, int],
                                                        threads: int) -> None:
    data, width = case
    with mock.patch.object(_parse_agg, "_SPLIT_BELOW", 1):  # even a few lines in halves
        got = _parse_agg.parse_agg_trades(data, width, threads=threads)
    plain = _plain(data, width)
    assert (got is not None) == plain
    if got is not None:
        arrow = _readers._agg_columns(data, width)
        assert arrow is not None, "pyarrow refused lines the kernel read"
        _same(got, arrow)
        _same(got, _loop(data))


@pytest.mark.parametrize("token", ["29000.3", "0.001", "-0.5", "0", "-0", "1.10",
                                   "9007199254740992", "0.9007199254740992",
                                   "0.1000000000000001", "0.00000000000000001"])
def test_plain_decimals_are_pyarrows_doubles(token: str) -> None:
    data = f"1,{token},{token},2,3,{D0},true\n".encode()
    got = _parse_agg.parse_agg_trades(data, 7)
    assert got is not None
    _same(got, _readers._agg_columns(data, 7))
    assert got[0][0] == float(token) and np.signbit(got[0][0]) == token.startswith("-")


@pytest.mark.parametrize("line", [
    "1,1e5,1,2,3,4,true", "1,1,1,2,3,4,True", "1,1,1,2,3,4,TRUE", "1,,1,2,3,4,true",
    "1,1.,1,2,3,4,true", "1,.5,1,2,3,4,true", "1,+1,1,2,3,4,true",
    "1,9007199254740993,1,2,3,4,true", "1,1.00000000000000001,1,2,3,4,true",
    "1,1,1,2,3,-4,true", "1,1,1,2,3,04,true", "\"1\",1,1,2,3,4,true", "1,1,1,2,3,4,true,",
    "1,1,1,2,3,4", "1, 1,1,2,3,4,true", "1,1,1,2,3,4,true\r1,1,1,2,3,4,true",
])
def test_anything_not_plain_is_left_to_pyarrow(line: str) -> None:
    assert _parse_agg.parse_agg_trades(f"{line}\n".encode(), 7) is None


def test_empty_line_and_narrow_width_are_left_to_pyarrow() -> None:
    assert _parse_agg.parse_agg_trades(b"1,1,1,2,3,4,true\n\n1,1,1,2,3,4,true\n", 7) is None
    assert _parse_agg.parse_agg_trades(b"1,1,1,2,3,4\n", 6) is None
    assert _parse_agg.parse_agg_trades(b"", 7) is None


def _day_bytes(n: int, seed: int) -> bytes:
    return agg_trades_csv(random_trades(n, seed=seed, start=D0), header=False)


def test_two_halves_equal_one_pass_and_pyarrow() -> None:
    data = _day_bytes(40_000, seed=3)  # about 2.6 MB: cut in two
    assert len(data) >= 2 * _parse_agg._SPLIT_BELOW
    both = _parse_agg.parse_agg_trades(data, 7)
    assert both is not None
    _same(both, _parse_agg.parse_agg_trades(data, 7, threads=1)[:4])
    _same(both, _readers._agg_columns(data, 7))
    _same(both, _loop(data))


@pytest.mark.parametrize("where", [0.1, 0.5, 0.9, 1.0])
def test_one_odd_line_in_either_half_leaves_it_all_to_pyarrow(where: float) -> None:
    lines = _day_bytes(40_000, seed=4).splitlines(keepends=True)
    k = min(int(where * len(lines)), len(lines) - 1)
    lines[k] = lines[k].replace(b",false", b",False").replace(b",true", b",True")
    data = b"".join(lines)
    assert _parse_agg.parse_agg_trades(data, 7) is None
    assert _parse_agg.parse_agg_trades(data, 7, threads=1) is None
    assert _readers._agg_columns(data, 7) is not None  # pyarrow reads it


@settings(max_examples=60, deadline=None)
@given(st.lists(st.booleans(), max_size=300))
def test_taker_sides_are_if_else(maker: list[bool]) -> None:
    flags = np.array(maker, dtype=bool)
    sides = _parse_agg.taker_sides(flags)
    want = pc.if_else(pa.array(flags, pa.bool_()), "sell", "buy")
    assert sides is not None and sides.type == pa.large_string()
    sides.validate(full=True)
    assert sides.equals(want.cast(pa.large_string()))
    assert sides.to_pandas().dtype == want.to_pandas().dtype  # the frame's side: the same


# -- read_trades: the window through the kernel or through pyarrow ----------------------------

def _window_file(tmp_path: Path, odd: bytes | None = None, crlf: bool = False) -> Path:
    data = agg_trades_csv(random_trades(30_000, seed=7, start=D0, span=3_600_000))
    if odd is not None:
        lines = data.splitlines(keepends=True)
        lines[len(lines) // 2] = odd
        data = b"".join(lines)
    path = tmp_path / "BTCUSDT-aggTrades-2026-06-01.csv"
    path.write_bytes(data.replace(b"\n", b"\r\n") if crlf else data)
    return path


def _read(path: Path) -> pd.DataFrame:
    since = pd.Timestamp(D0 + 600_000, unit="ms", tz="UTC")
    return feeds.read_trades(path, exchange="binance", since=since,
                             until=since + pd.Timedelta(minutes=40))


def test_a_window_that_cannot_be_mapped_is_read(tmp_path: Path) -> None:
    """Where the system refuses to map the file, the window's bytes are read instead: the
    same frame; a window holding no trade gives the empty frame either way."""
    path = _window_file(tmp_path)
    mapped = _read(path)
    assert len(mapped) > 1000
    whole = mock.patch.object(_readers, "_binance_table", side_effect=AssertionError("whole"))
    with mock.patch.object(_readers.mmap, "mmap", side_effect=OSError("no mapping here")) as m:
        with whole:  # still only the window's bytes, not the whole file
            read = _read(path)
        empty = feeds.read_trades(path, exchange="binance", since=D0 - 10_000, until=D0 - 5_000)
    assert m.called
    pd.testing.assert_frame_equal(read, mapped, check_exact=True)
    assert empty.empty and list(empty.columns) == list(mapped.columns)


@pytest.mark.parametrize("crlf", [False, True])
def test_the_window_is_read_by_the_kernel_as_pyarrow_reads_it(tmp_path: Path,
                                                              crlf: bool) -> None:
    path = _window_file(tmp_path, crlf=crlf)
    with mock.patch.object(_readers, "_agg_columns", side_effect=AssertionError("pyarrow")):
        fast = _read(path)
    with mock.patch.object(_readers, "parse_agg_trades", return_value=None):
        slow = _read(path)
    pd.testing.assert_frame_equal(fast, slow, check_exact=True)
    assert fast["side"].dtype == slow["side"].dtype
    assert pa.array(fast["side"].array).type == pa.array(slow["side"].array).type
    assert len(fast) > 10_000


def test_an_odd_but_valid_line_is_read_by_pyarrow(tmp_path: Path) -> None:
    lines = agg_trades_csv(random_trades(30_000, seed=7, start=D0, span=3_600_000)
                           ).splitlines(keepends=True)
    fields = lines[len(lines) // 2].split(b",")
    fields[1], fields[6] = fields[1] + b"0e0", fields[6].capitalize()  # 80.12 -> 80.120e0
    path = _window_file(tmp_path, odd=b",".join(fields))
    with mock.patch.object(_readers, "_agg_columns", wraps=_readers._agg_columns) as arrow:
        frame = _read(path)
    assert arrow.call_count == 1
    whole = feeds.read_trades(path, exchange="binance")
    since = pd.Timestamp(D0 + 600_000, unit="ms", tz="UTC")
    keep = (whole["time"] >= since) & (whole["time"] < since + pd.Timedelta(minutes=40))
    pd.testing.assert_frame_equal(frame, whole[keep].reset_index(drop=True), check_exact=True)


def test_a_bad_line_keeps_todays_message(tmp_path: Path) -> None:
    good = agg_trades_csv(random_trades(30_000, seed=7, start=D0, span=3_600_000))
    fields = good.splitlines(keepends=True)[15_000].split(b",")
    fields[1] = b"abc"
    path = _window_file(tmp_path, odd=b",".join(fields))
    with pytest.raises(ValueError) as fast:
        _read(path)
    with mock.patch.object(_readers, "parse_agg_trades", return_value=None), \
            pytest.raises(ValueError) as slow:
        _read(path)
    assert str(fast.value) == str(slow.value)
    assert "price" in str(fast.value) or "expected format" in str(fast.value)


# -- the trades check: side read off the Arrow offsets ------------------------------------------

_ODD_SIDES = ["Buy", "SELL", "bu", "buyy", "sel", "sella", "", None, "b\u00fcy", "buy\x00",
              "sell ", "seLl"]


def _side_series(values: list[str | None], storage: pa.DataType, chunks: int,
                 start: int) -> pd.Series:
    """``values`` as an Arrow-backed ``str`` column: ``storage`` type, split into ``chunks``,
    the first ``start`` rows sliced off (so the Arrow data starts at an offset)."""
    arr = pa.array(values, storage)
    bounds = np.linspace(0, len(arr), chunks + 1).astype(int)
    chunked = pa.chunked_array([arr[a:b] for a, b in itertools.pairwise(bounds)], storage)
    series = pd.Series(pd.arrays.ArrowStringArray(chunked))
    return series.iloc[start:].reset_index(drop=True)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(4_100, 6_000), st.lists(st.tuples(st.floats(0, 1), st.sampled_from(_ODD_SIDES)),
                                           max_size=3),
       st.sampled_from([pa.string(), pa.large_string()]), st.integers(1, 3), st.integers(0, 3),
       st.integers(0, 2**32 - 1))
def test_is_buy_reads_arrow_sides_as_the_comparison_does(n: int, odd: list, storage: pa.DataType,
                                                         chunks: int, start: int,
                                                         seed: int) -> None:
    rng = np.random.default_rng(seed)
    values: list[str | None] = list(np.where(rng.random(n) < 0.5, "buy", "sell"))
    for where, value in odd:
        values[int(where * (n - 1))] = value
    side = _side_series(values, storage, chunks, start)
    frame = pd.DataFrame({"side": side})
    plain = pd.DataFrame({"side": pd.Series(side.to_list(), dtype=object)})
    try:
        want = _selection._is_buy(plain, "trades")
    except ValueError as exc:
        with pytest.raises(ValueError, match=re.escape(str(exc))):
            _selection._is_buy(frame, "trades")
        assert _frames.which_of_two(side, "buy", "sell") is None
    else:
        got = _selection._is_buy(frame, "trades")
        assert got.dtype == bool and np.array_equal(got, want)
        assert np.array_equal(want, np.array([v == "buy" for v in side.to_list()]))
        fast = _frames.which_of_two(side, "buy", "sell")
        assert fast is not None and np.array_equal(fast, want)


def test_trade_levels_of_the_window_equal_those_of_an_object_side(tmp_path: Path) -> None:
    trades = _read(_window_file(tmp_path))
    plain = trades.assign(side=trades["side"].astype(object))
    for mode, threshold in [("gross_value", 2_000.0), ("top_n", 50), ("portion", 0.01)]:
        pd.testing.assert_frame_equal(indicator.trade_levels(trades, mode=mode,
                                                             threshold=threshold),
                                      indicator.trade_levels(plain, mode=mode,
                                                             threshold=threshold),
                                      check_exact=True)


# -- real archives, when some are beside the project ------------------------------------------

def _real_agg_trades() -> list[Path]:
    return sorted(p for p in SHARED.rglob("*aggTrades*") if p.suffix in (".csv", ".zip")
                  ) if SHARED.exists() else []


@pytest.mark.realdata
def test_real_agg_trades_parse_as_pyarrow_reads_them() -> None:
    files = _real_agg_trades()
    if not files:
        pytest.skip(f"no Binance aggTrades file (*aggTrades*.csv or .zip) under {SHARED}")
    for path in files[:3]:
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                data = archive.read(archive.namelist()[0])
        else:
            data = path.read_bytes()
        first, rest = data.split(b"\n", 1)
        body = rest if _readers._has_header(first) else data
        width = body.split(b"\n", 1)[0].count(b",") + 1
        got = _parse_agg.parse_agg_trades(body, width)
        assert got is not None, f"{path.name}: the kernel refused Binance's own lines"
        _same(got, _readers._agg_columns(body, width))


@pytest.mark.parametrize("kernel", [True, False])
def test_the_windows_columns_can_be_written(tmp_path: Path, kernel: bool) -> None:
    path = _window_file(tmp_path)
    with mock.patch.object(_readers, "parse_agg_trades",
                           wraps=_parse_agg.parse_agg_trades if kernel else lambda *_: None):
        frame = _read(path)
    first = float(frame["price"].iloc[0])
    frame.loc[0, "price"] = first + 1.0  # pyarrow's own arrays would be read-only
    frame["quantity"] *= 2
    assert frame["price"].iloc[0] == first + 1.0


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([50_000.0, 100_000.0, 99_999.99, 250_000.0, 1.0]),
                          st.booleans()), max_size=60),
       st.sampled_from([("gross_value", 100_000.0), ("gross_value", 1.0), ("top_n", 3),
                        ("portion", 0.25)]))
def test_select_both_keeps_each_sides_own_selection(rows: list[tuple[float, bool]],
                                                    option: tuple[str, float]) -> None:
    mode, threshold = option
    notional = np.array([r[0] for r in rows], dtype=np.float64)
    is_buy = np.array([r[1] for r in rows], dtype=bool)
    arrays = _selection.TradeArrays(np.arange(len(rows), dtype=np.int64), notional,
                                    np.ones(len(rows)), is_buy)
    want = []
    for side in (True, False):  # each side alone, as docs/method.md section 3 says
        pos = [i for i in range(len(rows)) if is_buy[i] == side]
        values = [notional[i] for i in pos]
        if mode == "gross_value":
            want += [i for i, v in zip(pos, values, strict=True) if v >= threshold]
        else:
            k = int(threshold) if mode == "top_n" else int(len(pos) * threshold)
            order = sorted(range(len(pos)), key=lambda j: (-values[j], j))[:k]
            want += [pos[j] for j in order]
    got = _selection.select_both(arrays, mode, threshold)
    assert got.dtype == np.int64 or got.dtype == np.intp
    assert got.tolist() == sorted(want)


# -- the map and depth: the cells' sums exactly as the three-column groupby gave them ---------

def _grouped_reference(levels: pd.DataFrame, price: float, bin_size: float | None,
                       by: list[str]) -> pd.DataFrame | None:
    """The map's cells as the code before grouped them: ``groupby(by, sort=True,
    as_index=False)["notional"].sum()`` over the kept levels."""
    binned = _map._binned(levels, price, bin_size)
    if binned is None:
        return None
    frame = pd.DataFrame({c: binned[c] for c in ("k", "code", "leverage", "notional")})
    grouped = frame.groupby(by, sort=True, as_index=False)["notional"].sum()
    k, size = grouped["k"].to_numpy(), binned["size"]
    out = pd.DataFrame({"price_low": k * size, "price_high": (k + 1) * size,
                        "side": np.where(grouped["code"].to_numpy() == 0, "long", "short")})
    for col in grouped.columns.drop(["k", "code"]):
        out[col] = grouped[col].to_numpy()
    return out


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 400), st.integers(0, 2**32 - 1), st.sampled_from([None, 0.5, 7.0, 100.0]),
       st.floats(0.2, 0.8))
def test_map_and_depth_sum_cells_as_the_three_column_groupby(n: int, seed: int,
                                                             bin_size: float | None,
                                                             where: float) -> None:
    rng = np.random.default_rng(seed)
    trades = pd.DataFrame({
        "time": pd.to_datetime(D0 + np.sort(rng.integers(0, 3_600_000, n)), unit="ms", utc=True),
        "price": np.round(100 + rng.normal(0, 3, n), rng.integers(0, 3)),
        "quantity": np.round(rng.pareto(1.2, n) * 50 + 0.1, 3),  # sums of unequal magnitudes
        "side": np.where(rng.random(n) < 0.5, "buy", "sell"),
    })
    levels = indicator.trade_levels(trades, mode="gross_value", threshold=1.0,
                                    leverages=(2, 5, 10, 25, 100, 1000))
    price = float(np.quantile(trades["price"], where))
    got_map = indicator.liquidation_map(levels, price=price, bin_size=bin_size)
    got_depth = indicator.depth(levels, price=price, bin_size=bin_size)
    want_map = _grouped_reference(levels, price, bin_size, ["k", "code", "leverage"])
    if want_map is None:
        assert got_map.empty and got_depth.empty
        return
    want_map["leverage"] = want_map["leverage"].astype(np.int64)
    pd.testing.assert_frame_equal(got_map, want_map, check_exact=True, check_dtype=False)
    assert list(got_map.dtypes.astype(str)) == ["float64", "float64", "str", "int64", "float64"]
    want_depth = _grouped_reference(levels, price, bin_size, ["k", "code"])
    notional = want_depth["notional"].to_numpy()
    long = (want_depth["side"] == "long").to_numpy()
    cumulative = np.empty_like(notional)
    cumulative[long] = np.cumsum(notional[long][::-1])[::-1]
    cumulative[~long] = np.cumsum(notional[~long])
    want_depth["cumulative"] = cumulative
    pd.testing.assert_frame_equal(got_depth, want_depth, check_exact=True, check_dtype=False)
    assert got_map["notional"].to_numpy().tobytes() == want_map["notional"].to_numpy().tobytes()


def _parse_in_child(data: bytes, out: Any) -> None:
    got = _parse_agg.parse_agg_trades(data, 7)
    out.put(got is not None and len(got[0]) == data.count(b"\n"))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_parses_in_halves_too() -> None:
    data = _day_bytes(40_000, seed=5)
    assert _parse_agg.parse_agg_trades(data, 7) is not None  # the parent's thread exists
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    child = context.Process(target=_parse_in_child, args=(data, out))
    child.start()
    child.join(60)
    alive = child.is_alive()
    if alive:
        child.kill()
    assert not alive, "the child waited for the parent's parsing thread"
    assert out.get(timeout=5) is True
