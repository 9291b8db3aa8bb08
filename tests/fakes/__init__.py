"""Loopback fakes of exchange REST APIs and history archives, for tests and benchmarks.

Usage::

    from fakes import Fault, fake_exchange

    with fake_exchange("bybit") as (exchange, server):
        server.fail(server.KLINES, Fault.status(429, retry_after=1), Fault.status(502))
        frame = feeds.fetch_candles(exchange, "SOL/USDT:USDT", "1h", cache_dir=tmp_path)

Servers listen on 127.0.0.1 with an ephemeral port and stop when the ``with`` block ends.

Websocket streams (klines, trades, liquidations) in each venue's own format, for the real
ccxt.pro code, sharing a REST fake's data and clock::

    with fake_exchange("okx") as (rest, server), FakeWebsocket(server) as ws:
        pro = ws.pro_exchange()              # ccxt.pro.okx pointed at both fakes
        ws.send_kline(server.now, "1m")      # once ccxt has subscribed (ws.wait_subscribed)
"""

from ._archive import (
    FakeArchive,
    agg_trades_csv,
    bybit_trades_csv,
    checksum_text,
    klines_csv,
    metrics_csv,
    random_trades,
    zip_bytes,
)
from ._data import SHARED_DATA, MarketData
from ._exchanges import FakeBinanceUSDM, FakeBybit, FakeOKX, fake_exchange, point_at
from ._server import FakeServer, Fault, Page, Request, Response
from ._ws import FakeWebsocket, add_open_interest_route, point_ws

__all__ = [
    "SHARED_DATA",
    "FakeArchive",
    "FakeBinanceUSDM",
    "FakeBybit",
    "FakeOKX",
    "FakeServer",
    "FakeWebsocket",
    "Fault",
    "MarketData",
    "Page",
    "Request",
    "Response",
    "add_open_interest_route",
    "agg_trades_csv",
    "bybit_trades_csv",
    "checksum_text",
    "fake_exchange",
    "klines_csv",
    "metrics_csv",
    "point_at",
    "point_ws",
    "random_trades",
    "zip_bytes",
]
