"""Where a scan's symbols sit in the cache: :class:`CachedCandles`, read without ccxt.

The fetch phase of a scan (``_scan_fetch``) fills the cache and describes each symbol's rows
with a :class:`CachedCandles`; a Dask worker unpickles it and calls :meth:`CachedCandles.read`
(pyarrow and numpy only: no ccxt, no network), on any machine that sees the cache directory.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from ..vocab import FeedError, timeframe_ms
from ._cache import OHLCV, OI, SeriesStore, missing_spans
from ._join import candles_frame, join_open_interest
from ._time import fmt_ms

__all__ = ["BINANCE_OI_DAYS", "CachedCandles"]

BINANCE_OI_DAYS = 30  # as feeds._fetch (which imports ccxt, so it is not imported here)


@dataclass(frozen=True)
class CachedCandles:
    """Where one symbol's candles and open interest sit in the cache, and how to join them.

    Built by the fetch phase (:func:`fetch_many`) once the cache holds the range; small and
    picklable, so it travels to Dask workers, which call :meth:`read`.

    Attributes
    ----------
    exchange : str
        ccxt id (the frame's ``attrs``).
    folder : str
        The exchange's folder in the cache (``<id>-sandbox`` for a testnet).
    symbol, timeframe : str
        The ccxt symbol and bar length.
    start, end : int
        The bars whose open time is in ``[start, end)``, epoch ms.
    oi_timeframe : str
        The open-interest period joined (``attrs``).
    oi : tuple of (str, int, int)
        The open-interest series read: cache kind (``oi-1h``) and ``[lo, hi)`` in epoch ms.
    tolerance : int
        Join tolerance, ms (the coarsest snapshot period).
    market : dict
        The ccxt market's ``linear``, ``inverse`` and ``contractSize`` (units of the join).
    cache_dir : str
        The cache directory.
    """

    exchange: str
    folder: str
    symbol: str
    timeframe: str
    start: int
    end: int
    oi_timeframe: str
    oi: tuple[tuple[str, int, int], ...]
    tolerance: int
    market: dict = field(hash=False)
    cache_dir: str = ""

    def _store(self, kind: str, columns: tuple[str, ...], step: int) -> SeriesStore:
        return SeriesStore(Path(self.cache_dir), self.folder, self.symbol, kind, columns, step)

    def _series(self) -> list[tuple[SeriesStore, int, int]]:
        step = timeframe_ms(self.timeframe)
        out = [(self._store(f"ohlcv-{self.timeframe}", OHLCV, step), self.start, self.end)]
        out += [(self._store(kind, OI, timeframe_ms(kind[3:])), lo, hi)
                for kind, lo, hi in self.oi]
        return out

    def covered(self) -> bool:
        """True when the cache records every series as covered over its range (read from
        the files' metadata only, not their rows)."""
        for store, lo, hi in self._series():
            if store.path is None or not store.path.exists():
                return False
            try:
                meta = pq.read_schema(store.path).metadata or {}
                spans = [(int(a), int(b)) for a, b in json.loads(meta[b"liqlevels"])["coverage"]]
            except (OSError, ValueError, KeyError, TypeError):
                return False
            if missing_spans(spans, lo, hi):
                return False
        return True

    def read(self) -> pd.DataFrame:
        """The candles frame :func:`fetch_candles` returned for this range, from the cache.

        Raises
        ------
        FeedError
            Bars without any open interest (as ``fetch_candles``).
        """
        series = self._series()
        store, lo, hi = series[0]
        bars = _rows_in(store, lo, hi)
        oi = np.empty((0, 3))
        if len(bars):
            for store, lo, hi in series[1:]:
                oi = np.concatenate([oi, _rows_in(store, lo, hi)])
            oi = oi[np.argsort(oi[:, 0], kind="stable")]
        if len(bars) > 2 and not len(oi):
            raise FeedError(
                f"{self.exchange} returned no open-interest history ({self.oi_timeframe}) for "
                f"{self.symbol} from {fmt_ms(int(bars[0, 0]))} to {fmt_ms(int(bars[-1, 0]))}, "
                f"though it has candles there; exchanges keep open-interest history for a "
                f"limited time only (Binance: {BINANCE_OI_DAYS} days), so ask for a more "
                f"recent range", exchange=self.exchange, endpoint="fetch_open_interest_history")
        step = timeframe_ms(self.timeframe)
        amount, value = join_open_interest(bars[:, 0], step, oi, self.tolerance)
        frame = candles_frame(bars, amount, value, self.market)
        frame.attrs.update(exchange=self.exchange, symbol=self.symbol,
                           timeframe=self.timeframe, oi_timeframe=self.oi_timeframe)
        return frame  # checked row by row on load; oi_levels validates the frame again


def _rows_in(store: SeriesStore, lo: int, hi: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows, _ = store.load()
    if not len(rows):
        return rows
    ts = rows[:, 0]
    return rows[(ts >= lo) & (ts < hi)]


