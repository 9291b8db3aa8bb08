"""Several venues on the command line: ``chart --exchanges`` (open interest summed), its
checks before any network, the chart's ``--weight`` and ``--heatmap``; ``map --exchanges``
merging the Binance and Bybit trade archives in time order."""

from __future__ import annotations

import contextlib
import re

import numpy as np
import pandas as pd
import pytest
from fakes import MarketData, fake_exchange
from test_cli import run

from liqlevels import feeds, indicator
from liqlevels._app import heatmap_times, render
from liqlevels.cli import main
from liqlevels.feeds import _exchanges

VENUES = ("binanceusdm", "bybit", "okx")
SYMBOL = "BTC/USDT:USDT"
HOUR = 3_600_000
DAY = 24 * HOUR
PAYLOAD = re.compile(r'"heatmap":\{"b":\[\d')  # the scene's heatmap columns, not the page's code

pytestmark = pytest.mark.usefixtures("waits")


@pytest.fixture
def three(monkeypatch):
    """The three REST fakes (different markets) as the shared instances feeds uses for ids."""
    with contextlib.ExitStack() as stack:
        servers = []
        for venue, seed in zip(VENUES, (31, 32, 33), strict=True):
            data = MarketData.generated(days=3, seed=seed, start="2026-06-01")
            ex, server = stack.enter_context(fake_exchange(venue, data=data))
            monkeypatch.setitem(_exchanges._INSTANCES, venue, ex)
            servers.append(server)
        yield servers


def _window(server) -> tuple[str, str]:
    now = pd.Timestamp(server.now, unit="ms", tz="UTC")
    return (now - pd.Timedelta(days=2)).isoformat(), now.isoformat()


def test_chart_sums_the_venues_and_names_them(three, tmp_path, capsys) -> None:
    since, until = _window(three[0])
    code = main(["chart", SYMBOL, "--exchanges", ",".join(VENUES), "--since", since,
                 "--until", until, "--cache-dir", str(tmp_path / "cache"), "--out",
                 str(tmp_path), "--no-png", "--ma-length", "10"])
    assert code == 0, capsys.readouterr().err
    summed = feeds.fetch_venues(list(VENUES), SYMBOL, "1h", since=since, until=until,
                                cache_dir=tmp_path / "cache")
    alone = feeds.fetch_candles("binanceusdm", SYMBOL, "1h", since=since, until=until,
                                cache_dir=tmp_path / "cache")
    assert (summed["open_interest"] > 2 * alone["open_interest"]).all()
    expected = indicator.oi_levels(summed, options=indicator.OIOptions(ma_length=10))
    written = pd.read_csv(tmp_path / "BTC-USDT-USDT_1h-levels.csv")
    assert len(written) == len(expected) > 0
    np.testing.assert_allclose(written["oi_delta"], expected["oi_delta"], rtol=1e-9)
    html = (tmp_path / "BTC-USDT-USDT_1h.html").read_text(encoding="utf-8")
    assert "BTC/USDT:USDT 1h (binanceusdm+bybit+okx)" in html


def test_fetch_names_the_venues(three, tmp_path, capsys) -> None:
    since, until = _window(three[0])
    code = main(["fetch", SYMBOL, "--exchanges", "bybit,okx", "--since", since, "--until",
                 until, "--cache-dir", str(tmp_path / "cache")])
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("bybit+okx BTC/USDT:USDT 1h: 48 bars")


def test_heatmap_sums_and_names_the_venues(three, tmp_path, capsys) -> None:
    since, until = _window(three[0])
    code = main(["heatmap", SYMBOL, "--exchanges", "okx,bybit", "--since", since, "--until",
                 until, "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path),
                 "--no-png", "--ma-length", "10"])
    assert code == 0, capsys.readouterr().err
    html = (tmp_path / "BTC-USDT-USDT_1h-heatmap.html").read_text(encoding="utf-8")
    assert "BTC/USDT:USDT 1h (okx+bybit)" in html


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["--exchange", "bybit", "--exchanges", "okx,bybit"], 2,
         ["--exchanges: not allowed with argument --exchange"]),
        (["--exchanges", "okx"], 2, ["two or more exchanges"]),
        (["--exchanges", "okx,bybit,okx"], 2, ["okx twice"]),
        (["--exchanges", "okx,bybit", "--api-url", "http://127.0.0.1:9"], 1,
         ["--api-url", "cannot serve several exchanges"]),
        (["--weight", "volume"], 2, ["--weight", "count", "oi_delta"]),
    ],
)
def test_venue_flags_fail_before_any_network(tmp_path, args, code, words) -> None:
    result = run("chart", SYMBOL, "--cache-dir", str(tmp_path), "--out", str(tmp_path),
                 "--no-png", *args)
    assert result.returncode == code, (result.stdout, result.stderr)
    for word in words:
        assert word in result.stderr
    assert "refused" not in result.stderr and "Traceback" not in result.stderr
    assert not any(tmp_path.iterdir())  # nothing fetched, nothing written


