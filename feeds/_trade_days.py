"""One archive day of trades, decoded once: the checked columns kept as parquet beside the
cache, keyed to the verified archive file they came from.

``<cache_dir>/decoded/<exchange>/<SYMBOL>/<archive file name>.parquet`` holds the day's
``time`` (epoch ns), ``price``, ``quantity`` and ``is_buy`` in time order, written once the
archive was downloaded, verified, decoded and checked. Its metadata names the archive's
SHA-256 (the ``.CHECKSUM`` kept beside it), size and modification time, and a CRC-32 of every
column. A later read uses the decoded day only while the archive file is still the one it
came from (the same three) and the columns read back are the ones written (page checksums,
the CRCs of the checked columns, the row count); otherwise the archive is decoded again,
with a ``FeedWarning`` when the decoded file was damaged.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..indicator import TradeArrays, checked_trade_arrays
from ..vocab import FeedWarning, path_under, safe_filename
from ._archive import _archive_path, _download, _period, _read_cached, archive_symbol
from ._cache import cache_root
from ._download import checksum_digest
from ._readers import _zlib, archive_exchange, trade_columns

__all__ = ["ArchiveDay", "DecodedDay", "archive_day", "archive_day_trades", "decode_trades"]

_META_KEY = b"liqlevels-trades"
_VERSION = 1
_SCHEMA = pa.schema([("time", pa.int64()), ("price", pa.float64()),
                     ("quantity", pa.float64()), ("is_buy", pa.bool_())])
_NAMES = tuple(_SCHEMA.names)


def decode_trades(path: str | os.PathLike, exchange: str) -> TradeArrays:
    """The trades of one archive file as checked :class:`indicator.TradeArrays` (time order).

    The zip member or gzip stream is decompressed in native code (zlib-ng) as pyarrow reads
    and parses it; rows are checked as :func:`indicator.trade_arrays` checks a frame.

    Raises
    ------
    ValueError
        Not the exchange's format, or a bad row (the message names the file, the column and
        the row).
    """
    path = Path(path)
    columns = trade_columns(path, exchange=exchange)
    return checked_trade_arrays(*columns, name=f"trades of {path.name}")


def _archive_key(archive: Path) -> dict[str, Any] | None:
    """What identifies the verified archive file now: its kept SHA-256, size and mtime;
    ``None`` when it or its ``.CHECKSUM`` is missing or unreadable."""
    try:
        stat = archive.stat()
        kept = archive.with_name(archive.name + ".CHECKSUM").read_text("utf-8")
        sha256 = checksum_digest(kept, archive.name)
    except (OSError, ValueError):
        return None
    return {"sha256": sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _crc(values: np.ndarray) -> int:
    return int(_zlib.crc32(np.ascontiguousarray(values).view(np.uint8)))


def _crcs(arrays: TradeArrays) -> list[int]:
    return [_crc(getattr(arrays, name)) for name in _NAMES]


class DecodedDay:
    """The decoded-day file of one archive file.

    Parameters
    ----------
    root : pathlib.Path
        The cache root.
    exchange, symbol : str
        ``"binance"``/``"bybit"`` and the archive's symbol (``"BTCUSDT"``).
    archive : pathlib.Path
        The archive file (under ``root/archives``) the day is decoded from.
    """

    def __init__(self, root: Path, exchange: str, symbol: str, archive: Path) -> None:
        self.archive = archive
        self.path = path_under(root, "decoded", safe_filename(exchange, "exchange"),
                               safe_filename(symbol, "symbol"),
                               safe_filename(f"{archive.name}.parquet", "archive name"),
                               what="cache_dir")

    def _read(self, meta: dict[str, Any]) -> TradeArrays:
        table = pq.read_table(self.path, page_checksum_verification=True)
        if table.schema.remove_metadata() != _SCHEMA or table.num_rows != meta["rows"]:
            raise ValueError(f"unexpected layout {table.schema.names}, {table.num_rows} rows")
        columns = [table.column(name).to_numpy() for name in _NAMES]
        if [_crc(c) for c in columns] != meta["crc32"]:
            raise ValueError("a column's CRC-32 does not match the one written")
        return TradeArrays(*columns)  # the very columns that were checked, in time order

    def load(self) -> TradeArrays | None:
        """The decoded day, or ``None`` when there is none, the archive changed since it was
        decoded (or is gone), or the file is damaged (then deleted, with a FeedWarning)."""
        if not self.path.exists():
            return None
        try:
            raw = (pq.read_schema(self.path).metadata or {})[_META_KEY]
            meta = json.loads(raw)
            if meta.get("version") != _VERSION:
                return None
            if meta.get("archive") != _archive_key(self.archive):
                return None  # the archive was replaced or touched: decode it again
            return self._read(meta)
        except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as exc:
            warnings.warn(f"decoded trades file {self.path} is damaged ({type(exc).__name__}: "
                          f"{exc}); deleting it and decoding {self.archive.name} again",
                          FeedWarning, stacklevel=3)
            self.path.unlink(missing_ok=True)
            return None

    def save(self, arrays: TradeArrays, key: dict[str, Any]) -> None:
        """Write the day (a temporary file renamed into place), keyed to the archive."""
        meta = {"version": _VERSION, "archive": key, "rows": len(arrays),
                "crc32": _crcs(arrays)}
        table = pa.table([getattr(arrays, name) for name in _NAMES], schema=_SCHEMA)
        table = table.replace_schema_metadata({_META_KEY: json.dumps(meta)})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                pq.write_table(table, handle, compression="lz4", write_page_checksum=True,
                               row_group_size=max(1, len(arrays)))  # one chunk: no copies
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class ArchiveDay:
    """One archive day's trades, read back decoded or decoded just now and not kept yet.

    Attributes
    ----------
    trades : indicator.TradeArrays
        The whole day, checked, in time order.
    decoded : bool
        Whether the archive file was decoded for it (not read back from the cache).
    """

    def __init__(self, trades: TradeArrays, store: DecodedDay | None = None,
                 key: dict[str, Any] | None = None) -> None:
        self.trades = trades
        self.decoded = store is not None
        self._store, self._key = store, key

    def keep(self) -> None:
        """Write the freshly decoded day to the cache (once; nothing for a day read back)."""
        if self._store is not None and self._key is not None:
            self._store.save(self.trades, self._key)
        self._store = None


def archive_day(exchange: Any, symbol: str, day: Any, *, cache_dir: Any = None,
                base_url: str | None = None) -> ArchiveDay:
    """:func:`archive_day_trades` in two steps: the day now, written to the decoded-day cache
    when :meth:`ArchiveDay.keep` is called (so that a caller reading days on one thread can
    write them on another). Arguments, warnings and errors as :func:`archive_day_trades`."""
    name = archive_exchange(exchange)
    stamp, _ = _period(day)
    if len(stamp) != 10:
        raise ValueError(f"day={day!r}: one UTC day such as '2026-06-01', not a month")
    root = cache_root(cache_dir)
    if root is None:
        raise ValueError("cache_dir=False: archive files must be kept somewhere; pass a path")
    sym = archive_symbol(symbol)
    kind = "aggTrades" if name == "binance" else "trades"
    rel = _archive_path(name, kind, sym, stamp, False, None)
    archive = path_under(root, "archives", name, *rel.split("/"), what="cache_dir")
    store = DecodedDay(root, name, sym, archive)
    cached = store.load()
    if cached is not None:
        return ArchiveDay(cached)

    def fetch() -> Path:
        return _download(name, rel, root, base_url)

    columns = _read_cached(fetch, lambda p: trade_columns(p, exchange=name))
    arrays = checked_trade_arrays(*columns, name=f"trades of {archive.name}")
    return ArchiveDay(arrays, store, _archive_key(archive))


def archive_day_trades(exchange: Any, symbol: str, day: Any, *, cache_dir: Any = None,
                       base_url: str | None = None) -> TradeArrays:
    """One UTC day of the exchange's trade archive as checked columns, decoded once.

    The first call downloads the day's file (checksum-verified, as
    :func:`download_archive`), decodes it (the zip member or gzip stream decompressed
    natively as pyarrow parses it), checks every row and keeps the columns under
    ``<cache_dir>/decoded/``; later calls read those back (a few tens of milliseconds for
    1.5M trades) as long as the archive file is the one they came from.

    Parameters
    ----------
    exchange : {"binance", "binanceusdm", "bybit"} or ccxt.Exchange
        Binance USD-M aggTrades or Bybit's trading archive.
    symbol : str
        ``"BTC/USDT:USDT"`` or ``"BTCUSDT"``.
    day : str, date, Timestamp or int
        The UTC day (a time inside it is enough).
    cache_dir, base_url
        As for :func:`download_archive`.

    Returns
    -------
    indicator.TradeArrays
        ``time`` (epoch ns, UTC), ``price`` (quote currency), ``quantity`` (coins),
        ``is_buy`` (taker buys), the whole day in time order (stable).

    Warns
    -----
    FeedWarning
        A damaged decoded file (deleted and decoded again), or an archive file that could
        not be read (fetched again).

    Raises
    ------
    FeedError
        The day is not in the archive, or the download keeps failing.
    ValueError
        A bad row in the archive (the file, the column and the row are named);
        ``cache_dir=False``.
    """
    got = archive_day(exchange, symbol, day, cache_dir=cache_dir, base_url=base_url)
    got.keep()
    return got.trades
