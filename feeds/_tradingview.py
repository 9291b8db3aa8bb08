"""TradingView's "Export chart data" CSV: the bars on a UTC index and every plot by its title.

The header is ``time,open,high,low,close,<plot title>,...``: one column per series on the chart,
so titles repeat when several indicators plot the same name. Cells are kept as text and turned
into numbers one column at a time, when asked for, so an error can name the column and line.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..vocab import did_you_mean

__all__ = ["TradingViewExport", "read_tradingview_export"]

_NA_CELLS = frozenset({"", "nan", "na", "n/a", "null", "none", "\u2205"})
_NUMBER = re.compile(r"[+-]?\d+(\.\d*)?([eE][+-]?\d+)?")
_OFFSET = re.compile(r"(Z|[+-]\d{2}(:?\d{2})?)$")


@dataclass(frozen=True)
class TradingViewExport:
    """A TradingView "Export chart data" CSV, read as text and converted column by column.

    Attributes
    ----------
    index : pandas.DatetimeIndex
        Bar open times, UTC, strictly increasing, named ``time``.
    titles : tuple of str
        The header as written, the time column included; titles may repeat.
    cells : tuple of tuple of str
        The raw cells, one tuple per column (header order).
    lines : numpy.ndarray
        The file line number of each bar, for messages.
    source : str
        Where it was read from.
    """

    index: pd.DatetimeIndex
    titles: tuple[str, ...]
    cells: tuple[tuple[str, ...], ...]
    lines: np.ndarray
    source: str = "export"
    _cache: dict[int, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.index)

    def positions(self, title: str) -> tuple[int, ...]:
        """Header positions (0-based) of the columns titled ``title``: exact matches, else
        matches ignoring case."""
        return _positions(self.titles, title)

    def has(self, title: str) -> bool:
        """Whether a column is titled ``title`` (exactly, else ignoring case)."""
        return bool(self.positions(title))

    def column_at(self, position: int) -> np.ndarray:
        """The float64 values of the column at header ``position`` (0-based); na cells are NaN.

        Raises
        ------
        ValueError
            A cell that is not a number, naming the column and its first such line.
        """
        if position not in self._cache:
            self._cache[position] = _to_floats(self, position)
        return self._cache[position]

    def column(self, title: str, *, hint: str = "") -> np.ndarray:
        """The float64 values of the column titled ``title``; na cells are NaN.

        A repeated title is read when every copy holds the same values.

        Parameters
        ----------
        title : str
            The plot title, as in the header (case is ignored when no title matches exactly).
        hint : str, optional
            What to do when the column is missing, added to that message.

        Raises
        ------
        ValueError
            No such column (with the nearest titles and the header), a title repeated with
            different values, or a cell that is not a number.
        """
        found = self.positions(title)
        if not found:
            raise ValueError(self.missing_message(title, hint=hint))
        values = self.column_at(found[0])
        for pos in found[1:]:
            if not np.array_equal(values, self.column_at(pos), equal_nan=True):
                cols = ", ".join(str(p + 1) for p in found)
                raise ValueError(
                    f"{self.source}: column {title!r} appears {len(found)} times (columns "
                    f"{cols}) with different values, so which one is meant is unclear; "
                    f"remove the other indicators from the chart and export again"
                )
        return values

    def missing_message(self, title: str, *, hint: str = "") -> str:
        """The message for a column titled ``title`` that the export lacks: ``hint`` (what to
        do), the nearest titles and the whole header."""
        advice = f"; {hint}" if hint else ""
        near = did_you_mean(title, self.titles, n=3)
        shown = ", ".join(repr(t) for t in self.titles)
        return f"{self.source} has no column {title!r}{advice}.{near} Its columns: {shown}"


def _positions(titles: Sequence[str], title: str) -> tuple[int, ...]:
    exact = tuple(i for i, t in enumerate(titles) if t == title)
    if exact:
        return exact
    folded = title.casefold()
    return tuple(i for i, t in enumerate(titles) if t.casefold() == folded)


def _to_floats(export: TradingViewExport, pos: int) -> np.ndarray:
    """One column's cells as float64; empty and na-like cells become NaN."""
    clean = ["nan" if c.strip().casefold() in _NA_CELLS else c.strip() for c in export.cells[pos]]
    try:
        return np.array(clean, dtype=np.float64)
    except ValueError:
        pass
    for row, cell in enumerate(clean):
        try:
            float(cell)
        except ValueError:
            raise ValueError(
                f"{export.source}: column {export.titles[pos]!r} (column {pos + 1}) holds "
                f"{cell!r} at line {export.lines[row]}, which is not a number; empty cells "
                f"are read as na"
            ) from None
    raise ValueError(f"{export.source}: column {export.titles[pos]!r} is not numbers")


def _read_rows(text: io.TextIOBase, source: str) -> tuple[list[str], list[list[str]], list[int]]:
    """The header, the non-blank rows and their line numbers; ragged rows are refused."""
    reader = csv.reader(text)
    try:
        return _rows_from(reader, source)
    except csv.Error as exc:  # an over-long field, a NUL byte, a quote left open
        raise ValueError(
            f"{source} line {reader.line_num}: not readable as CSV ({exc}); expected a "
            f"TradingView 'Export chart data' CSV"
        ) from None


