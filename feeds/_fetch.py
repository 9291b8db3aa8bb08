"""fetch_candles: OHLCV and open interest through ccxt, cached, joined with no lookahead."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ccxt
import numpy as np
import pandas as pd

from ..indicator import validate_candles
from ..vocab import FeedError, FeedWarning, timeframe_ms, to_ms
from ._cache import (
    OHLCV,
    OI,
    Answer,
    SeriesStore,
    cache_root,
    merge_rows,
    missing_spans,
    subtract_spans,
    union_spans,
)
from ._config import settings
from ._exchanges import (
    check_oi_history,
    check_timeframe,
    choose_oi_timeframe,
    exchange_family,
    page_limits,
    resolve_exchange,
    resolve_market,
)
from ._join import candles_frame, join_open_interest
from ._rest import fetch_ohlcv_rows, fetch_oi_rows
from ._time import DAY, align_ceil, align_floor, fmt_ms

__all__ = ["BINANCE_OI_DAYS", "fetch_candles"]

BINANCE_OI_DAYS = 30  # Binance's openInterestHist serves the last 30 days only
DEFAULT_BARS = 1000
_NOTES_SHOWN = 3  # untrusted spans named per series and call
_ARCHIVE_TF = "5m"  # Binance's metrics archive: one snapshot every 5 minutes


def _cache_name(exchange: ccxt.Exchange) -> str:
    """The exchange's folder in the cache: testnets apart from the real thing."""
    return f"{exchange.id}-sandbox" if getattr(exchange, "isSandboxModeEnabled", False) else (
        str(exchange.id))


def _bar_range(since: Any, until: Any, step: int, now: int) -> tuple[int, int]:
    """``[start, end)`` of the closed bars whose open time is in ``[since, until)``."""
    since_ms, until_ms = to_ms(since, "since"), to_ms(until, "until")
    if since_ms is not None and until_ms is not None and since_ms >= until_ms:
        raise ValueError(
            f"since ({fmt_ms(since_ms)}) must be before until ({fmt_ms(until_ms)})"
        )
    end = align_floor(now, step)  # bars opening before it have closed
    if until_ms is not None:
        end = min(end, align_ceil(until_ms, step))
    start = end - DEFAULT_BARS * step if since_ms is None else align_ceil(since_ms, step)
    return start, max(start, end)


def _unsettled_holes(ts: np.ndarray, step: int, cutoff: int) -> list[tuple[int, int]]:
    """Bars missing between rows, ending after ``cutoff``: they may still be published."""
    ts = np.asarray(ts, dtype=np.int64)
    at = np.flatnonzero((np.diff(ts) > step) & (ts[1:] > cutoff))
    return [(int(ts[i]) + step, int(ts[i + 1])) for i in at]


def _why(span: tuple[int, int], answer: Answer) -> str:
    """Why ``span`` was not vouched for: the refusal of a window it meets, or no rows."""
    for (a, b), problem in answer.refused:
        if a < span[1] and span[0] < b:
            return f"refused: {problem}"
    return "no rows came back for it"


def _untrusted(label: str, gap: tuple[int, int], trusted: list[tuple[int, int]],
               answer: Answer, cutoff: int) -> list[str]:
    """Notes on the settled parts of ``gap`` that are not recorded as covered, and why."""
    spans = [(a, min(b, cutoff)) for a, b in missing_spans(trusted, *gap) if a < cutoff]
    spans += [span for span, _ in answer.refused if span[0] >= cutoff]  # recent but wrong
    notes = [f"{label}: {fmt_ms(a)} to {fmt_ms(b)} is not cached ({_why((a, b), answer)}); "
             f"it is asked for again next time" for a, b in union_spans([], spans)]
    if len(notes) > _NOTES_SHOWN:
        notes[_NOTES_SHOWN:] = [f"{label}: and {len(notes) - _NOTES_SHOWN} more such spans"]
    return notes


def _fill(store: SeriesStore, fetch: Callable[[int, int], Answer], start: int, end: int,
          now: int) -> tuple[np.ndarray, list[str]]:
    """Rows of ``[start, end)`` from the cache, fetching only the spans it lacks.

    A fetched span is recorded as covered only where the answer vouched for it (see
    :class:`~._cache.Answer`), less the holes between rows younger than ``settle``. Each
    gap is asked for with one bar more on either side (within ``[start, end)``), so that
    rows on both sides vouch for a hole at its edge. Returns the rows and notes on what
    was not trusted, for the caller to warn about.
    """
    step, cutoff = store.step, now - settings.settle
    rows, covered = store.load()
    notes = list(store.notes)
    gaps = missing_spans(covered, start, end)
    for a, b in gaps:
        answer = fetch(max(start, a - step), min(end, b + step))
        rows = merge_rows(rows, answer.rows)
        trusted = subtract_spans(answer.vouched,
                                 _unsettled_holes(answer.rows[:, 0], step, cutoff))
        covered = union_spans(covered, trusted)
        notes += _untrusted(store.label, (a, b), trusted, answer, cutoff)
    if gaps:
        store.save(rows, covered)
    if not len(rows):
        return rows, notes
    ts = rows[:, 0]
    return rows[(ts >= start) & (ts < end)], notes


