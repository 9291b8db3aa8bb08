"""The OI-delta method of docs/method.md section 1, one bar at a time (docs/live.md).

:class:`LevelStream` consumes bars as they come; re-sending the latest bar (the forming
candle) replaces it. Its :meth:`~LevelStream.levels` equals :func:`oi_levels` on the bars seen,
bit for bit: each moving average repeats the batch's own arithmetic (pandas' compensated
rolling sums for ``sma`` and ``vwma``, the block sums of ``wma``, the seeded pandas EWM of
``ema``) in O(1) per bar, so ``tier`` agrees with the batch even at exact ties. Live lines are
kept per side in a list sorted by how close they are to being touched, so a bar finds the lines
it ends by bisection and removes them as one slice: O(log m + lines ended) comparisons.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from ..vocab import Direction, MaType, to_timestamp
from ._frames import NAT, OILevels, empty_frame, liquidation_factors, utc_times
from ._oi import _side_column
from ._options import OIOptions, resolve_options
from ._validate import check_keywords

__all__ = ["Change", "LevelStream", "Line"]

_NAN = math.nan


class Line(NamedTuple):
    """One line, as a row of the levels frame (``end`` None while live)."""

    start: pd.Timestamp
    end: pd.Timestamp | None
    side: str
    leverage: int
    price: float
    entry: float
    tier: int
    oi_delta: float


class Change(NamedTuple):
    """What one :meth:`LevelStream.update` call did.

    ``born``: the lines this bar triggered; ``ended``: the earlier lines this bar touched
    (their ``end`` is this bar). ``undone`` is the :class:`Change` of the previous version of
    this bar when the call replaced it (its born lines are gone, its ended lines live again
    unless listed in ``ended``), else None.
    """

    born: tuple[Line, ...]
    ended: tuple[Line, ...]
    undone: Change | None = None


# --------------------------------------------------------------------------------------------
# Moving averages: the batch's arithmetic, one value at a time, with a one-step undo
# --------------------------------------------------------------------------------------------


class _RollingSum:
    """pandas' fixed-window rolling sum/mean (Kahan-compensated add and remove, the run of
    equal values, the sign counts), fed one value at a time; ``window`` values kept."""

    def __init__(self, length: int) -> None:
        self.length = length
        self.values: deque[float] = deque()
        self.nobs = 0
        self.sum = 0.0
        self.comp_add = 0.0
        self.comp_remove = 0.0
        self.same = 0
        self.prev = _NAN
        self.started = False

    def state(self) -> tuple[Any, ...]:
        return (self.nobs, self.sum, self.comp_add, self.comp_remove, self.same, self.prev,
                self.started)

    def restore(self, state: tuple[Any, ...], evicted: float | None) -> None:
        (self.nobs, self.sum, self.comp_add, self.comp_remove, self.same, self.prev,
         self.started) = state
        self.values.pop()
        if evicted is not None:
            self.values.appendleft(evicted)

    def _add(self, val: float) -> None:
        if val == val:
            self.nobs += 1
            y = val - self.comp_add
            t = self.sum + y
            self.comp_add = t - self.sum - y
            self.sum = t
            self.same = self.same + 1 if val == self.prev else 1
            self.prev = val

    def push(self, val: float) -> float | None:
        """Add ``val``; returns the value that left the window (None if none did)."""
        values = self.values
        evicted = None
        if self.length == 1 or not self.started:  # pandas' "setup" of a fresh window
            evicted = values.popleft() if values else None
            self.prev, self.same, self.nobs = val, 0, 0
            self.sum = self.comp_add = self.comp_remove = 0.0
            self.started = True
        elif len(values) == self.length:
            evicted = values.popleft()
            if evicted == evicted:
                self.nobs -= 1
                y = -evicted - self.comp_remove
                t = self.sum + y
                self.comp_remove = t - self.sum - y
                self.sum = t
        values.append(val)
        self._add(val)
        return evicted

    def mean(self) -> float:
        if self.nobs < self.length:
            return _NAN
        if self.same >= self.nobs:
            return self.prev
        result = self.sum / self.nobs
        return 0.0 if result < 0 else result  # every value is >= 0 (pandas' sign rule)

    def total(self) -> float:
        if self.nobs < self.length:
            return _NAN
        if self.same >= self.nobs:
            return self.prev * self.nobs
        return self.sum


class _SMA:
    def __init__(self, length: int) -> None:
        self.sums = _RollingSum(length)

    def push(self, x: float, volume: float) -> tuple[float, Any]:
        undo = self.sums.state()
        evicted = self.sums.push(x)
        return self.sums.mean(), (undo, evicted)

    def undo(self, record: Any) -> None:
        self.sums.restore(*record)


class _VWMA:
    """``sum(x * volume) / sum(volume)`` as two pandas rolling sums; NaN unless volume > 0."""

    def __init__(self, length: int) -> None:
        self.num = _RollingSum(length)
        self.den = _RollingSum(length)

    def push(self, x: float, volume: float) -> tuple[float, Any]:
        undo = (self.num.state(), self.den.state())
        evicted = (self.num.push(x * volume), self.den.push(volume))
        num, den = self.num.total(), self.den.total()
        value = num / den if den > 0 else _NAN
        return value, (undo, evicted)

    def undo(self, record: Any) -> None:
        (num, den), (num_out, den_out) = record
        self.num.restore(num, num_out)
        self.den.restore(den, den_out)


class _WMA:
    """Pine's WMA by the batch's block sums: running sums of ``x`` and ``r * x`` restarted
    every ``length`` bars (``r`` the position in the block), read with the previous block's."""

    def __init__(self, length: int) -> None:
        self.length = length
        self.plain: list[float] = []
        self.ranked: list[float] = []
        self.prev_plain: list[float] = []
        self.prev_ranked: list[float] = []
        self.bars = 0
        self.last_nan = -1  # position of the latest missing value
        self.norm = length * (length + 1) / 2

    def push(self, x: float, volume: float) -> tuple[float, Any]:
        length = self.length
        record = (self.bars, self.last_nan, self.plain, self.ranked, self.prev_plain,
                  self.prev_ranked)
        r = self.bars % length
        if r == 0 and self.bars:
            self.prev_plain, self.prev_ranked = self.plain, self.ranked
            self.plain, self.ranked = [], []
        if x != x:
            self.last_nan = self.bars
            x = 0.0
        rf = float(r)
        self.plain.append(self.plain[-1] + x if r else x)
        self.ranked.append(self.ranked[-1] + x * rf if r else x * rf)
        t = self.bars
        self.bars += 1
        if t < length - 1 or self.last_nan > t - length:
            return _NAN, record
        head = self.ranked[r] + (length - rf) * self.plain[r]
        if self.prev_plain:
            pp, pr = self.prev_plain, self.prev_ranked
            tail = (pr[-1] - pr[r]) - rf * (pp[-1] - pp[r])
        else:
            tail = 0.0
        return (head + tail) / self.norm, record

    def undo(self, record: Any) -> None:
        bars, self.last_nan, plain, ranked, self.prev_plain, self.prev_ranked = record
        if plain is self.plain:
            plain.pop()
            ranked.pop()
        self.plain, self.ranked, self.bars = plain, ranked, bars


