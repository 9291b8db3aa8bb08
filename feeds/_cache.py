"""The local cache: one parquet file per exchange, symbol, timeframe and kind.

Each file holds the rows fetched so far and, in its metadata, the time ranges already
covered, so that a repeated or overlapping request fetches only what is missing. Files are
written to a temporary file and renamed into place (atomic on POSIX and Windows); a file
that cannot be read back whole (truncated, flipped bits caught by page checksums, wrong
columns) is reported with a warning, deleted and fetched again.

What it trusts: a span counts as covered only where an exchange's answer vouched for it
(:class:`Answer`), and a row is kept only when it sits on the bar grid and passes
:func:`row_faults`; cached rows are checked again on every load. File names come from
:func:`liqlevels.vocab.safe_filename` only, and every path is checked to stay under the root.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import platformdirs
import pyarrow as pa
import pyarrow.parquet as pq

from ..vocab import first_true, path_under, safe_filename
from ._time import DAY, align_floor, fmt_ms

__all__ = [
    "OHLCV",
    "OI",
    "Answer",
    "SeriesStore",
    "cache_root",
    "intersect_spans",
    "merge_rows",
    "missing_spans",
    "row_faults",
    "runs",
    "subtract_spans",
    "union_spans",
]

OHLCV = ("open", "high", "low", "close", "volume")
OI = ("open_interest", "open_interest_value")
_META_KEY = b"liqlevels"
_VERSION = 2  # 1: coverage recorded whatever came back; read, but trusted only where rows are
Span = tuple[int, int]


def cache_root(cache_dir: object) -> Path | None:
    """The cache directory: the user's cache dir for ``None``, no cache for ``False``."""
    if cache_dir is None:
        return Path(platformdirs.user_cache_dir("liqlevels", appauthor=False))
    if cache_dir is False:
        return None
    if isinstance(cache_dir, (str, os.PathLike)):
        return Path(cache_dir)
    raise TypeError(
        f"cache_dir must be a directory path, None (the user cache directory) or False (no "
        f"cache), got {type(cache_dir).__name__}"
    )


def missing_spans(covered: list[Span], start: int, end: int) -> list[Span]:
    """Parts of ``[start, end)`` not inside any covered span."""
    out: list[Span] = []
    cursor = start
    for a, b in sorted(covered):
        if b <= cursor or a >= end:
            continue
        if a > cursor:
            out.append((cursor, min(a, end)))
        cursor = max(cursor, b)
        if cursor >= end:
            break
    if cursor < end:
        out.append((cursor, end))
    return out


def union_spans(covered: list[Span], new: list[Span]) -> list[Span]:
    """Covered spans with ``new`` added, merged where they touch or overlap."""
    out: list[Span] = []
    for a, b in sorted([*covered, *new]):
        if b <= a:
            continue
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def subtract_spans(spans: list[Span], minus: list[Span]) -> list[Span]:
    """Parts of ``spans`` inside none of ``minus``."""
    out: list[Span] = []
    for a, b in union_spans([], spans):
        out.extend(missing_spans(minus, a, b))
    return out


def intersect_spans(spans: list[Span], other: list[Span]) -> list[Span]:
    """Parts of ``spans`` that lie inside ``other`` too."""
    out: list[Span] = []
    for a, b in union_spans([], spans):
        out.extend(subtract_spans([(a, b)], missing_spans(other, a, b)))
    return out


def runs(ts: np.ndarray, step: int) -> list[Span]:
    """``[first, last + step)`` of each run of consecutive bars in sorted timestamps."""
    if not len(ts):
        return []
    ts = np.asarray(ts, dtype=np.int64)
    breaks = np.flatnonzero(np.diff(ts) != step)
    firsts = np.r_[ts[0], ts[breaks + 1]]
    lasts = np.r_[ts[breaks], ts[-1]]
    return [(int(a), int(b) + step) for a, b in zip(firsts, lasts, strict=True)]


