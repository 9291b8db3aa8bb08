"""A fake Binance USD-M with many perpetuals, for scans: one delisted, one without open
interest, one that answers 5xx for good, and a 24 h ticker for ``--top``.

Its clock is the real one (floored to the minute), so the ``liqlevels scan`` command, which
reads the time itself, finds closed bars up to now::

    with FakeScanExchange(60) as server:
        liqlevels.scan(exchange="binanceusdm", api_url=server.base_url, cache_dir=tmp)
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from ._data import MINUTE, MarketData, _oi_grid
from ._exchanges import FakeBinanceUSDM, FakeBybit, _binance_market
from ._server import Response

__all__ = ["BROKEN", "DELISTED", "NO_OI", "FakeScanBybit", "FakeScanExchange", "scan_markets"]

DELISTED = "DEAD"  # listed in exchangeInfo, but its klines answer "Invalid symbol"
NO_OI = "NOOI"  # candles, but an empty open-interest history
BROKEN = "FAIL"  # every request answers 503


def _names(n: int) -> list[str]:
    specials = [DELISTED, NO_OI, BROKEN]
    plain = [f"C{chr(65 + i // 26)}{chr(65 + i % 26)}" for i in range(max(0, n - 3))]
    return plain[: n - 3] + specials if n >= 3 else plain[:n]


@functools.cache
def _market(seed: int, days: int, end: int, price: float) -> MarketData:
    from liqlevels.feeds import sample_candles

    n = days * 1440
    start = pd.Timestamp(end - n * MINUTE, unit="ms")  # naive: UTC
    frame = sample_candles(n=n, timeframe="1m", seed=seed, start=start, price=price)
    ts = frame.index.as_unit("ms").asi8.astype(np.int64)
    ohlcv = np.round(frame[["open", "high", "low", "close", "volume"]].to_numpy(np.float64), 6)
    grid = _oi_grid(ts)
    pos = np.clip(np.searchsorted(ts, grid - MINUTE), 0, len(ts) - 1)
    amount = np.round(frame["open_interest"].to_numpy()[pos], 3)
    return MarketData(ts, ohlcv, grid, amount, f"scan-{seed}")


def scan_markets(n: int = 60, *, days: int = 14, end: int | None = None
                 ) -> dict[str, MarketData]:
    """``n`` seeded markets keyed by base (the last three are the special ones), their 1m
    bars ending at ``end`` (epoch ms; default now, floored to the minute)."""
    if end is None:
        end = int(pd.Timestamp.now(tz="UTC").floor("min").value // 1_000_000)
    return {base: _market(100 + i, days, end, float(np.round(2.0 * 1.37 ** (i % 25), 4)))
            for i, base in enumerate(_names(n))}


class FakeScanExchange(FakeBinanceUSDM):
    """``fapi.binance.com`` with ``n`` USDT perpetuals and ``/fapi/v1/ticker/24hr``."""

    TICKERS = "/fapi/v1/ticker/24hr"

    def __init__(self, n: int = 60, *, days: int = 14, end: int | None = None) -> None:
        markets = scan_markets(n, days=days, end=end)
        first = next(iter(markets.values()))
        super().__init__(first)
        self.content = markets
        self.routes[self.TICKERS] = self._tickers

    def _fault(self, base: str) -> Response | None:
        """The delisted symbol's error and the broken one's HTML 503, as Binance sends them."""
        if base == DELISTED:
            return self._error(-1121, "Invalid symbol.")
        if base == BROKEN:
            return Response(b"<html><body>503 Service Unavailable</body></html>", 503,
                            {"Content-Type": "text/html"})
        return None

    def _klines(self, params: dict, headers: dict) -> Response:
        fault = self._fault(self._symbol(params))
        return fault if fault is not None else super()._klines(params, headers)

    def _oi(self, params: dict, headers: dict) -> Response:
        base = self._symbol(params)
        fault = self._fault(base)
        if fault is not None:
            return fault
        return Response.json([]) if base == NO_OI else super()._oi(params, headers)

    def quote_volume(self, base: str) -> float:
        """The last 24 h of ``base``'s 1m bars: sum of volume x close (USDT)."""
        data = self.content[base]
        keep = data.ts >= self.now - 1440 * MINUTE
        return float((data.ohlcv[keep, 4] * data.ohlcv[keep, 3]).sum())

    def _tickers(self, params: dict, headers: dict) -> Response:
        out = []
        for base, data in self.content.items():
            close = float(data.ohlcv[-1, 3])
            out.append({"symbol": f"{base}USDT", "lastPrice": f"{close:.8g}",
                        "quoteVolume": f"{self.quote_volume(base):.2f}",
                        "volume": f"{data.ohlcv[-1440:, 4].sum():.3f}",
                        "openTime": self.now - 86_400_000, "closeTime": self.now - 1,
                        "count": 1000})
        return Response.json(out)

    def _markets(self, params: dict, headers: dict) -> Response:
        return Response.json({
            "timezone": "UTC", "serverTime": self.now, "futuresType": "U_MARGINED",
            "rateLimits": [], "exchangeFilters": [], "assets": [],
            "symbols": [_binance_market(base) for base in self.content],
        })


class FakeScanBybit(FakeBybit):
    """Bybit v5 serving the same markets as :class:`FakeScanExchange` (no special ones
    misbehave here): a second venue for ``--exchanges``."""

    def __init__(self, n: int = 60, *, days: int = 14, end: int | None = None) -> None:
        markets = scan_markets(n, days=days, end=end)
        super().__init__(next(iter(markets.values())))
        self.content = markets
