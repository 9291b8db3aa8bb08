"""The levels frame and its kin: column schemas, the one check, empty frames, the price formula.

Every frame the engine returns is described here once: the OI levels frame (docs/method.md
section 1), the trade levels frame (section 3, no ``end`` and no ``tier``), and the density,
map and depth frames computed from them. :func:`check_levels` is the one check that a levels
frame is usable, for the engine and for the charts alike; it parses the columns a caller needs
into numpy arrays once, so nothing downstream parses them again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from ..vocab import check_frame, first_true, row_label
from ._options import MAX_THRESHOLDS
from ._validate import MAX_LEVERAGE

__all__ = [
    "DENSITY_COLUMNS",
    "DEPTH_COLUMNS",
    "HEATMAP_COLUMNS",
    "LEVEL_COLUMNS",
    "MAP_COLUMNS",
    "NAT",
    "SCHEMAS",
    "STR",
    "TRADE_LEVEL_COLUMNS",
    "UTC_NS",
    "AnyLevels",
    "DensityFrame",
    "DepthFrame",
    "FrameKind",
    "FrameSchema",
    "HeatmapFrame",
    "LevelArrays",
    "MapFrame",
    "OILevels",
    "TradeLevels",
    "check_levels",
    "empty_frame",
    "level_arrays",
    "liquidation_factors",
    "utc_times",
]


UTC_NS = pd.DatetimeTZDtype(unit="ns", tz="UTC")
# pandas' default string dtype ("str" in pandas 3); Arrow-backed so it builds fast.
STR = pd.StringDtype("pyarrow", na_value=np.nan)
NAT = np.iinfo(np.int64).min  # NaT as int64 epoch nanoseconds


_LONG_SHORT = pd.array(["long", "short"], dtype=STR)


def side_strings(is_long: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """``"long"`` where ``is_long``, else ``"short"``, in the frames' one string dtype.

    Taken from a two-string Arrow array (no Python strings): 10M rows in about 0.09 s
    where ``pd.array(np.where(...))`` took 2.2 s.
    """
    return _LONG_SHORT.take((~np.asarray(is_long, dtype=bool)).astype(np.intp))
_F64, _I64 = np.dtype(np.float64), np.dtype(np.int64)

# --------------------------------------------------------------------------------------------
# Schemas
# --------------------------------------------------------------------------------------------

FrameKind = Literal["oi_levels", "trade_levels", "density", "map", "depth", "heatmap"]


@dataclass(frozen=True)
class FrameSchema:
    """The columns of one kind of frame, in order, with their dtypes, and who makes it."""

    kind: str
    dtypes: tuple[tuple[str, Any], ...]
    made_by: str

    @property
    def columns(self) -> tuple[str, ...]:
        """The column names, in order."""
        return tuple(name for name, _ in self.dtypes)


SCHEMAS: dict[str, FrameSchema] = {
    schema.kind: schema
    for schema in (
        FrameSchema("oi_levels", (
            ("start", UTC_NS), ("end", UTC_NS), ("side", STR), ("leverage", _I64),
            ("price", _F64), ("entry", _F64), ("tier", _I64), ("oi_delta", _F64),
        ), "indicator.oi_levels"),
        FrameSchema("trade_levels", (
            ("start", UTC_NS), ("side", STR), ("leverage", _I64), ("price", _F64),
            ("entry", _F64), ("notional", _F64),
        ), "indicator.trade_levels"),
        FrameSchema("density", (
            ("price_low", _F64), ("price_high", _F64), ("long", _I64), ("short", _I64),
        ), "indicator.density"),
        FrameSchema("map", (
            ("price_low", _F64), ("price_high", _F64), ("side", STR), ("leverage", _I64),
            ("notional", _F64),
        ), "indicator.liquidation_map"),
        FrameSchema("depth", (
            ("price_low", _F64), ("price_high", _F64), ("side", STR), ("notional", _F64),
            ("cumulative", _F64),
        ), "indicator.depth"),
        FrameSchema("heatmap", (
            ("time", UTC_NS), ("price_low", _F64), ("price_high", _F64), ("long", _I64),
            ("short", _I64),
        ), "indicator.heatmap"),
    )
}

LEVEL_COLUMNS: tuple[str, ...] = SCHEMAS["oi_levels"].columns
TRADE_LEVEL_COLUMNS: tuple[str, ...] = SCHEMAS["trade_levels"].columns
DENSITY_COLUMNS: tuple[str, ...] = SCHEMAS["density"].columns
MAP_COLUMNS: tuple[str, ...] = SCHEMAS["map"].columns
DEPTH_COLUMNS: tuple[str, ...] = SCHEMAS["depth"].columns
HEATMAP_COLUMNS: tuple[str, ...] = SCHEMAS["heatmap"].columns

# Which frame a function takes or returns, said in its signature.
OILevels = Annotated[pd.DataFrame, SCHEMAS["oi_levels"]]
"""The frame :func:`oi_levels` returns: lines with ``end`` (NaT while live) and ``tier``."""
TradeLevels = Annotated[pd.DataFrame, SCHEMAS["trade_levels"]]
"""The frame :func:`trade_levels` returns: levels with ``notional``, no ``end``, no ``tier``."""
AnyLevels = Annotated[pd.DataFrame, (SCHEMAS["oi_levels"], SCHEMAS["trade_levels"])]
"""Either levels frame."""
DensityFrame = Annotated[pd.DataFrame, SCHEMAS["density"]]
MapFrame = Annotated[pd.DataFrame, SCHEMAS["map"]]
DepthFrame = Annotated[pd.DataFrame, SCHEMAS["depth"]]
HeatmapFrame = Annotated[pd.DataFrame, SCHEMAS["heatmap"]]
"""The frame :func:`heatmap` returns: live lines per time and price bin (float sums but for
``weight="count"``)."""


def empty_frame(kind: FrameKind, **dtypes: Any) -> pd.DataFrame:
    """An empty frame of ``kind`` with its schema's columns and dtypes.

    ``dtypes`` overrides a column's dtype, e.g. ``empty_frame("density", long=float,
    short=float)`` for the ``|oi_delta|`` sums.
    """
    schema = SCHEMAS[kind]
    unknown = set(dtypes) - set(schema.columns)
    if unknown:
        raise ValueError(f"{kind} frames have no column(s) {sorted(unknown)}")
    return pd.DataFrame({
        name: pd.Series([], dtype=dtypes.get(name, dtype)) for name, dtype in schema.dtypes
    })


def utc_times(ns: np.ndarray) -> pd.DatetimeIndex:
    """int64 epoch nanoseconds (``NAT`` for NaT) as datetime64[ns, UTC], without a copy.

    pandas' public constructors localize naive values to UTC into a new array (110 MB for
    the ``start`` of 13.7M lines); epoch nanoseconds already are UTC, so the array is
    wrapped as it is, by pandas' own constructor for checked values, where it exists.
    """
    values = np.asarray(ns, dtype=np.int64).view("datetime64[ns]")
    try:
        array = pd.arrays.DatetimeArray._simple_new(values, dtype=UTC_NS)
    except (AttributeError, TypeError):  # a pandas without it: the public, copying way
        return pd.DatetimeIndex(values, dtype=UTC_NS, copy=False)
    return pd.DatetimeIndex(array, copy=False)


# --------------------------------------------------------------------------------------------
# The liquidation price (docs/method.md 1.6; section 3 prices trades by the same rule)
# --------------------------------------------------------------------------------------------


def liquidation_factors(leverages: Sequence[int], mmr: float) -> np.ndarray:
    """Liquidation price over entry price for each leverage: the one formula.

    Parameters
    ----------
    leverages : sequence of int
        Leverages ``L > 1`` (checked by the caller).
    mmr : float
        Maintenance margin rate, ``0 <= mmr < 1/L`` (0.004 = 0.4%).

    Returns
    -------
    numpy.ndarray
        Shape ``(len(leverages), 2)``: column 0 the long factor ``1 - 1/L + mmr`` (below
        entry), column 1 the short factor ``1 + 1/L - mmr`` (above entry). A line's price is
        ``entry * factor``; ``.ravel()`` gives long, short for each leverage in turn.
    """
    inverse = 1.0 / np.asarray(leverages, dtype=np.float64)
    return np.column_stack([1.0 - inverse + mmr, 1.0 + inverse - mmr])


# --------------------------------------------------------------------------------------------
# The one check
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LevelArrays:
    """A levels frame's columns as numpy arrays, parsed once (``None``: not asked for).

    Attributes
    ----------
    start, end : numpy.ndarray
        int64 epoch nanoseconds (UTC); a NaT ``end`` (a live line) is ``NAT``.
    short : numpy.ndarray
        bool, the ``side`` column: True for ``"short"``, False for ``"long"``.
    leverage, tier : numpy.ndarray
        int64.
    price, entry, notional, oi_delta : numpy.ndarray
        float64 (price and entry in quote currency per coin, notional in quote currency).
    """

    start: np.ndarray | None = None
    end: np.ndarray | None = None
    short: np.ndarray | None = None
    leverage: np.ndarray | None = None
    price: np.ndarray | None = None
    entry: np.ndarray | None = None
    tier: np.ndarray | None = None
    notional: np.ndarray | None = None
    oi_delta: np.ndarray | None = None


_FIELD = {f.name: f.name for f in fields(LevelArrays)} | {"side": "short"}
_COLUMN_ORDER = ("start", "end", "side", "leverage", "price", "entry", "tier", "notional",
                 "oi_delta")
# column: (what it must be, bound, bound excluded, whole numbers, upper bound included)
_NUMBER_RULES: dict[str, tuple[str, float, bool, bool, float]] = {
    "leverage": (f"a whole number > 1 and <= {MAX_LEVERAGE}", 1, True, True, MAX_LEVERAGE),
    "tier": (f"a whole number >= 1 and <= {MAX_THRESHOLDS}", 1, False, True, MAX_THRESHOLDS),
    "price": ("a finite price > 0", 0, True, False, np.inf),
    "entry": ("a finite price > 0", 0, True, False, np.inf),
    "notional": ("a finite amount >= 0 (quote currency)", 0, False, False, np.inf),
    "oi_delta": ("a finite OI change", -np.inf, False, False, np.inf),
}


def _made_by(columns: Iterable[str]) -> str:
    columns = set(columns)
    if columns & {"end", "tier", "oi_delta"}:
        return "indicator.oi_levels"
    if "notional" in columns:
        return "indicator.trade_levels"
    return "indicator.oi_levels or indicator.trade_levels"


def _check_frame(levels: Any, columns: tuple[str, ...], name: str) -> None:
    hint = ""
    if (isinstance(levels, pd.DataFrame) and {"end", "tier"} & (set(columns) - set(levels))
            and "notional" in levels.columns):
        hint = (" This looks like trade levels, which have no 'end' or 'tier': this needs "
                "the lines indicator.oi_levels returns.")
    check_frame(levels, name, columns, made_by=f"the frame {_made_by(columns)} returns",
                hint=hint)


def _times(levels: pd.DataFrame, col: str, name: str) -> np.ndarray:
    """A tz-aware time column as int64 epoch ns (NaT as ``NAT``); a column of nothing but
    NaT (or no rows) passes whatever its dtype."""
    column = levels[col]
    if not isinstance(column.dtype, pd.DatetimeTZDtype):
        if column.isna().all():  # NaT has no time zone: e.g. [pd.NaT] * n, or no rows
            return np.full(len(column), NAT, dtype=np.int64)
        fix = (f"{name}[{col!r}].dt.tz_localize('UTC')"
               if pd.api.types.is_datetime64_dtype(column.dtype)
               else f"pd.to_datetime({name}[{col!r}], utc=True)")
        raise TypeError(f"{name}[{col!r}] must be tz-aware UTC datetimes, got dtype "
                        f"{column.dtype}; use {fix}")
    return column.array.as_unit("ns").asi8


def _start(levels: pd.DataFrame, col: str, name: str) -> np.ndarray:
    start = _times(levels, col, name)
    row = first_true(start == NAT)
    if row is not None:
        raise ValueError(f"{name}['start'] is NaT at {row_label(levels.index, row)}; every "
                         f"line needs its trigger bar")
    return start


def _word(text: str) -> tuple[np.uint64, np.uint64]:
    """``text``'s bytes as a little-endian word and the mask of its bytes."""
    raw = text.encode()
    return np.uint64(int.from_bytes(raw, "little")), np.uint64((1 << (8 * len(raw))) - 1)


