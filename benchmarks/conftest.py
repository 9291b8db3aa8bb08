"""Benchmarks run apart from the tests: ``python -m pytest benchmarks``."""

from __future__ import annotations

import asyncio
import threading

import pytest
from _pages import CHROMIUM

MILLION = 1_000_000


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium through Playwright (the chart benchmarks skip without it)."""
    from playwright.sync_api import sync_playwright

    from liqlevels.charts._browser import CHROMIUM_ARGS

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS))
        yield b
        b.close()


@pytest.fixture(scope="session")
def million_bars():
    """1,000,000 one-minute sample candles, their ``oi_levels`` and the density profile: the
    big-chart benchmarks' data (static and live page), made once per session."""
    from liqlevels import indicator
    from liqlevels.feeds import sample_candles

    candles = sample_candles(n=MILLION, timeframe="1m", seed=11)
    levels = indicator.oi_levels(candles)
    return candles, levels, indicator.density(levels)


@pytest.fixture(scope="module")
def loop():
    """An asyncio loop running on its own thread, for the live pages' servers (hand it
    coroutines with ``_pages.run``)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="bench-loop", daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()
