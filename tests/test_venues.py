"""feeds.fetch_venues against three loopback fakes with different markets: open interest in
coins summed on one grid (OKX contracts converted), NaN where a venue lacks a bar, each
venue's limits said, errors that name the venue before anything is fetched."""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pandas as pd
import pytest
from fakes import MarketData, fake_exchange

from liqlevels import feeds
from liqlevels.feeds import FeedWarning

MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR
VENUES = ("binanceusdm", "bybit", "okx")
SYMBOL = "BTC/USDT:USDT"  # the fakes' BTC: prices x800; OKX counts it in 0.01 BTC contracts
BTC = 800.0

pytestmark = pytest.mark.usefixtures("waits")


def _market(seed: int) -> MarketData:
    return MarketData.generated(days=4, seed=seed, start="2026-06-01")


def _without_oi(data: MarketData, when: int) -> MarketData:
    """``data`` lacking the open-interest snapshot stamped ``when``."""
    keep = data.oi_ts != when
    return MarketData(data.ts, data.ohlcv, data.oi_ts[keep], data.oi_amount[keep], "holed")


def _without_bars(data: MarketData, start: int, end: int) -> MarketData:
    """``data`` lacking the 1m bars in ``[start, end)`` (an hour the venue never traded)."""
    keep = (data.ts < start) | (data.ts >= end)
    return MarketData(data.ts[keep], data.ohlcv[keep], data.oi_ts, data.oi_amount, "holed")


@pytest.fixture(scope="module")
def markets() -> dict[str, MarketData]:
    base = {venue: _market(seed) for venue, seed in zip(VENUES, (21, 22, 23), strict=True)}
    now = base["binanceusdm"].now
    base["bybit"] = _without_oi(base["bybit"], now - 10 * HOUR)  # closes one 1h bar
    base["okx"] = _without_bars(base["okx"], now - 20 * HOUR, now - 19 * HOUR)
    return base


@contextlib.contextmanager
def _three(markets: dict[str, MarketData]):
    with contextlib.ExitStack() as stack:
        pairs = [stack.enter_context(fake_exchange(v, data=markets[v])) for v in VENUES]
        yield [ex for ex, _ in pairs], [server for _, server in pairs]


def _plain_sum(markets: dict[str, MarketData], step: int, opens: np.ndarray
               ) -> dict[str, np.ndarray]:
    """Each venue's closing open interest in coins per bar, from its own content: the
    snapshot stamped at the bar's close, NaN when the venue lacks it or the bar."""
    out = {}
    for venue, data in markets.items():
        snaps = {int(t): a / BTC for t, a in zip(data.oi_ts, data.oi_amount, strict=True)}
        bars = {int(t) for t in data.candles(step)[:, 0]}
        out[venue] = np.array([snaps.get(int(t) + step, np.nan) if int(t) in bars else np.nan
                               for t in opens])
    return out


def test_open_interest_is_summed_in_coins_on_the_first_venues_grid(markets, tmp_path) -> None:
    with _three(markets) as (exchanges, servers):
        since = servers[0].now - 2 * DAY
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            frame = feeds.fetch_venues(exchanges, SYMBOL, "1h", since=since,
                                       cache_dir=tmp_path)
    opens = frame.index.as_unit("ms").asi8
    first = markets["binanceusdm"].candles(HOUR)
    first = first[(first[:, 0] >= since) & (first[:, 0] + HOUR <= servers[0].now)]
    np.testing.assert_array_equal(opens, first[:, 0].astype(np.int64))
    np.testing.assert_allclose(frame[["open", "high", "low", "close", "volume"]],
                               first[:, 1:] * [BTC, BTC, BTC, BTC, 1.0], rtol=1e-9)
    each = _plain_sum(markets, HOUR, opens)
    total = sum(each.values())
    for venue in VENUES:
        np.testing.assert_allclose(frame[f"open_interest_{venue}"], each[venue], rtol=1e-9)
    np.testing.assert_allclose(frame["open_interest"], total, rtol=1e-9)
    holes = frame.index[frame["open_interest"].isna()].as_unit("ms").asi8
    now = servers[0].now
    assert sorted(holes) == [now - 20 * HOUR, now - 11 * HOUR]  # okx's hour, bybit's snapshot
    assert frame["open_interest_okx"].notna().sum() == len(frame) - 1
    gap = [w for w in caught if "missing for some venues" in str(w.message)]
    assert len(gap) == 1 and "bybit on 1" in str(gap[0].message)
    assert frame.attrs["exchanges"] == VENUES and frame.attrs["exchange"] == "+".join(VENUES)
    assert frame.attrs["oi_timeframes"] == dict.fromkeys(VENUES, "1h")


def test_okx_contracts_become_coins_not_a_hundredfold(markets, tmp_path) -> None:
    with _three(markets) as (exchanges, _servers):
        frame = feeds.fetch_venues(exchanges, SYMBOL, "4h", since=_servers[0].now - 3 * DAY,
                                   cache_dir=tmp_path)
    okx = frame["open_interest_okx"].dropna()
    plain = markets["okx"].open_interest(4 * HOUR)
    coins = dict(zip(plain[:, 0].astype(np.int64), plain[:, 1] / BTC, strict=True))
    expected = [coins[t + 4 * HOUR] for t in okx.index.as_unit("ms").asi8]
    np.testing.assert_allclose(okx, expected, rtol=1e-9)


