"""Readers of the exchanges' archive files, parsed with pyarrow; local files alone.

Binance (data.binance.vision, USD-M futures): ``aggTrades``, ``klines`` and ``metrics`` CSVs,
zipped as downloaded or unzipped, with or without their header line, timestamps in
milliseconds or microseconds. Bybit (public.bybit.com/trading): ``<SYMBOL><day>.csv.gz``.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import mmap
import os
import struct
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from ..vocab import TradesFormat, check_choice, window_ns
from ._parse_agg import parse_agg_trades, taker_sides

try:  # zlib-ng (a dependency of ccxt) inflates about 1.5x faster than zlib
    from zlib_ng import gzip_ng as _gzip
    from zlib_ng import zlib_ng as _zlib
except ImportError:  # pragma: no cover - the standard library's, same results
    _gzip, _zlib = gzip, zlib  # type: ignore[misc]

__all__ = ["BYBIT_TRADES_COLUMNS", "archive_exchange", "gzip_csv_problem", "read_klines",
           "read_metrics", "read_trades", "read_trades_streamed", "to_ns", "trade_columns"]

AGG_TRADES_COLUMNS = ("agg_trade_id", "price", "quantity", "first_trade_id", "last_trade_id",
                      "transact_time", "is_buyer_maker")
KLINES_COLUMNS = ("open_time", "open", "high", "low", "close", "volume", "close_time",
                  "quote_volume", "count", "taker_buy_volume", "taker_buy_quote_volume", "ignore")
BYBIT_TRADES_COLUMNS = ("timestamp", "symbol", "side", "size", "price")  # the ones read
_BLOCK = 4 << 20  # pyarrow parses 4 MiB blocks in parallel: fastest here for ~100 MB files
_ALIASES = {"binance": "binance", "binanceusdm": "binance", "bybit": "bybit"}


def archive_exchange(exchange: Any) -> str:
    """``"binance"`` or ``"bybit"`` from a name or a ccxt instance."""
    name = getattr(exchange, "id", exchange)
    return _ALIASES[check_choice("exchange", name, tuple(_ALIASES))]


_UNIT_NAMES = ("seconds", "milliseconds", "microseconds", "nanoseconds")
_UNIT_FLOORS = np.array([1e11, 1e14, 1e17])  # the smallest stamp of ms, us, ns (after 1973)


def _unit_of(stamps: np.ndarray) -> np.ndarray:
    """Per stamp: 0 seconds, 1 milliseconds, 2 microseconds, 3 nanoseconds, by magnitude."""
    return np.searchsorted(_UNIT_FLOORS, np.abs(stamps.astype(np.float64)), side="right")


def _check_one_unit(stamps: np.ndarray, where: str) -> int:
    """The unit of every stamp (as :func:`_unit_of` numbers it); a mix is refused, naming the
    first data row (0-based, header not counted) whose unit differs from the first row's."""
    lo, hi = np.nanmin(stamps), np.nanmax(stamps)
    ends = _unit_of(np.array([lo, hi]))
    if lo >= 0 and ends[0] == ends[1]:  # the usual case, without a pass over every row
        return int(ends[0])
    units = _unit_of(stamps)
    differs = np.flatnonzero(units != units[0])
    if not differs.size:
        return int(units[0])
    row = int(differs[0])
    raise ValueError(
        f"{where}: data row {row} is in {_UNIT_NAMES[units[row]]} ({stamps[row]}) but data "
        f"row 0 is in {_UNIT_NAMES[units[0]]} ({stamps[0]}); a file holds one unit of time: "
        f"it is corrupt or two files were joined, so download it again"
    )


def to_ns(stamps: np.ndarray, where: str = "stamps") -> np.ndarray:
    """Epoch nanoseconds from epoch seconds, milliseconds, microseconds or nanoseconds.

    The unit is told by magnitude (any time after 1973 is unambiguous) and must be the same
    for every stamp: a mix raises ``ValueError`` naming ``where`` and the first row that
    differs.
    """
    stamps = np.asarray(stamps)
    if not stamps.size:
        return stamps.astype(np.int64)
    unit = _check_one_unit(stamps, where)
    if unit == 0:  # seconds, possibly fractional
        return np.rint(stamps.astype(np.float64) * 1e6).astype(np.int64) * 1000
    return stamps.astype(np.int64) * 10 ** (3 * (3 - unit))


