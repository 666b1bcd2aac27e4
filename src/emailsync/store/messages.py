"""Messages, their locations in folders, and the batch write that moves a folder cursor.

`write_batch` is the one place where synced mail enters the store: new messages, new
locations of known messages and the folder's new cursor are written in one
transaction, so a sync killed at any instant has either all of a batch or none of it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from emailsync.domain.model import FetchedMessage, ParsedMessage
from emailsync.domain.threading import MessageNode, subject_key
from emailsync.mime.fingerprint import fingerprint, head_part
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
    split_at_shared_ids,
)

ADDRESS_FIELDS = ("from", "sender", "reply_to", "to", "cc", "bcc")

MAX_KEY = 1000  # messages.dedup_key's length
# Noted on every message that shares its Message-ID with a different message.
SHARED_ID_DEFECT = "shares its Message-ID with another message"


def identity_key(message_id: str, fingerprint: str, digest: str) -> str:
    """What makes two copies the same message, as the row's dedup_key: the Message-ID
    with the fingerprint (mime/fingerprint.py), unique per account. `digest` (the
    SHA-256 of the bytes, store.raw.raw_digest) stands in for a fingerprint never
    computed (a message built by hand) when there is no Message-ID either."""
    if not fingerprint and not message_id:
        return "sha256:" + digest
    key = "<" + message_id + ">" + fingerprint
    if len(key) > MAX_KEY:  # the column's length; a Message-ID that long is hashed
        key = "<sha256:" + hashlib.sha256(message_id.encode()).hexdigest() + ">" + fingerprint
    return key


@dataclass(frozen=True, slots=True)
class NewMessage:
    key: str  # identity_key of the message
    fetched: FetchedMessage
    parsed: ParsedMessage
    direction: str
    digest: str  # SHA-256 of the raw bytes (hex)
    raw_spot: RawSpot | None = None  # already written to a pack (sync/fetchers.py)


@dataclass(frozen=True, slots=True)
class NewLocation:
    """A stored message (`stored_copies` found it) seen at another UID or folder."""

    message_pk: int
    fetched: FetchedMessage


def stored_copies(
    conn: sa.Connection,
    account_id: int,
    seen: Iterable[tuple[str, str]],
    raw_files: RawFiles | None = None,
) -> dict[tuple[str, str], int]:
    """Is this message stored already? For (Message-ID, head print) pairs read by a
    headers-only FETCH (mime/fingerprint.py `head_print` of its HEAD_FIELDS),
    the id of the stored message each is a copy of; pairs without a match are left
    out, and so are messages without a Message-ID (their body decides, in
    `write_batch`). A copy matches the one stored message with its Message-ID and head;
    two such messages (they differ in the body only) match neither, so the body is
    fetched and `write_batch` tells them apart. Rows from before fingerprints are read
    from their raw bytes; unreadable ones match any copy."""
    wanted = {pair for pair in seen if pair[0]}
    holders = _holders(conn, account_id, {mid for mid, _ in wanted}, raw_files)
    found: dict[tuple[str, str], int] = {}
    for message_id, head in wanted:
        hits = [
            h.pk
            for h in holders.get(message_id, ())
            if h.pk is not None and (h.fingerprint is None or head_part(h.fingerprint) == head)
        ]
        if len(hits) == 1:
            found[(message_id, head)] = hits[0]
    return found


@dataclass(slots=True)
class _Holder:
    """A message holding a Message-ID: stored (pk), or new in the batch being written."""

    pk: int | None
    key: str
    fingerprint: str | None  # None: not known (bytes gone, or a message built by hand)


def _holders(
    conn: sa.Connection,
    account_id: int,
    message_ids: set[str],
    raw_files: RawFiles | None,
    *,
    fill: bool = False,
) -> dict[str, list[_Holder]]:
    """The account's stored messages under these Message-IDs (not ""), by id. A row
    from before fingerprints has its fingerprint computed from its raw bytes (`fill`:
    and stored); None when the bytes cannot be read."""
    wanted = sorted(message_ids - {""})
    rows: list[sa.Row[Any]] = []
    for start in range(0, len(wanted), 500):
        rows += conn.execute(
            sa.select(
                messages.c.id, messages.c.message_id, messages.c.dedup_key, messages.c.fingerprint
            )
            .where(
                messages.c.account_id == account_id,
                messages.c.message_id.in_(wanted[start : start + 500]),
            )
            .order_by(messages.c.id)
        ).all()
    holders: dict[str, list[_Holder]] = {}
    filled = []
    for r in rows:
        print_ = r.fingerprint
        if print_ is None:  # stored before fingerprints
            raw = raw_message(conn, r.id, raw_files)
            if raw is not None:
                print_ = fingerprint(raw)
                filled.append({"b_id": r.id, "b_print": print_})
        holders.setdefault(r.message_id, []).append(_Holder(r.id, r.dedup_key, print_ or None))
    if fill and filled:
        conn.execute(
            messages.update()
            .where(messages.c.id == sa.bindparam("b_id"))
            .values(fingerprint=sa.bindparam("b_print")),
            filled,
        )
    return holders


def _anonymous_holders(
    conn: sa.Connection, account_id: int, items: Sequence[NewMessage]
) -> list[_Holder]:
    """Stored messages without a Message-ID that the batch's ones may be copies of: the
    same fingerprint, or the same bytes (a row from before fingerprints, or a message
    built by hand: its dedup_key is their SHA-256)."""
    anonymous = [i for i in items if not i.parsed.message_id]
    prints = sorted({i.parsed.fingerprint for i in anonymous if i.parsed.fingerprint})
    by_bytes = sorted({"sha256:" + i.digest for i in anonymous})
    found: dict[int, _Holder] = {}
    for column, values in ((messages.c.fingerprint, prints), (messages.c.dedup_key, by_bytes)):
        for start in range(0, len(values), 500):
            for r in conn.execute(
                sa.select(messages.c.id, messages.c.dedup_key, messages.c.fingerprint).where(
                    messages.c.account_id == account_id,
                    messages.c.message_id == "",
                    column.in_(values[start : start + 500]),
                )
            ):
                found[r.id] = _Holder(r.id, r.dedup_key, r.fingerprint or None)
    return [found[pk] for pk in sorted(found)]


def _same_message(holder: _Holder, item: NewMessage) -> bool:
    """`item` is a copy of `holder` (which holds its Message-ID, or like it none)."""
    mine = item.parsed.fingerprint
    if holder.key == item.key:
        return True
    if not item.parsed.message_id:  # no id: the fingerprint, else the exact bytes
        if mine and holder.fingerprint:
            return holder.fingerprint == mine
        return holder.key == "sha256:" + item.digest
    # unknown on either side (a row whose bytes are gone, a message built by hand): the
    # Message-ID alone decides, as it did before fingerprints
    return holder.fingerprint is None or not mine or holder.fingerprint == mine


@dataclass(slots=True)
class _Sorted:
    """What a batch's new messages are: new ones, and copies of messages stored (or new
    earlier in the batch), with the Message-IDs found shared between two messages."""

    fresh: list[NewMessage]
    copies: list[tuple[NewMessage, _Holder]]
    shared: dict[str, list[_Holder]]  # Message-ID → every message holding it


def _sort_out(
    conn: sa.Connection,
    account_id: int,
    items: Sequence[NewMessage],
    raw_files: RawFiles | None,
) -> _Sorted:
    by_id = _holders(conn, account_id, {i.parsed.message_id for i in items}, raw_files, fill=True)
    if any(not i.parsed.message_id for i in items):
        by_id[""] = _anonymous_holders(conn, account_id, items)
    result = _Sorted([], [], {})
    for item in items:
        message_id = item.parsed.message_id
        holders = by_id.setdefault(message_id, [])
        same = next((h for h in holders if _same_message(h, item)), None)
        if same is not None:
            result.copies.append((item, same))
            continue
        result.fresh.append(item)
        holders.append(_Holder(None, item.key, item.parsed.fingerprint or None))
        if message_id and len(holders) > 1:
            result.shared[message_id] = holders
    return result


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
    message_raw table (store/raw.py says why there are two homes).

    A new message is a copy of a stored one (a location is added) when it has its
    Message-ID and fingerprint (`_same_message`); a different message under a stored
    Message-ID is stored beside it, both marked with SHARED_ID_DEFECT, and the id stops
    joining threads (store/threads.py)."""
    now = datetime.now(UTC)
    batch = _sort_out(conn, account_id, new_messages, raw_files)
    ids: dict[str, int] = {}
    if batch.fresh:
        items = batch.fresh
        spots = _raw_spots(raw_files, account_id, items)
        for item, pk in zip(items, allocate_ids(conn, messages, len(items)), strict=True):
            ids[item.key] = pk
        shared_keys = {h.key for holders in batch.shared.values() for h in holders}
        # An id two stored messages held already was dealt with when the second came.
        newly = {
            mid: hs for mid, hs in batch.shared.items() if sum(h.pk is not None for h in hs) < 2
        }
        _mark_shared(conn, [h.pk for hs in newly.values() for h in hs if h.pk is not None])
        stale = split_at_shared_ids(conn, account_id, set(newly))
        nodes = {ids[i.key]: _thread_node(ids[i.key], i) for i in items}
        facts = {ids[i.key]: ThreadFacts(i.fetched.internaldate, i.parsed.subject) for i in items}
        placement = place_in_threads(conn, account_id, nodes, default_sharing, facts)
        _insert_messages(
            conn, account_id, items, now, ids, placement.thread_of, spots, nodes, shared_keys
        )
        insert_many(conn, message_references, reference_rows(nodes.values()))
        refresh_threads(conn, placement.stale | stale)
        auto_link_deals(conn, set(placement.thread_of.values()))
    created = len(batch.fresh)
    targets = [(item.fetched, ids[item.key]) for item in batch.fresh]
    for item, holder in batch.copies:
        targets.append((item.fetched, holder.pk if holder.pk is not None else ids[holder.key]))
    targets += _existing(conn, account_id, new_locations)
    location_rows = [
        {
            "message_id": pk,
            "folder_id": folder_id,
            "uid": fetched.uid,
            "flags": _flags(fetched.flags),
            "modseq": fetched.modseq,
        }
        for fetched, pk in targets
    ]
    _insert_locations(conn, folder_id, location_rows)
    values = dict(folder_values or {})
    values["uid_cursor"] = cursor
    conn.execute(folders.update().where(folders.c.id == folder_id).values(**values))
    return created


