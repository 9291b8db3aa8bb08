"""The chart benchmarks' one way to time a page: open it in Chromium, wait until the page
says it is ready, read what it reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")


def load_ready(browser: Any, path: Path | str, report: str, *, timeout: float = 60_000) -> Any:
    """Open ``path`` (a file, or a URL string such as a live page's) in a fresh 1400 x 800
    page of ``browser``, wait for ``window.__liqlevels.ready``, return the value of the
    JavaScript expression ``report``."""
    page = browser.new_page(viewport={"width": 1400, "height": 800})
    try:
        page.goto(path if isinstance(path, str) else path.as_uri(), timeout=timeout)
        page.wait_for_function("() => window.__liqlevels && window.__liqlevels.ready",
                               timeout=timeout)
        return page.evaluate(f"() => ({report})")
    finally:
        page.close()


def run(loop: Any, coro: Any, timeout: float = 30.0) -> Any:
    """Run ``coro`` on ``loop`` (the conftest ``loop`` fixture's thread) and wait for it."""
    import asyncio

    return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)
