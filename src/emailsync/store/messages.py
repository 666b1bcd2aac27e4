"""Messages, their locations in folders, and the batch write that moves a folder cursor.

`write_batch` is the one place where synced mail enters the store: new messages, new
locations of known messages and the folder's new cursor are written in one
transaction, so a sync killed at any instant has either all of a batch or none of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from emailsync.domain.model import FetchedMessage, ParsedMessage
from emailsync.domain.threading import MessageNode, subject_key
from emailsync.store.bulk import insert_many
from emailsync.store.db import allocate_ids
from emailsync.store.links import auto_link_deals
from emailsync.store.raw import RawFiles, RawSpot
from emailsync.store.tables import (
    folders,
    message_addresses,
    message_locations,
    message_raw,
    message_references,
    messages,
)
from emailsync.store.threads import (
    ThreadFacts,
    place_in_threads,
    reference_rows,
    refresh_account_threads,
    refresh_threads,
)

ADDRESS_FIELDS = ("from", "sender", "reply_to", "to", "cc", "bcc")


def dedup_key(message_id: str, digest: str | None) -> str | None:
    """What makes two copies the same message: the Message-ID, else the exact bytes
    (`digest`: their SHA-256, store.raw.raw_digest).

    None when the Message-ID is missing and the bytes are not fetched yet."""
    if message_id:
        return "<" + message_id + ">"
    if digest is None:
        return None
    return "sha256:" + digest


@dataclass(frozen=True, slots=True)
class NewMessage:
    key: str
    fetched: FetchedMessage
    parsed: ParsedMessage
    direction: str
    digest: str  # SHA-256 of the raw bytes (hex)
    raw_spot: RawSpot | None = None  # already written to a pack (sync/fetchers.py)


@dataclass(frozen=True, slots=True)
class NewLocation:
    """A message already stored (under `key`) seen at another UID or folder."""

    key: str
    fetched: FetchedMessage


def known_keys(conn: sa.Connection, account_id: int, keys: Iterable[str]) -> dict[str, int]:
    wanted = list(set(keys))
    found: dict[str, int] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rows = conn.execute(
            sa.select(messages.c.dedup_key, messages.c.id).where(
                messages.c.account_id == account_id, messages.c.dedup_key.in_(chunk)
            )
        )
        found.update({r.dedup_key: r.id for r in rows})
    return found


def write_batch(
    conn: sa.Connection,
    *,
    account_id: int,
    folder_id: int,
    new_messages: Sequence[NewMessage],
    new_locations: Sequence[NewLocation],
    cursor: int,
    default_sharing: str = "private",
    folder_values: dict[str, object] | None = None,
    raw_files: RawFiles | None = None,
) -> int:
    """Store a batch and move the folder cursor to `cursor`, atomically. Returns the
    number of messages created. Raw bytes go to `raw_files`, or with None to the
    message_raw table (store/raw.py says why there are two homes)."""
    now = datetime.now(UTC)
    ids = known_keys(
        conn, account_id, [m.key for m in new_messages] + [loc.key for loc in new_locations]
    )
    fresh: dict[str, NewMessage] = {}
    for item in new_messages:  # a copy seen earlier in this batch, or a replayed batch
        if item.key not in ids and item.key not in fresh:
            fresh[item.key] = item
    if fresh:
        items = list(fresh.values())
        spots = _raw_spots(raw_files, account_id, items)
        for item, pk in zip(items, allocate_ids(conn, messages, len(items)), strict=True):
            ids[item.key] = pk
        nodes = {ids[i.key]: _thread_node(ids[i.key], i) for i in items}
        facts = {ids[i.key]: ThreadFacts(i.fetched.internaldate, i.parsed.subject) for i in items}
        placement = place_in_threads(conn, account_id, nodes, default_sharing, facts)
        _insert_messages(conn, account_id, items, now, ids, placement.thread_of, spots, nodes)
        insert_many(conn, message_references, reference_rows(nodes.values()))
        refresh_threads(conn, placement.stale)
        auto_link_deals(conn, set(placement.thread_of.values()))
    created = len(fresh)
    location_rows = [
        {
            "message_id": ids[item.key],
            "folder_id": folder_id,
            "uid": item.fetched.uid,
            "flags": _flags(item.fetched.flags),
            "modseq": item.fetched.modseq,
        }
        for item in (*new_messages, *new_locations)
        if item.key in ids
    ]
    _insert_locations(conn, folder_id, location_rows)
    values = dict(folder_values or {})
    values["uid_cursor"] = cursor
    conn.execute(folders.update().where(folders.c.id == folder_id).values(**values))
    return created


def _thread_node(message_pk: int, item: NewMessage) -> MessageNode:
    """What the threader needs, from the batch in memory (the same values
    store.threads reads back from the rows)."""
    parsed, people = item.parsed, item.parsed.participants
    return MessageNode(
        key=message_pk,
        message_id=parsed.message_id,
        references=tuple(x for x in dict.fromkeys([*parsed.references, parsed.in_reply_to]) if x),
        subject_key=subject_key(parsed.subject),
        participants=frozenset(a.email for a in (*people.from_, *people.to, *people.cc) if a.email),
        date=parsed.date or item.fetched.internaldate,
    )


def _flags(flags: Iterable[str]) -> str:
    return " ".join(sorted(set(flags)))


def _address_groups(parsed: ParsedMessage) -> dict[str, tuple]:
    people = parsed.participants
    return {
        "from": people.from_,
        "sender": people.sender,
        "reply_to": people.reply_to,
        "to": people.to,
        "cc": people.cc,
        "bcc": people.bcc,
    }


def _raw_spots(
    raw_files: RawFiles | None, account_id: int, items: list[NewMessage]
) -> list[RawSpot] | None:
    """Where each message's bytes lie, the ones not written yet written now as one pack;
    None: they go into the message_raw table."""
    if raw_files is None:
        return None
    unwritten = [i for i in items if i.raw_spot is None]
    written = iter(raw_files.write_pack(account_id, [i.fetched.raw or b"" for i in unwritten]))
    return [i.raw_spot if i.raw_spot is not None else next(written) for i in items]


def _message_row(
    account_id: int, item: NewMessage, now: datetime, node: MessageNode
) -> dict[str, object]:
    parsed, fetched = item.parsed, item.fetched
    groups = _address_groups(parsed)
    sender = parsed.participants.from_[0] if parsed.participants.from_ else None
    raw = fetched.raw or b""
    return {
        "account_id": account_id,
        "dedup_key": item.key,
        "message_id": parsed.message_id,
        "in_reply_to": parsed.in_reply_to,
        "reference_ids": list(parsed.references),
        "subject_key": node.subject_key,
        "date": parsed.date,
        "internaldate": fetched.internaldate,
        "subject": parsed.subject,
        "from_email": sender.email if sender else "",
        "from_name": sender.name if sender else "",
        "addresses": {k: [[a.email, a.name] for a in v] for k, v in groups.items() if v},
        "text_body": parsed.text_body,
        "attachments": [
            {
                "filename": a.filename,
                "content_type": a.content_type,
                "size": a.size,
                "content_id": a.content_id,
                "inline": a.inline,
            }
            for a in parsed.attachments
        ],
        "defects": list(parsed.defects),
        "direction": item.direction,
        "size": fetched.size or len(raw) or (item.raw_spot.length if item.raw_spot else 0),
        "raw_sha256": item.digest,
        "created_at": now,
    }


def _insert_messages(
    conn: sa.Connection,
    account_id: int,
    items: list[NewMessage],
    now: datetime,
    ids: dict[str, int],
    thread_of: dict[int, int],
    spots: list[RawSpot] | None,
    nodes: dict[int, MessageNode],
) -> None:
    """Insert messages (ids, threads and raw spots chosen), their participants (and raw
    bytes, without spots) with one statement each."""
    rows = []
    for number, item in enumerate(items):
        row = _message_row(account_id, item, now, nodes[ids[item.key]])
        row["id"] = ids[item.key]
        row["thread_id"] = thread_of[row["id"]]
        if spots is not None:
            spot = spots[number]
            row.update(raw_pack=spot.pack, raw_offset=spot.offset, raw_length=spot.length)
        rows.append(row)
    insert_many(conn, messages, rows)
    if spots is None:
        insert_many(
            conn,
            message_raw,
            [{"message_id": ids[i.key], "data": i.fetched.raw or b""} for i in items],
        )
    address_rows = [
        {"message_id": ids[item.key], "field": field, "email": email}
        for item in items
        for field, email in sorted(
            {
                (f, a.email)
                for f, group in _address_groups(item.parsed).items()
                for a in group
                if a.email
            }
        )
    ]
    insert_many(conn, message_addresses, address_rows)


def _insert_locations(conn: sa.Connection, folder_id: int, rows: list[dict]) -> None:
    if not rows:
        return
    existing: set[int] = set(
        conn.execute(
            sa.select(message_locations.c.uid).where(
                message_locations.c.folder_id == folder_id,
                message_locations.c.uid.in_([r["uid"] for r in rows]),
            )
        ).scalars()
    )
    insert_many(conn, message_locations, [r for r in rows if r["uid"] not in existing])


def folder_uids(conn: sa.Connection, folder_id: int) -> list[int]:
    return list(
        conn.execute(
            sa.select(message_locations.c.uid)
            .where(message_locations.c.folder_id == folder_id)
            .order_by(message_locations.c.uid)
        ).scalars()
    )


def folder_flags(conn: sa.Connection, folder_id: int) -> dict[int, str]:
    rows = conn.execute(
        sa.select(message_locations.c.uid, message_locations.c.flags).where(
            message_locations.c.folder_id == folder_id
        )
    )
    return {r.uid: r.flags for r in rows}


def set_flags(
    conn: sa.Connection, folder_id: int, changes: Iterable[tuple[int, Iterable[str], int | None]]
) -> int:
    """Apply server flags to stored locations; UIDs we do not hold are ignored."""
    rows = [
        {"b_uid": uid, "b_flags": _flags(flags), "b_modseq": modseq}
        for uid, flags, modseq in changes
    ]
    if not rows:
        return 0
    stmt = (
        message_locations.update()
        .where(
            message_locations.c.folder_id == folder_id,
            message_locations.c.uid == sa.bindparam("b_uid"),
        )
        .values(flags=sa.bindparam("b_flags"), modseq=sa.bindparam("b_modseq"))
    )
    return conn.execute(stmt, rows).rowcount or 0


def remove_uids(conn: sa.Connection, folder_id: int, uids: Iterable[int]) -> int:
    """The server expunged these UIDs: drop the locations (messages go with the last one)."""
    uid_list = list(uids)
    removed = 0
    for start in range(0, len(uid_list), 500):
        chunk = uid_list[start : start + 500]
        removed += (
            conn.execute(
                message_locations.delete().where(
                    message_locations.c.folder_id == folder_id,
                    message_locations.c.uid.in_(chunk),
                )
            ).rowcount
            or 0
        )
    return removed


def unlocated(conn: sa.Connection, account_id: int) -> dict[int, str]:
    """Messages of the account that no synced folder holds: id → Message-ID ("": none).
    Before one is deleted, sync/still_held.py asks the server whether any folder does."""
    rows = conn.execute(
        sa.select(messages.c.id, messages.c.message_id)
        .where(messages.c.account_id == account_id)
        .where(~sa.exists().where(message_locations.c.message_id == messages.c.id))
    )
    return {r.id: r.message_id for r in rows}


def delete_orphans(conn: sa.Connection, account_id: int, keep: Iterable[int] = ()) -> int:
    """Delete messages of the account that no synced folder holds any more, except
    `keep` (still in a folder of the mailbox outside the selection)."""
    orphan_ids = (
        sa.select(messages.c.id)
        .where(messages.c.account_id == account_id)
        .where(~sa.exists().where(message_locations.c.message_id == messages.c.id))
    )
    kept = list(keep)
    if kept:
        orphan_ids = orphan_ids.where(messages.c.id.not_in(kept))
    removed = conn.execute(messages.delete().where(messages.c.id.in_(orphan_ids))).rowcount or 0
    if removed:
        refresh_account_threads(conn, account_id)
    return removed


def raw_pack_usage(conn: sa.Connection, account_id: int) -> dict[str, int]:
    """The packs the account's messages reference, with the bytes they use in each."""
    rows = conn.execute(
        sa.select(messages.c.raw_pack, sa.func.sum(messages.c.raw_length))
        .where(messages.c.account_id == account_id, messages.c.raw_pack.is_not(None))
        .group_by(messages.c.raw_pack)
    )
    return {r[0]: int(r[1] or 0) for r in rows}


