"""Market data in: ccxt REST and websockets, exchange archives, the local cache, samples."""

from ..vocab import FeedError, FeedWarning, timeframe_seconds
from ._sample import sample_candles

__all__ = ["sample_candles", "timeframe_seconds"]

from ._archive import archive_candles, archive_symbol, archive_trades, download_archive
from ._config import FeedSettings, settings
from ._fetch import fetch_candles
from ._liquidations import (
    LIQUIDATION_COLUMNS,
    LiquidationLog,
    normalise_liquidations,
    read_liquidations,
)
from ._live import FeedStatus, LiveBar, LiveFeed, LiveLiquidations, LiveTrades, point_urls
from ._readers import read_klines, read_metrics, read_trades
from ._tradingview import TradingViewExport, read_tradingview_export
from ._venues import fetch_venues

__all__ += [
    "LIQUIDATION_COLUMNS",
    "FeedError",
    "FeedSettings",
    "FeedStatus",
    "FeedWarning",
    "LiquidationLog",
    "LiveBar",
    "LiveFeed",
    "LiveLiquidations",
    "LiveTrades",
    "TradingViewExport",
    "archive_candles",
    "archive_symbol",
    "archive_trades",
    "download_archive",
    "fetch_candles",
    "fetch_venues",
    "normalise_liquidations",
    "point_urls",
    "read_klines",
    "read_liquidations",
    "read_metrics",
    "read_trades",
    "read_tradingview_export",
    "settings",
]