def _utc(ns: np.ndarray) -> pd.DatetimeIndex:
    # tz="UTC" reads the values as UTC (as tz_localize does) without tz_localize's two
    # copies: 2 ms and 1,400 page faults fewer for 375k trades
    return pd.DatetimeIndex(ns.view("datetime64[ns]"), tz="UTC")


_INFLATE_CHUNK = 1 << 20  # compressed bytes pulled at a time


class _Inflater(io.RawIOBase):
    """A deflate stream (a zip member) or a gzip file (every member) decompressed as it is
    read, by zlib-ng (zlib without it) in native code, a MiB of compressed bytes at a time.

    Handed to pyarrow as a file, decompression runs on pyarrow's read-ahead thread while
    its other threads parse the blocks before, and no whole CSV is ever held. A zip
    member's length and CRC-32 are checked at its end; zlib checks each gzip member's.
    """

    def __init__(self, handle: Any, size: int, *, gzip: bool,
                 member: zipfile.ZipInfo | None = None) -> None:
        super().__init__()
        self._handle, self._left, self._gzip, self._member = handle, size, gzip, member
        self._unzip = _zlib.decompressobj(31 if gzip else -15)
        self._crc = self._length = 0

    def readable(self) -> bool:
        return True

    def _more(self, n: int) -> bytes | None:
        """Up to ``n`` more bytes (possibly none yet), or ``None`` at the end."""
        unzip = self._unzip
        if unzip.unconsumed_tail:
            return unzip.decompress(unzip.unconsumed_tail, n)
        if unzip.eof:
            rest = unzip.unused_data
            if not self._gzip or not (rest or self._left):
                return None
            self._unzip = _zlib.decompressobj(31)  # the next gzip member
            return self._unzip.decompress(rest, n) if rest else b""
        if not self._left:
            raise EOFError("the compressed data ends before its stream does (cut short?)")
        raw = self._handle.read(min(_INFLATE_CHUNK, self._left))
        if not raw:
            raise EOFError("the file is shorter than its zip directory says")
        self._left -= len(raw)
        return unzip.decompress(raw, n)

    def read(self, n: int = -1) -> bytes:
        n = (1 << 62) if n is None or n < 0 else n
        pieces, got = [], 0
        while got < n:
            piece = self._more(n - got)
            if piece is None:
                self._check_member()
                break
            pieces.append(piece)
            got += len(piece)
            if self._member is not None:
                self._crc = _zlib.crc32(piece, self._crc)
                self._length += len(piece)
        return b"".join(pieces)

    def _check_member(self) -> None:
        info = self._member
        if info is not None and (self._length != info.file_size or self._crc != info.CRC):
            raise zipfile.BadZipFile(f"{info.filename!r}: its size or CRC-32 does not match "
                                     f"the zip's directory")


def _zip_member(handle: Any, path: Path) -> zipfile.ZipInfo:
    """The first ``.csv`` member of the zip open as ``handle``, positioned at its data."""
    archive = zipfile.ZipFile(handle)
    members = [i for i in archive.infolist() if i.filename.lower().endswith(".csv")]
    if not members:
        raise ValueError(f"{path} holds no .csv file (it has {archive.namelist()})")
    info = members[0]
    if info.compress_type != zipfile.ZIP_DEFLATED or info.flag_bits & 0x1:
        raise zipfile.BadZipFile(f"{info.filename!r} is not deflated (or is encrypted)")
    handle.seek(info.header_offset)
    local = handle.read(30)
    if len(local) < 30 or local[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"no local header for {info.filename!r}")
    name_len, extra_len = struct.unpack("<HH", local[26:30])
    handle.seek(info.header_offset + 30 + name_len + extra_len)
    return info


