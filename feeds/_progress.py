"""Progress of long waits: a transient rich bar on a terminal, a few plain lines elsewhere."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

from ._config import settings

__all__ = ["LONG_WALK", "byte_progress", "page_progress"]

LONG_WALK = 40  # pages: a walk at least this long says how far it has come


def _terminal() -> bool | None:
    """``settings.progress``, or whether stderr is a terminal when it is ``None``."""
    return sys.stderr.isatty() if settings.progress is None else settings.progress


@contextlib.contextmanager
def byte_progress(label: str) -> Iterator[Callable[[int, int | None], None]]:
    """``update(done_bytes, total_bytes)`` driving a transient rich bar, or a no-op."""
    if not _terminal():
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


@contextlib.contextmanager
def page_progress(label: str, pages: int) -> Iterator[Callable[[int], None]]:
    """``update(pages_done)`` for a walk of about ``pages`` requests.

    Walks shorter than :data:`LONG_WALK` stay quiet. On a terminal a transient rich bar;
    elsewhere (a pipe, a log) one line at each quarter, unless ``settings.progress`` is
    False.
    """
    show = settings.progress
    if pages < LONG_WALK or show is False:
        yield lambda done: None
        return
    if _terminal():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      transient=True) as bar:
            task = bar.add_task(label, total=pages)
            yield lambda done: bar.update(task, completed=min(done, pages))
        return
    marks = {max(1, pages * q // 4) for q in (1, 2, 3)}

    def update(done: int) -> None:
        if done in marks:
            print(f"{label}: {done} of about {pages} pages", file=sys.stderr, flush=True)

    yield update
