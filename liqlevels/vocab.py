"""The project's one vocabulary: option types, warnings and errors, "did you mean", times.

Every package (``indicator``, ``feeds``, ``charts`` and the application) takes these from here,
so a warning class does not drag one package into another and a user time means the same
thing everywhere, and a user's string becomes a file name in one way only. Nothing here
imports ccxt or charts; the file system is only read, to resolve a path (``path_under``).
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import numbers
import os
import re
from collections.abc import Callable, Iterable
from importlib import import_module
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

__all__ = [
    "ARCHIVE_EXCHANGES",
    "CHART_KINDS",
    "DENSITY_WEIGHTS",
    "DIRECTIONS",
    "EDGES",
    "MA_TYPES",
    "MODES",
    "SIDES",
    "TRADES_FORMATS",
    "ArchiveExchange",
    "ArchiveKind",
    "ChartKind",
    "ChartsWarning",
    "DensityWeight",
    "Direction",
    "Edge",
    "FeedError",
    "FeedWarning",
    "LiqLevelsWarning",
    "MaType",
    "MappingWarning",
    "Mode",
    "NumbaMissingWarning",
    "Side",
    "TradesFormat",
    "check_bar_index",
    "check_choice",
    "check_frame",
    "did_you_mean",
    "first_true",
    "lazy_names",
    "path_under",
    "quote_currency",
    "row_label",
    "safe_filename",
    "timeframe_ms",
    "timeframe_seconds",
    "to_ms",
    "to_timestamp",
    "window_ns",
]

# --------------------------------------------------------------------------------------------
# Option types: each Literal and the tuple of its values, from one definition
# --------------------------------------------------------------------------------------------

MaType = Literal["sma", "ema", "wma", "vwma"]
Direction = Literal["increase", "decrease", "both"]
Mode = Literal["gross_value", "top_n", "portion"]
Side = Literal["long", "short"]
DensityWeight = Literal["count", "oi_delta", "notional"]
ArchiveExchange = Literal["binance", "bybit"]  # whose public trade archives are read
TradesFormat = Literal["binance", "binanceusdm", "bybit"]  # whose trades file format
ArchiveKind = Literal["aggTrades", "klines", "metrics", "trades"]
ChartKind = Literal["map", "depth"]
Edge = Literal["right", "left"]

MA_TYPES: tuple[str, ...] = get_args(MaType)
DIRECTIONS: tuple[str, ...] = get_args(Direction)
MODES: tuple[str, ...] = get_args(Mode)
SIDES: tuple[str, ...] = get_args(Side)
DENSITY_WEIGHTS: tuple[str, ...] = get_args(DensityWeight)
ARCHIVE_EXCHANGES: tuple[str, ...] = get_args(ArchiveExchange)
TRADES_FORMATS: tuple[str, ...] = get_args(TradesFormat)
CHART_KINDS: tuple[str, ...] = get_args(ChartKind)
EDGES: tuple[str, ...] = get_args(Edge)

# --------------------------------------------------------------------------------------------
# Warnings and errors
# --------------------------------------------------------------------------------------------


class LiqLevelsWarning(UserWarning):
    """Base class of the recoverable oddities liqlevels warns about."""


class FeedWarning(LiqLevelsWarning):
    """A recoverable oddity of market data (coarse open interest, a corrupt cache file)."""


class ChartsWarning(LiqLevelsWarning):
    """A chart was drawn, but not exactly as asked (e.g. lines left out by ``max_lines``)."""


class MappingWarning(LiqLevelsWarning):
    """An output of ``HistoricalMapping`` could not be written as asked (e.g. no PNG)."""


class NumbaMissingWarning(LiqLevelsWarning):
    """numba could not be imported: the counts run as plain Python, exact but far slower."""


class FeedError(RuntimeError):
    """Market data could not be had: the message names the exchange, endpoint and range.

    Attributes
    ----------
    exchange : str or None
        ccxt id of the exchange (or archive name).
    endpoint : str or None
        The ccxt method or URL that failed.
    """

    def __init__(self, message: str, *, exchange: str | None = None,
                 endpoint: str | None = None) -> None:
        super().__init__(message)
        self.exchange = exchange
        self.endpoint = endpoint


# --------------------------------------------------------------------------------------------
# "Did you mean"
# --------------------------------------------------------------------------------------------


def did_you_mean(value: object, choices: Iterable[object], *, n: int = 1,
                 cutoff: float = 0.6) -> str:
    """``" Did you mean 'x'?"`` for the choices closest to ``value``, or ``""``.

    Matching ignores case, so ``"SMA"`` suggests ``"sma"`` and ``"binanceUSDM"`` suggests
    ``"binanceusdm"``; up to ``n`` suggestions, each at least ``cutoff`` alike.
    """
    if not isinstance(value, str):
        return ""
    by_lower: dict[str, str] = {}
    for choice in choices:
        by_lower.setdefault(str(choice).lower(), str(choice))
    close = difflib.get_close_matches(value.lower(), list(by_lower), n=n, cutoff=cutoff)
    if not close:
        return ""
    return f" Did you mean {' or '.join(repr(by_lower[c]) for c in close)}?"


def check_choice(name: str, value: Any, allowed: Iterable[str]) -> str:
    """``value`` if it is exactly one of ``allowed``, else ``ValueError`` naming ``name``, the
    choices and the closest one (case-insensitive)."""
    allowed = tuple(allowed)
    if isinstance(value, str) and value in allowed:
        return value
    choices = ", ".join(repr(a) for a in allowed)
    raise ValueError(
        f"{name}={value!r} is not one of {choices}.{did_you_mean(value, allowed, cutoff=0.5)}"
    )


# --------------------------------------------------------------------------------------------
# Frames: the first checks every input frame gets, and how errors name a row
# --------------------------------------------------------------------------------------------


def first_true(mask: np.ndarray) -> int | None:
    """Position of the first ``True`` in ``mask``, or ``None`` (one cheap pass when none)."""
    return int(mask.argmax()) if mask.any() else None


def row_label(index: pd.Index, position: int) -> str:
    """How an error names a row: ``row 3``, with its label when that differs from the
    position: ``row 3 (2024-03-01 12:00:00+00:00)`` for a time, ``row 3 (index 12)`` else."""
    label = index[position]
    if isinstance(label, np.generic):
        label = label.item()
    if isinstance(label, (dt.datetime, dt.date)):
        return f"row {position} ({label})"
    return f"row {position}" if label == position else f"row {position} (index {label!r})"


def check_frame(frame: Any, name: str, columns: Iterable[str], *, made_by: str = "",
                hint: str = "") -> pd.DataFrame:
    """``frame`` must be a DataFrame holding ``columns``; returns it.

    ``made_by`` names the frame's usual source ("the frame indicator.oi_levels returns");
    ``hint`` is added to the missing-column message. A missing column with a close match
    among the frame's columns gets " Did you mean 'Close'? Rename it to 'close'."
    """
    source = f" ({made_by})" if made_by else ""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame{source}, got {type(frame).__name__}")
    columns = list(columns)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        rename = ""
        for col in missing:
            close = did_you_mean(col, [str(c) for c in frame.columns])
            if close:
                rename = f"{close} Rename it to {col!r}."
                break
        raise ValueError(f"{name} lacks column(s) {missing}; it needs {columns}{source}."
                         f"{rename}{hint}")
    return frame


def check_bar_index(index: pd.Index, name: str) -> None:
    """Bar open times: a tz-aware ``DatetimeIndex``, no NaT, strictly increasing; errors name
    the first bad row and the fix."""
    if not isinstance(index, pd.DatetimeIndex):
        raise TypeError(
            f"{name} must be indexed by a DatetimeIndex of bar open times, got "
            f"{type(index).__name__}; use {name}.set_index(pd.to_datetime(ts, unit='ms', utc=True))"
        )
    if index.tz is None:
        raise ValueError(
            f"{name}.index is naive; it must be tz-aware UTC: use {name}.tz_localize('UTC')"
        )
    row = first_true(np.asarray(index.isna()))
    if row is not None:
        raise ValueError(f"{name}.index has a missing timestamp at row {row}; drop that row")
    steps = np.diff(index.asi8)
    row = first_true(steps <= 0)
    if row is not None:
        what = "duplicated" if steps[row] == 0 else "out of order"
        raise ValueError(
            f"{name}.index is {what} at {row_label(index, row + 1)}; the index must be strictly "
            f"increasing: use {name}[~{name}.index.duplicated()].sort_index()"
        )


# --------------------------------------------------------------------------------------------
# Times
# --------------------------------------------------------------------------------------------

_EXAMPLE = "'2024-03-01 12:00', a datetime, a pandas.Timestamp or epoch milliseconds"


_NS_MIN, _NS_MAX = -(2**63) + 1, 2**63 - 1  # int64 less the NaT sentinel


def _number_ns(value: numbers.Real, name: str) -> int:
    """Epoch milliseconds (a number) as epoch nanoseconds: exact for integers, to the
    microsecond for floats."""
    if isinstance(value, numbers.Integral):
        return int(value) * 1_000_000
    if not math.isfinite(float(value)):
        raise ValueError(f"{name}={value!r} is not finite; pass {_EXAMPLE}")
    return round(float(value) * 1_000) * 1_000


def to_timestamp(value: object, name: str) -> pd.Timestamp:
    """``value`` as a UTC ``pandas.Timestamp`` (ns): the one reading of a user's time.

    Accepts a string pandas reads, a ``datetime``/``date``, a ``pandas.Timestamp``, a
    ``numpy.datetime64`` or a number of epoch milliseconds; naive times are UTC.

    Raises
    ------
    TypeError
        ``value`` is of none of those types (bools included).
    ValueError
        An unreadable string, NaN, NaT, or a time outside what pandas holds (1677-2262).
    """
    if isinstance(value, bool):
        raise TypeError(f"{name}={value!r} (bool) is not a time; pass {_EXAMPLE}")
    if isinstance(value, numbers.Real):
        ns = _number_ns(value, name)
        if not _NS_MIN <= ns <= _NS_MAX:
            raise ValueError(f"{name}={value!r} is outside the times pandas holds (1677-2262)")
        return pd.Timestamp(ns, tz="UTC")
    if not isinstance(value, (str, dt.date, pd.Timestamp, np.datetime64)):
        raise TypeError(f"{name}={value!r} ({type(value).__name__}) is not a time; pass {_EXAMPLE}")
    try:
        stamp = pd.Timestamp(value)
        if stamp is pd.NaT:
            raise ValueError(f"{name} is NaT; pass {_EXAMPLE}")
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        return stamp.as_unit("ns")
    except (ValueError, TypeError, OverflowError) as exc:
        if "is NaT" in str(exc):
            raise
        raise ValueError(
            f"{name}={value!r} is not a time pandas can read (1677-2262); use e.g. "
            f"'2024-03-01 12:00' (UTC) or epoch milliseconds"
        ) from exc


def window_ns(value: object, name: str) -> int | None:
    """Epoch nanoseconds (UTC) of one end of a time window; ``None`` stays ``None`` (open).
    Numbers of epoch milliseconds beyond what pandas holds are clamped, so a far bound
    still means "everything on that side"."""
    if value is None:
        return None
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return min(max(_number_ns(value, name), _NS_MIN), _NS_MAX)
    return int(to_timestamp(value, name).value)


def to_ms(value: object, name: str) -> int | None:
    """Epoch milliseconds (UTC) of ``value`` as :func:`to_timestamp` reads it; ``None`` stays
    ``None`` (an open end of a window)."""
    if value is None:
        return None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)  # exact, whatever its size
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return int(_number_ns(value, name) // 1_000_000)
    return int(to_timestamp(value, name).value // 1_000_000)


_UNITS_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def timeframe_ms(timeframe: object, name: str = "timeframe") -> int:
    """Milliseconds in a ccxt timeframe (``"1m"``, ``"4h"``, ``"1d"``, ``"1w"``)."""
    match = re.fullmatch(r"(\d+)([smhdwM])", timeframe) if isinstance(timeframe, str) else None
    if not match or int(match.group(1)) < 1:
        raise ValueError(
            f"{name}={timeframe!r} is not a timeframe like '1m', '5m', '1h', '4h' or '1d'"
        )
    if match.group(2) == "M":
        raise ValueError(
            f"{name}={timeframe!r}: monthly bars have no fixed length; use '1w' or '1d' bars"
        )
    return int(match.group(1)) * _UNITS_MS[match.group(2)]


def timeframe_seconds(timeframe: object, name: str = "timeframe") -> int:
    """Seconds in a ccxt timeframe such as ``"1m"``, ``"4h"`` or ``"1d"``."""
    return timeframe_ms(timeframe, name) // 1_000


# --------------------------------------------------------------------------------------------
# File names from user strings, and paths that stay under their root
# --------------------------------------------------------------------------------------------

_NAME_CHARS = re.compile(r"[A-Za-z0-9._-]+")
_NAME_MAX = 120  # room for the suffixes added ("-levels.csv", ".parquet") under 255 bytes


def _name_problem(name: str) -> str | None:
    """Why ``name`` cannot be one file name, or ``None``."""
    if not name:
        return "it is empty"
    if len(name) > _NAME_MAX:
        return f"it is {len(name)} characters long (at most {_NAME_MAX})"
    if not _NAME_CHARS.fullmatch(name):
        bad = next(c for c in name if not _NAME_CHARS.fullmatch(c))
        return f"it holds {bad!r}"
    if ".." in name:
        return "it holds '..' (the parent folder)"
    if name.startswith("."):
        return "it starts with '.' (a hidden file, or the folder itself)"
    return None


def safe_filename(text: object, what: str, *, sep: str | None = None) -> str:
    """``text`` as one file name: the only way a user's string names a file.

    A name is 1 to 120 characters from ``A-Z a-z 0-9 . _ -``, holds no ``..`` and does not
    start with ``.``: no separator, drive (``C:``), parent directory or hidden file can come
    out of it, whatever it came from (a symbol, an exchange id, ``--name``).

    Parameters
    ----------
    text : str
        The user's string.
    what : str
        What it is, for the message: a flag (``"--name"``), a parameter (``"symbol"``) or
        ``""`` (where the caller names it, as argparse does).
    sep : str, optional
        For ccxt symbols: ``/`` and ``:`` first become ``sep``, so ``BTC/USDT:USDT`` names
        ``BTC_USDT_USDT`` (``sep="_"``), the same file every time. Nothing else is mapped.

    Returns
    -------
    str
        The name (``text`` itself without ``sep``).

    Raises
    ------
    TypeError
        ``text`` is not a string.
    ValueError
        It cannot name a file; the message says why and names ``what``.
    """
    shown = f"{what}={text!r}" if what[:1].isalpha() else f"{what} {text!r}".lstrip()
    if not isinstance(text, str):
        raise TypeError(f"{shown} is not a string; pass a name such as 'btc-1h'")
    name = text if sep is None else text.replace("/", sep).replace(":", sep)
    problem = _name_problem(name)
    if problem is not None:
        raise ValueError(
            f"{shown} cannot name a file: {problem}; use letters, digits, '.', '_' and '-' "
            f"only (no '/', '\\', ':' or '..'), e.g. 'btc-1h'"
        )
    return name


def path_under(root: str | os.PathLike, *names: str, what: str = "path") -> Path:
    """``root / names...``, after checking that it lies under ``root`` once both are
    resolved (links followed), so no name and no link leads out of ``root``.

    Parameters
    ----------
    root : str or os.PathLike
        The folder everything must stay in (the cache root, ``--out``).
    *names : str
        Path parts under it, each already a :func:`safe_filename`.
    what : str
        What ``root`` is, for the message (``"--out"``, ``"cache_dir"``).

    Returns
    -------
    pathlib.Path
        ``Path(root).joinpath(*names)``, as given (not resolved).

    Raises
    ------
    ValueError
        The path resolves outside ``root``.
    """
    path = Path(root).joinpath(*names)
    base = Path(root).resolve()
    real = path.resolve()
    if real != base and base not in real.parents:
        raise ValueError(
            f"{path} resolves to {real}, outside {what} {base}; a link or a name leads out "
            f"of it: remove the link or choose another {what}"
        )
    return path


# ------------------------------------------------------------------------------------------
# Packages whose names load on first use
# ------------------------------------------------------------------------------------------


def lazy_names(package: str, namespace: dict[str, Any], homes: dict[str, str]
               ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``: ``homes`` maps each public name to
    the submodule defining it (``"_fetch"``); a name is imported when first asked for, then
    kept in ``namespace`` (the package's globals) as a plain attribute."""

    def getattr_(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(f".{home}", package), name)
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        return sorted(set(namespace) | set(namespace.get("__all__", ())))

    return getattr_, dir_


def quote_currency(symbol: Any) -> str | None:
    """The currency a ccxt symbol's prices are in: ``"USDT"`` for ``"BTC/USDT:USDT"``,
    ``"USD"`` for the inverse ``"BTC/USD:BTC"``; None for anything else (a sample's label)."""
    if not isinstance(symbol, str) or "/" not in symbol:
        return None
    quote = symbol.split("/", 1)[1].split(":", 1)[0].split("-", 1)[0].strip()
    return quote if quote.isalnum() else None
