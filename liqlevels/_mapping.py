"""``HistoricalMapping``: the py-liquidation-map facade, reading one archive day at a time.

A drop-in for ``liqmap.mapping.HistoricalMapping``: the same constructor and the same two
methods with the same arguments, but the methods return the frames, write HTML and PNG charts
and CSV tables into ``out_dir``, decode every archive file once (and keep it decoded, so a
later run opens no zip), hold the trades of two days at most (the one being selected and the
next, read on a second thread meanwhile), and raise on a failed download instead of carrying
on.
"""

from __future__ import annotations

import contextlib
import os
import re
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from .indicator import (
    TradeArrays,
    TradeSelection,
    check_threshold,
    check_trade_options,
    depth,
    liquidation_map,
    trade_candles,
)
from .vocab import (
    ARCHIVE_EXCHANGES,
    ArchiveExchange,
    MappingWarning,
    Mode,
    check_choice,
    did_you_mean,
    path_under,
    safe_filename,
    to_timestamp,
)

__all__ = ["EXCHANGES", "HistoricalMapping", "MappingWarning"]

EXCHANGES: tuple[str, ...] = ARCHIVE_EXCHANGES


# --------------------------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------------------------


def _symbol(symbol: Any) -> str:
    """The archive symbol, upper-cased; it names the output files, so it must be a
    :func:`~liqlevels.vocab.safe_filename`."""
    if not isinstance(symbol, str):
        raise TypeError(f"symbol={symbol!r} must be a string such as 'BTCUSDT'")
    try:
        return safe_filename(symbol, "symbol").upper()
    except ValueError as exc:
        hint = ""
        if "/" in symbol:
            hint = f" (the archives name it {symbol.split(':')[0].replace('/', '')!r})"
        raise ValueError(f"symbol={symbol!r} is not an archive symbol such as 'BTCUSDT'"
                         f"{hint}") from exc


def _exchange(exchange: Any) -> str:
    name = exchange.lower().strip() if isinstance(exchange, str) else exchange
    if name in EXCHANGES:
        return str(name)
    raise ValueError(
        f"exchange={exchange!r} is not supported: HistoricalMapping reads the trade archives "
        f"of {', '.join(repr(e) for e in EXCHANGES)} only.{did_you_mean(exchange, EXCHANGES)}"
    )


def _exchanges(exchange: Any) -> tuple[str, ...]:
    """The archives to read, in order: ``"binance"``, ``"binance,bybit"`` or a list of them,
    each once."""
    if isinstance(exchange, str):
        given: Sequence[Any] = [part for part in exchange.split(",") if part.strip()] or [
            exchange]
    elif isinstance(exchange, Sequence):
        given = exchange
    else:
        given = [exchange]
    if not given:
        raise ValueError(f"exchange={exchange!r} names no archive; give 'binance', 'bybit' "
                         f"or both ('binance,bybit')")
    names = tuple(_exchange(e) for e in given)
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"exchange={exchange!r} names {', '.join(repeated)} twice: its "
                         f"trades would count twice; give each archive once")
    return names


def _merge(parts: list[TradeArrays]) -> TradeArrays:
    """Trades of several archives as one stream in time order; equal times keep the order
    of ``parts`` (the exchanges' order), each part already in time order."""
    parts = [p for p in parts if len(p)]
    if len(parts) <= 1:
        return parts[0] if parts else TradeArrays.empty()
    time = np.concatenate([p.time for p in parts])
    order = np.argsort(time, kind="stable")
    return TradeArrays(time[order], np.concatenate([p.price for p in parts])[order],
                       np.concatenate([p.quantity for p in parts])[order],
                       np.concatenate([p.is_buy for p in parts])[order])


def _threshold(mode: Any, gross_value: Any, top_n: Any, portion: Any) -> tuple[str, float | int]:
    chosen = {"gross_value": gross_value, "top_n": top_n, "portion": portion}
    name = check_choice("mode", mode, tuple(chosen))
    try:
        return check_threshold(name, chosen[name])
    except (TypeError, ValueError) as exc:
        raise type(exc)(str(exc).replace("threshold=", f"threshold_{name}=", 1)) from None


# --------------------------------------------------------------------------------------------
# Reading the days: one ahead on a second thread
# --------------------------------------------------------------------------------------------

_T = TypeVar("_T")
_R = TypeVar("_R")


