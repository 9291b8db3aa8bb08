"""The live page's heatmap: one column per bar, the newest replaced while its bar forms.

The live loop sends the column of the latest bar (the live lines after it, binned as
:func:`indicator.heatmap` bins them) each time it changes; a column never changes once a
later bar has come (a line's end is always after the bars it was live on), so the page
appends or replaces the last column only. The ramp's top follows the rule of the static
chart (:func:`colour_top` over the columns on the candles), so a page opened later shows
what a fresh :class:`Scene` with the same heatmap frame shows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..vocab import check_frame
from ._data import epoch_ns
from ._heatmap import HEATMAP_COLUMNS, Heatmap, _payload, colour_top

__all__ = ["LiveHeat"]

_NS = 1_000_000_000


def _secs(time: Any) -> int:
    stamp = pd.Timestamp(time)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")  # naive means UTC, as every user time
    return int(stamp.value // _NS)


class LiveHeat:
    """The heatmap columns a live page shows, by bar time (epoch seconds)."""

    def __init__(self, heat: Heatmap) -> None:
        self.weight = heat.weight
        self.unit = heat.unit
        # an empty frame has no cell to measure: its attrs carry indicator.heatmap's bin size
        self.bin_size = heat.bin_size or float(heat.frame.attrs.get("bin_size", 0.0) or 0.0)
        f = heat.frame
        secs = epoch_ns(pd.DatetimeIndex(f["time"])) // _NS if len(f) else np.empty(0, np.int64)
        cols = {c: f[c].to_numpy(np.float64) for c in ("price_low", "long", "short")}
        self.times: list[int] = []
        self.cols: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        uniq, first = np.unique(secs, return_index=True)
        bounds = np.r_[first, len(f)]
        for t, a, z in zip(uniq, bounds[:-1], bounds[1:], strict=True):
            self.times.append(int(t))
            self.cols.append(tuple(cols[c][a:z] for c in ("price_low", "long", "short")))

    def _check(self, frame: Any, secs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        check_frame(frame, "heatmap column", HEATMAP_COLUMNS,
                    made_by="indicator.heatmap of the live lines at one time")
        low, high, long_, short = (frame[c].to_numpy(np.float64) for c in
                                   ("price_low", "price_high", "long", "short"))
        if len(frame):
            other = epoch_ns(pd.DatetimeIndex(frame["time"])) // _NS != secs
            if other.any():
                row = int(other.argmax())
                raise ValueError(f"heatmap column row {row}: its time {frame['time'].iloc[row]} "
                                 f"is not the column's time {pd.Timestamp(secs * _NS, tz='UTC')}")
            size = self.bin_size
            bad = ~(np.abs(high - low - size) <= 1e-6 * size) if size > 0 else np.ones(
                len(low), bool)
            bad |= ~(np.isfinite(long_) & np.isfinite(short) & (long_ >= 0) & (short >= 0))
            if bad.any():
                row = int(bad.argmax())
                raise ValueError(
                    f"heatmap column row {row}: bin {low[row]!r}..{high[row]!r} with long "
                    f"{long_[row]!r}, short {short[row]!r}; every cell must be one bin_size "
                    f"({size!r}) high, as the page's heatmap, with values >= 0: bin the live "
                    f"lines with indicator.heatmap(..., bin_size=<the page's>)")
            order = np.argsort(low, kind="stable")
            low, long_, short = low[order], long_[order], short[order]
        return low, long_, short

    def column(self, time: Any, frame: Any, bars: list[int]) -> list[dict[str, Any]]:
        """Set the column at ``time`` (the latest column's time: replaced; a later one:
        appended) to ``frame``'s cells; the message for the page, or none when nothing
        changed. ``bars``: the page's bar times (epoch s), for the ramp's top."""
        secs = _secs(time)
        if self.times and secs < self.times[-1]:
            raise ValueError(
                f"heatmap column {pd.Timestamp(secs * _NS, tz='UTC')} is before the latest "
                f"one {pd.Timestamp(self.times[-1] * _NS, tz='UTC')}; only the latest column "
                f"can be replaced (earlier columns no longer change)")
        col = self._check(frame, secs)
        if self.times and secs == self.times[-1]:
            if all(np.array_equal(a, b) for a, b in zip(col, self.cols[-1], strict=True)):
                return []
            self.cols[-1] = col
        else:
            self.times.append(secs)
            self.cols.append(col)
        vmax, clipped = self.top(bars)
        low, long_, short = col
        return [{"t": "heat", "c": [secs, low.tolist(), long_.tolist(), short.tolist()],
                 "vmax": vmax, "clipped": clipped}]

    def _shown(self, bars: list[int]) -> list[int]:
        """The columns a page draws: from the first bar to the latest bar's time; of several
        within one bar, the last (as the static page places them)."""
        if not bars:
            return []
        pos = np.searchsorted(bars, self.times, side="right") - 1
        keep = (pos >= 0) & (np.asarray(self.times) <= bars[-1])
        keep &= np.r_[pos[1:] != pos[:-1], True]
        return np.flatnonzero(keep).tolist()

    def top(self, bars: list[int]) -> tuple[float, bool]:
        shown = self._shown(bars)
        if not shown:
            return 0.0, False
        return colour_top(np.concatenate([self.cols[i][1] + self.cols[i][2] for i in shown]))

    def trim(self, first: int) -> None:
        """Forget the columns before the bar at ``first`` (epoch s)."""
        keep = next((i for i, t in enumerate(self.times) if t >= first), len(self.times))
        del self.times[:keep]
        del self.cols[:keep]

    def frame(self) -> pd.DataFrame:
        """The columns as an :func:`indicator.heatmap` frame."""
        n = [len(c[0]) for c in self.cols]
        low = np.concatenate([c[0] for c in self.cols]) if self.cols else np.empty(0)
        times = np.repeat(np.asarray(self.times, dtype=np.int64) * _NS, n)
        return pd.DataFrame({
            "time": pd.to_datetime(times, utc=True),
            "price_low": low, "price_high": low + self.bin_size,
            "long": np.concatenate([c[1] for c in self.cols]) if self.cols else np.empty(0),
            "short": np.concatenate([c[2] for c in self.cols]) if self.cols else np.empty(0),
        })

    def payload(self, bars: list[int]) -> dict[str, Any]:
        """The scene's ``heatmap`` entry for the page's bars."""
        heat = Heatmap(frame=self.frame(), weight=self.weight, bin_size=self.bin_size)
        return _payload(heat, np.asarray(bars, dtype=np.int64) * _NS)
