"""Input checks shared by every public function: one validator, errors that teach."""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ParamSpec, TypeVar

import numpy as np
import pandas as pd

from ..vocab import (
    LiqLevelsWarning,
    check_bar_index,
    check_choice,
    check_frame,
    did_you_mean,
    first_true,
    row_label,
)

__all__ = [
    "CANDLE_COLUMNS",
    "MAX_LEVERAGE",
    "LiqLevelsWarning",
    "check_choice",
    "check_keywords",
    "check_leverages",
    "check_mmr",
    "check_numbers",
    "validate_candles",
]

CANDLE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume", "open_interest")
#: The highest leverage accepted: 1000x is liquidated by a 0.1% move (exchanges offer 125x to
#: a few hundred), and ``1/L`` stays far above float precision.
MAX_LEVERAGE = 1000

_P = ParamSpec("_P")
_R = TypeVar("_R")


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
        if isinstance(x, float) and not math.isfinite(x):  # ints are finite, however long
            raise ValueError(f"{name}[{i}]={x!r} is not finite; pass e.g. {example}")
        out.append(x)
    return out


def check_leverages(leverages: Iterable[Any], name: str = "leverages") -> tuple[int, ...]:
    """Leverages as a tuple of ints, each > 1 and <= :data:`MAX_LEVERAGE`, no repeats."""
    out: list[int] = []
    for i, lev in enumerate(check_numbers(leverages, name, "(5, 10, 25, 50, 100)")):
        if lev <= 1:
            raise ValueError(f"{name}[{i}]={lev!r}: a leverage must be > 1 (e.g. 5 for 5x)")
        if lev > MAX_LEVERAGE:
            shown = repr(lev) if len(str(lev)) <= 20 else f"{str(lev)[0]}e+{len(str(lev)) - 1}"
            raise ValueError(
                f"{name}[{i}]={shown}: a leverage must be at most {MAX_LEVERAGE} (1000x is "
                f"liquidated by a 0.1% move); pass e.g. (5, 10, 25, 50, 100)"
            )
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
    try:
        mmr = float(mmr)
    except OverflowError:  # an int beyond float range
        mmr = math.inf
    if not math.isfinite(mmr) or mmr < 0:
        raise ValueError(f"mmr={mmr!r} must be a finite rate >= 0 (0.004 means 0.4%)")
    for lev in leverages:
        if mmr >= 1.0 / lev:
            raise ValueError(
                f"mmr={mmr!r} must be below 1/L for every leverage; leverage {lev} allows "
                f"mmr < {1.0 / lev:g}. Lower mmr or drop that leverage."
            )
    return mmr


def _column_values(candles: pd.DataFrame, col: str, name: str) -> np.ndarray:
    series = candles[col]
    try:
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{name}[{col!r}] must be numeric, got dtype {series.dtype}; convert it with "
            f"pd.to_numeric"
        ) from exc


def _check_values(cols: dict[str, np.ndarray], index: pd.Index, name: str) -> None:
    def bad_value(col: str, row: int, rule: str) -> ValueError:
        value = float(cols[col][row])
        return ValueError(f"{name}[{col!r}] is {value!r} at {row_label(index, row)}; {rule}")

    for col in ("open", "high", "low", "close"):
        bad = first_true(~((cols[col] > 0) & np.isfinite(cols[col])))  # catches NaN too
        if bad is not None:
            raise bad_value(col, bad, "prices must be finite positive numbers: drop or "
                                      "repair that bar")
    vol = cols["volume"]
    bad = first_true(~((vol >= 0) & np.isfinite(vol)))
    if bad is not None:
        raise bad_value("volume", bad, "volume must be a finite number >= 0: fill gaps with 0")
    oi = cols["open_interest"]
    bad = first_true((oi < 0) | np.isinf(oi))
    if bad is not None:
        raise bad_value("open_interest", bad, "open interest must be a finite number >= 0 "
                                              "(NaN is allowed for a missing value)")
    high, low = cols["high"], cols["low"]
    for col in ("low", "open", "close"):
        bad = first_true(high < cols[col])
        if bad is not None:
            raise ValueError(
                f"{name}['high'] ({float(high[bad])!r}) is below {col!r} "
                f"({float(cols[col][bad])!r}) at {row_label(index, bad)}; high must be the "
                f"bar's highest price"
            )
    for col in ("open", "close"):
        bad = first_true(low > cols[col])
        if bad is not None:
            raise ValueError(
                f"{name}['low'] ({float(low[bad])!r}) is above {col!r} "
                f"({float(cols[col][bad])!r}) at {row_label(index, bad)}; low must be the "
                f"bar's lowest price"
            )


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
        A missing column, a naive, unsorted or duplicated index, a NaN, infinite or
        non-positive price, high below low/open/close, low above open/close, a negative or
        infinite volume or open interest (NaN open interest is a missing value).
        The message names the column and the first offending row.
    """
    check_frame(candles, name, CANDLE_COLUMNS)
    check_bar_index(candles.index, name)
    cols = {col: _column_values(candles, col, name) for col in CANDLE_COLUMNS}
    _check_values(cols, candles.index, name)
    return cols
