"""Benchmarks run apart from the tests: ``python -m pytest benchmarks``."""

from __future__ import annotations

import pytest
from _pages import CHROMIUM


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium through Playwright (the chart benchmarks skip without it)."""
    from playwright.sync_api import sync_playwright

    from liqlevels.charts._browser import CHROMIUM_ARGS

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS))
        yield b
        b.close()
