"""Keep accounts in sync while the product runs: a pass, then wait for new mail.

Between passes the worker IDLEs on the Inbox (RFC 2177), so new mail there starts the
next pass at once; other folders are picked up by the pass that follows at the latest
after `poll_seconds`. A failure is sorted as retry.py says:

    pass fails ──needs the user (login refused, certificate)──▶ "needs_reconnect", stop
        │
        └──anything else──▶ "retrying" ("Cannot reach imap.example.com since 14:02;
                            retrying in 40 s"), wait with backoff (1 s doubling to
                            5 min, jittered), reconnect, pass again ──▶ … ──▶ "active"

A database that is down cannot take the state either: the worker goes on retrying and
the state is written by the first pass that reaches it. Packs a failed pass left
unreferenced are swept at once (on a full disk they hold the room the state and the
retry need), or before the next pass when the database could not say which they are.
The worker ends only when `stop` is set (returns None) or the account needs the user
(returns that error).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from emailsync.config import Settings
from emailsync.domain.states import AccountState
from emailsync.errors import EmailsyncError, needs_user
from emailsync.imap.protocol import ImapSession
from emailsync.retry import Backoff, is_transient, retry_sentence, storage_error
from emailsync.store import accounts as account_store
from emailsync.store import raw_upkeep
from emailsync.store.accounts import Account, Folder
from emailsync.store.db import reading
from emailsync.store.raw import raw_files
from emailsync.sync.account_sync import PassResult, open_session, sync_account
from emailsync.sync.folder_sync import status_matches
from emailsync.sync.progress import Progress

log = logging.getLogger("emailsync.worker")

# Passes in a row started because the Inbox changed during the pass before; then IDLE
# anyway, so a server whose STATUS never matches what a pass records cannot spin us.
CATCH_UP = 3


def run_account(
    settings: Settings,
    engine: sa.Engine,
    account_id: int,
    *,
    stop: threading.Event,
    poll_seconds: float = 60.0,
    on_pass: Callable[[PassResult], None] | None = None,
    backoff: Backoff | None = None,
    progress: Progress | None = None,
) -> EmailsyncError | None:
    """Sync one account until `stop` is set (None) or it needs the user to reconnect
    (the error that says why, already recorded on the account). `progress` reports the
    first pass that gets going; `backoff` is a parameter for tests that shrink it."""
    backoff = backoff or Backoff()
    failing_since: datetime | None = None
    sweep_since: float | None = None  # a failed pass may have left packs from then on
    host = "the mail server"
    while not stop.is_set():
        attempt = time.time()
        session: ImapSession | None = None
        try:
            files = raw_files(settings)
            if sweep_since is not None and files is not None:
                raw_upkeep.sweep_failed(engine, files, account_id, since=sweep_since)
                sweep_since = None
            account = _load(engine, account_id)
            host = account.imap.host
            session = open_session(settings, account)
            catching_up = 0
            while not stop.is_set():
                result = sync_account(settings, engine, account, session=session, progress=progress)
                progress = None
                failing_since = None
                backoff.reset()
                if on_pass:
                    on_pass(result)
                recorded = _recorded_inbox(engine, account.id) if catching_up < CATCH_UP else None
                if _wait_for_mail(session, stop, poll_seconds, recorded):
                    catching_up = 0
                else:  # the Inbox changed during the pass: the next pass goes at once
                    catching_up += 1
                account = _load(engine, account_id)
        except Exception as exc:
            if needs_user(exc):
                assert isinstance(exc, EmailsyncError)
                log.error("%s", exc)
                _record(engine, account_id, AccountState.NEEDS_RECONNECT, str(exc))
                return exc
            failing_since = failing_since or datetime.now(UTC)
            sweep_since = sweep_since or attempt
            if _sweep(settings, engine, account_id, sweep_since):
                sweep_since = None  # room again, for the state below and the retry
            wait = backoff.next_wait()
            _note_failure(engine, account_id, exc, host, failing_since, wait)
            stop.wait(wait)
        finally:
            if session is not None:
                session.close()
    return None


def _sweep(settings: Settings, engine: sa.Engine, account_id: int, since: float) -> bool:
    """Remove the packs a failed pass left, at once: on a full disk they hold the room
    that recording the state and the retry need. False when that failed too."""
    files = raw_files(settings)
    if files is None:
        return True
    try:
        raw_upkeep.sweep_failed(engine, files, account_id, since=since)
    except Exception as exc:
        if storage_error(exc) is None:
            raise
        return False
    return True


def _load(engine: sa.Engine, account_id: int) -> Account:
    with reading(engine) as conn:
        return account_store.find_account(conn, str(account_id))


def _note_failure(
    engine: sa.Engine,
    account_id: int,
    exc: Exception,
    host: str,
    since: datetime,
    wait: float,
) -> None:
    """Log the failure in one line (a bug with its traceback) and record it on the
    account: "retrying", or "error" for a bug of ours; both are retried."""
    sentence = retry_sentence(exc, host=host, since=since, wait=wait)
    storage = storage_error(exc)
    if storage is not None:
        log.warning("account %s: %s", account_id, sentence)
    elif is_transient(exc):
        log.warning("%s; retrying in %.0f s", exc, wait)
    else:  # the engine hides statement parameters: no message content in the traceback
        log.exception("account %s: the sync failed; retrying in %.0f s", account_id, wait)
    state = AccountState.RETRYING if is_transient(exc) else AccountState.ERROR
    try:
        with engine.begin() as conn:
            account_store.record_retry(
                conn,
                account_id,
                error=sentence,
                failing_since=since,
                retry_at=datetime.now(UTC) + timedelta(seconds=wait),
                state=state,
            )
    except Exception as again:
        if storage_error(again) is None:
            raise
        # the database is the failure: the next pass that reaches it writes the state


def _record(engine: sa.Engine, account_id: int, state: AccountState, error: str) -> None:
    try:
        with engine.begin() as conn:
            account_store.set_state(conn, account_id, state, error=error, keep_user_state=True)
    except Exception as again:
        if storage_error(again) is None:
            raise


def _wait_for_mail(
    session: ImapSession, stop: threading.Event, poll_seconds: float, recorded: Folder | None
) -> bool:
    """IDLE on the Inbox until mail arrives, `poll_seconds` pass or a stop request
    (noticed within a second). False, without waiting, when the Inbox is no longer as
    the pass recorded it (`recorded`): mail came in while the pass ran. The refresh
    before IDLE (NOOP) takes such mail into this session's view, and IDLE only tells of
    changes after that, so it would have waited for the poll. A connection that fails
    here raises TransientError: the worker reconnects with backoff."""
    status = session.select("INBOX")
    if recorded is not None and not status_matches(recorded, status):
        return False
    session.idle_wait(timeout=poll_seconds, stop=stop.is_set)
    return True


def _recorded_inbox(engine: sa.Engine, account_id: int) -> Folder | None:
    """The Inbox as the last pass left it, when that pass synced it cleanly."""
    with reading(engine) as conn:
        inbox = next(
            (f for f in account_store.list_folders(conn, account_id) if f.name == "INBOX"), None
        )
    if inbox is None or inbox.uidvalidity is None or inbox.last_error or inbox.remapping:
        return None
    return inbox


def sync_in_foreground(
    settings: Settings,
    engine: sa.Engine,
    account: Account,
    *,
    once: bool,
    report: Callable[[str, PassResult], None],
    progress: Progress | None = None,
    backoff: Backoff | None = None,
    stop: threading.Event | None = None,
) -> int:
    """`emailsync sync ACCOUNT [--once]`; returns the exit code.

    --once: one pass; a failure is one sentence on stderr and exit code 1. Without it:
    the first pass (with `progress`), then keep syncing through every failure that heals
    by itself, a drop during that first pass included; exit 1 only when the account needs
    the user, so a service manager sees it stop (and 0 on `stop`)."""
    if once:
        try:
            result = sync_account(settings, engine, account, progress=progress)
        except Exception as exc:
            if needs_user(exc) or not is_transient(exc):
                raise
            print(
                f"emailsync: {_first_sentence(exc)}; run the command again later, or keep "
                f"`emailsync serve` (or `emailsync sync {account.email}`) running to retry "
                "by itself",
                file=sys.stderr,
            )
            return 1
        report(account.email, result)
        return 0
    print(f"Watching {account.email} for new mail; press Ctrl-C to stop", file=sys.stderr)
    stop = stop or threading.Event()
    first = [True]

    def on_pass(result: PassResult) -> None:
        if first[0] or result.new_messages or result.folder_errors:
            report(account.email, result)
        first[0] = False

    try:
        stopped_by = run_account(
            settings,
            engine,
            account.id,
            stop=stop,
            on_pass=on_pass,
            backoff=backoff,
            progress=progress,
        )
    finally:
        stop.set()
    if stopped_by is not None:
        print(f"emailsync: {stopped_by}", file=sys.stderr)
        return 1
    return 0


def _first_sentence(exc: BaseException) -> str:
    """The error's own sentence without its " — will retry" tail (nobody retries a --once)."""
    return str(exc).split(" — ")[0].rstrip(".")