def _window(arrays: TradeArrays, start_ns: int, end_ns: int) -> TradeArrays:
    """The trades inside ``[start, end)`` (epoch ns) of a day in time order (views)."""
    a, b = (int(i) for i in np.searchsorted(arrays.time, [start_ns, end_ns], side="left"))
    return TradeArrays(arrays.time[a:b], arrays.price[a:b], arrays.quantity[a:b],
                       arrays.is_buy[a:b])


def prefetched(load: Callable[[_T], _R], items: Sequence[_T]) -> Iterator[tuple[_T, _R]]:
    """``(item, load(item))`` in order, the next item loaded on a second thread while the
    caller works on this one.

    One item ahead and no more, so at most two loaded items are held at a time (the one the
    caller has and the next). An error loading an item is raised, as it was raised, when
    the caller reaches that item; an item loading when the caller stops is finished and
    dropped (its error with it), so the caller sees one error only.
    """
    if len(items) <= 1:
        for item in items:
            yield item, load(item)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="liqlevels-prefetch") as pool:
        pending: Future[_R] | None = pool.submit(load, items[0])
        try:
            for i, item in enumerate(items):
                assert pending is not None
                result = pending.result()
                pending = pool.submit(load, items[i + 1]) if i + 1 < len(items) else None
                yield item, result
                del result
        finally:
            if pending is not None:
                pending.cancel()


# --------------------------------------------------------------------------------------------
# Writing tables
# --------------------------------------------------------------------------------------------

_NEEDS_QUOTES = r'[,"\r\n]'


