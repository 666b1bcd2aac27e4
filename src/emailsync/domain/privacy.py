"""Who may read which conversation. The one statement of the rule; store/threads.py
turns exactly this into SQL, and a test checks the two agree on every combination.

A user's mail is theirs. A colleague sees a thread only when
  * its owner shared it (per thread; the account's default decides for new mail), AND
  * it is linked to a person, organisation or deal the colleague can see.
A private thread is seen by its owner alone. Being an admin grants nothing here: admins
manage users, they do not read inboxes.

CRM records are visible to the whole company, or only to their owner when marked so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RecordRef:
    owner_user_id: int | None
    visibility: str  # "company" | "owner"


def can_see_record(viewer_id: int, record: RecordRef) -> bool:
    return record.visibility == "company" or record.owner_user_id == viewer_id


def can_see_thread(
    viewer_id: int,
    owner_user_id: int,
    sharing: str,
    linked_records: Iterable[RecordRef],
    *,
    viewer_is_admin: bool = False,
) -> bool:
    del viewer_is_admin  # deliberately unused: see the module docstring
    if viewer_id == owner_user_id:
        return True
    return sharing == "shared" and any(can_see_record(viewer_id, r) for r in linked_records)
