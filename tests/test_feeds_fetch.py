"""feeds.fetch_candles against loopback fakes of Binance USD-M, Bybit v5 and OKX: content,
paging, the no-lookahead open-interest join, units, errors and injected faults."""

from __future__ import annotations

import warnings

import ccxt
import numpy as np
import pandas as pd
import pytest
from fakes import FakeArchive, FakeBybit, Fault, MarketData, fake_exchange

from liqlevels import feeds
from liqlevels.feeds import FeedError, FeedWarning

MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR
SYMBOL = "SOL/USDT:USDT"
EXCHANGES = ("binanceusdm", "bybit", "okx")
STEPS = {"1m": MIN, "5m": 5 * MIN, "15m": 15 * MIN, "1h": HOUR, "4h": 4 * HOUR}


pytestmark = pytest.mark.usefixtures("waits")  # retries record their waits (conftest)


def _expected(server, timeframe: str, since: int, until: int, oi_step: int | None = None,
              base: str = "SOL") -> pd.DataFrame:
    step = STEPS[timeframe]
    expected = server.content[base].expected(step, since, until, oi_step)
    if isinstance(server, FakeBybit):  # Bybit gives no value: amount x the bar's close
        expected["open_interest_value"] = expected["open_interest"] * expected["close"]
    return expected