class _EMA:
    """EMA seeded by the mean of the first ``length`` present values of each run of present
    values (numpy's mean, as the batch), then pandas' ``ewm(adjust=False)`` step; a NaN
    restarts it."""

    def __init__(self, length: int) -> None:
        self.length = length
        com = 1.0 / (2.0 / (length + 1)) - 1.0  # pandas turns alpha into a centre of mass
        alpha = 1.0 / (1.0 + com)  # ... and back, as its EWM kernel does
        self.old_wt, self.new_wt = 1.0 - alpha, alpha
        self.run: deque[float] = deque(maxlen=length)  # the present values of the run, newest
        self.count = 0  # present values in the current run
        self.value = _NAN

    def push(self, x: float, volume: float) -> tuple[float, Any]:
        run = self.run
        record = (self.count, self.value, run[0] if len(run) == self.length else None,
                  list(run) if x != x else None)
        if x != x:
            self.count, self.value = 0, _NAN
            run.clear()
            return _NAN, record
        run.append(x)
        self.count += 1
        if self.count == self.length:
            self.value = float(np.asarray(run, dtype=np.float64).mean())
        elif self.count > self.length:
            old_wt, new_wt = self.old_wt, self.new_wt
            if self.value != x:
                self.value = (old_wt * self.value + new_wt * x) / (old_wt + new_wt)
        return self.value, record

    def undo(self, record: Any) -> None:
        self.count, self.value, evicted, cleared = record
        if cleared is not None:
            self.run.extend(cleared)
            return
        self.run.pop()
        if evicted is not None:
            self.run.appendleft(evicted)


