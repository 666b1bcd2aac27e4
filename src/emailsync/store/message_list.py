"""The synced messages of an account, read page by page: `emailsync messages list`.

Rows come from the database in chunks with keyset pagination on the message id (never
OFFSET, never the whole account at once), and each chunk's folders, contacts and thread
links are read for that chunk only. So memory stays flat at any account size, and a
cursor (`after`: the last id a client saw) stays stable while a sync adds mail: new
mail always gets a higher id.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from emailsync.store.conversations import visible_thread_ids
from emailsync.store.links import links_of_threads
from emailsync.store.tables import (
    UtcDateTime,
    accounts,
    folders,
    message_addresses,
    message_locations,
    messages,
    person_emails,
    persons,
)

CHUNK = 500  # rows read per query: the memory of a listing is about this many messages


@dataclass(frozen=True, slots=True)
class Page:
    """Which messages to list: ids above `after`, dated on or after `since`, `offset`
    of them skipped and at most `limit` returned (None: all), in id order."""

    after: int | None = None
    since: datetime | None = None  # aware
    limit: int | None = None
    offset: int = 0


def iter_messages(
    conn: sa.Connection,
    account_id: int,
    viewer_id: int | None = None,
    page: Page = Page(),
    *,
    chunk: int = CHUNK,
) -> Iterator[dict[str, object]]:
    """One dict per message, the shape of `emailsync messages list --json`, in id order.

    `viewer_id` reads as that user: only messages of threads the privacy rule lets them
    see (the account's owner sees all of it). `limit` and `offset` count the messages
    the viewer sees."""
    own = conn.execute(
        sa.select(accounts.c.email, accounts.c.aliases, accounts.c.user_id).where(
            accounts.c.id == account_id
        )
    ).one()
    own_emails = frozenset({own.email, *own.aliases})
    reader = viewer_id if viewer_id is not None else own.user_id
    cursor = page.after if page.after is not None else 0
    skip = page.offset
    left = page.limit
    if left is not None and left <= 0:
        return
    while True:
        query = (
            sa.select(
                messages.c.id,
                messages.c.message_id,
                messages.c.subject,
                messages.c.from_email,
                messages.c.from_name,
                messages.c.addresses,
                messages.c.date,
                messages.c.internaldate,
                messages.c.direction,
                messages.c.thread_id,
                messages.c.size,
                messages.c.defects,
                messages.c.attachments,
            )
            .where(messages.c.account_id == account_id, messages.c.id > cursor)
            .order_by(messages.c.id)
            .limit(chunk)
        )
        if page.since is not None:
            dated = sa.func.coalesce(messages.c.date, messages.c.internaldate, type_=UtcDateTime())
            query = query.where(dated >= sa.bindparam("since", page.since, type_=UtcDateTime()))
        rows = conn.execute(query).all()
        if not rows:
            return
        cursor = rows[-1].id
        thread_ids = sorted({r.thread_id for r in rows if r.thread_id is not None})
        if viewer_id is not None:
            allowed = visible_thread_ids(conn, viewer_id, thread_ids)
            rows = [r for r in rows if r.thread_id in allowed]
            thread_ids = sorted(allowed)
        if skip:
            dropped = min(skip, len(rows))
            rows, skip = rows[dropped:], skip - dropped
        if left is not None:
            rows = rows[:left]
            left -= len(rows)
        if rows:
            yield from _build(conn, account_id, rows, thread_ids, reader, own_emails)
        if left == 0:
            return


def _build(
    conn: sa.Connection,
    account_id: int,
    rows: Sequence[sa.Row],
    thread_ids: list[int],
    reader: int,
    own_emails: frozenset[str],
) -> Iterator[dict[str, object]]:
    """The output dicts of one chunk: its folders, contacts and thread links read for
    these message ids only."""
    ids = [r.id for r in rows]
    locations: dict[int, list[tuple[str, str]]] = {}
    for loc in conn.execute(
        sa.select(message_locations.c.message_id, folders.c.name, message_locations.c.flags)
        .join(folders, folders.c.id == message_locations.c.folder_id)
        .where(folders.c.account_id == account_id, message_locations.c.message_id.in_(ids))
        .order_by(folders.c.name)
    ):
        locations.setdefault(loc.message_id, []).append((loc.name, loc.flags))
    contacts: dict[int, list[dict[str, object]]] = {}
    for link in conn.execute(
        sa.select(
            message_addresses.c.message_id,
            persons.c.id,
            persons.c.name,
            message_addresses.c.email,
        )
        .distinct()
        .join(person_emails, person_emails.c.email == message_addresses.c.email)
        .join(persons, persons.c.id == person_emails.c.person_id)
        .where(message_addresses.c.message_id.in_(ids))
        .order_by(persons.c.id)
    ):
        if link.email in own_emails:
            continue
        entry = {"id": link.id, "name": link.name, "email": link.email}
        bucket = contacts.setdefault(link.message_id, [])
        if entry not in bucket:
            bucket.append(entry)
    links = links_of_threads(conn, thread_ids, reader)
    for r in rows:
        addrs = r.addresses or {}
        thread = links.get(r.thread_id)
        deal = thread.deal_of_message(r.internaldate) if thread else None  # won before: None
        flags = sorted({f for _, fl in locations.get(r.id, []) for f in fl.split() if f})
        person_ids = {p.id for p in thread.persons} if thread else set()
        yield {
            "id": r.id,
            "message_id": r.message_id,
            "subject": r.subject,
            "from": r.from_email,
            "from_name": r.from_name,
            "to": [a[0] for a in addrs.get("to", [])],
            "cc": [a[0] for a in addrs.get("cc", [])],
            "date": (r.date or r.internaldate).isoformat(),
            "internaldate": r.internaldate.isoformat(),
            "direction": r.direction,
            "folders": [name for name, _ in locations.get(r.id, [])],
            "flags": flags,
            "thread_id": r.thread_id,
            "contacts": [c for c in contacts.get(r.id, []) if c["id"] in person_ids],
            "organisations": [
                {"id": o.id, "name": o.name} for o in (thread.organisations if thread else [])
            ],
            "deal": {"id": deal.id, "title": deal.name} if deal else None,
            "size": r.size,
            "attachments": [a["filename"] for a in r.attachments],
            "defects": r.defects,
        }