def _inflater(handle: Any, path: Path) -> _Inflater | None:
    """An :class:`_Inflater` of the zip member or gzip stream in ``handle`` (``path``);
    ``None`` for a plain file."""
    magic = handle.read(4)
    if zipfile.is_zipfile(handle):
        info = _zip_member(handle, path)
        return _Inflater(handle, info.compress_size, gzip=False, member=info)
    if magic == b"PK\x03\x04":
        raise zipfile.BadZipFile("a zip without its central directory (cut short?)")
    handle.seek(0)
    if magic[:2] != b"\x1f\x8b":
        return None
    return _Inflater(handle, os.fstat(handle.fileno()).st_size, gzip=True)


_BAD_ARCHIVE = (zipfile.BadZipFile, zlib.error, _zlib.error, EOFError, OSError)


@contextlib.contextmanager
def _open(path: Path) -> Iterator[tuple[Any, bytes]]:
    """A pyarrow-readable source of the CSV inside ``path`` and its first line.

    A zip's member or a gzip file is decompressed by :class:`_Inflater` as pyarrow reads
    it; a plain CSV is read where it lies.
    """
    try:
        with open(path, "rb") as handle:
            peek = _inflater(handle, path)
            first = (peek.read(4096) if peek is not None else handle.read(4096))
            first = first.split(b"\n", 1)[0]
        if peek is None:
            yield str(path), first
            return
        with open(path, "rb") as handle:
            source = _inflater(handle, path)
            yield pa.PythonFile(source, mode="r"), first
    except _BAD_ARCHIVE as exc:
        raise ValueError(f"{path} is not a readable archive file ({exc})") from exc


@contextlib.contextmanager
def _open_streamed(path: Path) -> Iterator[tuple[Any, bytes]]:
    """The decoder before :class:`_Inflater` (kept as the benchmarks' baseline): a zip's member
    decompressed by ``zipfile`` as pyarrow reads it through Python, ``.gz`` by pyarrow."""
    try:
        if not zipfile.is_zipfile(path):
            with pa.input_stream(str(path)) as stream:  # decompresses .gz by the name
                first = stream.read(4096).split(b"\n", 1)[0]
            yield str(path), first
            return
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.lower().endswith(".csv")]
            if not names:
                raise ValueError(f"{path} holds no .csv file (it has {archive.namelist()})")
            with archive.open(names[0]) as member:
                first = member.read(4096).split(b"\n", 1)[0]
            with archive.open(names[0]) as member:
                yield pa.PythonFile(member, mode="r"), first
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise ValueError(f"{path} is not a readable archive file ({exc})") from exc


def gzip_csv_problem(path: Path, columns: tuple[str, ...]) -> str | None:
    """Why ``path`` is not a whole gzip stream of a CSV whose header names ``columns``.

    The whole stream is decompressed (and its CRC and length checked), nothing kept.

    Returns
    -------
    str or None
        The reason, for a message (``"not a complete gzip stream (...)"``, ``"header ...
        lacks ..."``), or ``None`` for a good file.
    """
    try:
        with _gzip.open(path, "rb") as stream:  # zlib-ng's when there: 2x faster
            first = stream.readline(4096)
            while stream.read(_BLOCK):
                pass
    except (OSError, EOFError, zlib.error, _zlib.error) as exc:  # BadGzipFile: an OSError
        return f"not a complete gzip stream ({type(exc).__name__}: {exc})"
    header = [f.strip() for f in first.lstrip(b"\xef\xbb\xbf").decode("utf-8", "replace")
              .strip().split(",")]
    missing = [c for c in columns if c not in header]
    if missing:
        return f"header {first[:80]!r} lacks the columns {missing} (expected {list(columns)})"
    return None


def _has_header(first: bytes) -> bool:
    text = first.strip().lstrip(b"\xef\xbb\xbf")
    return bool(text) and not (text[:1].isdigit() or text[:1] == b"-")


def _convert(types: dict[str, pa.DataType]) -> pcsv.ConvertOptions:
    return pcsv.ConvertOptions(
        include_columns=list(types), column_types=types,
        true_values=["true", "True", "TRUE"], false_values=["false", "False", "FALSE"],
    )


