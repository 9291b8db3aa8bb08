"""First-touch search: for many queries ``(l, p)``, the first ``t >= l`` with ``v[t] <= p``.

No Python loop over bars or queries. The series is cut into blocks of ``_BLOCK`` bars:

1. a query whose own block (from ``l`` on) holds a hit is answered inside that block;
2. otherwise a sparse table of block minima (``O(n/B log n)`` floats) finds the first later
   block whose minimum is ``<= p`` by binary lifting, ``log2(n/B)`` vectorised steps;
3. inside that block, a binary search on the block's running minimum finds the position.

Cost: ``O(q log n)`` for ``q`` queries, ``O(n)`` extra memory.
"""

from __future__ import annotations

import numpy as np

__all__ = ["first_at_or_below"]

_BLOCK = 32
_CHUNK = 1 << 16  # queries per row-gather chunk: bounds the (chunk x block) temporaries


def _sparse_table(block_min: np.ndarray) -> list[np.ndarray]:
    """``table[k][i] = min(block_min[i : i + 2**k])`` (clipped at the end)."""
    table = [block_min]
    span = 1
    while span < len(block_min):
        prev = table[-1]
        nxt = prev.copy()
        np.minimum(prev[:-span], prev[span:], out=nxt[:-span])
        table.append(nxt)
        span *= 2
    return table


def _first_in_rows(
    rows: np.ndarray, row_of: np.ndarray, from_col: np.ndarray, limits: np.ndarray
) -> np.ndarray:
    """For each query, the first column ``>= from_col`` of ``rows[row_of]`` that is ``<= limit``.

    Every query must have such a column.
    """
    out = np.empty(len(row_of), dtype=np.int64)
    cols = np.arange(rows.shape[1])
    for lo in range(0, len(row_of), _CHUNK):
        hi = lo + _CHUNK
        hit = rows[row_of[lo:hi]] <= limits[lo:hi, None]
        hit &= cols >= from_col[lo:hi, None]
        out[lo:hi] = hit.argmax(axis=1)
    return out


def _first_in_prefix_minima(
    prefix_min: np.ndarray, block: np.ndarray, limits: np.ndarray
) -> np.ndarray:
    """The first position in ``block`` whose value is ``<= limit`` (one must exist).

    ``prefix_min`` holds each block's running minimum, non-increasing inside a block, so a
    binary search of ``log2(_BLOCK)`` vectorised steps finds it.
    """
    # Plain fancy indexing and arithmetic: ``np.take(..., out=)`` and ``where=`` take slower
    # (buffered) paths in numpy.
    pos = block * _BLOCK
    step = _BLOCK // 2
    while step:
        pos += (prefix_min[pos + (step - 1)] > limits) * step
        step //= 2
    return pos


def _descend(table: list[np.ndarray], pos: np.ndarray, limits: np.ndarray) -> np.ndarray:
    """First block ``>= pos`` whose minimum is ``<= limit`` (one must exist).

    Binary lifting: skip ``2**k`` blocks whenever all of them stay above the limit.
    """
    pos = pos.copy()
    for k in range(len(table) - 1, -1, -1):
        pos += (table[k][pos] > limits) * (1 << k)
    return pos


def first_at_or_below(values: np.ndarray, starts: np.ndarray, limits: np.ndarray) -> np.ndarray:
    """For each query ``i``, the first position ``t >= starts[i]`` with ``values[t] <= limits[i]``.

    Parameters
    ----------
    values : numpy.ndarray
        float64 series, no NaN.
    starts : numpy.ndarray
        int64 first positions to consider (may equal ``len(values)``: no candidates).
    limits : numpy.ndarray
        float64 thresholds, one per query.

    Returns
    -------
    numpy.ndarray
        int64 positions; ``len(values)`` where no position qualifies.
    """
    n = len(values)
    starts = np.asarray(starts, dtype=np.int64)
    limits = np.asarray(limits, dtype=np.float64)
    out = np.full(len(starts), n, dtype=np.int64)
    if n == 0 or len(starts) == 0:
        return out
    nb = -(-n // _BLOCK)
    padded = np.full(nb * _BLOCK, np.inf)
    padded[:n] = values
    rows = padded.reshape(nb, _BLOCK)
    block_min = rows.min(axis=1)
    later_min = np.append(np.minimum.accumulate(block_min[::-1])[::-1], np.inf)

    # Free each temporary once used: the two sides run at once and share the peak.
    q = np.flatnonzero(starts < n)
    q_start = starts[q]
    q_limit = limits[q]
    own_block = q_start // _BLOCK
    suffix_in_block = np.minimum.accumulate(rows[:, ::-1], axis=1)[:, ::-1].ravel()
    own_hit = suffix_in_block[q_start] <= q_limit
    del suffix_in_block

    hq = np.flatnonzero(own_hit)
    out[q[hq]] = own_block[hq] * np.int64(_BLOCK) + _first_in_rows(
        rows, own_block[hq], q_start[hq] % _BLOCK, q_limit[hq]
    )
    del q_start

    rest = np.flatnonzero(~own_hit)
    nxt = own_block[rest] + 1
    del own_block
    later = later_min[nxt] <= q_limit[rest]
    fq = rest[later]
    if fq.size:
        table = _sparse_table(block_min)
        block = _descend(table, nxt[later], q_limit[fq])
        del table, nxt
        prefix_min = np.minimum.accumulate(rows, axis=1).ravel()
        del padded, rows
        out[q[fq]] = _first_in_prefix_minima(prefix_min, block, q_limit[fq])
    return out
