"""The ``liqlevels`` command as a user runs it: a subprocess, its output files and exit codes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from liqlevels import indicator

CHROMIUM = Path("/usr/bin/chromium")


def run(*args: str, cwd: Path | None = None, timeout: float = 180,
        **env_vars: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", **env_vars}
    return subprocess.run([sys.executable, "-m", "liqlevels.cli", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd, env=env, check=False)


@pytest.mark.browser
def test_demo_end_to_end(tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (.ci/run installs it)")
    result = run("demo", "--out", str(tmp_path), "--bars", "800")
    assert result.returncode == 0, result.stderr
    html = (tmp_path / "demo.html").read_text(encoding="utf-8")
    # self-contained: no script, stylesheet or image loaded from elsewhere
    assert not re.search(r"""<(script|link|img)[^>]+(src|href)=["']?(https?:)?//""", html)
    assert "LightweightCharts" in html
    png = (tmp_path / "demo.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    levels = pd.read_csv(tmp_path / "demo-levels.csv")
    assert list(levels.columns) == list(indicator.LEVEL_COLUMNS)
    assert len(levels) > 100
    assert "lines" in result.stdout and str(tmp_path / "demo.html") in result.stdout


def test_demo_without_png_writes_html_and_csv_and_honours_options(tmp_path):
    result = run("demo", "--out", str(tmp_path), "--bars", "400", "--no-png",
                 "--leverages", "10,50", "--direction", "both", "--name", "mine")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "mine.html").exists() and not (tmp_path / "mine.png").exists()
    levels = pd.read_csv(tmp_path / "mine-levels.csv")
    assert set(levels["leverage"]) == {10, 50}
    assert (levels["oi_delta"] < 0).any()  # direction both: falls trigger too


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["demo", "--leverages", "5,x"], 2, ["--leverages", "comma-separated"]),
        (["demo", "--ma-type", "emma"], 2, ["--ma-type", "invalid choice"]),
        (["demo", "--mmr", "0.5", "--no-png"], 1, ["liqlevels: error:", "mmr"]),
        (["demo", "--leverages", "1", "--no-png"], 1, ["liqlevels: error:", "leverages[0]"]),
        (["demo", "--thresholds", "3,2", "--no-png"], 1, ["thresholds", "increasing"]),
        (["nonsense"], 2, ["invalid choice"]),
        ([], 2, ["usage"]),
    ],
)
def test_errors_and_exit_codes(tmp_path, args, code, words):
    result = run(*args, "--out", str(tmp_path)) if args and args[0] == "demo" else run(*args)
    assert result.returncode == code, (result.stdout, result.stderr)
    text = result.stderr + result.stdout
    for word in words:
        assert word in text
    assert "Traceback" not in text


def test_help_lists_commands_with_examples():
    result = run("--help")
    assert result.returncode == 0
    for command in ("demo", "chart"):
        assert command in result.stdout
    sub = run("chart", "--help")
    assert "examples:" in sub.stdout and "BTC/USDT:USDT" in sub.stdout


# --- chart and fetch against a loopback fake exchange ---------------------------------------

@pytest.fixture
def fake_bybit():
    from fakes import fake_exchange

    with fake_exchange("bybit") as (_, server):
        yield server


def _range(server) -> tuple[str, str]:
    data = server.content["SOL"]
    start = pd.Timestamp(int(data.ts[0]), unit="ms", tz="UTC").ceil("1h") + pd.Timedelta("1h")
    return start.isoformat(), (start + pd.Timedelta(days=12)).isoformat()


def test_chart_against_a_fake_exchange(tmp_path, fake_bybit):
    since, until = _range(fake_bybit)
    args = ["chart", "SOL/USDT:USDT", "--exchange", "bybit", "--api-url", fake_bybit.base_url,
            "--since", since, "--until", until, "--cache-dir", str(tmp_path / "cache"),
            "--out", str(tmp_path), "--no-png"]
    result = run(*args)
    assert result.returncode == 0, result.stderr
    levels = pd.read_csv(tmp_path / "SOL-USDT-USDT_1h-levels.csv")
    assert list(levels.columns) == list(indicator.LEVEL_COLUMNS) and len(levels) > 0
    assert (tmp_path / "SOL-USDT-USDT_1h.html").exists()
    assert "288 bars" in result.stdout  # 12 days of hourly bars
    # a second run is served from the cache: no new candle request reaches the exchange
    before = fake_bybit.count(fake_bybit.KLINES)
    again = run(*args)
    assert again.returncode == 0, again.stderr
    assert fake_bybit.count(fake_bybit.KLINES) == before


