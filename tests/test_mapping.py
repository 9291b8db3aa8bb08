"""liqlevels.HistoricalMapping end to end: archive files built here, served on 127.0.0.1.

Each fault of py-liquidation-map (the seed) has a test that fails if it comes back: download
errors swallowed, each file read three times, row-by-row appends, a global warning filter,
bins that drop the edge levels, a crash when one side is empty, naive timestamps.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import re
import threading
import warnings
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import liqlevels
from liqlevels import _mapping, charts, feeds, indicator

DAY1, DAY2 = "2023-08-01", "2023-08-02"
SYMBOL = "BTCUSDT"


# ---------------------------------------------------------------------------------------------
# Archive files in the exchanges' formats
# ---------------------------------------------------------------------------------------------


def synthetic_day(day: str, n: int = 6000, seed: int = 0, sides=("buy", "sell")) -> pd.DataFrame:
    """One day of trades (the trades frame of docs/method.md section 3): a random walk with
    heavy-tailed sizes."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp(day, tz="UTC").value // 10**6
    ms = start + np.sort(rng.integers(0, 86_400_000, n))
    price = np.round(29_000 + np.cumsum(rng.normal(0, 4, n)), 1)
    qty = np.round(rng.pareto(1.2, n) * 0.4 + 0.001, 3)
    return pd.DataFrame({
        "time": pd.to_datetime(ms, unit="ms", utc=True),
        "price": price, "quantity": qty,
        "side": rng.choice(list(sides), n),
    })


def binance_csv(trades: pd.DataFrame, *, header: bool = True, micros: bool = False) -> bytes:
    n = len(trades)
    stamp = trades["time"].array.as_unit("ns").asi8 // (1_000 if micros else 1_000_000)
    frame = pd.DataFrame({
        "agg_trade_id": 1_000_000 + np.arange(n),
        "price": trades["price"].map(repr), "quantity": trades["quantity"].map(repr),
        "first_trade_id": 5_000_000 + 3 * np.arange(n),
        "last_trade_id": 5_000_002 + 3 * np.arange(n),
        "transact_time": stamp,
        "is_buyer_maker": np.where(trades["side"] == "sell", "true", "false"),
    })
    return frame.to_csv(index=False, header=header).encode()


def binance_zip(trades: pd.DataFrame, name: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, binance_csv(trades))
    return buffer.getvalue()


def bybit_gz(trades: pd.DataFrame) -> bytes:
    """Bybit's trading archive: seconds with a fraction, 'Buy'/'Sell', newest first."""
    secs = trades["time"].array.as_unit("ns").asi8 / 1e9
    frame = pd.DataFrame({
        "timestamp": [f"{s:.4f}" for s in secs], "symbol": SYMBOL,
        "side": trades["side"].str.capitalize(), "size": trades["quantity"],
        "price": trades["price"], "tickDirection": "ZeroPlusTick", "trdMatchID": "x",
        "grossValue": 0, "homeNotional": trades["quantity"],
        "foreignNotional": trades["price"] * trades["quantity"],
    }).iloc[::-1]
    return gzip.compress(frame.to_csv(index=False).encode())


