"""The scan: clusters against a plain loop, and the whole scan on a fake exchange of 60
perpetuals (one delisted, one without open interest, one answering 5xx for good) computed on
a real two-worker LocalCluster, against a sequential loop over the same symbols."""

from __future__ import annotations

import math
import time
import warnings
from pathlib import Path

import ccxt
import numpy as np
import pandas as pd
import pytest
from fakes import point_at
from fakes._scan import BROKEN, DELISTED, NO_OI, FakeScanBybit, FakeScanExchange
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

import liqlevels
from liqlevels import feeds, indicator
from liqlevels._scan import (
    ClusterRule,
    clusters,
    compute_rows,
    rank_rows,
    run_scan,
    scan_batch,
    symbol_row,
)

ROOT = Path(__file__).resolve().parents[1]
HOUR = 3_600_000
BARS = 300
OPTIONS = indicator.OIOptions()
RULE = ClusterRule()


# -- the reference, from docs/scan.md ----------------------------------------------------------


def loop_clusters(levels: pd.DataFrame, close: float, rule: ClusterRule) -> list[dict]:
    """Live lines summed per side and bin, one line at a time."""
    size = close * rule.bin_pct / 100.0
    cells: dict[tuple[str, int], dict] = {}
    for line in levels.itertuples(index=False):
        if not pd.isna(line.end):
            continue
        usd = abs(line.oi_delta) * line.entry
        cell = cells.setdefault((line.side, math.floor(line.price / size)),
                                {"usd": 0.0, "pw": 0.0, "lines": 0})
        cell["usd"] += usd
        cell["pw"] += usd * line.price
        cell["lines"] += 1
    heaviest = {side: max((c["usd"] for (s, _), c in cells.items() if s == side), default=0.0)
                for side in ("long", "short")}
    out = []
    for (side, k), cell in cells.items():
        price = cell["pw"] / cell["usd"]
        out.append({"side": side, "k": k, "price": price, "usd": cell["usd"],
                    "lines": cell["lines"], "distance_pct": abs(price - close) / close * 100,
                    "dense": cell["usd"] >= rule.dense * heaviest[side]
                    and cell["usd"] >= rule.min_usd})
    return out


def loop_row(candles: pd.DataFrame, rule: ClusterRule) -> dict:
    """One symbol's row: the nearest dense cluster per side, the largest within ``near``."""
    close = float(candles["close"].iloc[-1])
    levels = indicator.oi_levels(candles)
    cells = loop_clusters(levels, close, rule)
    row = {"last_price": close, "live_lines": int(levels["end"].isna().sum())}
    for side in ("long", "short"):
        dense = [c for c in cells if c["side"] == side and c["dense"]]
        best = min(dense, key=lambda c: c["distance_pct"]) if dense else None
        for key in ("price", "distance_pct", "usd"):
            row[f"{side}_{key}"] = best[key] if best else math.nan
    near = [c for c in cells if c["distance_pct"] <= rule.near]
    top = max((c["usd"] for c in near), default=0.0)  # ties (within rounding): the nearest
    big = min((c for c in near if c["usd"] >= top * (1 - 1e-9)),
              key=lambda c: c["distance_pct"]) if near else None
    row["near_usd"] = big["usd"] if big else math.nan
    row["near_side"] = big["side"] if big else ""
    return row


def random_levels(seed: int, n: int = 400, close: float = 100.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    side = rng.choice(["long", "short"], n)
    price = np.where(side == "long", close * (1 - rng.uniform(0, 0.25, n)),
                     close * (1 + rng.uniform(0, 0.25, n)))
    start = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 500, n), "h")
    end = pd.Series(start + pd.Timedelta(hours=3)).where(rng.random(n) < 0.3)
    return pd.DataFrame({"start": start, "end": pd.to_datetime(end, utc=True), "side": side,
                         "leverage": rng.choice([5, 10, 25, 50, 100], n), "price": price,
                         "entry": price * rng.uniform(0.9, 1.1, n),
                         "tier": rng.integers(1, 4, n),
                         "oi_delta": rng.lognormal(3, 1.5, n) * rng.choice([-1, 1], n)})