def _csv_column(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Times with a zone as UTC text ending in ``+00:00`` (Arrow's writer looks the zone up per
    value, 50x slower); the rest as it is."""
    kind = column.type
    if pa.types.is_dictionary(kind):  # a pandas categorical: its values
        column, kind = column.cast(kind.value_type), kind.value_type
    if pa.types.is_timestamp(kind) and kind.tz is not None:
        naive = column.cast(pa.timestamp(kind.unit, tz=None))  # the same instants, in UTC
        return pc.binary_join_element_wise(naive.cast(pa.string()), "+00:00", "")
    return column


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """``frame`` (no index) as CSV, written by pyarrow: floats in their shortest exact form,
    zoned times as ``2026-06-01 06:00:00.123000000+00:00``; text quoted only when it must be."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = pa.table([_csv_column(c) for c in table.columns], names=table.column_names)
    texts = [c for c in table.columns if pa.types.is_string(c.type) or
             pa.types.is_large_string(c.type)]
    plain = all(not pc.any(pc.match_substring_regex(c, _NEEDS_QUOTES)).as_py()
                for c in texts if len(c))
    names = table.column_names
    if not plain or any(re.search(_NEEDS_QUOTES, name) for name in names):
        pcsv.write_csv(table, path, pcsv.WriteOptions(quoting_style="needed"))
        return
    with open(path, "wb") as handle:  # Arrow quotes the header even when told not to
        handle.write((",".join(names) + "\n").encode())
        pcsv.write_csv(table, handle, pcsv.WriteOptions(include_header=False,
                                                        quoting_style="none"))


# --------------------------------------------------------------------------------------------
# The facade
# --------------------------------------------------------------------------------------------


@dataclass
class _Window:
    """What one selection over the window produced."""

    levels: pd.DataFrame
    price: float
    candles: pd.DataFrame
    trades: int
    reads: dict[str, int] = field(default_factory=dict)


class HistoricalMapping:
    """Liquidation map of large taker trades from the exchanges' trade archives.

    The py-liquidation-map API (``from liqmap.mapping import HistoricalMapping``): the same
    arguments, but the methods return their frames, and write an HTML and a PNG chart and CSV
    tables into ``out_dir``.

    Parameters
    ----------
    start_datetime, end_datetime : str, datetime, pandas.Timestamp or int
        The window ``[start, end)``, UTC (naive means UTC; aware times are converted; an
        integer is epoch milliseconds), e.g. ``"2023-08-01 00:00:00"``. The current price is
        the last trade's before ``end``.
    symbol : str
        The archive's symbol, e.g. ``"BTCUSDT"``.
    exchange : {"binance", "bybit"}, or both as ``"binance,bybit"`` or a list
        Binance USD-M futures ``aggTrades`` (data.binance.vision) or Bybit's trading archive
        (public.bybit.com/trading). Several: their trades are merged into one stream in time
        order (equal times keep the order given) and mapped as one; ``self.exchanges`` holds
        them, ``self.exchange`` their names joined by ``+``.
    out_dir : str or os.PathLike, default "."
        Where charts and tables are written (created if missing).
    cache_dir : str or os.PathLike, optional
        Where archive files are kept (``feeds``' cache by default).
    base_url : str or mapping of str to str, optional
        The archive's address (a mirror); default ``feeds.settings.archive_urls[exchange]``.
        With several exchanges, one address serves them all (their paths differ), or give
        ``{exchange: address}``.
    leverages : sequence of int, default (10, 25, 50, 100)
    mmr : float, default 0.0
        Maintenance margin rate (see :func:`indicator.trade_levels`).
    weights : sequence or mapping of float, optional
        Split each trade's notional across the leverages (default: full at each).
    survivors_only : bool, default False
        Drop levels that a later trade of the window already crossed.
    bin_size : float, optional
        Price bin (quote currency); default by the rule of docs/method.md section 3.
    png : bool, default True
        Also screenshot each chart to PNG (needs Chromium; without it a
        :class:`MappingWarning` says so and only the HTML is written).

    Raises
    ------
    TypeError, ValueError
        An unreadable time, ``end <= start``, a bad symbol, an exchange other than
        ``"binance"``/``"bybit"`` (the message lists them) or one named twice, or a bad
        option.
    """

    def __init__(
        self,
        start_datetime: Any,
        end_datetime: Any,
        symbol: str,
        exchange: ArchiveExchange | str | Sequence[ArchiveExchange],
        *,
        out_dir: str | os.PathLike = ".",
        cache_dir: str | os.PathLike | None = None,
        base_url: str | Mapping[str, str] | None = None,
        leverages: Sequence[int] = (10, 25, 50, 100),
        mmr: float = 0.0,
        weights: Sequence[float] | Mapping[int, float] | None = None,
        survivors_only: bool = False,
        bin_size: float | None = None,
        png: bool = True,
    ) -> None:
        self.start = to_timestamp(start_datetime, "start_datetime")
        self.end = to_timestamp(end_datetime, "end_datetime")
        if self.end <= self.start:
            raise ValueError(f"end_datetime ({self.end}) must be after start_datetime "
                             f"({self.start}); the window is [start, end)")
        self.symbol = _symbol(symbol)
        self.exchanges = _exchanges(exchange)
        self.exchange = "+".join(self.exchanges)
        self.out_dir = Path(out_dir)
        self.cache_dir = cache_dir
        self.base_url = base_url
        self.leverages, self.mmr, _ = check_trade_options(leverages, mmr, weights)
        self.weights = weights
        self.survivors_only = bool(survivors_only)
        self.bin_size = bin_size
        self.png = bool(png)
        self.files: list[Path] = []
        self.price: float | None = None
        self.candles: pd.DataFrame | None = None
        self.levels: pd.DataFrame | None = None
        self._done: dict[tuple[str, float | int], _Window] = {}

    # -- the archive days ---------------------------------------------------------------------

    @property
    def days(self) -> list[pd.Timestamp]:
        """The UTC days the window touches, in order."""
        first = self.start.floor("D")
        last = (self.end - pd.Timedelta(1, "ns")).floor("D")
        return list(pd.date_range(first, last, freq="D"))

    def _archive_day(self, exchange: str, day: str) -> Any:
        """The exchange's trades of the whole day (``feeds.ArchiveDay``): decoded from the
        archive file (downloaded, checksum-verified, unless cached) or read back from the
        decoded-day cache.

        A failed download raises :class:`feeds.FeedError` naming the URL: nothing is
        swallowed, so a missing day never passes for a quiet one.
        """
        from .feeds import archive_day

        url = (self.base_url.get(exchange) if isinstance(self.base_url, Mapping)
               else self.base_url)
        return archive_day(exchange, self.symbol, day, cache_dir=self.cache_dir, base_url=url)

    def _load_day(self, day: str) -> tuple[TradeArrays, list[Any]]:
        """The day's trades in the window, every exchange's merged in time order, and the
        days read (to be kept decoded by whoever calls)."""
        start_ns, end_ns = self.start.value, self.end.value
        got = [self._archive_day(ex, day) for ex in self.exchanges]
        return _merge([_window(g.trades, start_ns, end_ns) for g in got]), got

    def _read_day(self, day: str) -> TradeArrays:
        arrays, got = self._load_day(day)
        for one in got:
            one.keep()
        return arrays

    def _select(self, mode: str, threshold: float | int) -> _Window:
        key = (mode, threshold)
        if key in self._done:
            return self._done[key]
        selection = TradeSelection(mode, threshold)
        reads: dict[str, int] = {}
        candles = []
        days = [day.strftime("%Y-%m-%d") for day in self.days]
        with contextlib.closing(prefetched(self._load_day, days)) as loaded:
            for day, (arrays, got) in loaded:  # the next day is read meanwhile
                reads[day] = 1
                selection.add(arrays, key=day)
                if len(arrays):
                    candles.append(trade_candles(arrays, "1m"))
                for one in got:  # written here, while the other thread decodes
                    one.keep()
                del arrays, got, one
        for day in selection.stale():  # portion mode, rarely: this day held more of the cut
            selection.add(self._read_day(day), key=day, replace=True)
            reads[day] += 1
        if selection.count == 0:
            raise ValueError(
                f"no {self.symbol} trades on {self.exchange} in [{self.start}, {self.end}); "
                f"check the symbol and widen the window"
            )
        levels = selection.levels(leverages=self.leverages, mmr=self.mmr, weights=self.weights,
                                  survivors_only=self.survivors_only)
        window = _Window(levels=levels, price=float(selection.last_price),
                         candles=pd.concat(candles), trades=selection.count, reads=reads)
        self._done[key] = window
        self.levels, self.price, self.candles = window.levels, window.price, window.candles
        return window

    # -- outputs ------------------------------------------------------------------------------

    def _stem(self, mode: str, threshold: float | int) -> str:
        fmt = "%Y-%m-%d_%H-%M-%S"
        shown = threshold
        if mode == "gross_value" and float(threshold).is_integer():
            shown = int(threshold)  # 100000, as py-liquidation-map names its files
        return safe_filename(f"{self.symbol}_{self.start.strftime(fmt)}-"
                             f"{self.end.strftime(fmt)}_{mode}_{shown}", "output name")

    def _out(self, name: str) -> Path:
        """``out_dir / name``, checked to stay in ``out_dir`` (links followed)."""
        return path_under(self.out_dir, name, what="out_dir")

    def _subtitle(self, mode: str, threshold: float | int, window: _Window) -> str:
        rule = {"gross_value": f"trades >= {threshold:,} notional",
                "top_n": f"top {threshold} trades per side",
                "portion": f"largest {float(threshold) * 100:g}% of trades per side"}[mode]
        fmt = "%Y-%m-%d %H:%M:%S"
        return (f"{self.exchange} {self.start.strftime(fmt)} to {self.end.strftime(fmt)} UTC, "
                f"{rule} ({window.trades:,} trades read); current price {window.price:,.8g}")

    def _write_csv(self, frame: pd.DataFrame, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        write_csv(frame, tmp)
        tmp.replace(path)
        self.files.append(path)

    def _write_chart(self, chart: Any, stem: str, stacklevel: int) -> None:
        self.files.append(chart.to_html(self._out(f"{stem}.html")))
        if not self.png:
            return
        try:
            self.files.append(chart.to_png(self._out(f"{stem}.png")))
        except RuntimeError as exc:
            html = self._out(f"{stem}.html")
            warnings.warn(f"{stem}.png not written: {exc}. The HTML chart is at {html}",
                          MappingWarning, stacklevel=stacklevel)

    def _frames(self, mode: str, threshold: float | int) -> tuple[_Window, pd.DataFrame,
                                                                   pd.DataFrame]:
        window = self._select(mode, threshold)
        the_map = liquidation_map(window.levels, price=window.price, bin_size=self.bin_size)
        the_depth = depth(window.levels, price=window.price, bin_size=self.bin_size)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        return window, the_map, the_depth

    def _chart(self, mode: str, threshold: float | int, kind: str) -> tuple[pd.DataFrame, ...]:
        from .charts import liquidation_map_chart

        window, the_map, the_depth = self._frames(mode, threshold)
        chart = liquidation_map_chart(
            the_map, the_depth, price=window.price, kind=kind,
            title=f"{self.symbol} estimated liquidations",
            subtitle=self._subtitle(mode, threshold, window),
        )
        stem = self._stem(mode, threshold) + ("_depth" if kind == "depth" else "")
        self._write_chart(chart, stem, stacklevel=5)  # user -> method -> _chart -> here
        return the_map, the_depth, stem

    def liquidation_map_from_historical(
        self,
        mode: Mode = "gross_value",
        threshold_gross_value: float = 100_000,
        threshold_top_n: int = 100,
        threshold_portion: float = 0.01,
    ) -> pd.DataFrame:
        """Map the window's large trades to liquidation prices, per bin and leverage.

        Writes ``<stem>.html`` and ``<stem>.png`` (bars per leverage, current price, depth
        curves), ``<stem>_map.csv`` (the returned frame) and ``<stem>_levels.csv`` (one row
        per trade and leverage), where ``<stem>`` is
        ``SYMBOL_<start>-<end>_<mode>_<threshold>`` as py-liquidation-map names its files.

        Parameters
        ----------
        mode : {"gross_value", "top_n", "portion"}
            Which trades count: notional >= ``threshold_gross_value`` (quote currency), the
            ``threshold_top_n`` largest per side, or the largest ``threshold_portion`` share
            per side (0.01 = 1%).
        threshold_gross_value, threshold_top_n, threshold_portion
            The mode's threshold; the others are ignored.

        Returns
        -------
        pandas.DataFrame
            :func:`indicator.liquidation_map`'s frame: ``price_low, price_high, side,
            leverage, notional``. ``self.levels``, ``self.price`` (the current price),
            ``self.candles`` (1-minute candles of the window) and ``self.files`` hold the rest.

        Raises
        ------
        ValueError
            Bad mode or threshold; no trades in the window.
        feeds.FeedError
            An archive day could not be downloaded (named with its URL).
        """
        mode, threshold = _threshold(mode, threshold_gross_value, threshold_top_n,
                                     threshold_portion)
        the_map, _, stem = self._chart(mode, threshold, "map")
        self._write_csv(the_map, self._out(f"{stem}_map.csv"))
        self._write_csv(self._select(mode, threshold).levels, self._out(f"{stem}_levels.csv"))
        return the_map

    def liquidation_map_depth_from_historical(
        self,
        mode: Mode = "gross_value",
        threshold_gross_value: float = 100_000,
        threshold_top_n: int = 100,
        threshold_portion: float = 0.01,
    ) -> pd.DataFrame:
        """The map summed over leverages and cumulated outward from the current price.

        Writes ``<stem>_depth.html``, ``<stem>_depth.png`` (filled cumulative curves over the
        bars) and ``<stem>_depth.csv`` (the returned frame). Arguments as
        :meth:`liquidation_map_from_historical`; the same selection is not read twice.

        Returns
        -------
        pandas.DataFrame
            :func:`indicator.depth`'s frame: ``price_low, price_high, side, notional,
            cumulative``.
        """
        mode, threshold = _threshold(mode, threshold_gross_value, threshold_top_n,
                                     threshold_portion)
        _, the_depth, stem = self._chart(mode, threshold, "depth")
        self._write_csv(the_depth, self._out(f"{stem}.csv"))
        return the_depth

    def liquidation_map_with_candles(
        self,
        mode: Mode = "gross_value",
        threshold_gross_value: float = 100_000,
        threshold_top_n: int = 100,
        threshold_portion: float = 0.01,
    ) -> Any:
        """The map as a price-axis profile beside the window's 1-minute candles.

        Writes ``<stem>_candles.html`` and ``<stem>_candles.png``. Arguments as
        :meth:`liquidation_map_from_historical`.

        Returns
        -------
        charts.Scene
            The scene (``show()`` opens it in a window).
        """
        from .charts import Scene, liquidation_profile

        mode, threshold = _threshold(mode, threshold_gross_value, threshold_top_n,
                                     threshold_portion)
        window, the_map, _ = self._frames(mode, threshold)
        scene = Scene(window.candles, profiles=[liquidation_profile(the_map)],
                      symbol=self.symbol, title=self._subtitle(mode, threshold, window),
                      visible_bars=None)
        self._write_chart(scene, self._stem(mode, threshold) + "_candles", stacklevel=4)
        return scene

