"""The errors and warnings feeds raises."""

from __future__ import annotations

import difflib

from ..indicator import LiqLevelsWarning

__all__ = ["FeedError", "FeedWarning", "check_choice"]


class FeedError(RuntimeError):
    """Market data could not be had: the message names the exchange, endpoint and range.

    Attributes
    ----------
    exchange : str or None
        ccxt id of the exchange (or archive name).
    endpoint : str or None
        The ccxt method or URL that failed.
    """

    def __init__(self, message: str, *, exchange: str | None = None,
                 endpoint: str | None = None) -> None:
        super().__init__(message)
        self.exchange = exchange
        self.endpoint = endpoint


class FeedWarning(LiqLevelsWarning):
    """A recoverable oddity of market data (coarse open interest, a corrupt cache file)."""


def check_choice(name: str, value: object, allowed: tuple[str, ...]) -> str:
    """``value`` if it is one of ``allowed``, else ValueError with a "did you mean"."""
    if isinstance(value, str) and value in allowed:
        return value
    hint = ""
    if isinstance(value, str):
        close = difflib.get_close_matches(value, allowed, n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"{name}={value!r} is not one of {', '.join(map(repr, allowed))}.{hint}")
