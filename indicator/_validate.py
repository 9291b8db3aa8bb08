"""Input checks shared by every public function: one validator, errors that teach."""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ParamSpec, TypeVar

import numpy as np
import pandas as pd

from ..vocab import LiqLevelsWarning, check_choice, did_you_mean

__all__ = [
    "CANDLE_COLUMNS",
    "LiqLevelsWarning",
    "check_choice",
    "check_keywords",
    "check_leverages",
    "check_mmr",
    "check_numbers",
    "validate_candles",
]

CANDLE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume", "open_interest")

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _row_label(index: pd.Index, position: int) -> str:
    """A human label for the row at ``position``: its position and its index value."""
    return f"row {position} ({index[position]})"


def check_keywords(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """``func`` with a "did you mean" for a misspelt keyword argument.

    Python 3.11 only says "unexpected keyword argument"; the wrapper names the closest
    keyword and lists them all. The signature stays ``func``'s (``inspect.signature`` and
    ``help`` follow ``__wrapped__``).
    """
    names = tuple(inspect.signature(func).parameters)
    accepted = frozenset(names)

    @functools.wraps(func)
    def checked(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        if not accepted.issuperset(kwargs):
            key = next(k for k in kwargs if k not in accepted)
            raise TypeError(
                f"{func.__name__}() got an unexpected keyword argument {key!r}."
                f"{did_you_mean(key, names)} Its arguments: {', '.join(names)}"
            )
        return func(*args, **kwargs)

    return checked


def check_numbers(values: Any, name: str, example: str) -> list[int | float]:
    """``values`` as a list of Python ints and floats: a sequence (not a string or a mapping)
    of finite real numbers, bools refused. Errors name ``name[i]`` and show ``example``."""
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
        raise TypeError(f"{name}={values!r} must be a sequence of numbers, e.g. {example}")
    out: list[int | float] = []
    for i, x in enumerate(values):
        if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)):
            raise TypeError(f"{name}[{i}]={x!r} is not a number; pass e.g. {example}")
        x = x.item() if isinstance(x, np.generic) else x  # plain values in messages
        if not math.isfinite(x):
            raise ValueError(f"{name}[{i}]={x!r} is not finite; pass e.g. {example}")
        out.append(x)
    return out


def check_leverages(leverages: Iterable[Any], name: str = "leverages") -> tuple[int, ...]:
    """Leverages as a tuple of ints, each > 1, no repeats."""
    out: list[int] = []
    for i, lev in enumerate(check_numbers(leverages, name, "(5, 10, 25, 50, 100)")):
        if lev <= 1:
            raise ValueError(f"{name}[{i}]={lev!r}: a leverage must be > 1 (e.g. 5 for 5x)")
        if float(lev) != int(lev):
            raise ValueError(f"{name}[{i}]={lev!r}: leverages are whole numbers (5, 10, ...)")
        out.append(int(lev))
    if not out:
        raise ValueError(f"{name} is empty; pass at least one leverage, e.g. (5, 10, 25, 50, 100)")
    if len(set(out)) != len(out):
        raise ValueError(f"{name}={tuple(out)} repeats a leverage; list each once")
    return tuple(out)


def check_mmr(mmr: Any, leverages: Sequence[int]) -> float:
    """The maintenance margin rate, with ``0 <= mmr < 1/L`` for every leverage."""
    if isinstance(mmr, bool) or not isinstance(mmr, (int, float, np.integer, np.floating)):
        raise TypeError(f"mmr={mmr!r} is not a number; pass a rate such as 0.004 (0.4%)")
    mmr = float(mmr)
    if not math.isfinite(mmr) or mmr < 0:
        raise ValueError(f"mmr={mmr!r} must be >= 0 (a rate: 0.004 means 0.4%)")
    for lev in leverages:
        if mmr >= 1.0 / lev:
            raise ValueError(
                f"mmr={mmr!r} must be below 1/L for every leverage; leverage {lev} allows "
                f"mmr < {1.0 / lev:g}. Lower mmr or drop that leverage."
            )
    return mmr


def _check_index(candles: pd.DataFrame, name: str) -> None:
    index = candles.index
    if not isinstance(index, pd.DatetimeIndex):
        raise TypeError(
            f"{name} must be indexed by a DatetimeIndex of bar open times, got "
            f"{type(index).__name__}; use {name}.set_index(pd.to_datetime(ts, unit='ms', utc=True))"
        )
    if index.tz is None:
        raise ValueError(
            f"{name}.index is naive; it must be tz-aware UTC: use {name}.tz_localize('UTC')"
        )
    if index.hasnans:
        pos = int(np.flatnonzero(index.isna())[0])
        raise ValueError(f"{name}.index has a missing timestamp at row {pos}; drop that row")
    values = index.asi8
    if len(values) > 1:
        steps = np.diff(values)
        if (steps <= 0).any():
            pos = int(np.flatnonzero(steps <= 0)[0]) + 1
            what = "duplicated" if steps[pos - 1] == 0 else "out of order"
            raise ValueError(
                f"{name}.index is {what} at {_row_label(index, pos)}; the index must be strictly "
                f"increasing: use {name}[~{name}.index.duplicated()].sort_index()"
            )


