"""Why isn't this email in the CRM? Find the mail on the server and name the rule.

Given a Message-ID or an address, every folder of the mailbox is searched (UID SEARCH
HEADER Message-ID, or FROM/TO/CC, RFC 3501 §6.4.4; SEARCH matches substrings, so each
hit is checked again against its parsed headers), the hits' address headers are read
with the same cheap FETCH the sync uses (at most MAX_HITS, newest first), and each hit
gets the first reason, in the order the sync itself decides:

    stored               this copy is in the CRM (its CRM message id)
    folder_not_selected  the folder is not among those synced
    junk_trash_drafts    ... and it is Junk, Trash or Drafts, never synced unless chosen
    outside_window       it arrived before the folder's "Sync from" window
    blocked              every other participant is blocked            (domain.screening)
    not_a_contact        past mail, "Only CRM contacts", no contact in it (domain.screening)
    parse_defect         ... because its address headers could not be read
    not_synced_yet       the rules keep it; the sync has not reached it yet
    kept_out_earlier     the rules keep it now, but kept it out when it was synced
                         (a contact added or an address unblocked since): `sync --rescan`

There is no size limit in the sync, so no message is left out for being too large.
Only the mailbox is read (EXAMINE, BODY.PEEK): nothing is written to the server or the
store. Subjects and addresses found here go to the caller, never to a log.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from emailsync.config import Settings
from emailsync.domain.addresses import normalize_email
from emailsync.domain.conditions import (
    NEVER_IMPLIED_ROLES,
    folder_window_start,
    folders_to_sync,
    in_display_order,
    selected_folders,
)
from emailsync.domain.model import FetchedMessage, ServerFolder
from emailsync.domain.screening import KeptOut, Reason, kept_out
from emailsync.errors import UsageError
from emailsync.imap.protocol import ImapSession
from emailsync.mime.parse import parse_header_summary, parse_safely
from emailsync.store import accounts as account_store
from emailsync.store import blocking, directory
from emailsync.store.accounts import Account, Folder
from emailsync.store.db import reading
from emailsync.store.tables import folders as folders_table
from emailsync.store.tables import message_locations, messages

MAX_HITS = 50


@dataclass(frozen=True, slots=True)
class Hit:
    """One copy of the mail on the server, and why it is or is not in the CRM."""

    account: str
    folder: str
    uid: int
    message_id: str  # without angle brackets, "" when the message has none
    date: datetime  # INTERNALDATE, UTC
    reason: Reason
    # the CRM message holding this Message-ID for this account (this copy or another)
    message_id_in_crm: int | None
    explanation: str  # the reason in words, for the terminal


@dataclass(frozen=True, slots=True)
class Report:
    hits: list[Hit]
    more: int  # hits found beyond MAX_HITS, not examined


@dataclass(frozen=True, slots=True)
class _Query:
    """What to look for: a Message-ID, an address, or (a bare a@b) either."""

    message_id: str
    address: str

    def criteria(self) -> list[object]:
        by_id: list[object] = ["HEADER", "Message-ID", self.message_id] if self.message_id else []
        a = self.address
        by_address: list[object] = ["OR", "OR", "FROM", a, "TO", a, "CC", a] if a else []
        if by_id and by_address:
            return ["OR", *by_id, by_address]  # a nested list is sent parenthesised
        return by_id or by_address

    def matches(self, message_id: str, people: frozenset[str]) -> bool:
        return bool(
            (self.message_id and message_id == self.message_id)
            or (self.address and self.address in people)
        )


def parse_query(text: str) -> _Query:
    """A Message-ID in angle brackets is one; name@example.com may be either, so both are
    searched and the hit's own headers decide which it was; anything else is a Message-ID."""
    text = text.strip()
    if not text or not text.isascii() or any(c in text for c in '"\\\r\n'):
        raise UsageError(
            f"{text!r} is neither a Message-ID nor an email address: give one as it appears "
            "in the mail, e.g. <id@example.com> or bob@example.com"
        )
    if text.startswith("<") and text.endswith(">"):
        return _Query(message_id=text[1:-1], address="")
    return _Query(message_id=text, address=normalize_email(text))  # "" when not an address


def why_not(
    settings: Settings,
    engine: sa.Engine,
    account: Account,
    query: str,
    *,
    session: ImapSession | None = None,
) -> Report:
    """Search every folder of `account` for `query` and explain each hit (newest first,
    at most MAX_HITS). Raises ConnectionSetupError / TransientError as a sync would."""
    from emailsync.sync.account_sync import open_session

    wanted = parse_query(query)
    own_session = session is None
    session = session or open_session(settings, account)
    try:
        server = [f for f in session.list_folders() if f.selectable]
        with reading(engine) as conn:
            rules = _Rules.load(conn, account, server)
        hits: list[Hit] = []
        more = 0
        for folder in in_display_order(server):
            status = session.select(folder.name)
            uids = sorted(session.search(wanted.criteria()), reverse=True)  # newest first
            room = MAX_HITS - len(hits)
            more += max(len(uids) - room, 0)
            if room <= 0 or not uids:
                continue
            metas = session.fetch_messages(uids[:room], headers_only=True)
            for meta in sorted(metas, key=lambda m: -m.uid):
                summary = parse_header_summary(meta.header_bytes or b"")
                people = summary.participants.emails()
                if not wanted.matches(summary.message_id, people):
                    continue  # SEARCH matched a substring of another id or address
                hits.append(
                    rules.explain(
                        engine, folder, status.uidvalidity, meta, summary.message_id, people
                    )
                )
        return Report(hits=hits, more=more)
    finally:
        if own_session:
            session.close()


