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
from liqlevels.feeds import FeedError
from liqlevels.feeds import _retry

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
