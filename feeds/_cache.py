"""The local cache: one parquet file per exchange, symbol, timeframe and kind.

Each file holds the rows fetched so far and, in its metadata, the time ranges already
covered, so that a repeated or overlapping request fetches only what is missing. Files are
written to a temporary file and renamed into place (atomic on POSIX and Windows); a file
that cannot be read back whole (truncated, flipped bits caught by page checksums, wrong
columns) is reported with a warning, deleted and fetched again.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import warnings
from pathlib import Path

import numpy as np
import platformdirs
import pyarrow as pa
import pyarrow.parquet as pq

from ..vocab import FeedWarning

__all__ = ["SeriesStore", "cache_root", "merge_rows", "missing_spans", "union_spans"]

_META_KEY = b"liqlevels"
_VERSION = 1
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


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "_"


class SeriesStore:
    """Rows (timestamp in ms, then float columns) of one series, with their coverage."""

    def __init__(self, root: Path | None, exchange: str, symbol: str, kind: str,
                 columns: tuple[str, ...]) -> None:
        self.columns = columns
        self.path = None if root is None else (
            root / "rest" / _safe(exchange) / _safe(symbol) / f"{_safe(kind)}.parquet"
        )

    def load(self) -> tuple[np.ndarray, list[Span]]:
        """The cached rows ``(n, 1 + len(columns))`` and covered spans; empty when absent."""
        empty = np.empty((0, 1 + len(self.columns))), []
        if self.path is None or not self.path.exists():
            return empty
        try:
            table = pq.read_table(self.path, page_checksum_verification=True)
            meta = json.loads((table.schema.metadata or {})[_META_KEY])
            if meta.get("version") != _VERSION or table.column_names != ["ts", *self.columns]:
                raise ValueError(f"unexpected layout {table.column_names}")
            covered = [(int(a), int(b)) for a, b in meta["coverage"]]
            rows = np.column_stack([table.column(c).to_numpy().astype(np.float64)
                                    for c in table.column_names])
        except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as exc:
            warnings.warn(
                f"cache file {self.path} is corrupt ({type(exc).__name__}: {exc}); "
                f"deleting it and fetching its data again", FeedWarning, stacklevel=4,
            )
            self.path.unlink(missing_ok=True)
            return empty
        return rows.reshape(-1, 1 + len(self.columns)), covered

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