def test_fetch_fills_the_cache(tmp_path, fake_bybit):
    since, until = _range(fake_bybit)
    result = run("fetch", "SOL/USDT:USDT", "--exchange", "bybit", "--api-url",
                 fake_bybit.base_url, "--since", since, "--until", until,
                 "--cache-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "288 bars" in result.stdout
    assert any(tmp_path.rglob("*.parquet"))


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--exchange", "binanceusd"], ["binanceusd", "binanceusdm"]),
        (["--exchange", "bybit", "--timeframe", "7m"], ["7m"]),
    ],
)
def test_chart_errors_name_the_culprit(tmp_path, fake_bybit, args, words):
    result = run("chart", "SOL/USDT:USDT", "--api-url", fake_bybit.base_url,
                 "--cache-dir", str(tmp_path), "--out", str(tmp_path), "--no-png", *args)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stderr.startswith("liqlevels: error:")
    for word in words:
        assert word in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_symbol_is_named(tmp_path, fake_bybit):
    result = run("chart", "NOPE/USDT:USDT", "--exchange", "bybit", "--api-url",
                 fake_bybit.base_url, "--cache-dir", str(tmp_path), "--no-png",
                 "--out", str(tmp_path))
    assert result.returncode == 1
    assert "NOPE/USDT:USDT" in result.stderr and "Traceback" not in result.stderr


def test_no_network_points_to_demo(tmp_path):
    # a closed loopback port: the connection is refused at once, as with no network
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run("chart", "SOL/USDT:USDT", "--exchange", "bybit", "--api-url",
                 f"http://127.0.0.1:{port}", "--cache-dir", str(tmp_path), "--no-png",
                 "--out", str(tmp_path), timeout=300)
    assert result.returncode == 1, result.stderr
    assert "liqlevels demo" in result.stderr and "Traceback" not in result.stderr
    assert "the connection was refused" in result.stderr and "retrying" not in result.stderr
    assert result.stderr.count("\n") == 1  # one line, at once: no retries


# --- map: the trade-based map from an archive served on loopback ------------------------------

def test_map_command_end_to_end(tmp_path):
    from test_mapping import DAY1, SYMBOL, Archive, synthetic_day

    server = Archive()
    try:
        server.add_binance(DAY1, synthetic_day(DAY1, seed=1))
        result = run("map", SYMBOL, "--exchange", "binance", "--since", f"{DAY1} 06:00",
                     "--until", f"{DAY1} 12:00", "--mode", "top_n", "--threshold", "30",
                     "--archive-url", server.url, "--cache-dir", str(tmp_path / "cache"),
                     "--out", str(tmp_path / "out"), "--no-png")
    finally:
        server.close()
    assert result.returncode == 0, result.stderr
    assert "levels" in result.stdout and "wrote" in result.stdout
    maps = list((tmp_path / "out").glob("*_map.csv"))
    assert len(maps) == 1
    the_map = pd.read_csv(maps[0])
    assert list(the_map.columns) == ["price_low", "price_high", "side", "leverage", "notional"]
    assert set(the_map["leverage"]) <= {10, 25, 50, 100}
    assert list((tmp_path / "out").glob("*_depth.csv"))


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--exchange", "kraken"], ["kraken", "binance", "bybit"]),
        (["--mode", "top_n", "--threshold", "2.5"], ["top_n", "whole"]),
        (["--mode", "portion", "--threshold", "1.5"], ["portion"]),
    ],
)
def test_map_errors(tmp_path, args, words):
    result = run("map", "BTCUSDT", "--start", "2026-06-01", "--end", "2026-06-01T06:00",
                 "--cache-dir", str(tmp_path), "--out", str(tmp_path), "--no-png", *args)
    assert result.returncode == 1, (result.stdout, result.stderr)
    for word in words:
        assert word in result.stderr
    assert "Traceback" not in result.stderr


def test_the_command_table_is_what_the_modules_register():
    """cli.COMMANDS (the summaries --help lists without importing any module) names exactly
    the commands the modules add, each with its own parser."""
    import argparse

    from liqlevels.cli import COMMANDS, build_parser

    full = build_parser()
    sub = next(a for a in full._actions if isinstance(a, argparse._SubParsersAction))
    assert list(sub.choices) == list(COMMANDS)
    for name, parser in sub.choices.items():
        assert parser.prog == f"liqlevels {name}" and parser.add_help
        only = build_parser(name)
        chosen = next(a for a in only._actions if isinstance(a, argparse._SubParsersAction))
        assert list(chosen.choices) == list(COMMANDS)  # the others listed by name
        assert chosen.choices[name].format_help() == parser.format_help()


def test_help_imports_no_command_module_nor_pandas():
    code = ("import sys; from liqlevels.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('pandas', "
            "'numpy', 'ccxt', 'numba', 'playwright') or m.startswith('liqlevels._cmd'))\n"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "HEAVY []" in out, out
    assert "heatmap" in out and "live" in out