def _column_values(candles: pd.DataFrame, col: str, name: str) -> np.ndarray:
    series = candles[col]
    try:
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{name}[{col!r}] must be numeric, got dtype {series.dtype}; convert it with "
            f"pd.to_numeric"
        ) from exc


def _first_bad(mask: np.ndarray) -> int | None:
    if not mask.any():  # the common case, a single cheap pass
        return None
    return int(mask.argmax())


def _check_values(cols: dict[str, np.ndarray], index: pd.Index, name: str) -> None:
    for col in ("open", "high", "low", "close"):
        bad = _first_bad(~(cols[col] > 0))  # catches NaN too
        if bad is not None:
            raise ValueError(
                f"{name}[{col!r}] is {cols[col][bad]!r} at {_row_label(index, bad)}; prices must "
                f"be positive numbers: drop or repair that bar"
            )
    vol = cols["volume"]
    bad = _first_bad(~(vol >= 0))
    if bad is not None:
        raise ValueError(
            f"{name}['volume'] is {vol[bad]!r} at {_row_label(index, bad)}; volume must be a "
            f"number >= 0: fill gaps with 0"
        )
    oi = cols["open_interest"]
    bad = _first_bad(oi < 0)
    if bad is not None:
        raise ValueError(
            f"{name}['open_interest'] is {oi[bad]!r} at {_row_label(index, bad)}; open interest "
            f"cannot be negative (NaN is allowed for a missing value)"
        )
    if np.isinf(oi).any():
        bad = _first_bad(np.isinf(oi))
        raise ValueError(f"{name}['open_interest'] is infinite at {_row_label(index, bad)}")
    high, low = cols["high"], cols["low"]
    for col in ("low", "open", "close"):
        bad = _first_bad(high < cols[col])
        if bad is not None:
            raise ValueError(
                f"{name}['high'] ({high[bad]!r}) is below {col!r} ({cols[col][bad]!r}) at "
                f"{_row_label(index, bad)}; high must be the bar's highest price"
            )
    for col in ("open", "close"):
        bad = _first_bad(low > cols[col])
        if bad is not None:
            raise ValueError(
                f"{name}['low'] ({low[bad]!r}) is above {col!r} ({cols[col][bad]!r}) at "
                f"{_row_label(index, bad)}; low must be the bar's lowest price"
            )


def _rename_hint(missing: list[str], columns: pd.Index) -> str:
    """For the first missing column with a close match among ``columns``: " Did you mean
    'Close'? Rename it to 'close'." (case-insensitive), else ""."""
    for col in missing:
        hint = did_you_mean(col, columns)
        if hint:
            return f"{hint} Rename it to {col!r}."
    return ""


def validate_candles(candles: Any, name: str = "candles") -> dict[str, np.ndarray]:
    """Check a candles frame against docs/method.md section 1.

    Parameters
    ----------
    candles : pandas.DataFrame
        Indexed by a tz-aware UTC ``DatetimeIndex`` of bar open times, strictly increasing,
        with columns ``open, high, low, close`` (price), ``volume`` (coins or contracts) and
        ``open_interest`` (coins or contracts at the bar's close; NaN when missing).
    name : str
        The argument's name, used in error messages.

    Returns
    -------
    dict of str to numpy.ndarray
        The six columns as float64 arrays (views where possible).

    Raises
    ------
    TypeError
        Not a DataFrame, not a DatetimeIndex, or a non-numeric column.
    ValueError
        A missing column, a naive, unsorted or duplicated index, a NaN or non-positive price,
        high below low/open/close, low above open/close, negative volume or open interest.
        The message names the column and the first offending row.
    """
    if not isinstance(candles, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame, got {type(candles).__name__}")
    missing = [c for c in CANDLE_COLUMNS if c not in candles.columns]
    if missing:
        raise ValueError(
            f"{name} lacks column(s) {missing}; it needs {list(CANDLE_COLUMNS)}."
            f"{_rename_hint(missing, candles.columns)}"
        )
    _check_index(candles, name)
    cols = {col: _column_values(candles, col, name) for col in CANDLE_COLUMNS}
    _check_values(cols, candles.index, name)
    return cols
