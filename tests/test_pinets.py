"""The Pine script, run: PineTS (npm ``pinets``, a Pine v5/v6 transpiler and runtime for Node;
AGPL-3.0, a test tool only) executes pine/liquidation_levels_on_oi.pine on candles, its
``request.security`` for the OI symbol answered by tests/pine/run.mjs, and every plot, every
line still drawn and every histogram box is held against the engine (``oi_signals``,
``oi_levels``, ``density``), on synthetic and on real data, for several settings.

Needs Node 20 and ``cd tests/pine && npm ci`` (the lockfile pins PineTS); skipped otherwise.

One PineTS difference is worked around, and pinned by a test: ``request.security`` with
``gaps = barmerge.gaps_on`` gives na on its first call (pinets' security.ts: "First call: Store
index and return NaN"), where TradingView gives the first bar's OI. So both sides get the
first bar's OI as missing: the engine reads it as NaN (docs/method.md 1.1), the runner leaves
that bar out of the OI series, which the script reads as na (gaps_on). Another, which the
script avoids: PineTS evaluates namespace calls such as ``line.new`` in the untaken branch of a
ternary, so the script draws under ``if`` blocks (docs/tradingview.md).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import load_okx_candles

from liqlevels import feeds, indicator
from liqlevels.indicator import OIOptions

HERE = Path(__file__).resolve().parent
RUNNER = HERE / "pine" / "run.mjs"
SCRIPT = HERE.parent / "pine" / "liquidation_levels_on_oi.pine"
PLOT_LEVERAGES = (5, 10, 25, 50, 100)  # the script's constant plot titles
LONG_COLOR, SHORT_COLOR = "#089981", "#f23645"  # the script's default colours
ALPHA = {1: "59", 2: "a6", 3: "ff"}  # tier -> line colour alpha (transparency 65, 35, 0)
DRAWING = {"bins": 150, "width": 40, "offset": 5}  # the script's drawing defaults

# The script's inputs, by the titles PineTS takes them under.
TITLES = {
    "ma_length": "MA length (bars)",
    "ma_type": "MA type",
    "thresholds": ("Threshold small (x baseline)", "Threshold medium (x baseline)",
                   "Threshold large (x baseline)"),
    "direction": "Direction",
    "leverages": "Leverages",
    "mmr": "Maintenance margin rate",
    "oi_symbol": "OI symbol (empty: BINANCE:<BASE>USDT.P_OI)",
    "show_lines": "Show lines",
    "bins": "Histogram bins",
    "width": "Histogram width (bars)",
    "offset": "Histogram offset (bars right of the last bar)",
}


def _missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed: PineTS is tested on Node 20 (then cd tests/pine && npm ci)"
    version = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False)
    major = version.stdout.strip().lstrip("v").split(".")[0]
    if not major.isdigit() or int(major) < 20:
        return f"node {version.stdout.strip() or '?'} is too old: PineTS is tested on Node 20"
    if not (HERE / "pine" / "node_modules" / "pinets").is_dir():
        return "PineTS is not installed: cd tests/pine && npm ci"
    return None


@pytest.fixture(scope="module", autouse=True)
def _pinets() -> None:
    reason = _missing()
    if reason:
        pytest.skip(reason)


# ---------------------------------------------------------------- running the script

def _column(values: np.ndarray) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in values]


def pine_inputs(opts: OIOptions, **drawing) -> dict[str, object]:
    """The script's inputs (by title) for ``opts``, plus drawing inputs by short name."""
    assert len(opts.thresholds) == 3, "the script has three thresholds"
    out: dict[str, object] = {
        TITLES["ma_length"]: opts.ma_length,
        TITLES["ma_type"]: opts.ma_type,
        TITLES["direction"]: opts.direction,
        TITLES["leverages"]: ", ".join(str(lev) for lev in opts.leverages),
        TITLES["mmr"]: opts.mmr,
    }
    out.update(zip(TITLES["thresholds"], opts.thresholds, strict=True))
    out.update({TITLES[name]: value for name, value in drawing.items()})
    return out


