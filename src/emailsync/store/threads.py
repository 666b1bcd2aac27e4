"""Threads in the store: the incremental side of domain/threading.py.

When a message is stored, `attach_message` finds the stored messages it shares an
edge with (through indexed columns: Message-ID, message_references, provider thread id,
subject key), and joins their thread, creating one when there is none and merging
threads the new message connects. Messages the user moved by hand (`thread_manual`)
stay where they are, and threads holding such messages are never merged away.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from emailsync.domain.threading import SUBJECT_GAP, MessageNode, neighbours
from emailsync.store.tables import (
    accounts,
    message_addresses,
    message_references,
    messages,
    thread_links,
    threads,
)

THREAD_FIELDS = ("from", "to", "cc")  # Bcc is private: never a reason to join threads


def _nodes(conn: sa.Connection, ids: list[int]) -> dict[int, MessageNode]:
    if not ids:
        return {}
    rows = conn.execute(
        sa.select(
            messages.c.id,
            messages.c.message_id,
            messages.c.in_reply_to,
            messages.c.reference_ids,
            messages.c.subject_key,
            messages.c.date,
            messages.c.internaldate,
            messages.c.provider_thread_id,
        ).where(messages.c.id.in_(ids))
    ).all()
    people: dict[int, set[str]] = {}
    for r in conn.execute(
        sa.select(message_addresses.c.message_id, message_addresses.c.email).where(
            message_addresses.c.message_id.in_(ids),
            message_addresses.c.field.in_(THREAD_FIELDS),
        )
    ):
        people.setdefault(r.message_id, set()).add(r.email)
    return {
        r.id: MessageNode(
            key=r.id,
            message_id=r.message_id,
            references=tuple(x for x in dict.fromkeys([*r.reference_ids, r.in_reply_to]) if x),
            subject_key=r.subject_key,
            participants=frozenset(people.get(r.id, ())),
            date=r.date or r.internaldate,
            provider_thread_id=r.provider_thread_id or "",
        )
        for r in rows
    }


def _candidates(conn: sa.Connection, account_id: int, node: MessageNode) -> list[int]:
    """Stored messages that might share an edge with `node` (a superset; the pure rule
    decides)."""
    refs = [r for r in node.references if r]
    ids: set[int] = set()
    own = [node.message_id] if node.message_id else []
    if refs or own:
        ids.update(
            conn.execute(
                sa.select(messages.c.id).where(
                    messages.c.account_id == account_id,
                    messages.c.message_id.in_(refs + own),
                )
            ).scalars()
        )
        ids.update(
            conn.execute(
                sa.select(message_references.c.message_id)
                .join(messages, messages.c.id == message_references.c.message_id)
                .where(
                    messages.c.account_id == account_id,
                    message_references.c.ref.in_(refs + own),
                )
            ).scalars()
        )
    if node.provider_thread_id:
        ids.update(
            conn.execute(
                sa.select(messages.c.id).where(
                    messages.c.account_id == account_id,
                    messages.c.provider_thread_id == node.provider_thread_id,
                )
            ).scalars()
        )
    if node.subject_key:
        ids.update(
            conn.execute(
                sa.select(messages.c.id).where(
                    messages.c.account_id == account_id,
                    messages.c.subject_key == node.subject_key,
                    messages.c.internaldate >= node.date - SUBJECT_GAP - _SLACK,
                    messages.c.internaldate <= node.date + SUBJECT_GAP + _SLACK,
                )
            ).scalars()
        )
    ids.discard(node.key)
    return sorted(ids)


# Date header and INTERNALDATE differ by transit time; widen the SQL prefilter by it.
_SLACK = SUBJECT_GAP / 30


def attach_message(
    conn: sa.Connection, account_id: int, message_pk: int, default_sharing: str
) -> int:
    """Put a freshly stored message into its thread; returns the thread id."""
    node = _nodes(conn, [message_pk])[message_pk]
    if node.references:
        conn.execute(
            message_references.insert(),
            [{"message_id": message_pk, "ref": r} for r in node.references],
        )
    candidates = _nodes(conn, _candidates(conn, account_id, node))
    linked = neighbours(node, candidates.values())
    if linked:
        # A message the user moved by hand only pulls in direct replies to it: the
        # message it was split from must not follow it into its new thread.
        manual = set(
            conn.execute(
                sa.select(messages.c.id).where(messages.c.id.in_(linked), messages.c.thread_manual)
            ).scalars()
        )
        linked = [
            k for k in linked if k not in manual or candidates[k].message_id in node.references
        ]
    thread_of = (
        dict(
            conn.execute(
                sa.select(messages.c.id, messages.c.thread_id).where(messages.c.id.in_(linked))
            ).all()
        )
        if linked
        else {}
    )
    thread_ids = sorted({t for t in thread_of.values() if t is not None})
    if not thread_ids:
        thread_id = conn.execute(
            threads.insert().values(
                account_id=account_id,
                subject=node.subject_key,
                sharing=default_sharing,
                created_at=datetime.now(UTC),
            )
        ).inserted_primary_key[0]
    else:
        thread_id = _merge(conn, thread_ids)
    conn.execute(messages.update().where(messages.c.id == message_pk).values(thread_id=thread_id))
    refresh_thread(conn, thread_id)
    return thread_id


def _merge(conn: sa.Connection, thread_ids: list[int]) -> int:
    """Merge threads a message connects into the oldest one. Threads with hand-placed
    messages are not merged (that would undo the user's split): the message then joins
    the oldest of the threads."""
    if len(thread_ids) == 1:
        return thread_ids[0]
    manual = set(
        conn.execute(
            sa.select(messages.c.thread_id)
            .where(messages.c.thread_id.in_(thread_ids), messages.c.thread_manual)
            .distinct()
        ).scalars()
    )
    survivor = thread_ids[0]
    for other in thread_ids[1:]:
        if other in manual or survivor in manual:
            continue
        conn.execute(
            messages.update().where(messages.c.thread_id == other).values(thread_id=survivor)
        )
        _merge_attributes(conn, survivor, other)
        conn.execute(threads.delete().where(threads.c.id == other))
    return survivor


def _merge_attributes(conn: sa.Connection, survivor: int, other: int) -> None:
    """Keep the user's choices of both threads: shared wins, a deal link carries over."""
    a = conn.execute(sa.select(threads).where(threads.c.id == survivor)).one()
    b = conn.execute(sa.select(threads).where(threads.c.id == other)).one()
    values: dict[str, object] = {}
    if b.sharing == "shared":
        values["sharing"] = "shared"
    if a.deal_id is None and b.deal_id is not None:
        values.update(
            deal_id=b.deal_id,
            deal_link_manual=b.deal_link_manual,
            deal_link_reason=b.deal_link_reason,
        )
    if values:
        conn.execute(threads.update().where(threads.c.id == survivor).values(**values))
    existing = {
        (r.kind, r.target_id)
        for r in conn.execute(sa.select(thread_links).where(thread_links.c.thread_id == survivor))
    }
    for link in conn.execute(sa.select(thread_links).where(thread_links.c.thread_id == other)):
        if (link.kind, link.target_id) not in existing:
            conn.execute(
                thread_links.insert().values(
                    thread_id=survivor,
                    kind=link.kind,
                    target_id=link.target_id,
                    manual=link.manual,
                    removed=link.removed,
                    reason=link.reason,
                )
            )


def refresh_thread(conn: sa.Connection, thread_id: int) -> None:
    """Recount a thread and date it by its newest message; drop it when it is empty."""
    stats = conn.execute(
        sa.select(
            sa.func.count(),
            sa.func.max(messages.c.internaldate),
            sa.func.min(messages.c.id),
        ).where(messages.c.thread_id == thread_id)
    ).one()
    if stats[0] == 0:
        conn.execute(threads.delete().where(threads.c.id == thread_id))
        return
    first_subject = conn.execute(
        sa.select(messages.c.subject).where(messages.c.id == stats[2])
    ).scalar_one()
    conn.execute(
        threads.update()
        .where(threads.c.id == thread_id)
        .values(message_count=stats[0], last_message_at=stats[1], subject=first_subject)
    )


def delete_empty_threads(conn: sa.Connection, account_id: int) -> int:
    empty = sa.select(threads.c.id).where(
        threads.c.account_id == account_id,
        ~sa.exists().where(messages.c.thread_id == threads.c.id),
    )
    return conn.execute(threads.delete().where(threads.c.id.in_(empty))).rowcount or 0


def refresh_account_threads(conn: sa.Connection, account_id: int) -> None:
    """After deletions: empty threads go, the others are recounted."""
    delete_empty_threads(conn, account_id)
    for thread_id in conn.execute(
        sa.select(threads.c.id).where(threads.c.account_id == account_id)
    ).scalars():
        refresh_thread(conn, thread_id)


def rebuild_threads(conn: sa.Connection, account_id: int) -> int:
    """Thread every message of the account again from scratch (after a change of the
    rules, or on data from before threads existed). Hand-placed messages stay put."""
    sharing = conn.execute(
        sa.select(accounts.c.default_sharing).where(accounts.c.id == account_id)
    ).scalar_one()
    ids = list(
        conn.execute(
            sa.select(messages.c.id)
            .where(messages.c.account_id == account_id, ~messages.c.thread_manual)
            .order_by(messages.c.internaldate, messages.c.id)
        ).scalars()
    )
    if ids:
        conn.execute(messages.update().where(messages.c.id.in_(ids)).values(thread_id=None))
        conn.execute(message_references.delete().where(message_references.c.message_id.in_(ids)))
    delete_empty_threads(conn, account_id)
    for message_pk in ids:
        attach_message(conn, account_id, message_pk, sharing)
    return len(ids)


def split_thread(conn: sa.Connection, message_pks: list[int]) -> int:
    """Move messages out of their thread into a new one of their own, by hand."""
    rows = conn.execute(
        sa.select(messages.c.thread_id, messages.c.account_id).where(messages.c.id.in_(message_pks))
    ).all()
    old = {r.thread_id for r in rows}
    source = conn.execute(sa.select(threads).where(threads.c.id.in_(old))).first()
    new_id = conn.execute(
        threads.insert().values(
            account_id=rows[0].account_id,
            subject="",
            sharing=source.sharing if source else "private",
            created_at=datetime.now(UTC),
        )
    ).inserted_primary_key[0]
    conn.execute(
        messages.update()
        .where(messages.c.id.in_(message_pks))
        .values(thread_id=new_id, thread_manual=True)
    )
    for thread_id in [*old, new_id]:
        if thread_id is not None:
            refresh_thread(conn, thread_id)
    return new_id
