"""Retries with exponential backoff, honouring ``Retry-After``, around ccxt calls."""

from __future__ import annotations

import email.utils
import json
import re
import socket
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import ccxt
import pandas as pd

from ..vocab import FeedError
from ._config import settings
from ._time import fmt_ms

__all__ = ["backoff_delay", "call_exchange", "parse_retry_after", "span_text"]

T = TypeVar("T")
_sleep = time.sleep  # tests replace it to record the waits instead of sleeping


class GarbledResponse(ccxt.NetworkError):
    """The exchange answered with a body that is not whole JSON (a truncated page)."""


def parse_retry_after(value: object) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date)."""
    if value is None:
        return None
    text = str(value).strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def backoff_delay(attempt: int, retry_after: float | None, what: str = "the server") -> float:
    """Seconds to wait before try ``attempt + 2``: the server's word, else doubling backoff.

    Raises
    ------
    FeedError
        The server asks for a wait beyond ``settings.max_retry_after``: the message says
        when to come back instead of waiting in silence.
    """
    if retry_after is not None:
        if retry_after > settings.max_retry_after:
            back = pd.Timestamp.now(tz="UTC") + pd.Timedelta(seconds=retry_after)
            raise FeedError(
                f"{what} is rate-limiting: it asks to wait {retry_after:.0f} s (Retry-After); "
                f"try again after {back:%Y-%m-%d %H:%M:%S} UTC"
            )
        return retry_after
    return min(settings.backoff * 2.0**attempt, settings.max_backoff)


def unreachable(exc: BaseException) -> str | None:
    """Why the host cannot be reached at all, or ``None``: a name that does not resolve or
    a refused connection, where retrying cannot help."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, socket.gaierror) or type(seen).__name__ == "NameResolutionError":
            return "the host name does not resolve"
        if isinstance(seen, ConnectionRefusedError):
            return "the connection was refused"
        reason = getattr(seen, "reason", None)  # urllib's URLError wraps its cause here
        if isinstance(reason, BaseException) and reason is not seen:
            seen = reason
            continue
        seen = seen.__cause__ or seen.__context__
    return None


def retry_notice(what: str, attempt: int, tries: int, delay: float, reason: object) -> None:
    """Say that try ``attempt + 2`` of ``tries`` comes in ``delay`` s, and why."""
    text = str(reason).splitlines()[0] if str(reason) else type(reason).__name__
    message = f"{what}: retrying {attempt + 2}/{tries} in {delay:g} s: {text[:200]}"
    if settings.notify is not None:
        settings.notify(message)
    else:
        print(message, file=sys.stderr, flush=True)


def span_text(since: int | None, until: int | None) -> str:
    """`` for <since> to <until>`` for messages, empty when neither is known."""
    if since is None and until is None:
        return ""
    return f" for {fmt_ms(since)} to {fmt_ms(until)}"


def _header(exchange: ccxt.Exchange, name: str) -> object:
    headers = getattr(exchange, "last_response_headers", None) or {}
    for key, value in dict(headers).items():
        if str(key).lower() == name.lower():
            return value
    return None


def _garbled(exchange: ccxt.Exchange) -> bool:
    """True when the last body received is not whole JSON."""
    body = getattr(exchange, "last_http_response", None)
    if not isinstance(body, str):
        return False
    try:
        json.loads(body)
    except ValueError:
        return True
    return False


def _client_error(exc: Exception) -> bool:
    """True for an HTTP 4xx that ccxt files under "not available" (a proxy's 400 or 404
    page): retrying cannot help. 408, 425 and 429 are worth retrying."""
    match = re.search(r"\b(?:GET|POST|PUT|DELETE)\s+\S+\s+(\d{3})\b", str(exc))
    return bool(match) and 400 <= int(match.group(1)) < 500 and match.group(1) not in (
        "408", "425", "429")


def _endpoint(exchange: ccxt.Exchange, method: str) -> str:
    url = getattr(exchange, "last_request_url", None)
    return f"{method} (GET {urlsplit(url).path})" if url else method


def _attempt(exchange: ccxt.Exchange, fn: Callable[..., T], args: tuple, kwargs: dict
             ) -> tuple[T | None, Exception | None, float | None]:
    """One try: (result, None, None) or (None, retryable error, Retry-After seconds)."""
    try:
        result = fn(*args, **kwargs)
    except (ccxt.DDoSProtection, ccxt.RateLimitExceeded, ccxt.ExchangeNotAvailable) as exc:
        if _client_error(exc):
            raise ccxt.BadRequest(str(exc)) from exc
        return None, exc, parse_retry_after(_header(exchange, "Retry-After"))
    except ccxt.NetworkError as exc:
        return None, exc, None
    except ccxt.BaseError:
        raise
    except Exception as exc:  # ccxt choked on a body it could not parse
        if not _garbled(exchange):
            raise
        return None, GarbledResponse(f"unparseable response body ({exc})"), None
    if not result and _garbled(exchange):
        return None, GarbledResponse("truncated or unparseable response body"), None
    return result, None, None


def call_exchange(exchange: ccxt.Exchange, method: str, span: tuple[int | None, int | None],
                  fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` with retries on network errors, 429 and 5xx.

    ``span`` is the ``(since, until)`` range in epoch ms the call is about, for messages.

    Raises
    ------
    FeedError
        After the last try, or at once for a non-network error, naming the exchange, the
        endpoint and the range.
    """
    tries = max(1, int(settings.tries))
    last: Exception | None = None
    where = span_text(*span)
    for attempt in range(tries):
        exchange.last_request_url = None
        exchange.last_http_response = None
        exchange.last_response_headers = None
        try:
            result, last, retry_after = _attempt(exchange, fn, args, kwargs)
        except ccxt.BaseError as exc:
            raise FeedError(
                f"{exchange.id} {_endpoint(exchange, method)}{where} failed: "
                f"{type(exc).__name__}: {exc}", exchange=exchange.id, endpoint=method,
            ) from exc
        if last is None:
            return result  # type: ignore[return-value]
        cause = unreachable(last)
        if cause is not None:
            raise FeedError(
                f"{exchange.id} {_endpoint(exchange, method)}{where} failed: {cause} "
                f"({type(last).__name__}); check the network or --api-url",
                exchange=exchange.id, endpoint=method,
            ) from last
        if attempt + 1 < tries:
            delay = backoff_delay(attempt, retry_after, exchange.id)
            retry_notice(f"{exchange.id} {method}", attempt, tries, delay,
                         f"{type(last).__name__}: {last}")
            _sleep(delay)
    raise FeedError(
        f"{exchange.id} {_endpoint(exchange, method)}{where} failed after "
        f"{tries} tries; last error: {type(last).__name__}: {last}",
        exchange=exchange.id, endpoint=method,
    ) from last
