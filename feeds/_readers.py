"""Readers of the exchanges' archive files, parsed with pyarrow; local files alone.

Binance (data.binance.vision, USD-M futures): ``aggTrades``, ``klines`` and ``metrics`` CSVs,
zipped as downloaded or unzipped, with or without their header line, timestamps in
milliseconds or microseconds. Bybit (public.bybit.com/trading): ``<SYMBOL><day>.csv.gz``.
"""

from __future__ import annotations

import contextlib
import os
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from ._errors import check_choice

__all__ = ["archive_exchange", "read_klines", "read_metrics", "read_trades", "to_ns"]

AGG_TRADES_COLUMNS = ("agg_trade_id", "price", "quantity", "first_trade_id", "last_trade_id",
                      "transact_time", "is_buyer_maker")
KLINES_COLUMNS = ("open_time", "open", "high", "low", "close", "volume", "close_time",
                  "quote_volume", "count", "taker_buy_volume", "taker_buy_quote_volume", "ignore")
_BLOCK = 4 << 20  # pyarrow parses 4 MiB blocks in parallel: fastest here for ~100 MB files
_ALIASES = {"binance": "binance", "binanceusdm": "binance", "bybit": "bybit"}


def archive_exchange(exchange: Any) -> str:
    """``"binance"`` or ``"bybit"`` from a name or a ccxt instance."""
    name = getattr(exchange, "id", exchange)
    return _ALIASES[check_choice("exchange", name, tuple(_ALIASES))]


def to_ns(stamps: np.ndarray) -> np.ndarray:
    """Epoch nanoseconds from epoch seconds, milliseconds, microseconds or nanoseconds.

    The unit is told by magnitude (any time after 1973 is unambiguous).
    """
    stamps = np.asarray(stamps)
    if not stamps.size:
        return stamps.astype(np.int64)
    top = float(np.nanmax(np.abs(stamps)))
    if top < 1e11:  # seconds, possibly fractional
        return np.rint(stamps.astype(np.float64) * 1e6).astype(np.int64) * 1000
    scale = 1 if top >= 1e17 else 1_000 if top >= 1e14 else 1_000_000
    return stamps.astype(np.int64) * scale


def _utc(ns: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC")


@contextlib.contextmanager
def _open(path: Path) -> Iterator[tuple[Any, bytes]]:
    """A pyarrow-readable source of the CSV inside ``path`` and its first line.

    A zip's member is decompressed as pyarrow reads it (no copy of the whole CSV in
    memory, and decompression overlaps parsing); ``.gz`` is decompressed by pyarrow.
    """
    try:
        if not zipfile.is_zipfile(path):
            with pa.input_stream(str(path)) as stream:  # decompresses .gz by the name
                first = stream.read(4096).split(b"\n", 1)[0]
            yield str(path), first
            return
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.lower().endswith(".csv")]
            if not names:
                raise ValueError(f"{path} holds no .csv file (it has {archive.namelist()})")
            with archive.open(names[0]) as member:
                first = member.read(4096).split(b"\n", 1)[0]
            with archive.open(names[0]) as member:
                yield pa.PythonFile(member, mode="r"), first
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise ValueError(f"{path} is not a readable archive file ({exc})") from exc


def _has_header(first: bytes) -> bool:
    text = first.strip().lstrip(b"\xef\xbb\xbf")
    return bool(text) and not (text[:1].isdigit() or text[:1] == b"-")


def _read_csv(path: Path, names: tuple[str, ...], types: dict[str, pa.DataType]) -> pa.Table:
    """Columns ``types`` of a CSV whose columns are ``names`` when it has no header."""
    convert = pcsv.ConvertOptions(
        include_columns=list(types), column_types=types,
        true_values=["true", "True", "TRUE"], false_values=["false", "False", "FALSE"],
    )
    with _open(path) as (source, first):
        width = first.count(b",") + 1
        read = pcsv.ReadOptions(block_size=_BLOCK, use_threads=True)
        if not _has_header(first):
            if width < len(names):
                raise ValueError(f"{path}: {width} columns, expected {len(names)} ({names})")
            extra = tuple(f"extra_{i}" for i in range(width - len(names)))
            read = pcsv.ReadOptions(block_size=_BLOCK, column_names=[*names, *extra])
        try:
            table = pcsv.read_csv(source, read_options=read, convert_options=convert)
        except (pa.ArrowInvalid, KeyError, OSError) as exc:
            raise ValueError(f"{path} is not in the expected format ({exc})") from exc
    for col in types:
        if table.column(col).null_count:
            row = int(pc.index(pc.is_null(table.column(col)), True).as_py())
            raise ValueError(f"{path}: column {col!r} is empty at data row {row}")
    return table


def _trades_frame(ns: np.ndarray, price: np.ndarray, qty: np.ndarray,
                  side: pa.Array) -> pd.DataFrame:
    order = None
    if ns.size > 1 and (np.diff(ns) < 0).any():
        order = np.argsort(ns, kind="stable")
        ns, price, qty = ns[order], price[order], qty[order]
        side = side.take(pa.array(order))
    return pd.DataFrame({"time": _utc(ns), "price": price, "quantity": qty,
                         "side": side.to_pandas()})


