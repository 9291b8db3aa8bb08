"""What the live page shows now, and the messages that move a page there (no I/O here).

:class:`LiveState` starts from a :class:`Scene`'s payload and follows the live loop's calls.
Each call changes the state and returns the messages (plain dicts) that bring an open page
from the old state to the new one; :meth:`LiveState.snapshot` is the whole state, in the
scene format ``charts/js/liqlevels.js`` mounts, so a page opened later draws the same thing.

Times on the page are epoch seconds (bar open times), as in the static scene; lines are kept
by their start and end *times* and turned into bar positions only for a snapshot, so bars
dropped from the front (``max_bars``) never leave a line pointing at the wrong bar.
"""

from __future__ import annotations

import base64
import math
from bisect import bisect_right
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..vocab import check_frame, to_timestamp
from ._data import _floats, packed_candles, price_format
from ._heatmap import Heatmap
from ._liqmap import human, liquidation_profile
from ._live_heat import LiveHeat
from ._palette import leverage_color, tier_width
from ._profile import Profile, density_profile

__all__ = ["LIQUIDATION_COLUMNS", "SIDE_COLORS", "LiveState"]

_NS = 1_000_000_000
#: Columns of a realised-liquidations frame that the page reads (others are ignored).
LIQUIDATION_COLUMNS: tuple[str, ...] = ("time", "side", "notional")
#: Marker colour of a liquidated long / short, the density profile's long and short hues.
SIDE_COLORS: dict[str, str] = {"long": "#40d6a0", "short": "#ec70ce"}
_DENSITY_LABEL = "live lines by price"   # density_profile's default label
_MAP_LABEL = "liquidation map"           # liquidation_profile's default label
_MAP_WIDTH = 0.2                         # the map profile's share of the pane, left edge
_PRICE_TOL = 1e-6                        # relative; the scene's prices carry 9 digits
_SCENE_CAP = 500                         # Scene's default max_lines
_MAX_WAITING = 10_000                    # liquidations held for a bar not yet sent


@dataclass
class _Line:
    start: int              # epoch s of the bar it starts at
    end: int | None         # epoch s of the bar that touched it; None while live
    price: float
    style: tuple[str, int, bool]  # colour, width, dashed
    leverage: int | None    # None for a line that came with the scene


def _secs(time: Any, name: str) -> int:
    stamp = time if isinstance(time, pd.Timestamp) and time.tzinfo else to_timestamp(time, name)
    return int(stamp.value // _NS)


def _price(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}={value!r} must be a number (price)")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name}={value!r} must be a finite price")
    return value


def check_bar(time: Any, open_: Any, high: Any, low: Any, close: Any) -> tuple[int, tuple]:
    """``(epoch seconds, (o, h, l, c))`` of one candle, checked as the static chart checks."""
    secs = _secs(time, "time")
    o, h, lo, c = (_price(v, n) for v, n in
                   ((open_, "open"), (high, "high"), (low, "low"), (close, "close")))
    if h < max(o, c) or lo > min(o, c):
        raise ValueError(f"bar {pd.Timestamp(secs * _NS, tz='UTC')}: high {h!r} and low {lo!r} "
                         f"do not bracket open {o!r} and close {c!r}")
    return secs, (o, h, lo, c)


def _scene_cap(lines: dict[str, Any]) -> int | None:
    """The scene's ``max_lines``, as far as its payload tells: the drawn count when it cut
    lines, else Scene's default 500 (None when it drew more than that)."""
    if lines["drawn"] < lines["total"]:
        return int(lines["drawn"])
    return _SCENE_CAP if lines["drawn"] <= _SCENE_CAP else None


def _marker(time: int, side: str, agg: list[float]) -> list[Any]:
    """``[time, "long"|"short", text, size]``: size 1 (<= 10k) to 3 (>= 1M notional)."""
    count, notional = int(agg[0]), agg[1]
    size = min(3.0, max(1.0, math.log10(max(notional, 1.0)) - 3.0))
    text = f"{'L' if side == 'long' else 'S'} {human(notional)}"
    if count > 1:
        text += f" ({count})"
    return [time, side, text, round(size, 2)]


