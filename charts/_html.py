"""One self-contained, offline HTML page: the library, our primitives and the scene as JSON.

Nothing is fetched: Lightweight Charts' JavaScript comes from the installed
``lightweight_charts`` package and is inlined. The scene travels as a JSON ``<script>`` block
read with ``JSON.parse``; text in it (titles, symbols) reaches the page only as
``textContent``, so it can never become markup or script.
"""

from __future__ import annotations

import html
import json
from functools import cache
from importlib import resources
from importlib.util import find_spec
from pathlib import Path
from typing import Any

__all__ = ["document", "lightweight_charts_js", "our_js", "page", "scene_json"]

_DOCUMENT = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="{generator}">
{csp}<title>{title}</title>
<style>
html, body {{ margin: 0; height: 100%; overflow: hidden; background: {background}; }}
#liqlevels {{ position: absolute; inset: 0; display: flex; flex-direction: column; }}
#liqlevels-main {{ position: relative; flex: 1 1 0; min-height: 0; }}
#liqlevels-panes {{ display: none; flex: 0 0 30%; flex-direction: column; }}
</style>
</head>
<body>
<div id="liqlevels"><div id="liqlevels-main"></div><div id="liqlevels-panes"></div></div>
{scripts}
</body>
</html>
"""


def document(*, title: str, background: str, scripts: list[str], generator: str = "liqlevels",
             csp: str | None = None) -> str:
    """The page around the chart: head, styles, the chart's elements, then ``scripts``
    (whole ``<script>`` elements, already checked). The static and the live page share it."""
    meta = "" if csp is None else (
        f'<meta http-equiv="Content-Security-Policy" content="{html.escape(csp, quote=True)}">\n')
    return _DOCUMENT.format(generator=html.escape(generator, quote=True), csp=meta,
                            title=html.escape(title, quote=True),
                            background=html.escape(background, quote=True),
                            scripts="\n".join(scripts))


# Inside <script> the HTML parser only cares about "</script" and "<!--"; escaping every "<"
# (and ">", "&", the JS line separators) in the JSON keeps any string from ending the block.
_JSON_ESCAPES: tuple[tuple[str, str], ...] = (
    ("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
    ("\u2028", "\\u2028"), ("\u2029", "\\u2029"),
)


def scene_json(scene: dict[str, Any]) -> str:
    """The scene as JSON safe to place inside a ``<script>`` element (and valid JS)."""
    text = json.dumps(scene, allow_nan=False, separators=(",", ":"))
    for char, escape in _JSON_ESCAPES:
        text = text.replace(char, escape)
    return text


def _checked_script(text: str, origin: str) -> str:
    lowered = text.lower()
    if "</script" in lowered or "<!--" in lowered:
        raise RuntimeError(f"{origin} contains '</script' or '<!--' and cannot be inlined")
    return text


@cache
def lightweight_charts_js() -> str:
    """Lightweight Charts' standalone build, from the installed ``lightweight_charts`` package.

    The package is located, not imported (importing it pulls in IPython and takes seconds).
    """
    spec = find_spec("lightweight_charts")
    if spec is None or spec.origin is None:
        raise RuntimeError("the lightweight-charts package is not installed: "
                           "pip install 'lightweight-charts>=2.1'")
    path = Path(spec.origin).parent / "js" / "lightweight-charts.js"
    return _checked_script(path.read_text(encoding="utf-8"), str(path))


@cache
def our_js(name: str) -> str:
    """One of our bundled scripts, ``charts/js/<name>``; each begins with ``;``."""
    text = resources.files(__package__).joinpath("js", name).read_text(encoding="utf-8")
    return _checked_script(text, f"charts/js/{name}")


def page(scene: dict[str, Any], *, title: str, background: str) -> str:
    """The whole HTML page for a scene (``heatmap.js`` only when the scene has a heatmap,
    ``pyramid.js`` only when its candles are packed)."""
    packed = scene.get("candles", {}).get("packed")
    ours = ["liqlevels.js", *(["pyramid.js"] if packed else []),
            *(["heatmap.js"] if scene.get("heatmap") else []), "page.js"]
    return document(title=title, background=background, scripts=[
        f'<script type="application/json" id="liqlevels-scene">{scene_json(scene)}</script>',
        f"<script>{lightweight_charts_js()}</script>",
        *(f"<script>{our_js(name)}</script>" for name in ours),
    ])
