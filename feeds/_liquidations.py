"""Realised liquidations: one schema across venues, and a crash-safe log of them on disk.

ccxt.pro's ``watch_liquidations`` gives "unified" liquidation structures, but their ``side``
means different things per venue (checked against ccxt 4.5's ``pro/binance.py``,
``pro/bybit.py`` and ``pro/okx.py``, and the venues' websocket documentation):

- **Binance** (``forceOrder``): ccxt's ``side`` is ``o.S`` lower-cased, the side of the
  *liquidation order*. A SELL order closes a long, so ``"sell"`` means a long was liquidated.
- **Bybit** v5 (``allLiquidation``, and the older ``liquidation``): ccxt's ``side`` is ``S``
  (``side``) lower-cased, the side of the *liquidated position*: Bybit documents that a
  ``Buy`` update means a long position was liquidated. So ccxt's ``"buy"`` here means the
  opposite of Binance's ``"buy"``.
- **OKX** (``liquidation-orders``): ccxt's ``side`` is the order side of the *first* of the
  message's ``details`` only, the others are dropped. Each detail also carries ``posSide``.

Quantities: ccxt's Binance ``contracts`` is ``l``, the order's last fill; liqlevels takes
``z``, all that filled, which goes with the average fill price ``ap``.

So for these three the rows are derived from the raw message in ``info`` (every OKX detail,
not only the first), never from ccxt's ``side``; ccxt's ``contractSize``, ``baseValue`` and
``quoteValue`` are ``None`` in these structures (ccxt's ``safe_liquidation`` is called without
the market), so quantities are converted with the loaded market's ``contractSize`` instead.
Any other venue: ccxt's ``side`` is read as the liquidation *order's* side (``"sell"``: a long
was liquidated), as the Binance, OKX and Lighter parsers of ccxt.pro produce it; ``"long"``
and ``"short"`` are read as the position's side; a missing side raises.

The log (:class:`LiquidationLog`) keeps one parquet file per exchange and UTC day,
``root/<exchange>/YYYY-MM-DD.parquet``, rewritten whole on each flush through a temporary
file, ``fsync`` and ``os.replace``: a kill at any moment leaves each day file either as it was
before the flush or as after it, never half-written.
"""

from __future__ import annotations

import os
import re
import tempfile
import time as _time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..vocab import FeedWarning, check_frame, path_under, safe_filename, window_ns

__all__ = [
    "LIQUIDATION_COLUMNS",
    "LiquidationLog",
    "normalise_liquidations",
    "read_liquidations",
]

LIQUIDATION_COLUMNS = ("time", "exchange", "symbol", "side", "price", "quantity", "notional")
_KEY = ("time", "exchange", "symbol", "side", "price", "quantity")  # what makes a row a duplicate
_DAY_FILE = re.compile(r"(\d{4}-\d{2}-\d{2})\.parquet")
_DAY_NS = 86_400 * 10**9


# -- the side rules -----------------------------------------------------------------------------


def side_of_order(order_side: object) -> str | None:
    """Whose position a liquidation *order* closes: a sell closes a long, a buy a short."""
    return {"sell": "long", "buy": "short"}.get(str(order_side).lower())


def side_of_position(position_side: object) -> str | None:
    """A liquidated position's side as Bybit and OKX's ``posSide`` write it."""
    return {"buy": "long", "long": "long", "sell": "short", "short": "short"}.get(
        str(position_side).lower())


# -- per venue: the raw message in ``info`` to rows (quantity still in contracts) ---------------


def _num(value: object) -> float | None:
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return out if np.isfinite(out) else None


