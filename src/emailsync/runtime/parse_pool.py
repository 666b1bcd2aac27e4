"""A parser process beside a big sync.

The sync is CPU bound on one core (parsing, SQLite) while Dovecot idles on the other, so
a second process parses one batch while the sync process fetches the next and writes
the last to the database; a thread of the sync process writes the raw files meanwhile
(system calls that release the GIL: they fill the time the sync process would spend
waiting for the parser). It only pays for itself on big passes: spawning the parser
costs about 0.1 s. The process is spawned (not forked): the product
runs threads, and a fork would copy their locks and open database connections. If the
sync process is killed (kill -9 included), the parser notices its parent is gone within
half a second and exits; nothing it held was ever committed.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass

from emailsync.domain.model import ParsedMessage
from emailsync.mime.parse import parse_batch, parse_safely
from emailsync.store.raw import RawFiles, RawSpot, raw_digest

Kept = tuple[str, RawSpot | None]  # the SHA-256 of a message's bytes, where they lie
Digested = tuple[ParsedMessage, Kept]


def keep_raws(raws: list[bytes], raw_files: RawFiles | None, account_id: int) -> list[Kept]:
    """The batch's digests, and with `raw_files` the batch written as one pack."""
    digests = [raw_digest(raw) for raw in raws]
    if raw_files is None:
        return [(digest, None) for digest in digests]
    return list(zip(digests, raw_files.write_pack(account_id, raws), strict=True))


def parse_and_keep(
    raws: list[bytes], raw_files: RawFiles | None, account_id: int
) -> list[Digested]:
    """Everything a batch needs before it is written, in this process and thread."""
    kept = keep_raws(raws, raw_files, account_id)
    return [(parse_safely(raw), k) for raw, k in zip(raws, kept, strict=True)]


@dataclass(frozen=True, slots=True)
class PendingBatch:
    """A batch being parsed (parser process) and kept (raw-file thread)."""

    parsed: Future[list[ParsedMessage]]
    kept: Future[list[Kept]]

    def result(self) -> list[Digested]:
        return list(zip(self.parsed.result(), self.kept.result(), strict=True))


RECYCLE_AFTER = 100  # batches per parser process


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


class ParsePool:
    """Batches go to a parser process; a fresh one takes over every RECYCLE_AFTER
    batches, so what its allocator kept cannot pile up. (Not ProcessPoolExecutor's
    max_tasks_per_child: on Python 3.11 a 60,000-message pass hung when the worker
    retired while a big batch was being written to it.)"""

    def __init__(self) -> None:
        self._executor = self._parser()
        self._retired: list[ProcessPoolExecutor] = []
        self._batches = 0
        self._keeper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="raw-files")

    @staticmethod
    def _parser() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_exit_with_parent,
            initargs=(os.getpid(),),
        )

    def submit(
        self, raws: list[bytes], raw_files: RawFiles | None, account_id: int
    ) -> PendingBatch:
        if self._batches >= RECYCLE_AFTER:
            self._executor.shutdown(wait=False)  # its batches still finish, then it exits
            self._retired.append(self._executor)
            self._executor, self._batches = self._parser(), 0
        self._batches += 1
        return PendingBatch(
            self._executor.submit(parse_batch, raws),
            self._keeper.submit(keep_raws, raws, raw_files, account_id),
        )

    def close(self) -> None:
        for executor in [*self._retired, self._executor]:
            executor.shutdown(wait=True, cancel_futures=True)
        self._keeper.shutdown(wait=True, cancel_futures=True)


def _exit_with_parent(parent_pid: int) -> None:
    """In the parser process: leave as soon as the sync process is gone. Its queues would
    keep it waiting forever otherwise (it holds both ends of their pipes)."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
