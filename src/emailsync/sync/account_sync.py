"""One pass over an account: connect, list folders, sync each chosen folder.

A pass is what `emailsync sync --once` runs and what the worker repeats. Errors are
sorted by the error tree: a connection the user must fix stops the account and says
why; a dropped connection ends the pass (what committed stays) and is retried; a
folder that fails (deleted meanwhile, refused by the server) is recorded on the
folder and the other folders go on.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import sqlalchemy as sa

from emailsync.config import Settings
from emailsync.domain.conditions import folder_window_start, folders_to_sync, selected_folders
from emailsync.domain.model import FolderRole, ServerFolder
from emailsync.errors import ConnectionSetupError, EmailsyncError, TransientError
from emailsync.imap.connection import SessionSpec
from emailsync.imap.protocol import ImapSession
from emailsync.store import accounts as account_store
from emailsync.store import blocking, directory, raw, raw_upkeep
from emailsync.store import messages as message_store
from emailsync.store.accounts import Account, Folder
from emailsync.store.crypto import SecretBox
from emailsync.store.db import reading
from emailsync.store.raw import RawFiles
from emailsync.sync.fetchers import AccountJob, FetchPool
from emailsync.sync.folder_sync import AccountContext, FolderResult, rescan_folder, sync_folder
from emailsync.sync.progress import BothProgress, Progress, SilentProgress, StoredProgress


@dataclass(slots=True)
class PassResult:
    folders: dict[str, FolderResult] = field(default_factory=dict)
    folder_errors: dict[str, str] = field(default_factory=dict)
    orphans_removed: int = 0

    @property
    def new_messages(self) -> int:
        return sum(r.new_messages for r in self.folders.values())


def session_spec(settings: Settings, account: Account) -> SessionSpec:
    """How to log in to the account (the password decrypted, kept in memory only)."""
    password = SecretBox.from_settings(settings).decrypt(
        account.password_secret, context=account.password_context()
    )
    return SessionSpec(
        host=account.imap.host,
        port=account.imap.port,
        security=account.imap.security,
        username=account.username,
        password=password,
        email=account.email,
        cafile=settings.ca_file,
    )


def open_session(settings: Settings, account: Account) -> ImapSession:
    return session_spec(settings, account).connect()


def sync_account(
    settings: Settings,
    engine: sa.Engine,
    account: Account,
    *,
    progress: Progress | None = None,
    session: ImapSession | None = None,
    rescan_for: frozenset[str] | None = None,
    rescan: bool = False,
) -> PassResult:
    """Run one full pass. Raises ConnectionSetupError / TransientError after recording
    them on the account, so the caller can show the sentence and decide to retry."""
    progress = BothProgress(progress or SilentProgress(), StoredProgress(engine, account.id))
    own_session = session is None
    fetchers = None
    try:
        if session is None:
            session = open_session(settings, account)
        # started only by a big folder (sync/folder_sync.py), shared by the pass's folders
        fetchers = FetchPool(
            lambda: AccountJob(session_spec(settings, account), raw.raw_files(settings), account.id)
        )
        return _pass(
            engine,
            account,
            session,
            progress,
            raw.raw_files(settings),
            fetchers,
            rescan or rescan_for is not None,
            rescan_for,
        )
    except ConnectionSetupError as exc:
        _record(engine, account.id, "needs_reconnect", str(exc))
        raise
    except TransientError as exc:
        _record(engine, account.id, "error", str(exc))
        raise
    finally:
        if fetchers is not None:
            fetchers.close()
        if own_session and session is not None:
            session.close()


def _record(engine: sa.Engine, account_id: int, state: str, error: str) -> None:
    with engine.begin() as conn:
        account_store.set_state(conn, account_id, state, error=error, keep_user_state=True)


def _pass(
    engine: sa.Engine,
    account: Account,
    session: ImapSession,
    progress: Progress,
    raw_files: RawFiles | None,
    fetchers: FetchPool | None,
    rescan: bool = False,
    rescan_for: frozenset[str] | None = None,
) -> PassResult:
    server = session.survey(_asked_about(engine, account, session))
    chosen = set(selected_folders(account.conditions, server))
    names = folders_to_sync(account.conditions, server)
    with engine.begin() as conn:
        started_at = account.sync_started_at or account_store.mark_sync_started(
            conn, account.id, datetime.now(UTC)
        )  # fixed by the first pass, never changed after
        account_store.set_state(conn, account.id, "syncing", error=None, keep_user_state=True)
        stored = account_store.record_server_folders(conn, account.id, server)
        contacts = directory.contact_emails(conn)
        blocked = blocking.patterns(conn, account.user_id)
        forgotten = message_store.forget_folders(conn, account.id, keep=names)
    ctx = AccountContext(
        account_id=account.id,
        conditions=account.conditions,
        started_at=started_at,
        own_emails=account.own_emails,
        contact_emails=contacts,
        default_sharing=account.default_sharing,
        blocked=blocked,
        raw_files=raw_files,
        fetchers=fetchers,
    )
    result = PassResult()
    if rescan:
        return _rescan(engine, account, session, progress, ctx, names, stored, rescan_for)
    for name in names:
        try:
            result.folders[name] = sync_folder(
                session,
                engine,
                ctx,
                stored[name],
                window_start=folder_window_start(
                    account.conditions, started_at, selected=name in chosen
                ),
                progress=progress,
            )
        except (ConnectionSetupError, TransientError):
            raise
        except EmailsyncError as exc:
            result.folder_errors[name] = str(exc)
            with engine.begin() as conn:
                account_store.update_folder(conn, stored[name].id, last_error=str(exc))
    with engine.begin() as conn:
        _finish_pass(conn, account, server, result, forgotten)
        error = "; ".join(f"{k}: {v}" for k, v in result.folder_errors.items()) or None
        account_store.set_state(
            conn,
            account.id,
            "active",
            error=error,
            synced_at=datetime.now(UTC),
            keep_user_state=True,
        )
    if result.orphans_removed and raw_files is not None:
        raw_upkeep.tidy(engine, raw_files, account.id)
    return result


def _asked_about(engine: sa.Engine, account: Account, session: ImapSession) -> list[str]:
    """The folders whose STATUS the pass will want (sync_folder: a folder synced before,
    with CONDSTORE; the folder open for IDLE in any case): asked with the folder list."""
    with reading(engine) as conn:
        stored = account_store.list_folders(conn, account.id)
    condstore = session.capabilities.condstore
    return [
        f.name
        for f in stored
        if f.uidvalidity is not None and (condstore or f.name == session.selected)
    ]


def _finish_pass(
    conn: sa.Connection,
    account: Account,
    server: list[ServerFolder],
    result: PassResult,
    forgotten: int,
) -> None:
    """Learn aliases from new sent mail; delete messages no folder holds any more.

    A folder re-mapped after a UIDVALIDITY change stays `remapping` until this step, so
    that a kill between the last batch and the clean-up is finished by the next pass;
    while any folder is still re-mapping, nothing is deleted (its messages are only
    waiting to be found again)."""
    sent = {f.name for f in server if f.role is FolderRole.SENT}
    if any(r.new_messages or r.new_locations for n, r in result.folders.items() if n in sent):
        account_store.learn_aliases(conn, account.id)
    remapping = [f for f in account_store.list_folders(conn, account.id) if f.remapping]
    finishing = [
        f for f in remapping if f.name in result.folders and result.folders[f.name].completed
    ]
    changed = forgotten or any(r.removed for r in result.folders.values())
    if len(finishing) == len(remapping) and (changed or finishing):
        result.orphans_removed = message_store.delete_orphans(conn, account.id)
        for f in finishing:
            account_store.update_folder(conn, f.id, remapping=False)


def _rescan(
    engine: sa.Engine,
    account: Account,
    session: ImapSession,
    progress: Progress,
    ctx: AccountContext,
    names: list[str],
    stored: dict[str, Folder],
    only_emails: frozenset[str] | None,
) -> PassResult:
    ctx = replace(ctx, only_emails=only_emails)
    result = PassResult()
    for name in names:
        result.folders[name] = rescan_folder(session, engine, ctx, stored[name], progress=progress)
    with engine.begin() as conn:
        account_store.set_state(conn, account.id, "active", error=None, keep_user_state=True)
    return result