def _rows_from(reader: Any, source: str) -> tuple[list[str], list[list[str]], list[int]]:
    header = next(reader, None)
    if not header or not any(h.strip() for h in header):
        raise ValueError(f"{source} is empty; expected a TradingView 'Export chart data' CSV")
    header = [h.strip() for h in header]
    rows: list[list[str]] = []
    lines: list[int] = []
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise ValueError(
                f"{source} line {reader.line_num} has {len(row)} fields but the header has "
                f"{len(header)}; is the file cut short or edited?"
            )
        rows.append(row)
        lines.append(reader.line_num)
    if not rows:
        raise ValueError(f"{source} has a header but no bars")
    return header, rows, lines


def _to_index(cells: Sequence[str], lines: np.ndarray, source: str) -> pd.DatetimeIndex:
    """Unix seconds (milliseconds when that large) or ISO 8601 with an offset, as UTC."""
    cells = [c.strip() for c in cells]
    if all(_NUMBER.fullmatch(c) for c in cells):
        secs = np.array(cells, dtype=np.float64)
        unit = "ms" if np.nanmax(np.abs(secs)) > 1e11 else "s"
        return pd.DatetimeIndex(pd.to_datetime(secs, unit=unit, utc=True))
    for row, cell in enumerate(cells):
        if not _OFFSET.search(cell):
            raise ValueError(
                f"{source} line {lines[row]}: time {cell!r} is neither unix seconds nor ISO "
                f"time with a UTC offset; export with 'ISO time' (it carries the chart's "
                f"offset) or 'UNIX timestamp'"
            )
    try:
        return pd.DatetimeIndex(pd.to_datetime(cells, utc=True, format="ISO8601"))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{source}: cannot read the time column: {exc}") from exc


def _parse_times(cells: Sequence[str], lines: np.ndarray, source: str) -> pd.DatetimeIndex:
    """The bar open times as a UTC index (ns), refusing repeated or backward times."""
    index = _to_index(cells, lines, source).as_unit("ns").rename("time")
    steps = np.diff(index.asi8)
    if (steps <= 0).any():
        row = int(np.flatnonzero(steps <= 0)[0]) + 1
        what = "repeats" if steps[row - 1] == 0 else "goes back"
        raise ValueError(
            f"{source} line {lines[row]}: time {what} ({index[row]} after {index[row - 1]}); "
            f"bars must be strictly increasing: export one symbol and timeframe at a time"
        )
    return index


# What a file that is not text usually is, by its first bytes.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"), (b"PK\x03\x04", "a zip archive"), (b"\x1f\x8b", "gzip data"),
)


def _text_of(path: str | Path) -> str:
    """The file's text (UTF-8, a BOM dropped); a file that is not text is named and refused."""
    data = Path(path).read_bytes()
    kind = next((what for magic, what in _MAGIC if data.startswith(magic)), None)
    if kind is not None:
        raise ValueError(f"{path} is {kind}, not a CSV export; export the chart's data from "
                         f"TradingView ('Export chart data') and pass that CSV")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ValueError(
            f"{path} line {line}: byte {data[exc.start]:#04x} is not UTF-8 text, so this is not "
            f"a CSV export; pass the CSV TradingView's 'Export chart data' writes"
        ) from None


def _rows_of(source: str | Path | io.TextIOBase) -> tuple[str, list[str], list[list[str]],
                                                         list[int]]:
    """The name, header, rows and line numbers of a path or an open text file."""
    if isinstance(source, (str, Path)):
        text = io.StringIO(_text_of(source), newline="")
        return (str(source), *_read_rows(text, str(source)))
    name = str(getattr(source, "name", "export"))
    header, rows, lines = _read_rows(source, name)
    header[0] = header[0].removeprefix("\ufeff")
    return name, header, rows, lines


def read_tradingview_export(source: str | Path | io.TextIOBase) -> TradingViewExport:
    """Read a TradingView "Export chart data" CSV.

    Parameters
    ----------
    source : str, pathlib.Path or text file object
        The CSV. Its header is ``time,open,high,low,close,<plot titles>...``; titles may
        repeat (several indicators' plots). ``time`` is the bar open time as unix seconds
        (or milliseconds) or ISO 8601 with a UTC offset. Empty cells, ``NaN`` and ``na`` are na.

    Returns
    -------
    TradingViewExport
        The bars on a UTC index; :meth:`TradingViewExport.column` reads a column (prices in
        quote currency, open interest in coins or contracts, as the chart plots them).

    Raises
    ------
    OSError
        The file cannot be read.
    ValueError
        Not a text CSV (an image, an archive, bytes that are not UTF-8: naming the file),
        a line the CSV reader refuses (an over-long field, a NUL byte), empty file, ragged
        rows, not exactly one ``time`` column, unreadable or non-increasing times (naming
        the line).
    """
    name, header, rows, lines = _rows_of(source)
    columns = tuple(tuple(col) for col in zip(*rows, strict=True))
    line_arr = np.array(lines, dtype=np.int64)
    time_pos = _positions(header, "time")
    if len(time_pos) != 1:
        found = f"{len(time_pos)} 'time' columns" if time_pos else "no 'time' column"
        raise ValueError(f"{name} has {found}; expected one (the bar open time)")
    index = _parse_times(columns[time_pos[0]], line_arr, name)
    return TradingViewExport(index, tuple(header), columns, line_arr, name)
