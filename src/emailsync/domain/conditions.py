"""The sync conditions of the seed, and the rules that follow from them.

A user picks, per account:
  * sync from  now | 1m | 3m | 6m | 1y        (domain.window)
  * past scope all | contacts                 (only for the past window; default contacts)
  * folders    the labels to sync             (default Inbox + Sent)
  * future     all | selected                 (future mail and re-syncs; never contacts-only)
  * tracking   opens, links                   (used when sending lands)

From those, for each message the sync meets:
  * in the window?     INTERNALDATE >= window start (for folders outside the selection
                       under future=all, the window starts when the sync started: no past)
  * needs a contact?   only past mail (INTERNALDATE < sync start) under scope=contacts
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from emailsync.domain.model import FolderRole, ServerFolder
from emailsync.domain.window import SyncFrom, window_start


class PastScope(enum.StrEnum):
    ALL = "all"
    CONTACTS = "contacts"


class FutureMode(enum.StrEnum):
    ALL = "all"
    SELECTED = "selected"


DEFAULT_ROLES = (FolderRole.INBOX, FolderRole.SENT)
# Under future=all these are still left out: spam and the bin are not CRM mail, and mail
# moved to Trash is a deletion, not a new location.
NEVER_IMPLIED_ROLES = frozenset({FolderRole.JUNK, FolderRole.TRASH, FolderRole.DRAFTS})


@dataclass(frozen=True, slots=True)
class SyncConditions:
    sync_from: SyncFrom = SyncFrom.THREE_MONTHS
    past_scope: PastScope = PastScope.CONTACTS
    folders: tuple[str, ...] = ()  # empty: the defaults (Inbox and Sent)
    future: FutureMode = FutureMode.SELECTED
    track_opens: bool = True
    track_links: bool = True


ROLE_ORDER = (
    FolderRole.INBOX,
    FolderRole.SENT,
    FolderRole.ARCHIVE,
    FolderRole.ALL,
    FolderRole.FLAGGED,
    FolderRole.NONE,
    FolderRole.DRAFTS,
    FolderRole.JUNK,
    FolderRole.TRASH,
)


def in_display_order(server: Sequence[ServerFolder]) -> list[ServerFolder]:
    """Inbox first, then Sent, archives and the user's own folders; bins last."""
    return sorted(server, key=lambda f: (ROLE_ORDER.index(f.role), f.name.casefold()))


def selected_folders(conditions: SyncConditions, server: Sequence[ServerFolder]) -> list[str]:
    """The folders the user chose, or Inbox and Sent when they chose none."""
    ordered = [f for f in in_display_order(server) if f.selectable]
    if conditions.folders:
        chosen = set(conditions.folders)
        return [f.name for f in ordered if f.name in chosen]
    return [f.name for f in ordered if f.role in DEFAULT_ROLES]


def folders_to_sync(conditions: SyncConditions, server: Sequence[ServerFolder]) -> list[str]:
    """Selected folders, plus every other ordinary folder when future mail is `all`."""
    chosen = selected_folders(conditions, server)
    if conditions.future is FutureMode.SELECTED:
        return chosen
    extra = [
        f.name
        for f in in_display_order(server)
        if f.selectable and f.name not in chosen and f.role not in NEVER_IMPLIED_ROLES
    ]
    return chosen + extra


def folder_window_start(
    conditions: SyncConditions, started_at: datetime, *, selected: bool
) -> datetime:
    """Past mail only comes from the chosen folders; the rest start at the sync start."""
    if not selected:
        return started_at
    return window_start(conditions.sync_from, started_at)


def needs_contact(conditions: SyncConditions, internaldate: datetime, started_at: datetime) -> bool:
    """True when this message may only be synced if a CRM contact takes part in it."""
    return (
        conditions.sync_from.has_past_sync
        and conditions.past_scope is PastScope.CONTACTS
        and internaldate < started_at
    )


def involves_contact(
    participant_emails: Iterable[str], own_emails: frozenset[str], contact_emails: frozenset[str]
) -> bool:
    """A contact among the participants who is not the account owner themself."""
    return any(e in contact_emails and e not in own_emails for e in participant_emails)
