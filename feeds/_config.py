"""Settings of the feeds package: retries, archive addresses, progress bars.

One module-level object, :data:`settings`, so that the public functions keep the signatures
the issue fixes while tests and users can still point the archives at another server or make
retries quicker.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["FeedSettings", "settings"]

DEFAULT_ARCHIVE_URLS = {
    "binance": "https://data.binance.vision",
    "bybit": "https://public.bybit.com",
}


def _archive_urls() -> dict[str, str]:
    urls = dict(DEFAULT_ARCHIVE_URLS)
    for name in urls:
        env = os.environ.get(f"LIQLEVELS_{name.upper()}_ARCHIVE_URL")
        if env:
            urls[name] = env.rstrip("/")
    return urls


def _env_number(name: str, default: float, kind: type) -> float:
    """``LIQLEVELS_<name>`` from the environment as ``kind``, else ``default``."""
    text = os.environ.get(f"LIQLEVELS_{name}")
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise ValueError(
            f"environment variable LIQLEVELS_{name}={text!r} is not a {kind.__name__}; "
            f"unset it or give e.g. {default!r}"
        ) from None
    if value < 0:
        raise ValueError(f"environment variable LIQLEVELS_{name}={text!r} must be >= 0")
    return value


@dataclass
class FeedSettings:
    """Knobs of :mod:`feeds`; change the attributes of :data:`feeds.settings` in place.

    Attributes
    ----------
    tries : int
        Attempts per request (REST page or archive file) before giving up; the environment
        variable ``LIQLEVELS_TRIES`` overrides the default of 5 at import.
    backoff : float
        Seconds to wait after the first failure; doubled after each further one
        (``LIQLEVELS_BACKOFF`` overrides the default of 1 s at import).
    max_backoff : float
        Cap of the wait between tries, seconds (a server's ``Retry-After`` is honoured up to
        ``max_retry_after`` instead).
    max_retry_after : float
        Longest ``Retry-After`` honoured, seconds (60); a server asking for a longer wait
        gets a :class:`FeedError` that says when to come back, not a silent wait.
    notify : callable or None
        Called with a one-line message before each retry (``retrying 2/5 in 4 s: <reason>``);
        ``None`` (default) prints it to stderr, so no wait is silent.
    archive_urls : dict of str to str
        Base addresses of the history archives, keyed ``"binance"`` and ``"bybit"``. The
        environment variables ``LIQLEVELS_BINANCE_ARCHIVE_URL`` and
        ``LIQLEVELS_BYBIT_ARCHIVE_URL`` override the defaults at import.
    download_timeout : float
        Socket timeout of archive downloads, seconds.
    progress : bool or None
        Show rich progress bars for downloads: ``None`` (default) when stderr is a terminal.
    settle : int
        Milliseconds after which a bar or snapshot is taken as final: ranges ending later than
        ``now - settle`` are cached only up to the last row received, so that rows the
        exchange publishes late are fetched again next time.
    """

    tries: int = field(default_factory=lambda: int(_env_number("TRIES", 5, int)))
    backoff: float = field(default_factory=lambda: float(_env_number("BACKOFF", 1.0, float)))
    max_backoff: float = 30.0
    max_retry_after: float = 60.0
    archive_urls: dict[str, str] = field(default_factory=_archive_urls)
    download_timeout: float = 30.0
    progress: bool | None = None
    settle: int = 3_600_000
    notify: Callable[[str], None] | None = None


settings = FeedSettings()
