"""Blocked addresses in the store: the list, and removing mail that blocking screens out."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from emailsync.domain.blocking import normalize_pattern, screened_by_block
from emailsync.errors import UsageError
from emailsync.store.tables import accounts, blocked_addresses, message_addresses, messages
from emailsync.store.threads import refresh_account_threads


def patterns(conn: sa.Connection, user_id: int) -> frozenset[str]:
    return frozenset(
        conn.execute(
            sa.select(blocked_addresses.c.pattern).where(blocked_addresses.c.user_id == user_id)
        ).scalars()
    )


def checked_pattern(raw: str) -> str:
    pattern = normalize_pattern(raw)
    if not pattern:
        raise UsageError(f"{raw!r} is neither an email address nor a domain")
    return pattern


def screened_messages(
    conn: sa.Connection, user_id: int, extra: frozenset[str] = frozenset()
) -> dict[int, list[int]]:
    """Messages of the user's accounts that the block list (plus `extra`) screens out,
    by thread: what blocking would remove."""
    blocked = patterns(conn, user_id) | extra
    result: dict[int, list[int]] = {}
    rows = conn.execute(
        sa.select(
            messages.c.id,
            messages.c.thread_id,
            accounts.c.email,
            accounts.c.aliases,
            message_addresses.c.email.label("participant"),
        )
        .join(accounts, accounts.c.id == messages.c.account_id)
        .join(message_addresses, message_addresses.c.message_id == messages.c.id)
        .where(accounts.c.user_id == user_id)
        .order_by(messages.c.id)
    )
    grouped: dict[int, tuple[int, frozenset[str], set[str]]] = {}
    for r in rows:
        entry = grouped.setdefault(r.id, (r.thread_id, frozenset({r.email, *r.aliases}), set()))
        entry[2].add(r.participant)
    for message_id, (thread_id, own, people) in grouped.items():
        if screened_by_block(people, own, blocked):
            result.setdefault(thread_id, []).append(message_id)
    return result


def block(conn: sa.Connection, user_id: int, raw: str) -> int:
    """Add a pattern and delete the mail it screens out; returns messages removed."""
    pattern = checked_pattern(raw)
    conn.execute(
        blocked_addresses.delete().where(
            blocked_addresses.c.user_id == user_id, blocked_addresses.c.pattern == pattern
        )
    )
    conn.execute(
        blocked_addresses.insert().values(
            user_id=user_id, pattern=pattern, created_at=datetime.now(UTC)
        )
    )
    doomed = [m for ids in screened_messages(conn, user_id).values() for m in ids]
    if doomed:
        account_ids: set[int] = set(
            conn.execute(
                sa.select(messages.c.account_id).where(messages.c.id.in_(doomed))
            ).scalars()
        )
        conn.execute(messages.delete().where(messages.c.id.in_(doomed)))
        for account_id in account_ids:
            refresh_account_threads(conn, account_id)
    return len(doomed)


def unblock(conn: sa.Connection, user_id: int, raw: str) -> bool:
    pattern = checked_pattern(raw)
    return bool(
        conn.execute(
            blocked_addresses.delete().where(
                blocked_addresses.c.user_id == user_id, blocked_addresses.c.pattern == pattern
            )
        ).rowcount
    )