class Archive:
    """A loopback archive: paths -> bytes, a request log and paths that fail."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.failing: dict[str, int] = {}
        self.requests: list[str] = []
        archive = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                archive.requests.append(self.path)
                code = archive.failing.get(self.path)
                body = archive.files.get(self.path)
                if code or body is None:
                    self.send_error(code or 404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add_binance(self, day: str, trades: pd.DataFrame) -> str:
        name = f"{SYMBOL}-aggTrades-{day}"
        path = f"/data/futures/um/daily/aggTrades/{SYMBOL}/{name}.zip"
        body = binance_zip(trades, f"{name}.csv")
        self.files[path] = body
        self.files[path + ".CHECKSUM"] = (
            f"{hashlib.sha256(body).hexdigest()}  {name}.zip\n".encode())
        return path

    def add_bybit(self, day: str, trades: pd.DataFrame) -> str:
        path = f"/trading/{SYMBOL}/{SYMBOL}{day}.csv.gz"
        self.files[path] = bybit_gz(trades)
        return path

    def data_requests(self) -> list[str]:
        return [p for p in self.requests if not p.endswith(".CHECKSUM")]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def archive() -> Iterator[Archive]:
    server = Archive()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feeds.settings, "tries", 2)
    monkeypatch.setattr(feeds.settings, "backoff", 0.0)
    monkeypatch.setattr(feeds.settings, "progress", False)


@pytest.fixture
def two_days(archive: Archive) -> pd.DataFrame:
    day1, day2 = synthetic_day(DAY1, seed=1), synthetic_day(DAY2, seed=2)
    archive.add_binance(DAY1, day1)
    archive.add_binance(DAY2, day2)
    return pd.concat([day1, day2], ignore_index=True)


def mapping(archive: Archive, tmp_path: Path, start: str = f"{DAY1} 18:00:00",
            end: str = f"{DAY2} 06:00:00", exchange: str = "binance",
            **kwargs: object) -> liqlevels.HistoricalMapping:
    kwargs.setdefault("png", False)
    return liqlevels.HistoricalMapping(start, end, SYMBOL, exchange, out_dir=tmp_path / "out",
                                       cache_dir=tmp_path / "cache", base_url=archive.url,
                                       **kwargs)


def window(trades: pd.DataFrame, start: str, end: str) -> pd.DataFrame:
    t = trades["time"]
    return trades[(t >= pd.Timestamp(start, tz="UTC")) & (t < pd.Timestamp(end, tz="UTC"))]


# ---------------------------------------------------------------------------------------------
# End to end: the facade equals the indicator on the whole window
# ---------------------------------------------------------------------------------------------

MODES = [("gross_value", {"threshold_gross_value": 20_000}, 20_000),
         ("top_n", {"threshold_top_n": 25}, 25),
         ("portion", {"threshold_portion": 0.02}, 0.02)]


@pytest.mark.parametrize(("mode", "kwargs", "threshold"), MODES)
def test_map_and_depth_equal_the_indicator_on_the_window(archive, two_days, tmp_path, mode,
                                                         kwargs, threshold):
    hm = mapping(archive, tmp_path)
    got_map = hm.liquidation_map_from_historical(mode=mode, **kwargs)
    got_depth = hm.liquidation_map_depth_from_historical(mode=mode, **kwargs)

    trades = window(two_days, f"{DAY1} 18:00", f"{DAY2} 06:00")
    levels = indicator.trade_levels(trades, mode=mode, threshold=threshold)
    price = float(trades["price"].iloc[-1])
    assert hm.price == price  # the last trade before the window's end
    pd.testing.assert_frame_equal(hm.levels, levels)
    pd.testing.assert_frame_equal(got_map, indicator.liquidation_map(levels, price=price))
    pd.testing.assert_frame_equal(got_depth, indicator.depth(levels, price=price))

    stem = f"{SYMBOL}_2023-08-01_18-00-00-2023-08-02_06-00-00_{mode}_{threshold}"
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{stem}.html", f"{stem}_map.csv", f"{stem}_levels.csv", f"{stem}_depth.html",
         f"{stem}_depth.csv"])
    back = pd.read_csv(out / f"{stem}_map.csv")
    np.testing.assert_allclose(back["notional"], got_map["notional"])
    assert list(back.columns) == list(indicator.MAP_COLUMNS)
    levels_back = pd.read_csv(out / f"{stem}_levels.csv")
    assert levels_back["start"].iloc[0].endswith("+00:00")  # times written as UTC


def test_bybit_archive(archive, tmp_path):
    day = synthetic_day(DAY1, seed=5)
    archive.add_bybit(DAY1, day)
    hm = mapping(archive, tmp_path, start=f"{DAY1} 03:00", end=f"{DAY1} 09:00",
                 exchange="bybit")
    got = hm.liquidation_map_from_historical(mode="top_n", threshold_top_n=10)
    trades = window(day, f"{DAY1} 03:00", f"{DAY1} 09:00")
    levels = indicator.trade_levels(trades, mode="top_n", threshold=10)
    price = float(trades["price"].iloc[-1])
    np.testing.assert_allclose(hm.levels["price"], levels["price"])
    pd.testing.assert_frame_equal(got, indicator.liquidation_map(levels, price=price),
                                  check_exact=False, rtol=1e-12)


def test_options_reach_the_indicator(archive, two_days, tmp_path):
    hm = mapping(archive, tmp_path, leverages=(20, 50), mmr=0.004, weights=(3, 1),
                 survivors_only=True, bin_size=5.0)
    got = hm.liquidation_map_from_historical(threshold_gross_value=30_000)
    trades = window(two_days, f"{DAY1} 18:00", f"{DAY2} 06:00")
    levels = indicator.trade_levels(trades, threshold=30_000, leverages=(20, 50), mmr=0.004,
                                    weights=(3, 1), survivors_only=True)
    pd.testing.assert_frame_equal(hm.levels, levels)
    pd.testing.assert_frame_equal(got, indicator.liquidation_map(
        levels, price=hm.price, bin_size=5.0))


def test_portion_is_exact_over_days_of_unequal_size(archive, tmp_path):
    # day 1 holds the 400 largest buys; day 2 many small ones: the window's 1% cut is all on
    # day 1, beyond what day 1 keeps at first, so day 1 is read a second time.
    big = synthetic_day(DAY1, n=400, seed=3, sides=("buy",))
    big["quantity"] = 50.0 + np.arange(400)
    small = synthetic_day(DAY2, n=20_000, seed=4, sides=("buy",))
    small["quantity"] = 0.01
    archive.add_binance(DAY1, big)
    archive.add_binance(DAY2, small)
    hm = mapping(archive, tmp_path, start=DAY1, end="2023-08-03")
    hm.liquidation_map_from_historical(mode="portion", threshold_portion=0.01)
    trades = pd.concat([big, small], ignore_index=True)
    want = indicator.trade_levels(trades, mode="portion", threshold=0.01)
    assert len(want) == 4 * int(20_400 * 0.01)
    pd.testing.assert_frame_equal(hm.levels, want)
    assert hm._done[("portion", 0.01)].reads == {DAY1: 2, DAY2: 1}
    assert len(archive.data_requests()) == 2  # the second read came from the cache


# ---------------------------------------------------------------------------------------------
# The seed's faults, each pinned
# ---------------------------------------------------------------------------------------------


def test_download_errors_are_raised_not_swallowed(archive, two_days, tmp_path):
    missing = f"/data/futures/um/daily/aggTrades/{SYMBOL}/{SYMBOL}-aggTrades-{DAY2}.zip"
    archive.files.pop(missing)
    hm = mapping(archive, tmp_path)
    with pytest.raises(feeds.FeedError, match=re.escape(missing)):
        hm.liquidation_map_from_historical()
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_server_errors_are_raised_after_retries(archive, two_days, tmp_path):
    path = f"/data/futures/um/daily/aggTrades/{SYMBOL}/{SYMBOL}-aggTrades-{DAY1}.zip"
    archive.failing[path] = 503
    with pytest.raises(feeds.FeedError, match=r"503|failed after 2 tries"):
        mapping(archive, tmp_path).liquidation_map_depth_from_historical()


def test_each_file_is_read_once(archive, two_days, tmp_path, monkeypatch):
    """Each archive file is decoded once; the same selection is not read again, and a new
    facade reads the decoded days back from the cache instead of the zips."""
    from liqlevels.feeds import _trade_days

    reads: list[str] = []
    real = _trade_days.trade_columns

    def counting(path, **kwargs):
        reads.append(Path(path).name)
        return real(path, **kwargs)

    monkeypatch.setattr(_trade_days, "trade_columns", counting)
    hm = mapping(archive, tmp_path)
    first = hm.liquidation_map_from_historical(mode="top_n", threshold_top_n=30)
    assert sorted(reads) == [f"{SYMBOL}-aggTrades-{DAY1}.zip", f"{SYMBOL}-aggTrades-{DAY2}.zip"]
    hm.liquidation_map_depth_from_historical(mode="top_n", threshold_top_n=30)
    assert len(reads) == 2  # the same selection is not read again
    assert len(archive.data_requests()) == 2
    again = mapping(archive, tmp_path)  # a new facade: the decoded days, not the zips
    second = again.liquidation_map_from_historical(mode="top_n", threshold_top_n=30)
    assert len(reads) == 2 and len(archive.data_requests()) == 2
    pd.testing.assert_frame_equal(second, first)
    pd.testing.assert_frame_equal(again.levels, hm.levels)


def test_no_row_by_row_appends(archive, two_days, tmp_path, monkeypatch):
    """The seed grew frames with ``df.loc[len(df)] = row``, once per trade."""

    def refuse(*args, **kwargs):
        raise AssertionError("row-by-row .loc assignment")

    monkeypatch.setattr(pd.core.indexing._LocIndexer, "__setitem__", refuse)
    monkeypatch.setattr(pd.core.indexing._iLocIndexer, "__setitem__", refuse)
    concat = pd.concat
    calls = []

    def counting(*args, **kwargs):
        calls.append(1)
        return concat(*args, **kwargs)

    monkeypatch.setattr(pd, "concat", counting)
    mapping(archive, tmp_path).liquidation_map_from_historical(threshold_gross_value=10_000)
    assert len(calls) <= 3  # not once per trade or per level


def test_no_global_warning_filter(archive, two_days, tmp_path, monkeypatch):
    """The seed ran ``warnings.filterwarnings("ignore")`` at import, hiding every warning."""
    before = list(warnings.filters)
    hm = mapping(archive, tmp_path, png=True)
    monkeypatch.setattr(charts.LiquidationMapChart, "to_png",
                        lambda self, path: (_ for _ in ()).throw(RuntimeError("no Chromium")))
    assert liqlevels.MappingWarning is liqlevels.vocab.MappingWarning
    with pytest.warns(liqlevels.MappingWarning, match="no Chromium"):
        hm.liquidation_map_from_historical()
    assert warnings.filters == before
    for module in (_mapping, indicator, charts):
        source = Path(module.__file__).parent
        for py in source.glob("*.py"):
            assert "filterwarnings" not in py.read_text(), py


def test_edge_levels_stay_in_the_map(archive, two_days, tmp_path):
    """The seed's bins began at the rounded minimum and ended short of the maximum."""
    hm = mapping(archive, tmp_path)
    got = hm.liquidation_map_from_historical(threshold_gross_value=10_000)
    levels, price = hm.levels, hm.price
    for side, kept in (("long", levels["price"] <= price), ("short", levels["price"] >= price)):
        mine = levels[(levels["side"] == side) & kept]
        total = got.loc[got["side"] == side, "notional"].sum()
        assert total == pytest.approx(mine["notional"].sum(), rel=1e-12)
        lowest, highest = mine["price"].min(), mine["price"].max()
        rows = got[got["side"] == side]
        assert rows["price_low"].min() <= lowest and highest < rows["price_high"].max()


