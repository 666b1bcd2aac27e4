"""Keep accounts in sync while the product runs: a pass, then wait for new mail.

Between passes the worker IDLEs on the Inbox (RFC 2177), so new mail there starts the
next pass at once; other folders are picked up by the pass that follows at the latest
after `poll_seconds`. A transient failure (dropped connection, server busy) is retried
with exponential backoff; an account that needs the user (wrong password, TLS) is left
alone until its settings change.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import sqlalchemy as sa

from emailsync.config import Settings
from emailsync.errors import ConnectionSetupError, EmailsyncError, TransientError
from emailsync.imap.protocol import ImapSession
from emailsync.store import accounts as account_store
from emailsync.store.accounts import Folder
from emailsync.store.db import reading
from emailsync.sync.account_sync import PassResult, open_session, sync_account
from emailsync.sync.folder_sync import status_matches

log = logging.getLogger("emailsync.worker")

MAX_BACKOFF = 300.0
# Passes in a row started because the Inbox changed during the pass before; then IDLE
# anyway, so a server whose STATUS never matches what a pass records cannot spin us.
CATCH_UP = 3
# Accounts the worker leaves alone until the user acts (reconnects, resumes).
IDLE_STATES = frozenset({"needs_reconnect", "paused", "removed"})


def run_account(
    settings: Settings,
    engine: sa.Engine,
    account_id: int,
    *,
    stop: threading.Event,
    poll_seconds: float = 60.0,
    on_pass: Callable[[PassResult], None] | None = None,
) -> None:
    """Sync one account until `stop` is set or it needs the user to reconnect."""
    backoff = 5.0
    while not stop.is_set():
        with reading(engine) as conn:
            account = account_store.find_account(conn, str(account_id))
        try:
            session = open_session(settings, account)
        except ConnectionSetupError as exc:
            log.error("%s", exc)
            with engine.begin() as conn:
                account_store.set_state(conn, account.id, "needs_reconnect", error=str(exc))
            return
        except TransientError as exc:
            log.warning("%s; retrying in %.0f s", exc, backoff)
            stop.wait(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
            continue
        try:
            catching_up = 0
            while not stop.is_set():
                with reading(engine) as conn:
                    account = account_store.find_account(conn, str(account_id))
                result = sync_account(settings, engine, account, session=session)
                backoff = 5.0
                if on_pass:
                    on_pass(result)
                recorded = _recorded_inbox(engine, account.id) if catching_up < CATCH_UP else None
                if _wait_for_mail(session, stop, poll_seconds, recorded):
                    catching_up = 0
                else:  # the Inbox changed during the pass: the next pass goes at once
                    catching_up += 1
        except ConnectionSetupError as exc:
            log.error("%s", exc)
            return
        except EmailsyncError as exc:
            log.warning("%s; reconnecting in %.0f s", exc, backoff)
            stop.wait(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
        finally:
            session.close()


def _wait_for_mail(
    session: ImapSession, stop: threading.Event, poll_seconds: float, recorded: Folder | None
) -> bool:
    """IDLE on the Inbox until mail arrives, `poll_seconds` pass or a stop request
    (noticed within a second). False, without waiting, when the Inbox is no longer as
    the pass recorded it (`recorded`): mail came in while the pass ran. The refresh
    before IDLE (NOOP) takes such mail into this session's view, and IDLE only tells of
    changes after that, so it would have waited for the poll."""
    try:
        status = session.select("INBOX")
    except EmailsyncError:
        stop.wait(poll_seconds)
        return True
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
