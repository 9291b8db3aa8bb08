"""``oi_levels`` and ``features`` as they were before issue 20, callable beside today's so
each benchmark measures its ratio in one run (the same machine, load and memory state).

* ``oi_levels``: the vectorised numpy search of ``indicator/_search.py`` (blocks, sparse
  table, binary lifting) and the ``np.repeat`` columns, still in the module as the path for
  small inputs and for a process without numba: forced here for every size.
* ``features``: the pre-issue-20 body, copied below, with its general per-side path
  (stabbing maximum, Fenwick sweep over ranks with thresholds ranked by a merge in random
  order, bincounts), whose helpers are all still in ``indicator/_features.py``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from liqlevels import indicator
from liqlevels.indicator import _features as f
from liqlevels.indicator import _oi, _sweep
from liqlevels.indicator._frames import check_levels, level_arrays
from liqlevels.indicator._options import resolve_options
from liqlevels.indicator._validate import validate_candles


@contextlib.contextmanager
def numpy_line_ends() -> Iterator[None]:
    """``oi_levels`` by the numpy search, whatever the size."""
    saved = _oi._COMPILED_MIN_LINES
    _oi._COMPILED_MIN_LINES = 1 << 62
    try:
        yield
    finally:
        _oi._COMPILED_MIN_LINES = saved


def oi_levels(candles: pd.DataFrame, **options) -> pd.DataFrame:
    with numpy_line_ends():
        return indicator.oi_levels(candles, **options)


def _side_features(
    start: np.ndarray, end: np.ndarray, price: np.ndarray, lev: np.ndarray,
    index_ns: np.ndarray, close: np.ndarray, within: tuple[float, ...],
    leverages: Sequence[int], short: bool,
) -> dict[str, np.ndarray]:
    """One side's columns from its lines' ``start`` and ``end`` (int64 ns)."""
    n = close.size
    s, e, hit = f._bar_positions(start, end, index_ns)
    name = "short" if short else "long"
    sign = -1.0 if short else 1.0
    live = s < e
    s_l, e_l, p_l = s[live], e[live], price[live]
    nearest = sign * f._live_max(s_l, e_l, sign * p_l, n)
    nearest[np.isinf(nearest)] = np.nan
    cols: dict[str, np.ndarray] = {
        f"{name}_active": f._active(s_l, e_l, n),
        f"nearest_{name}": nearest,
        f"{name}_dist": sign * (close - nearest) / close,
        f"{name}_hit": f._hits(hit, n),
    }
    if within:  # shorts in negated prices: "price <= close * (1 + x)" as ">=" of negatives
        factors = 1.0 - sign * np.asarray(within)
        counts = _sweep.count_beyond(s_l, e_l, sign * p_l, sign * close, factors)
        for j, x in enumerate(within):
            cols[f"{name}_within_{f._pct(x)}"] = counts[j]
    for lv, counts in zip(leverages, f._hits_by_leverage(hit, lev, leverages, n), strict=True):
        cols[f"{name}_hit_{lv}x"] = counts
    return cols


def features(
    candles: pd.DataFrame, levels: pd.DataFrame | None = None, *,
    within: Sequence[float] = (0.01, 0.02, 0.05),
) -> pd.DataFrame:
    """The pre-issue-20 ``features`` (default options when ``levels`` is None)."""
    opts = resolve_options(None, "features")
    within = f._check_within(within)
    cols = validate_candles(candles)
    if levels is None:
        levels = oi_levels(candles)
        leverages = sorted(set(opts.leverages))
        lines = level_arrays(levels, f._LINE_COLUMNS)
    else:
        lines = check_levels(levels, f._LINE_COLUMNS)
        leverages = sorted(int(v) for v in pd.unique(lines.leverage))
    index = candles.index
    index_ns = index.as_unit("ns").asi8
    longs, shorts = f._sides(lines.short)
    jobs = [
        (lines.start[m], lines.end[m], lines.price[m], lines.leverage[m], index_ns,
         cols["close"], within, leverages, is_short)
        for is_short, m in ((False, longs), (True, shorts))
    ]
    if len(levels) < f._THREAD_MIN_LINES:
        sides = [_side_features(*job) for job in jobs]
    else:
        with ThreadPoolExecutor(max_workers=2) as pool:
            short_side = pool.submit(_side_features, *jobs[1])
            sides = [_side_features(*jobs[0]), short_side.result()]
    return f._assemble(*sides, index, within, leverages)
