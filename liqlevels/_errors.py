"""Errors written for people: one line, what went wrong and what to do; exit code 1."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable

from .vocab import FeedError

__all__ = ["run_guarded"]


def _network_hint(exc: BaseException) -> str:
    try:
        import ccxt
    except ImportError:  # pragma: no cover - ccxt is a dependency
        return ""
    network = (ccxt.NetworkError, ConnectionError, TimeoutError)
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, network):
            return (" (no network? `liqlevels demo` runs offline on a built-in sample)")
        seen = seen.__cause__ or seen.__context__
    return ""


def _expected_errors() -> tuple[type[BaseException], ...]:
    import ccxt

    return (ValueError, TypeError, KeyError, OSError, FeedError, ccxt.BaseError)


def run_guarded(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Wrap a command: expected failures print one ``liqlevels: error:`` line and return 1."""

    @functools.wraps(func)
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except _expected_errors() as exc:
            message = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
            print(f"liqlevels: error: {message}{_network_hint(exc)}", file=sys.stderr)
            return 1

    return run
