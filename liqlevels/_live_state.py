"""What the live chart shows, kept up to date from feed events, without any I/O.

:class:`LiveState` takes the warm-up candles and then each bar, trade chunk and liquidation
chunk as the feed delivers them; it holds the :class:`indicator.LevelStream`, the optional
:class:`indicator.LiveTradeMap` and the bars seen, and answers what the page and the
terminal need: the lines a bar changed, the density of the live lines, the trade map, and
whether price has come near the densest live cluster. The async loop (``_live.py``) wires
it to the feed, the page and the files; the soak test drives it directly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from . import indicator

__all__ = ["Alert", "LiveState"]

_BAR_FIELDS = ("open", "high", "low", "close", "volume", "open_interest")


@dataclass(frozen=True)
class Alert:
    """Price came within ``within`` percent of the densest live cluster.

    ``side`` is the side of the lines that make most of the cluster ("long": longs would be
    liquidated there, price falling into it; "short": shorts, price rising into it).
    """

    time: pd.Timestamp
    close: float
    price_low: float
    price_high: float
    side: str
    lines: float
    distance_pct: float
    within: float

    def text(self) -> str:
        where = "below" if self.price_high <= self.close else (
            "above" if self.price_low >= self.close else "around")
        return (f"ALERT {self.time:%Y-%m-%d %H:%M} close {self.close:g}: densest live cluster "
                f"{self.price_low:g}..{self.price_high:g} ({self.lines:g} {self.side} lines) is "
                f"{self.distance_pct:.2f}% {where} price (within {self.within:g}%)")

    def record(self) -> dict[str, Any]:
        return {"time": self.time.isoformat(), "close": self.close,
                "price_low": self.price_low, "price_high": self.price_high,
                "side": self.side, "lines": self.lines,
                "distance_pct": round(self.distance_pct, 6), "within": self.within}


class _Bars:
    """The bars seen, in growable arrays; re-sending the latest time replaces it."""

    def __init__(self, capacity: int = 1024) -> None:
        self.n = 0
        self.unit = "ns"  # the warm-up index's time unit, kept in the frame
        self.time = np.empty(capacity, dtype=np.int64)
        self.values = np.empty((capacity, len(_BAR_FIELDS)), dtype=np.float64)

    def put(self, ns: int, row: tuple[float, ...]) -> None:
        if self.n and self.time[self.n - 1] == ns:
            self.values[self.n - 1] = row
            return
        if self.n == len(self.time):
            self.time = np.resize(self.time, 2 * self.n)
            self.values = np.resize(self.values, (2 * self.n, len(_BAR_FIELDS)))
        self.time[self.n] = ns
        self.values[self.n] = row
        self.n += 1

    def frame(self) -> pd.DataFrame:
        index = pd.DatetimeIndex(pd.to_datetime(self.time[: self.n], utc=True), name="time")
        index = index.as_unit(self.unit)
        return pd.DataFrame(self.values[: self.n].copy(), index=index, columns=_BAR_FIELDS)


class LiveState:
    """The OI-delta levels (and optionally the trade map) of a market as it moves.

    Parameters
    ----------
    options : indicator.OIOptions
        The method's options (as ``oi_levels`` takes them).
    bins : int
        Density histogram bins (as :func:`indicator.density`).
    trade_map : indicator.LiveTradeMap, optional
        Fed by :meth:`trades`; None: no trade map.
    alert_within : float, optional
        Percent: :meth:`alert` fires when the close comes within this distance of the
        densest live cluster (of lines, whatever ``weight``). None: never.
    weight : {"count", "oi_delta", "notional"}
        What a live line adds to the density shown and to the heatmap.
    heatmap : bool
        Keep a heatmap: :meth:`heatmap` after the warm-up, then :meth:`heat_column` after
        each bar, in price bins fixed at the warm-up (``heat_bin``).
    """

    def __init__(self, options: indicator.OIOptions, *, bins: int = 150,
                 trade_map: indicator.LiveTradeMap | None = None,
                 alert_within: float | None = None, weight: str = "count",
                 heatmap: bool = False) -> None:
        if alert_within is not None and not (math.isfinite(alert_within) and alert_within > 0):
            raise ValueError(f"--alert-within {alert_within!r}: give a percent > 0, e.g. 0.5")
        self.stream = indicator.LevelStream(options=options)
        self.bins = bins
        self.weight = weight
        self.heat = bool(heatmap)
        self.heat_bin: float | None = None  # set by warm_up when heat
        self.trade_map = trade_map
        self.alert_within = alert_within
        self.bars = _Bars()
        self.closed = 0  # bars known final
        self.liquidations = 0
        self.liquidated_notional = 0.0
        self._near = False  # the close was within alert_within at the last check

    # -- input ----------------------------------------------------------------------------

    def warm_up(self, candles: pd.DataFrame) -> None:
        """Consume the closed bars the chart starts from (``fetch_candles``' frame)."""
        values = candles[list(_BAR_FIELDS)].to_numpy(dtype=np.float64)
        index = pd.DatetimeIndex(candles.index)
        self.bars.unit = getattr(index, "unit", "ns")
        for ns, row in zip(index.as_unit("ns").asi8, values, strict=True):
            self._put(int(ns), tuple(row.tolist()))
        self.closed = self.bars.n
        if self.heat and self.heat_bin is None and self.bars.n:
            # the map's default rule over the warm-up lines' entries (or the last close's
            # when there is none), kept for the whole run so every column shares its bins
            levels = self.stream.levels()
            entries = levels["entry"].to_numpy() if len(levels) else np.array(
                [self.last_close])
            self.heat_bin = indicator.default_bin_size(entries)

    def bar(self, bar: Any) -> indicator.Change:
        """Consume one feed bar (``time, open, high, low, close, volume, open_interest,
        final``); the same time again replaces the forming bar."""
        ns = pd.Timestamp(bar.time).value
        change = self._put(ns, tuple(float(getattr(bar, f)) for f in _BAR_FIELDS))
        if bar.final:
            self.closed = self.bars.n
        return change

    def _put(self, ns: int, row: tuple[float, ...]) -> indicator.Change:
        change = self.stream.update(pd.Timestamp(ns, tz="UTC"), **dict(zip(_BAR_FIELDS, row,
                                                                          strict=True)))
        self.bars.put(ns, row)
        return change

    def trades(self, frame: pd.DataFrame) -> None:
        """Add a chunk of trades (``read_trades``' schema, time-ordered) to the trade map."""
        if self.trade_map is not None and len(frame):
            self.trade_map.add(frame)

    def liquidations_seen(self, frame: pd.DataFrame) -> None:
        """Count realised liquidations (the normalised schema)."""
        self.liquidations += len(frame)
        if len(frame):
            self.liquidated_notional += float(frame["notional"].sum())

    # -- output ---------------------------------------------------------------------------

    @property
    def last_close(self) -> float | None:
        return float(self.bars.values[self.bars.n - 1, 3]) if self.bars.n else None

    @property
    def last_time(self) -> pd.Timestamp | None:
        return pd.Timestamp(int(self.bars.time[self.bars.n - 1]), tz="UTC") if self.bars.n \
            else None

    def candles(self) -> pd.DataFrame:
        """The bars seen (warm-up and live, the forming one last) as a candles frame."""
        return self.bars.frame()

    def levels(self) -> pd.DataFrame:
        """``oi_levels`` of :meth:`candles` (the stream's, equal by construction)."""
        return self.stream.levels()

    def density(self, weight: str = "count") -> pd.DataFrame:
        """``indicator.density`` of the live lines (from the live lines only)."""
        return indicator.density(self.stream.live_levels(), bins=self.bins, weight=weight)

    def heatmap(self, times: pd.DatetimeIndex | None = None) -> pd.DataFrame:
        """``indicator.heatmap`` of the levels so far on ``times`` (default: every bar), in
        the run's bins and weight; ``attrs`` name both."""
        frame = indicator.heatmap(self.levels(), self.candles().index if times is None
                                  else times, bin_size=self._heat_bin(), weight=self.weight)
        frame.attrs.update(bin_size=self.heat_bin, weight=self.weight)
        return frame

    def heat_column(self) -> pd.DataFrame:
        """The heatmap column of the latest bar: the live lines binned (equal to
        :meth:`heatmap`'s rows at that time), from the live lines only."""
        return indicator.heatmap(self.stream.live_levels(), pd.DatetimeIndex([self.last_time]),
                                 bin_size=self._heat_bin(), weight=self.weight)

    def _heat_bin(self) -> float:
        if self.heat_bin is None:
            raise ValueError("no heatmap: build the state with heatmap=True and warm it up")
        return self.heat_bin

    def trade_levels_map(self) -> pd.DataFrame | None:
        """The trade-based map at the latest close, or None without trades yet."""
        if self.trade_map is None or not self.trade_map.count:
            return None
        try:
            return self.trade_map.liquidation_map(price=self.last_close)
        except ValueError:  # no trade kept yet (a threshold nothing reached)
            return None

    def alert(self, density: pd.DataFrame | None = None) -> Alert | None:
        """An :class:`Alert` when the close has just come within ``alert_within`` percent of
        the densest live cluster; else None. It fires once on the way in and again only
        after price has moved farther away (the bins move with the live lines, so a
        cluster has no lasting identity to alert on)."""
        if self.alert_within is None or not self.bars.n:
            return None
        dens = self.density() if density is None else density
        if dens.empty:
            self._near = False
            return None
        total = (dens["long"] + dens["short"]).to_numpy(dtype=np.float64)
        k = int(np.argmax(total))
        low, high = float(dens["price_low"].iloc[k]), float(dens["price_high"].iloc[k])
        close = float(self.last_close)  # type: ignore[arg-type]
        gap = 0.0 if low <= close <= high else min(abs(close - low), abs(close - high))
        distance = 100.0 * gap / close
        was_near, self._near = self._near, distance <= self.alert_within
        if not self._near or was_near:
            return None
        longs, shorts = float(dens["long"].iloc[k]), float(dens["short"].iloc[k])
        side = "long" if longs >= shorts else "short"
        return Alert(self.last_time, close, low, high, side,  # type: ignore[arg-type]
                     max(longs, shorts), distance, self.alert_within)
