"""Archive readers on files built in the archives' exact formats, and the downloads from a
loopback fake of data.binance.vision and public.bybit.com."""

from __future__ import annotations

import gzip
import warnings

import numpy as np
import pandas as pd
import pytest
from fakes import (
    Fault,
    MarketData,
    agg_trades_csv,
    bybit_trades_csv,
    klines_csv,
    metrics_csv,
    random_trades,
    zip_bytes,
)

from liqlevels import feeds
from liqlevels.feeds import FeedError, FeedWarning

MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR
D0 = 1_780_272_000_000  # 2026-06-01 00:00 UTC
AGG = "data/futures/um/daily/aggTrades/SOLUSDT/SOLUSDT-aggTrades-{}.zip"


pytestmark = pytest.mark.usefixtures("waits")  # retries record their waits (conftest)


@pytest.fixture(scope="module")
def trades() -> pd.DataFrame:
    return random_trades(5000, seed=2, start=D0)


def _check_trades(frame: pd.DataFrame, trades: pd.DataFrame) -> None:
    assert list(frame.columns) == ["time", "price", "quantity", "side"]
    assert str(frame["time"].dtype) == "datetime64[ns, UTC]"
    expected_ms = trades["transact_time"].to_numpy(np.int64)
    np.testing.assert_array_equal(frame["time"].dt.as_unit("ms").astype(np.int64),
                                  expected_ms)
    np.testing.assert_array_equal(frame["price"], trades["price"])
    np.testing.assert_array_equal(frame["quantity"], trades["quantity"])
    taker_buy = ~trades["is_buyer_maker"].to_numpy()  # buyer is maker: the taker sold
    np.testing.assert_array_equal(frame["side"].to_numpy() == "buy", taker_buy)
    assert set(frame["side"]) == {"buy", "sell"}


# -- readers: local files alone ------------------------------------------------------------
@pytest.mark.parametrize("header", [True, False])
@pytest.mark.parametrize("unit", ["ms", "us"])
@pytest.mark.parametrize("packed", ["zip", "csv"])
def test_read_trades_binance_aggtrades(tmp_path, trades, header, unit, packed) -> None:
    data = agg_trades_csv(trades, header=header, unit=unit)
    path = tmp_path / f"SOLUSDT-aggTrades-2026-06-01.{packed}"
    path.write_bytes(zip_bytes("SOLUSDT-aggTrades-2026-06-01.csv", data)
                     if packed == "zip" else data)
    _check_trades(feeds.read_trades(path, exchange="binance"), trades)
    _check_trades(feeds.read_trades(str(path), exchange="binanceusdm"), trades)


def test_read_trades_bybit_csv_gz_newest_first_is_sorted(tmp_path, trades) -> None:
    path = tmp_path / "SOLUSDT2026-06-01.csv.gz"
    path.write_bytes(gzip.compress(bybit_trades_csv(trades)))
    _check_trades(feeds.read_trades(path, exchange="bybit"), trades)