def _binance_archive(exchange: ccxt.Exchange, market: dict, root: Path | None,
                     api_start: int) -> Callable[[int, int], Answer]:
    """Fetcher of 5-minute open interest from Binance's metrics archive."""
    from ._archive import binance_metrics_rows

    def fetch(a: int, b: int) -> Answer:
        how = (f"call with since >= {fmt_ms(api_start + DAY)}, or make the archive reachable "
               f"(feeds.settings.archive_urls['binance'])")
        if not market.get("linear"):
            raise FeedError(
                f"{exchange.id} serves only the last {BINANCE_OI_DAYS} days of open-interest "
                f"history (since {fmt_ms(api_start)}), and the archive fallback covers USD-M "
                f"(linear) futures only; {market['symbol']} needs since >= {fmt_ms(api_start)}",
                exchange=exchange.id, endpoint="openInterestHist",
            )
        try:
            rows = binance_metrics_rows(market["id"], a, b, root)
        except FeedError as exc:
            raise FeedError(
                f"{exchange.id} serves only the last {BINANCE_OI_DAYS} days of open-interest "
                f"history (since {fmt_ms(api_start)}); the older part, {fmt_ms(a)} to "
                f"{fmt_ms(b)}, comes from Binance's metrics archive, which failed: {exc}. To "
                f"avoid it, {how}", exchange=exchange.id, endpoint="metrics archive",
            ) from exc
        return Answer.of_rows(rows, OI, timeframe_ms(_ARCHIVE_TF))

    return fetch


def _oi_segments(exchange: ccxt.Exchange, oi_tf: str, a: int, b: int,
                 now: int) -> list[tuple[str, int, int, bool]]:
    """``(period, start, end, from_archive)`` pieces of the open-interest range."""
    if exchange_family(exchange) != "binance":
        return [(oi_tf, a, b, False)]
    api_start = align_ceil(now - BINANCE_OI_DAYS * DAY + settings.settle, timeframe_ms(oi_tf))
    if a >= api_start:
        return [(oi_tf, a, b, False)]
    archive_end = min(b, api_start)
    segments = [(_ARCHIVE_TF, align_floor(a, 300_000), archive_end, True)]
    if b > api_start:
        segments.append((oi_tf, api_start, b, False))
    return segments


def _api_fetcher(exchange: ccxt.Exchange, market: dict, period: str,
                 limit: int) -> Callable[[int, int], Answer]:
    """Fetcher of open interest of ``period`` from the exchange's API."""
    period_ms = timeframe_ms(period)

    def fetch(a: int, b: int) -> Answer:
        return fetch_oi_rows(exchange, market, period, period_ms, a, b, limit)

    return fetch


def _open_interest(exchange: ccxt.Exchange, market: dict, root: Path | None, oi_tf: str,
                   start: int, end: int, step: int, now: int
                   ) -> tuple[np.ndarray, int, list[str]]:
    """Snapshots needed by bars ``[start, end)``, the join tolerance (ms) and notes on
    what was not trusted."""
    oi_step = timeframe_ms(oi_tf)
    a = align_ceil(start + step - oi_step + 1, oi_step)
    b = align_floor(min(end, now), oi_step) + oi_step
    limit = page_limits(exchange, market)[1]
    api_start = align_ceil(now - BINANCE_OI_DAYS * DAY + settings.settle, oi_step)
    rows, tolerance, notes = np.empty((0, 3)), oi_step, []
    for period, lo, hi, archived in _oi_segments(exchange, oi_tf, a, b, now):
        period_ms = timeframe_ms(period)
        store = SeriesStore(root, _cache_name(exchange), market["symbol"], f"oi-{period}", OI,
                            period_ms)
        fetch = (_binance_archive(exchange, market, root, api_start) if archived
                 else _api_fetcher(exchange, market, period, limit))
        got, said = _fill(store, fetch, lo, hi, now)
        rows, tolerance, notes = merge_rows(rows, got), max(tolerance, period_ms), notes + said
    return rows, tolerance, notes


def _candles(ex: ccxt.Exchange, market: dict, root: Path | None, timeframe: str, start: int,
             end: int, now: int) -> tuple[np.ndarray, list[str]]:
    """Bars ``[start, end)`` through the cache, and notes on what was not trusted."""
    if end <= start:
        return np.empty((0, 6)), []
    step = timeframe_ms(timeframe)
    limit = page_limits(ex, market)[0]
    store = SeriesStore(root, _cache_name(ex), market["symbol"], f"ohlcv-{timeframe}", OHLCV,
                        step)

    def fetch(a: int, b: int) -> Answer:
        return fetch_ohlcv_rows(ex, market["symbol"], timeframe, step, a, b, limit)

    return _fill(store, fetch, start, end, now)


