"""Cold start (issue 20 item 5): ``liqlevels --help`` <= 0.6 s and ``liqlevels demo --no-png``
<= 1.2 s, each a fresh process. Baselines in the same run: a bare interpreter, one that only
imports pandas (the floor of any command that computes), and the old ``--help`` (the full
parser, every command module imported).

``python -m pytest benchmarks/bench_cold_start.py``
"""

from __future__ import annotations

import subprocess
import sys

import pytest

ROUNDS = 7


def _run(*args: str) -> None:
    subprocess.run([sys.executable, "-P", *args], check=True, capture_output=True)


def _bench(benchmark, *args: str) -> None:
    benchmark.pedantic(_run, args=args, rounds=ROUNDS, iterations=1, warmup_rounds=1)


def bench_python_bare(benchmark):
    _bench(benchmark, "-c", "pass")


def bench_import_pandas(benchmark):
    _bench(benchmark, "-c", "import pandas")


def bench_help(benchmark):
    _bench(benchmark, "-m", "liqlevels.cli", "--help")


def bench_help_full_parser_baseline(benchmark):
    """The old path: every command module imported to build the parser."""
    _bench(benchmark, "-c", "from liqlevels.cli import build_parser; "
                            "build_parser().format_help()")


def bench_chart_help(benchmark):
    _bench(benchmark, "-m", "liqlevels.cli", "chart", "--help")


@pytest.mark.parametrize("bars", [3000])
def bench_demo_no_png(benchmark, tmp_path, bars):
    _bench(benchmark, "-m", "liqlevels.cli", "demo", "--no-png", "--bars", str(bars),
           "--out", str(tmp_path))
