"""Raw messages in pack files: a batch written as one pack, read back by spot, swept when
nothing references it, compacted when mostly dead."""

from __future__ import annotations

import os
import time
from pathlib import Path

from emailsync.store.raw import SWEEP_MIN_AGE, RawFiles, RawSpot, compact_plan


def _age(files: RawFiles, account_id: int, pack: str, seconds: float) -> None:
    old = time.time() - seconds
    os.utime(files.pack_path(account_id, pack), (old, old))


def test_a_batch_is_one_pack_and_each_message_is_read_back_byte_for_byte(tmp_path: Path) -> None:
    files = RawFiles(tmp_path)
    batch = [b"Subject: x\r\n\r\n\x00\xff body", b"", b"y" * 70_000]
    spots = files.write_pack(7, batch)
    assert len({s.pack for s in spots}) == 1
    assert [files.read(7, s) for s in spots] == batch
    assert files.read(8, spots[0]) is None  # another account's store
    assert len(list(tmp_path.rglob("*.pack"))) == 1
    assert files.write_pack(7, []) == []


def test_two_batches_never_share_a_pack(tmp_path: Path) -> None:
    files = RawFiles(tmp_path)
    first = files.write_pack(1, [b"a"])[0]
    second = files.write_pack(1, [b"a"])[0]
    assert first.pack != second.pack


def test_a_spot_past_the_end_of_a_cut_pack_reads_as_missing(tmp_path: Path) -> None:
    files = RawFiles(tmp_path)
    spot = files.write_pack(1, [b"x" * 1000])[0]
    files.pack_path(1, spot.pack).write_bytes(b"x" * 10)  # what no writer leaves, a disk might
    assert files.read(1, spot) is None
    assert files.read(1, RawSpot("no-such-pack", 0, 1)) is None


def test_sweep_removes_only_old_unreferenced_packs_and_files(tmp_path: Path) -> None:
    files = RawFiles(tmp_path)
    kept, dropped, recent = (files.write_pack(1, [data])[0] for data in (b"k", b"d", b"r"))
    for spot in (kept, dropped):
        _age(files, 1, spot.pack, SWEEP_MIN_AGE + 60)
    legacy_kept = files.legacy_path(1, "ab" + "0" * 62)
    legacy_dropped = files.legacy_path(1, "ab" + "1" * 62)
    legacy_kept.parent.mkdir(parents=True)
    for path in (legacy_kept, legacy_dropped):
        path.write_bytes(b"old copy")
        old = time.time() - SWEEP_MIN_AGE - 60
        os.utime(path, (old, old))
    removed = files.sweep(1, {kept.pack}, {legacy_kept.name})
    assert removed == 2
    assert files.read(1, kept) == b"k"
    assert files.read(1, dropped) is None
    assert files.read(1, recent) == b"r"  # its batch may not have committed yet
    assert files.read_legacy(1, legacy_kept.name) == b"old copy"
    assert files.read_legacy(1, legacy_dropped.name) is None


def test_dropping_an_account_removes_its_packs_only(tmp_path: Path) -> None:
    files = RawFiles(tmp_path)
    a = files.write_pack(1, [b"a"])[0]
    b = files.write_pack(2, [b"b"])[0]
    files.drop_account(1)
    assert files.read(1, a) is None
    assert files.read(2, b) == b"b"


def test_compaction_takes_settled_packs_that_are_at_least_half_dead() -> None:
    now = 1_000_000.0
    settled, fresh = now - SWEEP_MIN_AGE - 1, now - 10
    packs = {
        "half-dead": (1000, settled),
        "mostly-live": (1000, settled),
        "dead-but-fresh": (1000, fresh),
        "unreferenced": (1000, settled),  # the sweep's, not compaction's
    }
    live = [("half-dead", 500), ("mostly-live", 501), ("dead-but-fresh", 1)]
    assert compact_plan(live, packs, now=now) == ["half-dead"]
