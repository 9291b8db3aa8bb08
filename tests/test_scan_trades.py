"""``scan --method trades``: the trade-based levels of the last complete UTC day, read from
the exchanges' trade archives (fake Binance and Bybit archives served here), computed on a
real two-worker LocalCluster, against a plain sequential loop over the same symbols; and the
command's flags."""

from __future__ import annotations

import math
import warnings

import ccxt
import numpy as np
import pandas as pd
import pytest
from fakes import FakeArchive, point_at
from fakes._archive import agg_trades_csv, random_trades
from fakes._scan import DELISTED, FakeScanBybit, FakeScanExchange
from hypothesis import given, settings
from hypothesis import strategies as st

import liqlevels
from liqlevels import feeds, indicator
from liqlevels._scan import ClusterRule, TradeScan, clusters, run_scan, symbol_row
from liqlevels.cli import main

HOUR = 3_600_000
DAY = 86_400_000
BARS = 96
OPTIONS = indicator.OIOptions()
RULE = ClusterRule()
MODE, THRESHOLD = "top_n", 40
WITH_ARCHIVE = ("CAH", "CAJ")  # served by the fake archives
SYMBOLS = [f"{b}/USDT:USDT" for b in (*WITH_ARCHIVE, "CAD", DELISTED)]  # CAD: no archive


def yesterday() -> tuple[int, str]:
    """The last complete UTC day, as the scan picks it (epoch ms of its start, its stamp)."""
    today = pd.Timestamp.now(tz="UTC").floor("D")
    start = today - pd.Timedelta(days=1)
    return int(start.value // 1_000_000), start.strftime("%Y-%m-%d")


# -- the reference: trade_levels, trade_level_ends and a cluster loop, line by line ----------


def loop_row(candles: pd.DataFrame, levels: pd.DataFrame, rule: ClusterRule) -> dict:
    """One symbol's row from its ended trade levels: live lines summed per side and price
    bin, weighted by their notional; the nearest dense bin per side; the largest within."""
    close = float(candles["close"].iloc[-1])
    size = close * rule.bin_pct / 100.0
    cells: dict[tuple[str, int], dict] = {}
    for line in levels.itertuples(index=False):
        if not pd.isna(line.end):
            continue
        cell = cells.setdefault((line.side, math.floor(line.price / size)),
                                {"usd": 0.0, "pw": 0.0})
        cell["usd"] += line.notional
        cell["pw"] += line.notional * line.price
    heaviest = {side: max((c["usd"] for (s, _), c in cells.items() if s == side), default=0.0)
                for side in ("long", "short")}
    found = []
    for (side, _), cell in cells.items():
        price = cell["pw"] / cell["usd"]
        found.append({"side": side, "price": price, "usd": cell["usd"],
                      "distance_pct": abs(price - close) / close * 100,
                      "dense": cell["usd"] >= rule.dense * heaviest[side]
                      and cell["usd"] >= rule.min_usd})
    row = {"last_price": close, "live_lines": int(levels["end"].isna().sum())}
    for side in ("long", "short"):
        dense = [c for c in found if c["side"] == side and c["dense"]]
        best = min(dense, key=lambda c: c["distance_pct"]) if dense else None
        for key in ("price", "distance_pct", "usd"):
            row[f"{side}_{key}"] = best[key] if best else math.nan
    near = [c for c in found if c["distance_pct"] <= rule.near]
    top = max((c["usd"] for c in near), default=0.0)
    big = min((c for c in near if c["usd"] >= top * (1 - 1e-9)),
              key=lambda c: c["distance_pct"]) if near else None
    row["near_usd"] = big["usd"] if big else math.nan
    row["near_side"] = big["side"] if big else ""
    return row


# -- the fakes ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def venues():
    """The fake Binance USD-M and Bybit APIs (the same markets) and one archive server with
    yesterday's trades of WITH_ARCHIVE on both archives (each its own trades)."""
    start, stamp = yesterday()
    with FakeScanExchange(14) as binance, FakeScanBybit(14, end=binance.data.now) as bybit, \
            FakeArchive() as archive:
        for i, base in enumerate(WITH_ARCHIVE):
            data = binance.content[base]
            price = float(data.ohlcv[np.searchsorted(data.ts, start), 3])
            sym = f"{base}USDT"
            archive.put_binance(f"data/futures/um/daily/aggTrades/{sym}/{sym}-aggTrades-"
                                f"{stamp}.zip",
                                agg_trades_csv(random_trades(4000, seed=10 + i, start=start,
                                                             price=price)))
            archive.put_bybit(sym, stamp, random_trades(3000, seed=20 + i, start=start,
                                                        price=price))
        yield binance, bybit, archive


@pytest.fixture(scope="module")
def window(venues) -> tuple[int, int]:
    now = venues[0].now
    until = now - now % HOUR
    return until - BARS * HOUR, until


@pytest.fixture(scope="module")
def quiet():
    from liqlevels.feeds import _retry

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_retry, "_sleep", lambda seconds: None)
        mp.setattr(feeds.settings, "tries", 2)
        mp.setattr(feeds.settings, "progress", False)
        yield