class _Rows:
    """Bars' ``open, high, low, close`` in one growing float64 array (a row per bar): appends
    amortised O(1), the whole history as an array at no cost (a big page's snapshot)."""

    def __init__(self, rows: np.ndarray) -> None:
        self._a = np.array(rows, dtype=np.float64).reshape(-1, 4)
        self.n = len(self._a)

    def __len__(self) -> int:
        return self.n

    def append(self, row: tuple[float, ...]) -> None:
        if self.n == len(self._a):
            grown = np.empty((max(16, 2 * self.n), 4))
            grown[:self.n] = self._a[:self.n]
            self._a = grown
        self._a[self.n] = row
        self.n += 1

    def set_last(self, row: tuple[float, ...]) -> None:
        self._a[self.n - 1] = row

    def drop(self, count: int) -> None:
        """Forget the oldest ``count`` bars."""
        self._a = self._a[count:self.n].copy()
        self.n = len(self._a)

    def array(self) -> np.ndarray:
        """The bars, ``(n, 4)`` (a view: do not keep it across changes)."""
        return self._a[:self.n]


def _unpacked(b64: str, dtype: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(b64), dtype=dtype)


def _candle_columns(c: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Bar times (epoch s, int64) and ``o h l c`` rows of a scene's candles, JSON or packed
    (:func:`charts._data.packed_candles`: prices in ``10**-dec``, gaps in runs)."""
    if not c["n"]:
        return np.empty(0, np.int64), np.empty((0, 4))
    if not c.get("packed"):
        times = np.concatenate([[c["t0"]], c["t0"] + np.cumsum(c["dt"], dtype=np.int64)])
        return times.astype(np.int64), np.column_stack([c[k] for k in "ohlc"]).astype(float)
    if "t" in c:
        times = _unpacked(c["t"], "<f8").astype(np.int64)
    else:
        runs = _unpacked(c["dt"], "<i4").astype(np.int64).reshape(-1, 2)
        gaps = np.repeat(runs[:, 1], runs[:, 0])
        times = np.concatenate([[c["t0"]], c["t0"] + np.cumsum(gaps)]).astype(np.int64)
    dec = c["dec"]  # as the page divides them back (pyramid.js prices)
    cols = [_unpacked(c[k], "<i4").astype(np.float64) for k in "ohlc"]
    cols = [v / 10.0**dec if dec >= 0 else v * 10.0**-dec for v in cols]
    return times, np.column_stack(cols)


def _json_lines(lines: dict[str, Any]) -> dict[str, Any]:
    """A scene's lines as :func:`charts._data.level_payload` gives them: a packed table
    (:func:`charts._data.packed_lines`: older lines, then the ``drawn`` newest) becomes its
    newest ``drawn`` rows as lists, the ones a live page keeps."""
    if not lines.get("packed"):
        return lines
    cut = lines["n"] - lines["drawn"]
    k_type = "u1" if lines["k_bytes"] == 1 else "<i4"
    cols = {"s": ("s", "<i4"), "e": ("e", "<i4"), "p": ("p", "<f8"), "k": ("k", k_type),
            "lv": ("lv", "u1")}
    return {**{key: _unpacked(lines[src], dt)[cut:].tolist() for key, (src, dt) in cols.items()},
            **{key: lines[key] for key in ("styles", "leverages", "total", "drawn", "max")}}


class LiveState:
    """The current picture of a live page, built from ``scene`` (a :class:`Scene` payload).

    Every mutating method returns the list of messages (dicts without sequence numbers) that
    take an open page to the new state; an empty list when nothing visible changed.

    A packed scene (``Scene``'s page for a big history, :data:`charts._data.AGGREGATE_FROM`
    candles on) makes a packed snapshot: its candles as :func:`charts._data.packed_candles`,
    which the page draws aggregated to the screen's resolution (``charts/js/pyramid.js``).
    """

    def __init__(self, scene: dict[str, Any], *, max_bars: int | None = None,
                 max_lines: int | str | None = "scene", heatmap: Heatmap | None = None) -> None:
        self.max_bars = max_bars
        self.heat = None if heatmap is None else LiveHeat(heatmap)
        self._base = {k: scene[k] for k in ("title", "subtitle", "theme")}
        self._visible = scene["view"]["bars"]
        c = scene["candles"]
        self.packed = bool(c.get("packed"))
        times, rows = _candle_columns(c)
        self.times: list[int] = times.tolist()
        self.ohlc = _Rows(rows)
        self._format = c["format"]
        self.status = ""
        self._profiles: list[list[Any]] = [[self._slot_of(p), p] for p in scene["profiles"]]
        for slot_payload in self._profiles:  # the map on the left, as trade_map() draws it
            if slot_payload[0] == "map":
                slot_payload[1] = dict(slot_payload[1], edge="left")
        self._markers: dict[tuple[int, str], list[float]] = {}
        self._pending: list[tuple[float, str, float]] = []
        self._init_lines(_json_lines(scene["lines"]))
        if max_lines != "scene":
            self.cap = max_lines
        self._trim()

    # ------------------------------------------------------------------------ lines

    def _init_lines(self, lines: dict[str, Any]) -> None:
        self.cap = _scene_cap(lines)
        self._lines: dict[int, _Line] = {}
        self._order: list[int] = []
        self._index: dict[tuple, list[int]] = {}
        self._next = 0
        self._legend = {x["label"]: x["color"] for x in lines["leverages"]}
        self._hidden = lines["total"] - lines["drawn"]  # cut by the scene's cap: never seen
        self._born_levs: dict[int, int] = {}
        self._first = self.times[0] if self.times else None
        n = len(self.times)
        live = lines.get("lv") or [int(e == n - 1) for e in lines["e"]]
        for s, e, p, k, lv in zip(lines["s"], lines["e"], lines["p"], lines["k"], live,
                                  strict=True):
            st = lines["styles"][k]
            self._add(_Line(self.times[s], None if lv else self.times[e], float(p),
                            (st["color"], st["width"], st["dash"]), None))

    def _key(self, line: _Line) -> tuple:
        return (line.start, line.style)

    def _add(self, line: _Line) -> int:
        i = self._next
        self._next += 1
        self._lines[i] = line
        self._order.append(i)
        self._index.setdefault(self._key(line), []).append(i)
        if line.leverage is not None:
            self._born_levs[line.leverage] = self._born_levs.get(line.leverage, 0) + 1
        return i

    def _remove(self, i: int) -> None:
        line = self._lines.pop(i)
        if self._order and self._order[-1] == i:
            self._order.pop()
        else:
            self._order.remove(i)
        ids = self._index[self._key(line)]
        ids.remove(i)
        if not ids:
            del self._index[self._key(line)]
        if line.leverage is not None:
            self._born_levs[line.leverage] -= 1

    def _as_line(self, line: Any) -> _Line:
        start = _secs(line.start, "line.start")
        if self._first is not None:
            start = max(start, self._first)  # the scene drew earlier lines from its first bar
        end = None if line.end is None or pd.isna(line.end) else _secs(line.end, "line.end")
        style = (leverage_color(line.leverage), tier_width(int(line.tier)), line.side == "short")
        return _Line(start, end, float(line.price), style, int(line.leverage))

    def _find(self, line: _Line) -> int | None:
        """The id of the line kept for ``line``: same start bar and style, the closest price
        within the scene's rounding; None when the page never had it."""
        best, gap = None, math.inf
        for i in self._index.get(self._key(line), ()):
            d = abs(self._lines[i].price - line.price)
            if d < gap:
                best, gap = i, d
        if best is None or gap > _PRICE_TOL * max(abs(line.price), 1e-300):
            return None
        return best

    def _drawn(self) -> list[int]:
        return self._order if self.cap is None else self._order[max(0, len(self._order)
                                                                     - self.cap):]

    def _wire(self, i: int) -> list[Any]:
        line = self._lines[i]
        return [i, line.start, line.end, line.price, *line.style]

    def levels(self, change: Any) -> list[dict[str, Any]]:
        """Apply a ``LevelStream`` :class:`~indicator.Change`; returns a ``lines`` message."""
        for attr in ("born", "ended", "undone"):
            if not hasattr(change, attr):
                raise TypeError(f"change is a {type(change).__name__}; pass the Change that "
                                f"indicator.LevelStream.update returns")
        if not (change.born or change.ended or change.undone):
            return []
        capped = self.cap is not None
        before = set(self._drawn()) if capped else set()  # O(cap); all lines drawn otherwise
        legend = self.leverages()
        old_end: dict[int, int | None] = {}
        removed: set[int] = set()

        def set_end(i: int | None, end: int | None) -> None:
            if i is not None:
                old_end.setdefault(i, self._lines[i].end)
                self._lines[i].end = end

        if change.undone is not None:
            for line in change.undone.born:
                found = self._find(self._as_line(line))
                if found is not None:
                    self._remove(found)
                    removed.add(found)
            for line in change.undone.ended:
                set_end(self._find(self._as_line(line)), None)
        born = [self._add(self._as_line(line)) for line in change.born]
        for line in change.ended:
            kept = self._as_line(line)
            set_end(self._find(kept), kept.end)
        if capped:
            after = set(self._drawn())
            add = [i for i in self._drawn() if i not in before]
            gone = sorted(before.difference(after))
            drawn_before = before.__contains__
        else:
            add, gone = [i for i in born if i in self._lines], sorted(removed)
            drawn_before = self._lines.__contains__
        msg: dict[str, Any] = {
            "t": "lines", "add": [self._wire(i) for i in add], "del": gone, "end": [],
            "live": [], "total": len(self._order) + self._hidden,
        }
        shown = set(add)
        for i, was in old_end.items():
            line = self._lines.get(i)
            if line is None or i in shown or not drawn_before(i) or line.end == was:
                continue
            if capped and i not in after:
                continue
            if line.end is None:
                msg["live"].append(i)
            else:
                msg["end"].append([i, line.end])
        now = self.leverages()
        if now != legend:
            msg["leverages"] = now
        return [msg]

    def leverages(self) -> list[dict[str, str]]:
        """The legend's leverages: the scene's and those of the lines born since."""
        labels = dict(self._legend)
        for lev, count in self._born_levs.items():
            if count > 0:
                labels.setdefault(f"{lev}x", leverage_color(lev))
        order = sorted(labels, key=lambda s: float(s[:-1]) if s[:-1].replace(".", "").isdigit()
                       else math.inf)
        return [{"label": k, "color": labels[k]} for k in order]

    # ------------------------------------------------------------------------- bars

    def bar(self, time: Any, open_: Any, high: Any, low: Any, close: Any) -> list[dict]:
        """The forming candle (same time as the last: replaced) or a new one (appended)."""
        secs, ohlc = check_bar(time, open_, high, low, close)
        times = self.times
        if times and secs < times[-1]:
            raise ValueError(
                f"bar {pd.Timestamp(secs * _NS, tz='UTC')} is before the latest bar "
                f"{pd.Timestamp(times[-1] * _NS, tz='UTC')}; re-send the latest time to replace "
                f"the forming bar (the page's time unit is the second)")
        if times and secs == times[-1]:
            self.ohlc.set_last(ohlc)
            return [{"t": "bar", "b": [secs, *ohlc]}]
        times.append(secs)
        self.ohlc.append(ohlc)
        marks = self._place_pending()
        if len(times) == 1 or self._trim():
            return [self.snapshot()]  # the first bar sets the price format; a trim re-bases
        out: list[dict] = [{"t": "bar", "b": [secs, *ohlc]}]
        if marks:
            out.append({"t": "marks", "m": marks})
        return out

    def _trim(self) -> bool:
        """Drop the oldest bars (and what ended or happened before them) once there are more
        than ``max_bars`` plus a tenth, back to ``max_bars``; True if anything was dropped."""
        if self.max_bars is None or len(self.times) <= self.max_bars + self.max_bars // 10:
            return False
        drop = len(self.times) - self.max_bars
        del self.times[:drop]
        self.ohlc.drop(drop)
        first = self.times[0] if self.times else math.inf
        if self.heat is not None:
            self.heat.trim(first)
        for i in [i for i in self._order if (e := self._lines[i].end) is not None and e < first]:
            self._remove(i)
        self._markers = {k: v for k, v in self._markers.items() if k[0] >= first}
        return True

    # ---------------------------------------------------------------------- markers

    def _bar_of(self, t: float) -> int | str | None:
        """The bar time a liquidation at ``t`` (epoch s) belongs to: the bar open at or
        before it; ``"later"`` when it is past the latest bar (its bar has not come yet);
        None when it is before the first bar."""
        times = self.times
        if not times:
            return "later"
        i = bisect_right(times, t) - 1
        if i < 0:
            return None
        if i == len(times) - 1 and len(times) > 1 and t >= times[-1] + (times[-1] - times[-2]):
            return "later"
        return times[i]

    def _place(self, t: float, side: str, notional: float, changed: set) -> None:
        where = self._bar_of(t)
        if where == "later":
            self._pending.append((t, side, notional))
            if len(self._pending) > _MAX_WAITING:  # bars that never come: keep the newest
                del self._pending[:len(self._pending) - _MAX_WAITING]
        elif where is not None:
            agg = self._markers.setdefault((where, side), [0, 0.0])
            agg[0] += 1
            agg[1] += notional
            changed.add((where, side))

    def _place_pending(self) -> list[list[Any]]:
        pending, self._pending = self._pending, []
        changed: set = set()
        for row in pending:
            self._place(*row, changed)
        return [_marker(t, s, self._markers[(t, s)]) for t, s in sorted(changed)]

    def liquidations(self, frame: Any) -> list[dict]:
        """Add realised liquidations (``time, side, notional``; others ignored) as markers."""
        times, sides, notional = _check_liquidations(frame)
        changed: set = set()
        for t, s, v in zip(times, sides, notional, strict=True):
            self._place(t, s, v, changed)
        if not changed:
            return []
        return [{"t": "marks", "m": [_marker(t, s, self._markers[(t, s)])
                                     for t, s in sorted(changed)]}]

    def markers(self) -> list[list[Any]]:
        return [_marker(t, s, agg) for (t, s), agg in sorted(self._markers.items())]

    # --------------------------------------------------------------------- profiles

    @staticmethod
    def _slot_of(payload: dict[str, Any]) -> str:
        if payload["label"].startswith(_DENSITY_LABEL) and payload["names"] == ["long", "short"]:
            return "density"
        return "map" if payload["label"] == _MAP_LABEL else "scene"

    def profile(self, slot: str, frame: Any) -> list[dict]:
        """Replace (or with None remove) the ``density`` or ``map`` profile."""
        if frame is None:
            payload = None
        elif isinstance(frame, Profile):
            payload = frame.payload()
        elif slot == "density":
            payload = density_profile(frame).payload()
        else:  # on the left edge, so the two profiles never cover each other
            payload = dict(liquidation_profile(frame, width=_MAP_WIDTH).payload(), edge="left")
        at = next((k for k, (s, _) in enumerate(self._profiles) if s == slot), None)
        if payload is None:
            if at is None:
                return []
            del self._profiles[at]
        elif at is not None:
            self._profiles[at][1] = payload
        elif slot == "density":
            self._profiles.insert(0, [slot, payload])  # the scene draws the density first
        else:
            self._profiles.append([slot, payload])
        return [{"t": "prof", "slot": slot, "p": payload, "pw": self._profile_width()}]

    def _profile_width(self) -> float:
        """The room to keep right of the last bar: the widest right-edge profile's share."""
        return max((p["width"] for _, p in self._profiles if p["edge"] != "left"), default=0)

    def heatmap(self, time: Any, frame: Any) -> list[dict]:
        """Set the heatmap column at ``time`` (the latest column's: replaced; later:
        appended) to ``frame``'s cells (:func:`indicator.heatmap` rows at that time)."""
        if self.heat is None:
            raise ValueError("this page has no heatmap: build its Scene with heatmap=... "
                             "(an indicator.heatmap frame, possibly empty, with its bin_size)")
        return self.heat.column(time, frame, self.times)

    def set_status(self, text: Any) -> list[dict]:
        if not isinstance(text, str):
            raise TypeError(f"text={text!r} must be a string")
        self.status = text
        return [{"t": "status", "s": text}]

    # --------------------------------------------------------------------- snapshot

    def _candles(self) -> dict[str, Any]:
        cols = self.ohlc.array()
        times = np.asarray(self.times, dtype=np.int64)
        if self.packed and len(times):
            return packed_candles({k: cols[:, j] for j, k in
                                   enumerate(("open", "high", "low", "close"))}, times)
        fmt = price_format(cols[:, 3]) if len(times) else self._format
        return {"t0": int(times[0]) if len(times) else 0, "dt": np.diff(times).tolist(),
                "n": len(times), **{k: _floats(cols[:, j]) for j, k in enumerate("ohlc")},
                "format": fmt}

    def _lines_payload(self) -> dict[str, Any]:
        times, n = self.times, len(self.times)
        ids = self._drawn() if n else []
        s, e, p, k, lv = [], [], [], [], []
        table: dict[tuple, int] = {}
        for i in ids:
            line = self._lines[i]
            a = max(0, bisect_right(times, line.start) - 1)
            b = n - 1 if line.end is None else bisect_right(times, line.end) - 1
            s.append(a)
            e.append(max(a, b))
            p.append(line.price)
            k.append(table.setdefault(line.style, len(table)))
            lv.append(int(line.end is None))
        return {
            "s": s, "e": e, "p": _floats(np.asarray(p, dtype=np.float64)), "k": k, "lv": lv,
            "id": list(ids),
            "styles": [{"color": c, "width": w, "dash": d} for (c, w, d) in table],
            "leverages": self.leverages(), "total": len(self._order) + self._hidden if n else 0,
            "drawn": len(ids),
        }

    def snapshot(self) -> dict[str, Any]:
        """The whole picture, as a ``snap`` message: ``scene`` is a :class:`Scene` payload
        (no OI panes) plus ``lines.id``, ``markers``, ``status`` and ``profiles[].slot``."""
        scene = dict(self._base)
        scene["candles"] = self._candles()
        scene["lines"] = self._lines_payload()
        scene["profiles"] = [dict(p, slot=slot) for slot, p in self._profiles]
        scene["oi"] = None
        scene["view"] = {"bars": self._visible, "profileWidth": self._profile_width()}
        scene["markers"] = self.markers()
        scene["status"] = self.status
        scene["sides"] = SIDE_COLORS
        if self.heat is not None and self.times:
            scene["heatmap"] = self.heat.payload(self.times)
        return {"t": "snap", "scene": scene}


def _check_liquidations(frame: Any) -> tuple[list[float], list[str], list[float]]:
    """Epoch seconds, sides and notionals of a realised-liquidations frame, checked."""
    if isinstance(frame, pd.DataFrame) and "time" not in frame.columns \
            and isinstance(frame.index, pd.DatetimeIndex):
        frame = frame.reset_index(names="time")
    check_frame(frame, "liquidations", LIQUIDATION_COLUMNS,
                made_by="realised liquidations: time, exchange, symbol, side, price, quantity, "
                "notional")
    time = frame["time"]
    if time.isna().any():
        raise ValueError(f"liquidations['time'] is missing at row {int(time.isna().argmax())}")
    if pd.api.types.is_datetime64_any_dtype(time):
        if time.dt.tz is None:
            time = time.dt.tz_localize("UTC")  # naive means UTC, as every user time
        ns = time.dt.tz_convert("UTC").dt.as_unit("ns").astype("int64").to_numpy()
        secs = (ns / _NS).tolist()
    elif pd.api.types.is_numeric_dtype(time) and not pd.api.types.is_bool_dtype(time):
        secs = (time.to_numpy(dtype=np.float64) / 1000.0).tolist()  # epoch milliseconds
    else:
        raise TypeError("liquidations['time'] must be UTC datetimes or epoch milliseconds")
    sides = frame["side"].tolist()
    for row, side in enumerate(sides):
        if side not in SIDE_COLORS:
            raise ValueError(f"liquidations['side'] is {side!r} at row {row}; it must be "
                             f"'long' or 'short' (whose position was liquidated)")
    notional = frame["notional"].to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~(np.isfinite(notional) & (notional >= 0))
    if bad.any():
        row = int(bad.argmax())
        raise ValueError(f"liquidations['notional'] is {float(notional[row])!r} at row {row}; "
                         f"it must be a finite amount >= 0 (quote currency)")
    return secs, sides, notional.tolist()
