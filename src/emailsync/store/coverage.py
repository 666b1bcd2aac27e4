"""How far into the past each folder's copy reaches, and under which people scope.

A folder's first pass fills it from its window start under the scope of the time. A
later, wider "Sync from", the folder newly selected, or "all people" after "only CRM
contacts" leaves a part of the past not looked at yet: domain.conditions.widening says
which, from the coverage kept here, and sync/folder_sync.py reads it.

The widening pass stores what it finds first and moves the coverage last, in its own
transaction: a pass killed in between looks at that part again, finds what it stored
already (the UIDs it holds are left out, known messages become locations by the
store's uniqueness), and never skips any of it.

A folder without a row (synced before this table existed) counts as covered from its
window_start under the account's current scope: what it was synced with, as far as
anyone can tell.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from emailsync.domain.conditions import PastScope
from emailsync.store.tables import folder_coverage, folders


@dataclass(frozen=True, slots=True)
class Coverage:
    covered_from: datetime
    past_scope: PastScope


def for_account(conn: sa.Connection, account_id: int) -> dict[int, Coverage]:
    """Folder id → its coverage, for the folders of the account that have one."""
    rows = conn.execute(
        sa.select(folder_coverage)
        .join(folders, folders.c.id == folder_coverage.c.folder_id)
        .where(folders.c.account_id == account_id)
    )
    return {r.folder_id: Coverage(r.covered_from, PastScope(r.past_scope)) for r in rows}


def record(conn: sa.Connection, folder_id: int, covered_from: datetime, scope: PastScope) -> None:
    """The folder's past is read from `covered_from` under `scope` (replacing what was)."""
    conn.execute(folder_coverage.delete().where(folder_coverage.c.folder_id == folder_id))
    conn.execute(
        folder_coverage.insert().values(
            folder_id=folder_id, covered_from=covered_from, past_scope=scope.value
        )
    )
