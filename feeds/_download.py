"""Resumable, verified downloads of archive files, with retries and a rich progress bar.

Nothing unverified is cached: a download lands in ``<file>.part``, is checked (the SHA-256
of the archive's ``.CHECKSUM``, and/or a ``verify`` function such as a whole-gzip check)
and only then renamed into place, its SHA-256 kept beside it. A cached file is checked
against that before each use and fetched anew when bad. ``<file>.lock`` (``flock``) lets
one downloader of a file work at a time, across threads and processes; the others wait,
then find the file cached.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

from ..vocab import FeedError, FeedWarning
from . import _retry
from ._config import settings
from ._progress import byte_progress
from ._retry import backoff_delay, parse_retry_after, retry_notice, unreachable

try:
    import fcntl
except ImportError:  # Windows: msvcrt.locking instead
    fcntl = None  # type: ignore[assignment]

__all__ = ["NotInArchiveError", "Verifier", "checksum_digest", "download", "fetch_text"]

Verifier = Callable[[Path], "str | None"]
"""Why a file is not what it should be (a phrase for messages), or ``None`` when it is."""

_CHUNK = 1 << 20
_USER_AGENT = "liqlevels-feeds"


class _IncompleteError(Exception):
    """The connection ended before the whole file arrived."""


class _NotFoundError(Exception):
    """404/403/410: the archive does not have the file."""


class NotInArchiveError(FeedError):
    """The archive does not have the file (HTTP 404, 403 or 410)."""


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
        cause = unreachable(last)
        if cause is not None:
            raise FeedError(f"{url}: {cause} ({type(last).__name__}); check the network or "
                            f"the archive URL", endpoint=url) from last
        if attempt + 1 < tries:
            delay = backoff_delay(attempt, wait, url)
            retry_notice(f"download {url}", attempt, tries, delay, f"{type(last).__name__}: {last}")
            _retry._sleep(delay)
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


def checksum_digest(text: str, name: str) -> str:
    """The SHA-256 in a ``.CHECKSUM`` file's ``text``: one line ``<64 hex digits>  <name>``.

    Raises
    ------
    ValueError
        Not that format, or the checksum of another file than ``name`` (says which).
    """
    match = re.fullmatch(r"\s*([0-9a-fA-F]{64})[ \t]+\*?(\S+)\s*", text)
    if match is None:
        raise ValueError(f"not '<64 hex digits>  {name}' but {text[:80]!r}")
    if match.group(2) != name:
        raise ValueError(f"it is the checksum of {match.group(2)!r}, not of {name!r}")
    return match.group(1).lower()


def _checksum_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".CHECKSUM")


def _served_sha256(checksum_url: str, name: str) -> str:
    """The SHA-256 the archive publishes now for the file ``name``."""
    try:
        return checksum_digest(fetch_text(checksum_url), name)
    except ValueError as exc:
        raise FeedError(f"{checksum_url} is not a SHA-256 checksum file of {name}: {exc}",
                        endpoint=checksum_url) from exc


def _kept_sha256(dest: Path, checksum_url: str | None) -> tuple[str | None, bool]:
    """The SHA-256 of the cached ``dest`` from the ``.CHECKSUM`` kept beside it, and whether
    that was missing or malformed (then with a FeedWarning): fetched again from
    ``checksum_url``, or ``None`` without one."""
    kept = _checksum_path(dest)
    try:
        return checksum_digest(kept.read_text("utf-8", errors="replace"), dest.name), False
    except FileNotFoundError:
        pass
    except ValueError as exc:
        again = "fetching it again" if checksum_url else "checking the file in full"
        warnings.warn(f"cached checksum file {kept} is malformed ({exc}); {again}",
                      FeedWarning, stacklevel=2)
    return (_served_sha256(checksum_url, dest.name) if checksum_url else None), True


def _write_checksum(dest: Path, sha256: str) -> None:
    """Keep ``<sha256>  <name>`` beside ``dest`` (written whole, then renamed)."""
    kept = _checksum_path(dest)
    tmp = kept.with_name(kept.name + ".tmp")
    tmp.write_text(f"{sha256}  {dest.name}\n", encoding="utf-8")
    os.replace(tmp, kept)


def _problem(path: Path, sha256: str | None, verify: Verifier | None) -> str | None:
    """Why ``path`` is not the file it should be, or ``None``."""
    if sha256 is not None:
        actual = _sha256(path)
        if actual != sha256:
            return f"SHA-256 {actual} does not match {sha256}"
    return verify(path) if verify is not None else None


def _cached(dest: Path, checksum_url: str | None, verify: Verifier | None) -> bool:
    """Whether a verified ``dest`` is cached; a bad one is deleted with a FeedWarning.

    A file whose kept ``.CHECKSUM`` matches is the file that was verified when it was
    downloaded; ``verify`` (a full decompression, say) runs only when there is none.
    """
    if not dest.exists():
        return False
    sha256, new = _kept_sha256(dest, checksum_url)
    reason = _problem(dest, sha256, verify if new else None)
    if reason is None:
        if new:
            _write_checksum(dest, sha256 or _sha256(dest))
        return True
    warnings.warn(f"cached archive file {dest} failed verification ({reason}); deleting it "
                  f"and downloading it again", FeedWarning, stacklevel=3)
    dest.unlink()
    _checksum_path(dest).unlink(missing_ok=True)
    return False


def _fetch_verified(url: str, dest: Path, checksum_url: str | None,
                    verify: Verifier | None) -> None:
    """Download ``url`` to ``dest`` through ``dest.part``, renamed only once verified.

    A ``.part`` left by an earlier attempt is resumed first; if the result fails
    verification it is discarded and the file downloaded whole once more.
    """
    part = dest.with_name(dest.name + ".part")
    reason = ""
    for fresh in (False, True):
        if fresh:
            part.unlink(missing_ok=True)
        sha256 = _served_sha256(checksum_url, dest.name) if checksum_url else None
        with byte_progress(dest.name) as update:
            _with_retries(url, lambda update=update: _receive(url, part, update))
        reason = _problem(part, sha256, verify)
        if reason is None:
            _write_checksum(dest, sha256 or _sha256(part))
            os.replace(part, dest)
            return
    part.unlink(missing_ok=True)
    source = f" (checksum from {checksum_url})" if checksum_url else ""
    raise FeedError(
        f"{url}: the download failed verification twice: {reason}{source}; {dest} was not "
        f"kept. Try again later, or report it to the archive", endpoint=url,
    )


def _lock_fd(fd: int) -> None:
    """Block until ``fd`` is locked exclusively (flock; msvcrt on Windows)."""
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return
    import msvcrt

    while True:  # LK_LOCK gives up after 10 s; a download may take longer
        with contextlib.suppress(OSError):
            msvcrt.locking(fd, msvcrt.LK_LOCK, 1)  # type: ignore[attr-defined]
            return


def _acquire(lock: Path) -> int:
    """An open descriptor of ``lock``, exclusively locked and still the file at that path
    (a holder removes it on release; whoever waited on the removed one tries again)."""
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _lock_fd(fd)
            if os.path.samestat(os.fstat(fd), os.stat(lock)):
                return fd
        except FileNotFoundError:
            pass
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


@contextlib.contextmanager
def _locked(dest: Path) -> Iterator[None]:
    """Hold ``<dest>.lock``: one downloader of ``dest`` at a time, across threads and
    processes; the lock file is removed on release."""
    lock = dest.with_name(dest.name + ".lock")
    fd = _acquire(lock)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):  # Windows cannot remove an open file: kept
            lock.unlink()
        os.close(fd)


def download(url: str, dest: Path, *, checksum_url: str | None = None,
             verify: Verifier | None = None) -> Path:
    """``dest``, verified, downloading ``url`` unless a good copy is already there.

    The bytes go to ``dest.part`` first (kept between attempts and calls, so a broken
    download resumes with an HTTP Range request), are checked against the SHA-256 of
    ``checksum_url`` when given and by ``verify`` when given, and only then renamed to
    ``dest``, with its SHA-256 kept beside it as ``dest.CHECKSUM`` (the archive's, or the
    one computed after ``verify``). A cached ``dest`` is checked against that before it is
    returned; a missing or malformed one is fetched again from ``checksum_url``, or
    without one the file is checked by ``verify`` again. ``dest.lock`` serialises
    downloaders of one file.

    Parameters
    ----------
    url : str
        The file's address.
    dest : pathlib.Path
        Where it is kept.
    checksum_url : str, optional
        Address of a ``<sha256>  <name>`` file (Binance's ``.CHECKSUM``).
    verify : callable, optional
        ``verify(path) -> reason or None``, e.g. a whole-gzip and header check; run on
        each download, and on a cached file only when its ``.CHECKSUM`` is missing.

    Warns
    -----
    FeedWarning
        A cached file (or its kept checksum) failed verification: deleted and fetched again.

    Raises
    ------
    FeedError
        The file is not in the archive (404), the download keeps failing, the checksum file
        is malformed, or the file fails verification after one fresh attempt (the message
        names the URL, the file and the reason; nothing is kept).
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    with _locked(dest):
        if not _cached(dest, checksum_url, verify):
            _fetch_verified(url, dest, checksum_url, verify)
    return dest