def _assert_same(frame: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(frame, expected, check_exact=False, rtol=1e-9,
                                  check_freq=False)


@pytest.mark.parametrize("exchange_id", EXCHANGES)
@pytest.mark.parametrize("timeframe", ["5m", "1h", "4h"])
def test_frame_is_the_exchanges_content_with_closing_oi(exchange_id: str, timeframe: str,
                                                        tmp_path) -> None:
    with fake_exchange(exchange_id) as (ex, server):
        since = server.now - 6 * DAY - 7 * MIN  # not on a bar boundary
        frame = feeds.fetch_candles(ex, SYMBOL, timeframe, since=since, cache_dir=tmp_path)
    _assert_same(frame, _expected(server, timeframe, since - since % STEPS[timeframe]
                                  + STEPS[timeframe], server.now))
    assert frame.attrs["exchange"] == exchange_id and frame.attrs["timeframe"] == timeframe


def test_bar_carries_the_snapshot_stamped_at_its_close_never_later(tmp_path) -> None:
    with fake_exchange("binanceusdm") as (ex, server):
        frame = feeds.fetch_candles(ex, SYMBOL, "1h", since=server.now - 3 * DAY,
                                    until=server.now - DAY, cache_dir=tmp_path)
    snaps = server.data.open_interest(HOUR)
    by_time = dict(zip(snaps[:, 0].astype(np.int64), snaps[:, 1], strict=True))
    opens = frame.index.as_unit("ms").asi8
    np.testing.assert_allclose(frame["open_interest"], [by_time[t + HOUR] for t in opens])
    # the snapshot at the bar's own open time is the previous bar's close: not this bar's
    assert not np.allclose(frame["open_interest"], [by_time[t] for t in opens])


def test_units_okx_contracts_become_coins_and_bybit_value_is_amount_times_close(tmp_path
                                                                                ) -> None:
    with fake_exchange("okx") as (ex, server):
        okx = feeds.fetch_candles(ex, "BTC/USDT:USDT", "1h", since=server.now - DAY,
                                  cache_dir=tmp_path)
    _assert_same(okx, _expected(server, "1h", server.now - DAY, server.now, base="BTC"))
    with fake_exchange("bybit") as (ex, server):
        bybit = feeds.fetch_candles(ex, SYMBOL, "1h", since=server.now - DAY,
                                    cache_dir=tmp_path)
    np.testing.assert_allclose(bybit["open_interest_value"],
                               bybit["open_interest"] * bybit["close"])


def test_coarse_open_interest_is_joined_as_of_with_one_warning(tmp_path) -> None:
    with fake_exchange("bybit") as (ex, server):
        since = server.now - 5 * HOUR
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            frame = feeds.fetch_candles(ex, SYMBOL, "1m", since=since, cache_dir=tmp_path)
    ours = [w for w in caught if issubclass(w.category, FeedWarning)]
    assert len(ours) == 1 and "5m" in str(ours[0].message)
    assert issubclass(FeedWarning, feeds.FeedWarning.__mro__[1])
    _assert_same(frame, _expected(server, "1m", since, server.now, oi_step=5 * MIN))
    assert frame["open_interest"].notna().sum() > 0.9 * len(frame)


def test_only_closed_bars_and_until_is_exclusive(tmp_path) -> None:
    with fake_exchange("binanceusdm") as (ex, server):
        latest = feeds.fetch_candles(ex, SYMBOL, "4h", since=server.now - 2 * DAY,
                                     cache_dir=tmp_path)
        until = latest.index[-3]
        cut = feeds.fetch_candles(ex, SYMBOL, "4h", since=server.now - 2 * DAY, until=until,
                                  cache_dir=tmp_path)
    last_close = latest.index[-1].value // 10**6 + 4 * HOUR
    assert last_close <= server.now < last_close + 4 * HOUR
    assert cut.index[-1] == latest.index[-4]


def test_since_and_until_accept_strings_timestamps_datetimes_and_epoch_ms(tmp_path) -> None:
    with fake_exchange("binanceusdm") as (ex, server):
        start = pd.Timestamp(server.now - 2 * DAY, unit="ms", tz="UTC").floor("h")
        end = start + pd.Timedelta(hours=12)
        forms = [
            (start.tz_localize(None).isoformat(), end.tz_localize(None).isoformat()),
            (start.tz_convert("Asia/Tokyo"), end),
            (start.to_pydatetime(), end.to_pydatetime()),
            (start.value // 10**6, end.value // 10**6),
        ]
        frames = [feeds.fetch_candles(ex, SYMBOL, "1h", since=s, until=u, cache_dir=tmp_path)
                  for s, u in forms]
    assert len(frames[0]) == 12 and frames[0].index[0] == start
    for other in frames[1:]:
        _assert_same(other, frames[0])


def test_default_since_is_a_thousand_bars_and_frame_validates(tmp_path) -> None:
    with fake_exchange("bybit") as (ex, _server):
        frame = feeds.fetch_candles(ex, SYMBOL, "5m", cache_dir=tmp_path)
    assert len(frame) == 1000
    assert str(frame.index.dtype) == "datetime64[ns, UTC]" and frame.index.name == "time"
    from liqlevels import indicator

    indicator.validate_candles(frame)


def test_requests_stay_within_each_exchanges_row_limits(tmp_path) -> None:
    with fake_exchange("binanceusdm") as (ex, server):
        ex.load_markets()
        server.reset_log()
        frame = feeds.fetch_candles(ex, SYMBOL, "5m", since=server.now - 20 * DAY,
                                    cache_dir=False)
    bars = len(frame)
    klines, oi = server.calls(server.KLINES), server.calls(server.OI)
    assert all(int(r.params["limit"]) <= 1500 for r in klines)
    assert all(int(r.params["limit"]) <= 500 for r in oi)
    assert len(klines) == -(-bars // 1000) and len(oi) <= -(-bars // 500) + 1


# -- errors that teach --------------------------------------------------------------------
def test_unknown_exchange_suggests_and_lists() -> None:
    with pytest.raises(ValueError, match="binanceusdm") as info:
        feeds.fetch_candles("binanceusd", SYMBOL, "1h")
    assert "bybit" in str(info.value) and "okx" in str(info.value)
    with pytest.raises(TypeError, match="exchange"):
        feeds.fetch_candles(42, SYMBOL, "1h")


def test_unknown_symbol_spot_symbol_and_timeframe_list_what_is_there(tmp_path) -> None:
    with fake_exchange("bybit") as (ex, _server):
        with pytest.raises(ValueError, match=r"'SOL/USDT:USDC'.*Did you mean 'SOL/USDT:USDT'"):
            feeds.fetch_candles(ex, "SOL/USDT:USDC", "1h", cache_dir=tmp_path)
        with pytest.raises(ValueError, match=r"spot market.*swaps and futures.*SOL/USDT:USDT"):
            feeds.fetch_candles(ex, "SOL/USDT", "1h", cache_dir=tmp_path)
        with pytest.raises(ValueError, match=r"'2m'.*Available: 1m, 3m, 5m"):
            feeds.fetch_candles(ex, SYMBOL, "2m", cache_dir=tmp_path)
        with pytest.raises(ValueError, match="monthly"):
            feeds.fetch_candles(ex, SYMBOL, "1M", cache_dir=tmp_path)
        with pytest.raises(ValueError, match=r"since .* must be before until"):
            feeds.fetch_candles(ex, SYMBOL, "1h", since="2026-06-02", until="2026-06-01",
                                cache_dir=tmp_path)
        with pytest.raises(TypeError, match="since"):
            feeds.fetch_candles(ex, SYMBOL, "1h", since=[1], cache_dir=tmp_path)


def test_exchange_without_open_interest_history_is_named() -> None:
    exchange = ccxt.bitstamp()
    with pytest.raises(ValueError, match=r"bitstamp has no open-interest history.*binanceusdm"):
        feeds.fetch_candles(exchange, "BTC/USD", "1h")


# -- Binance keeps 30 days of open interest ----------------------------------------------
@pytest.fixture(scope="module")
def long_market() -> MarketData:
    return MarketData.generated(days=36, seed=5, start="2026-05-01")


def test_binance_older_than_30_days_comes_from_the_metrics_archive(tmp_path, long_market,
                                                                   monkeypatch) -> None:
    with fake_exchange("binanceusdm", data=long_market) as (ex, server), FakeArchive() as arch:
        first_day = server.now - 35 * DAY
        first_day -= first_day % DAY
        arch.put_binance_days(long_market, "SOLUSDT", first_day, 8)
        monkeypatch.setitem(feeds.settings.archive_urls, "binance", arch.base_url)
        since = first_day + DAY
        frame = feeds.fetch_candles(ex, SYMBOL, "1h", since=since, cache_dir=tmp_path)
        assert arch.count() > 0
        assert all(int(r.params["startTime"]) >= server.now - 30 * DAY
                   for r in server.calls(server.OI))
    _assert_same(frame, _expected(server, "1h", since, server.now))
    assert frame["open_interest"].notna().all()


def test_binance_older_than_30_days_without_archive_says_how(tmp_path, long_market,
                                                              monkeypatch) -> None:
    with fake_exchange("binanceusdm", data=long_market) as (ex, server), FakeArchive() as arch:
        monkeypatch.setitem(feeds.settings.archive_urls, "binance", arch.base_url)
        with pytest.raises(FeedError, match=r"last 30 days.*archive.*since >="):
            feeds.fetch_candles(ex, SYMBOL, "1h", since=server.now - 33 * DAY,
                                cache_dir=tmp_path)


# -- faults: retries and robust paging ----------------------------------------------------
FAULTS = {
    "429": [Fault.status(429, retry_after=7)],
    "502": [Fault.status(502), Fault.status(503)],
    "timeout": [Fault.timeout(1.5)],
    "truncated body": [Fault.truncate(0.6)],
    "garbled json": [Fault.garble(0.5)],
    "short page": [Fault.short(0.3)],
    "duplicates": [Fault.duplicate()],
    "out of order": [Fault.shuffle()],
}


@pytest.mark.parametrize("exchange_id", EXCHANGES)
@pytest.mark.parametrize("fault", list(FAULTS))
def test_faults_are_survived_with_the_same_result(exchange_id: str, fault: str, tmp_path,
                                                  waits) -> None:
    with fake_exchange(exchange_id, timeout=400) as (ex, server):
        since = server.now - 4 * DAY
        for path in (server.KLINES, server.OI):
            server.fail(path, *FAULTS[fault])
        frame = feeds.fetch_candles(ex, "SOL/USDT:USDT", "15m" if exchange_id != "okx"
                                    else "5m", since=since, cache_dir=tmp_path)
        assert server.pending_faults(server.KLINES) == server.pending_faults(server.OI) == 0
    tf = "15m" if exchange_id != "okx" else "5m"
    _assert_same(frame, _expected(server, tf, since, server.now))
    if fault == "429":
        assert waits.count(7.0) == 2  # Retry-After honoured on both endpoints
    if fault in ("502", "timeout", "truncated body", "garbled json"):
        assert len(waits) >= 2


def test_last_try_fails_with_exchange_endpoint_and_range_and_caches_nothing(tmp_path,
                                                                            waits) -> None:
    with fake_exchange("binanceusdm") as (ex, server):
        server.fail(server.KLINES, *[Fault.status(502)] * 4)
        with pytest.raises(FeedError) as info:
            feeds.fetch_candles(ex, SYMBOL, "1h", since="2026-06-20", until="2026-06-21",
                                cache_dir=tmp_path)
    message = str(info.value)
    assert "binanceusdm" in message and "/fapi/v1/klines" in message
    assert "2026-06-20 00:00 UTC" in message and "4 tries" in message
    assert info.value.exchange == "binanceusdm"
    assert waits == [1.0, 2.0, 4.0]  # doubling backoff
    assert not list(tmp_path.rglob("*.parquet")) and not list(tmp_path.rglob("*.tmp"))


def test_a_client_error_is_not_retried(tmp_path, waits) -> None:
    with fake_exchange("binanceusdm") as (ex, server):
        server.fail(server.OI, Fault.status(400))
        with pytest.raises(FeedError, match="openInterestHist"):
            feeds.fetch_candles(ex, SYMBOL, "1h", since=server.now - DAY, cache_dir=tmp_path)
        assert server.count(server.OI) == 1 and waits == []


# -- wrong answers: never cached, asked again next time -------------------------------------
WRONG = {
    "empty page": (Fault.empty(), "no rows came back"),
    "rows outside the window": (Fault.shift(), "no rows came back"),
    "a row off the grid": (Fault.offgrid(), r"refused: .*its time is off the 5m grid"),
    "an invalid row": (Fault.invalid(), r"refused: .*(not a positive finite price|negative)"),
}


def _differs(frame: pd.DataFrame, expected: pd.DataFrame) -> bool:
    try:
        _assert_same(frame, expected)
    except AssertionError:
        return True
    return False


@pytest.mark.parametrize("exchange_id", EXCHANGES)
@pytest.mark.parametrize("endpoint", ["KLINES", "OI"])
@pytest.mark.parametrize("wrong", list(WRONG))
def test_a_wrong_answer_is_not_cached_and_the_next_run_has_the_right_data(
        exchange_id: str, endpoint: str, wrong: str, tmp_path) -> None:
    fault, why = WRONG[wrong]
    with fake_exchange(exchange_id) as (ex, server):
        since = server.now - 4 * DAY  # 5m bars: several pages of candles and of snapshots
        path = getattr(server, endpoint)
        server.fail(path, fault)  # the first page asked for is wrong, the rest right
        kind = "ohlcv-5m" if endpoint == "KLINES" else "oi-5m"
        with pytest.warns(FeedWarning, match=rf"{exchange_id} {SYMBOL} {kind}: \d{{4}}-.* UTC "
                                             rf"to .* UTC is not cached \({why}.*asked for "
                                             rf"again next time"):
            first = feeds.fetch_candles(ex, SYMBOL, "5m", since=since, cache_dir=tmp_path)
        assert server.pending_faults(path) == 0
        server.reset_log()
        second = feeds.fetch_candles(ex, SYMBOL, "5m", since=since, cache_dir=tmp_path)
        assert server.count(path) >= 1  # the wrong span is asked for again
        server.reset_log()
        third = feeds.fetch_candles(ex, SYMBOL, "5m", since=since, cache_dir=tmp_path)
        assert server.count(server.KLINES) + server.count(server.OI) == 0  # now it is cached
    expected = _expected(server, "5m", since, server.now)
    assert _differs(first, expected)  # the fault did spoil the first run
    _assert_same(second, expected)
    _assert_same(third, expected)


@pytest.mark.parametrize("exchange_id", EXCHANGES)
def test_ccxts_unified_open_interest_path_gives_the_same_frame(exchange_id: str, tmp_path,
                                                               monkeypatch) -> None:
    """Other exchanges go through fetch_open_interest_history; the three known ones take
    their endpoints directly for speed. Both must agree."""
    from liqlevels.feeds import _rest

    with fake_exchange(exchange_id) as (ex, server):
        since = server.now - 3 * DAY
        fast = feeds.fetch_candles(ex, SYMBOL, "1h", since=since, cache_dir=False)
        monkeypatch.setattr(_rest, "_raw_oi", lambda *args: None)
        server.fail(server.OI, Fault.garble(0.3), Fault.short(0.5))
        unified = feeds.fetch_candles(ex, SYMBOL, "1h", since=since, cache_dir=False)
    _assert_same(unified, fast)
    _assert_same(fast, _expected(server, "1h", since, server.now))


@pytest.mark.realdata
def test_fakes_serve_the_real_okx_candles_when_they_are_there(tmp_path) -> None:
    from fakes import SHARED_DATA

    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (it lives beside the project)")
    real = pd.read_csv(SHARED_DATA / "candles-1h.csv")
    with fake_exchange("okx", data=MarketData.shared()) as (ex, _server):
        frame = feeds.fetch_candles(ex, SYMBOL, "1h", since=int(real["ts"].iloc[1]),
                                    cache_dir=tmp_path)
    real = real.set_index(pd.to_datetime(real["ts"], unit="ms", utc=True)).loc[frame.index]
    cols = ["open", "high", "low", "close"]
    np.testing.assert_allclose(frame[cols].to_numpy(), real[cols].to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(frame["volume"], real["volume"], rtol=1e-6)
    usd = pd.read_csv(SHARED_DATA / "open-interest-1h.csv").set_index("ts")["open_interest_usd"]
    closes = frame.index.as_unit("ms").asi8 + HOUR
    np.testing.assert_allclose(frame["open_interest_value"], usd.loc[closes], rtol=0.01)
