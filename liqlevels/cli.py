"""The ``liqlevels`` command: one sub-command per module, each with ``register(subparsers)``.

Exit codes: 0 success, 1 bad input or data error, 2 usage (argparse), 130 interrupted.
Every error is one ``liqlevels: error:`` line on stderr that names the flag or the culprit.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import NoReturn

from . import __version__

# Each module defines ``register(subparsers) -> None``; the parser it adds sets
# ``func(args) -> int`` with ``set_defaults``.
_COMMAND_MODULES: tuple[str, ...] = (
    "liqlevels._cmd_chart",
    "liqlevels._cmd_data",
    "liqlevels._cmd_map",
    "liqlevels._cmd_compare",
    "liqlevels._cmd_live",
    "liqlevels._cmd_heatmap",
    "liqlevels._cmd_scan",
)


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one ``liqlevels: error:`` line (exit 2) pointing at
    the command's ``--help`` instead of the whole usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"liqlevels: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every sub-command registered."""
    parser = _Parser(
        prog="liqlevels",
        description="Liquidation levels for crypto futures: OI-delta lines and trade-based maps.",
    )
    parser.add_argument("--version", action="version", version=f"liqlevels {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("liqlevels: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