# -- clusters and one symbol ------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("rule", [ClusterRule(), ClusterRule(bin_pct=0.1, dense=0.05),
                                  ClusterRule(bin_pct=2.0, dense=1.0, min_usd=5_000)])
def test_clusters_match_a_plain_loop(seed: int, rule: ClusterRule) -> None:
    levels = random_levels(seed)
    got = clusters(levels, 100.0, rule)
    want = pd.DataFrame(loop_clusters(levels, 100.0, rule))
    assert len(got) == len(want)
    merged = got.assign(k=np.floor(got["price_low"] / (100.0 * rule.bin_pct / 100) + 0.5)
                        ).merge(want, on=["side", "k"], suffixes=("", "_ref"))
    assert len(merged) == len(want)
    for column in ("price", "usd", "distance_pct"):
        np.testing.assert_allclose(merged[column], merged[f"{column}_ref"], rtol=1e-12)
    assert (merged["lines"] == merged["lines_ref"]).all()
    assert (merged["dense"] == merged["dense_ref"]).all()
    assert got["distance_pct"].is_monotonic_increasing
    inside = (got["price"] >= got["price_low"] - 1e-9) & (got["price"] < got["price_high"] + 1e-9)
    assert inside.all()


def test_cluster_sums_agree_with_the_heatmap_engine() -> None:
    """The notional per bin is indicator.heatmap's "notional" weight at the last bar."""
    candles = feeds.sample_candles(2000, seed=5)
    levels = indicator.oi_levels(candles)
    close = float(candles["close"].iloc[-1])
    got = clusters(levels, close, RULE)
    heat = indicator.heatmap(levels, candles.index[-1:], bin_size=close * RULE.bin_pct / 100,
                             weight="notional")
    for side in ("long", "short"):
        mine = got[got["side"] == side].sort_values("price_low")
        theirs = heat[heat[side] > 0].sort_values("price_low")
        np.testing.assert_allclose(mine["usd"], theirs[side], rtol=1e-9)
        np.testing.assert_allclose(mine["price_low"], theirs["price_low"], rtol=1e-9)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), bin_pct=st.sampled_from([0.1, 0.5, 1.0]),
       dense=st.sampled_from([0.1, 0.25, 0.9]))
def test_live_longs_sit_below_the_close_and_shorts_above(seed: int, bin_pct: float,
                                                         dense: float) -> None:
    candles = feeds.sample_candles(600, seed=seed)
    rule = ClusterRule(bin_pct=bin_pct, dense=dense)
    row = symbol_row(candles, OPTIONS, rule)
    close = row["last_price"]
    assert not (row["long_price"] >= close) and not (row["short_price"] <= close)
    bins = clusters(indicator.oi_levels(candles), close, rule)
    for side in ("long", "short"):
        dense_bins = bins[(bins["side"] == side) & bins["dense"]]
        assert dense_bins.empty == math.isnan(row[f"{side}_usd"])
        if len(dense_bins):  # the nearest dense bin, and every dense bin is big enough
            assert row[f"{side}_distance_pct"] == dense_bins["distance_pct"].min()
            heaviest = bins.loc[bins["side"] == side, "usd"].max()
            assert (dense_bins["usd"] >= dense * heaviest).all()
    if row["near_side"]:
        assert row["near_distance_pct"] <= rule.near
    for side in ("long", "short"):
        if row[f"{side}_distance_pct"] <= rule.near:  # the largest within near is no smaller
            assert row["near_usd"] >= row[f"{side}_usd"]
    expected = np.nanmin([row["long_distance_pct"], row["short_distance_pct"], np.inf])
    assert row["nearest_pct"] == expected or (math.isnan(row["nearest_pct"]) and
                                              math.isinf(expected))


def test_no_live_line_means_no_cluster() -> None:
    candles = feeds.sample_candles(200, seed=1)
    levels = indicator.oi_levels(candles).assign(end=candles.index[-1])
    assert clusters(levels, 10.0).empty
    row = symbol_row(candles.iloc[:30], OPTIONS)  # shorter than the baseline: no lines
    assert row["live_lines"] == 0 and math.isnan(row["nearest_pct"]) and row["error"] == ""