def _check_some_oi(exchange: ccxt.Exchange, market: dict, oi_tf: str, bars: np.ndarray,
                   oi: np.ndarray) -> None:
    if len(bars) > 2 and not len(oi):
        raise FeedError(
            f"{exchange.id} returned no open-interest history ({oi_tf}) for {market['symbol']} "
            f"from {fmt_ms(int(bars[0, 0]))} to {fmt_ms(int(bars[-1, 0]))}, though it has "
            f"candles there; exchanges keep open-interest history for a limited time only "
            f"(Binance: {BINANCE_OI_DAYS} days), so ask for a more recent range",
            exchange=exchange.id, endpoint="fetch_open_interest_history",
        )


def fetch_candles(exchange: Any, symbol: str, timeframe: str, *, since: Any = None,
                  until: Any = None, cache_dir: Any = None) -> pd.DataFrame:
    """Candles with closing open interest for ``symbol``, through ccxt, cached locally.

    Parameters
    ----------
    exchange : ccxt.Exchange or str
        A ccxt exchange instance, used as given (so it may be configured), or a ccxt id
        such as ``"binanceusdm"``, ``"bybit"`` or ``"okx"`` (a shared instance with the rate
        limiter on).
    symbol : str
        ccxt symbol of a swap or future, e.g. ``"BTC/USDT:USDT"``.
    timeframe : str
        Bar length, one of the exchange's ccxt timeframes (``"1m"``, ``"5m"``, ``"1h"``...).
    since, until : str, datetime, pandas.Timestamp or int, optional
        The bars whose open time is in ``[since, until)``; strings and naive times are UTC,
        integers epoch milliseconds. ``until`` defaults to now, ``since`` to 1000 bars
        before ``until``. Only closed bars are returned.
    cache_dir : str or os.PathLike or False, optional
        Directory of the parquet cache; default the user cache directory
        (``platformdirs.user_cache_dir("liqlevels")``); ``False`` disables the cache.

    Returns
    -------
    pandas.DataFrame
        Indexed by bar open time (UTC, ``time``), columns ``open, high, low, close`` (quote
        currency, e.g. USDT), ``volume`` (as the exchange counts it: coins or contracts),
        ``open_interest`` (coins for linear contracts, contracts for inverse ones, at the
        bar's close: the snapshot stamped at ``open time + timeframe``; NaN when missing) and
        ``open_interest_value`` (quote currency; amount x close where the exchange gives no
        value). ``attrs`` holds ``exchange, symbol, timeframe, oi_timeframe``.

    Raises
    ------
    ValueError
        An unknown exchange, symbol or timeframe, a spot symbol, an exchange without
        open-interest history, or ``since >= until``: the message lists what is available.
    FeedError
        A request that still fails after retries (network errors, 429, 5xx), naming the
        exchange, endpoint and range; Binance open interest older than 30 days whose archive
        cannot be had. Nothing partial is cached.

    Warns
    -----
    FeedWarning
        Open interest coarser than the bars (e.g. 1m bars, 5m snapshots): joined as-of. A
        span the exchange answered wrongly (rows off the bar grid or failing the row checks)
        or, once settled, with no rows: it is not cached and is asked for again next time;
        the warning names the exchange, symbol, span and why.
    """
    ex = resolve_exchange(exchange)
    step = check_timeframe(ex, timeframe)
    check_oi_history(ex)
    market = resolve_market(ex, symbol)
    root = cache_root(cache_dir)
    now = int(ex.milliseconds())
    start, end = _bar_range(since, until, step, now)
    bars, notes = _candles(ex, market, root, timeframe, start, end, now)
    oi_tf, coarse = choose_oi_timeframe(ex, step)
    oi, tolerance, said = (_open_interest(ex, market, root, oi_tf, start, end, step, now)
                           if len(bars) else (np.empty((0, 3)), step, []))
    for note in notes + said:
        warnings.warn(note, FeedWarning, stacklevel=2)
    _check_some_oi(ex, market, oi_tf, bars, oi)
    amount, value = join_open_interest(bars[:, 0], step, oi, tolerance)
    frame = candles_frame(bars, amount, value, market)
    frame.attrs.update(exchange=ex.id, symbol=market["symbol"], timeframe=timeframe,
                       oi_timeframe=oi_tf)
    if coarse and len(frame):
        warnings.warn(
            f"{ex.id} has open interest every {oi_tf} at the finest, coarser than the "
            f"{timeframe} bars: each bar carries the last {oi_tf} snapshot at or before its "
            f"close (as-of join), so open_interest changes only every {oi_tf}",
            FeedWarning, stacklevel=2,
        )
    validate_candles(frame, name="fetched candles")
    return frame
