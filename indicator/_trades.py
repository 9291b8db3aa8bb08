"""The trade-based liquidation map of SPEC.md section 3 (the py-liquidation-map method).

Large taker trades are read as freshly opened leveraged positions: a taker buy as a long, a
taker sell as a short. Each kept trade is placed at its liquidation price for every leverage;
the map sums those notionals in price bins and the depth curve cumulates them outward from the
current price. Everything here is vectorised numpy; nothing loops over trades in Python.

The building blocks (``trade_arrays``, ``select_positions``, ``expand_levels`` ...) are public
inside the package so that the ``HistoricalMapping`` facade can select one archive day at a time
and merge the selections exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, Literal

import numpy as np
import pandas as pd

from ._validate import check_choice, check_leverages, check_mmr

__all__ = [
    "DEPTH_COLUMNS",
    "MAP_COLUMNS",
    "MODES",
    "TRADE_COLUMNS",
    "TRADE_LEVEL_COLUMNS",
    "Mode",
    "TradeArrays",
    "TradeSelection",
    "check_threshold",
    "default_bin_size",
    "depth",
    "expand_levels",
    "later_extremes",
    "liquidation_map",
    "select_positions",
    "trade_arrays",
    "trade_levels",
]

Mode = Literal["gross_value", "top_n", "portion"]
MODES: tuple[str, ...] = ("gross_value", "top_n", "portion")
DEFAULT_THRESHOLD: dict[str, float | int] = {
    "gross_value": 100_000.0, "top_n": 100, "portion": 0.01,
}

TRADE_COLUMNS: tuple[str, ...] = ("time", "price", "quantity", "side")
TRADE_LEVEL_COLUMNS: tuple[str, ...] = ("start", "side", "leverage", "price", "entry", "notional")
MAP_COLUMNS: tuple[str, ...] = ("price_low", "price_high", "side", "leverage", "notional")
DEPTH_COLUMNS: tuple[str, ...] = ("price_low", "price_high", "side", "notional", "cumulative")
_LEVEL_INPUT_COLUMNS: tuple[str, ...] = ("side", "leverage", "price", "entry", "notional")

_UTC_NS = pd.DatetimeTZDtype(unit="ns", tz="UTC")


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TradeArrays:
    """Validated trades as numpy arrays, in time order (stable: equal times keep row order).

    ``time`` is int64 nanoseconds since the epoch (UTC), ``price`` and ``quantity`` float64,
    ``is_buy`` bool (taker buy).
    """

    time: np.ndarray
    price: np.ndarray
    quantity: np.ndarray
    is_buy: np.ndarray

    def __len__(self) -> int:
        return len(self.time)

    @property
    def notional(self) -> np.ndarray:
        """``price * quantity`` (quote currency, e.g. USDT)."""
        return self.price * self.quantity


def _row(frame: pd.DataFrame, position: int) -> str:
    label = frame.index[position]
    if isinstance(label, np.generic):
        label = label.item()
    return f"row {position} (index {label!r})"


def _first(mask: np.ndarray) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else None


def _check_frame(trades: Any, name: str) -> None:
    if not isinstance(trades, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame, got {type(trades).__name__}")
    missing = [c for c in TRADE_COLUMNS if c not in trades.columns]
    if missing:
        raise ValueError(
            f"{name} lacks column(s) {missing}; it needs {list(TRADE_COLUMNS)} "
            f"(feeds.read_trades returns exactly these)"
        )
    if len(trades) == 0:
        raise ValueError(f"{name} is empty: there are no trades to map; widen the window")


def _time_ns(trades: pd.DataFrame, name: str) -> np.ndarray:
    col = trades["time"]
    if not isinstance(col.dtype, pd.DatetimeTZDtype):
        if pd.api.types.is_datetime64_dtype(col.dtype):
            raise ValueError(
                f"{name}['time'] is naive; trade times must be tz-aware UTC: use "
                f"{name}['time'] = {name}['time'].dt.tz_localize('UTC')"
            )
        raise TypeError(
            f"{name}['time'] must be datetime64 UTC, got dtype {col.dtype}; convert epoch "
            f"milliseconds with pd.to_datetime(ms, unit='ms', utc=True)"
        )
    values = col.dt.tz_convert("UTC").array.as_unit("ns")
    bad = _first(np.asarray(values.isna()))
    if bad is not None:
        raise ValueError(f"{name}['time'] is missing (NaT) at {_row(trades, bad)}; drop that row")
    return values.asi8


def _positive(trades: pd.DataFrame, col: str, name: str) -> np.ndarray:
    series = trades[col]
    if not pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series):
        raise TypeError(
            f"{name}[{col!r}] must be numeric, got dtype {series.dtype}; convert it with "
            f"pd.to_numeric"
        )
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = _first(~(np.isfinite(values) & (values > 0)))
    if bad is not None:
        raise ValueError(
            f"{name}[{col!r}] is {float(values[bad])!r} at {_row(trades, bad)}; every {col} "
            f"must be a finite number > 0: drop or repair that row"
        )
    return values


def _is_buy(trades: pd.DataFrame, name: str) -> np.ndarray:
    side = trades["side"]
    buy = np.asarray((side == "buy").to_numpy(dtype=bool, na_value=False))
    sell = np.asarray((side == "sell").to_numpy(dtype=bool, na_value=False))
    bad = _first(~(buy | sell))
    if bad is not None:
        raise ValueError(
            f"{name}['side'] is {side.iloc[bad]!r} at {_row(trades, bad)}; side must be 'buy' or "
            f"'sell' (the taker's side; Binance: is_buyer_maker == false means 'buy'; for "
            f"Bybit's 'Buy'/'Sell' use .str.lower())"
        )
    return buy


def trade_arrays(trades: Any, name: str = "trades") -> TradeArrays:
    """Validate a trades frame (SPEC.md section 3) and return its columns in time order.

    Parameters
    ----------
    trades : pandas.DataFrame
        Columns ``time`` (datetime64 UTC), ``price`` (quote per coin), ``quantity`` (coins),
        ``side`` (``"buy"`` or ``"sell"``, the taker's side). Any order of rows.
    name : str
        The argument's name, for error messages.

    Returns
    -------
    TradeArrays
        The columns sorted by time (stable, so equal times keep their row order).

    Raises
    ------
    TypeError
        Not a DataFrame, a non-datetime ``time`` or non-numeric ``price``/``quantity``.
    ValueError
        Empty frame, missing column, naive or missing time, a NaN/non-positive price or
        quantity, a side other than ``"buy"``/``"sell"``; names the column and first bad row.
    """
    _check_frame(trades, name)
    time = _time_ns(trades, name)
    price = _positive(trades, "price", name)
    quantity = _positive(trades, "quantity", name)
    is_buy = _is_buy(trades, name)
    if len(time) > 1 and (np.diff(time) < 0).any():
        order = np.argsort(time, kind="stable")
        time, price, quantity, is_buy = time[order], price[order], quantity[order], is_buy[order]
    return TradeArrays(time=time, price=price, quantity=quantity, is_buy=is_buy)


def check_threshold(mode: Any, threshold: Any) -> tuple[str, float | int]:
    """The mode and its threshold (the mode's default when ``None``), checked.

    Raises
    ------
    ValueError
        Unknown mode (with a "did you mean"), ``gross_value`` threshold <= 0, ``top_n`` n <= 0,
        ``portion`` outside (0, 1].
    TypeError
        A threshold that is not a number, or a non-integer ``top_n``.
    """
    mode = check_choice("mode", mode, MODES)
    if threshold is None:
        return mode, DEFAULT_THRESHOLD[mode]
    if isinstance(threshold, bool) or not isinstance(threshold, Real):
        raise TypeError(f"threshold={threshold!r} is not a number")
    if mode == "top_n":
        if not isinstance(threshold, Integral):
            raise TypeError(
                f"threshold={threshold!r}: mode 'top_n' keeps the n largest trades per side, so "
                f"n must be a whole number such as 100"
            )
        if threshold <= 0:
            raise ValueError(f"threshold={threshold!r}: 'top_n' needs n >= 1 trades per side")
        return mode, int(threshold)
    value = float(threshold)
    if mode == "gross_value" and not (math.isfinite(value) and value > 0):
        raise ValueError(
            f"threshold={threshold!r}: 'gross_value' keeps trades whose notional (price x "
            f"quantity, quote currency) is >= threshold, so it must be > 0, e.g. 100000"
        )
    if mode == "portion" and not (0 < value <= 1):
        raise ValueError(
            f"threshold={threshold!r}: 'portion' is the share of each side's trades to keep, in "
            f"(0, 1]; 0.01 keeps the largest 1%"
        )
    return mode, value


def _check_weights(weights: Any, leverages: tuple[int, ...]) -> np.ndarray:
    """Per-leverage shares of each trade's notional, normalised to sum to 1."""
    if weights is None:
        return np.ones(len(leverages))
    if isinstance(weights, Mapping):
        unknown = [k for k in weights if k not in leverages]
        if unknown:
            raise ValueError(f"weights has leverage(s) {unknown} not in leverages={leverages}")
        values = [weights.get(lev, 0.0) for lev in leverages]
    elif isinstance(weights, Sequence) and not isinstance(weights, str):
        if len(weights) != len(leverages):
            raise ValueError(
                f"weights has {len(weights)} values for {len(leverages)} leverages {leverages}; "
                f"give one share per leverage or a mapping {{leverage: share}}"
            )
        values = list(weights)
    else:
        raise TypeError(f"weights={weights!r} must be a sequence or a mapping {{leverage: share}}")
    for lev, w in zip(leverages, values, strict=True):
        if isinstance(w, bool) or not isinstance(w, Real) or not (math.isfinite(w) and w >= 0):
            raise ValueError(f"weights: the share for {lev}x is {w!r}; shares are numbers >= 0")
    out = np.asarray(values, dtype=np.float64)
    if out.sum() <= 0:
        raise ValueError("weights sum to 0; give at least one leverage a positive share")
    return out / out.sum()


# --------------------------------------------------------------------------------------------
# Selection and levels
# --------------------------------------------------------------------------------------------


def _top_k(values: np.ndarray, k: int) -> np.ndarray:
    """Positions (ascending) of the ``k`` largest values; ties go to the lower position."""
    n = len(values)
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    if k >= n:
        return np.arange(n, dtype=np.int64)
    kth = np.partition(values, n - k)[n - k]
    above = np.flatnonzero(values > kth)
    ties = np.flatnonzero(values == kth)[: k - len(above)]
    return np.sort(np.concatenate([above, ties]))


def select_positions(notional: np.ndarray, mode: str, threshold: float | int) -> np.ndarray:
    """Positions (ascending) of one side's kept trades, per SPEC.md section 3.

    ``notional`` must be in time order so that a lower position is an earlier trade: ties at
    the cut go to the earlier trade. ``mode`` and ``threshold`` as checked by
    :func:`check_threshold`.
    """
    if mode == "gross_value":
        return np.flatnonzero(notional >= threshold)
    if mode == "top_n":
        return _top_k(notional, int(threshold))
    return _top_k(notional, int(len(notional) * threshold))


def _select_both(arrays: TradeArrays, mode: str, threshold: float | int) -> np.ndarray:
    notional = arrays.notional
    kept = []
    for mask in (arrays.is_buy, ~arrays.is_buy):
        pos = np.flatnonzero(mask)
        kept.append(pos[select_positions(notional[pos], mode, threshold)])
    return np.sort(np.concatenate(kept))


def later_extremes(price: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each trade, the lowest and highest price of the trades after it (exclusive).

    ``inf`` / ``-inf`` for the last trade. ``price`` must be in time order.
    """
    low = np.empty_like(price)
    high = np.empty_like(price)
    if len(price):
        low[-1], high[-1] = np.inf, -np.inf
        low[:-1] = np.minimum.accumulate(price[:0:-1])[::-1]
        high[:-1] = np.maximum.accumulate(price[:0:-1])[::-1]
    return low, high


def _empty_levels() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "start": pd.Series([], dtype=_UTC_NS),
            "side": pd.Series([], dtype=str),
            "leverage": pd.Series([], dtype=np.int64),
            "price": pd.Series([], dtype=np.float64),
            "entry": pd.Series([], dtype=np.float64),
            "notional": pd.Series([], dtype=np.float64),
        }
    )


def expand_levels(
    time: np.ndarray,
    entry: np.ndarray,
    notional: np.ndarray,
    is_long: np.ndarray,
    *,
    leverages: tuple[int, ...],
    mmr: float,
    shares: np.ndarray,
    later_low: np.ndarray | None = None,
    later_high: np.ndarray | None = None,
) -> pd.DataFrame:
    """The levels frame for kept trades (already in time order), one row per leverage.

    ``shares`` multiplies the notional per leverage (ones: full notional at every leverage).
    With ``later_low``/``later_high`` (the extremes of the trades after each kept trade), a
    long level at or above ``later_low`` and a short level at or below ``later_high`` are
    dropped: later trades already crossed them.
    """
    m = len(leverages)
    lev = np.asarray(leverages, dtype=np.int64)
    inverse = 1.0 / lev
    long_rows = np.repeat(is_long, m)
    factor = np.where(long_rows, np.tile(1.0 - inverse + mmr, len(time)),
                      np.tile(1.0 + inverse - mmr, len(time)))
    entry_rows = np.repeat(entry, m)
    price = entry_rows * factor
    keep = None
    if later_low is not None and later_high is not None:
        keep = np.where(long_rows, np.repeat(later_low, m) > price,
                        np.repeat(later_high, m) < price)
    columns = {
        "start": np.repeat(time, m),
        "side": np.where(long_rows, "long", "short"),
        "leverage": np.tile(lev, len(time)),
        "price": price,
        "entry": entry_rows,
        "notional": np.repeat(notional, m) * np.tile(shares, len(time)),
    }
    if keep is not None:
        columns = {k: v[keep] for k, v in columns.items()}
    if len(columns["price"]) == 0:
        return _empty_levels()
    columns["start"] = pd.DatetimeIndex(columns["start"].view("M8[ns]"), tz="UTC")
    return pd.DataFrame(columns)


def trade_levels(
    trades: pd.DataFrame,
    *,
    mode: Mode = "gross_value",
    threshold: float | int | None = None,
    leverages: Sequence[int] = (10, 25, 50, 100),
    mmr: float = 0.0,
    weights: Sequence[float] | Mapping[int, float] | None = None,
    survivors_only: bool = False,
) -> pd.DataFrame:
    """Liquidation levels of the large taker trades (SPEC.md section 3).

    Each side is selected on its own, with ``notional = price * quantity``. A kept taker buy
    gives long levels at ``entry * (1 - 1/L + mmr)``, a taker sell short levels at
    ``entry * (1 + 1/L - mmr)``, one per leverage, each with the trade's full notional.

    Parameters
    ----------
    trades : pandas.DataFrame
        ``time`` (datetime64 UTC), ``price`` (quote currency per coin, e.g. USDT),
        ``quantity`` (coins), ``side`` (``"buy"``/``"sell"``, the taker's side).
    mode : {"gross_value", "top_n", "portion"}
        ``"gross_value"`` keeps trades with notional >= ``threshold`` (quote currency, default
        100,000); ``"top_n"`` keeps the ``threshold`` largest per side (default 100);
        ``"portion"`` keeps the largest ``int(count * threshold)`` per side (default 0.01).
        Ties at the cut go to the earlier trade.
    threshold : float or int, optional
        The mode's threshold; ``None`` uses the mode's default.
    leverages : sequence of int
        Leverages (> 1), in output order within each trade.
    mmr : float
        Maintenance margin rate (0.004 = 0.4%), ``0 <= mmr < 1/L``.
    weights : sequence of float or mapping of int to float, optional
        Split each trade's notional across leverages instead of counting it in full at every
        leverage: one share per leverage (or ``{leverage: share}``), >= 0, normalised to sum
        to 1. ``None`` (default, the seed's rule): full notional at every leverage.
    survivors_only : bool
        Drop levels that a later trade in ``trades`` already crossed: a long level at ``p``
        is gone if any later trade printed at or below ``p``, a short one at or above.
        "Later" is later in time; equal times follow row order.

    Returns
    -------
    pandas.DataFrame
        One row per kept trade and leverage, ordered by trade time, then ``leverages`` order.
        Columns ``start`` (datetime64[ns, UTC], trade time), ``side`` (``"long"`` for taker
        buys, ``"short"`` for taker sells), ``leverage`` (int), ``price`` (liquidation price),
        ``entry`` (trade price), ``notional`` (quote currency).

    Raises
    ------
    TypeError, ValueError
        Bad trades (see :func:`trade_arrays`), unknown mode, bad threshold, leverages, mmr
        or weights. The message names the argument or column and the first bad row.
    """
    mode, threshold = check_threshold(mode, threshold)
    levs = check_leverages(leverages)
    mmr = check_mmr(mmr, levs)
    shares = _check_weights(weights, levs)
    arrays = trade_arrays(trades)
    kept = _select_both(arrays, mode, threshold)
    later_low = later_high = None
    if survivors_only:
        low, high = later_extremes(arrays.price)
        later_low, later_high = low[kept], high[kept]
    return expand_levels(
        arrays.time[kept], arrays.price[kept], arrays.notional[kept], arrays.is_buy[kept],
        leverages=levs, mmr=mmr, shares=shares, later_low=later_low, later_high=later_high,
    )


# --------------------------------------------------------------------------------------------
# Map and depth
# --------------------------------------------------------------------------------------------


def _check_levels(levels: Any) -> None:
    if not isinstance(levels, pd.DataFrame):
        raise TypeError(f"levels must be a pandas DataFrame, got {type(levels).__name__}")
    missing = [c for c in _LEVEL_INPUT_COLUMNS if c not in levels.columns]
    if missing:
        raise ValueError(
            f"levels lacks column(s) {missing}; pass the frame indicator.trade_levels returns"
        )


def _check_positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name}={value!r} is not a number")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name}={value!r} must be a finite number > 0 (quote currency)")
    return float(value)


def default_bin_size(entry: np.ndarray) -> float:
    """SPEC.md's default bin: ``10 ** (floor(log10(max - min)) - 2)`` of the entries, or
    ``10 ** (floor(log10(entry)) - 4)`` when they are all equal (price units)."""
    lo, hi = float(np.min(entry)), float(np.max(entry))
    if hi > lo:
        return 10.0 ** (math.floor(math.log10(hi - lo)) - 2)
    return 10.0 ** (math.floor(math.log10(hi)) - 4)


def _bin_index(price: np.ndarray, bin_size: float) -> np.ndarray:
    """``k`` with ``k * bin_size <= price < (k + 1) * bin_size``, exact in float arithmetic."""
    k = np.floor(price / bin_size)
    k -= price < k * bin_size
    k += price >= (k + 1) * bin_size
    return k.astype(np.int64)


def _side_codes(levels: pd.DataFrame) -> np.ndarray:
    side = levels["side"]
    is_long = np.asarray((side == "long").to_numpy(dtype=bool, na_value=False))
    is_short = np.asarray((side == "short").to_numpy(dtype=bool, na_value=False))
    bad = _first(~(is_long | is_short))
    if bad is not None:
        raise ValueError(
            f"levels['side'] is {side.iloc[bad]!r} at {_row(levels, bad)}; "
            f"it must be 'long' or 'short'"
        )
    return np.where(is_long, 0, 1)


def _binned(levels: Any, price: Any, bin_size: Any) -> pd.DataFrame | None:
    """The levels on the right side of ``price``, with bin ``k`` and side code (0 long)."""
    _check_levels(levels)
    current = _check_positive("price", price)
    if bin_size is not None:
        bin_size = _check_positive("bin_size", bin_size)
    if len(levels) == 0:
        return None
    code = _side_codes(levels)
    level_price = _positive(levels, "price", "levels")
    entry = _positive(levels, "entry", "levels")
    size = bin_size if bin_size is not None else default_bin_size(entry)
    keep = np.where(code == 0, level_price <= current, level_price >= current)
    if not keep.any():
        return None
    notional = levels["notional"].to_numpy(dtype=np.float64, na_value=np.nan)[keep]
    bad = _first(~(np.isfinite(notional) & (notional >= 0)))
    if bad is not None:
        raise ValueError(
            f"levels['notional'] is {float(notional[bad])!r}; notionals must be >= 0"
        )
    frame = pd.DataFrame({
        "k": _bin_index(level_price[keep], size),
        "code": code[keep],
        "leverage": levels["leverage"].to_numpy()[keep],
        "notional": notional,
    })
    frame.attrs["bin_size"] = size
    return frame


def _with_edges(grouped: pd.DataFrame, bin_size: float) -> pd.DataFrame:
    k = grouped["k"].to_numpy()
    out = pd.DataFrame({
        "price_low": k * bin_size,
        "price_high": (k + 1) * bin_size,
        "side": np.where(grouped["code"].to_numpy() == 0, "long", "short"),
    })
    for col in grouped.columns.drop(["k", "code"]):
        out[col] = grouped[col].to_numpy()
    return out


def _empty(columns: tuple[str, ...]) -> pd.DataFrame:
    dtypes = {"side": str, "leverage": np.int64}
    return pd.DataFrame({c: pd.Series([], dtype=dtypes.get(c, np.float64)) for c in columns})


def liquidation_map(
    levels: pd.DataFrame, *, price: float, bin_size: float | None = None
) -> pd.DataFrame:
    """Sum the levels' notional per price bin, side and leverage (SPEC.md section 3).

    Long levels at or below ``price`` and short levels at or above it are kept (the others
    were already crossed). Bin ``k`` is ``[k * bin_size, (k + 1) * bin_size)``: bins are
    aligned to multiples of ``bin_size``, so every level falls in exactly one bin.

    Parameters
    ----------
    levels : pandas.DataFrame
        The frame :func:`trade_levels` returns (``side``, ``leverage``, ``price``, ``entry``,
        ``notional`` are used).
    price : float
        The current price (quote currency), e.g. the last trade's.
    bin_size : float, optional
        Bin width (quote currency). Default ``10 ** (floor(log10(max(entry) - min(entry))) - 2)``,
        or ``10 ** (floor(log10(entry)) - 4)`` when all entries are equal.

    Returns
    -------
    pandas.DataFrame
        Columns ``price_low``, ``price_high`` (bin edges), ``side`` (``"long"``/``"short"``),
        ``leverage`` (int), ``notional`` (sum, quote currency); one row per non-empty cell,
        ordered by price, then long before short, then leverage. Empty when nothing is left.

    Raises
    ------
    TypeError, ValueError
        ``levels`` not a levels frame, ``price`` or ``bin_size`` not a finite number > 0.
    """
    binned = _binned(levels, price, bin_size)
    if binned is None:
        return _empty(MAP_COLUMNS)
    grouped = binned.groupby(["k", "code", "leverage"], sort=True, as_index=False)["notional"].sum()
    out = _with_edges(grouped, binned.attrs["bin_size"])
    out["leverage"] = out["leverage"].astype(np.int64)
    return out[list(MAP_COLUMNS)]


def depth(levels: pd.DataFrame, *, price: float, bin_size: float | None = None) -> pd.DataFrame:
    """The map summed over leverages, cumulated outward from ``price`` (SPEC.md section 3).

    Longs cumulate downward (the bin nearest below ``price`` first), shorts upward.

    Parameters
    ----------
    levels : pandas.DataFrame
        The frame :func:`trade_levels` returns.
    price : float
        The current price (quote currency).
    bin_size : float, optional
        Bin width (quote currency); the default as in :func:`liquidation_map`.

    Returns
    -------
    pandas.DataFrame
        Columns ``price_low``, ``price_high``, ``side``, ``notional`` (bin sum, quote
        currency), ``cumulative`` (sum of this bin and every bin between it and ``price``);
        ordered by price, long before short. Empty when nothing is left.

    Raises
    ------
    TypeError, ValueError
        As :func:`liquidation_map`.
    """
    binned = _binned(levels, price, bin_size)
    if binned is None:
        return _empty(DEPTH_COLUMNS)
    grouped = binned.groupby(["k", "code"], sort=True, as_index=False)["notional"].sum()
    notional = grouped["notional"].to_numpy()
    is_long = grouped["code"].to_numpy() == 0
    cumulative = np.empty_like(notional)
    cumulative[is_long] = np.cumsum(notional[is_long][::-1])[::-1]  # outward: downward
    cumulative[~is_long] = np.cumsum(notional[~is_long])  # outward: upward
    grouped["cumulative"] = cumulative
    return _with_edges(grouped, binned.attrs["bin_size"])[list(DEPTH_COLUMNS)]


# --------------------------------------------------------------------------------------------
# Streaming: select chunk by chunk (one archive day at a time), merge exactly
# --------------------------------------------------------------------------------------------


@dataclass
class _Chunk:
    """One chunk's candidates (in time order) and what the merge needs to know of the rest."""

    key: Any
    seq: np.ndarray  # global order of each candidate
    time: np.ndarray
    price: np.ndarray
    notional: np.ndarray
    is_buy: np.ndarray
    later_low: np.ndarray  # extremes of the chunk's trades after each candidate
    later_high: np.ndarray
    counts: tuple[int, int]  # trades per side (buy, sell)
    low: float
    high: float
    dropped: tuple[tuple[float, int] | None, tuple[float, int] | None]  # best (notional, seq)
    seq0: int


def _keep_count(n: int, mode: str, threshold: float | int, exact: int | None) -> int:
    """Candidates a chunk keeps per side: exact when known, else a margin over its share."""
    if exact is not None:
        return min(n, exact)
    if mode == "top_n":
        return min(n, int(threshold))
    return min(n, math.ceil(2 * threshold * n) + 64)


def _chunk_side(
    notional: np.ndarray, pos: np.ndarray, mode: str, threshold: float | int,
    exact: int | None, seq0: int,
) -> tuple[np.ndarray, tuple[float, int] | None]:
    """Kept positions of one side of a chunk and its best dropped trade (portion mode)."""
    if mode == "gross_value":
        return pos[notional[pos] >= threshold], None
    values = notional[pos]
    keep = _top_k(values, _keep_count(len(pos), mode, threshold, exact))
    dropped = None
    if mode == "portion" and len(keep) < len(pos):
        rest = np.ones(len(pos), dtype=bool)
        rest[keep] = False
        rest_pos = np.flatnonzero(rest)
        best = rest_pos[int(np.argmax(values[rest_pos]))]  # first maximum: the earliest
        dropped = (float(values[best]), seq0 + int(pos[best]))
    return pos[keep], dropped


class TradeSelection:
    """Select large trades chunk by chunk with the exact result of one :func:`trade_levels` call.

    Feed the chunks (e.g. archive days) in time order with :meth:`add`; each keeps only its
    candidates, so the raw rows of one chunk at a time are held. ``gross_value`` and ``top_n``
    are exact in one pass (the top n of a window are among the top n of its chunks).
    ``portion`` needs the window's count: each chunk keeps a margin over its share and its
    best dropped trade; :meth:`stale` then names the chunks whose dropped trades could still
    make the cut, to be read again and passed to :meth:`add` with ``replace=True`` (they
    then keep exactly enough). In practice :meth:`stale` is empty.

    Parameters
    ----------
    mode, threshold
        As :func:`trade_levels`.
    """

    def __init__(self, mode: Mode = "gross_value", threshold: float | int | None = None) -> None:
        self.mode, self.threshold = check_threshold(mode, threshold)
        self._chunks: dict[Any, _Chunk] = {}
        self._exact: set[Any] = set()
        self._next_seq = 0
        self._last_time: int | None = None
        self.last_price: float | None = None

    @property
    def count(self) -> int:
        """Trades seen so far (both sides)."""
        return sum(sum(c.counts) for c in self._chunks.values())

    def counts(self) -> tuple[int, int]:
        """Trades seen per side: (taker buys, taker sells)."""
        chunks = self._chunks.values()
        return sum(c.counts[0] for c in chunks), sum(c.counts[1] for c in chunks)

    def _target(self, side: int) -> int | None:
        """The number kept per side over the whole window (``None`` for gross_value)."""
        if self.mode == "gross_value":
            return None
        if self.mode == "top_n":
            return int(self.threshold)
        return int(self.counts()[side] * self.threshold)

    def add(self, arrays: TradeArrays, key: Any = None, *, replace: bool = False) -> None:
        """Add one chunk (its trades in time order, after every chunk added before).

        With ``replace=True``, ``key`` names a chunk added before, read again: it replaces
        that chunk and keeps exactly as many candidates as the window needs.

        Raises
        ------
        ValueError
            A chunk starting before the previous one ended, or a repeated / unknown key.
        """
        if replace:
            if key not in self._chunks:
                raise ValueError(f"replace=True: no chunk {key!r} was added before")
            old = self._chunks[key]
            if len(arrays) != sum(old.counts):
                raise ValueError(f"chunk {key!r} changed between reads ({sum(old.counts)} "
                                 f"trades, now {len(arrays)}); the archive file was replaced")
            exact = (self._target(0), self._target(1))
            self._chunks[key] = self._reduce(arrays, key, old.seq0, exact)
            self._exact.add(key)
            return
        if key in self._chunks:
            raise ValueError(f"chunk {key!r} was added already")
        if len(arrays) and self._last_time is not None and arrays.time[0] < self._last_time:
            raise ValueError(f"chunk {key!r} starts before the previous chunk ends; add chunks "
                             f"in time order")
        self._chunks[key] = self._reduce(arrays, key, self._next_seq, (None, None))
        self._next_seq += len(arrays)
        if len(arrays):
            self._last_time = int(arrays.time[-1])
            self.last_price = float(arrays.price[-1])

    def _reduce(self, arrays: TradeArrays, key: Any, seq0: int,
                exact: tuple[int | None, int | None]) -> _Chunk:
        notional = arrays.notional
        kept, dropped, counts = [], [], []
        for side, mask in enumerate((arrays.is_buy, ~arrays.is_buy)):
            pos = np.flatnonzero(mask)
            side_kept, side_dropped = _chunk_side(notional, pos, self.mode, self.threshold,
                                                  exact[side], seq0)
            kept.append(side_kept)
            dropped.append(side_dropped)
            counts.append(len(pos))
        keep = np.sort(np.concatenate(kept))
        low, high = later_extremes(arrays.price)
        empty = len(arrays) == 0
        return _Chunk(
            key=key, seq=seq0 + keep, time=arrays.time[keep], price=arrays.price[keep],
            notional=notional[keep], is_buy=arrays.is_buy[keep], later_low=low[keep],
            later_high=high[keep], counts=(counts[0], counts[1]),
            low=np.inf if empty else float(arrays.price.min()),
            high=-np.inf if empty else float(arrays.price.max()),
            dropped=(dropped[0], dropped[1]), seq0=seq0,
        )

    def _merged(self) -> dict[str, np.ndarray]:
        chunks = list(self._chunks.values())
        # extremes of every later chunk, for the survivors rule
        lows = np.array([c.low for c in chunks] + [np.inf])
        highs = np.array([c.high for c in chunks] + [-np.inf])
        after_low = np.minimum.accumulate(lows[::-1])[::-1][1:]
        after_high = np.maximum.accumulate(highs[::-1])[::-1][1:]
        parts: dict[str, list[np.ndarray]] = {k: [] for k in (
            "seq", "time", "price", "notional", "is_buy", "later_low", "later_high")}
        for c, lo, hi in zip(chunks, after_low, after_high, strict=True):
            for name in ("seq", "time", "price", "notional", "is_buy"):
                parts[name].append(getattr(c, name))
            parts["later_low"].append(np.minimum(c.later_low, lo))
            parts["later_high"].append(np.maximum(c.later_high, hi))
        if not chunks:
            return {k: np.empty(0) for k in parts}
        return {k: np.concatenate(v) for k, v in parts.items()}

    def _select(self, merged: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Per side, positions (in the merged candidates) of the window's selection."""
        out = []
        is_buy = merged["is_buy"].astype(bool)
        for side, mask in enumerate((is_buy, ~is_buy)):
            pos = np.flatnonzero(mask)
            target = self._target(side)
            if target is None:
                out.append(pos[merged["notional"][pos] >= self.threshold])
            else:
                out.append(pos[_top_k(merged["notional"][pos], target)])
        return out

    def stale(self) -> list[Any]:
        """Keys of chunks to read again (``portion`` only): their dropped trades could rank
        inside the window's selection. Empty when the selection is already exact."""
        if self.mode != "portion":
            return []
        merged = self._merged()
        out = []
        for side, chosen in enumerate(self._select(merged)):
            target = self._target(side) or 0
            if target == 0:
                continue
            if len(chosen) < target:
                cut = None  # too few candidates: every truncated chunk may hold more
            else:
                values = merged["notional"][chosen]
                weakest = np.flatnonzero(values == values.min())[-1]
                cut = (float(values[weakest]), int(merged["seq"][chosen][weakest]))
            for key, c in self._chunks.items():
                drop = c.dropped[side]
                if key in self._exact or drop is None or key in out:
                    continue
                if cut is None or drop[0] > cut[0] or (drop[0] == cut[0] and drop[1] < cut[1]):
                    out.append(key)
        return out

    def levels(
        self,
        *,
        leverages: Sequence[int] = (10, 25, 50, 100),
        mmr: float = 0.0,
        weights: Sequence[float] | Mapping[int, float] | None = None,
        survivors_only: bool = False,
    ) -> pd.DataFrame:
        """The levels frame of the window, as :func:`trade_levels` on all chunks at once.

        Raises
        ------
        ValueError
            No trade was added, or (``portion``) :meth:`stale` chunks were not read again.
        """
        levs = check_leverages(leverages)
        mmr = check_mmr(mmr, levs)
        shares = _check_weights(weights, levs)
        if self.count == 0:
            raise ValueError("no trades were added: the window holds no trades")
        stale = self.stale()
        if stale:
            raise ValueError(f"chunks {stale} must be read again (add(..., replace=True))")
        merged = self._merged()
        kept = np.sort(np.concatenate(self._select(merged)))
        extremes = {}
        if survivors_only:
            extremes = {"later_low": merged["later_low"][kept],
                        "later_high": merged["later_high"][kept]}
        return expand_levels(
            merged["time"][kept].astype(np.int64), merged["price"][kept],
            merged["notional"][kept], merged["is_buy"][kept].astype(bool),
            leverages=levs, mmr=mmr, shares=shares, **extremes,
        )
