"""Body fetchers beside a big sync: processes that each hold their own IMAP connection
and turn a batch of UIDs into parsed messages with their raw bytes kept.

A big initial pass is CPU bound: reading FETCH responses, parsing MIME, writing packs and
writing the database. One process doing it all keeps one core busy and the other idle,
so on big passes (sync/folder_sync.py decides) FETCHERS processes take the batches in
turn: fetch the bodies over their own connection (EXAMINE, read-only like the main one),
write the raw bytes as a pack, parse, and send back only the parsed messages. The sync
process only writes the database, in UID order, so the cursor still covers exactly what
is committed. The raw bytes never cross a process boundary (with a raw store; with the
database as raw store, PostgreSQL's default, they travel back with the batch). A
fetcher that cannot log in (some servers allow one connection per user) leaves its
batches, and the rest of the pass, to the sync process's own connection.

The processes are spawned (not forked): the product runs threads, and a fork would copy
their locks and open database connections. A fresh set takes over every RECYCLE_AFTER
batches, so what their allocators kept cannot pile up (a fetcher stayed at ~45 MB over
600 batches, and each fresh set costs two interpreter start-ups and logins, so that is
rare). If the sync process is killed
(kill -9 included), each fetcher notices its parent is gone within half a second and
exits; nothing it held was ever committed (its packs are swept later).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from emailsync.domain.model import FetchedMessage, ParsedMessage
from emailsync.errors import ConnectionSetupError, EmailsyncError, TransientError
from emailsync.imap.connection import SessionSpec
from emailsync.mime.parse import parse_safely
from emailsync.store.raw import RawFiles, RawSpot, raw_digest
from emailsync.sync.memory import collect_rarely

if TYPE_CHECKING:
    from emailsync.imap.session import ImapSession

Kept = tuple[str, RawSpot | None]  # the SHA-256 of a message's bytes, where they lie
Digested = tuple[ParsedMessage, Kept]

FETCHERS = 2  # processes (and IMAP connections) besides the sync process's own
RECYCLE_AFTER = 2000  # batches per set of fetcher processes


@dataclass(frozen=True, slots=True)
class AccountJob:
    """What every batch of one account pass shares: given to each fetcher once."""

    spec: SessionSpec
    raw_files: RawFiles | None
    account_id: int


@dataclass(frozen=True, slots=True)
class FolderJob:
    """Which folder a batch's UIDs belong to, and what the pass keeps of it."""

    folder: str
    uidvalidity: int
    window_start: datetime


@dataclass(frozen=True, slots=True)
class FetchedBatch:
    """A batch as the sync process writes it: messages in the window (without their
    bytes when a raw store holds them), parsed and kept; `skipped`: outside the window."""

    messages: list[FetchedMessage]
    digested: list[Digested]
    skipped: int


def batch_of(
    fetched: list[FetchedMessage],
    window_start: datetime,
    raw_files: RawFiles | None,
    account_id: int,
    *,
    drop_bytes: bool,
) -> FetchedBatch:
    """What a FETCH of bodies becomes before it is written: the messages inside the
    window, kept (raw store) and parsed; `drop_bytes`: leave their bytes out of the
    result (a raw store holds them now, and they need not travel back)."""
    ready = [m for m in fetched if m.raw is not None and m.internaldate >= window_start]
    raws = [m.raw or b"" for m in ready]
    digests = [raw_digest(raw) for raw in raws]
    spots: list[RawSpot | None] = (
        list(raw_files.write_pack(account_id, raws))
        if raw_files is not None
        else [None] * len(raws)
    )
    digested = [
        (parse_safely(raw), (digest, spot))
        for raw, digest, spot in zip(raws, digests, spots, strict=True)
    ]
    skipped = len(fetched) - len(ready)
    if drop_bytes and raw_files is not None:
        ready = [replace(m, raw=None) for m in ready]
    return FetchedBatch(ready, digested, skipped)


class FetcherUnavailable(EmailsyncError):
    """A fetcher could not open its own connection (servers may cap connections per
    user): the sync process fetches that batch, and the rest, itself."""


