"""Memory habits of a big sync: fewer garbage collections while it runs, and the heap's
free pages given back once it is done.

CPython runs a collection of its youngest generation every 700 allocations of container
objects (tuples, dicts, dataclasses) and an older one every 10 of those. A big sync
allocates millions of them (parsed messages, row tuples) and reference counting frees
nearly all of them; the collections found next to nothing and took a measurable share
of the CPU of a 12,000-message initial sync, in fetcher processes and sync process
alike (the figure is in bench/README.md, "Figures quoted"). While a big
pass runs, a collection comes every BULK_THRESHOLD allocations instead: what it holds
stays bounded by the batches in flight, cycles are still collected.
"""

from __future__ import annotations

import ctypes
import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

BULK_THRESHOLD = (20_000, 50, 100)  # gc.set_threshold during big passes (default 700, 10, 10)

_lock = threading.Lock()
_holders = 0  # big passes running in this process (a worker runs one per account thread)
_saved: tuple[int, int, int] | None = None


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Collect garbage every BULK_THRESHOLD allocations until the last holder leaves.
    The thresholds are the process's: the first holder raises them, the last one puts
    back what they were."""
    global _holders, _saved
    with _lock:
        if _holders == 0:
            _saved = gc.get_threshold()
            gc.set_threshold(*BULK_THRESHOLD)
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _saved is not None:
                gc.set_threshold(*_saved)


def collect_rarely() -> None:
    """For a process that only ever does bulk work (a fetcher): the thresholds for good,
    and what was allocated so far (imports) kept out of every later collection."""
    gc.freeze()
    gc.set_threshold(*BULK_THRESHOLD)


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(None).malloc_trim  # glibc
    except (OSError, AttributeError):
        return None


_TRIM = _malloc_trim()


def release_memory() -> None:
    """Give the heap's free pages back to the system, once a folder's big pass is done.
    (Not after every batch: the pages given back are faulted in again by the next one,
    which cost the 12,000-message sync system time; bench/README.md has the figure.)"""
    if _TRIM is not None:
        _TRIM(0)