def test_live_takes_venues_but_not_with_a_single_api_url(tmp_path) -> None:
    """live --exchanges streams from the first venue and polls the others' open interest
    (tests/test_feeds_live.py runs it on the fakes); one --api-url cannot serve them all."""
    result = run("live", SYMBOL, "--exchanges", "okx,bybit", "--api-url", "http://127.0.0.1:9")
    assert result.returncode == 1 and "one URL cannot serve several exchanges" in result.stderr
    assert "Traceback" not in result.stderr


# -- --weight and --heatmap ---------------------------------------------------------------

@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return feeds.sample_candles(900, timeframe="1h", seed=4)


def test_weight_reaches_the_density(sample, tmp_path) -> None:
    options = indicator.OIOptions()
    out = render(sample, out_dir=tmp_path, name="w", symbol="S", options=options,
                 weight="oi_delta", png=False)
    expected = indicator.density(out.levels, bins=150, weight="oi_delta")
    pd.testing.assert_frame_equal(out.density, expected)
    counted = indicator.density(out.levels, bins=150)
    assert not np.allclose(out.density.filter(like="long"), counted.filter(like="long"))
    html = out.html.read_text(encoding="utf-8")
    assert out.heatmap is None and not PAYLOAD.search(html)
    assert "live lines by price, weighted by |OI delta|" in html  # the legend says the weight


def test_heatmap_is_drawn_on_at_most_two_thousand_times(sample, tmp_path) -> None:
    options = indicator.OIOptions()
    out = render(sample, out_dir=tmp_path, name="h", symbol="S", options=options,
                 weight="notional", heatmap=True, png=False)
    expected = indicator.heatmap(out.levels, sample.index, weight="notional")
    pd.testing.assert_frame_equal(out.heatmap, expected, check_like=True)
    assert out.heatmap.attrs["weight"] == "notional"
    html = out.html.read_text(encoding="utf-8")
    assert PAYLOAD.search(html) and '"unit":"USD"' in html


@pytest.mark.parametrize("n", [1, 1999, 2000, 2001, 5000, 12_345])
def test_heatmap_times_thin_the_bars_evenly_ending_on_the_last(n) -> None:
    index = pd.date_range("2026-01-01", periods=n, freq="5min", tz="UTC")
    times = heatmap_times(index)
    assert 0 < len(times) <= 2000 and times[-1] == index[-1]
    if n <= 2000:
        assert times.equals(index)
    else:
        assert len(set(np.diff(times.asi8))) == 1  # one step: every k-th bar
        assert len(heatmap_times(index, most=len(times) - 1)) < len(times)


def test_chart_flags_on_the_command_line(tmp_path) -> None:
    result = run("demo", "--out", str(tmp_path), "--bars", "600", "--no-png", "--heatmap",
                 "--weight", "oi_delta")
    assert result.returncode == 0, result.stderr
    html = (tmp_path / "demo.html").read_text(encoding="utf-8")
    assert PAYLOAD.search(html) and '"unit":"coins of OI"' in html
    plain = run("demo", "--out", str(tmp_path / "plain"), "--bars", "600", "--no-png")
    assert plain.returncode == 0, plain.stderr
    assert not PAYLOAD.search((tmp_path / "plain" / "demo.html").read_text(encoding="utf-8"))


# -- map: Binance and Bybit trades merged in time order --------------------------------------

MAP_DAY = "2026-06-01"
MAP_SYMBOL = "BTCUSDT"


def _archive_trades(seed: int, price: float) -> pd.DataFrame:
    from fakes import random_trades

    start = pd.Timestamp(MAP_DAY, tz="UTC").value // 10**6
    return random_trades(2500, seed=seed, start=start, price=price)