_AVERAGES = {"sma": _SMA, "vwma": _VWMA, "wma": _WMA, "ema": _EMA}


# --------------------------------------------------------------------------------------------
# Bar checks (validate_candles' rules, one row)
# --------------------------------------------------------------------------------------------


def _number(value: Any, field: str, when: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{field}={value!r} at {when} is not a number")
    return float(value)


def _check_bar(when: object, o: Any, h: Any, lo: Any, c: Any, v: Any,
               oi: Any) -> tuple[float, ...]:
    """The bar's six values as floats, checked as :func:`validate_candles` checks a row."""
    if (type(o) is type(h) is type(lo) is type(c) is type(v) is type(oi) is float
            and 0.0 < lo <= o <= h and lo <= c <= h < math.inf and 0.0 <= v < math.inf
            and not oi < 0.0 and oi != math.inf):
        return o, h, lo, c, v, oi  # the common case: valid floats, checked in one go
    values = [_number(x, f, when) for x, f in ((o, "open"), (h, "high"), (lo, "low"),
                                               (c, "close"), (v, "volume"),
                                               (oi, "open_interest"))]
    for x, field in zip(values[:4], ("open", "high", "low", "close"), strict=True):
        if not (x > 0 and math.isfinite(x)):
            raise ValueError(f"{field} is {x!r} at {when}; prices must be finite positive "
                             f"numbers")
    o, h, lo, c, v, oi = values
    if not (v >= 0 and math.isfinite(v)):
        raise ValueError(f"volume is {v!r} at {when}; volume must be a finite number >= 0")
    if oi < 0 or math.isinf(oi):
        raise ValueError(f"open_interest is {oi!r} at {when}; open interest must be a finite "
                         f"number >= 0 (NaN is allowed for a missing value)")
    for field, x in (("low", lo), ("open", o), ("close", c)):
        if h < x:
            raise ValueError(f"high ({h!r}) is below {field} ({x!r}) at {when}; high must be "
                             f"the bar's highest price")
    for field, x in (("open", o), ("close", c)):
        if lo > x:
            raise ValueError(f"low ({lo!r}) is above {field} ({x!r}) at {when}; low must be "
                             f"the bar's lowest price")
    return o, h, lo, c, v, oi


def _time_ns(time: Any) -> int:
    if isinstance(time, pd.Timestamp) and time.tzinfo is not None:
        return time.value  # epoch nanoseconds whatever the unit and zone
    return to_timestamp(time, "time").value


# --------------------------------------------------------------------------------------------
# The stream
# --------------------------------------------------------------------------------------------


class LevelStream:
    """Liquidation lines from abnormal OI changes (docs/method.md section 1), bar by bar.

    Parameters
    ----------
    ma_length, ma_type, thresholds, leverages, direction, mmr, options
        As :func:`oi_levels` takes them (one ``options=OIOptions(...)`` or the keywords).

    Notes
    -----
    After any sequence of :meth:`update` calls, :meth:`levels` equals ``oi_levels`` on the
    bars seen (the latest, possibly forming, counted as a bar). Per bar the cost is O(1) for
    the baseline and O(log m + lines ended) to end lines (m live lines), plus the insertion
    of born lines into each side's sorted list. The state pickles.
    """

    @check_keywords
    def __init__(
        self,
        *,
        ma_length: int = 60,
        ma_type: MaType = "sma",
        thresholds: Sequence[float] = (1.2, 2.0, 3.0),
        leverages: Sequence[int] = (5, 10, 25, 50, 100),
        direction: Direction = "increase",
        mmr: float = 0.0,
        options: OIOptions | None = None,
    ) -> None:
        self.options = resolve_options(
            options, "LevelStream", ma_length=ma_length, ma_type=ma_type,
            thresholds=thresholds, leverages=leverages, direction=direction, mmr=mmr)
        opts = self.options
        self._average = _AVERAGES[opts.ma_type](opts.ma_length)
        self._thresholds = tuple(opts.thresholds)
        factors = liquidation_factors(opts.leverages, opts.mmr)
        self._factors = [(int(lev), float(f[0]), float(f[1]))
                         for lev, f in zip(opts.leverages, factors, strict=True)]
        # The lines, one list per column, in the frame's order; line i is row i.
        self._start: list[int] = []
        self._end: list[int] = []
        self._price: list[float] = []
        self._entry: list[float] = []
        self._tier: list[int] = []
        self._delta: list[float] = []
        self._lev: list[int] = []
        # Live lines per side, sorted by (distance key, line): a long line's key is its price
        # (a low at or below it ends it), a short line's the negated price (likewise a high).
        self._long: list[tuple[float, int]] = []
        self._short: list[tuple[float, int]] = []
        self._stamps: dict[int, pd.Timestamp] = {}  # trigger bar times, for Change
        self._last_time: int | None = None
        self._last_oi = _NAN  # OI at the latest bar's close
        self._bars = 0
        self._signal: tuple[float, float, int, bool] = (_NAN, _NAN, 0, False)
        self._undo: tuple[Any, ...] | None = None  # how to take the latest bar back
        self._last_change: Change | None = None

    # -- public -------------------------------------------------------------------------------

    def update(self, time: Any, *, open: float, high: float, low: float,
               close: float, volume: float, open_interest: float) -> Change:
        """Consume one bar; re-sending the latest ``time`` replaces that bar.

        Parameters
        ----------
        time : pandas.Timestamp, datetime, str or epoch milliseconds
            The bar's open time (naive means UTC).
        open, high, low, close : float
            Prices (quote currency per coin), finite and > 0, ``low <= open, close <= high``.
        volume : float
            Coins or contracts, finite and >= 0.
        open_interest : float
            OI at the bar's close (coins or contracts), >= 0, or NaN when missing.

        Returns
        -------
        Change
            The lines this bar triggered and those it ended (and, on a replacement, the
            :class:`Change` of the version it replaced).

        Raises
        ------
        ValueError
            ``time`` before the latest bar's (naming both), or a bad value, naming the field
            and the time.
        TypeError
            ``time`` is not a time, or a value not a number.
        """
        ns = _time_ns(time)
        last = self._last_time
        if last is not None and ns < last:
            raise ValueError(
                f"time {pd.Timestamp(ns, tz='UTC')} is before the latest bar "
                f"{pd.Timestamp(last, tz='UTC')}; bars come in time order (re-send the latest "
                f"time to replace the forming bar)")
        bar = _check_bar(_Lazy(ns), open, high, low, close, volume, open_interest)
        undone = None
        if last is not None and ns == last:
            undone = self._last_change
            self._take_back()
        change = self._apply(ns, *bar)
        self._last_change = change  # kept without ``undone``: no chain of versions grows
        return change if undone is None else change._replace(undone=undone)

    def levels(self) -> OILevels:
        """The levels frame of the bars seen: exactly what :func:`oi_levels` returns on them.

        Returns
        -------
        pandas.DataFrame
            Columns ``start, end, side, leverage, price, entry, tier, oi_delta`` (see
            :func:`oi_levels`), ``end`` NaT while a line is live.
        """
        if not self._start:
            return empty_frame("oi_levels")
        frame = pd.DataFrame(
            {
                "start": utc_times(np.array(self._start, dtype=np.int64)),
                "end": utc_times(np.array(self._end, dtype=np.int64)),
                "side": _side_column(len(self._start)),
                "leverage": np.array(self._lev, dtype=np.int64),
                "price": np.array(self._price, dtype=np.float64),
                "entry": np.array(self._entry, dtype=np.float64),
                "tier": np.array(self._tier, dtype=np.int64),
                "oi_delta": np.array(self._delta, dtype=np.float64),
            },
            copy=False,
        )
        return frame

    def live_levels(self) -> OILevels:
        """The rows of :meth:`levels` whose ``end`` is NaT (the lines still live), in the same
        order, built from the live lines only: O(m log m) for m live lines, however many
        lines have ended. ``density(stream.live_levels())`` equals
        ``density(stream.levels())``.
        """
        rows = sorted([i for _, i in self._long] + [i for _, i in self._short])
        if not rows:
            return empty_frame("oi_levels")
        idx = np.array(rows, dtype=np.int64)

        def col(values: list, dtype: Any) -> np.ndarray:
            return np.array([values[i] for i in rows], dtype=dtype)

        return pd.DataFrame(
            {
                "start": utc_times(col(self._start, np.int64)),
                "end": utc_times(np.full(len(rows), NAT, dtype=np.int64)),
                "side": _side_column(2).array.take(idx % 2),
                "leverage": col(self._lev, np.int64),
                "price": col(self._price, np.float64),
                "entry": col(self._entry, np.float64),
                "tier": col(self._tier, np.int64),
                "oi_delta": col(self._delta, np.float64),
            },
            copy=False,
        )

    @property
    def signal(self) -> tuple[float, float, int, bool]:
        """The latest bar's ``(oi_delta, baseline, tier, trigger)``, as :func:`oi_signals`
        gives them (NaN, NaN, 0, False before any bar)."""
        return self._signal

    @property
    def live_count(self) -> int:
        """How many lines are live (``len(live_levels())``), in O(1)."""
        return len(self._long) + len(self._short)

    @property
    def bars(self) -> int:
        """How many bars the stream has consumed (the forming one included)."""
        return self._bars

    # -- internals ------------------------------------------------------------------------------

    def _line(self, i: int, end: pd.Timestamp | None) -> Line:
        return Line(self._stamps[self._start[i]], end, "short" if i % 2 else "long",
                    self._lev[i], self._price[i], self._entry[i], self._tier[i],
                    self._delta[i])

    def _apply(self, ns: int, o: float, h: float, lo: float, c: float, v: float,
               oi: float) -> Change:
        # 1. End the earlier lines this bar touches.
        cut_long = bisect_left(self._long, (lo,))
        gone_long = self._long[cut_long:]
        del self._long[cut_long:]
        cut_short = bisect_left(self._short, (-h,))
        gone_short = self._short[cut_short:]
        del self._short[cut_short:]
        ended = [i for _, i in gone_long] + [i for _, i in gone_short]
        for i in ended:
            self._end[i] = ns
        # 2. The bar's signal (docs/method.md 1.1 to 1.4).
        delta = oi - self._last_oi
        magnitude = abs(delta)
        baseline, ma_undo = self._average.push(magnitude, v)
        tier = 0
        for k in self._thresholds:
            tier += magnitude > k * baseline
        direction = self.options.direction
        wanted = (delta > 0 if direction == "increase" else
                  delta < 0 if direction == "decrease" else delta != 0)
        born_from = len(self._start)
        self._signal = (delta, baseline, tier, bool(tier >= 1 and wanted))
        if tier >= 1 and wanted:
            self._birth(ns, (o + h + lo + c) / 4, tier, delta)
        self._undo = (self._last_time, self._last_oi, gone_long, gone_short, born_from, ma_undo)
        self._last_time, self._last_oi = ns, oi
        self._bars += 1
        if not ended and born_from == len(self._start):
            return _NOTHING
        ended.sort()
        stamp = self._stamps.get(ns) or pd.Timestamp(ns, tz="UTC")
        return Change(tuple(self._line(i, None) for i in range(born_from, len(self._start))),
                      tuple(self._line(i, stamp) for i in ended))

    def _birth(self, ns: int, entry: float, tier: int, delta: float) -> None:
        self._stamps[ns] = pd.Timestamp(ns, tz="UTC")  # one per trigger bar, for Change
        for lev, long_factor, short_factor in self._factors:
            for price, side in ((entry * long_factor, self._long),
                                (entry * short_factor, self._short)):
                i = len(self._start)
                self._start.append(ns)
                self._end.append(NAT)
                self._lev.append(lev)
                self._price.append(price)
                self._entry.append(entry)
                self._tier.append(tier)
                self._delta.append(delta)
                insort(side, (price if side is self._long else -price, i))

    def _take_back(self) -> None:
        """Undo the latest bar: its lines born, the lines it ended, its baseline step."""
        last, last_oi, gone_long, gone_short, born_from, ma_undo = self._undo
        for i in range(len(self._start) - 1, born_from - 1, -1):
            side = self._short if i % 2 else self._long
            key = (-self._price[i] if i % 2 else self._price[i], i)
            del side[bisect_left(side, key)]
        if born_from < len(self._start):
            del self._stamps[self._start[born_from]]
        for column in (self._start, self._end, self._lev, self._price, self._entry,
                       self._tier, self._delta):
            del column[born_from:]
        for _, i in gone_long + gone_short:
            self._end[i] = NAT
        self._long.extend(gone_long)  # they were the top of the sorted list: still sorted
        self._short.extend(gone_short)
        self._average.undo(ma_undo)
        self._last_time, self._last_oi = last, last_oi
        self._bars -= 1
        self._undo = None


_NOTHING = Change((), ())
LevelStream.Change = Change  # type: ignore[attr-defined]
LevelStream.Line = Line  # type: ignore[attr-defined]


class _Lazy:
    """A bar time for messages, formatted only when a message needs it."""

    __slots__ = ("ns",)

    def __init__(self, ns: int) -> None:
        self.ns = ns

    def __str__(self) -> str:
        return str(pd.Timestamp(self.ns, tz="UTC"))

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)
