"""Speed of ``liqlevels map`` over a month: 30 days x 1.5M aggTrades (issue 20).

``python -P -m pytest benchmarks/bench_map_month.py``. Targets: <= 10 s cold (the archive
files downloaded and verified, no day decoded yet), <= 4 s with the days decoded, with the
memory the command had before. The baseline, timed in the same run, is that code path
(:class:`TodayMapping`): each zip decompressed by ``zipfile`` as pyarrow pulls it through
Python, read as a pandas frame and checked, one day after the other on one thread, the
levels CSV written by pandas.

The 30 archives are generated once into ``<tmp>/liqlevels-bench-month-v1`` (about 700 MB,
a few minutes) and reused: they sit in a cache folder as ``liqlevels map`` leaves its
downloads, each with its kept ``.CHECKSUM``, so each run checks them (SHA-256) and reads
them there, without the network.

Peak memory is measured apart: each variant runs once more in a child process, which
reports its peak resident set (``VmHWM`` of ``/proc/self/status``: the high-water mark of
this process's own memory; ``getrusage``'s ``ru_maxrss`` would carry the forking pytest's
over ``exec``) and the same figure taken after its imports; the difference is what the run
added.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from liqlevels import _mapping
from liqlevels.cli import main
from liqlevels.feeds import download_archive
from liqlevels.feeds._readers import read_trades_streamed
from liqlevels.indicator import TradeArrays, TradeSelection, trade_arrays, trade_candles

SYMBOL = "BTCUSDT"
FIRST = pd.Timestamp("2023-08-01", tz="UTC")
DAYS = 30
ROWS = 1_500_000
FOLDER = Path(tempfile.gettempdir()) / "liqlevels-bench-month-v1"
AGG_DIR = ("archives", "binance", "data", "futures", "um", "daily", "aggTrades", SYMBOL)


# -- the archives, generated once --------------------------------------------------------------


def _zip(csv: bytes, name: str) -> bytes:
    """A zip of ``csv`` as Binance packs it (deflate, level 6), compressed by zlib-ng."""
    sink = io.BytesIO()
    try:
        from zlib_ng import zlib_ng
    except ImportError:  # pragma: no cover
        zlib_ng = zipfile.zlib
    real, zipfile.zlib = zipfile.zlib, zlib_ng  # the same deflate stream format, 3x faster
    try:
        with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
            archive.writestr(name, csv)
    finally:
        zipfile.zlib = real
    return sink.getvalue()


def _generate(folder: Path) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_trades import write_agg_trades

    target = folder.joinpath(*AGG_DIR)
    target.mkdir(parents=True, exist_ok=True)
    for i in range(DAYS):
        day = FIRST + pd.Timedelta(days=i)
        name = f"{SYMBOL}-aggTrades-{day:%Y-%m-%d}"
        csv = folder / f"{name}.csv"
        write_agg_trades(csv, ROWS, seed=100 + i, day=day)
        data = _zip(csv.read_bytes(), f"{name}.csv")
        csv.unlink()
        (target / f"{name}.zip").write_bytes(data)
        (target / f"{name}.zip.CHECKSUM").write_text(
            f"{hashlib.sha256(data).hexdigest()}  {name}.zip\n")
    (folder / "complete").write_text("30 days\n")


def month_archives() -> Path:
    """The folder whose ``archives/`` holds the 30 zips, generated on first use."""
    if not (FOLDER / "complete").exists():
        shutil.rmtree(FOLDER, ignore_errors=True)
        _generate(FOLDER)
    return FOLDER


# -- the code path before issue 20, kept as the baseline -----------------------------------


class TodayMapping(_mapping.HistoricalMapping):
    """``HistoricalMapping`` as it was: each day's zip streamed through ``zipfile`` into
    pyarrow, read as a frame and checked, the window cut, one day after the other; the
    tables written by pandas."""

    def _read_old(self, exchange: str, day: pd.Timestamp) -> TradeArrays:
        kind = "aggTrades" if exchange == "binance" else "trades"
        path = Path(download_archive(exchange, kind, self.symbol, day.strftime("%Y-%m-%d"),
                                     cache_dir=self.cache_dir, base_url=self.base_url))
        window = read_trades_streamed(path, exchange=exchange, since=self.start,
                                      until=self.end)
        if len(window) == 0:
            return TradeArrays.empty()
        return trade_arrays(window, name=f"trades of {path.name}")

    def _select(self, mode: str, threshold: float | int) -> _mapping._Window:
        key = (mode, threshold)
        if key in self._done:
            return self._done[key]
        selection = TradeSelection(mode, threshold)
        candles = []
        for day in self.days:
            arrays = _mapping._merge([self._read_old(ex, day) for ex in self.exchanges])
            selection.add(arrays, key=day)
            if len(arrays):
                candles.append(trade_candles(arrays, "1m"))
        levels = selection.levels(leverages=self.leverages, mmr=self.mmr, weights=self.weights,
                                  survivors_only=self.survivors_only)
        window = _mapping._Window(levels=levels, price=float(selection.last_price),
                                  candles=pd.concat(candles), trades=selection.count)
        self._done[key] = window
        self.levels, self.price, self.candles = window.levels, window.price, window.candles
        return window

    def _write_csv(self, frame: pd.DataFrame, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        frame.to_csv(tmp, index=False)
        tmp.replace(path)
        self.files.append(path)


@contextlib.contextmanager
def _today() -> Iterator[None]:
    """``liqlevels map`` running the baseline's facade."""
    real = _mapping.HistoricalMapping
    _mapping.HistoricalMapping = TodayMapping  # type: ignore[misc]
    try:
        yield
    finally:
        _mapping.HistoricalMapping = real  # type: ignore[misc]