def test_one_side_empty(archive, tmp_path):
    """The seed crashed when one side had no trade."""
    buys = synthetic_day(DAY1, seed=7, sides=("buy",))
    archive.add_binance(DAY1, buys)
    hm = mapping(archive, tmp_path, start=DAY1, end=DAY2)
    got = hm.liquidation_map_from_historical(threshold_gross_value=10_000)
    assert set(got["side"]) == {"long"}
    d = hm.liquidation_map_depth_from_historical(threshold_gross_value=10_000)
    assert set(d["side"]) == {"long"}
    html = next((tmp_path / "out").glob("*_depth.html")).read_text()
    assert 'data-curves="1"' in html


def test_times_are_utc(archive, two_days, tmp_path):
    """The seed compared naive timestamps (local or UTC, depending on the machine)."""
    naive = mapping(archive, tmp_path, start="2023-08-01 18:00:00", end="2023-08-02 06:00:00")
    aware = mapping(archive, tmp_path, start=pd.Timestamp("2023-08-02 03:00", tz="Asia/Tokyo"),
                    end="2023-08-02T08:00:00+02:00")
    assert naive.start == aware.start == pd.Timestamp("2023-08-01 18:00", tz="UTC")
    assert naive.end == aware.end
    naive.liquidation_map_from_historical()
    assert str(naive.levels["start"].dtype) == "datetime64[ns, UTC]"
    assert str(naive.candles.index.tz) == "UTC"
    assert list(naive.candles.columns) == ["open", "high", "low", "close", "volume"]  # no OI
    assert naive.levels["start"].min() >= naive.start
    assert naive.levels["start"].max() < naive.end
    assert naive.days == [pd.Timestamp(DAY1, tz="UTC"), pd.Timestamp(DAY2, tz="UTC")]