def merge_rows(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Rows of both, sorted by timestamp (column 0); ``new`` wins on equal timestamps."""
    if not len(old):
        return new
    if not len(new):
        return old
    both = np.concatenate([old, new])
    order = np.argsort(both[:, 0], kind="stable")
    both = both[order]
    keep = np.ones(len(both), dtype=bool)
    keep[:-1] = both[1:, 0] != both[:-1, 0]
    return both[keep]


# -- what a row must be to be kept --------------------------------------------------------


def _step_text(step: int) -> str:
    for unit, ms in (("d", DAY), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)):
        if step % ms == 0:
            return f"{step // ms}{unit}"
    return f"{step} ms"


Test = tuple[np.ndarray, str | None, str]  # bad rows, the column shown, what is wrong


def _price_tests(cols: dict[str, np.ndarray]) -> list[Test]:
    """Positive finite prices, a finite volume >= 0, high and low bounding the bar."""
    tests = [(~(np.isfinite(cols[c]) & (cols[c] > 0)), c, "is not a positive finite price")
             for c in ("open", "high", "low", "close") if c in cols]
    if "volume" in cols:
        vol = cols["volume"]
        tests.append((~(np.isfinite(vol) & (vol >= 0)), "volume", "is not a finite number >= 0"))
    if "high" in cols:
        tests += [(cols["high"] < cols[c], None, f"high is below {c}")
                  for c in ("low", "open", "close")]
    if "low" in cols:
        tests += [(cols["low"] > cols[c], None, f"low is above {c}") for c in ("open", "close")]
    return tests


def _oi_tests(cols: dict[str, np.ndarray]) -> list[Test]:
    """Amount and value finite and >= 0 where given, and at least one of them given."""
    given = [c for c in OI if c in cols]
    tests: list[Test] = [(~np.isnan(cols[c]) & ~(np.isfinite(cols[c]) & (cols[c] >= 0)), c,
                          "is negative or infinite") for c in given]
    if given:
        tests.append((np.logical_and.reduce([np.isnan(cols[c]) for c in given]), None,
                      "it has no open-interest number"))
    return tests


def row_faults(rows: np.ndarray, columns: tuple[str, ...], step: int) -> tuple[np.ndarray, str]:
    """Rows the cache must not keep, and why the first of them fails ("" when none does).

    Parameters
    ----------
    rows : numpy.ndarray
        ``(n, 1 + len(columns))``: ts (epoch ms), then ``columns``.
    columns : tuple of str
        :data:`OHLCV` or :data:`OI` (checks apply to the columns present).
    step : int
        Bar or snapshot period, ms: a row must open on its grid (weeks on Mondays).
    """
    ts = rows[:, 0].astype(np.int64)
    cols = {c: rows[:, i] for i, c in enumerate(columns, start=1)}
    tests = [(align_floor(ts, step) != ts, None, f"its time is off the {_step_text(step)} grid"),
             *_price_tests(cols), *_oi_tests(cols)]
    bad = np.zeros(len(rows), dtype=bool)
    first, why = len(rows), ""
    for mask, column, text in tests:
        bad |= mask
        hit = first_true(mask)
        if hit is not None and hit < first:
            shown = text if column is None else f"{column} {float(cols[column][hit])!r} {text}"
            first, why = hit, f"the row at {fmt_ms(int(ts[hit]))} ({ts[hit]} ms): {shown}"
    return bad, why


@dataclass
class Answer:
    """What an exchange answered for a range, as the cache may record it.

    Attributes
    ----------
    rows : numpy.ndarray
        Rows that passed the checks, sorted by ts.
    vouched : list of (int, int)
        Spans the answer stands for: from the first to the last row (plus one period) of
        each good page; bars missing between them are taken as absent. Empty pages vouch
        for nothing.
    refused : list of ((int, int), str)
        Windows whose rows were refused (off the grid, failing the checks), and why.
    """

    rows: np.ndarray
    vouched: list[Span] = field(default_factory=list)
    refused: list[tuple[Span, str]] = field(default_factory=list)

    @classmethod
    def of_rows(cls, rows: np.ndarray, columns: tuple[str, ...], step: int) -> Answer:
        """The answer of a source with no pages (an archive read): bad rows dropped, and
        the slots of them not vouched for."""
        rows = rows[np.argsort(rows[:, 0], kind="stable")] if len(rows) else rows
        bad, why = row_faults(rows, columns, step)
        good = rows[~bad]
        if not len(good):
            return cls(good, [], [((int(rows[0, 0]), int(rows[-1, 0]) + step), why)]
                       if len(rows) else [])
        slots = _slots(rows[bad, 0], step)
        vouched = subtract_spans([(int(good[0, 0]), int(good[-1, 0]) + step)], slots)
        return cls(good, vouched, [(slots[0], why)] if slots else [])


def _slots(ts: np.ndarray, step: int) -> list[Span]:
    """The bar slots ``[t, t + step)`` that hold the timestamps ``ts`` (on the grid or not)."""
    starts = sorted({int(align_floor(int(t), step)) for t in ts})
    return union_spans([], [(a, a + step) for a in starts])


# -- the files ----------------------------------------------------------------------------


class SeriesStore:
    """Rows (timestamp in ms, then float columns) of one series, with their coverage.

    Parameters
    ----------
    root : pathlib.Path or None
        Cache root; ``None``: nothing is read or written.
    exchange, symbol, kind : str
        Name the file ``root/rest/<exchange>/<symbol>/<kind>.parquet``, each through
        :func:`liqlevels.vocab.safe_filename` (a symbol's ``/`` and ``:`` become ``_``).
    columns : tuple of str
        The float columns after ``ts``: :data:`OHLCV` or :data:`OI`.
    step : int
        Period of the rows, ms: the grid they must sit on.
    """

    def __init__(self, root: Path | None, exchange: str, symbol: str, kind: str,
                 columns: tuple[str, ...], step: int) -> None:
        self.columns, self.step = columns, step
        self.label = f"{exchange} {symbol} {kind}"
        self.notes: list[str] = []  # what load() distrusted, for the caller to warn about
        self.path = None if root is None else path_under(
            root, "rest", safe_filename(exchange, "exchange"),
            safe_filename(symbol, "symbol", sep="_"), f"{safe_filename(kind, 'kind')}.parquet",
            what="cache_dir")

    def _read(self) -> tuple[np.ndarray, list[Span], int]:
        table = pq.read_table(self.path, page_checksum_verification=True)
        meta = json.loads((table.schema.metadata or {})[_META_KEY])
        if meta.get("version") not in (1, _VERSION) or table.column_names != [
                "ts", *self.columns]:
            raise ValueError(f"unexpected layout {table.column_names}")
        covered = [(int(a), int(b)) for a, b in meta["coverage"]]
        rows = np.column_stack([table.column(c).to_numpy().astype(np.float64)
                                for c in table.column_names])
        return rows.reshape(-1, 1 + len(self.columns)), covered, int(meta["version"])

    def load(self) -> tuple[np.ndarray, list[Span]]:
        """The cached rows ``(n, 1 + len(columns))`` and covered spans; empty when absent.

        Rows that fail :func:`row_faults` are dropped and their slots uncovered; a file of
        version 1 (which recorded coverage it had not verified) is trusted only where it
        holds consecutive rows. Both are noted in :attr:`notes`.
        """
        empty = np.empty((0, 1 + len(self.columns))), []
        if self.path is None or not self.path.exists():
            return empty
        try:
            rows, covered, version = self._read()
        except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as exc:
            self.notes.append(f"cache file {self.path} is corrupt ({type(exc).__name__}: "
                              f"{exc}); deleting it and fetching its data again")
            self.path.unlink(missing_ok=True)
            return empty
        if version == 1:
            covered = intersect_spans(covered, runs(rows[:, 0], self.step))
        bad, why = row_faults(rows, self.columns, self.step)
        if bad.any():
            self.notes.append(f"{self.label}: {int(bad.sum())} cached row(s) fail the checks "
                              f"({why}); dropped, and fetched again")
            covered = subtract_spans(covered, _slots(rows[bad, 0], self.step))
            rows = rows[~bad]
        return rows, covered

    def save(self, rows: np.ndarray, covered: list[Span]) -> None:
        """Write rows and coverage atomically (temporary file, then rename)."""
        if self.path is None:
            return
        arrays = {"ts": pa.array(rows[:, 0].astype(np.int64))}
        for i, col in enumerate(self.columns, start=1):
            arrays[col] = pa.array(rows[:, i])
        meta = {"version": _VERSION, "coverage": [list(s) for s in covered]}
        table = pa.table(arrays).replace_schema_metadata({_META_KEY: json.dumps(meta)})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                pq.write_table(table, handle, write_page_checksum=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