def _first_null(table: pa.Table, types: dict[str, pa.DataType]) -> tuple[str, int] | None:
    """The first column of ``types`` with an empty cell, and that cell's data row."""
    for col in types:
        if table.column(col).null_count:
            return col, int(pc.index(pc.is_null(table.column(col)), True).as_py())
    return None


def _read_csv(path: Path, names: tuple[str, ...], types: dict[str, pa.DataType], *,
              streamed: bool = False) -> pa.Table:
    """Columns ``types`` of a CSV whose columns are ``names`` when it has no header
    (``streamed``: through the old decoder, :func:`_open_streamed`)."""
    with (_open_streamed if streamed else _open)(path) as (source, first):
        width = first.count(b",") + 1
        read = pcsv.ReadOptions(block_size=_BLOCK, use_threads=True)
        if not _has_header(first):
            if width < len(names):
                raise ValueError(f"{path}: {width} columns, expected {len(names)} ({names})")
            read = pcsv.ReadOptions(block_size=_BLOCK, column_names=_names(names, width))
        try:
            table = pcsv.read_csv(source, read_options=read, convert_options=_convert(types))
        except (pa.ArrowInvalid, KeyError, OSError) as exc:
            raise ValueError(f"{path} is not in the expected format ({exc})") from exc
    null = _first_null(table, types)
    if null is not None:
        raise ValueError(f"{path}: column {null[0]!r} is empty at data row {null[1]}")
    return table


def _names(names: tuple[str, ...], width: int) -> list[str]:
    """Column names for a header-less CSV ``width`` columns wide (``extra_i`` past ``names``)."""
    return [*names, *(f"extra_{i}" for i in range(width - len(names)))]


# -- the window [start, end) -------------------------------------------------------------------

def _window(since: Any, until: Any) -> tuple[int | None, int | None]:
    """``[since, until)`` in epoch nanoseconds, checked."""
    lo, hi = window_ns(since, "since"), window_ns(until, "until")
    if lo is not None and hi is not None and lo >= hi:
        raise ValueError(f"until={until!r} must be after since={since!r}: the window is "
                         f"[since, until)")
    return lo, hi


def _rows(ns: np.ndarray, lo: int | None, hi: int | None) -> slice | np.ndarray:
    """The rows of ``ns`` inside ``[lo, hi)``, in time order (equal times keep row order).

    Time-ordered stamps (archives are) are cut by binary search; others are filtered, then
    sorted.
    """
    if ns.size < 2 or not (np.diff(ns) < 0).any():
        a = 0 if lo is None else int(np.searchsorted(ns, lo, side="left"))
        b = ns.size if hi is None else int(np.searchsorted(ns, hi, side="left"))
        return slice(a, max(a, b))
    inside = np.ones(ns.size, dtype=bool)
    if lo is not None:
        inside &= ns >= lo
    if hi is not None:
        inside &= ns < hi
    rows = np.flatnonzero(inside)
    return rows[np.argsort(ns[rows], kind="stable")]


def _trades_frame(ns: np.ndarray, price: np.ndarray, qty: np.ndarray, side: pa.Array,
                  lo: int | None = None, hi: int | None = None) -> pd.DataFrame:
    """The trades frame of the rows inside ``[lo, hi)``, sorted by time."""
    rows = _rows(ns, lo, hi)
    if isinstance(rows, slice):
        side = side.slice(rows.start, rows.stop - rows.start)
    else:
        side = side.take(pa.array(rows))
    return pd.DataFrame({"time": _utc(ns[rows]), "price": price[rows], "quantity": qty[rows],
                         "side": side.to_pandas()})


# -- a plain Binance CSV: only the window's bytes are parsed ---------------------------------

_AGG_TYPES = {"price": pa.float64(), "quantity": pa.float64(), "transact_time": pa.int64(),
              "is_buyer_maker": pa.bool_()}