def test_times_are_read_by_the_one_vocabulary():
    """Epoch milliseconds, datetimes and strings name the same instant (liqlevels.vocab)."""
    ms = int(pd.Timestamp(DAY1, tz="UTC").value // 10**6)
    by_ms = liqlevels.HistoricalMapping(ms, ms + 3_600_000, SYMBOL, "binance")
    by_text = liqlevels.HistoricalMapping(DAY1, f"{DAY1} 01:00", SYMBOL, "binance")
    assert (by_ms.start, by_ms.end) == (by_text.start, by_text.end)


def test_days_of_the_window():
    def days(start, end):
        return [d.strftime("%Y-%m-%d") for d in
                liqlevels.HistoricalMapping(start, end, SYMBOL, "binance").days]
    assert days("2023-08-01 00:00", "2023-08-02 00:00") == [DAY1]  # end is exclusive
    assert days("2023-08-01 23:59", "2023-08-02 00:00:00.001") == [DAY1, DAY2]
    assert days("2023-07-31 12:00", "2023-08-02 12:00") == ["2023-07-31", DAY1, DAY2]


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "kwargs", "error", "match"), [
    ((DAY1, DAY2, SYMBOL, "okx"), {}, ValueError, "'binance', 'bybit'"),
    ((DAY1, DAY2, SYMBOL, "bybitt"), {}, ValueError, "Did you mean 'bybit'"),
    ((DAY1, DAY2, SYMBOL, None), {}, ValueError, "'binance', 'bybit'"),
    ((DAY2, DAY1, SYMBOL, "binance"), {}, ValueError, "must be after"),
    ((DAY1, DAY1, SYMBOL, "binance"), {}, ValueError, "must be after"),
    (("yesterday-ish", DAY2, SYMBOL, "binance"), {}, ValueError, "start_datetime"),
    (([2023, 8, 1], DAY2, SYMBOL, "binance"), {}, TypeError, "start_datetime"),
    ((DAY1, 20230801, SYMBOL, "binance"), {}, ValueError, "must be after"),  # epoch ms: 1970
    ((DAY1, DAY2, "BTC/USDT:USDT", "binance"), {}, ValueError, "'BTCUSDT'"),
    ((DAY1, DAY2, "../etc", "binance"), {}, ValueError, "archive symbol"),
    ((DAY1, DAY2, SYMBOL, "binance"), {"leverages": (1,)}, ValueError, "> 1"),
    ((DAY1, DAY2, SYMBOL, "binance"), {"mmr": 0.5}, ValueError, "mmr"),
])
def test_bad_construction(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        liqlevels.HistoricalMapping(*args, **kwargs)


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"mode": "gross"}, ValueError, "Did you mean 'gross_value'"),
    ({"threshold_gross_value": 0}, ValueError, "threshold_gross_value=0"),
    ({"threshold_gross_value": -1}, ValueError, "threshold_gross_value"),
    ({"mode": "top_n", "threshold_top_n": 0}, ValueError, "threshold_top_n=0"),
    ({"mode": "top_n", "threshold_top_n": 2.5}, TypeError, "threshold_top_n=2.5"),
    ({"mode": "portion", "threshold_portion": 0}, ValueError, r"threshold_portion=0.*\(0, 1\]"),
    ({"mode": "portion", "threshold_portion": 1.01}, ValueError, "threshold_portion=1.01"),
])
def test_bad_thresholds_fail_before_any_download(archive, tmp_path, kwargs, error, match):
    hm = mapping(archive, tmp_path)
    with pytest.raises(error, match=match):
        hm.liquidation_map_from_historical(**kwargs)
    with pytest.raises(error, match=match):
        hm.liquidation_map_depth_from_historical(**kwargs)
    assert archive.requests == []


