"""Keep the raw packs tidy after messages were deleted: unreferenced packs go, mostly
dead packs are rewritten.

Order, so that a kill at any instant loses nothing: the live messages of the packs being
compacted are written into new packs first, then one transaction points the messages at
them; the old packs are not deleted here but by a later `sweep`, once nothing references
them (a reader that looked up a message a moment before the switch can still open the
old pack meanwhile). A kill before the commit leaves new packs nothing references: the
sweep removes them an hour later.

A batch that failed (disk full, database gone) leaves its pack behind too, and on a
full disk that pack holds the space the retry needs: `sweep_failed` removes, before
the next pass, what the failed pass wrote and nothing references, without waiting an
hour. One worker syncs an account at a time; `settle` covers a batch of another
process that wrote its pack and is about to commit it.
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from emailsync.store import messages as message_store
from emailsync.store.db import reading
from emailsync.store.raw import RawFiles, RawSpot, compact_plan

COMPACT_PACK_BYTES = 16 * 1024 * 1024  # a rewritten pack holds up to this much
FAILED_PACK_SETTLE = 30.0  # seconds: younger unreferenced packs may be about to commit


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


def sweep_failed(
    engine: sa.Engine,
    raw_files: RawFiles,
    account_id: int,
    *,
    since: float,
    settle: float | None = None,
) -> int:
    """Delete the account's unreferenced packs written from `since` (when the failed
    pass started, a time.time()) until `settle` seconds ago. Returns how many went."""
    with reading(engine) as conn:
        referenced = message_store.raw_pack_usage(conn, account_id)
    before = time.time() - (FAILED_PACK_SETTLE if settle is None else settle)
    removed = 0
    for pack, (_size, mtime) in raw_files.pack_sizes(account_id).items():
        if pack not in referenced and since <= mtime < before:
            raw_files.pack_path(account_id, pack).unlink(missing_ok=True)
            removed += 1
    return removed


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