@pytest.fixture(scope="module")
def scanned(venues, window, client, quiet, tmp_path_factory):
    binance, bybit, archive = venues
    cache = tmp_path_factory.mktemp("scan-trades-cache")
    result = run_scan(SYMBOLS, exchanges=("binanceusdm", "bybit"), since=window[0],
                      until=window[1], client=client, cache_dir=cache,
                      api_url={"binanceusdm": binance.base_url, "bybit": bybit.base_url},
                      ccxt_options={"rateLimit": 2}, method="trades", trade_mode=MODE,
                      trade_threshold=THRESHOLD, archive_url=archive.base_url)
    return result, cache


@pytest.fixture(scope="module")
def reference(venues, window, quiet, tmp_path_factory) -> dict:
    """Each symbol on its own: candles by fetch_candles, trades by archive_trades (the CSV
    reader, not the decoded-day cache), trade_levels, trade_level_ends, the loop above."""
    binance, bybit, archive = venues
    cache = tmp_path_factory.mktemp("scan-trades-reference")
    _, stamp = yesterday()
    out: dict = {}
    for exchange_id, fake, name in (("binanceusdm", binance, "binance"),
                                    ("bybit", bybit, "bybit")):
        exchange = point_at(getattr(ccxt, exchange_id)({"enableRateLimit": True,
                                                        "rateLimit": 1}), fake.base_url)
        for symbol in SYMBOLS:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", feeds.FeedWarning)
                    candles = feeds.fetch_candles(exchange, symbol, "1h", since=window[0],
                                                  until=window[1], cache_dir=cache)
                trades = pd.concat(feeds.archive_trades(name, symbol, stamp, cache_dir=cache,
                                                        base_url=archive.base_url))
            except feeds.FeedError as exc:
                out[exchange_id, symbol] = exc
                continue
            levels = indicator.trade_levels(trades, mode=MODE, threshold=THRESHOLD,
                                            leverages=OPTIONS.leverages, mmr=OPTIONS.mmr)
            levels = indicator.trade_level_ends(levels, candles)
            out[exchange_id, symbol] = (candles, levels, loop_row(candles, levels, RULE))
    return out


# -- the scan -------------------------------------------------------------------------------------


def test_the_trades_scan_matches_a_sequential_loop(scanned, reference) -> None:
    table = scanned[0].table
    assert len(table) == 2 * len(SYMBOLS) and table["rank"].tolist() == list(range(1, 9))
    rows = table.set_index(["exchange", "symbol"])
    ok = 0
    for key, want in reference.items():
        got = rows.loc[key]
        if isinstance(want, Exception):
            assert got["error"] != "", key
            continue
        candles, levels, loop = want
        assert got["error"] == "", (key, got["error"])
        assert got["bars"] == len(candles) == BARS and got["last_bar"] == candles.index[-1]
        for column in ("last_price", "long_price", "long_distance_pct", "long_usd",
                       "short_price", "short_distance_pct", "short_usd", "near_usd"):
            np.testing.assert_allclose(got[column], loop[column], rtol=1e-9,
                                       err_msg=f"{key} {column}")
        assert got["live_lines"] == loop["live_lines"] and got["near_side"] == loop["near_side"]
        # the data exercise both halves: lines the candles ended and lines still live
        assert 0 < loop["live_lines"] < len(levels), key
        assert math.isfinite(loop["long_usd"]) or math.isfinite(loop["short_usd"]), key
        ok += 1
    assert ok == 2 * len(WITH_ARCHIVE)


