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
and cached until an :meth:`add` changes it (with ``gross_value`` and ``top_n`` most chunks
keep nothing new). The map and depth skip the levels frame and pandas' groupby: the kept
levels are grouped into cells once per kept set (O(kept log kept)); a call then filters them
by the price (O(kept), numpy) and re-sums only the cells that straddle the price. Each cell
is summed in row order with the compensated (Kahan) summation of pandas' groupby ``sum``, so
the results equal the batch :func:`liquidation_map` / :func:`depth` bit for bit (the tests
compare them exactly). ``gross_value`` keeps every large trade ever seen, so its kept set,
and the cost of a map, grow with the stream.

Not built on :class:`TradeSelection`: that class merges all its chunks on every read (a cost
that grows with the number of chunks, thousands per hour on a live feed) and its
``portion`` mode may ask for a chunk to be read again, which a stream cannot do.
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
_HEAP_ROW = np.dtype([("notional", "f8"), ("seq", "i8"), ("time", "i8"), ("price", "f8")])


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
    rows = np.array(entries, dtype=_HEAP_ROW)  # one C pass over the tuples
    return {"seq": sign * rows["seq"], "time": rows["time"], "price": rows["price"],
            "notional": rows["notional"]}


def _kahan(vals: np.ndarray, starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """The sum of each run ``vals[start : start + size]``, in row order, with the compensated
    (Kahan) summation of pandas' groupby ``sum`` (a NaN compensation reset to 0), so the sums
    equal the batch's bit for bit. Vectorised over runs: one numpy step per row of the
    longest run."""
    total = np.zeros(len(starts))
    comp = np.zeros(len(starts))
    for j in range(int(sizes.max()) if len(sizes) else 0):
        cells = np.flatnonzero(sizes > j) if j else slice(None)
        y = vals[starts[cells] + j] - comp[cells]
        t = total[cells] + y
        c = t - total[cells] - y
        comp[cells] = np.where(np.isnan(c), 0.0, c)
        total[cells] = t
    return total


def _runs(*keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and lengths of the runs of equal ``keys`` (rows already grouped)."""
    n = len(keys[0])
    new = np.ones(n, dtype=bool)
    new[1:] = np.logical_or.reduce([k[1:] != k[:-1] for k in keys])
    starts = np.flatnonzero(new)
    return starts, np.diff(np.append(starts, n))


class _Cells:
    """Every kept level grouped into its map cells (bin ``k``, side code, and leverage for
    the map), in the batch groupby's order; rows within a cell in the levels frame's order.

    Built once per kept set. A call then only filters by the current price: a cell wholly on
    the kept side keeps its precomputed sum, only the few cells that straddle the price are
    summed again (over their kept rows, in row order, as the batch does)."""

    def __init__(self, keys: tuple[np.ndarray, ...], price: np.ndarray, is_long: np.ndarray,
                 notional: np.ndarray) -> None:
        order = np.lexsort(keys)  # stable: the frame's row order within a cell
        self.keys = [key[order] for key in keys]
        self.k = self.keys[-1]
        self.price, self.is_long, self.vals = price[order], is_long[order], notional[order]
        self.starts, self.sizes = _runs(*self.keys)
        self.row_cell = np.repeat(np.arange(len(self.starts)), self.sizes)
        self.full = _kahan(self.vals, self.starts, self.sizes)

    def sums(self, current: float, size: float, given: bool
             ) -> tuple[list[np.ndarray], np.ndarray] | None:
        """The keys and sums of the non-empty cells of the levels on the right side of
        ``current`` (longs at or below, shorts at or above); ``None`` when none is."""
        keep = np.where(self.is_long, self.price <= current, self.price >= current)
        if not keep.any():
            return None
        _check_bins(self.k[keep], self.price[keep], size, given)  # the batch's check
        counts = np.add.reduceat(keep.astype(np.int64), self.starts)
        present = counts > 0
        sums = self.full.copy()
        partial = present & (counts < self.sizes)
        if partial.any():
            rows = np.flatnonzero(keep & partial[self.row_cell])
            cells = self.row_cell[rows]
            starts, sizes = _runs(cells)
            sums[cells[starts]] = _kahan(self.vals[rows], starts, sizes)
        idx = np.flatnonzero(present)
        return [key[self.starts[idx]] for key in self.keys], sums[idx]


def _edges(k: np.ndarray, code: np.ndarray, size: float) -> dict[str, Any]:
    k = k.astype(np.int64)  # checked by _check_bins
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
        self._cells: dict[bool, _Cells | None] = {}  # per kept set: map (True) / depth cells

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_cache"], state["_cells"] = None, {}
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
        changed = False
        for side, mask in enumerate((arrays.is_buy, ~arrays.is_buy)):
            pos = np.flatnonzero(mask)
            if len(pos):
                changed |= self._add_side(side, seq[pos], arrays.time[pos], arrays.price[pos],
                                          notional[pos])
                self.counts[side] += len(pos)
        self.count += len(arrays)
        self.last_time = int(arrays.time[-1])
        self.last_price = float(arrays.price[-1])
        if changed:  # the kept set changed: what was computed from it is stale
            self._cache = None
            self._cells = {}

    def _add_side(self, side: int, seq: np.ndarray, time: np.ndarray, price: np.ndarray,
                  notional: np.ndarray) -> bool:
        """Take one side of a chunk; whether the kept set changed."""
        if self.mode == "gross_value":
            keep = notional >= self.threshold
            self._appended[side].extend(seq=seq[keep], time=time[keep], price=price[keep],
                                        notional=notional[keep])
            return bool(keep.any())
        if self.mode == "top_n":
            return self._add_top_n(self._kept[side], int(self.threshold), seq, time, price,
                                   notional)
        self._add_portion(side, seq, time, price, notional)
        return True

    @staticmethod
    def _add_top_n(heap: list, n: int, seq: np.ndarray, time: np.ndarray, price: np.ndarray,
                   notional: np.ndarray) -> bool:
        if len(heap) >= n:
            # a later trade beats a kept one only with a strictly larger notional (ties go to
            # the earlier trade), and the weakest kept notional only rises
            keep = notional > heap[0][0]
            seq, time, price, notional = seq[keep], time[keep], price[keep], notional[keep]
        changed = False
        for v, s, t, p in zip(notional.tolist(), seq.tolist(), time.tolist(), price.tolist(),
                              strict=True):
            if len(heap) < n:
                heapq.heappush(heap, (v, -s, t, p))
                changed = True
            elif v > heap[0][0]:
                heapq.heapreplace(heap, (v, -s, t, p))
                changed = True
        return changed

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

    def _sums(self, price: float | None, by_leverage: bool
              ) -> tuple[list[np.ndarray], np.ndarray, float] | None:
        """As the batch's ``_binned`` + groupby ``sum``, from the kept trades (no levels
        frame): the keys (leverage if ``by_leverage``, side code (0 long), bin ``k``) and
        sums of the non-empty cells, and the bin size; ``None`` when no level is kept."""
        self._check_any()
        current = self.last_price if price is None else _check_positive("price", price)
        kept = self._kept_arrays()
        n, m = len(kept["time"]), len(self.leverages)
        if n == 0:
            return None
        size = self.bin_size if self.bin_size is not None else default_bin_size(kept["price"])
        cells = self._cells.get(by_leverage)
        if cells is None:
            factors = liquidation_factors(self.leverages, self.mmr)  # as expand_levels
            long_rows = np.repeat(kept["is_buy"], m)
            factor = np.where(long_rows, np.tile(factors[:, 0], n), np.tile(factors[:, 1], n))
            levels = np.repeat(kept["price"], m) * factor
            notional = np.repeat(kept["notional"], m) * np.tile(self._shares, n)
            keys = ((~long_rows).astype(np.int64), _bin_index(levels, size))
            if by_leverage:
                keys = (np.tile(np.asarray(self.leverages, dtype=np.int64), n), *keys)
            cells = self._cells[by_leverage] = _Cells(keys, levels, long_rows, notional)
        return self._found(cells, current, size)

    def _found(self, cells: _Cells, current: float, size: float
               ) -> tuple[list[np.ndarray], np.ndarray, float] | None:
        found = cells.sums(current, size, self.bin_size is not None)
        return None if found is None else (found[0], found[1], size)

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
        found = self._sums(price, by_leverage=True)
        if found is None:
            return empty_frame("map")
        (lev, code, k), sums, size = found
        edges = _edges(k, code, size)
        columns = {**edges, "leverage": lev, "notional": sums}
        return pd.DataFrame({name: columns[name] for name in MAP_COLUMNS}, copy=False)

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
        found = self._sums(price, by_leverage=False)
        if found is None:
            return empty_frame("depth")
        (code, k), sums, size = found
        is_long = code == 0
        cumulative = np.empty_like(sums)
        cumulative[is_long] = np.cumsum(sums[is_long][::-1])[::-1]  # outward: downward
        cumulative[~is_long] = np.cumsum(sums[~is_long])  # outward: upward
        columns = {**_edges(k, code, size), "notional": sums, "cumulative": cumulative}
        return pd.DataFrame({name: columns[name] for name in DEPTH_COLUMNS}, copy=False)
