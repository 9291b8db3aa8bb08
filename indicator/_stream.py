"""Streaming selection: large trades picked chunk by chunk (one archive day at a time), merged
with the exact result of one :func:`trade_levels` call over the whole window."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..vocab import Mode
from ._frames import TradeLevels
from ._selection import TradeArrays, check_threshold, later_extremes_at, top_k
from ._trade_levels import Weights, check_trade_options, expand_levels

__all__ = ["TradeSelection"]


@dataclass
class _Chunk:
    """One chunk's candidates (in time order) and what the merge needs to know of the rest."""

    key: Any
    seq: np.ndarray  # global order of each candidate
    time: np.ndarray
    price: np.ndarray
    notional: np.ndarray
    is_buy: np.ndarray
    later_low: np.ndarray  # extremes of the chunk's trades after each candidate
    later_high: np.ndarray
    counts: tuple[int, int]  # trades per side (buy, sell)
    low: float
    high: float
    dropped: tuple[tuple[float, int] | None, tuple[float, int] | None]  # best (notional, seq)
    seq0: int


def _keep_count(n: int, mode: str, threshold: float | int, exact: int | None) -> int:
    """Candidates a chunk keeps per side: exact when known, else a margin over its share."""
    if exact is not None:
        return min(n, exact)
    if mode == "top_n":
        return min(n, int(threshold))
    return min(n, math.ceil(2 * threshold * n) + 64)


def _chunk_side(
    notional: np.ndarray, pos: np.ndarray, mode: str, threshold: float | int,
    exact: int | None, seq0: int,
) -> tuple[np.ndarray, tuple[float, int] | None]:
    """Kept positions of one side of a chunk and its best dropped trade (portion mode)."""
    if mode == "gross_value":
        return pos[notional[pos] >= threshold], None
    values = notional[pos]
    keep = top_k(values, _keep_count(len(pos), mode, threshold, exact))
    dropped = None
    if mode == "portion" and len(keep) < len(pos):
        rest = np.ones(len(pos), dtype=bool)
        rest[keep] = False
        rest_pos = np.flatnonzero(rest)
        best = rest_pos[int(np.argmax(values[rest_pos]))]  # first maximum: the earliest
        dropped = (float(values[best]), seq0 + int(pos[best]))
    return pos[keep], dropped


