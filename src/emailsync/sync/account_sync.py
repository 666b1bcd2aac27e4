"""One pass over an account: connect, list folders, sync each chosen folder.

A pass is what `emailsync sync --once` runs and what the worker repeats. Errors are
sorted by the error tree: a login or certificate the user must fix stops the account
and says why; a server that cannot be reached, a dropped connection, a database or a
disk that cannot be written ends the pass (what committed stays) as "retrying"; a
folder that fails (deleted meanwhile, refused by the server) is recorded on the
folder and the other folders go on.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import sqlalchemy as sa

from emailsync.config import Settings
from emailsync.domain.conditions import folder_window_start, folders_to_sync, selected_folders
from emailsync.domain.model import FolderRole, ServerFolder
from emailsync.domain.screening import Reason
from emailsync.domain.states import AccountState
from emailsync.errors import ConnectionSetupError, EmailsyncError, TransientError, needs_user
from emailsync.imap.connection import SessionSpec
from emailsync.imap.protocol import ImapSession
from emailsync.retry import retry_sentence, storage_error
from emailsync.store import accounts as account_store
from emailsync.store import blocking, directory, raw, raw_upkeep
from emailsync.store import coverage as coverage_store
from emailsync.store import messages as message_store
from emailsync.store.accounts import Account, Folder
from emailsync.store.crypto import SecretBox
from emailsync.store.db import reading
from emailsync.store.raw import RawFiles
from emailsync.sync.fetchers import AccountJob, FetchPool
from emailsync.sync.folder_sync import AccountContext, FolderResult, rescan_folder, sync_folder
from emailsync.sync.progress import BothProgress, Progress, SilentProgress, StoredProgress
from emailsync.sync.still_held import held_ids

log = logging.getLogger(__name__)


@dataclass(slots=True)
class PassResult:
    folders: dict[str, FolderResult] = field(default_factory=dict)
    folder_errors: dict[str, str] = field(default_factory=dict)
    orphans_removed: int = 0

    @property
    def new_messages(self) -> int:
        return sum(r.new_messages for r in self.folders.values())

    @property
    def left_out(self) -> Counter[Reason]:
        """What the pass left out of the CRM, by reason, over all its folders."""
        total: Counter[Reason] = Counter()
        for r in self.folders.values():
            total.update(r.left_out)
        return total


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
    """Run one full pass. A failure is recorded on the account before it is raised:
    "needs_reconnect" for what only the user can fix (errors.needs_user), "retrying"
    for the rest of the connection errors and for database and disk failures, which
    are raised as `StorageError` (a sentence, never the statement). The caller shows the
    sentence and decides when to retry."""
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
    except Exception as exc:
        if needs_user(exc):
            _record(engine, account.id, AccountState.NEEDS_RECONNECT, str(exc))
            raise
        storage = storage_error(exc, account.email)
        if storage is None and not isinstance(exc, ConnectionSetupError | TransientError):
            raise  # a bug: the caller logs it
        _record_retry(engine, account, storage or exc)
        if storage is not None and storage is not exc:
            raise storage from exc
        raise
    finally:
        if fetchers is not None:
            fetchers.close()
        if own_session and session is not None:
            session.close()


def _record(engine: sa.Engine, account_id: int, state: str, error: str) -> None:
    with engine.begin() as conn:
        account_store.set_state(conn, account_id, state, error=error, keep_user_state=True)


def _record_retry(engine: sa.Engine, account: Account, exc: Exception) -> None:
    """State "retrying", with the failure in words. Whoever retries (runtime.worker)
    adds when; a database that is down cannot take this either, and then the state
    waits for the next pass that reaches it."""
    now = datetime.now(UTC)
    sentence = retry_sentence(exc, host=account.imap.host, since=now, wait=None)
    try:
        with engine.begin() as conn:
            account_store.record_retry(
                conn, account.id, error=sentence, failing_since=now, retry_at=None
            )
    except Exception as again:
        if storage_error(again) is None:
            raise
        log.warning("could not record the state of account %s: %s", account.id, sentence)


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
    with reading(engine) as conn:
        known = account_store.list_folders(conn, account.id)
    server = session.survey(_asked_about(known, session))
    account = _follow_renames(engine, account, session, known, server)
    chosen = set(selected_folders(account.conditions, server))
    names = folders_to_sync(account.conditions, server)
    with engine.begin() as conn:
        started_at = account.sync_started_at or account_store.mark_sync_started(
            conn, account.id, datetime.now(UTC)
        )  # fixed by the first pass, never changed after
        account_store.set_state(
            conn, account.id, AccountState.SYNCING, error=None, keep_user_state=True
        )
        stored = account_store.record_server_folders(conn, account.id, server)
        contacts = directory.contact_emails(conn)
        blocked = blocking.patterns(conn, account.user_id)
        forgotten = message_store.forget_folders(conn, account.id, keep=names)
        covered = coverage_store.for_account(conn, account.id)
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
                covered=covered.get(stored[name].id),
            )
        except (ConnectionSetupError, TransientError):
            raise
        except EmailsyncError as exc:
            result.folder_errors[name] = str(exc)
            with engine.begin() as conn:
                account_store.update_folder(conn, stored[name].id, last_error=str(exc))
    keep = _still_held(engine, account, session, server, names, result, forgotten)
    with engine.begin() as conn:
        _finish_pass(conn, account, server, result, forgotten, keep)
        error = "; ".join(f"{k}: {v}" for k, v in result.folder_errors.items()) or None
        now = datetime.now(UTC)
        for name in result.folders:  # looked at now, new mail or not
            account_store.update_folder(conn, stored[name].id, last_sync_at=now, last_error=None)
        account_store.set_state(
            conn,
            account.id,
            AccountState.ACTIVE,
            error=error,
            synced_at=now,
            keep_user_state=True,
        )
    if result.orphans_removed and raw_files is not None:
        raw_upkeep.tidy(engine, raw_files, account.id)
    return result


def _asked_about(stored: list[Folder], session: ImapSession) -> list[str]:
    """The folders whose STATUS the pass will want (sync_folder: a folder synced before,
    with CONDSTORE; the folder open for IDLE in any case): asked with the folder list."""
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
    keep: set[int],
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
        result.orphans_removed = message_store.delete_orphans(conn, account.id, keep=keep)
        for f in finishing:
            account_store.update_folder(conn, f.id, remapping=False)


def _follow_renames(
    engine: sa.Engine,
    account: Account,
    session: ImapSession,
    known: list[Folder],
    server: list[ServerFolder],
) -> Account:
    """A synced folder gone from the list while a folder new to us has its UIDVALIDITY
    was renamed (Dovecot and most servers keep it on RENAME, RFC 3501 §6.3.5): the
    folder's row takes the new name, with its cursor and locations, and the selection
    follows it, so the rename neither loses nor fetches again any of its mail. A
    UIDVALIDITY shared by two candidates decides nothing (left to still_held.py)."""
    listed = {f.name for f in server}
    gone = [f for f in known if f.uidvalidity is not None and f.name not in listed]
    if not gone:
        return account
    names = {f.name for f in known}
    validity_of: dict[str, int] = {}
    for candidate in server:
        if candidate.selectable and candidate.name not in names:
            try:
                validity_of[candidate.name] = session.status(candidate.name).uidvalidity
            except (ConnectionSetupError, TransientError):
                raise
            except EmailsyncError:
                continue
    renames: dict[int, str] = {}
    for folder in gone:
        same = [n for n, v in validity_of.items() if v == folder.uidvalidity]
        twins = [f for f in gone if f.uidvalidity == folder.uidvalidity]
        if len(same) == 1 and len(twins) == 1:
            renames[folder.id] = same[0]
    if not renames:
        return account
    new_name = {f.name: renames[f.id] for f in gone if f.id in renames}
    conditions = replace(
        account.conditions, folders=tuple(new_name.get(n, n) for n in account.conditions.folders)
    )
    with engine.begin() as conn:
        for folder_id, name in renames.items():
            account_store.update_folder(conn, folder_id, name=name)
        if conditions != account.conditions:
            account_store.configure(conn, account.id, conditions)
    return replace(account, conditions=conditions)


def _still_held(
    engine: sa.Engine,
    account: Account,
    session: ImapSession,
    server: list[ServerFolder],
    names: list[str],
    result: PassResult,
    forgotten: int,
) -> set[int]:
    """The messages no synced folder holds that a folder of the mailbox still does
    (sync/still_held.py): read before the clean-up's transaction, only when it may
    delete, so a pass that changed nothing asks nothing."""
    changed = forgotten or any(r.removed for r in result.folders.values())
    with reading(engine) as conn:
        remapping = any(f.remapping for f in account_store.list_folders(conn, account.id))
        if not (changed or remapping):
            return set()
        unlocated = message_store.unlocated(conn, account.id)
    if not unlocated:
        return set()
    return held_ids(session, server, set(names), unlocated)


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
        account_store.set_state(
            conn, account.id, AccountState.ACTIVE, error=None, keep_user_state=True
        )
    return result