def outcome(future: Future[FetchedBatch]) -> FetchedBatch:
    """A batch's result, a dead fetcher process reported as a failure to retry."""
    try:
        return future.result()
    except BrokenProcessPool as exc:
        raise TransientError(
            "A fetcher process of the sync stopped unexpectedly; the next pass retries"
        ) from exc


class FetchPool:
    """Batches of UIDs go to the fetcher processes; results come back as futures, which
    the caller consumes in submission order. One pool serves every folder of an account
    pass and is only started by the first big folder (`start`), so small passes never
    spawn anything. (The manual recycling is not ProcessPoolExecutor's
    max_tasks_per_child: on Python 3.11 a 60,000-message pass hung when a worker retired
    while a big batch was being written to it.)"""

    def __init__(self, make_job: Callable[[], AccountJob]) -> None:
        self._make_job = make_job  # called when the fetchers start (it decrypts a password)
        self._job: AccountJob | None = None
        self._executor: ProcessPoolExecutor | None = None
        self._retired: list[ProcessPoolExecutor] = []
        self._batches = 0
        self.unavailable = False  # a fetcher could not connect: fetch the rest in-process

    def start(self) -> None:
        """Spawn the fetchers now (they log in while the caller plans the batches)."""
        if self._executor is None:
            self._job = self._job or self._make_job()
            self._executor = ProcessPoolExecutor(
                max_workers=FETCHERS,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_fetcher,
                initargs=(os.getpid(), self._job),
            )
            for _ in range(FETCHERS):
                self._executor.submit(_log_in)

    def submit(self, folder: FolderJob, uids: list[int]) -> Future[FetchedBatch]:
        if self._executor is not None and self._batches >= RECYCLE_AFTER:
            self._executor.shutdown(wait=False)  # its batches still finish, then it exits
            self._retired.append(self._executor)
            self._executor, self._batches = None, 0
        self.start()
        assert self._executor is not None
        self._batches += 1
        future = self._executor.submit(fetch_batch, folder, uids)
        future.add_done_callback(self._note_unavailable)
        return future

    def _note_unavailable(self, future: Future[FetchedBatch]) -> None:
        if not future.cancelled() and isinstance(future.exception(), FetcherUnavailable):
            self.unavailable = True

    def close(self) -> None:
        for executor in self._retired:
            executor.shutdown(wait=True, cancel_futures=True)
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
        self._retired, self._executor = [], None


# -- in the fetcher process ------------------------------------------------------------

_job: AccountJob | None = None
_session: ImapSession | None = None


def _start_fetcher(parent_pid: int, job: AccountJob) -> None:
    global _job
    _job = job
    _exit_with_parent(parent_pid)
    collect_rarely()


def _log_in() -> None:
    """Open this fetcher's connection ahead of its first batch; a failure is left for
    that batch to report."""
    with contextlib.suppress(EmailsyncError):
        _connected()


def fetch_batch(folder: FolderJob, uids: list[int]) -> FetchedBatch:
    """Fetch, keep and parse one batch over this process's own connection."""
    job = _job
    assert job is not None
    fetched = _in_folder(folder).fetch_messages(uids, headers_only=False)
    return batch_of(fetched, folder.window_start, job.raw_files, job.account_id, drop_bytes=True)


def _connected() -> ImapSession:
    """This process's connection, opened once."""
    global _session
    if _session is None:
        assert _job is not None
        try:
            _session = _job.spec.connect()
        except (ConnectionSetupError, TransientError) as exc:
            raise FetcherUnavailable(str(exc)) from None
    return _session


def _in_folder(folder: FolderJob) -> ImapSession:
    """The connection with the batch's folder open. It must still be the folder the pass
    started on: a changed UIDVALIDITY voids the UIDs it was given."""
    session = _connected()
    if session.selected != folder.folder:
        status = session.select(folder.folder)
        if status.uidvalidity != folder.uidvalidity:
            session.selected = None  # check again with the next batch
            raise TransientError(
                f"Folder {folder.folder!r} of {session.email} was renumbered on the server "
                "(UIDVALIDITY changed) during the sync; the next pass starts it over"
            )
    return session


def _exit_with_parent(parent_pid: int) -> None:
    """Leave as soon as the sync process is gone. Its queues would keep this process
    waiting forever otherwise (it holds both ends of their pipes)."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
