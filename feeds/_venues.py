"""fetch_venues: one market on several exchanges, open interest summed in coins on one grid.

Each venue goes through :func:`~._fetch.fetch_candles` (its cache, paging, open-interest
periods and archive fallback are all reused); this module only checks the venues agree,
converts open interest to base coins and sums it on the first venue's bar grid.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import ccxt
import numpy as np
import pandas as pd

from ..vocab import FeedWarning
from ._exchanges import check_oi_history, check_timeframe, resolve_exchange, resolve_market
from ._fetch import _bar_range, fetch_candles

__all__ = ["fetch_venues", "resolve_venues", "venue_ids"]


def venue_ids(exchanges: Any) -> list[str]:
    """The ccxt ids of ``exchanges`` (instances or ids), checked: at least one, no repeats."""
    if isinstance(exchanges, str | ccxt.Exchange) or not isinstance(exchanges, Sequence):
        raise TypeError(
            f"exchanges must be a list of ccxt exchange ids or instances, e.g. "
            f"['binanceusdm', 'bybit', 'okx'], got {exchanges!r}; for one venue use "
            f"fetch_candles")
    if not exchanges:
        raise ValueError("exchanges is empty: give the venues to sum, e.g. "
                         "['binanceusdm', 'bybit', 'okx']")
    ids = [str(e.id) if isinstance(e, ccxt.Exchange) else e for e in exchanges]
    repeated = sorted({i for i in ids if ids.count(i) > 1 and isinstance(i, str)})
    if repeated:
        raise ValueError(f"exchanges names {', '.join(repeated)} more than once: its open "
                         f"interest would be counted twice; give each venue once")
    return ids


def resolve_venues(exchanges: Any, timeframe: str) -> list[ccxt.Exchange]:
    """``exchanges`` (ids or instances) as checked ccxt instances: each known, serving
    ``timeframe`` and open-interest history, none twice (an instance and the id of the same
    exchange included)."""
    venue_ids(exchanges)
    venues = []
    for given in exchanges:
        ex = resolve_exchange(given)
        check_timeframe(ex, timeframe)
        check_oi_history(ex)
        venues.append(ex)
    venue_ids([str(ex.id) for ex in venues])  # an instance and an id of the same exchange
    return venues


def _symbol_for(symbol: Any, venue: str) -> Any:
    """The venue's symbol: ``symbol`` itself, or its entry in a mapping by venue id."""
    if not isinstance(symbol, Mapping):
        return symbol
    if venue not in symbol:
        raise ValueError(f"symbol has no entry for {venue!r} (it names "
                         f"{', '.join(map(repr, symbol))}); give one symbol per venue")
    return symbol[venue]


def _check_bases(venues: list[tuple[ccxt.Exchange, dict]]) -> None:
    """All venues trade the same base coin (their open interest is summed in it)."""
    bases = {str(ex.id): market.get("base") for ex, market in venues}
    if len(set(bases.values())) > 1:
        shown = ", ".join(f"{venue}: {base}" for venue, base in bases.items())
        raise ValueError(f"the venues' markets have different base coins ({shown}); open "
                         f"interest sums only in one coin, so give the same coin's market on "
                         f"each venue (symbol={{venue: symbol}} when their names differ)")


def _coins(frame: pd.DataFrame, market: dict) -> np.ndarray:
    """The venue's open interest in base coins: linear contracts already are (fetch_candles
    multiplies by the contract size); inverse ones are the USD value over the venue's close."""
    if market.get("inverse"):
        return (frame["open_interest_value"] / frame["close"]).to_numpy(np.float64)
    return frame["open_interest"].to_numpy(np.float64)


def _fetch_quietly(ex: ccxt.Exchange, symbol: str, timeframe: str, since: int, until: int,
                   cache_dir: Any) -> tuple[pd.DataFrame, list[warnings.WarningMessage]]:
    """``fetch_candles`` of one venue, and the warnings it gave (to be said again by the
    caller, pointing at the user's line)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = fetch_candles(ex, symbol, timeframe, since=since, until=until,
                              cache_dir=cache_dir)
    return frame, caught


def _sum_on_grid(frames: list[pd.DataFrame], ids: list[str],
                 markets: list[dict]) -> pd.DataFrame:
    """Prices and volume of the first frame; its open interest the sum over all venues (NaN
    where any venue lacks the bar), each venue's coins in its own column."""
    first = frames[0]
    grid = first.index
    total = np.zeros(len(grid))
    value = np.zeros(len(grid))
    columns = {}
    for venue, frame, market in zip(ids, frames, markets, strict=True):
        coins = pd.Series(_coins(frame, market), index=frame.index).reindex(grid)
        usd = frame["open_interest_value"].reindex(grid)
        columns[f"open_interest_{venue}"] = coins.to_numpy(np.float64)
        total = total + columns[f"open_interest_{venue}"]  # NaN stays NaN: no fake delta
        value = value + usd.to_numpy(np.float64)
    out = first[["open", "high", "low", "close", "volume"]].copy()
    out["open_interest"] = total
    out["open_interest_value"] = value
    for name, col in columns.items():
        out[name] = col
    return out