def raw_legacy_digests(conn: sa.Connection, account_id: int) -> set[str]:
    """Digests of messages whose copy is a one-file-per-message file from before packs."""
    return set(
        conn.execute(
            sa.select(messages.c.raw_sha256).where(
                messages.c.account_id == account_id, messages.c.raw_pack.is_(None)
            )
        ).scalars()
    )


def raw_spots_in(
    conn: sa.Connection, account_id: int, packs: Sequence[str]
) -> list[tuple[int, RawSpot]]:
    """The messages stored in these packs, in pack order (store/raw_upkeep.py)."""
    rows = conn.execute(
        sa.select(messages.c.id, messages.c.raw_pack, messages.c.raw_offset, messages.c.raw_length)
        .where(messages.c.account_id == account_id, messages.c.raw_pack.in_(list(packs)))
        .order_by(messages.c.raw_pack, messages.c.raw_offset)
    )
    return [(r.id, RawSpot(r.raw_pack, r.raw_offset, r.raw_length)) for r in rows]


def move_raw(conn: sa.Connection, moves: Sequence[tuple[int, RawSpot]]) -> None:
    """Point messages at their rewritten copies."""
    if moves:
        conn.execute(
            messages.update()
            .where(messages.c.id == sa.bindparam("pk"))
            .values(
                raw_pack=sa.bindparam("pack"),
                raw_offset=sa.bindparam("offset"),
                raw_length=sa.bindparam("length"),
            ),
            [{"pk": pk, "pack": s.pack, "offset": s.offset, "length": s.length} for pk, s in moves],
        )


