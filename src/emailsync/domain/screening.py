"""Which rule keeps a message out of the CRM, decided from its headers alone.

The one composition of the rules the sync applies before it downloads a body
(sync/folder_sync.py) and that `messages why-not` explains (sync/why_not.py), so the
two can never disagree. In the order the sync checks them:

    blocked         every participant but the user is blocked          (domain.blocking)
    out_of_focus    a re-scan for some people only, and none of them takes part
    not_a_contact   past mail under "Only CRM contacts" without a contact (domain.conditions)

The window (INTERNALDATE before the folder's window start) and the folder selection are
decided before this, by the caller, from the folder it reads.

`Reason` names every answer to "why isn't this email in the CRM?": `messages why-not`
(sync/why_not.py) gives one per copy on the server, and the end-of-sync summary counts
those a pass left out under the same names.
"""

from __future__ import annotations

from collections.abc import Set
from datetime import datetime
from enum import StrEnum

from emailsync.domain.blocking import screened_by_block
from emailsync.domain.conditions import SyncConditions, involves_contact, needs_contact


class KeptOut(StrEnum):
    BLOCKED = "blocked"
    OUT_OF_FOCUS = "out_of_focus"
    NOT_A_CONTACT = "not_a_contact"


class Reason(StrEnum):
    """Why a copy of a mail is, or is not, in the CRM."""

    STORED = "stored"
    FOLDER_NOT_SELECTED = "folder_not_selected"
    JUNK_TRASH_DRAFTS = "junk_trash_drafts"
    OUTSIDE_WINDOW = "outside_window"
    BLOCKED = "blocked"
    NOT_A_CONTACT = "not_a_contact"
    PARSE_DEFECT = "parse_defect"
    NOT_SYNCED_YET = "not_synced_yet"
    KEPT_OUT_EARLIER = "kept_out_earlier"


# The reason a pass counts for a screening rule. OUT_OF_FOCUS has none: a re-scan for
# some people looks again at mail an earlier pass decided on, it leaves nothing new out.
REASON_OF: dict[KeptOut, Reason] = {
    KeptOut.BLOCKED: Reason.BLOCKED,
    KeptOut.NOT_A_CONTACT: Reason.NOT_A_CONTACT,
}


def kept_out(
    people: Set[str],
    internaldate: datetime,
    *,
    conditions: SyncConditions,
    started_at: datetime,
    own_emails: frozenset[str],
    contact_emails: frozenset[str],
    blocked: frozenset[str],
    only_emails: frozenset[str] | None = None,
) -> KeptOut | None:
    """The rule that keeps a message with these participants out, or None: it is kept."""
    if screened_by_block(people, own_emails, blocked):
        return KeptOut.BLOCKED
    if only_emails is not None and not people & only_emails:
        return KeptOut.OUT_OF_FOCUS
    if needs_contact(conditions, internaldate, started_at) and not involves_contact(
        people, own_emails, contact_emails
    ):
        return KeptOut.NOT_A_CONTACT
    return None
