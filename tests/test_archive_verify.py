"""Archive files are verified before they are cached and before they are used: Binance's
SHA-256 ``.CHECKSUM``, Bybit's whole gzip stream and trades header; a bad ``.part`` is never
resumed into a cached file, and two downloaders of one file do not fail each other.
Everything runs against the loopback fake archive (tests/fakes/_archive.py)."""

from __future__ import annotations

import gzip
import hashlib
import re
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import pandas as pd
import pytest
from fakes import FakeArchive, Fault, agg_trades_csv, checksum_text, random_trades

from liqlevels import feeds
from liqlevels.feeds import FeedError, FeedWarning

D0 = 1_780_272_000_000  # 2026-06-01 00:00 UTC
DAY = "2026-06-01"
AGG = "data/futures/um/daily/aggTrades/SOLUSDT/SOLUSDT-aggTrades-{}.zip"
BYBIT = "trading/SOLUSDT/SOLUSDT{}.csv.gz"
EXCHANGES = ["binance", "bybit"]

pytestmark = pytest.mark.usefixtures("waits")  # retries record their waits (conftest)


@pytest.fixture(scope="module")
def trades() -> pd.DataFrame:
    return random_trades(4000, seed=5, start=D0)


def _serve(archive: FakeArchive, exchange: str, trades: pd.DataFrame) -> str:
    """Publish the day's trades file; returns its path on the server."""
    if exchange == "binance":
        return archive.put_binance(AGG.format(DAY), agg_trades_csv(trades))
    return archive.put_bybit("SOLUSDT", DAY, trades)


def _get(exchange: str, cache: Path) -> Path:
    kind = "aggTrades" if exchange == "binance" else "trades"
    return feeds.download_archive(exchange, kind, "SOLUSDT", DAY, cache_dir=cache)


def _dest(cache: Path, rel: str) -> Path:
    return cache / "archives" / ("binance" if rel.startswith("/data") else "bybit") / rel[1:]


def _files(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.rglob("*") if p.is_file())


def _no_leftovers(cache: Path) -> None:
    """No ``.part``, ``.lock`` or temporary file is left in the cache."""
    assert not [n for n in _files(cache) if not re.search(r"\.(zip|gz|CHECKSUM)$", n)]


