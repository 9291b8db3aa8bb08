"""Which exchange, market and timeframe: resolution, checks that teach, per-exchange limits."""

from __future__ import annotations

import functools
from typing import Any

import ccxt

from ..vocab import did_you_mean, timeframe_ms
from ._retry import call_exchange

__all__ = [
    "check_timeframe",
    "choose_oi_timeframe",
    "exchange_family",
    "page_limits",
    "resolve_exchange",
    "resolve_market",
]

# Open-interest history periods each exchange's API serves (ccxt timeframe names).
_OI_TIMEFRAMES = {
    "binance": ("5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d"),
    "bybit": ("5m", "15m", "30m", "1h", "4h", "1d"),
    "okx": ("5m", "1h", "1d"),
}
# Rows per request: (fetch_ohlcv, fetch_open_interest_history).
_LIMITS = {"binance": (1000, 500), "bybit": (1000, 200), "okx": (100, 100)}
_INSTANCES: dict[str, ccxt.Exchange] = {}


def exchange_family(exchange: ccxt.Exchange) -> str:
    """``"binance"``, ``"bybit"`` or ``"okx"`` for them and their variants, else the id."""
    for family in ("binance", "bybit", "okx"):
        base = getattr(ccxt, family)
        if isinstance(exchange, base):
            return family
    return str(exchange.id)


@functools.cache
def exchanges_with_oi_history() -> tuple[str, ...]:
    """ccxt ids of the exchanges that have both OHLCV and open-interest history."""
    out = []
    for name in ccxt.exchanges:
        has = getattr(ccxt, name)().has
        if has.get("fetchOHLCV") and has.get("fetchOpenInterestHistory"):
            out.append(name)
    return tuple(out)


def resolve_exchange(exchange: Any) -> ccxt.Exchange:
    """A ccxt exchange instance as given, or a shared instance (rate limiter on) for an id."""
    if isinstance(exchange, ccxt.Exchange):
        return exchange
    if not isinstance(exchange, str):
        raise TypeError(
            f"exchange must be a ccxt exchange instance or an id such as 'binanceusdm', got "
            f"{type(exchange).__name__}"
        )
    if exchange not in ccxt.exchanges:
        raise ValueError(
            f"exchange={exchange!r} is not a ccxt exchange."
            f"{did_you_mean(exchange, ccxt.exchanges, n=3, cutoff=0.5)} Exchanges with candles and "
            f"open-interest history: "
            f"{', '.join(exchanges_with_oi_history())}"
        )
    if exchange not in _INSTANCES:
        _INSTANCES[exchange] = getattr(ccxt, exchange)({"enableRateLimit": True})
    return _INSTANCES[exchange]


def check_timeframe(exchange: ccxt.Exchange, timeframe: Any) -> int:
    """Milliseconds in ``timeframe``, after checking the exchange serves it."""
    available = list(getattr(exchange, "timeframes", None) or {})
    if available and timeframe not in available:
        raise ValueError(
            f"timeframe={timeframe!r} is not served by {exchange.id}."
            f"{did_you_mean(str(timeframe), available, n=3, cutoff=0.5)} "
            f"Available: {', '.join(available)}"
        )
    return timeframe_ms(timeframe)


def _symbol_hint(markets: dict[str, dict], symbol: str) -> str:
    derivatives = sorted(s for s, m in markets.items() if m.get("swap") or m.get("future"))
    hint = did_you_mean(symbol, derivatives or sorted(markets), n=3, cutoff=0.5)
    shown = ", ".join(derivatives[:12]) + (", ..." if len(derivatives) > 12 else "")
    return f"{hint} It has {len(derivatives)} swap/future markets: {shown}"


def resolve_market(exchange: ccxt.Exchange, symbol: Any) -> dict:
    """The ccxt market of a swap or future ``symbol``, loading the markets if needed."""
    if not isinstance(symbol, str):
        raise TypeError(f"symbol must be a ccxt symbol such as 'BTC/USDT:USDT', got {symbol!r}")
    markets = exchange.markets or call_exchange(
        exchange, "load_markets", (None, None), exchange.load_markets
    )
    market = markets.get(symbol)
    if market is None and symbol in (exchange.markets_by_id or {}):
        market = exchange.markets_by_id[symbol][0]
    if market is None:
        raise ValueError(
            f"symbol={symbol!r} is not a market of {exchange.id}.{_symbol_hint(markets, symbol)}"
        )
    if not (market.get("swap") or market.get("future")):
        raise ValueError(
            f"symbol={symbol!r} is a {market.get('type')} market on {exchange.id}; open interest "
            f"exists only for swaps and futures.{_symbol_hint(markets, symbol)}"
        )
    return market


def check_oi_history(exchange: ccxt.Exchange) -> None:
    """Raise when ccxt has no open-interest history for this exchange."""
    if not exchange.has.get("fetchOpenInterestHistory"):
        raise ValueError(
            f"{exchange.id} has no open-interest history in ccxt, so its candles cannot carry "
            f"open_interest. Exchanges that have it: {', '.join(exchanges_with_oi_history())}"
        )


def oi_timeframes(exchange: ccxt.Exchange) -> tuple[str, ...]:
    """The open-interest periods the exchange's API serves, finest first."""
    known = _OI_TIMEFRAMES.get(exchange_family(exchange))
    if known:
        return known
    usable = [tf for tf in (exchange.timeframes or {}) if tf[-1] in "mhdw"]
    usable = [tf for tf in usable if timeframe_ms(tf) >= 300_000] or usable
    return tuple(sorted(usable, key=timeframe_ms))


def choose_oi_timeframe(exchange: ccxt.Exchange, step: int) -> tuple[str, bool]:
    """The open-interest period for bars of ``step`` ms, and whether it is coarser.

    The longest period that divides the bar length gives every bar its exact closing
    snapshot; bars shorter than the finest period get the finest, joined as-of.
    """
    periods = oi_timeframes(exchange)
    exact = [tf for tf in periods if timeframe_ms(tf) <= step and step % timeframe_ms(tf) == 0]
    if exact:
        return max(exact, key=timeframe_ms), False
    finer = [tf for tf in periods if timeframe_ms(tf) < step]
    if finer:  # no period divides the bars: still finer than them, as-of is exact enough
        return max(finer, key=timeframe_ms), False
    return periods[0], True


def page_limits(exchange: ccxt.Exchange, market: dict) -> tuple[int, int]:
    """Rows per request: (candles, open interest)."""
    known = _LIMITS.get(exchange_family(exchange))
    if known:
        return known
    features = getattr(exchange, "features", None) or {}
    kind = "swap" if market.get("swap") else "future"
    sub = "linear" if market.get("linear") else "inverse"
    try:
        limit = int(features[kind][sub]["fetchOHLCV"]["limit"])
    except (KeyError, TypeError, ValueError):
        limit = 500
    return limit, 100
