"""Mail accounts, their sync conditions and per-folder sync state."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from emailsync.domain.addresses import normalize_email
from emailsync.domain.conditions import ROLE_ORDER, FutureMode, PastScope, SyncConditions
from emailsync.domain.model import FolderRole, ServerFolder
from emailsync.domain.states import AccountState
from emailsync.domain.window import SyncFrom
from emailsync.errors import UsageError
from emailsync.store.secret_binding import password_context
from emailsync.store.tables import accounts, folders, message_locations, users


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    port: int
    security: str  # ssl | starttls | plain


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    user_id: int
    user_email: str
    email: str
    imap: Endpoint
    smtp: Endpoint | None
    username: str
    password_secret: str
    aliases: tuple[str, ...]
    conditions: SyncConditions
    state: str
    sync_started_at: datetime | None
    last_sync_at: datetime | None
    last_error: str | None
    default_sharing: str = "private"
    progress_done: int = 0
    progress_total: int = 0
    failing_since: datetime | None = None  # state "retrying": since when passes fail
    retry_at: datetime | None = None  # and when the next attempt starts
    smtp_username: str | None = None  # None: the IMAP username
    smtp_password_secret: str | None = None  # None: the IMAP password
    smtp_max_size: int | None = None  # the SMTP server's SIZE limit, as last announced
    provider_files_sent: bool = False  # the provider files sent mail in Sent itself
    two_way: bool = False  # CRM read/unread/archive/delete act on the mailbox
    archive_folder: str | None = None  # None: the folder with the \Archive role

    @property
    def own_emails(self) -> frozenset[str]:
        return frozenset({self.email, *self.aliases})

    def password_context(self) -> str:
        """What the encrypted password is bound to: it cannot be replayed on another row."""
        return password_context(self.id)


@dataclass(frozen=True, slots=True)
class Folder:
    id: int
    account_id: int
    name: str
    role: FolderRole
    server_messages: int | None
    uidvalidity: int | None
    uid_cursor: int
    uidnext: int | None
    highestmodseq: int | None
    window_start: datetime | None
    remapping: bool
    last_sync_at: datetime | None
    last_error: str | None


def _account(row: sa.Row) -> Account:
    smtp = Endpoint(row.smtp_host, row.smtp_port, row.smtp_security) if row.smtp_host else None
    return Account(
        id=row.id,
        user_id=row.user_id,
        user_email=row.user_email,
        email=row.email,
        imap=Endpoint(row.imap_host, row.imap_port, row.imap_security),
        smtp=smtp,
        username=row.username,
        password_secret=row.password_secret,
        aliases=tuple(row.aliases),
        conditions=SyncConditions(
            sync_from=SyncFrom(row.sync_from),
            past_scope=PastScope(row.past_scope),
            folders=tuple(row.folders),
            future=FutureMode(row.future_mode),
            track_opens=row.track_opens,
            track_links=row.track_links,
        ),
        state=row.state,
        sync_started_at=row.sync_started_at,
        last_sync_at=row.last_sync_at,
        last_error=row.last_error,
        default_sharing=row.default_sharing,
        progress_done=row.progress_done,
        progress_total=row.progress_total,
        failing_since=row.failing_since,
        retry_at=row.retry_at,
        smtp_username=row.smtp_username,
        smtp_password_secret=row.smtp_password_secret,
        smtp_max_size=row.smtp_max_size,
        provider_files_sent=row.provider_files_sent,
        two_way=row.two_way,
        archive_folder=row.archive_folder,
    )


def _select_accounts() -> sa.Select:
    return sa.select(accounts, users.c.email.label("user_email")).join(
        users, users.c.id == accounts.c.user_id
    )


def create_account(
    conn: sa.Connection,
    *,
    user_id: int,
    email: str,
    imap: Endpoint,
    smtp: Endpoint | None,
    username: str,
    conditions: SyncConditions,
    state: AccountState,
) -> int:
    """Insert the account row; the caller stores the encrypted password right after,
    in the same transaction, because the ciphertext is bound to the new id.

    A mailbox is connected once: a second CRM user connecting the same mailbox (same
    IMAP server and login) is refused with a sentence naming who connected it, rather
    than storing every message twice with two privacy settings. Sharing threads, or an
    admin moving the account (`accounts move`), is the way to let a colleague see it."""
    exists = conn.execute(
        sa.select(accounts.c.id).where(accounts.c.user_id == user_id, accounts.c.email == email)
    ).first()
    if exists:
        raise UsageError(f"{email} is connected already (account {exists.id})")
    held = conn.execute(
        sa.select(accounts.c.id, users.c.email, users.c.name)
        .join(users, users.c.id == accounts.c.user_id)
        .where(
            accounts.c.user_id != user_id,
            accounts.c.state != AccountState.REMOVED,
            sa.func.lower(accounts.c.imap_host) == imap.host.lower().rstrip("."),
            sa.or_(
                sa.func.lower(accounts.c.username) == username.lower(),
                sa.func.lower(accounts.c.email) == email.lower(),
            ),
        )
    ).first()
    if held:
        who = f"{held.name} ({held.email})" if held.name else held.email
        raise UsageError(
            f"{email} on {imap.host} is already connected by {who} (account {held.id}): "
            "a mailbox is synced once. Ask them to share its threads with you, or an admin "
            f"to move it with `emailsync accounts move {held.id} --user YOUR-EMAIL`"
        )
    key = conn.execute(
        accounts.insert().values(
            user_id=user_id,
            email=email,
            imap_host=imap.host,
            imap_port=imap.port,
            imap_security=imap.security,
            smtp_host=smtp.host if smtp else None,
            smtp_port=smtp.port if smtp else None,
            smtp_security=smtp.security if smtp else None,
            username=username,
            password_secret="",
            aliases=[],
            sync_from=conditions.sync_from.value,
            past_scope=conditions.past_scope.value,
            folders=list(conditions.folders),
            future_mode=conditions.future.value,
            track_opens=conditions.track_opens,
            track_links=conditions.track_links,
            state=state,
            created_at=datetime.now(UTC),
        )
    ).inserted_primary_key
    assert key is not None
    return int(key[0])


def set_password_secret(conn: sa.Connection, account_id: int, secret: str) -> None:
    conn.execute(
        accounts.update().where(accounts.c.id == account_id).values(password_secret=secret)
    )


def find_account(conn: sa.Connection, ref: str) -> Account:
    """An account by its id or its email address (the CLI's ACCOUNT argument)."""
    query = _select_accounts()
    if ref.isdigit():
        rows = conn.execute(query.where(accounts.c.id == int(ref))).all()
    else:
        rows = conn.execute(query.where(accounts.c.email == normalize_email(ref))).all()
    if not rows:
        raise UsageError(f"No account {ref}: see `emailsync accounts list`")
    if len(rows) > 1:
        ids = ", ".join(str(r.id) for r in rows)
        raise UsageError(f"{ref} is connected by several users (accounts {ids}): use the id")
    return _account(rows[0])


def list_accounts(conn: sa.Connection, user_id: int | None = None) -> list[Account]:
    """All accounts, or those of one user (settings are personal: the web app asks so)."""
    query = _select_accounts().order_by(accounts.c.id)
    if user_id is not None:
        query = query.where(accounts.c.user_id == user_id)
    return [_account(r) for r in conn.execute(query)]


def set_default_sharing(conn: sa.Connection, account_id: int, sharing: str) -> None:
    if sharing not in ("private", "shared"):
        raise UsageError("Sharing is either private or shared")
    conn.execute(
        accounts.update().where(accounts.c.id == account_id).values(default_sharing=sharing)
    )


def configure(conn: sa.Connection, account_id: int, conditions: SyncConditions) -> None:
    conn.execute(
        accounts.update()
        .where(accounts.c.id == account_id)
        .values(
            sync_from=conditions.sync_from.value,
            past_scope=conditions.past_scope.value,
            folders=list(conditions.folders),
            future_mode=conditions.future.value,
            track_opens=conditions.track_opens,
            track_links=conditions.track_links,
        )
    )


def mark_sync_started(conn: sa.Connection, account_id: int, moment: datetime) -> datetime:
    """Fix the moment the first sync started: every window is counted back from it.

    Whole seconds, because INTERNALDATE has no finer resolution: mail that arrives in
    the very second the sync starts counts as new mail, not as past mail."""
    moment = moment.replace(microsecond=0)
    conn.execute(
        accounts.update()
        .where(accounts.c.id == account_id, accounts.c.sync_started_at.is_(None))
        .values(sync_started_at=moment)
    )
    return conn.execute(
        sa.select(accounts.c.sync_started_at).where(accounts.c.id == account_id)
    ).scalar_one()


# States only the user leaves: a sync pass that ends must not overwrite them.
USER_STATES = (AccountState.PAUSED, AccountState.REMOVED)  # = USER_HELD_STATES, in order


def set_state(
    conn: sa.Connection,
    account_id: int,
    state: str,
    *,
    error: str | None = None,
    synced_at: datetime | None = None,
    keep_user_state: bool = False,
) -> None:
    """Record the account's state. With `keep_user_state` (what the sync does) a pause or
    removal the user made while the pass ran is kept."""
    values: dict[str, object] = {"state": state, "last_error": error}
    if state in (AccountState.ACTIVE, AccountState.NEEDS_RECONNECT):
        values.update(failing_since=None, retry_at=None)  # no longer waiting to retry
    if synced_at is not None:
        values["last_sync_at"] = synced_at
    query = accounts.update().where(accounts.c.id == account_id)
    if keep_user_state:
        conn.execute(query.where(accounts.c.state.not_in(USER_STATES)).values(**values))
        if synced_at is not None:
            conn.execute(query.values(last_sync_at=synced_at))
    else:
        conn.execute(query.values(**values))


def record_retry(
    conn: sa.Connection,
    account_id: int,
    *,
    error: str,
    failing_since: datetime,
    retry_at: datetime | None,
    state: AccountState = AccountState.RETRYING,
) -> None:
    """State "retrying" (or "error" for a failure of ours, retried the same way): a pass
    failed and the next one starts at `retry_at`. `failing_since` is kept from the first
    failure of a run of them; a pause or removal is kept."""
    conn.execute(
        accounts.update()
        .where(accounts.c.id == account_id, accounts.c.state.not_in(USER_STATES))
        .values(
            state=state,
            last_error=error,
            failing_since=sa.func.coalesce(accounts.c.failing_since, failing_since),
            retry_at=retry_at,
        )
    )


# -- folders -------------------------------------------------------------------------


def _folder(row: sa.Row) -> Folder:
    return Folder(
        id=row.id,
        account_id=row.account_id,
        name=row.name,
        role=FolderRole(row.role),
        server_messages=row.server_messages,
        uidvalidity=row.uidvalidity,
        uid_cursor=row.uid_cursor,
        uidnext=row.uidnext,
        highestmodseq=row.highestmodseq,
        window_start=row.window_start,
        remapping=row.remapping,
        last_sync_at=row.last_sync_at,
        last_error=row.last_error,
    )


def record_server_folders(
    conn: sa.Connection, account_id: int, server: Sequence[ServerFolder]
) -> dict[str, Folder]:
    """Remember every folder the server lists (with its role), keeping sync state."""
    rows = conn.execute(sa.select(folders).where(folders.c.account_id == account_id)).all()
    known = {r.name: r for r in rows}
    changed = False
    for f in server:
        if f.name not in known:
            conn.execute(folders.insert().values(account_id=account_id, name=f.name, role=f.role))
            changed = True
        elif known[f.name].role != f.role:
            conn.execute(
                folders.update().where(folders.c.id == known[f.name].id).values(role=f.role)
            )
            changed = True
    now = list_folders(conn, account_id) if changed else _in_order(rows)  # else no re-read
    return {f.name: f for f in now}


def list_folders(conn: sa.Connection, account_id: int) -> list[Folder]:
    """The account's folders: Inbox first, then Sent, archives, own folders, bins last."""
    return _in_order(conn.execute(sa.select(folders).where(folders.c.account_id == account_id)))


def _in_order(rows: Iterable[sa.Row]) -> list[Folder]:
    found = [_folder(r) for r in rows]
    return sorted(found, key=lambda f: (ROLE_ORDER.index(f.role), f.name.casefold()))


def get_folder(conn: sa.Connection, folder_id: int) -> Folder:
    return _folder(conn.execute(sa.select(folders).where(folders.c.id == folder_id)).one())


def update_folder(conn: sa.Connection, folder_id: int, **values: object) -> None:
    conn.execute(folders.update().where(folders.c.id == folder_id).values(**values))


def start_remap(conn: sa.Connection, folder_id: int, uidvalidity: int) -> None:
    """UIDVALIDITY changed: every stored UID of the folder is meaningless now.

    Locations are dropped but their messages stay (with their links); the folder is
    read again from UID 1 and each message found is matched back by its dedup key.
    Orphan messages are only cleaned up once no folder is remapping.
    """
    conn.execute(message_locations.delete().where(message_locations.c.folder_id == folder_id))
    update_folder(
        conn,
        folder_id,
        uidvalidity=uidvalidity,
        uid_cursor=0,
        uidnext=None,
        highestmodseq=None,
        remapping=True,
    )


def set_progress(conn: sa.Connection, account_id: int, done: int, total: int) -> None:
    conn.execute(
        accounts.update()
        .where(accounts.c.id == account_id)
        .values(progress_done=done, progress_total=total)
    )


def delete_account(conn: sa.Connection, account_id: int, *, keep_mail: bool) -> None:
    """Remove an account. To keep its mail, the row stays as `removed` (credentials
    dropped, never synced again) so the mail and its links remain readable."""
    if keep_mail:
        conn.execute(
            accounts.update()
            .where(accounts.c.id == account_id)
            .values(state="removed", password_secret="", last_error=None)
        )
    else:
        conn.execute(accounts.delete().where(accounts.c.id == account_id))


def learn_aliases(conn: sa.Connection, account_id: int) -> tuple[str, ...]:
    """The addresses the account sends from, learnt from the From of its Sent folder,
    count as the user (never as a contact) for direction and linking."""
    from emailsync.store.tables import messages

    sent_from: set[str] = set(
        conn.execute(
            sa.select(messages.c.from_email)
            .join(message_locations, message_locations.c.message_id == messages.c.id)
            .join(folders, folders.c.id == message_locations.c.folder_id)
            .where(folders.c.account_id == account_id, folders.c.role == FolderRole.SENT)
            .distinct()
        ).scalars()
    )
    return add_aliases(conn, account_id, sent_from)


def add_aliases(conn: sa.Connection, account_id: int, emails: set[str]) -> tuple[str, ...]:
    row = conn.execute(
        sa.select(accounts.c.email, accounts.c.aliases).where(accounts.c.id == account_id)
    ).one()
    known = set(row.aliases)
    new = {normalize_email(e) for e in emails} - known - {row.email, ""}
    if new:
        conn.execute(
            accounts.update().where(accounts.c.id == account_id).values(aliases=sorted(known | new))
        )
    return tuple(sorted(known | new))


def remove_aliases(conn: sa.Connection, account_id: int, emails: set[str]) -> tuple[str, ...]:
    """Drop addresses from the account's aliases (those it does not have are ignored)."""
    row = conn.execute(sa.select(accounts.c.aliases).where(accounts.c.id == account_id)).one()
    kept = set(row.aliases) - {normalize_email(e) for e in emails}
    if kept != set(row.aliases):
        conn.execute(
            accounts.update().where(accounts.c.id == account_id).values(aliases=sorted(kept))
        )
    return tuple(sorted(kept))


def move_account(conn: sa.Connection, account_id: int, user_id: int) -> None:
    """Give a mailbox to another CRM user (an admin's fix for a mailbox connected by the
    wrong person): its mail, threads and cursors go with it; its privacy is then the new
    owner's. The password stays valid: its ciphertext is bound to the account, not the user."""
    account = conn.execute(sa.select(accounts.c.email).where(accounts.c.id == account_id)).one()
    clash = conn.execute(
        sa.select(accounts.c.id).where(
            accounts.c.user_id == user_id, accounts.c.email == account.email
        )
    ).first()
    if clash:
        raise UsageError(
            f"That user has {account.email} connected already (account {clash.id}): remove "
            "one of the two first"
        )
    conn.execute(accounts.update().where(accounts.c.id == account_id).values(user_id=user_id))


def synced_message_counts(conn: sa.Connection, account_id: int) -> dict[int, int]:
    """Per folder id, how many stored messages have a location in it (a message held
    twice in one folder counts once; folders with none are left out)."""
    rows = conn.execute(
        sa.select(
            message_locations.c.folder_id,
            sa.func.count(sa.distinct(message_locations.c.message_id)),
        )
        .join(folders, folders.c.id == message_locations.c.folder_id)
        .where(folders.c.account_id == account_id)
        .group_by(message_locations.c.folder_id)
    )
    return {r[0]: r[1] for r in rows}
