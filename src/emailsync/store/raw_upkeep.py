"""Keep the raw packs tidy after messages were deleted: unreferenced packs go, mostly
dead packs are rewritten.

Order, so that a kill at any instant loses nothing: the live messages of the packs being
compacted are written into new packs first, then one transaction points the messages at
them; the old packs are not deleted here but by a later `sweep`, once nothing references
them (a reader that looked up a message a moment before the switch can still open the
old pack meanwhile). A kill before the commit leaves new packs nothing references: the
sweep removes them an hour later.
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from emailsync.store import messages as message_store
from emailsync.store.db import reading
from emailsync.store.raw import RawFiles, RawSpot, compact_plan

COMPACT_PACK_BYTES = 16 * 1024 * 1024  # a rewritten pack holds up to this much


def tidy(engine: sa.Engine, raw_files: RawFiles, account_id: int) -> tuple[int, int]:
    """Sweep, then compact. Returns (packs and files removed, packs rewritten)."""
    with reading(engine) as conn:
        usage = message_store.raw_pack_usage(conn, account_id)
        legacy = message_store.raw_legacy_digests(conn, account_id)
    removed = raw_files.sweep(account_id, set(usage), legacy)
    sparse = compact_plan(usage.items(), raw_files.pack_sizes(account_id), now=time.time())
    if sparse:
        _rewrite(engine, raw_files, account_id, sparse)
    return removed, len(sparse)


def _rewrite(engine: sa.Engine, raw_files: RawFiles, account_id: int, packs: list[str]) -> None:
    with reading(engine) as conn:
        live = message_store.raw_spots_in(conn, account_id, packs)
    moves: list[tuple[int, RawSpot]] = []
    pending: list[tuple[int, bytes]] = []
    weight = 0
    for pk, spot in live:
        data = raw_files.read(account_id, spot)
        if data is None:  # gone already: nothing to save (the reader says so too)
            continue
        pending.append((pk, data))
        weight += len(data)
        if weight >= COMPACT_PACK_BYTES:
            moves += _write(raw_files, account_id, pending)
            pending, weight = [], 0
    moves += _write(raw_files, account_id, pending)
    with engine.begin() as conn:
        message_store.move_raw(conn, moves)


def _write(
    raw_files: RawFiles, account_id: int, pending: list[tuple[int, bytes]]
) -> list[tuple[int, RawSpot]]:
    spots = raw_files.write_pack(account_id, [data for _pk, data in pending])
    return [(pk, spot) for (pk, _data), spot in zip(pending, spots, strict=True)]
