"""Market data in: ccxt REST and websockets, exchange archives, the local cache, samples."""

from ._sample import sample_candles, timeframe_seconds

__all__ = ["sample_candles", "timeframe_seconds"]
