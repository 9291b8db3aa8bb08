"""Command-line arguments the commands share: number lists and the six method options."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from .indicator import OI_OPTION_NAMES, OIOptions
from .vocab import DIRECTIONS, MA_TYPES

__all__ = ["add_method_options", "method_options", "number_list"]


def number_list(kind: Callable[[str], Any], what: str) -> Callable[[str], tuple[Any, ...]]:
    """An argparse ``type`` reading ``"5,10,25"`` as a tuple of ``kind``."""

    def parse(text: str) -> tuple[Any, ...]:
        try:
            values = tuple(kind(part) for part in text.split(",") if part.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a comma-separated list of {what}, e.g. 5,10,25"
            ) from None
        if not values:
            raise argparse.ArgumentTypeError(f"give at least one of the {what}")
        return values

    return parse


def _listed(values: tuple[Any, ...]) -> str:
    return ",".join(f"{v:g}" for v in values)


def add_method_options(parser: argparse.ArgumentParser, *,
                       title: str = "method (docs/method.md section 1)",
                       leverages_help: str | None = None) -> None:
    """``--ma-length``, ``--ma-type``, ``--thresholds``, ``--leverages``, ``--direction`` and
    ``--mmr``, with ``OIOptions``' defaults and choices. ``leverages_help`` given: the
    leverages default to ``None`` (the command picks them) and this is their help."""
    default = OIOptions()
    group = parser.add_argument_group(title)
    group.add_argument("--ma-length", type=int, default=default.ma_length,
                       help=f"baseline bars ({default.ma_length})")
    group.add_argument("--ma-type", default=default.ma_type, choices=MA_TYPES,
                       help=f"baseline average ({default.ma_type})")
    group.add_argument("--thresholds", type=number_list(float, "numbers"),
                       default=default.thresholds,
                       help=f"tier multiples of the baseline ({_listed(default.thresholds)})")
    group.add_argument("--leverages", type=number_list(int, "whole numbers"),
                       default=None if leverages_help else default.leverages,
                       help=leverages_help or f"leverages ({_listed(default.leverages)})")
    group.add_argument("--direction", default=default.direction, choices=DIRECTIONS,
                       help=f"which OI changes trigger ({default.direction})")
    group.add_argument("--mmr", type=float, default=default.mmr,
                       help=f"maintenance margin rate, e.g. 0.004 ({default.mmr:g})")


def method_options(args: argparse.Namespace, **overrides: Any) -> OIOptions:
    """The ``OIOptions`` of parsed arguments (``overrides`` win), checked: a bad value raises
    ``ValueError``/``TypeError`` naming it, which ``run_guarded`` prints on one line."""
    given = {name: getattr(args, name) for name in OI_OPTION_NAMES}
    return OIOptions(**{**given, **overrides})