def fetch_venues(exchanges: Sequence[Any], symbol: str | Mapping[str, str], timeframe: str, *,
                 since: Any = None, until: Any = None, cache_dir: Any = None) -> pd.DataFrame:
    """Candles of one market with its open interest summed over several exchanges, in coins.

    Each venue is fetched by :func:`fetch_candles` (so its cache, paging and open-interest
    limits apply: Binance's 30 days of API history then its metrics archive, Bybit's and
    OKX's coarsest-first periods); the frames are then put on the first venue's bar grid.

    Parameters
    ----------
    exchanges : sequence of ccxt.Exchange or str
        The venues, e.g. ``["binanceusdm", "bybit", "okx"]``; the first gives the prices,
        the volume and the bar grid. Each at most once.
    symbol : str or mapping of str to str
        ccxt symbol of the swap or future, e.g. ``"BTC/USDT:USDT"`` on every venue, or
        ``{venue id: symbol}`` where the venues name it differently. All must share the
        base coin.
    timeframe : str
        Bar length, served by every venue (``"1m"``, ``"5m"``, ``"1h"``...).
    since, until : str, datetime, pandas.Timestamp or int, optional
        As :func:`fetch_candles`; the default range (1000 bars up to now) is taken from the
        first venue's clock and asked of every venue, so all share one grid.
    cache_dir : str or os.PathLike or False, optional
        As :func:`fetch_candles`.

    Returns
    -------
    pandas.DataFrame
        The first venue's bars (index ``time`` UTC; ``open, high, low, close`` in quote
        currency, ``volume`` as that exchange counts it), ``open_interest``: the sum over the
        venues of their closing open interest in base coins (inverse contracts converted at
        each venue's close), NaN on a bar any venue lacks (a missing venue is never read as
        zero, which would fake a delta); ``open_interest_value``: the sum of the venues'
        values (quote currency, NaN likewise); and ``open_interest_<venue id>``, each venue's
        coins (NaN where it lacks the bar). ``attrs``: ``exchange`` (ids joined by ``+``),
        ``exchanges``, ``symbol`` (the first venue's), ``symbols``, ``timeframe``,
        ``oi_timeframes`` (venue id to its open-interest period).

    Raises
    ------
    TypeError, ValueError
        Not a list of venues, a venue twice, an unknown exchange, a timeframe one venue does
        not serve, a symbol missing on one venue, different base coins: all checked on every
        venue before any candle is fetched, the message naming the venue.
    FeedError
        As :func:`fetch_candles`, for the venue that failed.

    Warns
    -----
    FeedWarning
        Each venue's own warnings (e.g. Bybit has open interest every 5m at the finest: on
        1m bars it is joined as-of, the last 5m snapshot at or before the bar's close), and
        how many bars lack some venue's open interest.
    """
    venues = resolve_venues(exchanges, timeframe)
    ids = [str(ex.id) for ex in venues]
    markets = [resolve_market(ex, _symbol_for(symbol, venue))
               for ex, venue in zip(venues, ids, strict=True)]
    _check_bases(list(zip(venues, markets, strict=True)))
    step = check_timeframe(venues[0], timeframe)
    start, end = _bar_range(since, until, step, int(venues[0].milliseconds()))
    if end <= start:  # nothing closed in the range: each venue says so in its own words
        start, end = since, until
    frames, said = [], []
    for ex, market in zip(venues, markets, strict=True):
        frame, caught = _fetch_quietly(ex, market["symbol"], timeframe, start, end, cache_dir)
        frames.append(frame)
        said += caught
    for warning in said:
        warnings.warn(warning.message, warning.category, stacklevel=2)
    out = _sum_on_grid(frames, ids, markets)
    _warn_gaps(out, ids)
    out.attrs.update(exchange="+".join(ids), exchanges=tuple(ids),
                     symbol=markets[0]["symbol"],
                     symbols={v: m["symbol"] for v, m in zip(ids, markets, strict=True)},
                     timeframe=timeframe,
                     oi_timeframes={v: f.attrs.get("oi_timeframe")
                                    for v, f in zip(ids, frames, strict=True)})
    return out


def _warn_gaps(frame: pd.DataFrame, ids: list[str]) -> None:
    """One warning naming the venues whose open interest some bars lack."""
    lacking = {v: int(frame[f"open_interest_{v}"].isna().sum()) for v in ids}
    lacking = {v: n for v, n in lacking.items() if n}
    if not lacking:
        return
    shown = ", ".join(f"{v} on {n}" for v, n in lacking.items())
    warnings.warn(
        f"open interest is missing for some venues ({shown} of {len(frame)} bars): the summed "
        f"open_interest is NaN on those bars rather than a partial sum",
        FeedWarning, stacklevel=3,
    )
