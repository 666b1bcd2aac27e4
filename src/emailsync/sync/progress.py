"""How a sync tells the world how far it got: the CLI's progress bar, the web UI's."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import sqlalchemy as sa


class Progress(Protocol):
    def folder_started(self, folder: str, total: int) -> None: ...
    def advanced(self, folder: str, count: int) -> None: ...
    def folder_finished(self, folder: str) -> None: ...


class SilentProgress:
    def folder_started(self, folder: str, total: int) -> None:
        pass

    def advanced(self, folder: str, count: int) -> None:
        pass

    def folder_finished(self, folder: str) -> None:
        pass


class StoredProgress:
    """Progress kept on the account row, so any process (the web app, `accounts status`)
    can show "n of N" while a sync runs elsewhere. Writes at most every `interval`."""

    def __init__(self, engine: sa.Engine, account_id: int, interval: float = 0.5) -> None:
        self._engine = engine
        self._account_id = account_id
        self._interval = interval
        self._clock = time.monotonic
        self._last = 0.0
        self.done = 0
        self.total = 0

    def folder_started(self, folder: str, total: int) -> None:
        if total:  # a pass with nothing to fetch writes nothing
            self.total += total
            self._write(force=True)

    def advanced(self, folder: str, count: int) -> None:
        self.done += count
        self._write()

    def folder_finished(self, folder: str) -> None:
        if self.total:
            self._write(force=True)

    def _write(self, force: bool = False) -> None:
        now = self._clock()
        if not force and now - self._last < self._interval:
            return
        self._last = now
        from emailsync.store import accounts as account_store

        with self._engine.begin() as conn:
            account_store.set_progress(conn, self._account_id, self.done, self.total)


class BothProgress:
    """Report to several places at once (a terminal bar and the account row)."""

    def __init__(self, *targets: Progress) -> None:
        self._targets = targets

    def folder_started(self, folder: str, total: int) -> None:
        for t in self._targets:
            t.folder_started(folder, total)

    def advanced(self, folder: str, count: int) -> None:
        for t in self._targets:
            t.advanced(folder, count)

    def folder_finished(self, folder: str) -> None:
        for t in self._targets:
            t.folder_finished(folder)
