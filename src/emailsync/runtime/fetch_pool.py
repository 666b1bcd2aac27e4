"""Body fetchers beside a big sync: processes that each hold their own IMAP connection
and turn a batch of UIDs into parsed messages with their raw bytes kept.

A big initial pass is CPU bound: reading FETCH responses, parsing MIME, writing packs and
writing the database. One process doing it all keeps one core busy and the other idle,
so on big passes (sync/folder_sync.py decides) FETCHERS processes take the batches in
turn: fetch the bodies over their own connection (EXAMINE, read-only like the main one),
write the raw bytes as a pack, parse, and send back only the parsed messages. The sync
process only writes the database, in UID order, so the cursor still covers exactly what
is committed. The raw bytes never cross a process boundary (with a raw store; with the
database as raw store, PostgreSQL's default, they travel back with the batch).

The processes are spawned (not forked): the product runs threads, and a fork would copy
their locks and open database connections. A fresh set takes over every RECYCLE_AFTER
batches, so what their allocators kept cannot pile up. If the sync process is killed
(kill -9 included), each fetcher notices its parent is gone within half a second and
exits; nothing it held was ever committed (its packs are swept later).
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from emailsync.domain.model import FetchedMessage, ParsedMessage
from emailsync.errors import TransientError
from emailsync.mime.parse import parse_safely
from emailsync.store.raw import RawFiles, RawSpot, raw_digest

if TYPE_CHECKING:
    from emailsync.imap.session import ImapSession

Kept = tuple[str, RawSpot | None]  # the SHA-256 of a message's bytes, where they lie
Digested = tuple[ParsedMessage, Kept]

FETCHERS = 2  # processes (and IMAP connections) besides the sync process's own
RECYCLE_AFTER = 300  # batches per set of fetcher processes


def keep_raws(raws: list[bytes], raw_files: RawFiles | None, account_id: int) -> list[Kept]:
    """The batch's digests, and with `raw_files` the batch written as one pack."""
    digests = [raw_digest(raw) for raw in raws]
    if raw_files is None:
        return [(digest, None) for digest in digests]
    return list(zip(digests, raw_files.write_pack(account_id, raws), strict=True))


def parse_and_keep(
    raws: list[bytes], raw_files: RawFiles | None, account_id: int
) -> list[Digested]:
    """Everything a batch needs before it is written, in this process."""
    kept = keep_raws(raws, raw_files, account_id)
    return [(parse_safely(raw), k) for raw, k in zip(raws, kept, strict=True)]


@dataclass(frozen=True, slots=True)
class SessionSpec:
    """How a fetcher logs in: what imap.connect needs. Travels to the fetchers through
    their pipe, never on a command line."""

    host: str
    port: int
    security: str
    username: str
    password: str
    email: str
    cafile: str | None


@dataclass(frozen=True, slots=True)
class FolderJob:
    """What every batch of one folder pass shares."""

    spec: SessionSpec
    folder: str
    uidvalidity: int
    window_start: datetime
    raw_files: RawFiles | None
    account_id: int


@dataclass(frozen=True, slots=True)
class FetchedBatch:
    """A batch as the sync process writes it: messages in the window (without their
    bytes when a raw store holds them), parsed and kept; `skipped`: outside the window."""

    messages: list[FetchedMessage]
    digested: list[Digested]
    skipped: int


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(None).malloc_trim  # type: ignore[no-any-return]  # glibc
    except (OSError, AttributeError):
        return None


_TRIM = _malloc_trim()


def release_memory() -> None:
    """Give the heap's free pages back to the system. Megabytes of message bytes pass
    through every batch; glibc keeps what they leave behind in its heap, so without
    this a 60,000-message pass ends tens of megabytes above a 12,000-message one."""
    if _TRIM is not None:
        _TRIM(0)


class FetchPool:
    """Batches of UIDs go to the fetcher processes; results come back as futures, which
    the caller consumes in submission order. (The manual recycling is not
    ProcessPoolExecutor's max_tasks_per_child: on Python 3.11 a 60,000-message pass hung
    when a worker retired while a big batch was being written to it.)"""

    def __init__(self, job: FolderJob) -> None:
        self._job = job
        self._executor = self._fetchers()
        self._retired: list[ProcessPoolExecutor] = []
        self._batches = 0

    def _fetchers(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=FETCHERS,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_fetcher,
            initargs=(os.getpid(), self._job),
        )

    def submit(self, uids: list[int]) -> Future[FetchedBatch]:
        if self._batches >= RECYCLE_AFTER:
            self._executor.shutdown(wait=False)  # its batches still finish, then it exits
            self._retired.append(self._executor)
            self._executor, self._batches = self._fetchers(), 0
        self._batches += 1
        return self._executor.submit(fetch_batch, uids)

    def close(self) -> None:
        for executor in [*self._retired, self._executor]:
            executor.shutdown(wait=True, cancel_futures=True)


# -- in the fetcher process ------------------------------------------------------------

_job: FolderJob | None = None
_session: ImapSession | None = None


def _start_fetcher(parent_pid: int, job: FolderJob) -> None:
    global _job
    _job = job
    _exit_with_parent(parent_pid)


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
    digested = parse_and_keep([m.raw or b"" for m in ready], raw_files, account_id)
    skipped = len(fetched) - len(ready)
    if drop_bytes and raw_files is not None:
        ready = [replace(m, raw=None) for m in ready]
    return FetchedBatch(ready, digested, skipped)


def fetch_batch(uids: list[int]) -> FetchedBatch:
    """Fetch, keep and parse one batch over this process's own connection."""
    job = _job
    assert job is not None
    fetched = _open_session(job).fetch_messages(uids, headers_only=False)
    batch = batch_of(fetched, job.window_start, job.raw_files, job.account_id, drop_bytes=True)
    del fetched
    release_memory()
    return batch


def _open_session(job: FolderJob) -> ImapSession:
    """This process's connection, opened on its first batch. The folder must still be
    the one the pass started on: a changed UIDVALIDITY voids the UIDs it was given."""
    global _session
    if _session is None:
        from emailsync.imap.connection import connect

        spec = job.spec
        session = connect(
            spec.host,
            spec.port,
            spec.security,
            spec.username,
            spec.password,
            email=spec.email,
            cafile=spec.cafile,
        )
        status = session.select(job.folder)
        if status.uidvalidity != job.uidvalidity:
            session.close()
            raise TransientError(
                f"Folder {job.folder!r} of {spec.email} was renumbered on the server "
                "(UIDVALIDITY changed) during the sync; the next pass starts it over"
            )
        _session = session
    return _session


def _exit_with_parent(parent_pid: int) -> None:
    """Leave as soon as the sync process is gone. Its queues would keep this process
    waiting forever otherwise (it holds both ends of their pipes)."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