def _existing(
    conn: sa.Connection, account_id: int, locations: Sequence[NewLocation]
) -> list[tuple[FetchedMessage, int]]:
    """The locations whose message is still stored (it may have gone since it was
    looked up, outside this transaction)."""
    pks = sorted({loc.message_pk for loc in locations})
    alive: set[int] = set()
    for start in range(0, len(pks), 500):
        alive.update(
            conn.execute(
                sa.select(messages.c.id).where(
                    messages.c.account_id == account_id,
                    messages.c.id.in_(pks[start : start + 500]),
                )
            ).scalars()
        )
    return [(loc.fetched, loc.message_pk) for loc in locations if loc.message_pk in alive]


def _mark_shared(conn: sa.Connection, pks: list[int]) -> None:
    """Add SHARED_ID_DEFECT to stored messages that lacked it."""
    if not pks:
        return
    rows = conn.execute(
        sa.select(messages.c.id, messages.c.defects).where(messages.c.id.in_(sorted(set(pks))))
    ).all()
    updates = [
        {"b_id": r.id, "b_defects": [*r.defects, SHARED_ID_DEFECT]}
        for r in rows
        if SHARED_ID_DEFECT not in r.defects
    ]
    if updates:
        conn.execute(
            messages.update()
            .where(messages.c.id == sa.bindparam("b_id"))
            .values(defects=sa.bindparam("b_defects")),
            updates,
        )


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
        "fingerprint": parsed.fingerprint,
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
    shared_keys: set[str],
) -> None:
    """Insert messages (ids, threads and raw spots chosen), their participants (and raw
    bytes, without spots) with one statement each. Messages of `shared_keys` share
    their Message-ID with another message: the defect says so."""
    rows = []
    for number, item in enumerate(items):
        row = _message_row(account_id, item, now, nodes[ids[item.key]])
        row["id"] = ids[item.key]
        if item.key in shared_keys:
            row["defects"] = [*item.parsed.defects, SHARED_ID_DEFECT]
        row["thread_id"] = thread_of[ids[item.key]]
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
