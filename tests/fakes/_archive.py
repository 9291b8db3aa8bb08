"""A fake of the history archives (data.binance.vision, public.bybit.com) and builders of
their files in the archives' exact formats."""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import threading
import zipfile

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv

from ._data import MarketData
from ._server import FakeServer, Fault, Response

__all__ = ["FakeArchive", "agg_trades_csv", "bybit_trades_csv", "checksum_text", "klines_csv",
           "metrics_csv", "random_trades", "zip_bytes"]

AGG_HEADER = "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker"
KLINES_HEADER = ("open_time,open,high,low,close,volume,close_time,quote_volume,count,"
                 "taker_buy_volume,taker_buy_quote_volume,ignore")
METRICS_HEADER = ("create_time,symbol,sum_open_interest,sum_open_interest_value,"
                  "count_toptrader_long_short_ratio,sum_toptrader_long_short_ratio,"
                  "count_long_short_ratio,sum_taker_long_short_vol_ratio")
BYBIT_HEADER = ("timestamp,symbol,side,size,price,tickDirection,trdMatchID,grossValue,"
                "homeNotional,foreignNotional")
DAY = 86_400_000


def random_trades(n: int, *, seed: int = 0, start: int = 1_780_272_000_000,
                  price: float = 80.0, span: int = DAY) -> pd.DataFrame:
    """``n`` seeded aggTrades-like trades within ``span`` ms from ``start`` (ms): columns
    ``agg_trade_id, price, quantity, first_trade_id, last_trade_id, transact_time,
    is_buyer_maker``, in time order."""
    rng = np.random.default_rng(seed)
    ids = np.arange(n, dtype=np.int64) + 2_000_000_000
    first = ids * 3
    times = start + np.sort(rng.integers(0, span, n))
    return pd.DataFrame({
        "agg_trade_id": ids,
        "price": np.round(price * np.exp(np.cumsum(rng.normal(0, 2e-4, n))), 2),
        "quantity": np.round(rng.lognormal(-1.0, 1.5, n) + 0.001, 3),
        "first_trade_id": first, "last_trade_id": first + rng.integers(0, 4, n),
        "transact_time": times.astype(np.int64), "is_buyer_maker": rng.random(n) < 0.5,
    })


def _csv(table: pa.Table, header: str | None) -> bytes:
    sink = io.BytesIO()
    pcsv.write_csv(table, sink, pcsv.WriteOptions(include_header=False, quoting_style="none"))
    return (f"{header}\n".encode() if header else b"") + sink.getvalue()


def agg_trades_csv(trades: pd.DataFrame, *, header: bool = True, unit: str = "ms") -> bytes:
    """Binance USD-M aggTrades CSV bytes; ``unit="us"`` writes microsecond timestamps."""
    times = trades["transact_time"].to_numpy(np.int64) * (1000 if unit == "us" else 1)
    table = pa.table({
        "a": trades["agg_trade_id"].to_numpy(), "p": trades["price"].to_numpy(),
        "q": trades["quantity"].to_numpy(), "f": trades["first_trade_id"].to_numpy(),
        "l": trades["last_trade_id"].to_numpy(), "T": times,
        "m": trades["is_buyer_maker"].to_numpy(),
    })
    return _csv(table, AGG_HEADER if header else None)


def bybit_trades_csv(trades: pd.DataFrame, symbol: str = "SOLUSDT") -> bytes:
    """Bybit trading-archive CSV bytes (newest first, as the archive has them); gzip them
    for a ``.csv.gz``."""
    t = trades.iloc[::-1]
    seconds = [f"{ms / 1000:.4f}" for ms in t["transact_time"].to_numpy(np.int64)]
    price = t["price"].to_numpy()
    size = t["quantity"].to_numpy()
    side = np.where(t["is_buyer_maker"].to_numpy(), "Sell", "Buy")
    table = pa.table({
        "timestamp": pa.array(seconds), "symbol": pa.array([symbol] * len(t)),
        "side": pa.array(side), "size": size, "price": price,
        "tickDirection": pa.array(["ZeroPlusTick"] * len(t)),
        "trdMatchID": pa.array([f"{i:08x}-a1b2-5c3d-9e4f-0123456789ab" for i in range(len(t))]),
        "grossValue": np.round(price * size * 1e8), "homeNotional": size,
        "foreignNotional": price * size,
    })
    return _csv(table, BYBIT_HEADER)


