"""Times as epoch milliseconds: alignment to the bar grid and display.

User times and timeframes are read by :mod:`liqlevels.vocab`.
"""

from __future__ import annotations

import pandas as pd

from ..vocab import to_ms

__all__ = ["align_ceil", "align_floor", "day_ms", "fmt_ms"]

DAY = 86_400_000
WEEK = 7 * DAY
_WEEK_ORIGIN = 4 * DAY  # 1970-01-05, a Monday: exchanges start weeks on Mondays


def day_ms(value: object, name: str) -> int:
    """Epoch milliseconds of the UTC midnight that starts the day ``value`` falls in."""
    ms = to_ms(value, name)
    if ms is None:
        raise TypeError(f"{name} is required: pass a UTC day such as '2024-03-01'")
    return ms - ms % DAY


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