def _chunk_which(chunk: pa.Array, yes: str, no: str) -> np.ndarray | None:
    """``chunk == yes`` for one Arrow string chunk without nulls, read off its offsets and
    bytes (each value's first 8 bytes as one word, its length from the offsets); ``None``
    when a value is neither ``yes`` nor ``no``."""
    n = len(chunk)
    _, offsets_buf, data_buf = chunk.buffers()
    offsets = np.frombuffer(offsets_buf, np.int64 if pa.types.is_large_string(chunk.type)
                            else np.int32, count=chunk.offset + n + 1)[chunk.offset:]
    lo, hi = int(offsets[0]), int(offsets[-1])
    padded = np.zeros(hi - lo + 8, np.uint8)  # room for an 8-byte read at every start
    if hi > lo:
        padded[:hi - lo] = np.frombuffer(data_buf, np.uint8, count=hi - lo, offset=lo)
    words = np.ndarray((hi - lo + 1,), dtype="<u8", buffer=padded, strides=(1,))
    first8 = words[offsets[:-1] - lo]  # each value's first 8 bytes (and what follows)
    lengths = np.diff(offsets)
    (word_yes, mask_yes), (word_no, mask_no) = _word(yes), _word(no)
    hit = (lengths == len(yes)) & ((first8 & mask_yes) == word_yes)
    if not (hit | ((lengths == len(no)) & ((first8 & mask_no) == word_no))).all():
        return None
    return hit