def klines_csv(bars: np.ndarray, step: int, *, header: bool = True, unit: str = "ms") -> bytes:
    """Binance klines CSV bytes from ``(n, 6)`` bars (ts ms, o, h, l, c, v)."""
    scale = 1000 if unit == "us" else 1
    ts = bars[:, 0].astype(np.int64)
    table = pa.table({
        "t": ts * scale, "o": bars[:, 1], "h": bars[:, 2], "l": bars[:, 3], "c": bars[:, 4],
        "v": bars[:, 5], "ct": (ts + step - 1) * scale, "qv": bars[:, 5] * bars[:, 4],
        "n": np.full(len(ts), 100), "tb": bars[:, 5] / 2, "tq": bars[:, 5] * bars[:, 4] / 2,
        "i": np.zeros(len(ts), dtype=np.int64),
    })
    return _csv(table, KLINES_HEADER if header else None)


def metrics_csv(snapshots: np.ndarray, symbol: str) -> bytes:
    """Binance metrics CSV bytes from ``(n, 3)`` snapshots (ts ms, coins, USD)."""
    stamps = pd.to_datetime(snapshots[:, 0].astype(np.int64), unit="ms")
    n = len(snapshots)
    table = pa.table({
        "create_time": pa.array(stamps.strftime("%Y-%m-%d %H:%M:%S")),
        "symbol": pa.array([symbol] * n), "oi": snapshots[:, 1], "oiv": snapshots[:, 2],
        "a": np.full(n, 1.5), "b": np.full(n, 1.6), "c": np.full(n, 1.7), "d": np.full(n, 0.9),
    })
    return _csv(table, METRICS_HEADER)


def zip_bytes(name: str, data: bytes) -> bytes:
    """A zip holding one file ``name`` (as Binance packs each CSV)."""
    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return sink.getvalue()


def checksum_text(name: str, data: bytes) -> bytes:
    """A Binance ``.CHECKSUM`` file: ``<sha256>  <name>``."""
    return f"{hashlib.sha256(data).hexdigest()}  {name}\n".encode()


def _day(ms: int) -> str:
    return pd.Timestamp(ms, unit="ms").strftime("%Y-%m-%d")