@dataclass(frozen=True, slots=True)
class _Rules:
    """The account's rules as a sync pass would apply them now."""

    account: Account
    stored: dict[str, Folder]
    to_sync: frozenset[str]
    chosen: tuple[str, ...]  # the selected folders, in display order
    started_at: datetime
    contacts: frozenset[str]
    blocked: frozenset[str]

    @classmethod
    def load(cls, conn: sa.Connection, account: Account, server: list[ServerFolder]) -> _Rules:
        conditions = account.conditions
        return cls(
            account=account,
            stored={f.name: f for f in account_store.list_folders(conn, account.id)},
            to_sync=frozenset(folders_to_sync(conditions, server)),
            chosen=tuple(selected_folders(conditions, server)),
            # before the first pass, the pass that starts now would fix it to now
            started_at=account.sync_started_at or datetime.now(UTC),
            contacts=directory.contact_emails(conn),
            blocked=blocking.patterns(conn, account.user_id),
        )

    def explain(
        self,
        engine: sa.Engine,
        server_folder: ServerFolder,
        uidvalidity: int,
        meta: FetchedMessage,
        message_id: str,
        people: frozenset[str],
    ) -> Hit:
        name = server_folder.name
        folder = self.stored.get(name)
        if folder is not None and folder.uidvalidity != uidvalidity:
            folder = None  # its stored UIDs name other messages now (or none yet)
        with reading(engine) as conn:
            here = _stored_at(conn, folder, meta.uid) if folder is not None else None
            in_crm = here or _stored_by_message_id(conn, self.account.id, message_id)
        reason, words = self._reason(server_folder, folder, meta, people, here)
        return Hit(
            account=self.account.email,
            folder=name,
            uid=meta.uid,
            message_id=message_id,
            date=meta.internaldate,
            reason=reason,
            message_id_in_crm=in_crm,
            explanation=words,
        )

    def _reason(
        self,
        server_folder: ServerFolder,
        folder: Folder | None,
        meta: FetchedMessage,
        people: frozenset[str],
        here: int | None,
    ) -> tuple[Reason, str]:
        account, name = self.account, server_folder.name
        if here is not None:
            return Reason.STORED, f"in the CRM as message {here}"
        if name not in self.to_sync:
            folders = shlex.quote(",".join([*self.chosen, name]))
            fix = f"`emailsync accounts configure {account.id} --folders {folders}`"
            if server_folder.role in NEVER_IMPLIED_ROLES:
                return Reason.JUNK_TRASH_DRAFTS, (
                    f"{name} is a {server_folder.role.value} folder, never synced unless "
                    f"chosen: choose it with {fix}"
                )
            return Reason.FOLDER_NOT_SELECTED, (
                f"{name} is not among the synced folders: choose it with {fix}"
            )
        start = (folder.window_start if folder is not None else None) or folder_window_start(
            account.conditions, self.started_at, selected=name in self.chosen
        )
        if meta.internaldate < start:
            return Reason.OUTSIDE_WINDOW, (
                f"arrived before this folder's sync window starts ({start:%Y-%m-%d})"
            )
        rule = kept_out(
            people,
            meta.internaldate,
            conditions=account.conditions,
            started_at=self.started_at,
            own_emails=account.own_emails,
            contact_emails=self.contacts,
            blocked=self.blocked,
        )
        if rule is KeptOut.BLOCKED:
            return Reason.BLOCKED, "every other participant is blocked"
        if rule is KeptOut.NOT_A_CONTACT:
            defects = _address_defects(meta, people, account.own_emails)
            if defects:
                return Reason.PARSE_DEFECT, (
                    "its address headers could not be read ("
                    + ", ".join(defects)
                    + "), so no CRM contact was found in it under Only CRM contacts"
                )
            return Reason.NOT_A_CONTACT, (
                "past mail with no CRM contact in it, and the account syncs Only CRM "
                "contacts: add the contact, then `emailsync sync "
                f"{account.id} --backfill-contact ADDRESS`"
            )
        if folder is None or folder.uidvalidity is None or meta.uid > folder.uid_cursor:
            return Reason.NOT_SYNCED_YET, "the rules keep it; the next sync brings it in"
        return Reason.KEPT_OUT_EARLIER, (
            "the rules keep it now but kept it out when it was synced (a contact added or "
            f"an address unblocked since): run `emailsync sync {account.id} --rescan`"
        )


def _address_defects(
    meta: FetchedMessage, people: frozenset[str], own_emails: frozenset[str]
) -> list[str]:
    """The parser's notes on the address headers, when nobody but the user could be read
    from them: then "no contact" means "could not tell"."""
    if people - own_emails:
        return []
    return list(parse_safely(meta.header_bytes or b"").defects)


def _stored_at(conn: sa.Connection, folder: Folder, uid: int) -> int | None:
    """The CRM message at this folder and UID, as last synced (same UIDVALIDITY)."""
    return conn.execute(
        sa.select(message_locations.c.message_id)
        .join(folders_table, folders_table.c.id == message_locations.c.folder_id)
        .where(
            message_locations.c.folder_id == folder.id,
            message_locations.c.uid == uid,
            folders_table.c.remapping.is_(False),
        )
    ).scalar()


def _stored_by_message_id(conn: sa.Connection, account_id: int, message_id: str) -> int | None:
    if not message_id:
        return None
    return conn.execute(
        sa.select(sa.func.min(messages.c.id)).where(
            messages.c.account_id == account_id, messages.c.message_id == message_id
        )
    ).scalar()
