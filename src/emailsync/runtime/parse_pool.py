"""A parser process beside a big sync.

The sync is CPU bound on one core (parsing, SQLite) while Dovecot idles on the other, so
a second process parses one batch while the sync process fetches the next and writes
the last. It only pays for itself on big passes: spawning it costs about 0.1 s. The
process is spawned (not forked): the product runs threads, and a fork would copy their
locks and open database connections. If the sync process is killed (kill -9 included),
the parser notices its parent is gone within half a second and exits; nothing it held
was ever committed.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor

from emailsync.domain.model import ParsedMessage
from emailsync.mime.parse import parse_batch


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

    def submit(self, raws: list[bytes]) -> Future[list[ParsedMessage]]:
        return self._executor.submit(parse_batch, raws)

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
