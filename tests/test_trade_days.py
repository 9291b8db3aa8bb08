"""Archive days decoded natively and kept decoded: the decoder equals the old streamed one and
a plain csv-module loop on files in the archives' exact formats; the decoded-day cache is
used only while its archive is unchanged and its file intact; the day read one ahead on a
second thread raises its errors once, where the caller reaches that day; the levels CSV
written by pyarrow reads back as the frame."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import threading
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fakes import agg_trades_csv, bybit_trades_csv, random_trades, zip_bytes

from liqlevels import _mapping, feeds, indicator
from liqlevels.feeds import FeedError, FeedWarning, _readers, _trade_days

D0 = 1_780_272_000_000  # 2026-06-01 00:00 UTC
DAY = "2026-06-01"
AGG = "data/futures/um/daily/aggTrades/SOLUSDT/SOLUSDT-aggTrades-{}.zip"

pytestmark = pytest.mark.usefixtures("waits")  # retries record their waits (conftest)


@pytest.fixture(scope="module")
def trades() -> pd.DataFrame:
    frame = random_trades(6000, seed=7, start=D0)
    frame.loc[100:140, "transact_time"] = frame.loc[100, "transact_time"]  # equal times
    return frame


# -- files in the archives' formats ------------------------------------------------------------


def _bybit_csv(trades: pd.DataFrame, header: bool) -> bytes:
    data = bybit_trades_csv(trades)
    return data if header else data.split(b"\n", 1)[1]


def _file(tmp_path: Path, exchange: str, trades: pd.DataFrame, *, header: bool, packed: str,
          unit: str = "ms") -> Path:
    data = (agg_trades_csv(trades, header=header, unit=unit) if exchange == "binance"
            else _bybit_csv(trades, header))
    name = f"SOLUSDT-{exchange}-{DAY}.csv"
    path = tmp_path / (name + {"zip": ".zip", "gzip": ".gz", "csv": ""}[packed])
    if packed == "zip":
        path = path.with_name(name[:-4] + ".zip")
        path.write_bytes(zip_bytes(name, data))
    elif packed == "gzip":
        path.write_bytes(gzip.compress(data, mtime=0))
    else:
        path.write_bytes(data)
    return path


def _text(path: Path) -> str:
    raw = path.read_bytes()
    if raw[:2] == b"PK":
        with zipfile.ZipFile(path) as archive:
            raw = archive.read(archive.namelist()[0])
    elif raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return raw.decode()


def reference_columns(path: Path, exchange: str) -> tuple[np.ndarray, ...]:
    """The spec read line by line with the csv module: Binance ``is_buyer_maker == true`` is
    a taker sell, Bybit's ``side`` is the taker's; times in ms/us (Binance) or seconds with a
    fraction (Bybit); rows in time order, equal times in file order."""
    rows = list(csv.reader(io.StringIO(_text(path))))
    if not rows[0][0][:1].isdigit():
        rows = rows[1:]
    out = []
    for i, row in enumerate(rows):
        if exchange == "binance":
            stamp = int(row[5])
            ns = stamp * (1_000 if stamp >= 10**14 else 1_000_000)
            out.append((ns, i, float(row[1]), float(row[2]), row[6] == "false"))
        else:
            ns = round(float(row[0]) * 1e6) * 1000
            out.append((ns, i, float(row[4]), float(row[3]), row[2] == "Buy"))
    out.sort(key=lambda r: (r[0], r[1]))
    return (np.array([r[0] for r in out], np.int64), np.array([r[2] for r in out]),
            np.array([r[3] for r in out]), np.array([r[4] for r in out]))


def _assert_arrays(got: indicator.TradeArrays, want: tuple[np.ndarray, ...]) -> None:
    for name, values in zip(("time", "price", "quantity", "is_buy"), want, strict=True):
        np.testing.assert_array_equal(getattr(got, name), values, err_msg=name)
    assert got.time.dtype == np.int64 and got.is_buy.dtype == bool


CASES = [("binance", header, packed) for header in (True, False)
         for packed in ("zip", "gzip", "csv")]
CASES += [("bybit", header, packed) for header in (True, False) for packed in ("gzip", "zip")]


@pytest.mark.parametrize(("exchange", "header", "packed"), CASES)
def test_decoder_equals_the_old_decoder_and_a_plain_loop(tmp_path, trades, exchange, header,
                                                         packed) -> None:
    path = _file(tmp_path, exchange, trades, header=header, packed=packed)
    old = _readers.read_trades_streamed(path, exchange=exchange)
    new = feeds.read_trades(path, exchange=exchange)
    pd.testing.assert_frame_equal(new, old)
    decoded = _trade_days.decode_trades(path, exchange)
    _assert_arrays(decoded, reference_columns(path, exchange))
    from_old = indicator.trade_arrays(old)
    for name in ("time", "price", "quantity", "is_buy"):
        np.testing.assert_array_equal(getattr(decoded, name), getattr(from_old, name))


def test_microsecond_binance_zip_and_a_multi_member_gzip(tmp_path, trades) -> None:
    path = _file(tmp_path, "binance", trades, header=True, packed="zip", unit="us")
    _assert_arrays(_trade_days.decode_trades(path, "binance"),
                   reference_columns(path, "binance"))
    data = bybit_trades_csv(trades)
    cut = data.index(b"\n", len(data) // 2) + 1
    two = tmp_path / "two-members.csv.gz"
    two.write_bytes(gzip.compress(data[:cut]) + gzip.compress(data[cut:]))
    _assert_arrays(_trade_days.decode_trades(two, "bybit"), reference_columns(two, "bybit"))


@pytest.mark.parametrize("packed", ["zip", "gzip"])
def test_damaged_archives_are_named(tmp_path, trades, packed) -> None:
    path = _file(tmp_path, "binance", trades, header=True, packed=packed)
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) * 2 // 3])  # cut short
    with pytest.raises(ValueError, match=rf"{path.name} is not a readable archive file"):
        _trade_days.decode_trades(path, "binance")
    mid = len(whole) // 2  # 16 flipped bytes inside the compressed data
    path.write_bytes(whole[:mid] + bytes(b ^ 0xFF for b in whole[mid:mid + 16])
                     + whole[mid + 16:])
    with pytest.raises(ValueError, match=path.name):
        _trade_days.decode_trades(path, "binance")


def test_a_zip_member_whose_crc_does_not_match_is_refused(tmp_path, trades) -> None:
    """The deflate stream is whole, but the CRC-32 the zip records is another."""
    path = _file(tmp_path, "binance", trades, header=True, packed="zip")
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        crc = archive.infolist()[0].CRC.to_bytes(4, "little")
    wrong = ((int.from_bytes(crc, "little") + 1) % 2**32).to_bytes(4, "little")
    assert data.count(crc) == 2  # the local header and the central directory
    path.write_bytes(bytes(data).replace(crc, wrong))
    with pytest.raises(ValueError, match=r"size or CRC-32 does not match"):
        _trade_days.decode_trades(path, "binance")
    with pytest.raises(ValueError, match=path.name):
        feeds.read_trades(path, exchange="binance")


def test_a_bad_row_is_named_with_file_column_and_row(tmp_path, trades) -> None:
    bad = trades.copy()
    bad.loc[321, "quantity"] = 0.0
    path = _file(tmp_path, "binance", bad, header=True, packed="zip")
    with pytest.raises(ValueError, match=rf"trades of {path.name}\['quantity'\] is 0.0 at row "
                                         rf"321"):
        _trade_days.decode_trades(path, "binance")


# -- the decoded-day cache ---------------------------------------------------------------------


@pytest.fixture
def decodes(monkeypatch) -> list[str]:
    """Names of the archive files decoded (not read back from the decoded-day cache)."""
    seen: list[str] = []
    real = _trade_days.trade_columns

    def counting(path, **kwargs):
        seen.append(Path(path).name)
        return real(path, **kwargs)

    monkeypatch.setattr(_trade_days, "trade_columns", counting)
    return seen


def _day(cache: Path, exchange: str = "binance") -> indicator.TradeArrays:
    return feeds.archive_day_trades(exchange, "SOLUSDT", DAY, cache_dir=cache)


def _decoded_file(cache: Path) -> Path:
    (path,) = (cache / "decoded").rglob("*.parquet")
    return path


@pytest.mark.parametrize("exchange", ["binance", "bybit"])
def test_a_decoded_day_is_kept_and_read_back(tmp_path, archive, trades, decodes,
                                             exchange) -> None:
    if exchange == "binance":
        served = archive.put_binance(AGG.format(DAY), agg_trades_csv(trades))
    else:
        served = archive.put_bybit("SOLUSDT", DAY, trades)
    first = _day(tmp_path, exchange)
    second = _day(tmp_path, exchange)
    assert len(decodes) == 1 and archive.count(served) == 1
    for name in ("time", "price", "quantity", "is_buy"):
        np.testing.assert_array_equal(getattr(second, name), getattr(first, name))
    archive_file = next((tmp_path / "archives").rglob("*SOLUSDT*2026-06-01*[pz]"))
    _assert_arrays(second, reference_columns(archive_file, exchange))
    assert _decoded_file(tmp_path).parent == tmp_path / "decoded" / exchange / "SOLUSDT"


def test_a_changed_archive_invalidates_the_decoded_day(tmp_path, archive, trades,
                                                       decodes) -> None:
    archive.put_binance(AGG.format(DAY), agg_trades_csv(trades))
    _day(tmp_path)
    zip_path = next((tmp_path / "archives").rglob("*.zip"))
    # the archive republished with other trades; the cached file and its checksum cleared
    other = random_trades(3000, seed=99, start=D0)
    archive.put_binance(AGG.format(DAY), agg_trades_csv(other))
    zip_path.unlink()
    zip_path.with_name(zip_path.name + ".CHECKSUM").unlink()
    got = _day(tmp_path)
    assert decodes == [zip_path.name] * 2
    _assert_arrays(got, reference_columns(zip_path, "binance"))
    assert len(got) == 3000
    # the archive file touched (a new modification time): decoded again, same trades
    stat = zip_path.stat()
    os.utime(zip_path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    again = _day(tmp_path)
    assert len(decodes) == 3
    np.testing.assert_array_equal(again.time, got.time)
    _day(tmp_path)
    assert len(decodes) == 3  # and kept again
    # the key names the verified archive: its kept SHA-256, size and modification time
    kept = zip_path.with_name(zip_path.name + ".CHECKSUM").read_text().split()[0]
    meta = json.loads(pq.read_schema(_decoded_file(tmp_path)).metadata[b"liqlevels-trades"])
    assert meta["archive"] == {"sha256": kept, "size": zip_path.stat().st_size,
                               "mtime_ns": zip_path.stat().st_mtime_ns}


def _flip(path: Path, at: float) -> None:
    data = bytearray(path.read_bytes())
    i = int(len(data) * at)
    data[i:i + 8] = bytes(b ^ 0xFF for b in data[i:i + 8])
    path.write_bytes(bytes(data))


def _tampered(path: Path) -> None:
    """A valid parquet file with the same metadata but one price changed."""
    table = pq.read_table(path)
    price = table.column("price").to_numpy().copy()
    price[10] += 1.0
    table = table.set_column(1, "price", pa.array(price))
    pq.write_table(table, path)


@pytest.mark.parametrize("damage", ["flip", "truncate", "tamper", "garbage"])
def test_a_damaged_decoded_file_is_not_trusted(tmp_path, archive, trades, decodes,
                                               damage) -> None:
    archive.put_binance(AGG.format(DAY), agg_trades_csv(trades))
    good = _day(tmp_path)
    path = _decoded_file(tmp_path)
    if damage == "flip":
        _flip(path, 0.4)
    elif damage == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "tamper":
        _tampered(path)
    else:
        path.write_bytes(b"PAR1 not a parquet file PAR1")
    with pytest.warns(FeedWarning, match=r"decoded trades file .* is damaged"):
        got = _day(tmp_path)
    assert len(decodes) == 2  # decoded again from the archive
    for name in ("time", "price", "quantity", "is_buy"):
        np.testing.assert_array_equal(getattr(got, name), getattr(good, name))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _day(tmp_path)  # the file written again is trusted again
    assert len(decodes) == 2


def test_bad_days_and_no_cache(tmp_path, archive) -> None:
    with pytest.raises(ValueError, match="one UTC day"):
        feeds.archive_day_trades("binance", "SOLUSDT", "2026-06", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="cache_dir=False"):
        feeds.archive_day_trades("binance", "SOLUSDT", DAY, cache_dir=False)
    with pytest.raises(FeedError, match="not in the archive"):
        feeds.archive_day_trades("binance", "SOLUSDT", DAY, cache_dir=tmp_path)
    assert not (tmp_path / "decoded").exists()


# -- one day ahead on a second thread ----------------------------------------------------------


def test_the_next_item_loads_while_the_caller_works() -> None:
    started = {i: threading.Event() for i in range(4)}
    threads: dict[int, str] = {}

    def load(i: int) -> int:
        started[i].set()
        threads[i] = threading.current_thread().name
        return i * 10

    got = []
    for i, value in _mapping.prefetched(load, [0, 1, 2, 3]):
        if i < 3:  # the caller is still on item i: item i + 1 is already loading
            assert started[i + 1].wait(10), f"item {i + 1} was not loaded ahead"
        assert not any(started[j].is_set() for j in range(i + 2, 4))  # one ahead, no more
        got.append((i, value))
    assert got == [(0, 0), (1, 10), (2, 20), (3, 30)]
    assert all(name.startswith("liqlevels-prefetch") for name in threads.values())


def test_a_load_error_is_raised_once_where_the_caller_reaches_it() -> None:
    def load(i: int) -> int:
        if i == 2:
            raise FeedError(f"day {i} is not in the archive")
        return i

    seen = []
    with pytest.raises(FeedError, match="day 2 is not in the archive") as caught:
        for i, _ in _mapping.prefetched(load, list(range(5))):
            seen.append(i)
    assert seen == [0, 1]  # the days before were handed over first
    assert caught.value.__cause__ is None  # the error as raised, not wrapped
    assert not [t for t in threading.enumerate() if t.name.startswith("liqlevels-prefetch")]


def test_a_caller_error_is_not_hidden_by_the_day_loading_ahead() -> None:
    def load(i: int) -> int:
        if i == 1:
            time.sleep(0.05)
            raise RuntimeError("the next day failed too")
        return i

    with pytest.raises(KeyError, match="the caller's own"):
        for _ in _mapping.prefetched(load, [0, 1, 2]):
            raise KeyError("the caller's own")
    assert not [t for t in threading.enumerate() if t.name.startswith("liqlevels-prefetch")]


def test_the_map_raises_a_bad_later_day_once(tmp_path, archive, trades) -> None:
    archive.put_binance(AGG.format(DAY), agg_trades_csv(trades))
    bad = random_trades(2000, seed=3, start=D0 + 86_400_000)
    bad.loc[77, "price"] = -5.0
    archive.put_binance(AGG.format("2026-06-02"), agg_trades_csv(bad))
    hm = _mapping.HistoricalMapping(DAY, "2026-06-03", "SOLUSDT", "binance",
                                    out_dir=tmp_path / "out", cache_dir=tmp_path, png=False)
    with pytest.raises(ValueError, match=r"SOLUSDT-aggTrades-2026-06-02\.zip\['price'\] is "
                                         r"-5\.0 at row 77") as caught:
        hm.liquidation_map_from_historical(mode="top_n", threshold_top_n=10)
    assert "\n" not in str(caught.value)
    archive.put_binance(AGG.format("2026-06-02"), agg_trades_csv(bad.drop(index=77)))
    hm = _mapping.HistoricalMapping(DAY, "2026-06-04", "SOLUSDT", "binance",
                                    out_dir=tmp_path / "out", cache_dir=tmp_path / "other",
                                    png=False)
    with pytest.raises(FeedError, match=r"2026-06-03\.zip(\.CHECKSUM)? is not in the archive"):
        hm.liquidation_map_from_historical(mode="top_n", threshold_top_n=10)


# -- the levels CSV ----------------------------------------------------------------------------


def test_write_csv_reads_back_as_the_frame(tmp_path) -> None:
    times = pd.to_datetime([1_780_272_000_123_456_789, 1_780_272_001_000_000_000, None],
                           utc=True)
    frame = pd.DataFrame({
        "start": times, "side": indicator._frames.side_strings(np.array([True, False, True])),
        "leverage": np.array([10, 25, 100]), "price": [0.1 + 0.2, 1e-12, np.nan],
        "notional": [123456789.123456789, 5e300, 0.0],
        "note": pd.Categorical(["a", 'with, "comma"', "b"]),
    })
    path = tmp_path / "levels.csv"
    _mapping.write_csv(frame, path)
    back = pd.read_csv(path, keep_default_na=False, na_values=[""])
    start = pd.to_datetime(back["start"], utc=True, format="ISO8601").dt.as_unit("ns")
    pd.testing.assert_series_equal(start, frame["start"].dt.as_unit("ns"))
    for col in ("leverage", "price", "notional"):
        np.testing.assert_array_equal(back[col].to_numpy(), frame[col].to_numpy(), err_msg=col)
    assert list(back["side"]) == ["long", "short", "long"]
    assert list(back["note"]) == ["a", 'with, "comma"', "b"]
    plain = tmp_path / "plain.csv"
    _mapping.write_csv(frame.drop(columns="note"), plain)
    head, first = plain.read_text().splitlines()[:2]
    assert head == "start,side,leverage,price,notional"
    assert first.startswith("2026-06-01 00:00:00.123456789+00:00,long,10,")
    assert path.read_text().splitlines()[0].startswith('"start","side"')  # quoted: a comma
