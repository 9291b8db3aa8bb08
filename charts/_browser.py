"""Headless Chromium through Playwright: load a page offline, wait for the chart, screenshot it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["CHROMIUM_ARGS", "chromium_path", "open_page", "screenshot"]

CHROMIUM_ARGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
_DEFAULT_CHROMIUM = "/usr/bin/chromium"
_GET_ONE = ("a PNG needs Chromium: `playwright install chromium`, or Debian's "
            "`apt-get install chromium`, or LIQLEVELS_CHROMIUM=/path/to/chrome")
_READY = "() => window.__liqlevels && (window.__liqlevels.ready || window.__liqlevels.error)"


def chromium_path() -> str | None:
    """The Chromium executable: ``$LIQLEVELS_CHROMIUM``, Debian's ``/usr/bin/chromium``, or
    ``chromium``/``chromium-browser``/``google-chrome`` on the PATH; ``None`` if none."""
    env = os.environ.get("LIQLEVELS_CHROMIUM")
    if env:
        return env
    if Path(_DEFAULT_CHROMIUM).exists():
        return _DEFAULT_CHROMIUM
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _block_network(route: Any) -> None:
    """Only ``file:``, ``data:`` and ``about:`` URLs load; the page is meant to be offline."""
    if route.request.url.split(":", 1)[0] in ("file", "data", "about", "blob"):
        route.continue_()
    else:
        route.abort()


@contextmanager
def open_page(path: Path, *, width: int, height: int, timeout: float = 60.0) -> Iterator[Any]:
    """A Playwright page with ``path`` loaded and the chart drawn (``__liqlevels.ready``).

    Raises
    ------
    RuntimeError
        When Playwright or Chromium is missing, Chromium cannot start, or the page reports
        an error; the message says in one line how to get a browser.
    """
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise RuntimeError(f"Playwright is not installed (pip install playwright); "
                           f"{_GET_ONE}") from None
    with sync_playwright() as pw:
        browser = _launch(pw, chromium_path(), PlaywrightError)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.route("**/*", _block_network)
            page.goto(path.resolve().as_uri(), wait_until="load", timeout=timeout * 1000)
            page.wait_for_function(_READY, timeout=timeout * 1000)
            error = page.evaluate("() => window.__liqlevels.error")
            if error:
                raise RuntimeError(f"the chart page failed: {error}")
            yield page
        finally:
            browser.close()


def _launch(pw: Any, exe: str | None, error: type[Exception]) -> Any:
    """Chromium at ``exe``, or Playwright's own browser when none was found."""
    try:
        if exe is None:
            return pw.chromium.launch(args=list(CHROMIUM_ARGS))
        return pw.chromium.launch(executable_path=exe, args=list(CHROMIUM_ARGS))
    except error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        where = f"Chromium at {exe}" if exe else "no Chromium found, and Playwright's own"
        raise RuntimeError(f"{where} cannot start ({first[:160]}); {_GET_ONE}") from None


def _screenshot(html_path: Path, png_path: Path, width: int, height: int) -> Path:
    with open_page(html_path, width=width, height=height) as page:
        page.screenshot(path=str(png_path), full_page=False)
    return png_path


def screenshot(html_path: Path, png_path: Path, *, width: int, height: int) -> Path:
    """Screenshot the page at ``html_path`` into ``png_path`` (PNG, ``width`` x ``height``).

    Playwright's sync API refuses to run inside an asyncio loop (Jupyter) or beside another
    sync Playwright session, so it runs in a thread of its own.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="liqlevels-png") as pool:
        return pool.submit(_screenshot, html_path, png_path, width, height).result()
