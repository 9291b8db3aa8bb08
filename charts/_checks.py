"""Input checks for the charts: errors that name the argument, the first bad row and the fix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..indicator._validate import check_choice  # one "did you mean" for the whole project

__all__ = [
    "check_choice",
    "check_finite",
    "check_frame",
    "check_utc_times",
    "first_bad",
]


def check_frame(frame: Any, name: str, columns: Sequence[str], made_by: str) -> pd.DataFrame:
    """``frame`` must be a DataFrame holding ``columns``; ``made_by`` names its usual source."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(
            f"{name} must be a pandas DataFrame ({made_by}), got {type(frame).__name__}"
        )
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{name} lacks column(s) {missing}; it needs {list(columns)} ({made_by})"
        )
    return frame


def first_bad(mask: np.ndarray) -> int | None:
    """Position of the first ``True`` in ``mask``, or ``None``."""
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else None


def check_finite(
    frame: pd.DataFrame, name: str, column: str, *, nonneg: bool = False
) -> np.ndarray:
    """``frame[column]`` as float64, every value finite (and >= 0 with ``nonneg``)."""
    try:
        values = frame[column].to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{name}[{column!r}] must be numeric; convert it with astype(float)"
        ) from exc
    bad = ~np.isfinite(values)
    if nonneg:
        bad |= values < 0
    row = first_bad(bad)
    if row is not None:
        need = "finite and >= 0" if nonneg else "finite"
        raise ValueError(
            f"{name}[{column!r}] is {float(values[row])!r} at row {row}; every value must be "
            f"{need}. Drop or fill that row."
        )
    return values


def check_utc_times(
    frame: pd.DataFrame, name: str, column: str, *, allow_nat: bool
) -> np.ndarray:
    """``frame[column]`` as int64 nanoseconds since the epoch (NaT as ``iNaT``)."""
    col = frame[column]
    if not isinstance(col.dtype, pd.DatetimeTZDtype):
        raise TypeError(
            f"{name}[{column!r}] must be tz-aware datetimes (dtype {col.dtype}); convert it with "
            f"pd.to_datetime(..., utc=True)"
        )
    values = col.dt.tz_convert("UTC").dt.as_unit("ns").to_numpy(dtype="datetime64[ns]")
    nat = np.isnat(values)
    row = first_bad(nat)
    if not allow_nat and row is not None:
        raise ValueError(f"{name}[{column!r}] is NaT at row {row}; every row needs a time")
    return values.view(np.int64)