def forget_folders(conn: sa.Connection, account_id: int, keep: Iterable[str]) -> int:
    """Locations in folders that are no longer synced (or gone from the server) are dropped.
    Returns how many locations went."""
    stale = sa.select(folders.c.id).where(
        folders.c.account_id == account_id,
        folders.c.name.not_in(list(keep)),
        folders.c.uidvalidity.is_not(None),
    )
    if conn.execute(stale.limit(1)).first() is None:
        return 0
    removed = (
        conn.execute(
            message_locations.delete().where(message_locations.c.folder_id.in_(stale))
        ).rowcount
        or 0
    )
    conn.execute(
        folders.update()
        .where(folders.c.id.in_(stale))
        .values(uidvalidity=None, uid_cursor=0, uidnext=None, highestmodseq=None, remapping=False)
    )
    return removed


# -- reading -------------------------------------------------------------------------


def raw_message(conn: sa.Connection, message_pk: int, raw_files: RawFiles | None) -> bytes | None:
    """The message's bytes as fetched: from the message_raw table, else from its pack,
    else from a one-file copy written before packs (a database may hold all three)."""
    row = conn.execute(
        sa.select(
            messages.c.account_id,
            messages.c.raw_sha256,
            messages.c.raw_pack,
            messages.c.raw_offset,
            messages.c.raw_length,
            message_raw.c.data,
        )
        .outerjoin(message_raw, message_raw.c.message_id == messages.c.id)
        .where(messages.c.id == message_pk)
    ).first()
    if row is None:
        return None
    if row.data is not None or raw_files is None:
        return row.data
    if row.raw_pack is None:
        return raw_files.read_legacy(row.account_id, row.raw_sha256)
    return raw_files.read(row.account_id, RawSpot(row.raw_pack, row.raw_offset, row.raw_length))


def folder_counts(conn: sa.Connection, account_id: int) -> dict[int, int]:
    rows = conn.execute(
        sa.select(message_locations.c.folder_id, sa.func.count())
        .join(folders, folders.c.id == message_locations.c.folder_id)
        .where(folders.c.account_id == account_id)
        .group_by(message_locations.c.folder_id)
    )
    return {r[0]: r[1] for r in rows}