# -- a bad download is never cached ----------------------------------------------------------
@pytest.mark.parametrize("exchange", EXCHANGES)
def test_a_corrupt_body_once_is_downloaded_again(tmp_path, archive, trades, exchange) -> None:
    rel = _serve(archive, exchange, trades)
    archive.fail(rel, Fault("corrupt"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a bad answer the download repairs is not news
        path = _get(exchange, tmp_path)
    assert path.read_bytes() == archive.files[rel]
    assert [c.headers.get("range") for c in archive.calls(rel)] == [None, None]
    _no_leftovers(tmp_path)


@pytest.mark.parametrize(("exchange", "fault", "reason"), [
    ("binance", Fault("corrupt"), r"SHA-256 [0-9a-f]{64} does not match"),
    ("bybit", Fault("corrupt"), "gzip"),
    ("bybit", Fault("cut", keep=0.7), "gzip"),  # a truncated gzip stream served as whole
])
def test_a_file_bad_twice_raises_naming_file_url_and_reason(tmp_path, archive, trades,
                                                            exchange, fault, reason) -> None:
    rel = _serve(archive, exchange, trades)
    archive.fail(rel, fault, fault)
    with pytest.raises(FeedError, match=reason) as info:
        _get(exchange, tmp_path)
    message = str(info.value)
    assert str(_dest(tmp_path, rel)) in message and archive.base_url + rel in message
    assert _files(tmp_path) == []  # nothing unverified is kept, not even a .part


def test_a_gzip_without_the_trades_header_is_refused(tmp_path, archive) -> None:
    rel = archive.put(BYBIT.format(DAY), gzip.compress(b"<html><body>Maintenance</body>"
                                                       b"</html>\n", mtime=0))
    with pytest.raises(FeedError, match=r"header.*timestamp"):
        _get("bybit", tmp_path)
    assert _files(tmp_path) == []
    assert archive.count(rel) == 2


def test_a_served_checksum_of_another_file_is_refused(tmp_path, archive, trades) -> None:
    rel = _serve(archive, "binance", trades)
    archive.put(rel + ".CHECKSUM", checksum_text("SOLUSDT-aggTrades-2026-05-31.zip",
                                                 archive.files[rel]))
    with pytest.raises(FeedError, match=r"CHECKSUM.*SOLUSDT-aggTrades-2026-06-01\.zip"):
        _get("binance", tmp_path)
    assert _files(tmp_path) == []


# -- a .part is resumed only into a file that verifies ---------------------------------------
@pytest.mark.parametrize("exchange", EXCHANGES)
def test_a_garbage_part_is_not_resumed_into_the_file(tmp_path, archive, trades,
                                                     exchange) -> None:
    rel = _serve(archive, exchange, trades)
    part = _dest(tmp_path, rel).with_name(_dest(tmp_path, rel).name + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"\x1f\x8b" + bytes(range(256)) * 4)  # gzip magic, then rubbish
    path = _get(exchange, tmp_path)
    assert path.read_bytes() == archive.files[rel]
    # resumed first (the .part might have been good), then fetched whole once
    assert [c.headers.get("range") for c in archive.calls(rel)] == ["bytes=1026-", None]
    _no_leftovers(tmp_path)


# -- a cached file is verified before use ----------------------------------------------------
@pytest.mark.parametrize(("exchange", "kept", "reason"), [
    ("binance", True, "SHA-256"),  # the archive's checksum, kept beside the file
    ("bybit", True, "SHA-256"),  # the file's own, kept once the gzip check passed
    ("bybit", False, "gzip"),  # none kept: the whole gzip stream is checked again
])
def test_a_corrupt_cached_file_is_replaced_with_a_warning(tmp_path, archive, trades,
                                                         exchange, kept, reason) -> None:
    rel = _serve(archive, exchange, trades)
    path = _get(exchange, tmp_path)
    if not kept:
        path.with_name(path.name + ".CHECKSUM").unlink()
    path.write_bytes(path.read_bytes()[:-40])  # a crash or a full disk cut it short
    with pytest.warns(FeedWarning, match=re.escape(str(path)) + f".*{reason}"):
        again = _get(exchange, tmp_path)
    assert again == path and path.read_bytes() == archive.files[rel]
    assert archive.count(rel) == 2
    _no_leftovers(tmp_path)


@pytest.mark.parametrize("exchange", EXCHANGES)
def test_a_cached_file_that_verifies_is_used_without_asking(tmp_path, archive, trades,
                                                           exchange) -> None:
    _serve(archive, exchange, trades)
    path = _get(exchange, tmp_path)
    served = archive.count()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _get(exchange, tmp_path) == path
    assert archive.count() == served


@pytest.mark.parametrize("cached", [
    "not a checksum\n",
    f"{'0' * 63}  SOLUSDT-aggTrades-{DAY}.zip\n",  # 63 hex digits
    None,  # filled in: the right digest for another file's name
])
def test_a_malformed_cached_checksum_is_fetched_again(tmp_path, archive, trades,
                                                      cached) -> None:
    rel = _serve(archive, "binance", trades)
    path = _get("binance", tmp_path)
    checksum = path.with_name(path.name + ".CHECKSUM")
    checksum.write_text(cached or checksum_text("other.zip", path.read_bytes()).decode())
    with pytest.warns(FeedWarning, match=re.escape(str(checksum))):
        assert _get("binance", tmp_path) == path
    assert checksum.read_bytes() == archive.files[rel + ".CHECKSUM"]
    assert archive.count(rel) == 1 and archive.count(rel + ".CHECKSUM") == 2


def test_a_cached_bybit_file_is_checked_in_full_only_without_its_checksum(
        tmp_path, archive, trades, monkeypatch) -> None:
    _serve(archive, "bybit", trades)
    checked: list[Path] = []
    full_check = feeds._archive._BYBIT_CHECK
    monkeypatch.setattr(feeds._archive, "_BYBIT_CHECK",
                        lambda path: checked.append(path) or full_check(path))
    path = _get("bybit", tmp_path)
    checksum = path.with_name(path.name + ".CHECKSUM")
    assert checked == [path.with_name(path.name + ".part")]
    assert checksum.read_text() == checksum_text(path.name, path.read_bytes()).decode()
    assert _get("bybit", tmp_path) == path and len(checked) == 1  # the kept SHA-256 does
    checksum.write_text("rubbish")
    with pytest.warns(FeedWarning, match=re.escape(str(checksum)) + ".*in full"):
        assert _get("bybit", tmp_path) == path
    assert checked[1:] == [path]
    assert checksum.read_text() == checksum_text(path.name, path.read_bytes()).decode()
    assert archive.count() == 1  # Bybit publishes no checksum: nothing else was asked


def test_a_missing_cached_checksum_is_fetched_quietly(tmp_path, archive, trades) -> None:
    rel = _serve(archive, "binance", trades)
    path = _get("binance", tmp_path)
    checksum = path.with_name(path.name + ".CHECKSUM")
    checksum.unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _get("binance", tmp_path) == path
    assert checksum.read_bytes() == archive.files[rel + ".CHECKSUM"]
    assert archive.count(rel) == 1


def test_an_unreadable_klines_file_is_fetched_again_then_named(tmp_path, archive) -> None:
    rel = archive.put_binance(f"data/futures/um/daily/klines/SOLUSDT/1h/SOLUSDT-1h-{DAY}.zip",
                              b"open_time,open\nnot,numbers\n")  # verifies, cannot be read
    with pytest.warns(FeedWarning, match="unreadable"), \
            pytest.raises(ValueError, match=rf"SOLUSDT-1h-{DAY}\.zip"):
        feeds.archive_candles("SOLUSDT", "1h", since=D0, until=D0 + 3_600_000,
                              cache_dir=tmp_path)
    assert archive.count(rel) == 2  # deleted and downloaded once more, not just deleted


# -- two downloaders of one file -------------------------------------------------------------
_CHILD = """
import sys
from liqlevels import feeds
print("ready", flush=True)
sys.stdin.readline()
path = feeds.download_archive(sys.argv[1], sys.argv[2], "SOLUSDT", sys.argv[3],
                              cache_dir=sys.argv[4], base_url=sys.argv[5])
print(path, flush=True)
"""


def _start_child(exchange: str, cache: Path, base_url: str) -> subprocess.Popen:
    kind = "aggTrades" if exchange == "binance" else "trades"
    return subprocess.Popen(
        [sys.executable, "-P", "-c", _CHILD, exchange, kind, DAY, str(cache), base_url],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _run_together(children: list[subprocess.Popen]) -> list[tuple[str, str]]:
    """Let ``children`` (waiting after "ready") go at once; their stdout and stderr."""
    try:
        for child in children:
            assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        return [child.communicate(timeout=60) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()


def test_two_processes_downloading_one_file_both_succeed(tmp_path, archive, trades) -> None:
    rel = _serve(archive, "binance", trades)
    archive.fail(rel, Fault("slow", delay=1.5), Fault("slow", delay=1.5))
    children = [_start_child("binance", tmp_path, archive.base_url) for _ in range(2)]
    results = _run_together(children)  # the first download takes 1.5 s: they overlap
    for child, (out, err) in zip(children, results, strict=True):
        assert child.returncode == 0, err
        assert Path(out.strip()) == _dest(tmp_path, rel)
    data = _dest(tmp_path, rel).read_bytes()
    assert data == archive.files[rel]
    expected = _dest(tmp_path, rel + ".CHECKSUM").read_text().split()[0]
    assert hashlib.sha256(data).hexdigest() == expected
    assert archive.count(rel) == 1  # the second waited for the first, then used its file
    _no_leftovers(tmp_path)


def test_two_threads_downloading_one_file_both_succeed(tmp_path, archive, trades) -> None:
    rel = _serve(archive, "bybit", trades)
    archive.fail(rel, Fault("slow", delay=1.0), Fault("slow", delay=1.0))
    start = threading.Barrier(2)
    results: list[Path | BaseException] = []

    def fetch() -> None:
        start.wait()
        try:
            results.append(_get("bybit", tmp_path))
        except BaseException as exc:  # reported by the assertion below
            results.append(exc)

    threads = [threading.Thread(target=fetch) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results == [_dest(tmp_path, rel)] * 2
    assert _dest(tmp_path, rel).read_bytes() == archive.files[rel]
    assert archive.count(rel) == 1  # one download; the other thread waited for it
    _no_leftovers(tmp_path)
