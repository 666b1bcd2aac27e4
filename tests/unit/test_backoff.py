"""Backoff and the sorting of failures: what a running sync retries, what stops it, and
the words the account shows."""

from __future__ import annotations

import errno
import random
import sqlite3
from datetime import UTC, datetime

import pytest
import sqlalchemy.exc as sa_exc

from emailsync.errors import (
    AuthenticationError,
    CertificateError,
    ConnectionSetupError,
    HostUnreachableError,
    TlsError,
    TransientError,
    needs_user,
)
from emailsync.retry import (
    BASE_SECONDS,
    CAP_SECONDS,
    Backoff,
    is_transient,
    retry_sentence,
    storage_error,
)


def test_the_production_backoff_starts_at_one_second_and_stops_at_five_minutes() -> None:
    assert (BASE_SECONDS, CAP_SECONDS) == (1.0, 300.0)
    backoff = Backoff(rng=random.Random(1))
    ceilings = []
    for _ in range(12):
        ceilings.append(min(backoff.cap, backoff.base * 2**backoff.failures))
        backoff.next_wait()
    assert ceilings == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]


def test_waits_are_fully_jittered_below_the_ceiling() -> None:
    waits = []
    for seed in range(200):
        backoff = Backoff(rng=random.Random(seed), failures=4)  # ceiling 16 s
        waits.append(backoff.next_wait())
    assert all(0 <= w <= 16 for w in waits)
    assert min(waits) < 2 and max(waits) > 14  # spread over the whole range, not 16 * 0.9..1.1


def test_reset_starts_over_from_the_base() -> None:
    backoff = Backoff(rng=random.Random(0))
    for _ in range(10):
        backoff.next_wait()
    backoff.reset()
    assert backoff.next_wait() <= 1.0


@pytest.mark.parametrize(
    "error",
    [AuthenticationError("wrong password"), CertificateError("not trusted")],
)
def test_a_refused_login_or_certificate_needs_the_user(error: Exception) -> None:
    assert needs_user(error)
    assert not is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        HostUnreachableError("connection refused"),
        TlsError("handshake cut short"),
        ConnectionSetupError("did not answer like an IMAP server (BYE)"),
        TransientError("dropped"),
    ],
)
def test_unreachable_servers_and_drops_are_retried_by_a_running_sync(error: Exception) -> None:
    assert not needs_user(error)
    assert is_transient(error)


def test_the_connection_test_still_sees_an_unreachable_host_as_a_setup_error() -> None:
    """The wizard and `accounts add` catch ConnectionSetupError and report it at once."""
    assert isinstance(HostUnreachableError("refused"), ConnectionSetupError)


def test_a_full_disk_is_said_in_words() -> None:
    error = storage_error(OSError(errno.ENOSPC, "No space left on device"), "me@example.com")
    assert error is not None and error.what == "the disk is full"
    assert "me@example.com" in str(error)


def test_sqlite_full_is_the_disk_and_a_lost_server_is_the_database() -> None:
    full = sa_exc.OperationalError(
        "INSERT ...", {}, sqlite3.OperationalError("database or disk is full")
    )
    gone = sa_exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))
    assert storage_error(full) is not None and storage_error(full).what == "the disk is full"  # type: ignore[union-attr]
    assert (
        storage_error(gone) is not None
        and storage_error(gone).what == "cannot write to the database"
    )  # type: ignore[union-attr]
    assert is_transient(gone)


def test_a_storage_sentence_never_quotes_the_statement() -> None:
    secret = "Subject: the merger with Initech"
    error = sa_exc.OperationalError("INSERT INTO messages VALUES (?)", (secret,), Exception("gone"))
    assert secret not in str(storage_error(error))
    assert "INSERT" not in str(storage_error(error))


def test_other_errors_are_not_storage_errors() -> None:
    assert storage_error(OSError(errno.ENOENT, "missing")) is None
    assert storage_error(ValueError("bug")) is None
    assert not is_transient(ValueError("bug"))


def test_the_state_in_words_names_the_host_the_start_and_the_wait() -> None:
    since = datetime(2026, 12, 3, 14, 2, tzinfo=UTC).astimezone()
    sentence = retry_sentence(
        HostUnreachableError("refused"), host="imap.example.com", since=since, wait=40.2
    )
    assert (
        sentence
        == "Cannot reach imap.example.com since " + since.strftime("%H:%M") + "; retrying in 40 s"
    )
    disk = retry_sentence(
        storage_error(OSError(errno.ENOSPC, "full")),  # type: ignore[arg-type]
        host="imap.example.com",
        since=since,
        wait=3,
    )
    assert disk.startswith("The disk is full since ")