_PACKED = (".zip", ".gz", ".bz2", ".lz4", ".zst")  # what pyarrow or _open would decompress
_SCAN = 1 << 16  # bisect byte offsets down to 64 KiB, then scan line by line
_TAIL = 4096


class _UnsliceableError(Exception):
    """Something the byte search does not expect: read the whole file instead (which reports
    a malformed row properly)."""


def _line_time(line: bytes) -> int | None:
    """``transact_time`` (the 6th field) of an aggTrades line; ``None`` at the end of file."""
    if not line:
        return None
    try:
        return int(line.split(b",", 6)[5])
    except (IndexError, ValueError):
        raise _UnsliceableError from None


def _first_at_or_after(handle: Any, lo: int, size: int, target: int) -> int:
    """Offset of the first line at or after the line start ``lo`` whose time is ``>= target``
    (``size`` when none is), in a file whose times never decrease."""
    begin, hi = lo, size
    while hi - lo > _SCAN:  # invariant: the line after ``lo`` is early, the one after ``hi`` not
        mid = (lo + hi) // 2
        handle.seek(mid)
        handle.readline()  # the rest of the line ``mid`` falls in
        stamp = _line_time(handle.readline())
        if stamp is None or stamp >= target:
            hi = mid
        else:
            lo = mid
    handle.seek(lo)
    if lo != begin:
        handle.readline()
    while True:
        pos = handle.tell()
        stamp = _line_time(handle.readline())
        if stamp is None or stamp >= target:
            return pos


def _last_time(handle: Any, begin: int, size: int) -> int:
    """The time on the file's last line (after ``begin``)."""
    back = max(begin, size - _TAIL)
    handle.seek(back)
    tail = handle.read().rstrip(b"\r\n")
    cut = tail.rfind(b"\n")
    if cut < 0 and back > begin:
        raise _UnsliceableError  # a last line longer than 4 KiB: not aggTrades
    stamp = _line_time(tail[cut + 1:])
    if stamp is None:
        raise _UnsliceableError
    return stamp


_UNIT_IDX = {1_000_000: 1, 1_000: 2, 1: 3}  # ns per unit -> the unit's number in _unit_of


def _unit(stamp: int) -> int:
    """Nanoseconds per unit of an epoch stamp in ms, us or ns, as :func:`to_ns` tells them."""
    if stamp < 10**11:
        raise _UnsliceableError  # seconds (or before 1973): not Binance's
    return 1 if stamp >= 10**17 else 1_000 if stamp >= 10**14 else 1_000_000


