"""Resumable, verified downloads of archive files, with retries and a rich progress bar."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from ..vocab import FeedError
from . import _retry
from ._config import settings
from ._retry import backoff_delay, parse_retry_after

__all__ = ["NotInArchiveError", "download", "fetch_text"]

_CHUNK = 1 << 20
_USER_AGENT = "liqlevels-feeds"


class _IncompleteError(Exception):
    """The connection ended before the whole file arrived."""


class _NotFoundError(Exception):
    """404/403/410: the archive does not have the file."""


class NotInArchiveError(FeedError):
    """The archive does not have the file (HTTP 404, 403 or 410)."""


@contextlib.contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int | None], None]]:
    """``update(done_bytes, total_bytes)`` driving a transient rich bar, or a no-op."""
    show = settings.progress
    if show is None:
        show = sys.stderr.isatty()
    if not show:
        yield lambda done, total: None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
               TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _open(url: str, offset: int) -> http.client.HTTPResponse:
    headers = {"User-Agent": _USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        return urllib.request.urlopen(request, timeout=settings.download_timeout)
    except urllib.error.HTTPError as exc:
        if exc.code in (403, 404, 410):
            raise _NotFoundError(f"HTTP {exc.code}") from exc
        raise


def _receive(url: str, part: Path, update: Callable[[int, int | None], None]) -> None:
    """Fetch ``url`` into ``part``, continuing from its current size when the server can."""
    offset = part.stat().st_size if part.exists() else 0
    try:
        response = _open(url, offset)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # our partial file is not a prefix of theirs
            part.unlink()
            raise _IncompleteError("range not satisfiable; starting over") from exc
        raise
    with response:
        length = response.headers.get("Content-Length")
        if response.status != 206:
            offset = 0
        total = offset + int(length) if length is not None else None
        done = offset
        with open(part, "ab" if offset else "wb") as handle:
            while chunk := response.read(_CHUNK):
                handle.write(chunk)
                done += len(chunk)
                update(done, total)
    if total is not None and done != total:
        raise _IncompleteError(f"got {done} of {total} bytes")


_RETRYABLE = (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException,
              _IncompleteError)


def _with_retries(url: str, action: Callable[[], object]) -> object:
    tries = max(1, int(settings.tries))
    last: BaseException | None = None
    for attempt in range(tries):
        try:
            return action()
        except _NotFoundError as exc:
            raise NotInArchiveError(f"{url} is not in the archive ({exc})", endpoint=url) from exc
        except urllib.error.HTTPError as exc:
            if exc.code != 429 and exc.code < 500:
                raise FeedError(f"{url}: HTTP {exc.code} {exc.reason}", endpoint=url) from exc
            last, wait = exc, parse_retry_after(exc.headers.get("Retry-After"))
        except _RETRYABLE as exc:
            last, wait = exc, None
        if attempt + 1 < tries:
            _retry._sleep(backoff_delay(attempt, wait))
    raise FeedError(
        f"{url}: download failed after {tries} tries; last error: {type(last).__name__}: {last}",
        endpoint=url,
    ) from last


def fetch_text(url: str) -> str:
    """A small text file (a CHECKSUM), with retries."""

    def action() -> str:
        with _open(url, 0) as response:
            return response.read().decode("utf-8", "replace")

    return str(_with_retries(url, action))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _expected_sha256(checksum_url: str) -> str:
    text = fetch_text(checksum_url).strip()
    token = text.split()[0].lower() if text else ""
    if len(token) != 64 or any(c not in "0123456789abcdef" for c in token):
        raise FeedError(f"{checksum_url} is not a SHA-256 checksum file: {text[:80]!r}",
                        endpoint=checksum_url)
    return token


def download(url: str, dest: Path, *, checksum_url: str | None = None) -> Path:
    """``dest``, downloading ``url`` unless it is already there.

    The bytes go to ``dest.part`` first (kept between attempts and calls, so a broken
    download resumes with an HTTP Range request), are checked against the SHA-256 of
    ``checksum_url`` when given, and only then renamed to ``dest``.

    Raises
    ------
    FeedError
        The file is not in the archive (404), the download keeps failing, or its checksum
        does not match (after one fresh attempt).
    """
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    expected = _expected_sha256(checksum_url) if checksum_url else None
    part = dest.with_name(dest.name + ".part")
    for fresh in (False, True):
        if fresh:
            part.unlink(missing_ok=True)
        with _progress(dest.name) as update:
            _with_retries(url, lambda update=update: _receive(url, part, update))
        actual = _sha256(part) if expected else None
        if actual == expected:
            os.replace(part, dest)
            if checksum_url:
                dest.with_name(dest.name + ".CHECKSUM").write_text(f"{expected}  {dest.name}\n")
            return dest
    part.unlink(missing_ok=True)
    raise FeedError(
        f"{url}: SHA-256 {actual} does not match {expected} from {checksum_url}; the file was "
        f"deleted. Try again later, or report it to the archive", endpoint=url,
    )
