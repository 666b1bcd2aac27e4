"""What a sync looks like on a terminal: a progress bar when stderr is one (nothing on
pipes, CI, cron) and the summary line of each pass. Imports no SQLAlchemy: the quick
`sync --once` path uses it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from emailsync.config import in_ci
from emailsync.sync.progress import Progress, SilentProgress


class _RichProgress:
    def __init__(self, bar: Any) -> None:
        self._bar = bar
        self._tasks: dict[str, Any] = {}

    def folder_started(self, folder: str, total: int) -> None:
        self._tasks[folder] = self._bar.add_task(folder, total=max(total, 1))
        if total == 0:
            self._bar.update(self._tasks[folder], completed=1)

    def advanced(self, folder: str, count: int) -> None:
        self._bar.advance(self._tasks[folder], count)

    def folder_finished(self, folder: str) -> None:
        task = self._tasks[folder]
        self._bar.update(task, completed=self._bar.tasks[task].total)


@contextmanager
def progress_for_terminal() -> Iterator[Progress]:
    if not sys.stderr.isatty() or in_ci():
        yield SilentProgress()
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn("{task.description:<20}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
    ) as bar:
        yield _RichProgress(bar)


def report_pass(email: str, result: Any) -> None:
    """The one-line summary of a sync pass on stderr, and each folder's error."""
    removed = sum(r.removed for r in result.folders.values())
    flags = sum(r.flag_updates for r in result.folders.values())
    print(
        f"{email}: {result.new_messages} new messages, {flags} flag changes, "
        f"{removed} removed in {len(result.folders)} folders",
        file=sys.stderr,
    )
    for name, error in result.folder_errors.items():
        print(f"{email}: folder {name}: {error}", file=sys.stderr)