def test_empty_window(archive, tmp_path):
    trades = synthetic_day(DAY1, n=50, seed=8)
    trades["time"] = pd.Timestamp(f"{DAY1} 01:00", tz="UTC") + pd.to_timedelta(
        np.arange(50), unit="s")
    archive.add_binance(DAY1, trades)
    hm = mapping(archive, tmp_path, start=f"{DAY1} 12:00", end=f"{DAY1} 13:00")
    with pytest.raises(ValueError, match="no BTCUSDT trades on binance"):
        hm.liquidation_map_from_historical()


def test_malformed_archive_rows(archive, tmp_path):
    trades = synthetic_day(DAY1, n=200, seed=9)
    trades.loc[150, "quantity"] = -1.0  # a malformed row
    archive.add_binance(DAY1, trades)
    hm = mapping(archive, tmp_path, start=DAY1, end=DAY2)
    with pytest.raises(ValueError, match=r"'quantity'\] is -1.0 at row 150"):
        hm.liquidation_map_from_historical()


# ---------------------------------------------------------------------------------------------
# The windowed reader of plain Binance CSVs
# ---------------------------------------------------------------------------------------------


def read_window(path: Path, exchange: str, start_ns: int, end_ns: int) -> indicator.TradeArrays:
    """``feeds.read_trades`` cut to ``[start, end)`` (on a plain Binance CSV only the window's
    lines are parsed), checked."""
    got = feeds.read_trades(path, exchange=exchange, since=pd.Timestamp(start_ns, tz="UTC"),
                            until=pd.Timestamp(end_ns, tz="UTC"))
    return indicator.trade_arrays(got) if len(got) else indicator.TradeArrays.empty()