def run_map(cache: Path, out: Path) -> int:
    """``liqlevels map BTCUSDT`` over the 30 days, gross_value 100k, no PNG."""
    argv = ["map", SYMBOL, "--exchange", "binance", "--since", f"{FIRST:%Y-%m-%d}",
            "--until", f"{FIRST + pd.Timedelta(days=DAYS):%Y-%m-%d}", "--no-png",
            "--out", str(out), "--cache-dir", str(cache)]
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    assert code == 0
    return code


def _cache(tmp: Path) -> Path:
    """A cache folder holding the month's archives (hard links: nothing copied)."""
    source = month_archives()
    cache = tmp / "cache"
    if not cache.exists():
        shutil.copytree(source / "archives", cache / "archives", copy_function=_link)
    return cache


def _link(src: str, dst: str) -> None:
    try:
        Path(dst).hardlink_to(src)
    except OSError:
        shutil.copy2(src, dst)


def _levels_rows(out: Path) -> int:
    (levels,) = out.glob("*_levels.csv")
    with open(levels, "rb") as handle:
        return sum(1 for _ in handle) - 1


# -- the benchmarks ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return _cache(tmp_path_factory.mktemp("month"))


def bench_month_today(benchmark, cache, tmp_path):
    """The baseline: the code path before issue 20 (38 s in the issue)."""
    out = tmp_path / "today"
    with _today():
        benchmark.pedantic(run_map, args=(cache, out), rounds=1, iterations=1)
    benchmark.extra_info.update(days=DAYS, trades_per_day=ROWS, levels=_levels_rows(out))


def bench_month_cold(benchmark, cache, tmp_path):
    """Target <= 10 s: every day decoded from its zip (and kept decoded)."""
    out = tmp_path / "cold"

    def setup():
        shutil.rmtree(cache / "decoded", ignore_errors=True)
        return (cache, out), {}

    benchmark.pedantic(run_map, setup=setup, rounds=2, iterations=1)
    benchmark.extra_info.update(days=DAYS, target_s=10, levels=_levels_rows(out))


def bench_month_cached(benchmark, cache, tmp_path):
    """Target <= 4 s: the days read back decoded, no zip opened."""
    out = tmp_path / "cached"
    run_map(cache, out)  # decodes whatever is not decoded yet
    benchmark.pedantic(run_map, args=(cache, out), rounds=3, iterations=1)
    benchmark.extra_info.update(days=DAYS, target_s=4, levels=_levels_rows(out))


def _peak_mb(variant: str, cache: Path, out: Path) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-P", __file__, variant, str(cache), str(out)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_month_peak_memory(benchmark, cache, tmp_path):
    """Peak RSS of a child process running each variant once (MB, and what the run added
    to the RSS after the imports)."""
    shutil.rmtree(cache / "decoded", ignore_errors=True)
    figures = {}

    def measure():
        figures["today"] = _peak_mb("today", cache, tmp_path / "today")
        figures["cold"] = _peak_mb("cold", cache, tmp_path / "cold")
        figures["cached"] = _peak_mb("cached", cache, tmp_path / "cached")

    benchmark.pedantic(measure, rounds=1, iterations=1)
    benchmark.extra_info.update(figures)


def _peak_rss_mb() -> float:
    """This process's peak resident set so far (Linux ``VmHWM``), MB."""
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\s*(\d+) kB", status).group(1)) / 1024


def _child(variant: str, cache: Path, out: Path) -> None:
    """Run one variant and print the peak RSS (MB) as JSON: ``peak`` and ``added`` (over
    the peak after the imports)."""
    if variant == "cold":
        shutil.rmtree(cache / "decoded", ignore_errors=True)
    before = _peak_rss_mb()
    context = _today() if variant == "today" else contextlib.nullcontext()
    with context:
        run_map(cache, out)
    peak = _peak_rss_mb()
    print(json.dumps({"peak_mb": round(peak), "added_mb": round(peak - before)}))


if __name__ == "__main__":
    _child(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))