def _binance_trades(path: Path) -> pd.DataFrame:
    table = _read_csv(path, AGG_TRADES_COLUMNS, {
        "price": pa.float64(), "quantity": pa.float64(), "transact_time": pa.int64(),
        "is_buyer_maker": pa.bool_(),
    })
    maker = table.column("is_buyer_maker").combine_chunks()
    side = pc.if_else(maker, "sell", "buy")  # a buyer-maker trade is a taker sell
    return _trades_frame(to_ns(table.column("transact_time").to_numpy()),
                         table.column("price").to_numpy(), table.column("quantity").to_numpy(),
                         side)


def _bybit_trades(path: Path) -> pd.DataFrame:
    table = _read_csv(path, ("timestamp", "symbol", "side", "size", "price"), {
        "timestamp": pa.float64(), "side": pa.string(), "size": pa.float64(),
        "price": pa.float64(),
    })
    side = pc.utf8_lower(table.column("side").combine_chunks())
    bad = pc.invert(pc.is_in(side, pa.array(["buy", "sell"])))
    if pc.any(bad).as_py():
        row = int(pc.index(bad, True).as_py())
        raise ValueError(
            f"{path}: side is {table.column('side')[row].as_py()!r} at data row {row}; Bybit "
            f"trade files have 'Buy' or 'Sell'"
        )
    return _trades_frame(to_ns(table.column("timestamp").to_numpy()),
                         table.column("price").to_numpy(), table.column("size").to_numpy(), side)


def read_trades(path: str | os.PathLike, *,
                exchange: Literal["binance", "binanceusdm", "bybit"]) -> pd.DataFrame:
    """The trades of an archive file as the trades frame of SPEC.md section 3.

    Parameters
    ----------
    path : str or os.PathLike
        Binance: an ``aggTrades`` zip as downloaded from data.binance.vision, or its CSV
        (with or without the header line; ``transact_time`` in ms or us). Bybit: a
        ``public.bybit.com/trading`` ``.csv.gz`` (or the CSV unpacked).
    exchange : {"binance", "binanceusdm", "bybit"}
        Whose format the file is in.

    Returns
    -------
    pandas.DataFrame
        ``time`` (datetime64[ns, UTC]), ``price`` (quote currency), ``quantity`` (coins;
        Bybit inverse contracts: USD), ``side`` (``"buy"``/``"sell"``: the taker's side;
        Binance ``is_buyer_maker == true`` is a taker sell), sorted by time.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Not the named exchange's format (the message names the file and what was wrong).
    """
    name = archive_exchange(exchange)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path={str(path)!r}: no such file")
    return _binance_trades(path) if name == "binance" else _bybit_trades(path)


def read_klines(path: str | os.PathLike) -> pd.DataFrame:
    """Binance USD-M ``klines`` archive file (zip or CSV) as OHLCV bars.

    Returns
    -------
    pandas.DataFrame
        ``open, high, low, close`` (quote currency) and ``volume`` (coins), indexed by bar
        open time (UTC, ``time``), sorted, duplicates dropped.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path={str(path)!r}: no such file")
    types = {c: pa.float64() for c in ("open", "high", "low", "close", "volume")}
    table = _read_csv(path, KLINES_COLUMNS, {"open_time": pa.int64(), **types})
    index = _utc(to_ns(table.column("open_time").to_numpy())).rename("time")
    frame = pd.DataFrame({c: table.column(c).to_numpy() for c in types}, index=index)
    return frame[~frame.index.duplicated(keep="last")].sort_index()


def read_metrics(path: str | os.PathLike) -> pd.DataFrame:
    """Binance USD-M ``metrics`` archive file (zip or CSV): open interest every 5 minutes.

    Returns
    -------
    pandas.DataFrame
        ``open_interest`` (``sum_open_interest``, coins) and ``open_interest_value``
        (``sum_open_interest_value``, USD), indexed by snapshot time (UTC, ``time``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path={str(path)!r}: no such file")
    convert = pcsv.ConvertOptions(
        include_columns=["create_time", "sum_open_interest", "sum_open_interest_value"],
        column_types={"create_time": pa.timestamp("ns"), "sum_open_interest": pa.float64(),
                      "sum_open_interest_value": pa.float64()},
        timestamp_parsers=["%Y-%m-%d %H:%M:%S", pcsv.ISO8601],
    )
    with _open(path) as (source, first):
        if not first.startswith(b"create_time"):
            raise ValueError(f"{path}: a metrics file starts with a create_time,... header")
        try:
            table = pcsv.read_csv(source, convert_options=convert)
        except (pa.ArrowInvalid, KeyError, OSError) as exc:
            raise ValueError(f"{path} is not a Binance metrics file ({exc})") from exc
    ns = table.column("create_time").cast(pa.int64()).to_numpy()
    frame = pd.DataFrame({
        "open_interest": table.column("sum_open_interest").to_numpy(),
        "open_interest_value": table.column("sum_open_interest_value").to_numpy(),
    }, index=_utc(ns).rename("time"))
    return frame[~frame.index.duplicated(keep="last")].sort_index()
