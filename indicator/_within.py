"""Live lines within ``x`` of the close, for lines that end at their first touch.

Everything here works in "long" terms: a line at ``price`` is killed by the first bar after its
start whose ``kill`` value is ``<= price`` (``kill`` is the low for long lines; the short side
passes negated highs and negated prices), and it is counted at bar ``t`` when
``price >= thr[t]``.

When every line ends at its first touch (what :func:`oi_levels` produces; checked by
:func:`ends_at_first_touch`), the live lines behave like a stack ordered by price: a bar
removes exactly the live lines priced at or above its ``kill``. So a line live entering a
stretch of bars ``[c, t]`` is still live at ``t`` iff its price is below ``min(kill[c..t])``,
and counting live lines in a price range needs no bookkeeping of the ends inside the stretch.

Cost: ``O(n log n + m log m)`` with small constants. The bars are cut into coarse blocks of
:data:`COARSE` bars and those into fine blocks of :data:`FINE` bars; at bar ``t`` a live line
was either

1. live entering ``t``'s coarse block: one sorted array of prices per block, two ranks;
2. born earlier in the coarse block, live entering ``t``'s fine block: one bitset row per fine
   block over the block's new lines ranked by price, a popcount between two ranks;
3. born in ``t``'s own fine block: checked one by one (at most ``FINE`` bars each).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._search import first_at_or_below

__all__ = [
    "COARSE", "FINE", "BlockEvents", "bit", "block_events", "count_beyond_touched",
    "ends_at_first_touch", "set_bits_between",
]

COARSE = 4096  # bars per coarse block
FINE = 8  # bars per fine block; must divide COARSE
_ONE = np.uint64(1)
_POW2 = np.ldexp(1.0, np.arange(32))  # 2.0 ** k
_LOW32 = np.array([(1 << k) - 1 for k in range(32)], dtype=np.uint32)  # bits below k


def ends_at_first_touch(
    s: np.ndarray, e: np.ndarray, price: np.ndarray, kill: np.ndarray
) -> bool:
    """True when each line's end ``e`` (``len(kill)`` = never) is its first touch: the first
    bar after ``s`` whose ``kill`` is ``<= price``."""
    if ((s < 0) | (e <= s) | (e > len(kill))).any():
        return False
    return bool(np.array_equal(first_at_or_below(kill, s + 1, price), e))


# --------------------------------------------------------------------------- the counts


def set_bits_between(words: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Ranks ``r`` with ``lo <= r < hi`` whose bit is set in ``words``, ascending."""
    if hi <= lo:
        return np.empty(0, dtype=np.int64)
    w0 = lo >> 6
    chunk = words[w0 : ((hi - 1) >> 6) + 1].astype("<u8", copy=False)
    bits = np.unpackbits(chunk.view(np.uint8), bitorder="little")
    ranks = np.flatnonzero(bits[lo - w0 * 64 : hi - w0 * 64])
    return ranks + lo


class BlockEvents(NamedTuple):
    """Lines ranked by price and grouped by the coarse block of their start and their end."""

    order: np.ndarray  # line indices by ascending price: order[rank] = line
    sorted_price: np.ndarray
    rank: np.ndarray  # rank[line]
    by_start: np.ndarray  # line indices grouped by start block ...
    start_at: np.ndarray  # ... block b's are by_start[start_at[b]:start_at[b + 1]]
    by_end: np.ndarray  # likewise by end block (never-ending lines last)
    end_at: np.ndarray

    def born(self, b: int) -> np.ndarray:
        return self.by_start[self.start_at[b] : self.start_at[b + 1]]

    def died(self, b: int) -> np.ndarray:
        return self.by_end[self.end_at[b] : self.end_at[b + 1]]

    def advance(self, alive: np.ndarray, b: int) -> None:
        """Turn the bitset of lines live entering block ``b`` into that of block ``b + 1``."""
        toggled = self.rank[np.concatenate([self.born(b), self.died(b)])]
        np.bitwise_xor.at(alive, toggled >> 6, bit(toggled))