class FakeArchive(FakeServer):
    """Serves files by path, with HTTP Range (206) support; 404 for anything else.

    Besides the server's faults, three spoil archive files (``fail(path, Fault(kind))``):
    ``corrupt`` flips 16 bytes in the middle of the body (same length), ``cut`` serves only
    the first ``keep`` share of the body as if it were the whole file (a truncated gzip
    stream, a zip without its end), and ``slow`` sends the body in ten pieces spread over
    ``delay`` seconds (so two downloaders overlap).
    """

    def __init__(self) -> None:
        super().__init__()
        self.files: dict[str, bytes] = {}

    def start(self) -> FakeArchive:
        super().start()
        assert self._httpd is not None
        self._httpd.RequestHandlerClass = _dripping(self._httpd.RequestHandlerClass,
                                                    self._stop)
        return self

    def put(self, path: str, data: bytes) -> str:
        """Serve ``data`` at ``/path``; returns the path."""
        self.files["/" + path.lstrip("/")] = data
        return "/" + path.lstrip("/")

    def put_binance(self, path: str, csv: bytes, *, bad_checksum: bool = False) -> str:
        """A zip of ``csv`` at ``path`` (``.../NAME.zip``) and its ``.CHECKSUM``."""
        name = path.rsplit("/", 1)[-1]
        data = zip_bytes(name[:-4] + ".csv", csv)
        self.put(path, data)
        self.put(path + ".CHECKSUM", checksum_text(name, data + b"x" if bad_checksum else data))
        return "/" + path.lstrip("/")

    def put_binance_days(self, data: MarketData, symbol: str, first_day: int, days: int,
                         *, timeframe: str | None = None, step: int = 0) -> None:
        """Daily metrics (and klines of ``timeframe``/``step`` when given) for ``days``
        days from ``first_day`` (ms), taken from ``data``."""
        snaps = data.open_interest(300_000)
        bars = data.candles(step) if timeframe else None
        for day in range(first_day, first_day + days * DAY, DAY):
            stamp = _day(day)
            rows = snaps[(snaps[:, 0] >= day) & (snaps[:, 0] < day + DAY)]
            self.put_binance(f"data/futures/um/daily/metrics/{symbol}/{symbol}-metrics-"
                             f"{stamp}.zip", metrics_csv(rows, symbol))
            if bars is not None:
                sel = bars[(bars[:, 0] >= day) & (bars[:, 0] < day + DAY)]
                self.put_binance(f"data/futures/um/daily/klines/{symbol}/{timeframe}/{symbol}-"
                                 f"{timeframe}-{stamp}.zip", klines_csv(sel, step))

    def put_bybit(self, symbol: str, day: str, trades: pd.DataFrame) -> str:
        return self.put(f"trading/{symbol}/{symbol}{day}.csv.gz",
                        gzip.compress(bybit_trades_csv(trades, symbol), mtime=0))

    def answer(self, path: str, params: dict, headers: dict) -> tuple[Response, Fault | None]:
        self.routes[path] = lambda p, h: self._file(path, h)
        try:
            response, fault = super().answer(path, params, headers)
        finally:
            self.routes.pop(path, None)
        return _spoil(response, fault)

    def _file(self, path: str, headers: dict) -> Response:
        data = self.files.get(path)
        if data is None:
            return Response(b"<Error><Code>NoSuchKey</Code></Error>", 404,
                            {"Content-Type": "application/xml"})
        match = re.fullmatch(r"bytes=(\d+)-", headers.get("range", ""))
        kind = {"Content-Type": "application/octet-stream", "Accept-Ranges": "bytes"}
        if not match:
            return Response(data, 200, kind)
        offset = int(match.group(1))
        if offset >= len(data):
            return Response(b"", 416, {"Content-Range": f"bytes */{len(data)}"})
        return Response(data[offset:], 206,
                        {**kind, "Content-Range": f"bytes {offset}-{len(data) - 1}/{len(data)}"})


def _spoil(response: Response, fault: Fault | None) -> tuple[Response, Fault | None]:
    """Apply a ``corrupt`` or ``cut`` fault to a file's body (other faults pass on)."""
    if fault is None or fault.kind not in ("corrupt", "cut") or response.status >= 300:
        return response, fault
    body = response.body
    if fault.kind == "cut":
        body = body[: int(len(body) * fault.keep)]
    else:
        mid = len(body) // 2
        body = body[:mid] + bytes(b ^ 0xFF for b in body[mid:mid + 16]) + body[mid + 16:]
    return Response(body, response.status, response.headers), None


def _dripping(base: type, stop: threading.Event) -> type:
    """``base`` (the server's request handler), sending a ``slow`` fault's body in ten
    pieces over ``fault.delay`` seconds."""

    class Handler(base):  # type: ignore[misc, valid-type]
        def _send(self, response: Response, fault: Fault | None) -> None:
            if fault is None or fault.kind != "slow":
                super()._send(response, fault)
                return
            self.send_response(response.status)
            for key, value in response.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            step = max(1, -(-len(response.body) // 10))
            for i in range(0, len(response.body), step):
                self.wfile.write(response.body[i:i + step])
                self.wfile.flush()
                stop.wait(fault.delay / 10)

    return Handler