def test_read_trades_errors_name_the_problem(tmp_path, trades) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.zip"):
        feeds.read_trades(tmp_path / "nope.zip", exchange="binance")
    path = tmp_path / "t.csv"
    path.write_bytes(agg_trades_csv(trades))
    with pytest.raises(ValueError, match=r"Did you mean 'bybit'"):
        feeds.read_trades(path, exchange="bybt")
    gz = tmp_path / "b.csv.gz"
    gz.write_bytes(gzip.compress(bybit_trades_csv(trades)))
    with pytest.raises(ValueError, match=r"b\.csv\.gz"):
        feeds.read_trades(gz, exchange="binance")
    packed = zip_bytes("t.csv", agg_trades_csv(trades))
    cut = tmp_path / "cut.zip"
    cut.write_bytes(packed[: len(packed) // 2] + packed[-200:])  # body gone, index kept
    with pytest.raises(ValueError, match=r"cut\.zip"):
        feeds.read_trades(cut, exchange="binance")
    empty = tmp_path / "other.zip"
    empty.write_bytes(zip_bytes("readme.txt", b"hello"))
    with pytest.raises(ValueError, match=r"no \.csv"):
        feeds.read_trades(empty, exchange="binance")
    bad = tmp_path / "bad.csv.gz"
    bad.write_bytes(gzip.compress(bybit_trades_csv(trades).replace(b",Buy,", b",Hold,", 1)))
    with pytest.raises(ValueError, match="'Hold'"):
        feeds.read_trades(bad, exchange="bybit")


@pytest.mark.parametrize("header", [True, False])
def test_read_klines_and_metrics(tmp_path, header) -> None:
    data = MarketData.default()
    bars = data.candles(HOUR)[:48]
    path = tmp_path / "k.zip"
    path.write_bytes(zip_bytes("k.csv", klines_csv(bars, HOUR, header=header, unit="us")))
    frame = feeds.read_klines(path)
    np.testing.assert_array_equal(frame.index.as_unit("ms").asi8, bars[:, 0])
    np.testing.assert_allclose(frame.to_numpy(), bars[:, 1:])
    snaps = data.open_interest(300_000)[:288]
    mpath = tmp_path / "m.zip"
    mpath.write_bytes(zip_bytes("m.csv", metrics_csv(snaps, "SOLUSDT")))
    metrics = feeds.read_metrics(mpath)
    np.testing.assert_array_equal(metrics.index.as_unit("ms").asi8, snaps[:, 0])
    np.testing.assert_allclose(metrics.to_numpy(), snaps[:, 1:])


# -- downloads -----------------------------------------------------------------------------
def test_download_verifies_checksum_and_caches(tmp_path, archive, trades) -> None:
    rel = archive.put_binance(AGG.format("2026-06-01"), agg_trades_csv(trades))
    path = feeds.download_archive("binance", "aggTrades", "SOL/USDT:USDT", "2026-06-01",
                                  cache_dir=tmp_path)
    assert path.read_bytes() == archive.files[rel]
    assert path.with_name(path.name + ".CHECKSUM").exists()
    assert archive.count() == 2  # checksum, then the file
    again = feeds.download_archive("binance", "aggTrades", "SOLUSDT", "2026-06-01",
                                   cache_dir=tmp_path)
    assert again == path and archive.count() == 2


def test_a_bad_checksum_is_rejected_and_nothing_kept(tmp_path, archive, trades) -> None:
    archive.put_binance(AGG.format("2026-06-01"), agg_trades_csv(trades), bad_checksum=True)
    with pytest.raises(FeedError, match="SHA-256"):
        feeds.download_archive("binance", "aggTrades", "SOLUSDT", "2026-06-01",
                               cache_dir=tmp_path)
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_a_broken_download_resumes_with_a_range_request(tmp_path, archive, trades) -> None:
    rel = archive.put_binance(AGG.format("2026-06-01"), agg_trades_csv(trades))
    archive.fail(rel, Fault("drop", keep=0.4))
    path = feeds.download_archive("binance", "aggTrades", "SOLUSDT", "2026-06-01",
                                  cache_dir=tmp_path)
    assert path.read_bytes() == archive.files[rel]
    first, second = archive.calls(rel)
    assert "range" not in first.headers
    assert second.headers["range"] == f"bytes={int(len(archive.files[rel]) * 0.4)}-"


def test_a_partial_file_from_an_earlier_run_is_continued(tmp_path, archive, trades) -> None:
    rel = archive.put_binance(AGG.format("2026-06-02"), agg_trades_csv(trades))
    data = archive.files[rel]
    part = tmp_path / "archives" / "binance" / (rel.lstrip("/") + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(data[:1000])
    path = feeds.download_archive("binance", "aggTrades", "SOLUSDT", "2026-06-02",
                                  cache_dir=tmp_path)
    assert path.read_bytes() == data and not part.exists()
    assert archive.calls(rel)[0].headers["range"] == "bytes=1000-"


def test_missing_files_and_server_errors(tmp_path, archive, trades, waits) -> None:
    with pytest.raises(FeedError, match="not in the archive"):
        feeds.download_archive("binance", "aggTrades", "SOLUSDT", "2026-06-03",
                               cache_dir=tmp_path)
    rel = archive.put_binance(AGG.format("2026-06-04"), agg_trades_csv(trades))
    archive.fail(rel, Fault.status(503, retry_after=9), Fault.status(502))
    feeds.download_archive("binance", "aggTrades", "SOLUSDT", "2026-06-04",
                           cache_dir=tmp_path)
    assert waits == [9.0, 2.0]
    archive.fail(rel.replace("06-04", "06-05"), *[Fault.status(500)] * 4)
    archive.put_binance(AGG.format("2026-06-05"), agg_trades_csv(trades))
    with pytest.raises(FeedError, match=r"failed after 4 tries"):
        feeds.download_archive("binance", "aggTrades", "SOLUSDT", "2026-06-05",
                               cache_dir=tmp_path)


def test_download_archive_argument_checks(tmp_path) -> None:
    with pytest.raises(ValueError, match="Did you mean 'aggTrades'"):
        feeds.download_archive("binance", "aggtrade", "SOLUSDT", "2026-06-01",
                               cache_dir=tmp_path)
    with pytest.raises(ValueError, match="daily files only"):
        feeds.download_archive("bybit", "trades", "SOLUSDT", "2026-06", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="timeframe"):
        feeds.download_archive("binance", "klines", "SOLUSDT", "2026-06-01", timeframe="7m",
                               cache_dir=tmp_path)
    assert feeds.archive_symbol("BTC/USDT:USDT") == "BTCUSDT"
    assert feeds.archive_symbol("BTC/USDT:USDT-261225") == "BTCUSDT_261225"


def test_download_with_a_progress_bar(tmp_path, archive, trades, monkeypatch) -> None:
    monkeypatch.setattr(feeds.settings, "progress", True)
    rel = archive.put_binance(AGG.format("2026-06-06"), agg_trades_csv(trades))
    path = feeds.download_archive("binance", "aggTrades", "SOLUSDT", "2026-06-06",
                                  cache_dir=tmp_path)
    assert path.read_bytes() == archive.files[rel]


# -- archive_trades: the HistoricalMapping entry point -------------------------------------
def test_archive_trades_yields_one_frame_per_day_and_caches(tmp_path, archive) -> None:
    days = [random_trades(300 + i, seed=i, start=D0 + i * DAY) for i in range(3)]
    for i, day in enumerate(days):
        archive.put_binance(AGG.format(f"2026-06-0{i + 1}"), agg_trades_csv(day))
    frames = list(feeds.archive_trades("binanceusdm", "SOL/USDT:USDT", "2026-06-01 13:00",
                                       days=3, cache_dir=tmp_path))
    assert [f.attrs["day"] for f in frames] == ["2026-06-01", "2026-06-02", "2026-06-03"]
    for frame, day in zip(frames, days, strict=True):
        _check_trades(frame, day)
    served = archive.count()
    list(feeds.archive_trades("binance", "SOLUSDT", D0, days=3, cache_dir=tmp_path))
    assert archive.count() == served


def test_archive_trades_bybit_and_a_corrupt_cached_file(tmp_path, archive, trades) -> None:
    archive.put_bybit("SOLUSDT", "2026-06-01", trades)
    (frame,) = feeds.archive_trades("bybit", "SOLUSDT", "2026-06-01", cache_dir=tmp_path)
    _check_trades(frame, trades)
    (path,) = tmp_path.rglob("SOLUSDT2026-06-01.csv.gz")
    path.write_bytes(path.read_bytes()[:100])
    with pytest.warns(FeedWarning, match=r"SOLUSDT2026-06-01\.csv\.gz failed verification"):
        (again,) = feeds.archive_trades("bybit", "SOLUSDT", "2026-06-01", cache_dir=tmp_path)
    _check_trades(again, trades)
    with pytest.raises(ValueError, match="days"):
        next(feeds.archive_trades("bybit", "SOLUSDT", "2026-06-01", days=0))


# -- archive_candles: klines + metrics -----------------------------------------------------
def test_archive_candles_joins_metrics_without_lookahead(tmp_path, archive) -> None:
    data = MarketData.default()
    first = data.ts[0] - data.ts[0] % DAY + DAY
    archive.put_binance_days(data, "SOLUSDT", first, 4, timeframe="1h", step=HOUR)
    frame = feeds.archive_candles("SOL/USDT:USDT", "1h", since=first, until=first + 3 * DAY,
                                  cache_dir=tmp_path)
    expected = data.expected(HOUR, first, first + 3 * DAY)
    pd.testing.assert_frame_equal(frame, expected, check_exact=False, rtol=1e-9,
                                  check_freq=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        archive.put_binance_days(data, "SOLUSDT", first, 1, timeframe="1m", step=MIN)
        minute = feeds.archive_candles("SOLUSDT", "1m", since=first, until=first + HOUR,
                                       cache_dir=tmp_path)
    assert len(minute) == 60 and any("5m" in str(w.message) for w in caught)


def test_archive_candles_prefers_monthly_files_and_falls_back_to_daily(tmp_path,
                                                                       archive) -> None:
    data = MarketData.generated(days=70, seed=9, start="2026-04-01")
    april = int(pd.Timestamp("2026-04-01", tz="UTC").value // 10**6)
    may = int(pd.Timestamp("2026-05-01", tz="UTC").value // 10**6)
    bars = data.candles(4 * HOUR)
    month = bars[(bars[:, 0] >= april) & (bars[:, 0] < may)]
    monthly = archive.put_binance("data/futures/um/monthly/klines/SOLUSDT/4h/"
                                  "SOLUSDT-4h-2026-04.zip", klines_csv(month, 4 * HOUR))
    archive.put_binance_days(data, "SOLUSDT", april, 31 + 5, timeframe="4h", step=4 * HOUR)
    frame = feeds.archive_candles("SOLUSDT", "4h", since=april, until=may + 3 * DAY,
                                  cache_dir=tmp_path)
    pd.testing.assert_frame_equal(frame, data.expected(4 * HOUR, april, may + 3 * DAY),
                                  check_exact=False, rtol=1e-9, check_freq=False)
    assert archive.count(monthly) == 1
    assert not [c for c in archive.calls() if "daily/klines" in c.path and "2026-04" in c.path]
    archive.files.pop(monthly)  # not published yet: the days of that month instead
    again = feeds.archive_candles("SOLUSDT", "4h", since=april, until=may, cache_dir=False)
    pd.testing.assert_frame_equal(again, frame.loc[: pd.Timestamp(may - 1, unit="ms",
                                                                  tz="UTC")], check_freq=False)
