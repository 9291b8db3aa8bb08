"""Nothing escapes its root: user strings name files only through vocab.safe_filename, and
every path built under the cache root or an output folder is checked to stay there."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fakes import fake_exchange

from liqlevels import feeds
from liqlevels._app import file_stem, safe_name
from liqlevels.cli import main
from liqlevels.feeds._cache import OHLCV, SeriesStore
from liqlevels.vocab import path_under, safe_filename

SYMBOL = "SOL/USDT:USDT"
HOUR = 3_600_000
TRAVERSALS = ["../../x", "a/b", "..", "C:\\x", ""]


def _files(root: Path) -> set[str]:
    """Every file and link under ``root``, relative to it."""
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def _nest(tmp_path: Path) -> Path:
    """A folder three levels down, so that a '../../x' from it still lands in tmp_path."""
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    return deep


# -- the one naming function ----------------------------------------------------------------
@pytest.mark.parametrize("text", [*TRAVERSALS, ".", ".hidden", "a b", "a\\b", "x\x00", "é",
                                  "x" * 121, "a..b"])
def test_safe_filename_refuses_anything_that_is_not_one_plain_name(text: str) -> None:
    with pytest.raises(ValueError, match=r"--name .* cannot name a file: .*letters, digits"):
        safe_filename(text, "--name")
    if text != "a/b":  # a symbol's '/' and ':' become '_' first: 'a_b' is a fine name
        with pytest.raises(ValueError, match=r"symbol=.* cannot name a file"):
            safe_filename(text, "symbol", sep="_")


def test_safe_filename_keeps_plain_names_and_maps_ccxt_symbols_the_way_the_cache_did() -> None:
    assert safe_filename("BTC-USDT_1h.v2", "--name") == "BTC-USDT_1h.v2"
    assert safe_filename("BTC/USDT:USDT", "symbol", sep="_") == "BTC_USDT_USDT"
    assert safe_filename("BTC/USDT:USDT-261225", "symbol", sep="_") == "BTC_USDT_USDT-261225"
    assert safe_name("BTC/USDT:USDT", "1h") == "BTC-USDT-USDT_1h"  # the CLI's output stem
    with pytest.raises(TypeError, match="symbol=3"):
        safe_filename(3, "symbol")
    store = SeriesStore(Path("/cache"), "binanceusdm", "BTC/USDT:USDT", "ohlcv-1h", OHLCV, HOUR)
    assert store.path == Path("/cache/rest/binanceusdm/BTC_USDT_USDT/ohlcv-1h.parquet")


def test_path_under_follows_links_and_refuses_a_way_out(tmp_path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    assert path_under(root, "a", "b.csv") == root / "a" / "b.csv"
    (root / "link").symlink_to(outside, target_is_directory=True)
    (root / "file.html").symlink_to(outside / "file.html")
    for parts in (("link", "x.csv"), ("file.html",), ("..", "x"), ("/etc/passwd",)):
        with pytest.raises(ValueError, match=r"outside --out .*root"):
            path_under(root, *parts, what="--out")


# -- the cache ------------------------------------------------------------------------------
@pytest.mark.parametrize("symbol", ["../../x", "..", "a\\b", "C:\\x"])
def test_a_market_whose_symbol_would_leave_the_cache_is_refused_and_nothing_written(
        tmp_path, symbol: str) -> None:
    cache = _nest(tmp_path)
    with fake_exchange("binanceusdm") as (ex, server):
        ex.load_markets()
        ex.markets[symbol] = {**ex.markets[SYMBOL], "symbol": symbol}  # as a hostile exchange
        with pytest.raises(ValueError, match="cannot name a file"):
            feeds.fetch_candles(ex, symbol, "1h", since=server.now - 3 * HOUR, cache_dir=cache)
        assert server.count(server.KLINES) == 0
    assert _files(tmp_path) == set()


def test_an_exchange_id_that_would_leave_the_cache_is_refused(tmp_path) -> None:
    cache = _nest(tmp_path)
    with fake_exchange("bybit") as (ex, server):
        ex.id = "../../evil"
        with pytest.raises(ValueError, match=r"exchange='\.\./\.\./evil' cannot name a file"):
            feeds.fetch_candles(ex, SYMBOL, "1h", since=server.now - 3 * HOUR, cache_dir=cache)
    assert _files(tmp_path) == set()


def test_a_link_in_the_cache_that_leads_out_of_it_is_not_written_through(tmp_path) -> None:
    cache, outside = tmp_path / "cache", tmp_path / "outside"
    outside.mkdir()
    (cache / "rest").mkdir(parents=True)
    (cache / "rest" / "binanceusdm").symlink_to(outside, target_is_directory=True)
    with fake_exchange("binanceusdm") as (ex, server):
        with pytest.raises(ValueError, match="outside cache_dir"):
            feeds.fetch_candles(ex, SYMBOL, "1h", since=server.now - 3 * HOUR, cache_dir=cache)
    assert _files(outside) == set()


@pytest.mark.parametrize("symbol", ["../../x", "..", "a\\b"])
def test_an_archive_symbol_that_would_leave_the_cache_is_refused(tmp_path, symbol: str) -> None:
    cache = _nest(tmp_path)
    with pytest.raises(ValueError, match="cannot name a file"):
        feeds.archive_symbol(symbol)
    with pytest.raises(ValueError, match="cannot name a file"):
        feeds.download_archive("binance", "aggTrades", symbol, "2024-03-01", cache_dir=cache,
                               base_url="http://127.0.0.1:9")  # refused before any request
    assert _files(tmp_path) == set()


# -- the command's outputs ------------------------------------------------------------------
@pytest.mark.parametrize("name", TRAVERSALS)
def test_a_bad_name_is_one_error_line_naming_the_flag_and_nothing_is_written(
        tmp_path, capsys, name: str) -> None:
    out = _nest(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(["demo", "--bars", "60", "--no-png", "--out", str(out), "--name", name])
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert err.count("\n") == 1 and err.startswith("liqlevels: error: argument --name: ")
    assert "cannot name a file" in err
    assert _files(tmp_path) == set()
    with pytest.raises(Exception, match="cannot name a file"):
        file_stem(name)


def test_an_output_file_that_is_a_link_out_of_the_folder_is_refused(tmp_path, capsys) -> None:
    out, outside = tmp_path / "out", tmp_path / "outside"
    out.mkdir()
    outside.mkdir()
    (outside / "demo.html").write_text("mine")
    (out / "demo.html").symlink_to(outside / "demo.html")
    code = main(["demo", "--bars", "60", "--no-png", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and err.startswith("liqlevels: error: ")
    assert "outside --out" in err
    assert (outside / "demo.html").read_text() == "mine"
    assert sorted(os.listdir(out)) == ["demo.html"]


def test_the_mapping_facade_names_its_files_safely(tmp_path) -> None:
    from liqlevels import HistoricalMapping

    cache = _nest(tmp_path)
    for symbol in ("../etc", "..", "a\\b"):
        with pytest.raises(ValueError, match="archive symbol"):
            HistoricalMapping("2024-03-01", "2024-03-02", symbol, "binance", out_dir=cache,
                              cache_dir=cache)
    assert _files(tmp_path) == set()