def which_of_two(column: pd.Series, yes: str, no: str) -> np.ndarray | None:
    """``column == yes`` for an Arrow-backed string column holding nothing but the ASCII
    words ``yes`` and ``no`` (at most 8 bytes each: a side column), read off the Arrow
    offsets and bytes, 2-3x faster than two Arrow comparisons; ``None`` for any other column
    (another dtype, a null, another value), which the caller then compares and reports."""
    dtype = column.dtype
    if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"):
        return None
    arrow = pa.array(column.array)  # the pandas array's own Arrow data (__arrow_array__)
    parts = []
    for chunk in arrow.chunks if isinstance(arrow, pa.ChunkedArray) else [arrow]:
        if chunk.null_count or not (pa.types.is_string(chunk.type)
                                    or pa.types.is_large_string(chunk.type)):
            return None
        part = _chunk_which(chunk, yes, no)
        if part is None:
            return None
        parts.append(part)
    return np.concatenate(parts) if len(parts) != 1 else parts[0]


def _short(levels: pd.DataFrame, col: str, name: str) -> np.ndarray:
    side = levels[col]
    fast = which_of_two(side, "short", "long") if len(side) > 4096 else None
    if fast is not None:
        return fast
    short = (side == "short").to_numpy(dtype=bool, na_value=False)
    row = first_true(~(short | (side == "long").to_numpy(dtype=bool, na_value=False)))
    if row is not None:
        raise ValueError(f"{name}['side'] is {side.iloc[row]!r} at {row_label(levels.index, row)}; "
                         f"expected 'long' or 'short'")
    return short


