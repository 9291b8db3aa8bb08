"""Market data in: ccxt REST and websockets, exchange archives, the local cache, samples.

Names load on first use (PEP 562), so ``from liqlevels.feeds import sample_candles`` (the
offline demo) imports neither ccxt nor aiohttp; ``fetch_candles`` imports ccxt when asked for.
"""

from __future__ import annotations

from ..vocab import FeedError as FeedError
from ..vocab import FeedWarning as FeedWarning
from ..vocab import lazy_names
from ..vocab import timeframe_seconds as timeframe_seconds

# name -> the module that defines it
_HOMES = {
    "archive_candles": "_archive", "archive_symbol": "_archive", "archive_trades": "_archive",
    "download_archive": "_archive", "archive_day": "_trade_days",
    "archive_day_trades": "_trade_days",
    "FeedSettings": "_config", "settings": "_config",
    "fetch_candles": "_fetch",
    "LIQUIDATION_COLUMNS": "_liquidations", "LiquidationLog": "_liquidations",
    "normalise_liquidations": "_liquidations", "read_liquidations": "_liquidations",
    "FeedStatus": "_live", "LiveBar": "_live", "LiveFeed": "_live",
    "LiveLiquidations": "_live", "LiveTrades": "_live", "point_urls": "_live",
    "read_klines": "_readers", "read_metrics": "_readers", "read_trades": "_readers",
    "sample_candles": "_sample",
    "CachedCandles": "_scan_cache", "FetchReport": "_scan_fetch", "ScanFetcher": "_scan_fetch",
    "fetch_many": "_scan_fetch", "perpetuals": "_scan_fetch", "scan_clients": "_scan_fetch",
    "top_symbols": "_scan_fetch",
    "TradingViewExport": "_tradingview", "read_tradingview_export": "_tradingview",
    "fetch_venues": "_venues",
}

__all__ = sorted(["FeedError", "FeedWarning", "timeframe_seconds", *_HOMES])


__getattr__, __dir__ = lazy_names(__name__, globals(), _HOMES)
