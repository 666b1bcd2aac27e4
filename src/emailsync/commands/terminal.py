"""What a sync looks like on a terminal: a progress bar when stderr is one (nothing on
pipes, CI, cron) and the summary line of each pass. Imports no SQLAlchemy: the quick
`sync --once` path uses it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from emailsync.config import in_ci
from emailsync.domain.screening import Reason
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


# How the summary names each reason a pass left mail out (the reasons of `messages
# why-not`, in the order they are decided).
LEFT_OUT_WORDS: dict[Reason, str] = {
    Reason.JUNK_TRASH_DRAFTS: "in Junk, Trash or Drafts",
    Reason.FOLDER_NOT_SELECTED: "in folders not synced",
    Reason.OUTSIDE_WINDOW: "older than Sync from",
    Reason.BLOCKED: "blocked",
    Reason.NOT_A_CONTACT: "not with a CRM contact (Only CRM contacts)",
    Reason.PARSE_DEFECT: "unreadable",
}


def report_pass(email: str, result: Any) -> None:
    """The one-line summary of a sync pass on stderr, and each folder's error. What the
    pass left out is counted by reason, so "why isn't it in the CRM?" starts here."""
    removed = sum(r.removed for r in result.folders.values())
    flags = sum(r.flag_updates for r in result.folders.values())
    line = (
        f"{email}: {result.new_messages} new messages, {flags} flag changes, "
        f"{removed} removed in {len(result.folders)} folders"
    )
    left_out = getattr(result, "left_out", None) or {}  # a quick pass leaves nothing out
    counted = [
        f"{left_out[reason]} {words}"
        for reason, words in LEFT_OUT_WORDS.items()
        if left_out.get(reason)
    ]
    if counted:
        line += "; left out: " + ", ".join(counted)
    print(line, file=sys.stderr)
    for name, error in result.folder_errors.items():
        print(f"{email}: folder {name}: {error}", file=sys.stderr)