def _floats(levels: pd.DataFrame, col: str, name: str) -> np.ndarray:
    column = levels[col]
    if pd.api.types.is_bool_dtype(column.dtype):
        raise TypeError(f"{name}[{col!r}] must be numeric, got {column.dtype}")
    try:
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name}[{col!r}] must be numeric, got {column.dtype}; convert it "
                        f"with pd.to_numeric") from exc


def _numbers(levels: pd.DataFrame, col: str, name: str) -> np.ndarray:
    """A numeric column checked by its rule in ``_NUMBER_RULES``."""
    need, bound, strict, whole, top = _NUMBER_RULES[col]
    column = levels[col]
    if whole and pd.api.types.is_integer_dtype(column.dtype) and not column.hasnans:
        values = column.to_numpy()  # integers: only the range to check, in their own dtype
        bad = (values <= bound if strict else values < bound) | (values > top)
    else:
        values = _floats(levels, col, name)
        bad = ~(values > bound if strict else values >= bound) | ~np.isfinite(values)
        bad |= values > top
        if whole:
            bad |= values != np.round(values)
    row = first_true(bad)
    if row is not None:
        raise ValueError(f"{name}[{col!r}] is {values[row].item()!r} at "
                         f"{row_label(levels.index, row)}; it must be {need}")
    return values.astype(np.int64, copy=False) if whole else values