class TradeSelection:
    """Select large trades chunk by chunk with the exact result of one :func:`trade_levels` call.

    Feed the chunks (e.g. archive days) in time order with :meth:`add`; each keeps only its
    candidates, so the raw rows of one chunk at a time are held. ``gross_value`` and ``top_n``
    are exact in one pass (the top n of a window are among the top n of its chunks).
    ``portion`` needs the window's count: each chunk keeps a margin over its share and its
    best dropped trade; :meth:`stale` then names the chunks whose dropped trades could still
    make the cut, to be read again and passed to :meth:`add` with ``replace=True`` (they
    then keep exactly enough). In practice :meth:`stale` is empty.

    Parameters
    ----------
    mode, threshold
        As :func:`trade_levels`.
    """

    def __init__(self, mode: Mode = "gross_value", threshold: float | int | None = None) -> None:
        self.mode, self.threshold = check_threshold(mode, threshold)
        self._chunks: dict[Any, _Chunk] = {}
        self._exact: set[Any] = set()
        self._next_seq = 0
        self._last_time: int | None = None
        self.last_price: float | None = None

    @property
    def count(self) -> int:
        """Trades seen so far (both sides)."""
        return sum(sum(c.counts) for c in self._chunks.values())

    def counts(self) -> tuple[int, int]:
        """Trades seen per side: (taker buys, taker sells)."""
        chunks = self._chunks.values()
        return sum(c.counts[0] for c in chunks), sum(c.counts[1] for c in chunks)

    def _target(self, side: int) -> int | None:
        """The number kept per side over the whole window (``None`` for gross_value)."""
        if self.mode == "gross_value":
            return None
        if self.mode == "top_n":
            return int(self.threshold)
        return int(self.counts()[side] * self.threshold)

    def add(self, arrays: TradeArrays, key: Any = None, *, replace: bool = False) -> None:
        """Add one chunk (its trades in time order, after every chunk added before).

        With ``replace=True``, ``key`` names a chunk added before, read again: it replaces
        that chunk and keeps exactly as many candidates as the window needs.

        Raises
        ------
        ValueError
            A chunk starting before the previous one ended, or a repeated / unknown key.
        """
        if replace:
            if key not in self._chunks:
                raise ValueError(f"replace=True: no chunk {key!r} was added before")
            old = self._chunks[key]
            if len(arrays) != sum(old.counts):
                raise ValueError(f"chunk {key!r} changed between reads ({sum(old.counts)} "
                                 f"trades, now {len(arrays)}); the archive file was replaced")
            exact = (self._target(0), self._target(1))
            self._chunks[key] = self._reduce(arrays, key, old.seq0, exact)
            self._exact.add(key)
            return
        if key in self._chunks:
            raise ValueError(f"chunk {key!r} was added already")
        if len(arrays) and self._last_time is not None and arrays.time[0] < self._last_time:
            raise ValueError(f"chunk {key!r} starts before the previous chunk ends; add chunks "
                             f"in time order")
        self._chunks[key] = self._reduce(arrays, key, self._next_seq, (None, None))
        self._next_seq += len(arrays)
        if len(arrays):
            self._last_time = int(arrays.time[-1])
            self.last_price = float(arrays.price[-1])

    def _kept(self, arrays: TradeArrays, notional: np.ndarray,
              exact: tuple[int | None, int | None], seq0: int) -> tuple[np.ndarray, list, list]:
        """Positions kept (ascending), the best dropped trade per side, trades per side."""
        buys = int(np.count_nonzero(arrays.is_buy))
        counts = [buys, len(arrays) - buys]
        if self.mode == "gross_value":  # one pass over both sides: no candidate is dropped
            return np.flatnonzero(notional >= self.threshold), [None, None], counts
        kept, dropped = [], []
        for side, mask in enumerate((arrays.is_buy, ~arrays.is_buy)):
            pos = np.flatnonzero(mask)
            side_kept, side_dropped = _chunk_side(notional, pos, self.mode, self.threshold,
                                                  exact[side], seq0)
            kept.append(side_kept)
            dropped.append(side_dropped)
        return np.sort(np.concatenate(kept)), dropped, counts

    def _reduce(self, arrays: TradeArrays, key: Any, seq0: int,
                exact: tuple[int | None, int | None]) -> _Chunk:
        notional = arrays.notional
        keep, dropped, counts = self._kept(arrays, notional, exact, seq0)
        low, high = later_extremes_at(arrays.price, keep)
        empty = len(arrays) == 0
        return _Chunk(
            key=key, seq=seq0 + keep, time=arrays.time[keep], price=arrays.price[keep],
            notional=notional[keep], is_buy=arrays.is_buy[keep], later_low=low,
            later_high=high, counts=(counts[0], counts[1]),
            low=np.inf if empty else float(arrays.price.min()),
            high=-np.inf if empty else float(arrays.price.max()),
            dropped=(dropped[0], dropped[1]), seq0=seq0,
        )

    def _merged(self) -> dict[str, np.ndarray]:
        chunks = list(self._chunks.values())
        # extremes of every later chunk, for the survivors rule
        lows = np.array([c.low for c in chunks] + [np.inf])
        highs = np.array([c.high for c in chunks] + [-np.inf])
        after_low = np.minimum.accumulate(lows[::-1])[::-1][1:]
        after_high = np.maximum.accumulate(highs[::-1])[::-1][1:]
        parts: dict[str, list[np.ndarray]] = {k: [] for k in (
            "seq", "time", "price", "notional", "is_buy", "later_low", "later_high")}
        for c, lo, hi in zip(chunks, after_low, after_high, strict=True):
            for name in ("seq", "time", "price", "notional", "is_buy"):
                parts[name].append(getattr(c, name))
            parts["later_low"].append(np.minimum(c.later_low, lo))
            parts["later_high"].append(np.maximum(c.later_high, hi))
        if not chunks:
            return {k: np.empty(0) for k in parts}
        return {k: np.concatenate(v) for k, v in parts.items()}

    def _select(self, merged: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Per side, positions (in the merged candidates) of the window's selection."""
        out = []
        is_buy = merged["is_buy"].astype(bool)
        for side, mask in enumerate((is_buy, ~is_buy)):
            pos = np.flatnonzero(mask)
            target = self._target(side)
            if target is None:
                out.append(pos[merged["notional"][pos] >= self.threshold])
            else:
                out.append(pos[top_k(merged["notional"][pos], target)])
        return out

    def stale(self) -> list[Any]:
        """Keys of chunks to read again (``portion`` only): their dropped trades could rank
        inside the window's selection. Empty when the selection is already exact."""
        if self.mode != "portion":
            return []
        merged = self._merged()
        out = []
        for side, chosen in enumerate(self._select(merged)):
            target = self._target(side) or 0
            if target == 0:
                continue
            if len(chosen) < target:
                cut = None  # too few candidates: every truncated chunk may hold more
            else:
                values = merged["notional"][chosen]
                weakest = np.flatnonzero(values == values.min())[-1]
                cut = (float(values[weakest]), int(merged["seq"][chosen][weakest]))
            for key, c in self._chunks.items():
                drop = c.dropped[side]
                if key in self._exact or drop is None or key in out:
                    continue
                if cut is None or drop[0] > cut[0] or (drop[0] == cut[0] and drop[1] < cut[1]):
                    out.append(key)
        return out

    def levels(
        self,
        *,
        leverages: Sequence[int] = (10, 25, 50, 100),
        mmr: float = 0.0,
        weights: Weights = None,
        survivors_only: bool = False,
    ) -> TradeLevels:
        """The levels frame of the window, as :func:`trade_levels` on all chunks at once.

        Raises
        ------
        ValueError
            No trade was added, or (``portion``) :meth:`stale` chunks were not read again.
        """
        levs, mmr, shares = check_trade_options(leverages, mmr, weights)
        if self.count == 0:
            raise ValueError("no trades were added: the window holds no trades")
        stale = self.stale()
        if stale:
            raise ValueError(f"chunks {stale} must be read again (add(..., replace=True))")
        merged = self._merged()
        kept = np.sort(np.concatenate(self._select(merged)))
        extremes = {}
        if survivors_only:
            extremes = {"later_low": merged["later_low"][kept],
                        "later_high": merged["later_high"][kept]}
        return expand_levels(
            merged["time"][kept].astype(np.int64), merged["price"][kept],
            merged["notional"][kept], merged["is_buy"][kept].astype(bool),
            leverages=levs, mmr=mmr, shares=shares, **extremes,
        )