@pytest.mark.parametrize("header", [True, False])
@pytest.mark.parametrize("micros", [False, True])
@pytest.mark.parametrize(("start", "end"), [
    ("06:00", "12:00"), ("00:00", "23:59:59"), ("00:00:00", "00:00:00.001"),
    ("23:00", "23:59:59.999"), ("12:00:00.5", "12:00:01"),
])
def test_binance_slice_equals_whole_read(tmp_path, header, micros, start, end):
    trades = synthetic_day(DAY1, n=30_000, seed=11)
    # equal timestamps across the window's edges
    trades.loc[10_000:10_010, "time"] = pd.Timestamp(f"{DAY1} 06:00", tz="UTC")
    trades = trades.sort_values("time", kind="stable").reset_index(drop=True)
    path = tmp_path / "day.csv"
    path.write_bytes(binance_csv(trades, header=header, micros=micros))
    a = pd.Timestamp(f"{DAY1} {start}", tz="UTC").value
    b = pd.Timestamp(f"{DAY1} {end}", tz="UTC").value
    got = read_window(path, "binance", a, b)
    want = window(trades, f"{DAY1} {start}", f"{DAY1} {end}")
    assert len(got) == len(want)
    assert (got.time == want["time"].array.as_unit("ns").asi8).all()
    assert (got.price == want["price"].to_numpy()).all()