def test_cluster_rule_checks_its_numbers() -> None:
    for bad in ({"bin_pct": 0}, {"dense": 1.5}, {"near": -1}, {"min_usd": -5}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            ClusterRule(**bad)


def test_ranking_puts_the_nearest_first_then_no_cluster_then_errors() -> None:
    rows = [{"exchange": "x", "symbol": s, "nearest_pct": p, "error": e, "live_lines": 1,
             "bars": 5, "last_bar": pd.Timestamp("2026-01-01", tz="UTC")}
            for s, p, e in [("A", 2.0, ""), ("B", math.nan, "FeedError: gone"),
                            ("C", math.nan, ""), ("D", 0.5, ""), ("E", 2.0, "")]]
    table = rank_rows(rows)
    assert table["symbol"].tolist() == ["D", "A", "E", "C", "B"]
    assert table["rank"].tolist() == [1, 2, 3, 4, 5]


# -- the whole scan on the fake exchange ----------------------------------------------------


@pytest.fixture(scope="module")
def server():
    with FakeScanExchange(60) as fake:
        yield fake


@pytest.fixture(scope="module")
def window(server) -> tuple[int, int]:
    until = server.now - server.now % HOUR
    return until - BARS * HOUR, until


@pytest.fixture(scope="module")
def quick_retries():
    from liqlevels.feeds import _retry

    sleeps: list[float] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_retry, "_sleep", sleeps.append)
        mp.setattr(feeds.settings, "tries", 3)
        mp.setattr(feeds.settings, "progress", False)
        yield sleeps


@pytest.fixture(scope="module")
def scanned(server, window, client, quick_retries, tmp_path_factory):
    cache = tmp_path_factory.mktemp("scan-cache")
    server.reset_log()
    result = run_scan(since=window[0], until=window[1], client=client, cache_dir=cache,
                      api_url=server.base_url, ccxt_options={"rateLimit": 2})
    return result, cache, server.calls()


@pytest.fixture(scope="module")
def reference(server, window, tmp_path_factory, quick_retries) -> dict[str, object]:
    """A plain sequential loop over the same symbols, each fetched on its own."""
    exchange = point_at(ccxt.binanceusdm({"enableRateLimit": True, "rateLimit": 1}),
                        server.base_url)
    cache = tmp_path_factory.mktemp("reference-cache")
    out: dict[str, object] = {}
    for base in server.content:
        symbol = f"{base}/USDT:USDT"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", feeds.FeedWarning)  # NOOI's empty pages
                candles = feeds.fetch_candles(exchange, symbol, "1h", since=window[0],
                                              until=window[1], cache_dir=cache)
        except feeds.FeedError as exc:
            out[symbol] = exc
            continue
        out[symbol] = (candles, loop_row(candles, RULE))
    return out


def test_the_scan_matches_a_sequential_loop(scanned, reference) -> None:
    table = scanned[0].table
    assert len(table) == 60 and table["rank"].tolist() == list(range(1, 61))
    rows = table.set_index("symbol")
    for symbol, want in reference.items():
        got = rows.loc[symbol]
        if isinstance(want, Exception):
            assert got["error"].startswith("FeedError"), symbol
            continue
        candles, loop = want
        assert got["error"] == "" and got["bars"] == len(candles) == BARS
        assert got["last_bar"] == candles.index[-1]
        for key in ("last_price", "long_price", "long_distance_pct", "long_usd", "short_price",
                    "short_distance_pct", "short_usd", "near_usd"):
            np.testing.assert_allclose(got[key], loop[key], rtol=1e-9, err_msg=f"{symbol} {key}")
        assert got["live_lines"] == loop["live_lines"] and got["near_side"] == loop["near_side"]
    ok = [(min(v[1]["long_distance_pct"], v[1]["short_distance_pct"]), s)
          for s, v in reference.items() if not isinstance(v, Exception)]
    ranked = [s for _, s in sorted(ok)]
    assert table["symbol"].tolist()[: len(ranked)] == ranked


