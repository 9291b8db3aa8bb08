"""The desktop window: lightweight-charts' pywebview window (Qt backend), with our scene drawn.

The window is an optional extra (``pip install 'liqlevels[window]'``). Whether it can open is
decided before anything starts, so a headless machine never waits on a window that cannot
appear.
"""

from __future__ import annotations

import asyncio
import os
import sys
from importlib.util import find_spec
from typing import Any

from ._html import our_js, scene_json

__all__ = ["WindowError", "open_window", "window_script", "window_unavailable"]

_HEADLESS_QPA = ("offscreen", "minimal", "vnc", "eglfs", "linuxfb")
_WEBENGINES = ("PyQt6.QtWebEngineWidgets", "PySide6.QtWebEngineWidgets", "PyQt5.QtWebEngineWidgets")


class WindowError(RuntimeError):
    """The window could not be opened."""


def _has_module(name: str) -> bool:
    try:
        return find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def window_unavailable() -> str | None:
    """Why the window cannot open here, or ``None`` when it can."""
    unix = sys.platform.startswith(("linux", "freebsd", "openbsd"))
    if unix:
        qpa = os.environ.get("QT_QPA_PLATFORM", "")
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                or qpa in _HEADLESS_QPA):
            return "no display (DISPLAY and WAYLAND_DISPLAY are unset)"
    if not _has_module("webview"):
        return "pywebview is not installed (pip install 'liqlevels[window]')"
    if unix and not (_has_module("qtpy") and any(_has_module(m) for m in _WEBENGINES)):
        return ("the Qt backend is not installed: pywebview needs qtpy and Qt WebEngine "
                "(pip install 'liqlevels[window]')")
    return None


def window_script(chart_id: str, scene: dict[str, Any]) -> str:
    """JavaScript drawing ``scene`` on the wrapper's chart ``chart_id`` (``window.xyz``).

    The wrapper joins injected scripts with newlines, so ours begin with ``;``; and pywebview
    serialises a script's value, so it ends in ``void``.
    """
    big = our_js("pyramid.js") if scene.get("candles", {}).get("packed") else ""
    heat = our_js("heatmap.js") if scene.get("heatmap") else ""
    return (
        our_js("liqlevels.js") + "\n" + big + "\n" + heat
        + f"\n;void window.LiqLevels.mountWindow({chart_id}, {scene_json(scene)});\n"
    )


def _prepare_environment() -> None:
    if sys.platform.startswith("linux"):
        os.environ.setdefault("PYWEBVIEW_GUI", "qt")
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            # Qt WebEngine (Chromium) refuses its sandbox as root.
            os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")


def _start(chart: Any, timeout: float) -> None:
    """Start the wrapper's webview process, but give up after ``timeout`` seconds."""
    handler = type(chart).WV
    if handler.wv_process.is_alive():  # a window is already open: ours joins its process
        chart.win.on_js_load()
        return
    handler.loaded_event.clear()
    handler.wv_process.start()
    handler.function_call_queue.put(("start", handler.debug))
    if not handler.loaded_event.wait(timeout):
        handler.exit()
        raise WindowError(f"the chart window did not open within {timeout:g} s")
    chart.win.on_js_load()


def open_window(
    scene: dict[str, Any], *, title: str, width: int, height: int, block: bool, timeout: float
) -> Any:
    """Open the window with ``scene`` drawn; returns the ``lightweight_charts.Chart``."""
    _prepare_environment()
    from lightweight_charts import Chart

    chart = Chart(width=width, height=height, title=title)
    chart.run_script(window_script(chart.id, scene))
    _start(chart, timeout)
    if block:
        asyncio.run(chart.show_async())
    return chart