def _byte_span(path: Path, lo: int | None,
               hi: int | None) -> tuple[bytes | memoryview, int, int] | None:
    """The window's lines (header-less bytes), ns per time unit and the number of columns;
    ``None`` when the whole file is to be read."""
    if path.suffix.lower() in _PACKED:
        return None
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        first = handle.readline()
        if first[:2] in (b"PK", b"\x1f\x8b"):  # zip or gzip magic: no seeking inside
            return None
        begin = len(first) if _has_header(first) else 0
        handle.seek(begin)
        line = handle.readline()
        head, tail = _line_time(line), _last_time(handle, begin, size)
        if head is None or tail < head or _unit(head) != _unit(tail):
            raise _UnsliceableError  # no rows, or not in time order
        scale = _unit(head)
        a = begin if lo is None else _first_at_or_after(handle, begin, size, -(-lo // scale))
        b = size if hi is None else _first_at_or_after(handle, a, size, -(-hi // scale))
        if a == begin and b == size:
            return None
        handle.seek(b)
        after = _line_time(handle.readline())  # a row in another unit stops the search early
        if after is not None and _unit(after) != scale:
            raise _UnsliceableError  # read it whole: that names the row
        return _window_bytes(handle, a, b), scale, line.count(b",") + 1


def _window_bytes(handle: Any, a: int, b: int) -> bytes | memoryview:
    """Bytes ``[a, b)`` of the open file, mapped rather than read where the system allows:
    a fresh 25 MB read costs some 10 ms in page faults and the copy, the mapped pages
    about 2 (they are the page cache's own)."""
    if b <= a:
        return b""
    start = a - a % mmap.ALLOCATIONGRANULARITY
    try:
        mapped = mmap.mmap(handle.fileno(), b - start, access=mmap.ACCESS_READ, offset=start)
    except (OSError, ValueError):  # not mappable here: read it
        handle.seek(a)
        return handle.read(b - a)
    return memoryview(mapped)[a - start:]


def _binance_slice(path: Path, lo: int | None, hi: int | None) -> pd.DataFrame | None:
    """The trades of a plain aggTrades CSV inside ``[lo, hi)``, parsing only their bytes.

    aggTrades are in trade-id order, so ``transact_time`` never decreases: two binary searches
    on byte offsets find the window. ``None`` (read it whole) for a packed file, a window
    holding the whole file, or anything unexpected: an unreadable line, rows out of order.
    """
    try:
        span = _byte_span(path, lo, hi)
    except (_UnsliceableError, OSError):
        return None
    if span is None:
        return None
    data, scale, width = span
    if not data:
        return _trades_frame(np.empty(0, np.int64), np.empty(0), np.empty(0),
                             pa.array([], pa.string()))
    if width < len(AGG_TRADES_COLUMNS):
        return None
    columns = parse_agg_trades(data, width)  # the plain lines Binance writes, compiled
    own = columns is not None  # fresh, writable arrays: the frame may hold them uncopied
    if columns is None:
        columns = _agg_columns(data, width)  # anything else: pyarrow, which may refuse them
        if columns is None:
            return None
        columns = (*columns, None)
    price, qty, raw, maker, side = columns
    if not raw.size or (raw[1:] < raw[:-1]).any():
        return None  # let the whole read report the bad row, or sort and cut
    if _unit_of(raw[[0, -1]]).tolist() != [_UNIT_IDX[scale]] * 2:
        return None  # rows in another unit: the whole read names the first
    ns = np.multiply(raw, scale, out=raw if own else None)  # the kernel's array: in place
    if (lo is not None and ns[0] < lo) or (hi is not None and ns[-1] >= hi):
        return None
    if side is None:
        side = taker_sides(maker)
    if side is None:
        side = pc.if_else(pa.array(maker), "sell", "buy")  # a buyer-maker trade: taker sell
    # every row is inside, in order (pyarrow's arrays may be read-only views: copied)
    return pd.DataFrame({"time": _utc(ns), "price": price, "quantity": qty,
                         "side": side.to_pandas()}, copy=not own)


def _agg_columns(data: bytes | memoryview, width: int) -> tuple[np.ndarray, ...] | None:
    """``price``, ``quantity``, ``transact_time`` and ``is_buyer_maker`` of header-less
    aggTrades lines read by pyarrow; ``None`` when it refuses them or a cell is empty."""
    read = pcsv.ReadOptions(block_size=_BLOCK, column_names=_names(AGG_TRADES_COLUMNS, width))
    try:
        table = pcsv.read_csv(pa.BufferReader(pa.py_buffer(data)), read_options=read,
                              convert_options=_convert(_AGG_TYPES))
    except (pa.ArrowInvalid, KeyError, OSError):
        return None
    if _first_null(table, _AGG_TYPES) is not None:
        return None
    return tuple(table.column(c).to_numpy() for c in _AGG_TYPES)


# -- the readers -----------------------------------------------------------------------------


def _binance_frame(table: pa.Table, ns: np.ndarray, lo: int | None,
                   hi: int | None) -> pd.DataFrame:
    maker = table.column("is_buyer_maker").combine_chunks()
    side = pc.if_else(maker, "sell", "buy")  # a buyer-maker trade is a taker sell
    return _trades_frame(ns, table.column("price").to_numpy(),
                         table.column("quantity").to_numpy(), side, lo, hi)


def _binance_table(path: Path, streamed: bool = False) -> tuple[pa.Table, np.ndarray]:
    """The aggTrades columns read, and ``transact_time`` in epoch ns."""
    table = _read_csv(path, AGG_TRADES_COLUMNS, _AGG_TYPES, streamed=streamed)
    ns = to_ns(table.column("transact_time").to_numpy(), f"{path}: column 'transact_time'")
    return table, ns


def _binance_trades(path: Path, lo: int | None = None, hi: int | None = None, *,
                    streamed: bool = False) -> pd.DataFrame:
    if lo is not None or hi is not None:
        frame = _binance_slice(path, lo, hi)
        if frame is not None:
            return frame
    table, ns = _binance_table(path, streamed)
    return _binance_frame(table, ns, lo, hi)


def _bybit_table(path: Path, streamed: bool = False) -> tuple[pa.Table, np.ndarray, pa.Array]:
    """Bybit's columns read, ``timestamp`` in epoch ns and ``side`` lower-cased (checked to
    be ``buy`` or ``sell``)."""
    table = _read_csv(path, BYBIT_TRADES_COLUMNS, {
        "timestamp": pa.float64(), "side": pa.string(), "size": pa.float64(),
        "price": pa.float64(),
    }, streamed=streamed)
    side = pc.utf8_lower(table.column("side").combine_chunks())
    bad = pc.invert(pc.is_in(side, pa.array(["buy", "sell"])))
    if pc.any(bad).as_py():
        row = int(pc.index(bad, True).as_py())
        raise ValueError(
            f"{path}: side is {table.column('side')[row].as_py()!r} at data row {row}; Bybit "
            f"trade files have 'Buy' or 'Sell'"
        )
    ns = to_ns(table.column("timestamp").to_numpy(), f"{path}: column 'timestamp'")
    return table, ns, side


def _bybit_trades(path: Path, lo: int | None = None, hi: int | None = None, *,
                  streamed: bool = False) -> pd.DataFrame:
    table, ns, side = _bybit_table(path, streamed)
    return _trades_frame(ns,
                         table.column("price").to_numpy(), table.column("size").to_numpy(), side,
                         lo, hi)


def trade_columns(path: str | os.PathLike, *, exchange: TradesFormat
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The whole file's trades as columns, in file order, without a frame: epoch ns (int64),
    price, quantity (float64), taker buy (bool). Read and checked as :func:`read_trades`
    reads them (the same errors); no row is dropped or sorted.
    """
    name = archive_exchange(exchange)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path={str(path)!r}: no such file")
    if name == "binance":
        table, ns = _binance_table(path)
        maker = table.column("is_buyer_maker").to_numpy()  # a buyer-maker trade: taker sell
        return (ns, table.column("price").to_numpy(), table.column("quantity").to_numpy(),
                ~maker)
    table, ns, side = _bybit_table(path)
    is_buy = pc.equal(side, "buy").to_numpy(zero_copy_only=False)
    return ns, table.column("price").to_numpy(), table.column("size").to_numpy(), is_buy


def read_trades(path: str | os.PathLike, *, exchange: TradesFormat,
                since: Any = None, until: Any = None) -> pd.DataFrame:
    """The trades of an archive file as the trades frame of docs/method.md section 3.

    Parameters
    ----------
    path : str or os.PathLike
        Binance: an ``aggTrades`` zip as downloaded from data.binance.vision, or its CSV
        (with or without the header line; ``transact_time`` in ms or us). Bybit: a
        ``public.bybit.com/trading`` ``.csv.gz`` (or the CSV unpacked).
    exchange : {"binance", "binanceusdm", "bybit"}
        Whose format the file is in.
    since, until : str, datetime, pandas.Timestamp, numpy.datetime64 or int, optional
        Keep only the trades in ``[since, until)``: anything ``pandas.Timestamp`` takes (naive
        means UTC) or epoch milliseconds; ``None`` leaves that side open. On a plain Binance
        CSV only the window's lines are parsed (found by binary search on byte offsets, as
        the rows are in time order); zip and ``.gz`` files are read whole, then cut.

    Returns
    -------
    pandas.DataFrame
        ``time`` (datetime64[ns, UTC]), ``price`` (quote currency), ``quantity`` (coins;
        Bybit inverse contracts: USD), ``side`` (``"buy"``/``"sell"``: the taker's side;
        Binance ``is_buyer_maker == true`` is a taker sell), sorted by time, indexed
        ``0..n-1``; no rows when no trade is inside the window.

    Raises
    ------
    FileNotFoundError
        No such file.
    TypeError
        ``start`` or ``end`` is not a time (e.g. a list or a bool).
    ValueError
        Not the named exchange's format (the message names the file and what was wrong);
        times in more than one unit (ms and us rows in one file: the first row whose unit
        differs is named; on a plain CSV cut by the byte search, rows outside the window
        are not parsed); an unreadable ``since``/``until``, or ``until <= since`` (named).
    """
    return _read_trades(path, exchange, since, until, streamed=False)


def _read_trades(path: str | os.PathLike, exchange: TradesFormat, since: Any, until: Any, *,
                 streamed: bool) -> pd.DataFrame:
    name = archive_exchange(exchange)
    lo, hi = _window(since, until)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path={str(path)!r}: no such file")
    read = _binance_trades if name == "binance" else _bybit_trades
    return read(path, lo, hi, streamed=streamed)


def read_trades_streamed(path: str | os.PathLike, *, exchange: TradesFormat,
                         since: Any = None, until: Any = None) -> pd.DataFrame:
    """:func:`read_trades` through the decoder it had before :class:`_Inflater` (a zip
    decompressed by ``zipfile``'s reader as pyarrow pulls it through Python): the baseline
    the benchmarks time and the tests compare against. The same frame, more slowly."""
    return _read_trades(path, exchange, since, until, streamed=True)


def read_klines(path: str | os.PathLike) -> pd.DataFrame:
    """Binance USD-M ``klines`` archive file (zip or CSV) as OHLCV bars.

    Returns
    -------
    pandas.DataFrame
        ``open, high, low, close`` (quote currency) and ``volume`` (coins), indexed by bar
        open time (UTC, ``time``), sorted, duplicates dropped.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path={str(path)!r}: no such file")
    types = {c: pa.float64() for c in ("open", "high", "low", "close", "volume")}
    table = _read_csv(path, KLINES_COLUMNS, {"open_time": pa.int64(), **types})
    ns = to_ns(table.column("open_time").to_numpy(), f"{path}: column 'open_time'")
    index = _utc(ns).rename("time")
    frame = pd.DataFrame({c: table.column(c).to_numpy() for c in types}, index=index)
    return frame[~frame.index.duplicated(keep="last")].sort_index()


def read_metrics(path: str | os.PathLike) -> pd.DataFrame:
    """Binance USD-M ``metrics`` archive file (zip or CSV): open interest every 5 minutes.

    Returns
    -------
    pandas.DataFrame
        ``open_interest`` (``sum_open_interest``, coins) and ``open_interest_value``
        (``sum_open_interest_value``, USD), indexed by snapshot time (UTC, ``time``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path={str(path)!r}: no such file")
    convert = pcsv.ConvertOptions(
        include_columns=["create_time", "sum_open_interest", "sum_open_interest_value"],
        column_types={"create_time": pa.timestamp("ns"), "sum_open_interest": pa.float64(),
                      "sum_open_interest_value": pa.float64()},
        timestamp_parsers=["%Y-%m-%d %H:%M:%S", pcsv.ISO8601],
    )
    with _open(path) as (source, first):
        if not first.startswith(b"create_time"):
            raise ValueError(f"{path}: a metrics file starts with a create_time,... header")
        try:
            table = pcsv.read_csv(source, convert_options=convert)
        except (pa.ArrowInvalid, KeyError, OSError) as exc:
            raise ValueError(f"{path} is not a Binance metrics file ({exc})") from exc
    ns = table.column("create_time").cast(pa.int64()).to_numpy()
    frame = pd.DataFrame({
        "open_interest": table.column("sum_open_interest").to_numpy(),
        "open_interest_value": table.column("sum_open_interest_value").to_numpy(),
    }, index=_utc(ns).rename("time"))
    return frame[~frame.index.duplicated(keep="last")].sort_index()