def run_pine(candles: pd.DataFrame, inputs: dict[str, object], **spec) -> dict:
    """What the script produced on ``candles`` (see tests/pine/run.mjs)."""
    times = candles.index.as_unit("ms").asi8
    bars = {"time": times.tolist()}
    for name in ("open", "high", "low", "close", "volume", "open_interest"):
        bars[name] = _column(candles[name].to_numpy(np.float64))
    step = int(np.median(np.diff(times))) if len(times) > 1 else 3_600_000
    payload = {"bars": bars, "inputs": inputs, "step_ms": step,
               "timeframe": str(step // 60_000), **spec}
    proc = subprocess.run(["node", str(RUNNER)], input=json.dumps(payload), text=True,
                          capture_output=True, timeout=600, cwd=HERE / "pine", check=False)
    if proc.returncode not in (0, 3):
        pytest.fail(f"run.mjs exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout)


def first_oi_missing(candles: pd.DataFrame) -> pd.DataFrame:
    """The candles with the first bar's OI missing (the PineTS first-call difference)."""
    out = candles.copy()
    out.iloc[0, out.columns.get_loc("open_interest")] = np.nan
    return out


# ---------------------------------------------------------------- what the engine says

def expected_plots(candles: pd.DataFrame, opts: OIOptions) -> dict[str, np.ndarray]:
    """Every plot of the script, by title, from oi_signals and oi_levels."""
    sig = indicator.oi_signals(candles, options=opts)
    trigger = sig["trigger"].to_numpy()
    out = {
        "Open Interest": candles["open_interest"].to_numpy(np.float64),
        "OI Delta": sig["oi_delta"].to_numpy(),
        "Baseline": sig["baseline"].to_numpy(),
        "Tier": sig["tier"].to_numpy(np.float64),
        "Entry": np.where(trigger, sig["entry"].to_numpy(), np.nan),
    }
    allowed = tuple(lev for lev in PLOT_LEVERAGES if opts.mmr < 1 / lev)
    levels = indicator.oi_levels(candles, options=replace(opts, leverages=allowed))
    where = candles.index.get_indexer(levels["start"])
    for lev in PLOT_LEVERAGES:
        for side in ("long", "short"):
            column = np.full(len(candles), np.nan)
            pick = ((levels["leverage"] == lev) & (levels["side"] == side)).to_numpy()
            column[where[pick]] = levels["price"].to_numpy()[pick]
            out[f"{side.title()} {lev}x"] = column
    return out


def expected_lines(candles: pd.DataFrame, levels: pd.DataFrame) -> list[dict]:
    """The lines on the chart after the last bar: the newest 500 levels."""
    drawn = levels.iloc[-500:]
    start = candles.index.get_indexer(drawn["start"])
    ended = drawn["end"].notna().to_numpy()
    end = np.where(ended, candles.index.get_indexer(drawn["end"].fillna(drawn["start"])),
                   start + 1)
    out = []
    for i, row in enumerate(drawn.itertuples(index=False)):
        tier = min(int(row.tier), 3)
        colour = (LONG_COLOR if row.side == "long" else SHORT_COLOR) + ALPHA[tier]
        out.append({"x1": int(start[i]), "x2": int(end[i]), "price": row.price,
                    "extend": "n" if ended[i] else "r", "color": colour, "width": tier})
    return out


def expected_boxes(candles: pd.DataFrame, levels: pd.DataFrame, *, bins: int, width: int,
                   offset: int) -> list[dict]:
    """The histogram boxes of density(levels) as the script draws them (right of the last
    bar, longs then shorts per bin, the fullest bin ``width`` bars wide)."""
    hist = indicator.density(levels, bins=bins)
    if hist.empty:
        return []
    most = int((hist["long"] + hist["short"]).max())
    x0 = len(candles) - 1 + offset
    out = []
    for row in hist.itertuples(index=False):
        w_long = math.floor(width * row.long / most + 0.5)  # Pine's math.round
        w_short = math.floor(width * row.short / most + 0.5)
        if row.long > 0:
            out.append({"left": x0, "right": x0 + max(w_long, 1), "top": row.price_high,
                        "bottom": row.price_low, "color": LONG_COLOR})
        if row.short > 0:
            out.append({"left": x0 + w_long, "right": x0 + w_long + max(w_short, 1),
                        "top": row.price_high, "bottom": row.price_low, "color": SHORT_COLOR})
    return out


def exact_width(levels: pd.DataFrame, bins: int) -> int | None:
    """A histogram width at which each box is exactly its bin's count wide: the fullest
    bin's count, when the script accepts it (5 to 400)."""
    hist = indicator.density(levels, bins=bins)
    most = int((hist["long"] + hist["short"]).max()) if len(hist) else 0
    return most if 5 <= most <= 400 else None


# ---------------------------------------------------------------- the cases

def _with_oi_gaps(candles: pd.DataFrame) -> pd.DataFrame:
    out = candles.copy()
    rows = [200, 201, 650, 1111, 1400]
    out.iloc[rows, out.columns.get_loc("open_interest")] = np.nan
    return out


@dataclass(frozen=True)
class Case:
    data: Callable[[], pd.DataFrame]
    options: OIOptions = field(default_factory=OIOptions)
    bins: int = DRAWING["bins"]
    offset: int = DRAWING["offset"]
    width: int | None = None  # None: exact_width (counts readable from the boxes)


CASES = {
    "sample-defaults": Case(lambda: feeds.sample_candles(2000), width=DRAWING["width"]),
    "sample-ema": Case(lambda: feeds.sample_candles(1500, seed=11),
                       OIOptions(ma_type="ema", ma_length=30), bins=40),
    "sample-wma": Case(lambda: feeds.sample_candles(1200, seed=3),
                       OIOptions(ma_type="wma", ma_length=30, thresholds=(1.5, 2.5, 4.0),
                                 direction="both", leverages=(3, 20, 125)), offset=0),
    "sample-vwma-gaps": Case(lambda: _with_oi_gaps(feeds.sample_candles(1500, seed=5)),
                             OIOptions(ma_type="vwma", direction="decrease", mmr=0.004)),
    "sample-mmr": Case(lambda: feeds.sample_candles(1000, seed=9, burst_rate=0.03),
                       OIOptions(ma_length=10, leverages=(10, 4), mmr=0.05,
                                 thresholds=(1.1, 1.6, 2.2)), bins=1),
    "okx-1h-defaults": Case(lambda: load_okx_candles("1h")),
    "okx-1h-ema": Case(lambda: load_okx_candles("1h"),
                       OIOptions(ma_type="ema", ma_length=20, direction="both"), bins=60),
    "okx-5m-defaults": Case(lambda: load_okx_candles("5m")),
}
REAL = {name for name in CASES if name.startswith("okx")}


@dataclass
class Ran:
    candles: pd.DataFrame  # as both sides saw them (first bar's OI missing)
    levels: pd.DataFrame
    width: int
    out: dict


def _run_case(case: Case) -> Ran:
    candles = first_oi_missing(case.data())
    levels = indicator.oi_levels(candles, options=case.options)
    width = case.width or exact_width(levels, case.bins) or DRAWING["width"]
    out = run_pine(candles, pine_inputs(case.options, bins=case.bins, width=width,
                                        offset=case.offset))
    return Ran(candles, levels, width, out)


class _Runs:
    """Every case's PineTS run, started together on first use (node is single-threaded)."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._futures: dict[str, Future] = {}

    def get(self, name: str) -> Ran:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 2)
            self._futures = {n: self._pool.submit(_run_case, c) for n, c in CASES.items()}
        return self._futures[name].result()  # re-raises a case's skip (no real data)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)


@pytest.fixture(scope="module")
def runs():
    runs = _Runs()
    yield runs
    runs.close()


def _params():
    for name in CASES:
        marks = [pytest.mark.realdata] if name in REAL else []
        yield pytest.param(name, id=name, marks=marks)


CASE_NAMES = list(_params())


# ---------------------------------------------------------------- the comparisons

def _plot(out: dict, title: str) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in out["plots"][title]], dtype=float)


@pytest.mark.parametrize("name", CASE_NAMES)
def test_every_plot_equals_the_engine(runs, name):
    ran = runs.get(name)
    assert ran.out["warnings"] == []
    expected = expected_plots(ran.candles, CASES[name].options)
    assert list(ran.out["plots"]) == list(expected)
    oi_scale = float(np.nanmax(np.abs(ran.candles["open_interest"])))
    price_scale = float(ran.candles["high"].max())
    for title, want in expected.items():
        got = _plot(ran.out, title)
        assert len(got) == len(ran.candles), title
        # PineTS rounds series values to 10 decimal places.
        scale = oi_scale if title in ("Open Interest", "OI Delta", "Baseline") else price_scale
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * scale + 1e-10,
                                   err_msg=f"{name}: plot {title!r}")
    assert np.nansum(expected["Entry"] > 0) > 5, "the case should trigger"


@pytest.mark.parametrize("name", CASE_NAMES)
def test_drawn_lines_are_the_newest_500_levels(runs, name):
    ran = runs.get(name)
    want = expected_lines(ran.candles, ran.levels)
    got = ran.out["lines"]
    assert len(got) == len(want) == min(500, len(ran.levels))
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        label = f"{name}: line {i} of {len(want)} (level {len(ran.levels) - len(want) + i})"
        assert (g["x1"], g["x2"], g["extend"], g["width"]) == (
            w["x1"], w["x2"], w["extend"], w["width"]), label
        assert g["color"].lower() == w["color"], label
        assert g["y1"] == g["y2"] == pytest.approx(w["price"], rel=1e-12, abs=1e-10), label


@pytest.mark.parametrize("name", CASE_NAMES)
def test_histogram_boxes_equal_the_engine_density(runs, name):
    """Box for box: bin edges, and widths that are the counts themselves when the width input
    is the fullest bin's count (every case but the defaults)."""
    ran, case = runs.get(name), CASES[name]
    assert ran.width == (case.width or exact_width(ran.levels, case.bins))
    want = expected_boxes(ran.candles, ran.levels, bins=case.bins, width=ran.width,
                          offset=case.offset)
    got = ran.out["boxes"]
    assert [(b["left"], b["right"], b["border_color"].lower()) for b in got] == [
        (b["left"], b["right"], b["color"]) for b in want], name
    for g, w in zip(got, want, strict=True):
        assert g["top"] == pytest.approx(w["top"], rel=1e-12, abs=1e-10)
        assert g["bottom"] == pytest.approx(w["bottom"], rel=1e-12, abs=1e-10)


def test_histogram_counts_forgotten_live_lines(runs):
    """Lines deleted from the chart by the 500-line cap still count while live: the histogram
    is density() of every live level, not only of those still drawn."""
    ran = runs.get("sample-vwma-gaps")
    live = ran.levels[ran.levels["end"].isna()]
    drawn = ran.levels.iloc[-500:]
    forgotten = live[~live.index.isin(drawn.index)]
    assert len(ran.levels) > 500 and len(forgotten) > 0.2 * len(live)  # the case tests it
    want = indicator.density(ran.levels, bins=CASES["sample-vwma-gaps"].bins)
    counts = {"long": 0, "short": 0}
    for box in ran.out["boxes"]:  # each box is its bin's count wide here (exact_width)
        side = "long" if box["border_color"].lower() == LONG_COLOR else "short"
        counts[side] += box["right"] - box["left"]
    assert ran.width == exact_width(ran.levels, CASES["sample-vwma-gaps"].bins)
    live_counts = {"long": int(want["long"].sum()), "short": int(want["short"].sum())}
    assert counts == live_counts, (
        f"box widths per side {counts} should be the live lines per side {live_counts}: "
        f"{len(live)} live lines, {len(forgotten)} of them deleted from the chart by the cap")


# ---------------------------------------------------------------- the rest of the script

def _small(n: int = 300) -> pd.DataFrame:
    return first_oi_missing(feeds.sample_candles(n, seed=2))


def test_oi_comes_from_the_binance_symbol_of_the_base_currency():
    out = run_pine(_small(), pine_inputs(OIOptions()), basecurrency="ETH",
                   symbol="OKX:ETHUSDT.P")
    assert "ETHUSDT.P_OI" in out["requests"]  # "BINANCE:" is stripped by PineTS
    assert out["tables"] == [{"position": "top_right", "cells": []}]


def test_an_oi_symbol_without_data_says_so():
    out = run_pine(_small(), {**pine_inputs(OIOptions()), TITLES["oi_symbol"]: "BINANCE:NOPE"})
    assert "NOPE" in out["requests"]
    assert np.isnan(_plot(out, "Open Interest")).all()
    (table,) = out["tables"]
    assert table["cells"] == [
        "No open interest from BINANCE:NOPE: set 'OI symbol' in the inputs"]
    assert out["lines"] == [] and out["boxes"] == []


def test_show_lines_off_draws_no_line_but_keeps_the_histogram():
    candles = _small(700)
    out = run_pine(candles, {**pine_inputs(OIOptions()), TITLES["show_lines"]: False})
    levels = indicator.oi_levels(candles)
    assert out["lines"] == []
    want = expected_boxes(candles, levels, **DRAWING)
    assert [(b["left"], b["right"]) for b in out["boxes"]] == [
        (b["left"], b["right"]) for b in want]


@pytest.mark.parametrize(("inputs", "message"), [
    ({TITLES["leverages"]: "5, 1"}, "Leverages: '1' is not a whole number > 1"),
    ({TITLES["leverages"]: "5, 5"}, "Leverages: 5 is listed twice"),
    ({TITLES["leverages"]: " , "}, "Leverages is empty"),
    ({TITLES["thresholds"][1]: 1.0}, "Thresholds must be positive and strictly increasing"),
    ({TITLES["mmr"]: 0.2}, "Maintenance margin rate must be below 1/L: leverage 5"),
])
def test_bad_inputs_stop_the_script_with_a_message(inputs, message):
    out = run_pine(_small(100), {**pine_inputs(OIOptions()), **inputs})
    assert message in out["error"]


def test_pinets_gives_na_on_the_first_bar_of_a_gaps_on_request():
    """Why the cases make the first bar's OI missing: with it present, PineTS still reads na
    there (TradingView reads the value). If this fails, PineTS changed: drop first_oi_missing."""
    candles = feeds.sample_candles(200, seed=4)
    out = run_pine(candles, pine_inputs(OIOptions()))
    oi = _plot(out, "Open Interest")
    assert np.isnan(oi[0])
    np.testing.assert_allclose(oi[1:], candles["open_interest"].to_numpy()[1:], rtol=1e-12)


def test_input_titles_are_the_scripts():
    source = SCRIPT.read_text(encoding="utf-8")
    titles = [t for v in TITLES.values() for t in (v if isinstance(v, tuple) else (v,))]
    missing = [t for t in titles if f'"{t}"' not in source]
    assert missing == []
    assert f'"{LONG_COLOR}"' not in source and LONG_COLOR in source  # input.color(#089981, ...)
    assert SHORT_COLOR in source