@pytest.fixture
def both(archive) -> dict[str, pd.DataFrame]:
    """A day of trades on each archive; some Bybit trades at the very millisecond of a
    Binance one, the day's last trade on both at once (at different prices)."""
    from fakes import agg_trades_csv

    binance, bybit = _archive_trades(7, 29_000.0), _archive_trades(8, 29_010.0)
    bybit.loc[::50, "transact_time"] = binance["transact_time"].to_numpy()[::50]
    last = int(max(binance["transact_time"].max(), bybit["transact_time"].max())) + 1
    binance.loc[binance.index[-1], ["transact_time", "price"]] = (last, 29_111.0)
    bybit.loc[bybit.index[-1], ["transact_time", "price"]] = (last, 29_222.0)
    bybit = bybit.sort_values("transact_time", kind="stable", ignore_index=True)
    archive.put_binance(f"data/futures/um/daily/aggTrades/{MAP_SYMBOL}/{MAP_SYMBOL}-aggTrades-"
                        f"{MAP_DAY}.zip", agg_trades_csv(binance))
    archive.put_bybit(MAP_SYMBOL, MAP_DAY, bybit)
    return {"binance": binance, "bybit": bybit}


def _plain_merge(trades: dict[str, pd.DataFrame], order: tuple[str, ...]) -> pd.DataFrame:
    """The trades frame of both, in time order; equal times in ``order``: a plain sort."""
    rows = []
    for rank, name in enumerate(order):
        t = trades[name]
        for ms, price, qty, maker in zip(t["transact_time"], t["price"], t["quantity"],
                                         t["is_buyer_maker"], strict=True):
            rows.append((int(ms), rank, price, qty, "sell" if maker else "buy"))
    rows.sort(key=lambda r: (r[0], r[1]))  # stable on ties within one exchange
    return pd.DataFrame({"time": pd.to_datetime([r[0] for r in rows], unit="ms", utc=True),
                         "price": [r[2] for r in rows], "quantity": [r[3] for r in rows],
                         "side": [r[4] for r in rows]})


@pytest.mark.parametrize("order", [("binance", "bybit"), ("bybit", "binance")])
def test_mapping_merges_both_archives_in_time_order(both, tmp_path, order) -> None:
    from liqlevels import HistoricalMapping

    start, end = f"{MAP_DAY} 00:00", f"{MAP_DAY} 23:59:59"
    hm = HistoricalMapping(start, end, MAP_SYMBOL, list(order), out_dir=tmp_path / "out",
                           cache_dir=tmp_path / "cache", png=False)
    got = hm.liquidation_map_from_historical(mode="top_n", threshold_top_n=40)
    trades = _plain_merge(both, order)
    levels = indicator.trade_levels(trades, mode="top_n", threshold=40)
    assert hm.exchange == "+".join(order) and hm.exchanges == order
    assert hm.price == {"binance": 29_111.0, "bybit": 29_222.0}[order[-1]]  # the tie's last
    np.testing.assert_allclose(hm.levels["price"], levels["price"], rtol=1e-12)
    pd.testing.assert_frame_equal(got, indicator.liquidation_map(levels, price=hm.price),
                                  check_exact=False, rtol=1e-12)
    single = HistoricalMapping(start, end, MAP_SYMBOL, order[0], out_dir=tmp_path / "one",
                               cache_dir=tmp_path / "cache", png=False)
    single.liquidation_map_from_historical(mode="top_n", threshold_top_n=40)
    mixed = set(hm.levels["start"])
    assert mixed & set(single.levels["start"]) and mixed - set(single.levels["start"])


def test_map_command_reads_both_archives(archive, both, tmp_path) -> None:
    result = run("map", MAP_SYMBOL, "--exchanges", "binance,bybit", "--since", MAP_DAY,
                 "--until", f"{MAP_DAY} 23:59:59", "--mode", "top_n", "--threshold", "40",
                 "--archive-url", archive.base_url, "--cache-dir", str(tmp_path / "cache"),
                 "--out", str(tmp_path / "out"), "--no-png")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("binance+bybit BTCUSDT")
    assert "current price 29222" in result.stdout  # Bybit's, second on the tie
    maps = list((tmp_path / "out").glob("*_map.csv"))
    assert len(maps) == 1


@pytest.mark.parametrize(
    ("exchange", "words"),
    [("binance,binance", "binance twice"), ("binance,kraken", "'kraken' is not supported"),
     (["bybit", "ftx"], "'ftx' is not supported")],
)
def test_mapping_names_a_bad_archive_list(tmp_path, exchange, words) -> None:
    from liqlevels import HistoricalMapping

    with pytest.raises(ValueError, match=words):
        HistoricalMapping(MAP_DAY, f"{MAP_DAY} 06:00", MAP_SYMBOL, exchange, out_dir=tmp_path)
