"""Fast, visible failure (issue 16 item 4): no silent waits, no retries that cannot help,
no traceback for Ctrl-C, and every command-line input checked before the network."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import ccxt
import pytest
from fakes import Fault, fake_exchange

from liqlevels import feeds
from liqlevels.feeds import FeedError, _retry

SYMBOL = "BTC/USDT:USDT"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def notices(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Retry notices recorded instead of printed."""
    said: list[str] = []
    monkeypatch.setattr(feeds.settings, "notify", said.append)
    return said


def test_a_refused_connection_fails_at_once_without_retries(tmp_path, waits, notices) -> None:
    exchange = ccxt.bybit({"enableRateLimit": False})
    exchange.urls["api"] = {key: f"http://127.0.0.1:{_closed_port()}"
                            for key in exchange.urls["api"]}
    started = time.monotonic()
    with pytest.raises(FeedError, match="the connection was refused") as info:
        feeds.fetch_candles(exchange, SYMBOL, "1h", since="2026-06-01", until="2026-06-02",
                            cache_dir=tmp_path)
    assert waits == [] and notices == []  # not one retry
    assert time.monotonic() - started < 5
    assert "--api-url" in str(info.value)


def test_a_name_that_does_not_resolve_is_named() -> None:
    error = ccxt.NetworkError("bybit GET http://no-such-host.invalid/")
    error.__cause__ = socket.gaierror(-2, "Name or service not known")
    assert _retry.unreachable(error) == "the host name does not resolve"
    assert _retry.unreachable(ccxt.NetworkError("read timeout")) is None


def test_each_retry_says_when_and_why(tmp_path, waits, notices) -> None:
    with fake_exchange("binanceusdm") as (ex, server):
        server.fail(server.KLINES, Fault.status(502), Fault.status(503))
        feeds.fetch_candles(ex, SYMBOL, "1h", since=server.now - 86_400_000,
                            cache_dir=tmp_path)
    assert len(notices) == 2 and len(waits) == 2
    assert notices[0].startswith("binanceusdm fetch_ohlcv: retrying 2/4 in 1 s: ")
    assert notices[1].startswith("binanceusdm fetch_ohlcv: retrying 3/4 in 2 s: ")


