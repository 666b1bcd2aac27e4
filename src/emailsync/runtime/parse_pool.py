"""A parser process beside a big sync.

The sync is CPU bound on one core (parsing, SQLite) while Dovecot idles on the other, so
a second process parses one batch while the sync process fetches the next and writes
the last. It only pays for itself on big passes: spawning it costs about 0.1 s. The
process is spawned (not forked): the product runs threads, and a fork would copy their
locks and open database connections. If the sync process is killed, the parser sees its
pipe close and exits; nothing it held was ever committed.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor

from emailsync.domain.model import ParsedMessage
from emailsync.mime.parse import parse_batch


class ParsePool:
    def __init__(self) -> None:
        self._executor = ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn")
        )

    def submit(self, raws: list[bytes]) -> Future[list[ParsedMessage]]:
        return self._executor.submit(parse_batch, raws)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