def _ms(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def _binance(item: dict) -> list[tuple[Any, ...]]:
    """``forceOrder``'s ``o``: ``S`` the order side, ``ap`` the average fill price, ``z`` the
    filled quantity (ccxt takes ``l``, the last fill only), ``T`` the trade time."""
    info = item.get("info") or {}
    return [(_ms(info.get("T")), side_of_order(info.get("S")), _num(info.get("ap")),
             _num(info.get("z")))]


def _bybit(item: dict) -> list[tuple[Any, ...]]:
    """``allLiquidation`` (``T, S, v, p``) or ``liquidation`` (``updatedTime, side, size,
    price``): the side is the liquidated position's, the price the bankruptcy price."""
    info = item.get("info") or {}

    def pick(new: str, old: str) -> object:
        return info.get(new) if info.get(new) is not None else info.get(old)

    return [(_ms(pick("T", "updatedTime")), side_of_position(pick("S", "side")),
             _num(pick("p", "price")), _num(pick("v", "size")))]


def _okx_side(detail: dict) -> str | None:
    """``posSide`` (long/short mode); in net mode (``"net"`` or empty) the order side."""
    return side_of_position(detail.get("posSide")) if str(detail.get("posSide")).lower() in (
        "long", "short") else side_of_order(detail.get("side"))


def _okx(item: dict) -> list[tuple[Any, ...]]:
    """Every one of ``details``: ``bkPx`` the bankruptcy price, ``sz`` in contracts."""
    details = (item.get("info") or {}).get("details") or [{}]
    return [(_ms(d.get("ts")), _okx_side(d), _num(d.get("bkPx")), _num(d.get("sz")))
            for d in details]


def _unified(item: dict) -> list[tuple[Any, ...]]:
    """Any other venue: ccxt's fields; ``side`` as an order side unless long/short."""
    side = item.get("side")
    if side is None:
        return [(_ms(item.get("timestamp")), None, _num(item.get("price")), None)]
    text = str(side).lower()
    rule = side_of_position if text in ("long", "short") else side_of_order
    base = _num(item.get("baseValue"))
    return [(_ms(item.get("timestamp")), rule(text), _num(item.get("price")),
             ("base", base) if base is not None else _num(item.get("contracts")))]


_VENUES: dict[str, Callable[[dict], list[tuple[Any, ...]]]] = {
    "binance": _binance, "bybit": _bybit, "okx": _okx}


def _venue(exchange: Any) -> str | None:
    """``binance``, ``bybit`` or ``okx`` for these classes and their subclasses
    (``binanceusdm``, ``binancecoinm``, ``myokx``...), sync, async or pro; else ``None``."""
    names = {cls.__name__ for cls in type(exchange).__mro__}
    return next((v for v in _VENUES if v in names), None)


# -- normalise ----------------------------------------------------------------------------------


def _base_quantity(contracts: Any, price: float | None, market: dict) -> float | None:
    """Coins in ``contracts``: times ``contractSize``; for an inverse contract (sized in
    quote currency) divided by the price as well."""
    if isinstance(contracts, tuple):  # ccxt's own baseValue (unknown venues only)
        return contracts[1]
    size = _num(market.get("contractSize")) or 1.0
    if contracts is None or price is None or price <= 0:
        return None
    return contracts * size / price if market.get("inverse") else contracts * size


def _problem(row: tuple[Any, ...]) -> str | None:
    ms, side, price, quantity = row
    if ms is None:
        return "no time"
    if side is None:
        return "no side that reads as long or short"
    if price is None or price <= 0:
        return "no positive price"
    if quantity is None or quantity <= 0:
        return "no positive quantity"
    return None


def _rows_of(exchange: Any, item: Any, parse: Callable) -> tuple[list[tuple], int, str | None]:
    """The item's good rows ``(ms, symbol, side, price, coins)``, how many liquidations in it
    are bad (an OKX message holds several) and why the first is (or ``None``)."""
    if not isinstance(item, dict):
        return [], 1, f"not a dict but {type(item).__name__}"
    symbol = item.get("symbol")
    market = exchange.markets.get(symbol) if isinstance(symbol, str) else None
    if market is None:
        return [], 1, f"symbol {symbol!r} is not among the loaded markets (reload them)"
    rows, bad, first = [], 0, None
    for ms, side, price, contracts in parse(item):
        row = (ms, side, price, _base_quantity(contracts, price, market))
        why = _problem(row)
        if why:
            bad, first = bad + 1, first or why
        else:
            rows.append((row[0], symbol, row[1], row[2], row[3]))
    return rows, bad, first


def _check_unknown_venue(exchange: Any, items: list) -> None:
    missing = next((i for i in items if isinstance(i, dict) and i.get("side") is None), None)
    if missing is not None:
        raise ValueError(
            f"normalise_liquidations: {exchange.id} is not one of the venues whose raw "
            f"liquidation messages liqlevels reads (binance*, bybit, okx), and ccxt gives no "
            f"'side' for it (first such item: {_short(missing)}), so whose position was "
            f"liquidated cannot be told. Read its websocket documentation and add a rule for "
            f"it in feeds/_liquidations.py (_VENUES)")


def _short(item: Any, limit: int = 300) -> str:
    text = repr(item)
    return text if len(text) <= limit else text[:limit] + "...}"


def normalise_liquidations(exchange: Any, items: list[dict]) -> pd.DataFrame:
    """ccxt.pro's liquidation structures as one frame in :data:`LIQUIDATION_COLUMNS`.

    Parameters
    ----------
    exchange : ccxt.Exchange
        The instance that produced ``items``, markets loaded (for ``contractSize``).
    items : list of dict
        What ``watch_liquidations`` / ``watch_liquidations_for_symbols`` returned, each with
        the raw message in ``info``.

    Returns
    -------
    pandas.DataFrame
        Sorted by time (stable): ``time`` (datetime64[ns, UTC], the venue's fill or update
        time), ``exchange`` (ccxt id), ``symbol`` (ccxt unified), ``side`` (``"long"`` or
        ``"short"``: whose position was liquidated), ``price`` (quote currency: Binance's
        average fill price ``ap``; Bybit's and OKX's bankruptcy price), ``quantity`` (base
        coins: contracts times ``contractSize``, over the price for inverse contracts),
        ``notional`` (``price * quantity``, quote currency).

    Raises
    ------
    ValueError
        The markets are not loaded, or a venue liqlevels has no rule for gives no side.

    Warns
    -----
    FeedWarning
        Once per call, when items without a time, side, positive price or positive
        quantity (or of an unknown symbol) were dropped: their count and the first of them.
    """
    if not getattr(exchange, "markets", None):
        raise ValueError(f"normalise_liquidations: {getattr(exchange, 'id', exchange)!r} has "
                         f"no markets loaded; call (await) exchange.load_markets() first")
    if not isinstance(items, (list, tuple)):
        raise TypeError(f"items must be a list of ccxt liquidation structures, got "
                        f"{type(items).__name__}")
    venue = _venue(exchange)
    if venue is None:
        _check_unknown_venue(exchange, items)
    parse = _VENUES.get(venue, _unified)
    rows, bad, first = [], 0, ""
    for item in items:
        got, n_bad, why = _rows_of(exchange, item, parse)
        if n_bad:
            bad, first = bad + n_bad, first or f"{_short(item)} ({why})"
        rows.extend(got)
    if bad:
        warnings.warn(f"{exchange.id}: dropped {bad} of {len(rows) + bad} liquidation(s) "
                      f"that cannot be read; the first: {first}", FeedWarning, stacklevel=2)
    return _frame_of_rows(exchange.id, rows)


def _frame_of_rows(exchange_id: str, rows: list[tuple]) -> pd.DataFrame:
    ms = np.array([r[0] for r in rows], dtype=np.int64)
    price = np.array([r[3] for r in rows], dtype=np.float64)
    qty = np.array([r[4] for r in rows], dtype=np.float64)
    frame = _typed(pd.DataFrame({
        "time": pd.to_datetime(ms, unit="ms", utc=True), "exchange": [exchange_id] * len(rows),
        "symbol": [r[1] for r in rows], "side": [r[2] for r in rows], "price": price,
        "quantity": qty, "notional": price * qty}))
    return frame.sort_values("time", kind="stable", ignore_index=True)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """The schema's dtypes: ns UTC times, strings, float64 numbers, the columns in order."""
    out = pd.DataFrame({
        "time": pd.to_datetime(frame["time"], utc=True).astype("datetime64[ns, UTC]"),
        **{c: frame[c].astype(str) for c in ("exchange", "symbol", "side")},
        **{c: frame[c].astype(np.float64) for c in ("price", "quantity", "notional")}})
    return out.reset_index(drop=True)


# -- the log ------------------------------------------------------------------------------------

_META_KEY = b"liqlevels-liquidations"
_VERSION = b"1"


def _checked(frame: Any, name: str) -> pd.DataFrame:
    """``frame`` in the schema's dtypes, or a ``ValueError`` naming the first bad row."""
    check_frame(frame, name, LIQUIDATION_COLUMNS,
                made_by="the frame normalise_liquidations returns")
    out = _typed(frame)
    bad = ~out["side"].isin(["long", "short"]).to_numpy()
    for col in ("price", "quantity", "notional"):
        values = out[col].to_numpy()
        bad |= ~(np.isfinite(values) & (values > 0))
    if bad.any():
        row = int(bad.argmax())
        raise ValueError(f"{name} row {row} is not a liquidation ({out.iloc[row].to_dict()}): "
                         f"side must be 'long' or 'short', price, quantity and notional "
                         f"positive; build it with normalise_liquidations")
    return out


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_day(path: Path, frame: pd.DataFrame) -> None:
    """The whole day to a temporary file beside ``path``, fsynced, then renamed over it."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({_META_KEY: _VERSION})
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            pq.write_table(table, handle, write_page_checksum=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _read_day(path: Path) -> pd.DataFrame:
    """One day file, checked whole (page checksums, columns); ``ValueError`` naming it."""
    try:
        table = pq.read_table(path, page_checksum_verification=True)
        if table.column_names != list(LIQUIDATION_COLUMNS):
            raise ValueError(f"columns {table.column_names}, expected {list(LIQUIDATION_COLUMNS)}")
        return _typed(table.to_pandas())
    except (OSError, ValueError, TypeError, KeyError, pa.ArrowException) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(
            f"{path} is not a readable liquidation log file ({type(exc).__name__}: {exc}); it "
            f"is damaged or was not written by LiquidationLog. Nothing was skipped: move it "
            f"out of the log folder to read the rest") from exc


def _ns(times: pd.Series) -> np.ndarray:
    """Epoch nanoseconds of a tz-aware time column."""
    return pd.DatetimeIndex(times).asi8


def _day_name(ns: int) -> str:
    return pd.Timestamp(ns - ns % _DAY_NS, tz="UTC").strftime("%Y-%m-%d")


class LiquidationLog:
    """Realised liquidations kept on disk, one parquet file per exchange and UTC day.

    Layout: ``root/<exchange>/YYYY-MM-DD.parquet`` (the ccxt id as a file name through
    :func:`liqlevels.vocab.safe_filename`), each holding the day's rows in
    :data:`LIQUIDATION_COLUMNS` for all symbols of that exchange, sorted by time; read them
    with :func:`read_liquidations`.

    Crash safety: :meth:`append` buffers rows in memory; :meth:`flush` (called by ``append``
    once ``flush_every`` seconds have passed since the last flush, and by :meth:`close`)
    rewrites each touched day file whole: a temporary file in the same folder, ``fsync``,
    ``os.replace`` over the day file, ``fsync`` of the folder. A kill at any moment leaves
    every day file as before or as after the flush, never half-written; it loses only the
    rows appended since the last flush. Rows equal in ``time, exchange, symbol, side,
    price, quantity`` (a replay after a reconnect) are written once. A rewrite costs time
    in proportion to the day's rows (see ``docs/live.md``).

    One writer per ``root``: a second ``LiquidationLog`` on the same root raises (an
    ``flock`` on ``root/.lock`` where the platform has it). Temporary files a killed writer
    left are removed when a log is opened.

    Parameters
    ----------
    root : str or os.PathLike
        The log folder (created if missing).
    flush_every : float
        Seconds, >= 0: ``append`` flushes when this long has passed since the last flush
        (0: every append). Rows wait in memory until then; a caller whose stream may go
        quiet calls :meth:`flush` on its own timer.
    """

    def __init__(self, root: str | os.PathLike, *, flush_every: float = 5.0) -> None:
        if isinstance(flush_every, bool) or not isinstance(flush_every, (int, float)) or not (
                np.isfinite(flush_every) and flush_every >= 0):
            raise ValueError(f"flush_every={flush_every!r} must be a number of seconds >= 0, "
                             f"e.g. 5.0")
        self.root = Path(root)
        self.flush_every = float(flush_every)
        self._pending: list[pd.DataFrame] = []
        self._days: dict[tuple[str, str], pd.DataFrame] = {}  # what each day file holds
        self._last = _time.monotonic()
        self._lock: Any = None
        self.closed = False
        self._guard(lambda: self.root.mkdir(parents=True, exist_ok=True), self.root, 0)
        self._take_lock()
        self._clean_temporaries()

    # -- one writer ---------------------------------------------------------------------------

    def _take_lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory lock, one writer by convention
            return
        handle = self._guard(lambda: open(path_under(self.root, ".lock", what="root"), "a"),
                             self.root / ".lock", 0)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.close()
            raise RuntimeError(f"another LiquidationLog writes to {self.root} (its .lock is "
                               f"held); use one log per folder, or another root") from exc
        self._lock = handle

    def _clean_temporaries(self) -> None:
        for tmp in self.root.glob("*/.*.parquet.*.tmp"):
            tmp.unlink(missing_ok=True)

    # -- writing ------------------------------------------------------------------------------

    def _guard(self, action: Callable[[], Any], path: Path, pending: int) -> Any:
        """``action()``, an ``OSError`` of it reworded to name the path and the fix."""
        try:
            return action()
        except OSError as exc:
            kept = f" The {pending} unwritten row(s) are kept: flush() again once fixed." \
                if pending else ""
            message = (f"cannot write the liquidation log at {path} ({exc.strerror or exc}): "
                       f"make {self.root} writable, free disk space, or choose another "
                       f"root.{kept}")
            error = OSError(exc.errno, message) if exc.errno else OSError(message)
            raise error from exc

    def append(self, frame: pd.DataFrame) -> None:
        """Add rows in :data:`LIQUIDATION_COLUMNS` (as :func:`normalise_liquidations` gives
        them); flush if ``flush_every`` seconds have passed since the last flush.

        Raises
        ------
        ValueError
            A column is missing, or a row has a side other than long/short or a price,
            quantity or notional that is not positive; or the log is closed.
        OSError
            The flush could not write (the rows stay buffered).
        """
        if self.closed:
            raise ValueError("this LiquidationLog is closed; open a new one on the same root")
        rows = _checked(frame, "frame")
        if len(rows):
            self._pending.append(rows)
        if _time.monotonic() - self._last >= self.flush_every:
            self.flush()

    @property
    def pending(self) -> int:
        """Rows appended but not yet written."""
        return sum(len(f) for f in self._pending)

    def _path(self, exchange: str, day: str) -> Path:
        return path_under(self.root, safe_filename(exchange, "exchange"), f"{day}.parquet",
                          what="root")

    def _day(self, exchange: str, day: str) -> pd.DataFrame:
        if (exchange, day) not in self._days:
            path = self._path(exchange, day)
            self._days[(exchange, day)] = _read_day(path) if path.exists() else _typed(
                pd.DataFrame({c: [] for c in LIQUIDATION_COLUMNS}))
        return self._days[(exchange, day)]

    def flush(self) -> int:
        """Write the buffered rows to their day files, each replaced atomically; returns
        how many new rows were written (duplicates of written rows are not counted).

        Raises
        ------
        OSError
            A day file could not be written: the message names it; the buffered rows are
            kept, and a later flush writes them (days already written are not doubled).
        ValueError
            An existing day file is damaged (it is named; it is not overwritten).
        """
        self._last = _time.monotonic()
        if not self._pending:
            return 0
        new = pd.concat(self._pending, ignore_index=True)
        days = pd.Series(_ns(new["time"]) // _DAY_NS).map(lambda d: _day_name(int(d) * _DAY_NS))
        written, touched = 0, set()
        for (exchange, day), part in new.groupby([new["exchange"], days], sort=True):
            old = self._day(exchange, day)
            merged = pd.concat([old, part], ignore_index=True).drop_duplicates(list(_KEY))
            touched.add((exchange, day))
            if len(merged) == len(old):
                continue
            merged = merged.sort_values("time", kind="stable", ignore_index=True)
            path = self._path(exchange, day)
            self._guard(lambda p=path, m=merged: _write_day(p, m), path, len(new))
            self._days[(exchange, day)] = merged
            written += len(merged) - len(old)
        self._pending = []
        self._days = {k: v for k, v in self._days.items() if k in touched}
        return written

    def close(self) -> None:
        """Flush and release the folder; closing twice does nothing."""
        if self.closed:
            return
        try:
            self.flush()
        finally:
            self.closed = True
            if self._lock is not None:
                self._lock.close()
                self._lock = None

    def __enter__(self) -> LiquidationLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_liquidations(root: str | os.PathLike, *, since: object = None, until: object = None,
                      exchange: str | None = None, symbol: str | None = None) -> pd.DataFrame:
    """The liquidations a :class:`LiquidationLog` wrote under ``root``, in the schema.

    Parameters
    ----------
    root : str or os.PathLike
        The log folder.
    since, until : time, optional
        The window ``[since, until)``, read like every user time (naive means UTC).
    exchange : str, optional
        A ccxt id; default all exchanges in the folder.
    symbol : str, optional
        A ccxt unified symbol (``"BTC/USDT:USDT"``); default all.

    Returns
    -------
    pandas.DataFrame
        :data:`LIQUIDATION_COLUMNS`, sorted by time (equal times by exchange, then as
        written).

    Raises
    ------
    FileNotFoundError
        ``root`` does not exist.
    ValueError
        A day file in the window is damaged (named; nothing is skipped silently), or the
        window is empty.
    """
    base = Path(root)
    if not base.is_dir():
        raise FileNotFoundError(f"root={str(root)!r}: no such folder (a LiquidationLog's root)")
    lo, hi = window_ns(since, "since"), window_ns(until, "until")
    if lo is not None and hi is not None and lo >= hi:
        raise ValueError(f"until={until!r} must be after since={since!r}: the window is "
                         f"[since, until)")
    folders = [path_under(base, safe_filename(exchange, "exchange"), what="root")] \
        if exchange is not None else sorted(p for p in base.iterdir()
                                            if p.is_dir() and not p.name.startswith("."))
    frames = [_read_day(path) for folder in folders if folder.is_dir()
              for path in sorted(folder.iterdir()) if _wanted(path, lo, hi)]
    out = pd.concat(frames, ignore_index=True) if frames else _typed(
        pd.DataFrame({c: [] for c in LIQUIDATION_COLUMNS}))
    ns = _ns(out["time"])
    keep = np.ones(len(out), dtype=bool)
    if lo is not None:
        keep &= ns >= lo
    if hi is not None:
        keep &= ns < hi
    if symbol is not None:
        keep &= (out["symbol"] == symbol).to_numpy()
    out = out[keep].sort_values("time", kind="stable", ignore_index=True)
    return _typed(out)


def _wanted(path: Path, lo: int | None, hi: int | None) -> bool:
    """A day file (by name) whose day overlaps ``[lo, hi)``."""
    match = _DAY_FILE.fullmatch(path.name)
    if not match or not path.is_file():
        return False
    start = int(pd.Timestamp(match.group(1), tz="UTC").value)
    return (lo is None or start + _DAY_NS > lo) and (hi is None or start < hi)
