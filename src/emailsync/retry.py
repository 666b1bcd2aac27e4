"""Backoff for failures that heal by themselves, and the words the account shows.

A running sync sorts every failure of a pass into one of three (errors.py):
  needs the user   a refused login, a certificate that fails verification: stop
  transient        the mail server cannot be reached, dropped us or is busy; the
                   database cannot be written; the disk is full: wait, retry
  a bug of ours    anything else: recorded as "error", retried the same way, so a
                   bug cannot spin a worker either

Waits grow from `base` (1 s) doubling to `cap` (5 min) with full jitter (a random wait
between 0 and the ceiling): after an outage, 20 accounts of one server do not all
log in again in the same second. A good pass, or "Sync now", starts over from `base`.
"""

from __future__ import annotations

import errno
import random
from dataclasses import dataclass, field
from datetime import datetime

from emailsync.errors import EmailsyncError, StorageError, TransientError, needs_user

BASE_SECONDS = 1.0
CAP_SECONDS = 300.0
# errno values that mean "the disk cannot take this write", not "we have a bug"
_DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS})


@dataclass(slots=True)
class Backoff:
    """Exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff
    and Jitter"): each wait is uniform in [0, min(cap, base * 2**failures))."""

    base: float = BASE_SECONDS
    cap: float = CAP_SECONDS
    failures: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def next_wait(self) -> float:
        ceiling = min(self.cap, self.base * 2**self.failures)
        self.failures += 1
        return self.rng.uniform(0, ceiling)

    def reset(self) -> None:
        self.failures = 0


def storage_error(exc: BaseException, email: str = "") -> StorageError | None:
    """The database or disk failure `exc` is, if it is one (None otherwise).

    SQLAlchemy's OperationalError / InterfaceError (server gone, connection reset,
    "database or disk is full", "database is locked" past its timeout) and OSErrors of
    a full or failing disk. The sentence never holds the exception's text: a database
    error's text quotes the statement (and, without hide_parameters, message content)."""
    if isinstance(exc, StorageError):
        return exc
    what = _storage_words(exc)
    if what is None:
        return None
    whose = f" of {email}" if email else ""
    return StorageError(
        f"The sync{whose} stopped: {what} — it retries by itself once that is fixed",
        what=what,
    )


def _storage_words(exc: BaseException) -> str | None:
    if isinstance(exc, OSError) and exc.errno in _DISK_ERRNOS:
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
        return "the disk is full" if full else "cannot write to the disk"
    import sqlalchemy.exc as sa_exc

    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError) or (
        isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated
    ):
        text = str(getattr(exc, "orig", "") or "").lower()
        if "disk is full" in text or "no space left" in text:
            return "the disk is full"
        return "cannot write to the database"
    return None


def is_transient(exc: BaseException) -> bool:
    """Retry with backoff (a running sync's view; see errors.needs_user)."""
    if storage_error(exc) is not None:
        return True
    return isinstance(exc, EmailsyncError) and not needs_user(exc)


def retry_sentence(exc: BaseException, *, host: str, since: datetime, wait: float | None) -> str:
    """The account's state in words: "Cannot reach imap.example.com since 14:02;
    retrying in 40 s". `since` is shown in this machine's local time."""
    storage = storage_error(exc)
    if storage is not None:
        what = storage.what[:1].upper() + storage.what[1:]
    elif isinstance(exc, TransientError | EmailsyncError):
        what = f"Cannot reach {host}"
    else:
        what = "Syncing failed for a reason of ours (see the log)"
    when = since.astimezone().strftime("%H:%M")
    if wait is None:
        return f"{what} since {when}; the next sync retries"
    return f"{what} since {when}; retrying in {max(round(wait), 1)} s"