def test_the_verified_cache_is_reused_per_venue(markets, tmp_path) -> None:
    with _three(markets) as (exchanges, servers):
        since = servers[0].now - DAY
        feeds.fetch_venues(exchanges, SYMBOL, "1h", since=since, cache_dir=tmp_path)
        for server in servers:
            server.reset_log()
        again = feeds.fetch_venues(exchanges, SYMBOL, "1h", since=since, cache_dir=tmp_path)
        assert all(server.count(server.KLINES) == 0 for server in servers)
    assert len(again) == 24


def test_coarse_open_interest_is_said_per_venue(markets, tmp_path) -> None:
    with _three(markets) as (exchanges, servers):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            frame = feeds.fetch_venues(exchanges, SYMBOL, "1m", since=servers[0].now - HOUR,
                                       cache_dir=tmp_path)
    said = [str(w.message) for w in caught if issubclass(w.category, FeedWarning)]
    for venue in VENUES:
        assert any(s.startswith(f"{venue} has open interest every 5m") and "as-of" in s
                   for s in said), venue
    assert caught[0].filename == __file__  # said at the caller's line
    assert frame["open_interest"].notna().sum() >= len(frame) - 5


def test_a_symbol_per_venue_and_bases_must_agree(markets, tmp_path) -> None:
    with _three(markets) as (exchanges, servers):
        mapped = {"binanceusdm": SYMBOL, "bybit": SYMBOL, "okx": "BTC-USDT-SWAP"}  # an id
        frame = feeds.fetch_venues(exchanges, mapped, "4h", since=servers[0].now - DAY,
                                   cache_dir=tmp_path)
        assert frame.attrs["symbols"] == dict.fromkeys(VENUES, SYMBOL)
        for server in servers:
            server.reset_log()
        with pytest.raises(ValueError, match=r"different base coins.*bybit: SOL"):
            feeds.fetch_venues(exchanges, {**mapped, "bybit": "SOL/USDT:USDT"}, "4h",
                               cache_dir=tmp_path)
        with pytest.raises(ValueError, match=r"no entry for 'okx'"):
            feeds.fetch_venues(exchanges, {"binanceusdm": SYMBOL, "bybit": SYMBOL}, "4h",
                               cache_dir=tmp_path)
        with pytest.raises(ValueError, match=r"'XRP/USDT:USDT' is not a market of binanceusdm"):
            feeds.fetch_venues(exchanges, "XRP/USDT:USDT", "4h", cache_dir=tmp_path)
        with pytest.raises(ValueError, match=r"'8h' is not served by bybit"):
            feeds.fetch_venues(exchanges, SYMBOL, "8h", cache_dir=tmp_path)
        assert all(server.count(server.KLINES) == 0 for server in servers)  # nothing fetched


def test_the_venue_list_is_checked() -> None:
    with pytest.raises(TypeError, match="list of ccxt exchange ids"):
        feeds.fetch_venues("binanceusdm", SYMBOL, "1h")
    with pytest.raises(ValueError, match="bybit more than once"):
        feeds.fetch_venues(["bybit", "okx", "bybit"], SYMBOL, "1h")
    with pytest.raises(ValueError, match="is empty"):
        feeds.fetch_venues([], SYMBOL, "1h")
    with pytest.raises(ValueError, match=r"'bybitt' is not a ccxt exchange"):
        feeds.fetch_venues(["binanceusdm", "bybitt"], SYMBOL, "1h")


def test_summed_frame_feeds_the_indicator(markets, tmp_path) -> None:
    from liqlevels import indicator

    with _three(markets) as (exchanges, servers):
        frame = feeds.fetch_venues(exchanges, SYMBOL, "1h", since=servers[0].now - 3 * DAY,
                                   cache_dir=tmp_path)
    indicator.validate_candles(frame)
    levels = indicator.oi_levels(frame)
    assert isinstance(levels, pd.DataFrame)


def test_inverse_contracts_become_coins_at_the_venues_own_close() -> None:
    from liqlevels.feeds._venues import _sum_on_grid

    index = pd.date_range("2026-06-01", periods=3, freq="1h", tz="UTC", name="time")
    linear = pd.DataFrame({"open": 1.0, "high": 2.0, "low": 0.5, "close": [100.0, 110.0, 120.0],
                           "volume": 5.0, "open_interest": [10.0, 11.0, np.nan],
                           "open_interest_value": [1000.0, 1210.0, np.nan]}, index=index)
    # an inverse market: open_interest in contracts of 100 USD, its value in USD
    inverse = pd.DataFrame({"open": 1.0, "high": 2.0, "low": 0.5, "close": [200.0, 50.0, 40.0],
                            "volume": 7.0, "open_interest": [30.0, 40.0, 50.0],
                            "open_interest_value": [3000.0, 4000.0, 5000.0]},
                           index=index)
    out = _sum_on_grid([linear, inverse], ["a", "b"], [{"linear": True}, {"inverse": True}])
    np.testing.assert_allclose(out["open_interest_b"], [3000 / 200, 4000 / 50, 5000 / 40])
    np.testing.assert_allclose(out["open_interest"], [10 + 15, 11 + 80, np.nan])
    np.testing.assert_allclose(out["close"], linear["close"])
    np.testing.assert_allclose(out["open_interest_value"], [4000.0, 5210.0, np.nan])
