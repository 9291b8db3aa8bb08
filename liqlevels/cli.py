"""The ``liqlevels`` command: one sub-command per module, each with ``register(subparsers)``.

Exit codes: 0 success, 1 bad input or data error, 2 usage (argparse), 130 interrupted.
Every error is one ``liqlevels: error:`` line on stderr that names the flag or the culprit.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any, NoReturn

from . import __version__

#: Every command: the module whose ``register(subparsers) -> None`` adds it (the parser it
#: adds sets ``func(args) -> int`` with ``set_defaults``), and its one-line summary (the one
#: home of it: ``--help`` lists these without importing any command module, so it stays fast).
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("liqlevels._cmd_chart",
             "draw the levels on a built-in synthetic sample (no network)"),
    "chart": ("liqlevels._cmd_chart",
              "fetch a symbol through ccxt and draw its liquidation levels"),
    "fetch": ("liqlevels._cmd_data", "fill the local cache with candles and open interest"),
    "map": ("liqlevels._cmd_map",
            "trade-based liquidation map from Binance and/or Bybit trade archives"),
    "compare": ("liqlevels._cmd_compare",
                "check our numbers against a TradingView chart export, bar by bar"),
    "live": ("liqlevels._cmd_live",
             "a chart that moves: levels, trade map and liquidations from websockets"),
    "heatmap": ("liqlevels._cmd_heatmap",
                "the liquidation levels as a heatmap behind the candles"),
    "study": ("liqlevels._cmd_study",
              "does price go to the clusters? touch rates against base rates, with intervals"),
    "scan": ("liqlevels._cmd_scan",
             "rank every symbol of an exchange by its nearest dense liquidation cluster"),
}


class _Summaries:
    """What a command module's ``register`` sees as ``subparsers``: each parser it adds gets
    the table's summary; a command not wanted now goes to a parser that is thrown away."""

    def __init__(self, subparsers: Any, wanted: set[str]) -> None:
        self._subparsers = subparsers
        self._wanted = wanted

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        if name not in COMMANDS:
            raise KeyError(f"command {name!r} is missing from liqlevels.cli.COMMANDS")
        if name not in self._wanted:
            return argparse.ArgumentParser(prog=f"liqlevels {name}", add_help=False)
        return self._subparsers.add_parser(name, help=COMMANDS[name][1], **kwargs)


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one ``liqlevels: error:`` line (exit 2) pointing at
    the command's ``--help`` instead of the whole usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"liqlevels: error: {message} (see `{self.prog} --help`)\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser: every command complete, or with ``command`` only that one (the
    others listed by name and summary, their modules not imported: what :func:`main` uses,
    so that ``liqlevels --help`` and each command start fast)."""
    parser = _Parser(
        prog="liqlevels",
        description="Liquidation levels for crypto futures: OI-delta lines and trade-based maps.",
    )
    parser.add_argument("--version", action="version", version=f"liqlevels {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = set(COMMANDS) if command is None else {command} & set(COMMANDS)
    registered: set[str] = set()
    for name, (module, summary) in COMMANDS.items():
        if name not in wanted:
            subparsers.add_parser(name, help=summary, add_help=False)
        elif module not in registered:
            registered.add(module)
            importlib.import_module(module).register(_Summaries(subparsers, wanted))
    return parser


def _command_of(argv: list[str]) -> str:
    """The command named in ``argv``: its first word that is not an option ("" for none)."""
    return next((word for word in argv if not word.startswith("-")), "")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_command_of(argv))
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
