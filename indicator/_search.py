"""First-touch search: for many queries ``(l, p)``, the first ``t >= l`` with ``v[t] <= p``.

No Python loop over bars or queries. The series is cut into blocks of ``_BLOCK`` bars:

1. a query whose own block (from ``l`` on) holds a hit is answered inside that block;
2. otherwise a sparse table of block minima (``O(n/B log n)`` floats) finds the first later
   block whose minimum is ``<= p`` by binary lifting, ``log2(n/B)`` vectorised steps;
3. inside that block, a binary search on the block's running minimum finds the position.

Cost: ``O(q log n)`` for ``q`` queries, ``O(n)`` extra memory.

:func:`oi_levels` ends its lines here below 200,000 lines and in a process without numba;
above, by the compiled backward sweep of :mod:`._ends` (the same ends, linear in the bars).
"""

from __future__ import annotations

import numpy as np

__all__ = ["first_at_or_below"]

_SHIFT = 5
_BLOCK = 1 << _SHIFT
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
    """First block ``>= pos`` whose minimum is ``<= limit`` (one must exist); updates ``pos``.

    Binary lifting: skip ``2**k`` blocks whenever all of them stay above the limit.
    """
    for k in range(len(table) - 1, -1, -1):
        pos += (table[k][pos] > limits) * (1 << k)
    return pos


def _suffix_minima(rows: np.ndarray) -> np.ndarray:
    """Each position's minimum up to the end of its row, flattened.

    Column by column from the right: 31 vectorised passes over the blocks run faster than
    ``np.minimum.accumulate`` along the short, reversed rows.
    """
    out = rows.copy()
    for col in range(rows.shape[1] - 2, -1, -1):
        np.minimum(out[:, col], out[:, col + 1], out=out[:, col])
    return out.ravel()


def first_at_or_below(
    values: np.ndarray, starts: np.ndarray, limits: np.ndarray, *, above: bool = False
) -> np.ndarray:
    """For each query ``i``, the first position ``t >= starts[i]`` with ``values[t] <= limits[i]``
    (``values[t] >= limits[i]`` when ``above``).

    Parameters
    ----------
    values : numpy.ndarray
        float64 series, no NaN.
    starts : numpy.ndarray
        int64 first positions to consider, ``0 <= start <= len(values)`` (``len(values)``:
        no candidates).
    limits : numpy.ndarray
        float64 thresholds, one per query.
    above : bool, default False
        Search for the first value at or above the limit instead (short liquidation lines).

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
    # "At or above" is "at or below" on the negated series: negate while padding (no extra copy).
    if above:
        limits = -limits
    # At least one +inf pad after the last value, so a start of ``n`` needs no special case.
    nb = n // _BLOCK + 1
    padded = np.empty(nb * _BLOCK)
    if above:
        np.negative(values, out=padded[:n])
    else:
        padded[:n] = values
    padded[n:] = np.inf
    rows = padded.reshape(nb, _BLOCK)
    block_min = rows.min(axis=1)
    later_min = np.append(np.minimum.accumulate(block_min[::-1])[::-1], np.inf)

    # Free each temporary once used: the two sides run at once and share the peak.
    own_block = starts >> _SHIFT
    own_hit = _suffix_minima(rows)[starts] <= limits
    hq = np.flatnonzero(own_hit)
    if hq.size:
        out[hq] = own_block[hq] * _BLOCK + _first_in_rows(
            rows, own_block[hq], starts[hq] & (_BLOCK - 1), limits[hq]
        )
    # The rest: a later block holds a hit (otherwise the line is never touched).
    own_block += 1
    own_hit |= later_min[own_block] > limits
    fq = np.flatnonzero(~own_hit)
    del own_hit
    if fq.size:
        nxt = own_block[fq]
        del own_block
        fq_limit = limits[fq]
        block = _descend(_sparse_table(block_min), nxt, fq_limit)
        del nxt
        prefix_min = np.minimum.accumulate(rows, axis=1).ravel()
        del padded, rows
        out[fq] = _first_in_prefix_minima(prefix_min, block, fq_limit)
    return out
