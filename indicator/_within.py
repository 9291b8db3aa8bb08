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
    rows: np.ndarray, below: np.ndarray, row: np.ndarray, rank: np.ndarray
) -> np.ndarray:
    """Set bits of ``rows[row]`` at positions ``< rank`` (``below`` = per-word prefix counts,
    one more column than ``rows``)."""
    word = rank >> 6
    low_bits = np.left_shift(_ONE, (rank & 63).astype(np.uint64)) - _ONE
    partial = np.bitwise_count(rows.ravel()[row * rows.shape[1] + word] & low_bits)
    return below.ravel()[row * below.shape[1] + word] + partial


def _block(
    lo: int, hi: int, entering_price: np.ndarray, born: np.ndarray,
    s: np.ndarray, e: np.ndarray, price: np.ndarray,
    base: np.ndarray, factors: np.ndarray, kill: np.ndarray,
) -> np.ndarray:
    """Counts for bars ``lo..hi-1`` of parts 1 and 2 (lines born before ``t``'s fine block).

    ``entering_price``: sorted prices of the lines live entering the block that survive bar
    ``lo``; ``born``: the lines born in the block (ascending price) that can count.
    """
    nbars, nx = hi - lo, factors.size
    # One sorted universe: the entering lines and the block's new lines, flagged.
    both = np.concatenate([entering_price, price[born]])
    merged = np.argsort(both, kind="stable")  # two sorted runs: a linear merge
    uni_price = both[merged]
    is_born = merged >= entering_price.size
    born_upto = np.concatenate(([0], np.cumsum(is_born)))  # born lines among the first r
    entering_upto = np.arange(uni_price.size + 1) - born_upto

    # Ranks: lines priced below each threshold, below each bar's kill value.
    thr_rank = np.empty((nbars, nx), dtype=np.int64)
    order = np.argsort(base)  # every column is base * a positive factor: one order for all
    for j in range(nx):
        thr_rank[order, j] = _ranks(uni_price, base[order] * factors[j])
    kill_rank = np.empty(nbars, dtype=np.int64)
    order = np.argsort(kill)
    kill_rank[order] = _ranks(uni_price, kill[order])

    # 1. Live entering the block: priced below every kill since lo, at or above the threshold.
    # Each part is clipped at 0 on its own: a threshold above every live price counts nothing.
    alive_rank = np.minimum.accumulate(kill_rank)
    out = np.maximum(entering_upto[alive_rank][:, None] - entering_upto[thr_rank], 0)

    # 2. Born in an earlier fine block of this one, live entering t's fine block.
    if born.size:
        nrows = -(-nbars // FINE)
        words = (born.size >> 6) + 1
        rows = np.zeros((nrows, words), dtype=np.uint64)
        local = np.arange(born.size)
        bs, be = s[born] - lo, e[born] - lo
        row_in = bs // FINE + 1  # first fine block it enters live
        row_out = np.where(be < nbars, be // FINE + 1, nrows)  # first one it no longer enters
        row = np.concatenate([row_in, row_out])
        who = np.concatenate([local, local])
        ok = row < nrows
        np.bitwise_xor.at(rows, (row[ok], who[ok] >> 6), bit(who[ok]))
        np.bitwise_xor.accumulate(rows, axis=0, out=rows)
        below = np.zeros((nrows, words + 1), dtype=np.int32)
        np.cumsum(np.bitwise_count(rows), axis=1, out=below[:, 1:])

        padded = np.full(nrows * FINE, uni_price.size, dtype=np.int64)
        padded[:nbars] = kill_rank
        fine_alive = np.minimum.accumulate(padded.reshape(nrows, FINE), axis=1).ravel()[:nbars]
        t_row = np.arange(nbars) // FINE
        upper = _popcount_below(rows, below, t_row, born_upto[fine_alive])
        lower = _popcount_below(
            rows, below, np.repeat(t_row, nx), born_upto[thr_rank.ravel()]
        ).reshape(nbars, nx)
        out += np.maximum(upper[:, None] - lower, 0)
    return out


def _own_fine_block(
    s: np.ndarray, e: np.ndarray, price: np.ndarray, thr: np.ndarray, lowest: np.ndarray
) -> np.ndarray:
    """Part 3: lines live at ``t`` and born in ``t``'s fine block, at or above ``thr[:, t]``.

    ``thr`` is ``(columns, bars)``; ``lowest[t]`` is the lowest threshold of ``t``'s fine
    block (a line below it cannot count there).
    """
    nx, n = thr.shape
    out = np.zeros((nx, n), dtype=np.int64)
    keep = price >= lowest[s]
    s, e, price = s[keep], e[keep], price[keep]
    stop = np.minimum(e, np.minimum((s // FINE + 1) * FINE, n))
    length = stop - s
    t = np.repeat(s - np.cumsum(length) + length, length) + np.arange(int(length.sum()))
    p = np.repeat(price, length)
    for j in range(nx):
        out[j] = np.bincount(t[p >= thr[j, t]], minlength=n)
    return out


def count_beyond_touched(
    s: np.ndarray, e: np.ndarray, price: np.ndarray,
    base: np.ndarray, factors: np.ndarray, kill: np.ndarray,
) -> np.ndarray:
    """``out[t, j]``: lines live at bar ``t`` (``s <= t < e``) with ``price >= base[t] *
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
        float64 positive multipliers, one per output column.
    kill : numpy.ndarray
        float64, one per bar: a line is touched by the bar when ``kill <= price``.
    """
    n, nx = base.size, factors.size
    out = np.zeros((n, nx), dtype=np.int64)
    if s.size == 0:
        return out
    thr = factors[:, None] * base[None, :]  # (columns, bars)
    nfine = -(-n // FINE)
    padded = np.full(nfine * FINE, np.inf)
    padded[:n] = thr.min(axis=0)
    fine_lowest = np.repeat(padded.reshape(nfine, FINE).min(axis=1), FINE)[:n]
    out += _own_fine_block(s, e, price, thr, fine_lowest).T

    events = block_events(s, e, price, n, COARSE)
    alive = np.zeros((s.size >> 6) + 2, dtype=np.uint64)  # live entering the block, by rank
    for b in range(-(-n // COARSE)):
        lo, hi = b * COARSE, min(b * COARSE + COARSE, n)
        born = events.born(b)
        lowest = fine_lowest[lo:hi].min()
        # Lines priced below the lowest threshold never count; those at or above kill[lo]
        # do not survive bar lo.
        first = int(np.searchsorted(events.sorted_price, lowest, "left"))
        last = int(np.searchsorted(events.sorted_price, kill[lo], "left"))
        entering = events.sorted_price[set_bits_between(alive, first, last)]
        new = born[price[born] >= lowest]
        new = new[np.argsort(events.rank[new])]
        out[lo:hi] += _block(
            lo, hi, entering, new, s, e, price, base[lo:hi], factors, kill[lo:hi]
        )
        events.advance(alive, b)
    return out
