"""What the email-sync pages and the API do to a user's accounts: one set of functions
for both, so a page and its API twin cannot drift apart.

Settings are personal: every function takes the signed-in user and treats another
user's account exactly like a missing one (NotFound), so ids do not leak.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from emailsync.config import Settings
from emailsync.domain.conditions import FutureMode, PastScope, SyncConditions
from emailsync.domain.states import BUSY_STATES, AccountState, Security
from emailsync.domain.window import SyncFrom
from emailsync.errors import NotFound, UsageError
from emailsync.store import accounts as account_store
from emailsync.store import messages as message_store
from emailsync.store.accounts import Account, Endpoint, Folder
from emailsync.store.db import reading
from emailsync.store.raw import RawFiles
from emailsync.sync import setup
from emailsync.sync import why_not as why_not_rules
from emailsync.sync.why_not import Reason

Wake = Callable[[int], None]

SYNC_FROM_CHOICES = (
    (SyncFrom.NOW, "Now"),
    (SyncFrom.ONE_MONTH, "1 month"),
    (SyncFrom.THREE_MONTHS, "3 months"),
    (SyncFrom.SIX_MONTHS, "6 months"),
    (SyncFrom.ONE_YEAR, "1 year"),
)


def own_account(engine: sa.Engine, user_id: int, account_id: int) -> Account:
    with reading(engine) as conn:
        try:
            account = account_store.find_account(conn, str(account_id))
        except UsageError:
            account = None
    if account is None or account.user_id != user_id:
        raise NotFound(f"There is no account {account_id} among your email accounts")
    return account


def user_accounts(engine: sa.Engine, user_id: int) -> list[Account]:
    with reading(engine) as conn:
        return account_store.list_accounts(conn, user_id=user_id)


def folders(engine: sa.Engine, account: Account) -> list[Folder]:
    with reading(engine) as conn:
        return account_store.list_folders(conn, account.id)


def message_count(engine: sa.Engine, account: Account) -> int:
    with reading(engine) as conn:
        return sum(message_store.folder_counts(conn, account.id).values())


def folders_with_counts(engine: sa.Engine, account: Account) -> list[tuple[Folder, int]]:
    """Each stored folder with how many stored messages have a location in it."""
    with reading(engine) as conn:
        counts = account_store.synced_message_counts(conn, account.id)
        return [(f, counts.get(f.id, 0)) for f in account_store.list_folders(conn, account.id)]


def _int(value: object, label: str) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise UsageError(f"The {label} port must be a number, e.g. 993") from None


def connect(
    settings: Settings,
    engine: sa.Engine,
    user_id: int,
    *,
    email: str,
    password: str,
    imap_host: str,
    imap_port: object,
    imap_security: str,
    smtp_host: str = "",
    smtp_port: object = "",
    smtp_security: str = Security.STARTTLS,
    username: str = "",
) -> Account:
    """Test the login and save the account. It waits in "setup" (nothing is synced)
    until the user has chosen the sync conditions and pressed Sync."""
    imap = Endpoint(imap_host.strip(), _int(imap_port, "IMAP"), imap_security)
    smtp = None
    if smtp_host.strip():
        smtp = Endpoint(smtp_host.strip(), _int(smtp_port, "SMTP"), smtp_security)
    request = setup.ConnectRequest(
        user_id=user_id,
        email=email.strip(),
        imap=imap,
        smtp=smtp,
        username=username.strip(),
        password=password,
    )
    account, _ = setup.add_account(settings, engine, request)
    return own_account(engine, user_id, account.id)


def parse_conditions(values: Mapping[str, object], folder_names: Iterable[str]) -> SyncConditions:
    """Conditions from a form or a JSON body; UsageError names the field that is wrong."""

    def one(key: str, default: str) -> str:
        value = values.get(key, default)
        return str(value if value is not None else default)

    try:
        sync_from = SyncFrom(one("sync_from", "3m"))
    except ValueError:
        raise UsageError("Sync from must be one of now, 1m, 3m, 6m, 1y") from None
    try:
        scope = PastScope(one("past_scope", "contacts"))
    except ValueError:
        raise UsageError("Sync emails from must be all (All people) or contacts") from None
    try:
        future = FutureMode(one("future", "selected"))
    except ValueError:
        raise UsageError("Future mail must be all (all folders) or selected") from None
    raw_folders = values.get("folders") or []
    if isinstance(raw_folders, str):
        raw_folders = [raw_folders]
    chosen = [str(f) for f in raw_folders] if isinstance(raw_folders, Iterable) else []
    known = set(folder_names)
    unknown = [f for f in chosen if f not in known]
    if unknown:
        raise UsageError(f"There is no folder {unknown[0]!r} on this account")
    return SyncConditions(
        sync_from=sync_from,
        past_scope=scope,
        folders=tuple(dict.fromkeys(chosen)),
        future=future,
        track_opens=_flag(values.get("track_opens")),
        track_links=_flag(values.get("track_links")),
    )


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    return str(value or "").lower() in ("1", "on", "true", "yes")


def preview(settings: Settings, account: Account, conditions: SyncConditions) -> PreviewResult:
    items = setup.preview(settings, account, conditions)
    past = conditions.sync_from.has_past_sync
    return PreviewResult(
        total=sum(i.in_window for i in items) if past else 0,
        folders=[(i.name, i.in_window if past else 0) for i in items],
        past=past,
        contacts_only=past and conditions.past_scope is PastScope.CONTACTS,
    )


@dataclass(frozen=True, slots=True)
class PreviewResult:
    total: int
    folders: list[tuple[str, int]]
    past: bool
    contacts_only: bool

    @property
    def sentence(self) -> str:
        if not self.past:
            return "No past mail will be synced: only mail sent or received from now on."
        parts = ", ".join(f"{name} {count}" for name, count in self.folders)
        noun = "message" if self.total == 1 else "messages"
        return f"This will bring in {self.total} {noun}: {parts}."


@dataclass(frozen=True, slots=True)
class Started:
    account: Account
    notes: list[str]  # what the change does to mail already synced (setup.save_conditions)


def start_sync(
    engine: sa.Engine, account: Account, conditions: SyncConditions, wake: Wake | None
) -> Started:
    """Save the conditions and let the worker start (first Sync) or pick them up. The
    notes say what a change does to mail already synced (empty on the first Sync)."""
    if account.state == AccountState.REMOVED:
        raise UsageError(f"{account.email} was removed; add it again to sync it")
    with engine.begin() as conn:
        notes = setup.save_conditions(conn, account, conditions)
        if account.state in (AccountState.SETUP, AccountState.PAUSED):
            account_store.set_state(conn, account.id, AccountState.NEW)
    if wake:
        wake(account.id)
    return Started(own_account(engine, account.user_id, account.id), notes)


def sync_now(engine: sa.Engine, account: Account, wake: Wake | None) -> str:
    """Start a pass at once; an account waiting to retry retries now (Supervisor.wake
    ends its wait and starts its backoff over). Returns what happens, in words."""
    cannot = {
        AccountState.PAUSED: "Resume syncing first",
        AccountState.REMOVED: "This account was removed",
        AccountState.SETUP: "Choose the sync conditions and press Sync first",
        AccountState.NEEDS_RECONNECT: "Reconnect the account first",
    }
    if account.state in cannot:
        what = cannot[AccountState(account.state)]
        raise UsageError(f"{account.email} cannot sync now: {what.lower()}")
    if wake:
        wake(account.id)
    if account.state in (AccountState.RETRYING, AccountState.ERROR):
        return f"Retrying {account.email} now."
    return f"Syncing {account.email} now."


def pause(engine: sa.Engine, account: Account, wake: Wake | None) -> None:
    if account.state in (AccountState.REMOVED, AccountState.SETUP):
        raise UsageError(f"{account.email} is not syncing")
    with engine.begin() as conn:
        account_store.set_state(conn, account.id, AccountState.PAUSED)
    if wake:
        wake(account.id)


def resume(engine: sa.Engine, account: Account, wake: Wake | None) -> None:
    if account.state != AccountState.PAUSED:
        raise UsageError(f"{account.email} is not paused")
    with engine.begin() as conn:
        account_store.set_state(conn, account.id, AccountState.NEW)
    if wake:
        wake(account.id)


def reconnect(
    settings: Settings, engine: sa.Engine, account: Account, password: str, wake: Wake | None
) -> None:
    if account.state == AccountState.REMOVED:
        raise UsageError(f"{account.email} was removed; add it again to sync it")
    setup.reconnect(settings, engine, account, password)
    if wake:
        wake(account.id)


def remove(
    engine: sa.Engine,
    account: Account,
    *,
    keep_mail: bool,
    wake: Wake | None,
    raw_files: RawFiles | None = None,
) -> None:
    with engine.begin() as conn:
        account_store.delete_account(conn, account.id, keep_mail=keep_mail)
    if raw_files is not None and not keep_mail:
        raw_files.drop_account(account.id)
    if wake:
        wake(account.id)


@dataclass(frozen=True, slots=True)
class Status:
    key: str  # css modifier and API value
    label: str
    detail: str
    busy: bool
    done: int
    total: int

    @property
    def percent(self) -> int:
        if self.total <= 0:
            return 0 if self.busy else 100
        return min(100, round(100 * self.done / self.total))


# The tail the worker writes after the failure (runtime.worker, retry.retry_sentence): a
# countdown as old as the failure, replaced by one computed when the page is shown.
_RETRY_TAIL = re.compile(r"; (?:retrying in \d+ s|retrying now|the next sync retries)$")


def retry_words(account: Account, now: datetime | None = None) -> str:
    """ "Cannot reach imap.example.com since 14:02; retrying in 40 s", the countdown
    computed from `retry_at` now (the stored sentence's was right when it was written)."""
    now = now or datetime.now(UTC)
    head = _RETRY_TAIL.sub("", account.last_error or "")
    if not head:
        head = f"Cannot reach {account.imap.host}"
        if account.failing_since is not None:
            head += f" since {account.failing_since.astimezone():%H:%M}"
    if account.retry_at is None:
        return f"{head}; the next sync retries"
    seconds = round((account.retry_at - now).total_seconds())
    return f"{head}; retrying in {seconds} s" if seconds >= 1 else f"{head}; retrying now"


def status(account: Account, now: datetime | None = None) -> Status:
    """The account's state in words, as the settings page and the API say it."""
    state, done, total = account.state, account.progress_done, account.progress_total
    error = account.last_error or ""
    if state in (AccountState.RETRYING, AccountState.ERROR) and (
        account.retry_at is not None or _RETRY_TAIL.search(error)
    ):
        error = retry_words(account, now) + "."
    words: dict[str, tuple[str, str]] = {
        AccountState.SETUP: ("Waiting for you", "Choose what to sync and press Sync to start."),
        AccountState.NEW: ("Connecting", "The sync starts in a moment."),
        AccountState.SYNCING: ("Syncing", "Bringing in your mail."),
        AccountState.ACTIVE: ("Active", "New mail is synced as it arrives."),
        AccountState.PAUSED: (
            "Paused",
            "No new mail is synced. What was synced stays; resume any time.",
        ),
        AccountState.NEEDS_RECONNECT: (
            "Needs reconnecting",
            f"{error or 'The server refused the login.'} Reconnect with the current "
            "password (or a new app password) to carry on; synced mail is kept.",
        ),
        AccountState.RETRYING: (
            "Retrying",
            f"{error or 'The mail server cannot be reached.'} This heals by itself and "
            "synced mail is kept; Sync now retries at once.",
        ),
        AccountState.ERROR: (
            "Having trouble",
            f"{error or 'The last sync failed.'} We keep retrying; if this stays, "
            "check the server settings or press Sync now.",
        ),
        AccountState.REMOVED: ("Removed", "This account no longer syncs; its synced mail is kept."),
    }
    label, detail = words.get(state, (state.replace("_", " ").capitalize(), ""))
    if state == AccountState.SYNCING and total:
        label = "Syncing past mail"
        detail = f"{done} of {total} messages looked at."
    if state == AccountState.ACTIVE and error:
        detail = f"Synced, but some folders failed: {error}"
    return Status(state, label, detail, state in BUSY_STATES, done, total)


def last_sync_words(moment: datetime | None) -> str:
    if moment is None:
        return "never"
    return moment.strftime("%d %b %Y, %H:%M UTC")


# -- "Why isn't this email in the CRM?" ---------------------------------------------------

REASON_WORDS: dict[Reason, str] = {
    Reason.STORED: "In the CRM",
    Reason.FOLDER_NOT_SELECTED: "Folder not synced",
    Reason.JUNK_TRASH_DRAFTS: "Junk, Trash or Drafts",
    Reason.OUTSIDE_WINDOW: "Before Sync from",
    Reason.BLOCKED: "Blocked",
    Reason.NOT_A_CONTACT: "Not a CRM contact",
    Reason.PARSE_DEFECT: "Addresses unreadable",
    Reason.NOT_SYNCED_YET: "Not synced yet",
    Reason.KEPT_OUT_EARLIER: "Kept out when synced",
}

# Reasons a change of the sync conditions would undo (the page links to them).
CONDITIONS_REASONS = frozenset(
    {
        Reason.FOLDER_NOT_SELECTED,
        Reason.JUNK_TRASH_DRAFTS,
        Reason.OUTSIDE_WINDOW,
        Reason.NOT_A_CONTACT,
    }
)


def why_not(
    settings: Settings, engine: sa.Engine, user_id: int, account_id: int, query: str
) -> why_not_rules.Report:
    """Look the mail up on the user's own mailbox (another user's account is NotFound)
    and say for each copy found why it is or is not in the CRM (at most MAX_HITS)."""
    account = own_account(engine, user_id, account_id)
    if account.state == AccountState.REMOVED:
        raise UsageError(f"{account.email} was removed; add it again to look mail up in it")
    return why_not_rules.why_not(settings, engine, account, query)
