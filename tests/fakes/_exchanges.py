"""Fake Binance USD-M, Bybit v5 and OKX v5 REST servers speaking the exchanges' own JSON.

Each serves markets, candles and open-interest history of one :class:`MarketData` (and a
price-scaled copy as a second symbol) with the exchange's paging rules and row limits, its
error bodies, and a clock (``now``) the ccxt instance is pinned to.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any, ClassVar

import ccxt
import numpy as np

from ._data import MarketData
from ._server import FakeServer, Fault, Page, Response

__all__ = ["FakeBinanceUSDM", "FakeBybit", "FakeOKX", "fake_exchange", "point_at"]

MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR
_STEPS = {"1m": MIN, "3m": 3 * MIN, "5m": 5 * MIN, "15m": 15 * MIN, "30m": 30 * MIN,
          "1h": HOUR, "2h": 2 * HOUR, "4h": 4 * HOUR, "6h": 6 * HOUR, "8h": 8 * HOUR,
          "12h": 12 * HOUR, "1d": DAY}


def _num(x: float) -> str:
    return f"{x:.10g}"


def _select(rows: np.ndarray, start: int | None, end: int | None, limit: int,
            oldest_first_from_start: bool) -> np.ndarray:
    """Rows with ``start <= ts <= end``: the first ``limit`` after ``start`` when only a
    start is given (and the exchange pages forward), else the last ``limit``."""
    ts = rows[:, 0]
    mask = np.ones(len(rows), dtype=bool)
    if start is not None:
        mask &= ts >= start
    if end is not None:
        mask &= ts <= end
    rows = rows[mask]
    if start is not None and (end is None or oldest_first_from_start):
        return rows[:limit]
    return rows[-limit:] if limit else rows[:0]


class _Fake(FakeServer):
    """Shared set-up: content per symbol, the clock."""

    def __init__(self, data: MarketData | None = None, *, now: int | None = None) -> None:
        super().__init__()
        self.data = data or MarketData.default()
        self.now = int(now if now is not None else self.data.now)
        self.content = {"SOL": self.data, "BTC": self.data.scaled(800.0)}

    def bars(self, base: str, step: int) -> np.ndarray:
        rows = self.content[base].candles(step)
        return rows[rows[:, 0] < self.now]

    def snapshots(self, base: str, step: int) -> np.ndarray:
        rows = self.content[base].open_interest(step)
        return rows[rows[:, 0] <= self.now]


def _int(params: dict, key: str, default: int | None = None) -> int | None:
    value = params.get(key)
    if value in (None, ""):
        return default
    return int(value)


# -- Binance USD-M ----------------------------------------------------------------------
class FakeBinanceUSDM(_Fake):
    """``fapi.binance.com``: exchangeInfo, klines (<= 1500 rows) and openInterestHist
    (<= 500 rows, the last 30 days only)."""

    MARKETS = "/fapi/v1/exchangeInfo"
    KLINES = "/fapi/v1/klines"
    OI = "/futures/data/openInterestHist"
    OI_PERIODS = ("5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d")
    OI_DAYS = 30

    def __init__(self, data: MarketData | None = None, *, now: int | None = None) -> None:
        super().__init__(data, now=now)
        self.routes.update({self.MARKETS: self._markets, self.KLINES: self._klines,
                            self.OI: self._oi})

    @staticmethod
    def _error(code: int, msg: str, status: int = 400) -> Response:
        return Response.json({"code": code, "msg": msg}, status)

    def error_response(self, fault: Fault) -> Response:
        if fault.code != 429:
            return super().error_response(fault)
        response = self._error(-1003, "Too many requests; current limit is 2400 requests "
                                      "per minute. Please use the websocket for live updates.",
                               429)
        if fault.retry_after is not None:
            response.headers["Retry-After"] = fault.retry_after
        return response

    def _symbol(self, params: dict) -> str | None:
        sym = params.get("symbol", "")
        return sym[:-4] if sym.endswith("USDT") and sym[:-4] in self.content else None

    def _markets(self, params: dict, headers: dict) -> Response:
        symbols = [_binance_market(base) for base in self.content]
        return Response.json({
            "timezone": "UTC", "serverTime": self.now, "futuresType": "U_MARGINED",
            "rateLimits": [], "exchangeFilters": [], "assets": [], "symbols": symbols,
        })

    def _klines(self, params: dict, headers: dict) -> Response | Page:
        base = self._symbol(params)
        if base is None:
            return self._error(-1121, "Invalid symbol.")
        step = _STEPS.get(params.get("interval", ""))
        if step is None:
            return self._error(-1120, "Invalid interval.")
        limit = _int(params, "limit", 500)
        if not 1 <= limit <= 1500:
            return self._error(-1130, "Data sent for parameter 'limit' is not valid.")
        rows = _select(self.bars(base, step), _int(params, "startTime"), _int(params, "endTime"),
                       limit, True)
        out = [[int(t), _num(o), _num(h), _num(lo), _num(c), _num(v), int(t) + step - 1,
                _num(v * c), 100, _num(v / 2), _num(v * c / 2), "0"]
               for t, o, h, lo, c, v in rows]
        return Page(out, lambda page: page)

    def _oi(self, params: dict, headers: dict) -> Response | Page:
        base = self._symbol(params)
        if base is None:
            return self._error(-1121, "Invalid symbol.")
        period = params.get("period", "")
        if period not in self.OI_PERIODS:
            return self._error(-1130, "Data sent for parameter 'period' is not valid.")
        limit = _int(params, "limit", 30)
        if not 1 <= limit <= 500:
            return self._error(-1130, "Data sent for parameter 'limit' is not valid.")
        oldest = self.now - self.OI_DAYS * DAY
        start = _int(params, "startTime")
        if start is not None and start < oldest:
            return self._error(-1130, "parameter 'startTime' is invalid.")
        rows = self.snapshots(base, _STEPS[period])
        rows = _select(rows[rows[:, 0] >= oldest], start, _int(params, "endTime"), limit, True)
        out = [{"symbol": f"{base}USDT", "sumOpenInterest": f"{a:.8f}",
                "sumOpenInterestValue": f"{v:.8f}", "timestamp": int(t)} for t, a, v in rows]
        return Page(out, lambda page: page)


def _binance_market(base: str) -> dict:
    return {
        "symbol": f"{base}USDT", "pair": f"{base}USDT", "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000, "onboardDate": 1569398400000, "status": "TRADING",
        "maintMarginPercent": "2.5000", "requiredMarginPercent": "5.0000",
        "baseAsset": base, "quoteAsset": "USDT", "marginAsset": "USDT",
        "pricePrecision": 2, "quantityPrecision": 3, "baseAssetPrecision": 8,
        "quotePrecision": 8, "underlyingType": "COIN", "underlyingSubType": ["Layer-1"],
        "settlePlan": 0, "triggerProtect": "0.0500", "liquidationFee": "0.012500",
        "marketTakeBound": "0.05", "maxMoveOrderLimit": 10000,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000",
             "tickSize": "0.01"},
            {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "1000", "stepSize": "0.001"},
            {"filterType": "MARKET_LOT_SIZE", "minQty": "0.001", "maxQty": "120",
             "stepSize": "0.001"},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MIN_NOTIONAL", "notional": "5"},
            {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500",
             "multiplierDown": "0.9500", "multiplierDecimal": "4"},
        ],
        "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX"], "permissionSets": ["GRID", "COPY"],
    }


# -- Bybit v5 ---------------------------------------------------------------------------
class FakeBybit(_Fake):
    """``api.bybit.com`` v5: instruments-info, kline (<= 1000 rows, newest first) and
    open-interest (<= 200 rows, newest first, cursor paging)."""

    MARKETS = "/v5/market/instruments-info"
    KLINES = "/v5/market/kline"
    OI = "/v5/market/open-interest"
    INTERVALS: ClassVar[dict[str, int]] = {
        "1": MIN, "3": 3 * MIN, "5": 5 * MIN, "15": 15 * MIN, "30": 30 * MIN, "60": HOUR,
        "120": 2 * HOUR, "240": 4 * HOUR, "360": 6 * HOUR, "720": 12 * HOUR, "D": DAY,
    }
    OI_INTERVALS: ClassVar[dict[str, int]] = {
        "5min": 5 * MIN, "15min": 15 * MIN, "30min": 30 * MIN, "1h": HOUR, "4h": 4 * HOUR,
        "1d": DAY,
    }

    def __init__(self, data: MarketData | None = None, *, now: int | None = None) -> None:
        super().__init__(data, now=now)
        self.routes.update({self.MARKETS: self._markets, self.KLINES: self._klines,
                            self.OI: self._oi})

    def _wrap(self, result: dict, code: int = 0, msg: str = "OK") -> dict:
        return {"retCode": code, "retMsg": msg, "result": result, "retExtInfo": {},
                "time": self.now}

    def _error(self, code: int, msg: str) -> Response:
        return Response.json(self._wrap({}, code, msg))

    def _symbol(self, params: dict) -> str | None:
        sym = params.get("symbol", "")
        ok = sym.endswith("USDT") and sym[:-4] in self.content
        return sym[:-4] if ok and params.get("category") == "linear" else None

    def _markets(self, params: dict, headers: dict) -> Response:
        category = params.get("category", "")
        items = {"linear": [_bybit_linear(b) for b in self.content],
                 "spot": [_bybit_spot(b) for b in self.content]}.get(category, [])
        return Response.json(self._wrap({"category": category, "list": items,
                                         "nextPageCursor": ""}))

    def _klines(self, params: dict, headers: dict) -> Response | Page:
        base = self._symbol(params)
        if base is None:
            return self._error(10001, "params error: symbol invalid")
        step = self.INTERVALS.get(params.get("interval", ""))
        limit = _int(params, "limit", 200)
        if step is None or not 1 <= limit <= 1000:
            return self._error(10001, "params error")
        rows = _select(self.bars(base, step), _int(params, "start"), _int(params, "end"),
                       limit, False)[::-1]
        out = [[str(int(t)), _num(o), _num(h), _num(lo), _num(c), _num(v), _num(v * c)]
               for t, o, h, lo, c, v in rows]
        return Page(out, lambda page: self._wrap({"symbol": f"{base}USDT",
                                                  "category": "linear", "list": page}))

    def _oi(self, params: dict, headers: dict) -> Response | Page:
        base = self._symbol(params)
        if base is None:
            return self._error(10001, "params error: symbol invalid")
        step = self.OI_INTERVALS.get(params.get("intervalTime", ""))
        limit = _int(params, "limit", 50)
        if step is None or not 1 <= limit <= 200:
            return self._error(10001, "params error")
        rows = _select(self.snapshots(base, step), _int(params, "startTime"),
                       _int(params, "endTime"), 10**9, False)[::-1]
        offset = _int(params, "cursor", 0)
        page_rows = rows[offset: offset + limit]
        cursor = str(offset + limit) if offset + limit < len(rows) else ""
        out = [{"openInterest": _num(a), "timestamp": str(int(t))} for t, a, _ in page_rows]
        return Page(out, lambda page: self._wrap({
            "symbol": f"{base}USDT", "category": "linear", "list": page,
            "nextPageCursor": cursor}))


def _bybit_linear(base: str) -> dict:
    return {
        "symbol": f"{base}USDT", "contractType": "LinearPerpetual", "status": "Trading",
        "baseCoin": base, "quoteCoin": "USDT", "launchTime": "1585526400000",
        "deliveryTime": "0", "deliveryFeeRate": "", "priceScale": "2",
        "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
        "priceFilter": {"minPrice": "0.01", "maxPrice": "199999.80", "tickSize": "0.01"},
        "lotSizeFilter": {"maxOrderQty": "1000.000", "minOrderQty": "0.001", "qtyStep": "0.001",
                          "postOnlyMaxOrderQty": "1000.000", "maxMktOrderQty": "100.000",
                          "minNotionalValue": "5"},
        "unifiedMarginTrade": True, "fundingInterval": 480, "settleCoin": "USDT",
        "copyTrading": "both", "upperFundingRate": "0.00375", "lowerFundingRate": "-0.00375",
    }


def _bybit_spot(base: str) -> dict:
    return {
        "symbol": f"{base}USDT", "baseCoin": base, "quoteCoin": "USDT", "innovation": "0",
        "status": "Trading", "marginTrading": "both",
        "lotSizeFilter": {"basePrecision": "0.000001", "quotePrecision": "0.00000001",
                          "minOrderQty": "0.000048", "maxOrderQty": "71.73956243",
                          "minOrderAmt": "1", "maxOrderAmt": "2000000"},
        "priceFilter": {"tickSize": "0.01"},
        "riskParameters": {"limitParameter": "0.05", "marketParameter": "0.05"},
    }


# -- OKX v5 -----------------------------------------------------------------------------
class FakeOKX(_Fake):
    """``www.okx.com`` v5: instruments, candles (<= 300) / history-candles (<= 100) and the
    contract open-interest history (<= 100), all newest first with exclusive bounds."""

    MARKETS = "/api/v5/public/instruments"
    KLINES = "/api/v5/market/candles"
    HISTORY = "/api/v5/market/history-candles"
    OI = "/api/v5/rubik/stat/contracts/open-interest-history"
    BARS: ClassVar[dict[str, int]] = {
        "1m": MIN, "3m": 3 * MIN, "5m": 5 * MIN, "15m": 15 * MIN, "30m": 30 * MIN, "1H": HOUR,
        "2H": 2 * HOUR, "4H": 4 * HOUR, "6Hutc": 6 * HOUR, "12Hutc": 12 * HOUR, "1Dutc": DAY,
    }
    OI_PERIODS: ClassVar[dict[str, int]] = {"5m": 5 * MIN, "1H": HOUR, "1D": DAY}
    CONTRACT: ClassVar[dict[str, float]] = {"SOL": 1.0, "BTC": 0.01}  # ctVal: coins per contract

    def __init__(self, data: MarketData | None = None, *, now: int | None = None) -> None:
        super().__init__(data, now=now)
        self.routes.update({self.MARKETS: self._markets, self.KLINES: self._candles(300),
                            self.HISTORY: self._candles(100), self.OI: self._oi})

    @staticmethod
    def _error(code: str, msg: str) -> Response:
        return Response.json({"code": code, "msg": msg, "data": []})

    def _symbol(self, params: dict) -> str | None:
        match = re.fullmatch(r"([A-Z]+)-USDT-SWAP", params.get("instId", ""))
        return match.group(1) if match and match.group(1) in self.content else None

    def _markets(self, params: dict, headers: dict) -> Response:
        items = [_okx_swap(b, self.CONTRACT[b]) for b in self.content]
        return Response.json({"code": "0", "msg": "",
                              "data": items if params.get("instType") == "SWAP" else []})

    def _window(self, rows: np.ndarray, params: dict, low: str, high: str,
                limit: int) -> np.ndarray:
        ts = rows[:, 0]
        mask = np.ones(len(rows), dtype=bool)
        if params.get(low):
            mask &= ts > int(params[low])
        if params.get(high):
            mask &= ts < int(params[high])
        return rows[mask][-limit:][::-1]

    def _candles(self, max_limit: int) -> Any:
        def route(params: dict, headers: dict) -> Response | Page:
            base = self._symbol(params)
            if base is None:
                return self._error("51001", "Instrument ID does not exist")
            step = self.BARS.get(params.get("bar", "1m"))
            limit = _int(params, "limit", 100)
            if step is None or not 1 <= limit <= max_limit:
                return self._error("51000", "Parameter bar or limit error")
            rows = self._window(self.bars(base, step), params, "before", "after", limit)
            out = [[str(int(t)), _num(o), _num(h), _num(lo), _num(c), _num(v), _num(v),
                    _num(v * c), "1"] for t, o, h, lo, c, v in rows]
            return Page(out, lambda page: {"code": "0", "msg": "", "data": page})

        return route

    def _oi(self, params: dict, headers: dict) -> Response | Page:
        base = self._symbol(params)
        if base is None:
            return self._error("51001", "Instrument ID does not exist")
        step = self.OI_PERIODS.get(params.get("period", ""))
        limit = _int(params, "limit", 100)
        if step is None or not 1 <= limit <= 100:
            return self._error("51000", "Parameter period or limit error")
        rows = self._window(self.snapshots(base, step), params, "begin", "end", limit)
        size = self.CONTRACT[base]
        out = [[str(int(t)), _num(a / size), _num(a), _num(v)] for t, a, v in rows]
        return Page(out, lambda page: {"code": "0", "msg": "", "data": page})


def _okx_swap(base: str, ct_val: float) -> dict:
    return {
        "alias": "", "baseCcy": "", "category": "1", "ctMult": "1", "ctType": "linear",
        "ctVal": _num(ct_val), "ctValCcy": base, "expTime": "", "instFamily": f"{base}-USDT",
        "instId": f"{base}-USDT-SWAP", "instType": "SWAP", "lever": "50",
        "listTime": "1611916828000", "lotSz": "0.01", "maxLmtSz": "100000000",
        "maxMktSz": "20000", "minSz": "0.01", "optType": "", "quoteCcy": "",
        "settleCcy": "USDT", "state": "live", "stk": "", "tickSz": "0.01",
        "uly": f"{base}-USDT", "ruleType": "normal",
    }


# -- wiring ccxt to a fake --------------------------------------------------------------
_FAKES = {"binanceusdm": FakeBinanceUSDM, "bybit": FakeBybit, "okx": FakeOKX}


def point_at(exchange: ccxt.Exchange, base_url: str) -> ccxt.Exchange:
    """Point every REST address of ``exchange`` at ``base_url`` (scheme and host only)."""

    def swap(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, str):
            return re.sub(r"^https?://[^/]+", base_url, value)
        return value

    exchange.urls["api"] = swap(exchange.urls["api"])
    return exchange


@contextlib.contextmanager
def fake_exchange(exchange_id: str = "binanceusdm", *, data: MarketData | None = None,
                  now: int | None = None, rate_limit: int = 1, timeout: int = 5000,
                  ) -> Iterator[tuple[ccxt.Exchange, FakeServer]]:
    """A started fake server and a ccxt instance (rate limiter on) pointed at it.

    Parameters
    ----------
    exchange_id : {"binanceusdm", "bybit", "okx"}
    data : MarketData, optional
        Content; default :meth:`MarketData.default`.
    now : int, optional
        The exchange's clock (epoch ms); default the end of the data. The ccxt instance's
        ``milliseconds()`` is pinned to it.
    rate_limit : int
        ccxt's ``rateLimit`` (ms between requests); small so tests run fast.
    timeout : int
        ccxt's request timeout, ms.

    Yields
    ------
    (ccxt.Exchange, FakeServer)
        Inject faults with ``server.fail(server.KLINES, Fault.status(429, retry_after=1))``;
        count requests with ``server.count(server.OI)``.
    """
    server = _FAKES[exchange_id](data, now=now)
    with server:
        exchange = getattr(ccxt, exchange_id)(
            {"enableRateLimit": True, "rateLimit": rate_limit, "timeout": timeout})
        point_at(exchange, server.base_url)
        exchange.milliseconds = lambda: server.now
        yield exchange, server