def test_a_symbol_without_an_archive_day_is_a_row_with_its_error(scanned) -> None:
    result = scanned[0]
    table = result.table
    failed = table[table["error"] != ""].set_index(["exchange", "symbol"])["error"]
    _, stamp = yesterday()
    assert sorted(failed.index) == sorted(
        [("binanceusdm", "CAD/USDT:USDT"), ("binanceusdm", f"{DELISTED}/USDT:USDT"),
         ("bybit", "CAD/USDT:USDT"), ("bybit", f"{DELISTED}/USDT:USDT")])
    assert "Invalid symbol" in failed["binanceusdm", f"{DELISTED}/USDT:USDT"]  # candles
    for key in (("binanceusdm", "CAD/USDT:USDT"), ("bybit", "CAD/USDT:USDT"),
                ("bybit", f"{DELISTED}/USDT:USDT")):  # candles fine, no archive day
        assert failed[key].startswith("NotInArchiveError") or "404" in failed[key], failed[key]
        assert stamp in failed[key], failed[key]
    assert (table.tail(4)["error"] != "").all()
    assert isinstance(result.trades, TradeScan)
    assert (result.trades.days, result.trades.mode, result.trades.threshold) == (
        (stamp,), MODE, THRESHOLD)


def test_the_archive_days_are_decoded_once_into_the_cache(scanned) -> None:
    _, cache = scanned
    decoded = sorted(p.relative_to(cache / "decoded").as_posix()
                     for p in (cache / "decoded").rglob("*.parquet"))
    _, stamp = yesterday()
    assert decoded == sorted(
        [f"binance/{b}USDT/{b}USDT-aggTrades-{stamp}.zip.parquet" for b in WITH_ARCHIVE]
        + [f"bybit/{b}USDT/{b}USDT{stamp}.csv.gz.parquet" for b in WITH_ARCHIVE])


def test_the_oi_weight_is_unchanged_by_the_weight_option() -> None:
    """clusters' default weight is |oi_delta| x entry, whatever a notional column says."""
    levels = indicator.oi_levels(feeds.sample_candles(1500, seed=3))
    close = float(levels["price"].median())
    plain = clusters(levels, close, RULE)
    assert plain.equals(clusters(levels, close, RULE, "oi"))
    usd = (levels["oi_delta"].abs() * levels["entry"]).rename("notional")
    assert plain.equals(clusters(levels.assign(notional=usd), close, RULE, "notional"))
    with pytest.raises(ValueError, match="weight='count'"):
        clusters(levels, close, RULE, "count")


def test_the_page_of_cards_uses_the_trade_levels(scanned) -> None:
    from liqlevels._scan import scan_cards

    result, _ = scanned
    cards = scan_cards(result, count=8, options=OPTIONS, rule=RULE)
    ranked = result.table[result.table["nearest_pct"].notna()]
    assert len(cards) == len(ranked) > 0
    for card, (_, row) in zip(cards, ranked.iterrows(), strict=True):
        assert row["symbol"] in card.title
        assert (card.clusters["distance_pct"] <= RULE.near).all()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 300),
       bin_pct=st.sampled_from([0.1, 0.5, 2.0]), dense=st.sampled_from([0.05, 0.25, 1.0]))