def test_failing_symbols_are_rows_with_their_error(scanned) -> None:
    table = scanned[0].table
    failed = table[table["error"] != ""].set_index("symbol")["error"]
    assert sorted(failed.index) == sorted(f"{b}/USDT:USDT" for b in (DELISTED, NO_OI, BROKEN))
    assert "Invalid symbol" in failed[f"{DELISTED}/USDT:USDT"]
    assert "no open-interest history" in failed[f"{NO_OI}/USDT:USDT"]
    assert "503" in failed[f"{BROKEN}/USDT:USDT"] and "failed after 3 tries" in failed[
        f"{BROKEN}/USDT:USDT"]
    assert (table.tail(3)["error"] != "").all()  # ranked last
    assert any(NO_OI in note for note in scanned[0].notes)


def test_every_request_goes_through_the_one_async_client(server, window, client, tmp_path,
                                                         quick_retries, monkeypatch) -> None:
    import ccxt.async_support

    base = ccxt.async_support.Exchange
    original, seen = base.fetch, []

    async def counted(self, url, *args, **kwargs):
        seen.append((id(self), url))
        return await original(self, url, *args, **kwargs)

    monkeypatch.setattr(base, "fetch", counted)
    server.reset_log()
    run_scan(["CAA/USDT:USDT", "CAB/USDT:USDT", "CAC/USDT:USDT"], since=window[0],
             until=window[1], client=client, cache_dir=tmp_path, api_url=server.base_url,
             ccxt_options={"rateLimit": 2})
    assert len(seen) == server.count() > 6  # markets, then candles and OI of each symbol
    assert len({who for who, _ in seen}) == 1


def test_a_symbol_that_keeps_failing_is_retried_whole(scanned, server, quick_retries) -> None:
    calls = [r for r in scanned[2]
             if r.path == server.KLINES and r.params.get("symbol") == f"{BROKEN}USDT"]
    assert len(calls) == 3 * 2  # request tries x symbol tries (a fresh cache: one window)


def test_cached_candles_read_back_what_fetch_candles_returned(scanned, reference) -> None:
    result = scanned[0]
    for (_, symbol), source in list(result.sources.items())[:8]:
        frame = source.read()
        want = reference[symbol][0]  # type: ignore[index]
        assert_frame_equal(frame, want)
        assert frame.attrs == want.attrs


def test_a_second_run_reuses_the_cache(scanned, server, window, client) -> None:
    first, cache, calls = scanned
    first_requests = len(calls)
    server.reset_log()
    again = run_scan(since=window[0], until=window[1], client=client, cache_dir=cache,
                     api_url=server.base_url, ccxt_options={"rateLimit": 2})
    assert server.count() <= 0.2 * first_requests, (server.count(), first_requests)
    assert again.fetched == 0 and first.fetched == 57
    assert_frame_equal(again.table, first.table)


def test_the_workers_import_liqlevels_from_this_tree(client) -> None:
    def where() -> str:
        import liqlevels

        return liqlevels.__file__

    files = client.run(where)
    assert len(files) == 2
    assert all(Path(f).resolve().is_relative_to(ROOT) for f in files.values()), files


def test_top_n_takes_the_largest_quote_volume(server, quick_retries) -> None:
    from liqlevels.feeds import scan_clients, top_symbols

    with scan_clients(["binanceusdm"], api_url=server.base_url,
                      options={"rateLimit": 2}) as fetchers:
        got = top_symbols(fetchers["binanceusdm"], 7)
    by_volume = sorted(server.content, key=lambda b: -server.quote_volume(b))
    assert got == [f"{b}/USDT:USDT" for b in by_volume[:7]]


def test_symbols_named_by_the_caller_and_an_unknown_one(server, window, client, tmp_path,
                                                        quick_retries) -> None:
    table = liqlevels.scan(["CAB/USDT:USDT", "NOPE/USDT:USDT", "CAA/USDT:USDT"],
                           since=window[0], until=window[1], client=client, cache_dir=tmp_path,
                           api_url=server.base_url, ccxt_options={"rateLimit": 2})
    assert sorted(table["symbol"]) == ["CAA/USDT:USDT", "CAB/USDT:USDT", "NOPE/USDT:USDT"]
    nope = table.set_index("symbol").loc["NOPE/USDT:USDT", "error"]
    assert "not a market" in nope and table["symbol"].iloc[-1] == "NOPE/USDT:USDT"
    assert set(table.attrs["timings"]) >= {"fetch_s", "compute_s"}
    assert client.status == "running"  # the caller's client is left open


