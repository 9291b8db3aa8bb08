"""Command-line arguments the commands share: number lists and the six method options."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from .indicator import OI_OPTION_NAMES, OIOptions
from .vocab import DIRECTIONS, MA_TYPES, timeframe_ms, to_timestamp

__all__ = [
    "add_method_options",
    "base_url",
    "check_window",
    "method_options",
    "number_list",
    "out_folder",
    "positive_number",
    "timeframe",
    "utc_time",
    "whole_number",
]


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
    try:
        return OIOptions(**{**given, **overrides})
    except (TypeError, ValueError) as exc:
        raise type(exc)(_with_flag(str(exc))) from None


def _with_flag(message: str) -> str:
    """``"mmr=0.5 must be ..."`` as ``"--mmr: mmr=0.5 must be ..."``: the flag a user typed
    first, the engine's words after it."""
    for name in sorted(OI_OPTION_NAMES, key=len, reverse=True):
        if message.startswith(name):
            return f"--{name.replace('_', '-')}: {message}"
    return message


# --------------------------------------------------------------------------------------------
# Values checked while parsing: a bad one is a usage error naming its flag (`--bars 0`),
# before anything touches the network.
# --------------------------------------------------------------------------------------------


def whole_number(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse ``type``: a whole number in ``[low, high]``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            span = f">= {low}" if high is None else f"from {low} to {high}"
            raise argparse.ArgumentTypeError(f"{value} is out of range: give a number {span}")
        return value

    return parse


def base_url(*schemes: str) -> Callable[[str], str]:
    """An argparse ``type``: ``SCHEME://HOST[:PORT]`` with one of ``schemes`` (paths are the
    exchange's own and are kept, so none is taken here)."""

    def parse(text: str) -> str:
        parts = urlsplit(text)
        if parts.scheme not in schemes or not parts.hostname or parts.path.strip("/"):
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a base URL like {schemes[0]}://127.0.0.1:8080 (scheme "
                f"{' or '.join(schemes)}, a host, an optional port, no path)")
        return text.rstrip("/")

    return parse


def positive_number(what: str) -> Callable[[str], float]:
    """An argparse ``type``: a finite number > 0 (``what`` says what it measures)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of {what}") from None
        if not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"{text} is out of range: give {what} > 0")
        return value

    return parse


def utc_time(text: str) -> pd.Timestamp:
    """An argparse ``type``: a UTC time (naive means UTC), not in the future."""
    try:
        stamp = to_timestamp(text, "time")
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time; use e.g. 2026-06-01 or '2026-06-01 12:00' (UTC)"
        ) from None
    if stamp > pd.Timestamp.now(tz="UTC"):
        raise argparse.ArgumentTypeError(f"{text!r} is in the future (UTC); no bars exist yet")
    return stamp


def timeframe(text: str) -> str:
    """An argparse ``type``: a ccxt timeframe such as 1m, 15m, 1h, 1d."""
    try:
        timeframe_ms(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a timeframe like 1m, 5m, 1h, 4h or 1d"
        ) from None
    return text


def out_folder(text: str) -> Path:
    """An argparse ``type``: a folder to write into (made if missing), not an existing file."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a file; give a folder to write into")
    return path


def check_window(args: argparse.Namespace) -> None:
    """``--since`` before ``--until``, else ``ValueError`` naming both."""
    since, until = getattr(args, "since", None), getattr(args, "until", None)
    if since is not None and until is not None and since >= until:
        raise ValueError(f"--since {since} is not before --until {until}: the window is "
                         f"[since, until)")