def block_events(
    s: np.ndarray, e: np.ndarray, price: np.ndarray, n: int, size: int
) -> BlockEvents:
    """Rank lines by price (any order consistent with price serves) and group them by the
    block of ``size`` bars holding their start ``s`` and their end ``e`` (``n`` = never)."""
    order = np.argsort(price)
    rank = np.empty(price.size, dtype=np.int64)
    rank[order] = np.arange(price.size)
    nblocks = -(-n // size)
    by_start, start_at = _group(s // size, nblocks)
    by_end, end_at = _group(np.where(e < n, e // size, nblocks), nblocks)
    return BlockEvents(order, price[order], rank, by_start, start_at, by_end, end_at)


def _group(key: np.ndarray, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices sorted by ``key`` (stable) and where each key ``0..groups`` begins."""
    # Small integer keys take numpy's radix sort.
    order = np.argsort(key.astype(np.int16) if groups < 32_000 else key, kind="stable")
    return order, np.searchsorted(key[order], np.arange(groups + 2))


def bit(ranks: np.ndarray) -> np.ndarray:
    """Each rank's bit within its 64-bit word."""
    return np.left_shift(_ONE, (ranks & 63).astype(np.uint64))


def _ranks(sorted_values: np.ndarray, sorted_needles: np.ndarray) -> np.ndarray:
    """``np.searchsorted(sorted_values, sorted_needles, "left")`` for sorted needles, by a
    linear merge (a stable sort of two sorted runs), about twice as fast."""
    k = sorted_needles.size
    merged = np.argsort(np.concatenate([sorted_needles, sorted_values]), kind="stable")
    return np.flatnonzero(merged < k) - np.arange(k)


def _popcount_below(
    below: np.ndarray, rows: np.ndarray, row: np.ndarray, rank: np.ndarray
) -> np.ndarray:
    """Set bits of ``rows[row]`` (32-bit words) at positions ``< rank``; ``below`` holds each
    row's per-word prefix counts (one more column than ``rows``)."""
    words = rows.shape[1]
    at = row * words + (rank >> 5)
    partial = np.bitwise_count(rows.ravel()[at] & _LOW32[rank & 31])
    return below.ravel()[at + row] + partial


def _born_rows(
    lo: int, nbars: int, born: np.ndarray, s: np.ndarray, e: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Bitset rows over the block's new lines (bit = position in ``born``, 32-bit words): row
    ``r`` holds those live entering the block's fine block ``r`` that were born before it.
    Also each row's per-word prefix popcounts."""
    nrows = -(-nbars // FINE)
    words = (born.size >> 5) + 1
    row_in = (s[born] - lo) // FINE + 1  # first fine block it enters live
    be = e[born] - lo
    row_out = np.where(be < nbars, be // FINE + 1, nrows)  # first one it no longer enters
    who = np.flatnonzero(row_in < np.minimum(row_out, nrows))  # lines in at least one row
    # Toggle each line's bit on at row_in and off at row_out, then XOR down the rows. The
    # toggles of one (row, word) are distinct powers of two, so a float sum is exact.
    key = np.concatenate([row_in[who], row_out[who]]) * words + np.tile(who >> 5, 2)
    toggles = np.bincount(key, np.tile(_POW2[who & 31], 2), minlength=(nrows + 1) * words)
    rows = toggles[: nrows * words].astype(np.uint32).reshape(nrows, words)
    np.bitwise_xor.accumulate(rows, axis=0, out=rows)
    below = np.zeros((nrows, words + 1), dtype=np.int32)
    np.cumsum(np.bitwise_count(rows), axis=1, out=below[:, 1:])
    return rows, below


def _block(
    out: np.ndarray, lo: int, entering_price: np.ndarray, born: np.ndarray,
    s: np.ndarray, e: np.ndarray, price: np.ndarray,
    base: np.ndarray, factors: np.ndarray, kill: np.ndarray,
) -> None:
    """Add to ``out`` (``(columns, bars)`` of the block's bars) parts 1 and 2: the lines born
    before each bar's fine block.

    ``entering_price``: sorted prices of the lines live entering the block that survive its
    first bar; ``born``: the lines born in the block (ascending price) that can count.
    """
    nbars = base.size
    # One sorted universe: the entering lines and the block's new lines.
    both = np.concatenate([entering_price, price[born]])
    merged = np.argsort(both, kind="stable")  # two sorted runs: a linear merge
    uni_price = both[merged]
    born_upto = np.zeros(uni_price.size + 1, dtype=np.int64)  # new lines among the first r
    np.cumsum(merged >= entering_price.size, out=born_upto[1:])
    entering_upto = np.arange(uni_price.size + 1) - born_upto

    # Ranks in the universe: lines priced below each bar's kill and thresholds.
    kill_rank = np.empty(nbars, dtype=np.int64)
    order = np.argsort(kill)
    kill_rank[order] = _ranks(uni_price, kill[order])
    # 1. Live entering the block: priced below every kill since lo, at or above the threshold.
    alive_upto = entering_upto[np.minimum.accumulate(kill_rank)]

    if born.size:
        rows, below = _born_rows(lo, nbars, born, s, e)
        nrows = rows.shape[0]
        padded = np.full(nrows * FINE, uni_price.size, dtype=np.int64)
        padded[:nbars] = kill_rank
        fine_alive = np.minimum.accumulate(padded.reshape(nrows, FINE), axis=1).ravel()[:nbars]
        t_row = np.arange(nbars) // FINE
        upper = _popcount_below(below, rows, t_row, born_upto[fine_alive])

    order = np.argsort(base)  # every column is base * a positive factor: one order for all
    sorted_base = base[order]
    thr_rank = np.empty(nbars, dtype=np.int64)
    for j, factor in enumerate(factors):
        thr_rank[order] = _ranks(uni_price, sorted_base * factor)
        # Each part is clipped at 0 on its own: a threshold above every live price counts
        # nothing.
        out[j] += np.maximum(alive_upto - entering_upto[thr_rank], 0)
        if born.size:
            # 2. Born in an earlier fine block of this one, live entering t's fine block.
            lower = _popcount_below(below, rows, t_row, born_upto[thr_rank])
            out[j] += np.maximum(upper - lower, 0)


def _own_fine_block(
    out: np.ndarray, s: np.ndarray, e: np.ndarray, price: np.ndarray, thr: np.ndarray,
    lowest: np.ndarray,
) -> None:
    """Part 3, into ``out``: lines live at ``t`` and born in ``t``'s fine block, at or above
    ``thr[:, t]``.

    ``thr`` is ``(columns, bars)``; ``lowest[t]`` is the lowest threshold of ``t``'s fine
    block (a line below it cannot count there).
    """
    n = thr.shape[1]
    keep = price >= lowest[s]
    s, e, price = s[keep], e[keep], price[keep]
    stop = np.minimum(e, np.minimum((s // FINE + 1) * FINE, n))
    length = stop - s
    t = np.repeat(s - np.cumsum(length) + length, length) + np.arange(int(length.sum()))
    p = np.repeat(price, length)
    for j in range(thr.shape[0]):
        out[j] += np.bincount(t[p >= thr[j, t]], minlength=n)


def count_beyond_touched(
    s: np.ndarray, e: np.ndarray, price: np.ndarray,
    base: np.ndarray, factors: np.ndarray, kill: np.ndarray,
) -> np.ndarray:
    """``out[j, t]``: lines live at bar ``t`` (``s <= t < e``) with ``price >= base[t] *
    factors[j]``, for lines that end at their first touch (see :func:`ends_at_first_touch`).

    Parameters
    ----------
    s, e : numpy.ndarray
        int64 bar positions: first live bar, first bar no longer live (``n`` = never).
    price : numpy.ndarray
        float64 line prices.
    base : numpy.ndarray
        float64, one per bar; ``factors`` are positive, so every column of thresholds is
        ordered like ``base``.
    factors : numpy.ndarray
        float64 positive multipliers, one per output row.
    kill : numpy.ndarray
        float64, one per bar: a line is touched by the bar when ``kill <= price``.

    Returns
    -------
    numpy.ndarray
        int64 ``(len(factors), len(base))``.
    """
    n = base.size
    out = np.zeros((factors.size, n), dtype=np.int64)
    if s.size == 0:
        return out
    thr = factors[:, None] * base[None, :]  # (columns, bars)
    nfine = -(-n // FINE)
    lowest = np.full(nfine * FINE, np.inf)
    np.min(thr, axis=0, out=lowest[:n])
    fine_lowest = np.repeat(lowest.reshape(nfine, FINE).min(axis=1), FINE)[:n]
    _own_fine_block(out, s, e, price, thr, fine_lowest)

    events = block_events(s, e, price, n, COARSE)
    alive = np.zeros(s.size, dtype=bool)  # live entering the block, by price rank
    for b in range(-(-n // COARSE)):
        lo, hi = b * COARSE, min(b * COARSE + COARSE, n)
        block_lowest = fine_lowest[lo:hi].min()
        # Lines priced below the lowest threshold never count; those at or above kill[lo]
        # do not survive bar lo.
        first = int(np.searchsorted(events.sorted_price, block_lowest, "left"))
        last = int(np.searchsorted(events.sorted_price, kill[lo], "left"))
        entering = events.sorted_price[np.flatnonzero(alive[first:last]) + first]
        born = events.born(b)
        new = born[price[born] >= block_lowest]
        _block(
            out[:, lo:hi], lo, entering, new[np.argsort(events.rank[new])], s, e, price,
            base[lo:hi], factors, kill[lo:hi],
        )
        alive[events.rank[born]] = True
        alive[events.rank[events.died(b)]] = False
    return out
