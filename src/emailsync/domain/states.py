"""The states a record can be in, as types: one home for what used to be string literals.

They are `StrEnum`s, so the values stored in the database, shown in JSON and compared in
old code stay the same strings.

Account states, and who moves an account out of each:

    setup            added, conditions not chosen yet            the user (configure)
    new              conditions chosen, no pass finished yet     the sync
    syncing          a pass is bringing in past mail             the sync
    active           in step with the mailbox                    the sync
    retrying         the server or the database cannot be reached;
                     passes are retried with backoff             the sync (by itself)
    error            the last pass failed for a reason of ours   the sync (next pass)
    needs_reconnect  the login or the certificate was refused    the user (reconnect)
    paused           the user stopped syncing                    the user (resume)
    removed          the user removed the account                nobody
"""

from __future__ import annotations

from enum import StrEnum


class AccountState(StrEnum):
    SETUP = "setup"
    NEW = "new"
    SYNCING = "syncing"
    ACTIVE = "active"
    RETRYING = "retrying"
    ERROR = "error"
    NEEDS_RECONNECT = "needs_reconnect"
    PAUSED = "paused"
    REMOVED = "removed"


# Set only by the user: a sync pass that ends must not overwrite them.
USER_HELD_STATES = frozenset({AccountState.PAUSED, AccountState.REMOVED})
# A worker leaves these accounts alone until the user acts.
WAITING_FOR_USER_STATES = frozenset(
    {AccountState.SETUP, AccountState.NEEDS_RECONNECT, AccountState.PAUSED, AccountState.REMOVED}
)
# A pass is (or is about to be) bringing in past mail.
BUSY_STATES = frozenset({AccountState.NEW, AccountState.SYNCING})


class Sharing(StrEnum):
    """Who sees a thread: its owner only, or everyone who may see its linked records."""

    PRIVATE = "private"
    SHARED = "shared"


class Visibility(StrEnum):
    """Who sees a CRM record (person, organisation, deal)."""

    COMPANY = "company"
    OWNER = "owner"


class Security(StrEnum):
    """How a connection to a mail server is protected.

    ssl: TLS from the first byte (IMAP 993, SMTP 465); starttls: plain, then STARTTLS
    (IMAP 143, SMTP 587); plain: no TLS at all, refused except to a loopback address."""

    SSL = "ssl"
    STARTTLS = "starttls"
    PLAIN = "plain"
