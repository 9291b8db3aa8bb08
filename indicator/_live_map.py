"""The live trade map: trades fed chunk by chunk as a websocket delivers them, with the levels,
map and depth of one batch call on every trade seen so far (docs/method.md section 3).

Unlike :class:`TradeSelection` (a window read one archive day at a time, whose ``portion``
mode may ask for a day to be read again and whose merge walks every chunk on each call), the
state here is kept per trade so that a chunk of any size, down to one trade, costs about as
much as the chunk:

- ``gross_value``: the kept trades are appended as they come (O(chunk) per :meth:`add`).
- ``top_n``: a min-heap of the ``n`` kept trades per side; a chunk is first filtered against
  the weakest kept notional in numpy, the few that beat it go through the heap
  (O(chunk + c log n) for ``c`` such trades).
- ``portion``: the kept count ``int(count * share)`` grows with every trade, so a trade left
  out now can be kept later (when smaller trades follow): every trade is remembered, in two
  heaps per side (the kept ones, a min-heap; the rest, a max-heap) rebalanced after each
  trade. O(chunk log count) time per :meth:`add`, and memory for every trade seen (about
  200 bytes each as Python tuples: some 200 MB per million trades).

:meth:`levels`, :meth:`liquidation_map` and :meth:`depth` are computed from the kept set
(O(kept) with ``gross_value``, O(kept log kept) with the heaps; the kept trades in time order
are cached until the next :meth:`add`). The map and depth skip the levels frame and pandas'
groupby but sum each cell in row order with the same compensated (Kahan) summation as
pandas' groupby ``sum``, so they equal the batch :func:`liquidation_map` / :func:`depth`
bit for bit (the tests compare them exactly).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..vocab import Mode
from ._frames import (
    DEPTH_COLUMNS,
    MAP_COLUMNS,
    DepthFrame,
    MapFrame,
    TradeLevels,
    empty_frame,
    liquidation_factors,
    side_strings,
)
from ._map import _bin_index, _check_bins, _check_positive, default_bin_size
from ._selection import TradeArrays, check_threshold, trade_arrays
from ._trade_levels import Weights, check_trade_options, expand_levels

__all__ = ["LiveTradeMap"]

_FIELDS = ("seq", "time", "price", "notional")


class _Appended:
    """Growable arrays of the kept trades of one side (``gross_value``), in time order."""

    def __init__(self) -> None:
        self.n = 0
        self.cols = {"seq": np.empty(64, np.int64), "time": np.empty(64, np.int64),
                     "price": np.empty(64), "notional": np.empty(64)}

    def extend(self, **values: np.ndarray) -> None:
        m = len(values["seq"])
        if self.n + m > len(self.cols["seq"]):
            size = max(2 * len(self.cols["seq"]), self.n + m)
            for name, col in self.cols.items():
                grown = np.empty(size, col.dtype)
                grown[: self.n] = col[: self.n]
                self.cols[name] = grown
        for name, col in self.cols.items():
            col[self.n : self.n + m] = values[name]
        self.n += m

    def kept(self) -> dict[str, np.ndarray]:
        return {name: col[: self.n] for name, col in self.cols.items()}


def _heap_arrays(entries: list[tuple[float, int, int, float]], sign: int) -> dict[str, Any]:
    """Columns of heap entries ``(notional, sign * seq, time, price)``."""
    if not entries:
        return {"seq": np.empty(0, np.int64), "time": np.empty(0, np.int64),
                "price": np.empty(0), "notional": np.empty(0)}
    notional, seq, time, price = zip(*entries, strict=True)
    return {"seq": sign * np.asarray(seq, np.int64), "time": np.asarray(time, np.int64),
            "price": np.asarray(price, np.float64), "notional": np.asarray(notional, np.float64)}


def _kahan_cells(keys: tuple[np.ndarray, ...], values: np.ndarray
                 ) -> tuple[list[np.ndarray], np.ndarray]:
    """The distinct ``keys`` (sorted, the last key most significant) and the sum of
    ``values`` per key, summed in row order with the compensated (Kahan) summation of
    pandas' groupby ``sum``, so the sums equal the batch :func:`liquidation_map`'s bit for
    bit. Vectorised over cells: one numpy step per row of the fullest cell."""
    order = np.lexsort(keys)  # stable: row order within a cell
    sorted_keys = [k[order] for k in keys]
    vals = values[order]
    new = np.ones(len(vals), dtype=bool)
    new[1:] = np.logical_or.reduce([k[1:] != k[:-1] for k in sorted_keys])
    starts = np.flatnonzero(new)
    sizes = np.diff(np.append(starts, len(vals)))
    total = np.zeros(len(starts))
    comp = np.zeros(len(starts))
    for j in range(int(sizes.max())):
        cells = np.flatnonzero(sizes > j) if j else slice(None)
        y = vals[starts[cells] + j] - comp[cells]
        t = total[cells] + y
        c = t - total[cells] - y
        comp[cells] = np.where(np.isnan(c), 0.0, c)
        total[cells] = t
    return [k[starts] for k in sorted_keys], total


def _edges(k: np.ndarray, code: np.ndarray, size: float) -> dict[str, Any]:
    return {"price_low": k * size, "price_high": (k + 1) * size,
            "side": side_strings(code == 0)}


class LiveTradeMap:
    """The trade-based liquidation map kept up to date as trades arrive (docs/method.md 3).

    After any sequence of :meth:`add` calls, :meth:`levels` equals
    ``trade_levels(all trades added, mode=..., threshold=..., leverages=..., mmr=...,
    weights=...)`` and :meth:`liquidation_map` / :meth:`depth` equal
    ``liquidation_map(that, price=..., bin_size=bin_size)`` / ``depth(...)``. The ``top_n``
    and ``portion`` selections change as trades arrive: a trade kept now may be dropped
    later (and, with ``portion``, one left out may be kept later); ties go to the earlier
    trade, as in the batch.

    Parameters
    ----------
    mode : {"gross_value", "top_n", "portion"}
        As :func:`trade_levels`.
    threshold : float or int, optional
        As :func:`trade_levels` (notional in quote currency, a count per side, or a share).
    leverages : sequence of int
        Leverages (> 1), in output order within each trade.
    mmr : float
        Maintenance margin rate, ``0 <= mmr < 1/L``.
    bin_size : float, optional
        Map bin width (quote currency). ``None``: the batch default rule applied to the
        entries of the levels kept *at the time of the call* (``10 ** (floor(log10(max -
        min)) - 2)``), so the bins can change width as trades arrive; pass a bin size for
        bins that stay put.
    weights : sequence or mapping, optional
        As :func:`trade_levels`.

    Notes
    -----
    Duplicates are the caller's concern: a trade sent twice (e.g. replayed after a
    reconnect) is counted twice, as the batch would count a repeated row. Deduplicate by
    trade id before :meth:`add`. Costs per mode: see the module docstring (``portion``
    remembers every trade).

    Raises
    ------
    TypeError, ValueError
        Unknown mode, bad threshold, leverages, mmr or weights (as :func:`trade_levels`),
        a ``bin_size`` that is not a finite number > 0.
    """

    def __init__(
        self,
        *,
        mode: Mode = "gross_value",
        threshold: float | int | None = None,
        leverages: Sequence[int] = (10, 25, 50, 100),
        mmr: float = 0.0,
        bin_size: float | None = None,
        weights: Weights = None,
    ) -> None:
        self.mode, self.threshold = check_threshold(mode, threshold)
        self.leverages, self.mmr, self._shares = check_trade_options(leverages, mmr, weights)
        self.bin_size = None if bin_size is None else _check_positive("bin_size", bin_size)
        self.count = 0  # trades seen, both sides
        self.counts = [0, 0]  # per side: taker buys, taker sells
        self.last_time: int | None = None  # epoch ns of the latest trade
        self.last_price: float | None = None
        self._appended = (_Appended(), _Appended())  # gross_value
        self._kept: tuple[list, list] = ([], [])  # heaps (notional, -seq, time, price)
        self._rest: tuple[list, list] = ([], [])  # portion: heaps (-notional, seq, time, price)
        self._cache: dict[str, np.ndarray] | None = None  # the kept trades, in time order

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_cache"] = None
        return state

    # ----------------------------------------------------------------------------------------
    # Feeding
    # ----------------------------------------------------------------------------------------

    def add(self, trades: pd.DataFrame | TradeArrays) -> None:
        """Add a chunk of trades (any size, one trade included), not older than the last one.

        Parameters
        ----------
        trades : pandas.DataFrame or TradeArrays
            The trades frame of docs/method.md section 3 (``time`` datetime64 UTC, ``price``
            quote per coin, ``quantity`` coins, ``side`` ``"buy"``/``"sell"``, the taker's),
            checked as :func:`trade_arrays` does; rows in any order within the chunk. An
            empty frame is a no-op. ``TradeArrays`` are taken as already checked.

        Raises
        ------
        TypeError, ValueError
            A bad frame (the column and first bad row named), or a chunk whose earliest
            trade is older than the latest trade added before (both times named).
        """
        if isinstance(trades, pd.DataFrame) and len(trades) == 0:
            return
        arrays = trades if isinstance(trades, TradeArrays) else trade_arrays(trades)
        if len(arrays) == 0:
            return
        first = int(arrays.time[0])
        if self.last_time is not None and first < self.last_time:
            raise ValueError(
                f"trades starts at {pd.Timestamp(first, tz='UTC')}, before the latest trade "
                f"already added at {pd.Timestamp(self.last_time, tz='UTC')}; add chunks in time "
                f"order (equal times are fine)"
            )
        seq = self.count + np.arange(len(arrays), dtype=np.int64)
        notional = arrays.notional
        for side, mask in enumerate((arrays.is_buy, ~arrays.is_buy)):
            pos = np.flatnonzero(mask)
            if len(pos):
                self._add_side(side, seq[pos], arrays.time[pos], arrays.price[pos], notional[pos])
                self.counts[side] += len(pos)
        self.count += len(arrays)
        self.last_time = int(arrays.time[-1])
        self.last_price = float(arrays.price[-1])
        self._cache = None

    def _add_side(self, side: int, seq: np.ndarray, time: np.ndarray, price: np.ndarray,
                  notional: np.ndarray) -> None:
        if self.mode == "gross_value":
            keep = notional >= self.threshold
            self._appended[side].extend(seq=seq[keep], time=time[keep], price=price[keep],
                                        notional=notional[keep])
        elif self.mode == "top_n":
            self._add_top_n(self._kept[side], int(self.threshold), seq, time, price, notional)
        else:
            self._add_portion(side, seq, time, price, notional)

    @staticmethod
    def _add_top_n(heap: list, n: int, seq: np.ndarray, time: np.ndarray, price: np.ndarray,
                   notional: np.ndarray) -> None:
        if len(heap) >= n:
            # a later trade beats a kept one only with a strictly larger notional (ties go to
            # the earlier trade), and the weakest kept notional only rises
            keep = notional > heap[0][0]
            seq, time, price, notional = seq[keep], time[keep], price[keep], notional[keep]
        for v, s, t, p in zip(notional.tolist(), seq.tolist(), time.tolist(), price.tolist(),
                              strict=True):
            if len(heap) < n:
                heapq.heappush(heap, (v, -s, t, p))
            elif v > heap[0][0]:
                heapq.heapreplace(heap, (v, -s, t, p))

    def _add_portion(self, side: int, seq: np.ndarray, time: np.ndarray, price: np.ndarray,
                     notional: np.ndarray) -> None:
        kept, rest = self._kept[side], self._rest[side]
        count, share = self.counts[side], float(self.threshold)
        push, pop = heapq.heappush, heapq.heappop
        for v, s, t, p in zip(notional.tolist(), seq.tolist(), time.tolist(), price.tolist(),
                              strict=True):
            count += 1
            if kept and v > kept[0][0]:  # a later trade beats a kept one only when larger
                push(kept, (v, -s, t, p))
            else:
                push(rest, (-v, s, t, p))
            target = int(count * share)
            while len(kept) > target:
                v2, s2, t2, p2 = pop(kept)
                push(rest, (-v2, -s2, t2, p2))
            while len(kept) < target and rest:
                v2, s2, t2, p2 = pop(rest)
                push(kept, (-v2, -s2, t2, p2))

    # ----------------------------------------------------------------------------------------
    # Reading
    # ----------------------------------------------------------------------------------------

    def _side_kept(self, side: int) -> dict[str, np.ndarray]:
        if self.mode == "gross_value":
            return self._appended[side].kept()
        return _heap_arrays(self._kept[side], -1)

    def _kept_arrays(self) -> dict[str, np.ndarray]:
        """The kept trades of both sides in time order: time, price, notional, is_buy."""
        if self._cache is None:
            sides = [self._side_kept(0), self._side_kept(1)]
            is_buy = np.concatenate([np.ones(len(sides[0]["seq"]), bool),
                                     np.zeros(len(sides[1]["seq"]), bool)])
            cols = {f: np.concatenate([sides[0][f], sides[1][f]]) for f in _FIELDS}
            order = np.argsort(cols["seq"], kind="stable")
            self._cache = {f: cols[f][order] for f in ("time", "price", "notional")}
            self._cache["is_buy"] = is_buy[order]
        return self._cache

    def _check_any(self) -> None:
        if self.count == 0:
            raise ValueError("no trades were added: the live map holds no trades yet")

    def levels(self) -> TradeLevels:
        """The trade levels frame of every trade added, as :func:`trade_levels` returns it.

        Returns
        -------
        pandas.DataFrame
            Columns ``start, side, leverage, price, entry, notional`` (see
            :func:`trade_levels`).

        Raises
        ------
        ValueError
            No trade was added yet (the batch refuses an empty frame too).
        """
        self._check_any()
        kept = self._kept_arrays()
        return expand_levels(kept["time"], kept["price"], kept["notional"], kept["is_buy"],
                             leverages=self.leverages, mmr=self.mmr, shares=self._shares)

    def _binned(self, price: float | None) -> tuple[np.ndarray, ...] | None:
        """As the batch's ``_binned``, straight from the kept trades (no levels frame):
        bin ``k``, side code (0 long), leverage and notional of the levels on the right side
        of ``price``, in the levels frame's row order, and the bin size."""
        self._check_any()
        current = self.last_price if price is None else _check_positive("price", price)
        kept = self._kept_arrays()
        n, m = len(kept["time"]), len(self.leverages)
        if n == 0:
            return None
        factors = liquidation_factors(self.leverages, self.mmr)  # as expand_levels
        long_rows = np.repeat(kept["is_buy"], m)
        factor = np.where(long_rows, np.tile(factors[:, 0], n), np.tile(factors[:, 1], n))
        levels = np.repeat(kept["price"], m) * factor
        size = self.bin_size if self.bin_size is not None else default_bin_size(kept["price"])
        keep = np.where(long_rows, levels <= current, levels >= current)
        if not keep.any():
            return None
        prices = levels[keep]
        k = _check_bins(_bin_index(prices, size), prices, size, self.bin_size is not None)
        leverage = np.tile(np.asarray(self.leverages, dtype=np.int64), n)[keep]
        notional = (np.repeat(kept["notional"], m) * np.tile(self._shares, n))[keep]
        return k, (~long_rows[keep]).astype(np.int64), leverage, notional, size

    def liquidation_map(self, *, price: float | None = None) -> MapFrame:
        """The map of :func:`liquidation_map` over :meth:`levels`, with this map's bin size.

        Parameters
        ----------
        price : float, optional
            The current price (quote currency); default the latest trade's price.

        Returns
        -------
        pandas.DataFrame
            ``price_low, price_high, side, leverage, notional``, as :func:`liquidation_map`.

        Raises
        ------
        ValueError
            No trade added yet, or a bad ``price`` / bin size (as :func:`liquidation_map`).
        """
        binned = self._binned(price)
        if binned is None:
            return empty_frame("map")
        k, code, leverage, notional, size = binned
        (lev, code, k), sums = _kahan_cells((leverage, code, k), notional)
        out = pd.DataFrame({**_edges(k, code, size), "leverage": lev, "notional": sums})
        return out[list(MAP_COLUMNS)]

    def depth(self, *, price: float | None = None) -> DepthFrame:
        """The depth of :func:`depth` over :meth:`levels`, with this map's bin size.

        Parameters
        ----------
        price : float, optional
            The current price (quote currency); default the latest trade's price.

        Returns
        -------
        pandas.DataFrame
            ``price_low, price_high, side, notional, cumulative``, as :func:`depth`.

        Raises
        ------
        ValueError
            As :meth:`liquidation_map`.
        """
        binned = self._binned(price)
        if binned is None:
            return empty_frame("depth")
        k, code, _, notional, size = binned
        (code, k), sums = _kahan_cells((code, k), notional)
        is_long = code == 0
        cumulative = np.empty_like(sums)
        cumulative[is_long] = np.cumsum(sums[is_long][::-1])[::-1]  # outward: downward
        cumulative[~is_long] = np.cumsum(sums[~is_long])  # outward: upward
        out = pd.DataFrame({**_edges(k, code, size), "notional": sums,
                            "cumulative": cumulative})
        return out[list(DEPTH_COLUMNS)]