def _check_order(levels: pd.DataFrame, start: np.ndarray, end: np.ndarray, name: str) -> None:
    row = first_true((end != NAT) & (end <= start))
    if row is not None:
        raise ValueError(
            f"{name}['end'] ({levels['end'].iloc[row]}) is not after {name}['start'] "
            f"({levels['start'].iloc[row]}) at {row_label(levels.index, row)}; a line ends on a "
            f"later bar or is NaT"
        )


_CHECKS = {
    "start": _start, "end": _times, "side": _short,
    **{col: _numbers for col in _NUMBER_RULES},
}


def _wanted(columns: Iterable[str]) -> tuple[str, ...]:
    columns = tuple(columns)
    unknown = [c for c in columns if c not in _FIELD]
    if unknown:
        raise ValueError(f"not levels column(s): {unknown}; known: {list(_COLUMN_ORDER)}")
    return tuple(c for c in _COLUMN_ORDER if c in columns)


def check_levels(
    levels: Any, columns: Iterable[str] = LEVEL_COLUMNS, *, name: str = "levels"
) -> LevelArrays:
    """Check that ``levels`` is a usable levels frame and parse the ``columns`` asked for.

    The one check of a levels frame (:func:`oi_levels`' or :func:`trade_levels`'), shared by
    the engine and the charts. Each caller names the columns it uses; only those must exist,
    and each is checked by its rule: ``start`` tz-aware, never NaT; ``end`` tz-aware and after
    ``start`` (or NaT); ``side`` ``"long"``/``"short"``; ``leverage`` a whole number from 2
    to 1000; ``price`` and ``entry`` finite > 0; ``tier`` a whole number from 1 to 100;
    ``notional`` finite >= 0; ``oi_delta`` finite (infinite values are refused like NaN).

    Parameters
    ----------
    levels : pandas.DataFrame
        The levels frame.
    columns : iterable of str, default LEVEL_COLUMNS
        The columns the caller needs: asking for ``end`` or ``tier`` means OI levels (trade
        levels have neither).
    name : str, default "levels"
        The argument's name, for messages.

    Returns
    -------
    LevelArrays
        The asked-for columns as arrays (``side`` as the bool mask ``short``), the rest None.

    Raises
    ------
    TypeError
        Not a DataFrame, naive or non-datetime times, a non-numeric column.
    ValueError
        A missing column, or a bad value, naming the column, the value and the first bad row.
    """
    wanted = _wanted(columns)
    _check_frame(levels, wanted, name)
    parsed = {_FIELD[col]: _CHECKS[col](levels, col, name) for col in wanted}
    if "start" in parsed and "end" in parsed:
        _check_order(levels, parsed["start"], parsed["end"], name)
    return LevelArrays(**parsed)


def level_arrays(levels: pd.DataFrame, columns: Iterable[str]) -> LevelArrays:
    """The ``columns`` of a levels frame the engine has just made, as arrays, unchecked.

    Same result as :func:`check_levels` on a valid frame; for frames that cannot be bad.
    """
    parsed: dict[str, np.ndarray] = {}
    for col in _wanted(columns):
        column = levels[col]
        if col in ("start", "end"):
            parsed[col] = column.array.as_unit("ns").asi8
        elif col == "side":
            parsed["short"] = (column == "short").to_numpy(dtype=bool, na_value=False)
        elif _NUMBER_RULES[col][3]:  # whole numbers
            parsed[col] = column.to_numpy(dtype=np.int64)
        else:
            parsed[col] = column.to_numpy(dtype=np.float64)
    return LevelArrays(**parsed)