def test_a_long_retry_after_is_an_error_that_says_when_to_come_back(tmp_path, waits,
                                                                     notices) -> None:
    with fake_exchange("binanceusdm") as (ex, server):
        server.fail(server.KLINES, Fault.status(429, retry_after=600))
        with pytest.raises(FeedError, match=r"wait 600 s \(Retry-After\); try again after "
                                            r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"):
            feeds.fetch_candles(ex, SYMBOL, "1h", since=server.now - 86_400_000,
                                cache_dir=tmp_path)
    assert waits == [] and notices == []


def test_retry_notices_go_to_stderr_by_default(capsys) -> None:
    _retry.retry_notice("okx fetch_ohlcv", 0, 5, 1.0, "ExchangeNotAvailable: 503\nbody")
    assert capsys.readouterr().err == (
        "okx fetch_ohlcv: retrying 2/5 in 1 s: ExchangeNotAvailable: 503\n")


# -- the command line: every input checked before the network, one line naming the flag ----

BAD_INPUTS = [
    (["demo", "--bars", "0"], 2, "--bars"),
    (["demo", "--bars", "many"], 2, "--bars"),
    (["demo", "--bins", "0"], 2, "--bins"),
    (["demo", "--bins", "10000000"], 2, "--bins"),
    (["demo", "--max-lines", "-1"], 2, "--max-lines"),
    (["demo", "--seed", "-3"], 2, "--seed"),
    (["demo", "--mmr", "0.5"], 1, "--mmr"),
    (["demo", "--ma-length", "0"], 1, "--ma-length"),
    (["demo", "--thresholds", "3,2"], 1, "--thresholds"),
    (["demo", "--leverages", "1"], 1, "--leverages"),
    (["chart", SYMBOL, "--bars", "0"], 2, "--bars"),
    (["chart", SYMBOL, "--since", "yesterday-ish"], 2, "--since"),
    (["chart", SYMBOL, "--since", "2999-01-01"], 2, "--since"),
    (["chart", SYMBOL, "--until", "31/02/2026"], 2, "--until"),
    (["chart", SYMBOL, "--since", "2026-06-02", "--until", "2026-06-01"], 1, "--since"),
    (["chart", SYMBOL, "--timeframe", "5 minutes"], 2, "--timeframe"),
    (["fetch", SYMBOL, "--timeframe", "1M"], 2, "--timeframe"),
    (["fetch", SYMBOL, "--bars", "-5"], 2, "--bars"),
    (["nonsense"], 2, "nonsense"),
]


@pytest.mark.parametrize(("argv", "code", "flag"), BAD_INPUTS)
def test_bad_input_is_one_line_naming_the_flag_before_any_network(
        argv, code, flag, monkeypatch, capsys, tmp_path) -> None:
    from liqlevels.cli import main

    def no_network(*args, **kwargs):
        raise AssertionError("the network was reached before the input was checked")

    monkeypatch.setattr(feeds, "fetch_candles", no_network)
    monkeypatch.setattr(feeds, "sample_candles", no_network)
    try:
        got = main([*argv, "--out", str(tmp_path)] if argv[0] in ("demo", "chart") else argv)
    except SystemExit as stop:
        got = stop.code
    err = capsys.readouterr().err
    assert got == code, err
    assert err.startswith("liqlevels: error:") and err.count("\n") == 1, err
    assert flag in err
    assert "Traceback" not in err


def test_out_must_be_a_folder(tmp_path, capsys) -> None:
    from liqlevels.cli import main

    a_file = tmp_path / "taken.txt"
    a_file.write_text("x")
    with pytest.raises(SystemExit) as stop:
        main(["demo", "--no-png", "--out", str(a_file)])
    assert stop.value.code == 2
    assert "--out" in capsys.readouterr().err


def test_ctrl_c_is_one_line_not_a_traceback(tmp_path) -> None:
    """A chart waiting on a server that never answers, interrupted as a user would."""
    import signal

    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        process = subprocess.Popen(
            [sys.executable, "-P", "-m", "liqlevels.cli", "chart", SYMBOL, "--exchange",
             "bybit", "--api-url", url, "--cache-dir", str(tmp_path), "--out", str(tmp_path),
             "--no-png"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # wait until it is waiting on the socket
                try:
                    silent.settimeout(0.5)
                    connection, _ = silent.accept()
                    break
                except TimeoutError:
                    assert process.poll() is None, process.communicate()
            else:
                pytest.fail("the command never connected")
            process.send_signal(signal.SIGINT)
            _, err = process.communicate(timeout=30)
            connection.close()
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 130, err
    assert err == "liqlevels: interrupted\n"


# -- a plain install: the PNG needs a browser; without one the HTML and CSV still come -----

def _demo(out) -> tuple[int, set[str]]:
    """``liqlevels demo`` into ``out``: the exit code and the files written."""
    from liqlevels.cli import main

    code = main(["demo", "--bars", "300", "--out", str(out)])
    return code, {p.name for p in out.iterdir()}


def test_no_browser_still_writes_html_and_csv_and_says_how_to_get_one(tmp_path, monkeypatch,
                                                                       capsys) -> None:
    from liqlevels.charts import _browser

    monkeypatch.setattr(_browser, "_DEFAULT_CHROMIUM", str(tmp_path / "no-chromium"))
    monkeypatch.delenv("LIQLEVELS_CHROMIUM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no chromium on the PATH either
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "none"))  # nor its own
    code, files = _demo(tmp_path / "out")
    err = capsys.readouterr().err
    assert code == 0
    assert files == {"demo-levels.csv", "demo.html"}
    assert "PNG skipped" in err and "playwright install chromium" in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_a_browser_that_cannot_start_is_the_same_note(tmp_path, monkeypatch, capsys) -> None:
    broken = tmp_path / "chromium"
    broken.write_text("#!/bin/sh\nexit 3\n")
    broken.chmod(0o755)
    monkeypatch.setenv("LIQLEVELS_CHROMIUM", str(broken))
    code, files = _demo(tmp_path / "out")
    err = capsys.readouterr().err
    assert code == 0 and files == {"demo-levels.csv", "demo.html"}
    assert f"Chromium at {broken} cannot start" in err and "apt-get install chromium" in err


def test_without_playwright_the_demo_still_writes_html_and_csv(tmp_path) -> None:
    code = ("import sys; sys.modules['playwright'] = None; "
            "sys.modules['playwright.sync_api'] = None; "
            "from liqlevels.cli import main; "
            f"sys.exit(main(['demo', '--bars', '300', '--out', {str(tmp_path)!r}]))")
    result = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "Playwright is not installed (pip install playwright)" in result.stderr
    assert "Traceback" not in result.stderr
    assert (tmp_path / "demo.html").exists() and (tmp_path / "demo-levels.csv").exists()


def test_an_archive_host_that_refuses_fails_at_once(tmp_path, waits, notices,
                                                     monkeypatch) -> None:
    monkeypatch.setitem(feeds.settings.archive_urls, "binance",
                        f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(FeedError, match="the connection was refused"):
        feeds.download_archive("binance", "aggTrades", "BTCUSDT", "2026-06-01",
                               cache_dir=tmp_path)
    assert waits == [] and notices == []


def test_archive_retries_say_when_and_why(tmp_path, archive, waits, notices) -> None:
    from fakes import agg_trades_csv, random_trades

    path = "data/futures/um/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2026-06-01.zip"
    rel = archive.put_binance(path, agg_trades_csv(random_trades(50)))
    archive.fail(rel, Fault.status(503))
    feeds.download_archive("binance", "aggTrades", "BTCUSDT", "2026-06-01", cache_dir=tmp_path)
    assert len(notices) == 1 and "retrying 2/4 in 1 s: HTTPError" in notices[0]


# -- long walks say how far they have come --------------------------------------------------

def _walk(pages: int) -> None:
    from liqlevels.feeds._rest import page_through

    step, limit = 60_000, 10

    def window(a: int, b: int):
        return [(t, (1.0,)) for t in range(a, b, step)]

    answer = page_through(window, 0, pages * limit * step, step, limit, width=2,
                          label="okx SOL/USDT:USDT 1m candles")
    assert len(answer.rows) == pages * limit  # progress changes nothing of the answer


def test_a_long_walk_prints_its_progress_at_each_quarter(capsys, monkeypatch) -> None:
    monkeypatch.setattr(feeds.settings, "progress", None)
    _walk(100)
    assert capsys.readouterr().err.splitlines() == [
        f"okx SOL/USDT:USDT 1m candles: {n} of about 100 pages" for n in (25, 50, 75)]


def test_short_walks_and_progress_off_stay_quiet(capsys, monkeypatch) -> None:
    monkeypatch.setattr(feeds.settings, "progress", None)
    _walk(10)
    monkeypatch.setattr(feeds.settings, "progress", False)
    _walk(100)
    assert capsys.readouterr().err == ""
