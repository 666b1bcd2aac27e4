"""A parser process beside a big sync.

The sync is CPU bound on one core (parsing, SQLite) while Dovecot idles on the other, so
a second process parses one batch (and writes its raw files) while the sync process
fetches the next and writes the last to the database. It only pays for itself on big
passes: spawning it costs about 0.1 s. The process is spawned (not forked): the product
runs threads, and a fork would copy their locks and open database connections. If the
sync process is killed (kill -9 included), the parser notices its parent is gone within
half a second and exits; nothing it held was ever committed.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor

from emailsync.domain.model import ParsedMessage
from emailsync.mime.parse import parse_safely
from emailsync.store.raw import RawFiles, raw_digest

Digested = tuple[ParsedMessage, str]  # a parsed message and the SHA-256 of its bytes


def parse_and_keep(
    raws: list[bytes], raw_files: RawFiles | None, account_id: int
) -> list[Digested]:
    """Parse a batch and, with `raw_files`, write the raw bytes too: the work that needs
    the bytes, done wherever they are (in the parser process on big passes)."""
    result = []
    for raw in raws:
        digest = raw_digest(raw)
        if raw_files is not None:
            raw_files.put(account_id, digest, raw)
        result.append((parse_safely(raw), digest))
    return result


class ParsePool:
    def __init__(self) -> None:
        self._executor = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            # a fresh parser now and then: what its allocator kept cannot pile up
            max_tasks_per_child=100,
            initializer=_exit_with_parent,
            initargs=(os.getpid(),),
        )

    def submit(
        self, raws: list[bytes], raw_files: RawFiles | None, account_id: int
    ) -> Future[list[Digested]]:
        return self._executor.submit(parse_and_keep, raws, raw_files, account_id)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


def _exit_with_parent(parent_pid: int) -> None:
    """In the parser process: leave as soon as the sync process is gone. Its queues would
    keep it waiting forever otherwise (it holds both ends of their pipes)."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
