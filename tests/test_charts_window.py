"""charts: the desktop window (pywebview, Qt backend), opened offscreen in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from liqlevels import charts
from liqlevels.charts import _window

ROOT = Path(__file__).resolve().parents[1]

# Runs in its own process: Qt and the wrapper's webview process must not share ours.
SCRIPT = textwrap.dedent(
    """
    import faulthandler, json, sys, time
    from liqlevels import charts, feeds, indicator

    faulthandler.dump_traceback_later(90, exit=True)  # a hang shows where, then ends

    opts = json.loads(sys.argv[2])
    candles = feeds.sample_candles(n=opts["n"], seed=3)
    levels = indicator.oi_levels(candles)
    scene = charts.Scene(candles, levels, indicator.density(levels),
                         oi=indicator.oi_signals(candles), symbol="<img src=x onerror=alert(1)>",
                         aggregate=opts["aggregate"], visible_bars=opts["visible"])
    chart = scene.show(block=False, width=1200, height=700, timeout=60)
    if not hasattr(chart, "win"):
        print(json.dumps({"fallback": str(chart)}))
        sys.exit(0)
    try:
        deadline = time.time() + 30
        while not chart.win.run_script_and_get("!!(window.__liqlevels && __liqlevels.ready)"):
            if time.time() > deadline:
                raise SystemExit("the window never reported ready")
            time.sleep(0.1)
        report = json.loads(chart.win.run_script_and_get(
            "JSON.stringify({candles: __liqlevels.candles, lines: __liqlevels.lines,"
            " bars: __liqlevels.bars, heading: document.querySelector('.ll-title').textContent,"
            " images: document.images.length,"
            " panes: document.querySelectorAll('.ll-pane').length})"))
        targets = json.loads(sys.argv[1])
        # The wrapper's own screenshot (the chart canvas), its pixels counted in the window.
        report["hits"] = json.loads(chart.win.run_script_and_get('''(function () {
            var cv = %s.chart.takeScreenshot(), d = cv.getContext('2d')
                .getImageData(0, 0, cv.width, cv.height).data;
            var targets = %s, hits = targets.map(function () { return 0; });
            for (var i = 0; i < d.length; i += 4) {
                for (var k = 0; k < targets.length; k++) {
                    var t = targets[k];
                    if (Math.abs(d[i] - t[0]) <= 6 && Math.abs(d[i + 1] - t[1]) <= 6
                        && Math.abs(d[i + 2] - t[2]) <= 6) hits[k]++;
                }
            }
            return JSON.stringify(hits);
        })()''' % (chart.id, json.dumps(targets))))
        if opts["aggregate"]:  # zoomed out it shows buckets; zoomed in, the candles
            state = "JSON.stringify(__liqlevels.handle.big.state())"
            report["big"] = [json.loads(chart.win.run_script_and_get(state))]
            chart.win.run_script(chart.id + ".chart.timeScale()"
                                 ".setVisibleLogicalRange({from: 100, to: 103})")
            time.sleep(1.0)
            report["big"].append(json.loads(chart.win.run_script_and_get(state)))
        png = chart.screenshot()
        report["png"] = png[:8] == b"\\x89PNG\\r\\n\\x1a\\n" and len(png) > 10000
        report["expected"] = scene.counts
        print(json.dumps(report))
    finally:
        chart.exit()
    """
)


def _offscreen_env() -> dict[str, str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    return env


def _rgb(color: str) -> list[int]:
    return [int(color[i:i + 2], 16) for i in (1, 3, 5)]


@pytest.mark.browser
@pytest.mark.parametrize("opts", [{"n": 400, "aggregate": None, "visible": 500},
                                  {"n": 6000, "aggregate": True, "visible": None}],
                         ids=["json", "packed"])
def test_window_opens_offscreen_with_candles_and_lines(monkeypatch, opts):
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    reason = _window.window_unavailable()
    if reason is not None:
        pytest.skip(f"the window cannot open here: {reason}")
    from liqlevels.charts import _palette as pal

    targets = [_rgb(pal.CANDLE_UP), _rgb(pal.CANDLE_DOWN),
               *(_rgb(charts.LEVERAGE_COLORS[L]) for L in (10, 25, 50))]
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(targets), json.dumps(opts)],
        env=_offscreen_env(), cwd=ROOT,
        capture_output=True, text=True, timeout=150,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert "fallback" not in report, run.stderr[-3000:]
    expected = report.pop("expected")
    assert {k: report[k] for k in ("candles", "lines", "bars")} == expected
    assert expected["lines"] > 100
    assert report["heading"] == "<img src=x onerror=alert(1)>"
    assert report["images"] == 0
    assert report["panes"] == 2
    assert report["png"]
    up, down, *levs = report["hits"]
    assert up > 100 and down > 100, report["hits"]  # candles
    assert sum(levs) > 300 and min(levs) > 0, report["hits"]  # lines in leverage colours
    if opts["aggregate"]:
        coarse, fine = report["big"]
        assert coarse["seconds"] > 0 and coarse["to"] - coarse["from"] == coarse["buckets"]
        assert fine["seconds"] == 0 and fine["buckets"] == opts["n"]