def test_several_exchanges_give_a_row_per_exchange_and_symbol(server, window, client,
                                                             tmp_path, quick_retries) -> None:
    """The same markets on a second venue (Bybit's API: newest-first pages, cursor paging,
    amounts only) give the same rows, under their own exchange."""
    symbols = ["CAA/USDT:USDT", "CAD/USDT:USDT", "CAH/USDT:USDT"]
    with FakeScanBybit(60, end=server.data.now) as bybit:
        table = liqlevels.scan(symbols, exchanges=["binanceusdm", "bybit"], since=window[0],
                               until=window[1], client=client, cache_dir=tmp_path,
                               api_url={"binanceusdm": server.base_url,
                                        "bybit": bybit.base_url},
                               ccxt_options={"rateLimit": 2})
    assert len(table) == 6 and (table["error"] == "").all()
    assert sorted(set(zip(table["exchange"], table["symbol"], strict=True))) == sorted(
        (e, s) for e in ("binanceusdm", "bybit") for s in symbols)
    by = {e: part.set_index("symbol").sort_index() for e, part in table.groupby("exchange")}
    for column in ("last_price", "long_usd", "short_distance_pct", "live_lines"):
        np.testing.assert_allclose(by["bybit"][column], by["binanceusdm"][column], rtol=1e-9)
    assert (tmp_path / "rest" / "bybit").is_dir() and (tmp_path / "rest" / "binanceusdm").is_dir()


def test_an_interrupt_cancels_the_queued_batches(scanned, client) -> None:
    sources = list(scanned[0].sources.values())
    seen: list[int] = []

    def advance(n: int) -> None:
        seen.append(n)
        raise KeyboardInterrupt

    def tasks(dask_scheduler) -> list[str]:
        return [str(key) for key in dask_scheduler.tasks]

    # Only this call's batches count: earlier tests on this module's cluster may still hold
    # keys (futures in reference cycles go when the garbage collector runs, not before).
    before = set(client.run_on_scheduler(tasks))
    with pytest.raises(KeyboardInterrupt):
        compute_rows(sources, client, options=OPTIONS, rule=RULE, batch_size=1,
                     advance=advance)
    assert seen == [1]

    def left() -> set[str]:
        return set(client.run_on_scheduler(tasks)) - before

    deadline = time.monotonic() + 30
    while left() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert left() == set()


def test_a_batch_reports_a_broken_cache_file_in_its_row(scanned, tmp_path) -> None:
    source = next(iter(scanned[0].sources.values()))
    broken = type(source)(**{**source.__dict__, "cache_dir": str(tmp_path)})  # empty cache
    rows = scan_batch([broken, source], OPTIONS, RULE)
    assert rows[0]["error"] == "no bars in the range" and rows[0]["bars"] == 0
    assert rows[1]["error"] == "" and rows[1]["bars"] == BARS


# -- the page ---------------------------------------------------------------------------


@pytest.mark.browser
def test_the_page_of_small_charts_draws_in_chromium(scanned, tmp_path) -> None:
    from liqlevels import charts
    from liqlevels._scan import scan_cards
    from liqlevels.charts._browser import open_page

    if charts._browser.chromium_path() is None:
        pytest.skip("no Chromium")
    cards = scan_cards(scanned[0], count=6, options=OPTIONS, rule=RULE)
    assert [c.title.split()[1] for c in cards] == scanned[0].table["symbol"].head(6).tolist()
    path = tmp_path / "scan.html"
    path.write_text(charts.scan_page(cards, title="<b>scan</b>", subtitle="fake"),
                    encoding="utf-8")
    with open_page(path, width=1200, height=800) as page:
        state = page.evaluate("() => ({cards: __liqlevels.cards, bands: __liqlevels.bands, "
                              "marks: __liqlevels.marks, error: __liqlevels.error, "
                              "title: document.title, h1: document.querySelector('h1')"
                              ".textContent, canvases: document.querySelectorAll('canvas')"
                              ".length})")
        png = page.screenshot()
    assert state["error"] is None and state["cards"] == 6
    assert state["marks"] == sum(len(c.marks) for c in cards) >= 6
    assert state["bands"] >= 6 and state["canvases"] >= 6
    assert state["h1"] == "<b>scan</b>"  # text, never markup
    assert len(png) > 20_000
