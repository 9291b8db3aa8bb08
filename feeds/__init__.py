"""Market data in: ccxt REST and websockets, exchange archives, the local cache, samples."""

from ._sample import sample_candles, timeframe_seconds

__all__ = ["sample_candles", "timeframe_seconds"]

# Market data: ccxt REST, archives, cache (issue 3).
from ._archive import archive_candles, archive_symbol, archive_trades, download_archive
from ._config import FeedSettings, settings
from ._errors import FeedError, FeedWarning
from ._fetch import fetch_candles
from ._readers import read_klines, read_metrics, read_trades

__all__ += [
    "FeedError",
    "FeedSettings",
    "FeedWarning",
    "archive_candles",
    "archive_symbol",
    "archive_trades",
    "download_archive",
    "fetch_candles",
    "read_klines",
    "read_metrics",
    "read_trades",
    "settings",
]
