"""Times as epoch milliseconds: parsing user input, timeframes, alignment, display."""

from __future__ import annotations

import datetime as dt
import numbers
import re

import pandas as pd

__all__ = ["align_ceil", "align_floor", "day_ms", "fmt_ms", "timeframe_ms", "to_ms"]

DAY = 86_400_000
WEEK = 7 * DAY
_WEEK_ORIGIN = 4 * DAY  # 1970-01-05, a Monday: exchanges start weeks on Mondays
_UNITS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": DAY, "w": WEEK}


def to_ms(value: object, name: str) -> int | None:
    """Epoch milliseconds (UTC) of ``value``; ``None`` stays ``None``.

    Numbers are epoch milliseconds; anything ``pandas.Timestamp`` takes is a time, naive
    meaning UTC.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError(f"{name}={value!r} is not a time; pass e.g. '2024-03-01' or epoch ms")
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        if value != value:  # NaN
            raise ValueError(f"{name} is NaN; pass a time such as '2024-03-01' or epoch ms")
        return int(value)
    if not isinstance(value, (str, dt.date, pd.Timestamp)):
        raise TypeError(
            f"{name}={value!r} ({type(value).__name__}) is not a time; pass a string such as "
            f"'2024-03-01 12:00', a datetime, a pandas.Timestamp or epoch milliseconds"
        )
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"{name}={value!r} is not a time pandas can read; use e.g. '2024-03-01 12:00'"
        ) from exc
    if stamp is pd.NaT:
        raise ValueError(f"{name} is NaT; pass a time such as '2024-03-01' or epoch ms")
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return int(stamp.as_unit("ns").value // 1_000_000)


def day_ms(value: object, name: str) -> int:
    """Epoch milliseconds of the UTC midnight that starts the day ``value`` falls in."""
    ms = to_ms(value, name)
    if ms is None:
        raise TypeError(f"{name} is required: pass a UTC day such as '2024-03-01'")
    return ms - ms % DAY


def timeframe_ms(timeframe: object, name: str = "timeframe") -> int:
    """Milliseconds in a ccxt timeframe (``"1m"``, ``"4h"``, ``"1d"``, ``"1w"``)."""
    match = re.fullmatch(r"(\d+)([smhdwM])", str(timeframe)) if isinstance(timeframe, str) else None
    if not match or int(match.group(1)) < 1:
        raise ValueError(
            f"{name}={timeframe!r} is not a timeframe like '1m', '5m', '1h', '4h' or '1d'"
        )
    if match.group(2) == "M":
        raise ValueError(
            f"{name}={timeframe!r}: monthly bars have no fixed length; use '1w' or '1d' bars"
        )
    return int(match.group(1)) * _UNITS[match.group(2)]


def _origin(step: int) -> int:
    return _WEEK_ORIGIN if step % WEEK == 0 else 0


def align_floor(ms: int, step: int) -> int:
    """The last multiple of ``step`` (weeks: Mondays) at or before ``ms``."""
    origin = _origin(step)
    return ms - (ms - origin) % step


def align_ceil(ms: int, step: int) -> int:
    """The first multiple of ``step`` (weeks: Mondays) at or after ``ms``."""
    floor = align_floor(ms, step)
    return floor if floor == ms else floor + step


def fmt_ms(ms: int | None) -> str:
    """``ms`` as ``2024-03-01 12:00 UTC`` for messages."""
    if ms is None:
        return "now"
    stamp = pd.Timestamp(ms, unit="ms", tz="UTC")
    text = stamp.strftime("%Y-%m-%d %H:%M:%S" if stamp.second else "%Y-%m-%d %H:%M")
    return f"{text} UTC"