def test_notional_clusters_match_the_loop(seed, n, bin_pct, dense) -> None:
    """Random ended trade levels: the vectorised clusters give the loop's row, and the
    bins hold exactly the live lines' notional."""
    rng = np.random.default_rng(seed)
    close = 50.0
    trades = pd.DataFrame({
        "time": pd.Timestamp("2026-06-01", tz="UTC") + pd.to_timedelta(
            np.sort(rng.integers(0, 86_400_000, n)), "ms"),
        "price": close * np.exp(rng.normal(0, 0.01, n)),
        "quantity": rng.lognormal(3, 1.5, n), "side": rng.choice(["buy", "sell"], n)})
    levels = indicator.trade_levels(trades, mode="top_n", threshold=max(1, n // 4))
    bars = pd.date_range("2026-06-01", periods=30, freq="1h", tz="UTC")
    mid = close * np.exp(rng.normal(0, 0.02, len(bars)))
    candles = pd.DataFrame({"open": mid, "high": mid * 1.01, "low": mid * 0.99, "close": mid,
                            "volume": 1.0}, index=bars)
    levels = indicator.trade_level_ends(levels, candles)
    rule = ClusterRule(bin_pct=bin_pct, dense=dense)

    got = symbol_row(candles, OPTIONS, rule, levels=levels, weight="notional")
    want = loop_row(candles, levels, rule)
    for column in ("long_price", "long_distance_pct", "long_usd", "short_price",
                   "short_distance_pct", "short_usd", "near_usd"):
        np.testing.assert_allclose(got[column], want[column], rtol=1e-9, err_msg=column)
    assert got["live_lines"] == want["live_lines"] and got["near_side"] == want["near_side"]
    bins = clusters(levels, float(mid[-1]), rule, "notional")
    live = levels["end"].isna()
    np.testing.assert_allclose(bins["usd"].sum(), levels.loc[live, "notional"].sum(),
                               rtol=1e-9)
    assert bins["lines"].sum() == live.sum()


@pytest.mark.parametrize("kwargs, match", [
    ({"method": "trade"}, "method='trade' must be one of 'oi', 'trades'"),
    ({"method": "trades", "exchanges": ("okx",)}, "method='trades' reads .* okx has none"),
    ({"method": "trades", "trade_days": 0}, "trade_days=0"),
    ({"method": "trades", "trade_mode": "top_n", "trade_threshold": 0.5}, "trade_threshold"),
])
def test_bad_trade_options_fail_before_anything_starts(kwargs, match, monkeypatch) -> None:
    from liqlevels import _scan

    def nothing(*args, **kwargs):
        raise AssertionError("started for a scan that cannot run")

    monkeypatch.setattr(_scan, "dask_client", nothing)
    monkeypatch.setattr(feeds, "scan_clients", nothing)
    with pytest.raises((ValueError, TypeError), match=match):
        liqlevels.scan(["BTC/USDT:USDT"], **kwargs)


# -- the command ----------------------------------------------------------------------------------


# (its usage errors are in test_cli_scan.test_usage_errors_name_their_flag)


@pytest.mark.parametrize("argv, start, words", [
    (["--method", "trades", "--exchange", "okx"], "liqlevels: error: --method trades",
     ["binanceusdm", "bybit", "okx"]),
    (["--method", "trades", "--exchanges", "bybit,bitget"], "liqlevels: error: --method trades",
     ["bitget"]),
    (["--method", "trades", "--trade-mode", "portion", "--trade-threshold", "2"],
     "liqlevels: error: --trade-threshold", []),
    (["--trade-threshold", "5"], "liqlevels: error: --trade-threshold is for --method trades",
     []),
])
def test_trade_errors_are_one_line_before_any_cluster(argv, start, words, capsys,
                                                      monkeypatch) -> None:
    from liqlevels import _scan

    def no_cluster(*args, **kwargs):
        raise AssertionError("a cluster was started for a scan that cannot run")

    monkeypatch.setattr(_scan, "dask_client", no_cluster)
    assert main(["scan", "--no-png", *argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith(start) and len(err.splitlines()) == 1, err
    assert all(w in err for w in words), err


def test_the_command_writes_the_trades_scan(venues, window, quiet, tmp_path, capsys) -> None:
    binance, _, archive = venues
    out = tmp_path / "out"
    code = main(["scan", "--method", "trades", "--trade-mode", MODE, "--trade-threshold",
                 str(THRESHOLD), "--archive-url", archive.base_url, "--api-url",
                 binance.base_url, "--symbols", ",".join(SYMBOLS), "--bars", str(BARS),
                 "--cache-dir", str(tmp_path / "cache"), "--out", str(out), "--workers", "1",
                 "--rate-limit", "2", "--charts", "2", "--no-png"])
    text = capsys.readouterr()
    assert code == 0, text.err
    table = pd.read_parquet(out / "scan-binanceusdm-1h-trades.parquet")
    assert len(table) == 4 and (table["error"] != "").sum() == 2
    assert "4 symbols, 2 failed" in text.out
    page = (out / "scan-binanceusdm-1h-trades.html").read_text(encoding="utf-8")
    assert "live trade-based lines" in page
