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

Changing the conditions later means what it says: a wider window, a newly selected
folder or "all people" after "only CRM contacts" fetches the past that was not looked
at yet (`widening`, from what each folder covers already); a narrower choice keeps
what is stored (`change_notes` says so to the user).
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


@dataclass(frozen=True, slots=True)
class Widening:
    """The part of a folder's past still to be read: INTERNALDATE in [since, before),
    under the current scope. Once read, the folder covers (since, scope)."""

    since: datetime
    before: datetime
    scope: PastScope


def widening(
    covered_from: datetime,
    covered_scope: PastScope,
    want_from: datetime,
    want_scope: PastScope,
    started_at: datetime,
) -> Widening | None:
    """What a folder read from `covered_from` under `covered_scope` lacks for the
    window `want_from` under `want_scope`; None when nothing (the same or narrower:
    what is stored stays). "All people" after "contacts" re-reads the whole past of
    the window, since the contacts rule only ever applied before the sync start."""
    wider = want_from < covered_from
    more_people = (
        want_scope is PastScope.ALL
        and covered_scope is PastScope.CONTACTS
        and want_from < started_at
    )
    if more_people:
        return Widening(want_from, started_at, PastScope.ALL)
    if wider:
        return Widening(want_from, covered_from, want_scope)
    return None


def change_notes(before: SyncConditions, after: SyncConditions) -> list[str]:
    """What saving `after` over `before` does to mail already synced, in words for the
    configure output and the web result: wider choices fetch the newly covered mail at
    the next sync, narrower ones keep what is stored."""
    notes: list[str] = []
    old_months, new_months = before.sync_from.months, after.sync_from.months
    if new_months > old_months:
        notes.append(
            f"The next sync brings in the mail from {_months(old_months)} back to "
            f"{_months(new_months)} back."
        )
    elif new_months < old_months:
        notes.append(
            f"Mail from before {_months(new_months)} back that is already in the CRM stays "
            "there; only new mail follows the narrower window."
        )
    if after.sync_from.has_past_sync and before.past_scope != after.past_scope:
        if after.past_scope is PastScope.ALL:
            notes.append(
                "The next sync brings in the past mail of people who are not CRM contacts."
            )
        else:
            notes.append(
                "Past mail of people who are not CRM contacts that is already in the CRM "
                "stays there."
            )
    # (an empty list means the defaults, Inbox and Sent, whose names the server decides)
    both = bool(before.folders and after.folders)
    added = set(after.folders) - set(before.folders) if both else set()
    dropped = set(before.folders) - set(after.folders) if both else set()
    if added:
        notes.append(f"The next sync brings in the past mail of {', '.join(sorted(added))}.")
    if dropped:
        notes.append(
            f"Mail of {', '.join(sorted(dropped))} already in the CRM stays there while the "
            "mailbox still holds it."
        )
    return notes


def _months(months: int) -> str:
    if months == 0:
        return "now"
    if months % 12 == 0:
        years = months // 12
        return f"{years} year" + ("s" if years > 1 else "")
    return f"{months} month" + ("s" if months > 1 else "")