# ---------------------------------------------------------------------------------------------
# Charts in headless Chromium
# ---------------------------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.mark.browser
def test_charts_render_in_chromium(archive, two_days, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    hm = mapping(archive, tmp_path, png=True)
    got = hm.liquidation_map_from_historical(mode="top_n", threshold_top_n=40)
    hm.liquidation_map_depth_from_historical(mode="top_n", threshold_top_n=40)
    scene = hm.liquidation_map_with_candles(mode="top_n", threshold_top_n=40)
    out = tmp_path / "out"
    stem = f"{SYMBOL}_2023-08-01_18-00-00-2023-08-02_06-00-00_top_n_40"
    for suffix in ("", "_depth", "_candles"):
        png = out / f"{stem}{suffix}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 700})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto((out / f"{stem}.html").as_uri())
        state = page.evaluate("() => window.__liqlevels")
        assert state["ready"] and state["curves"] == 2
        assert state["bars"] == int(page.locator("svg#liqmap").get_attribute("data-bars"))
        drawn = page.locator("rect.bar").count()
        assert drawn == state["segments"] > 0
        levs = set(page.eval_on_selector_all("rect.bar", "els => els.map(e => e.dataset.leverage)"))
        assert levs == {str(v) for v in got["leverage"].unique()}
        assert page.locator("line.price").count() == 1
        assert page.locator("text.legend").count() == 4 + 2 + 1
        page.goto((out / f"{stem}_candles.html").as_uri())
        page.wait_for_function("() => window.__liqlevels && window.__liqlevels.ready", timeout=30e3)
        state = page.evaluate("() => window.__liqlevels")
        assert state["candles"] == len(hm.candles) == scene.counts["candles"]
        assert state["bars"] == scene.counts["bars"] > 0
        colors = [charts.leverage_color(int(lev)).lower() for lev in got["leverage"].unique()]
        seen = png_color_counts(page, out / f"{stem}.png", colors)
        browser.close()
    assert errors == []
    assert (seen["width"], seen["height"]) == (1200, 700)
    for color, count in seen["counts"].items():
        assert count > 20, f"{color} missing from the PNG"


_COUNT_COLORS = """async ([src, wanted]) => {
  const img = new Image();
  img.src = src;
  await img.decode();
  const canvas = document.createElement('canvas');
  canvas.width = img.width; canvas.height = img.height;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const px = ctx.getImageData(0, 0, img.width, img.height).data;
  const counts = Object.fromEntries(wanted.map(c => [c, 0]));
  for (let i = 0; i < px.length; i += 4) {
    const hex = '#' + [px[i], px[i + 1], px[i + 2]].map(v => v.toString(16).padStart(2, '0'))
      .join('');
    if (hex in counts) counts[hex] += 1;
  }
  return {counts, width: img.width, height: img.height};
}"""


def png_color_counts(page, path: Path, colors: list[str]) -> dict:
    """Pixels of each ``#rrggbb`` colour in a PNG, decoded by the browser."""
    src = "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()
    page.set_content("<html><body></body></html>")
    return page.evaluate(_COUNT_COLORS, [src, colors])


# ---------------------------------------------------------------------------------------------
# The chart, without a browser
# ---------------------------------------------------------------------------------------------


def small_map(price: float = 100.0):
    trades = synthetic_day(DAY1, n=3000, seed=12)
    trades["price"] = trades["price"] / 290.0
    levels = indicator.trade_levels(trades, mode="top_n", threshold=40)
    return (indicator.liquidation_map(levels, price=price),
            indicator.depth(levels, price=price))


def test_chart_merges_bins_without_losing_notional():
    the_map, the_depth = small_map()
    price = 100.0
    fine = charts.liquidation_map_chart(the_map, the_depth, price=price, max_bars=100_000)
    coarse = charts.liquidation_map_chart(the_map, the_depth, price=price, max_bars=20)
    assert fine.bars == len(the_map[["price_low", "side"]].drop_duplicates())
    assert coarse.bars <= 2 * 20 + 2 < fine.bars

    def tips(chart):
        tips = re.findall(r"<title>\d+x \w+ [^:]+: ([^<]+)</title>", chart.svg)
        return len(tips)
    assert tips(fine) == fine.segments == len(the_map)
    assert coarse.segments < fine.segments
    assert 'class="curve" data-side="long"' in fine.svg
    assert 'class="curve" data-side="short"' in fine.svg


def test_chart_escapes_text_and_guards_the_degenerate(tmp_path):
    the_map, the_depth = small_map()
    evil = "<script>alert(1)</script> & <b>"
    chart = charts.liquidation_map_chart(the_map, the_depth, price=100.0, title=evil,
                                         subtitle=evil)
    page = chart.html()
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page
    empty = charts.liquidation_map_chart(the_map.iloc[:0], the_depth.iloc[:0], price=100.0)
    assert (empty.bars, empty.segments, empty.curves) == (0, 0, 0)
    assert "no liquidation levels" in empty.html()
    one = charts.liquidation_map_chart(the_map.iloc[:1], the_depth.iloc[:1], price=100.0,
                                       kind="depth")
    assert one.bars == 1 and one.curves == 1
    assert "NaN" not in one.svg and "inf" not in one.svg
    path = one.to_html(tmp_path / "one.html")
    assert path.read_text().startswith("<!DOCTYPE html>")
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_chart_bad_input():
    the_map, the_depth = small_map()
    with pytest.raises(ValueError, match="Did you mean 'depth'"):
        charts.liquidation_map_chart(the_map, the_depth, price=100.0, kind="dept")
    with pytest.raises(ValueError, match="price="):
        charts.liquidation_map_chart(the_map, the_depth, price=float("nan"))
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['cumulative'\]"):
        charts.liquidation_map_chart(the_map, the_depth.drop(columns="cumulative"), price=1.0)


def test_profile_beside_candles_has_one_column_per_leverage():
    the_map, _ = small_map()
    profile = charts.liquidation_profile(the_map)
    assert profile.names == ("10x", "25x", "50x", "100x")
    assert profile.colors == tuple(charts.leverage_color(v) for v in (10, 25, 50, 100))
    assert profile.values.sum() == pytest.approx(the_map["notional"].sum())
    assert profile.bars == len(the_map[["price_low"]].drop_duplicates())
    empty = charts.liquidation_profile(the_map.iloc[:0])
    assert empty.bars == 0


def test_binance_slice_never_hides_a_malformed_line(tmp_path):
    trades = synthetic_day(DAY1, n=30_000, seed=13)
    lines = binance_csv(trades).splitlines(keepends=True)
    lines[20_000] = b"1020000,29000.0,0.1,1,2,not-a-time,true\n"
    path = tmp_path / "day.csv"
    path.write_bytes(b"".join(lines))
    a = pd.Timestamp(f"{DAY1} 01:00", tz="UTC").value
    b = pd.Timestamp(f"{DAY1} 23:00", tz="UTC").value
    with pytest.raises(ValueError, match=r"day\.csv"):
        read_window(path, "binance", a, b)
