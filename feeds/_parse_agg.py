"""The lines of a Binance aggTrades window parsed by a compiled kernel, or not at all.

:func:`parse_agg_trades` reads header-less ``agg_trade_id,price,quantity,first_trade_id,
last_trade_id,transact_time,is_buyer_maker`` lines (possibly more columns after them) into
numpy columns, giving exactly what ``pyarrow.csv`` gives for the lines it accepts, on the two
halves of the bytes at once (numba, ``nogil``, compiled on first use and cached on disk). It
accepts only the plain spelling Binance writes, and answers ``None`` ("unparsed") for anything
else, so that the pyarrow reader, with its checks and its messages, reads those bytes instead:

- ids, ``transact_time`` and extra columns: 1 to 18 ASCII digits, without a superfluous
  leading zero (so no sign, space, quote or exponent);
- ``price``, ``quantity``: an optional ``-``, such digits, an optional ``.`` followed by at
  least one digit; 18 digits in all, and the digits as an integer ``m`` at most ``2**53``.
  The value is then ``m / 10.0**k`` (``k`` fraction digits, at most 17): both operands are
  exact doubles, so the IEEE division is the correctly rounded value of the decimal, which is
  what pyarrow's parser returns;
- ``is_buyer_maker``: ``true`` or ``false`` (not the ``True``/``TRUE`` pyarrow also takes);
- lines end with ``\\n`` or ``\\r\\n`` (the last one may end without), none is empty, each
  has exactly ``width`` fields.

Without numba nothing is parsed here (``None``): pyarrow does it all, as before.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa

__all__ = ["parse_agg_trades", "taker_sides"]

_POW10 = np.array([10.0**k for k in range(23)])  # all exact doubles
_MAX_MANTISSA = 1 << 53
_MAX_DIGITS = 18  # 10**18 - 1 < 2**63: the integer never overflows
_SPLIT_BELOW = 1 << 20  # smaller windows are parsed on one thread
_AGG_WIDTH = 7  # agg_trade_id .. is_buyer_maker
_LF = 10
_LINE_MAX = 4096  # no middle line start within this: one thread


def _chunk(buf: np.ndarray, start: int, stop: int, width: int, row: int, price: np.ndarray,
           qty: np.ndarray, stamp: np.ndarray, maker: np.ndarray, pow10: np.ndarray) -> int:
    """Parse the lines of ``buf[start:stop]`` into the columns from ``row`` on; the row after
    the last, or ``-1`` when a line is not in the plain form or there are more lines than
    rows (the columns are then garbage).

    One function on purpose: split into helpers (even inlined by numba) it ran 4 to 8 times
    slower, the arrays' reference counting paid on every field.
    """
    i, rows = start, len(price)
    while i < stop:
        if row == rows:
            return -1
        for field in range(width):
            j, m, negative = i, 0, False
            if field == 6:  # is_buyer_maker: true or false
                if (i + 4 <= stop and buf[i] == 116 and buf[i + 1] == 114
                        and buf[i + 2] == 117 and buf[i + 3] == 101):
                    maker[row], j = True, i + 4
                elif (i + 5 <= stop and buf[i] == 102 and buf[i + 1] == 97
                        and buf[i + 2] == 108 and buf[i + 3] == 115 and buf[i + 4] == 101):
                    maker[row], j = False, i + 5
                else:
                    return -1
            else:  # digits (a sign first for price and quantity): ids, time, the whole part
                if (field == 1 or field == 2) and i < stop and buf[i] == 45:
                    negative, i, j = True, i + 1, i + 1
                while j < stop:
                    digit = np.uint8(buf[j] - 48)
                    if digit > 9:
                        break
                    m = m * 10 + digit
                    j += 1
                whole = j - i
                if whole == 0 or whole > _MAX_DIGITS or (whole > 1 and buf[i] == 48):
                    return -1
                if field == 5:
                    stamp[row] = m
                elif field == 1 or field == 2:
                    k = 0
                    if j < stop and buf[j] == 46:  # the fraction
                        j += 1
                        begin = j
                        while j < stop:
                            digit = np.uint8(buf[j] - 48)
                            if digit > 9:
                                break
                            m = m * 10 + digit
                            j += 1
                        k = j - begin
                        if k == 0 or whole + k > _MAX_DIGITS:
                            return -1
                    if m > _MAX_MANTISSA:
                        return -1
                    value = m / pow10[k]  # exact / exact: correctly rounded
                    if negative:
                        value = -value
                    if field == 1:
                        price[row] = value
                    else:
                        qty[row] = value
            if field < width - 1:  # a comma next
                if j >= stop or buf[j] != 44:
                    return -1
                i = j + 1
            elif j == stop:  # the last line, without its end
                i = j
            elif buf[j] == 10:
                i = j + 1
            elif buf[j] == 13 and j + 1 < stop and buf[j + 1] == 10:
                i = j + 2
            else:
                return -1
        row += 1
    return row


def _newlines(buf: np.ndarray, start: int, stop: int) -> int:
    """How many ``\\n`` bytes ``buf[start:stop]`` holds (numba vectorises this loop over a
    slice, not over ``range(start, stop)``: 1 ms for 25 MB instead of 8)."""
    part, count = buf[start:stop], 0
    for i in range(len(part)):
        if part[i] == _LF:
            count += 1
    return count


def _sides(maker: np.ndarray, offsets: np.ndarray, data: np.ndarray, start: int, stop: int,
           at: int) -> int:
    """Taker sides of rows ``start..stop-1`` as an Arrow string column's offsets and bytes:
    ``"sell"`` where ``maker``, else ``"buy"``, the bytes written from ``data[at]`` on and
    ``offsets[i + 1]`` set for each row ``i`` (``offsets[start]`` is the caller's); the
    position after the last byte."""
    end = at
    for i in range(start, stop):
        if maker[i]:
            data[end], data[end + 1], data[end + 2], data[end + 3] = 115, 101, 108, 108
            end += 4
        else:
            data[end], data[end + 1], data[end + 2] = 98, 117, 121
            end += 3
        offsets[i + 1] = end
    return end


_Kernels = tuple[Callable[..., int], Callable[..., int], Callable[..., int]]
_KERNELS: list[_Kernels | None] = []
_LOCK = threading.Lock()
_POOLS: dict[int, ThreadPoolExecutor] = {}  # by process: a forked child has no thread


def _kernels() -> _Kernels | None:
    """:func:`_chunk`, :func:`_newlines` and :func:`_sides` compiled by numba (loaded from
    its disk cache after the first time); ``None`` without numba."""
    with _LOCK:
        if not _KERNELS:
            try:
                import numba
            except ImportError:  # pyarrow parses everything, as it would anyway
                _KERNELS.append(None)
            else:
                jit = numba.njit(cache=True, nogil=True)
                _KERNELS.append((jit(_chunk), jit(_newlines), jit(_sides)))
    return _KERNELS[0]


def _pool() -> ThreadPoolExecutor:
    """The one thread that parses second halves, this process's (a child forked from a
    process that had one inherits the executor but not its thread: it would wait forever)."""
    pid = os.getpid()
    with _LOCK:
        if pid not in _POOLS:
            _POOLS.clear()
            _POOLS[pid] = ThreadPoolExecutor(1, thread_name_prefix="liqlevels-parse")
        return _POOLS[pid]


def _half(kernels: _Kernels, buf: np.ndarray, start: int, stop: int, width: int, row: int,
          cols: tuple[np.ndarray, ...], offsets: np.ndarray, data: np.ndarray) -> tuple[int, int]:
    """Parse the lines of ``buf[start:stop]`` into ``cols`` from ``row`` on, then write their
    sides from ``data[4 * row]`` on (room for any mix); the rows' end and the bytes' end."""
    chunk, _, sides = kernels
    end = chunk(buf, start, stop, width, row, *cols, _POW10)
    if end < 0:
        return end, 0
    return end, sides(cols[3], offsets, data, row, end, 4 * row)


def parse_agg_trades(data: bytes | memoryview, width: int, *,
                     threads: int = 2) -> tuple[np.ndarray, ...] | None:
    """``price``, ``quantity`` (float64), ``transact_time`` (int64), ``is_buyer_maker``
    (bool) of header-less aggTrades lines ``width`` columns wide, as pyarrow would read
    them, and the taker sides (``pyarrow.compute.if_else(is_buyer_maker, "sell", "buy")``
    as an Arrow ``large_string`` array, the type pandas keeps strings in, so that
    ``to_pandas`` takes it without a copy); ``None`` when a line is not in the plain form
    (see the module) or numba is absent.

    With ``threads=2`` a window of a MiB or more is parsed as two halves (cut at a line
    start) on two threads, each writing its own rows of the same columns and its sides
    after the room the first half's could take at most (closed up afterwards).
    """
    kernels = _kernels()
    if kernels is None or width < _AGG_WIDTH or not data:
        return None
    newlines = kernels[1]
    buf = np.frombuffer(data, np.uint8)
    size, mid = len(buf), 0
    if threads > 1 and size >= _SPLIT_BELOW:  # the line start after the middle
        near = np.flatnonzero(buf[size // 2:size // 2 + _LINE_MAX] == _LF)
        mid = size // 2 + int(near[0]) + 1 if near.size else 0
    split = 0 < mid < size
    pool = _pool() if split else None
    later = pool.submit(newlines, buf, mid, size) if pool is not None else None
    before = newlines(buf, 0, mid if split else size)  # the halves counted side by side
    rows = before + (later.result() if later is not None else 0) + (buf[-1] != _LF)
    cols = (np.empty(rows), np.empty(rows), np.empty(rows, np.int64), np.empty(rows, np.bool_))
    offsets, text = np.empty(rows + 1, np.int64), np.empty(4 * rows, np.uint8)
    offsets[0] = 0
    if not split:
        got, end = _half(kernels, buf, 0, size, width, 0, cols, offsets, text)
        return _columns(cols, offsets, text[:end]) if got == rows else None
    later = pool.submit(_half, kernels, buf, mid, size, width, before, cols, offsets, text)
    first, end1 = _half(kernels, buf, 0, mid, width, 0, cols, offsets, text)
    second, end2 = later.result()
    if first != before or second != rows:
        return None
    gap = 4 * before - end1  # the room the first half's sides did not take
    if gap:
        text[end1:end2 - gap] = text[4 * before:end2]
        offsets[before + 1:] -= gap
    return _columns(cols, offsets, text[:end2 - gap])


def _columns(cols: tuple[np.ndarray, ...], offsets: np.ndarray,
             text: np.ndarray) -> tuple[Any, ...]:
    side = pa.LargeStringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets),
                                            pa.py_buffer(text))
    return (*cols, side)


def taker_sides(maker: np.ndarray) -> pa.Array | None:
    """``pyarrow.compute.if_else(maker, "sell", "buy")`` as an Arrow ``large_string`` array
    (what pandas keeps), built twice as fast; ``None`` without numba."""
    kernels = _kernels()
    if kernels is None:
        return None
    n = len(maker)
    offsets, data = np.empty(n + 1, np.int64), np.empty(4 * n, np.uint8)
    offsets[0] = 0
    used = kernels[2](maker, offsets, data, 0, n, 0)
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets),
                                            pa.py_buffer(data[:used]))
