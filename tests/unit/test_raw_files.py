"""Raw messages as files: written whole or not at all, found by digest, swept when
nothing references them."""

from __future__ import annotations

import os
import time
from pathlib import Path

from emailsync.store.raw import SWEEP_MIN_AGE, RawFiles, raw_digest


def test_a_raw_message_is_read_back_byte_for_byte(tmp_path: Path) -> None:
    files = RawFiles(tmp_path)
    data = b"Subject: x\r\n\r\n\x00\xff body"
    files.put(7, raw_digest(data), data)
    assert files.get(7, raw_digest(data)) == data
    assert files.get(8, raw_digest(data)) is None  # another account's store
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_replayed_batch_rewrites_a_truncated_file_and_keeps_a_whole_one(tmp_path: Path) -> None:
    files = RawFiles(tmp_path)
    data = b"x" * 1000
    digest = raw_digest(data)
    files.put(1, digest, data)
    files.path(1, digest).write_bytes(data[:10])  # what no writer leaves, but a disk might
    files.put(1, digest, data)
    assert files.get(1, digest) == data


def test_sweep_removes_only_old_unreferenced_files(tmp_path: Path) -> None:
    files = RawFiles(tmp_path)
    kept, dropped, recent = b"kept", b"dropped", b"recent"
    for data in (kept, dropped, recent):
        files.put(1, raw_digest(data), data)
    old = time.time() - SWEEP_MIN_AGE - 60
    for data in (kept, dropped):
        os.utime(files.path(1, raw_digest(data)), (old, old))
    assert files.sweep(1, {raw_digest(kept)}) == 1
    assert files.get(1, raw_digest(kept)) == kept
    assert files.get(1, raw_digest(dropped)) is None
    assert files.get(1, raw_digest(recent)) == recent  # its batch may not have committed yet


def test_dropping_an_account_removes_its_files_only(tmp_path: Path) -> None:
    files = RawFiles(tmp_path)
    files.put(1, raw_digest(b"a"), b"a")
    files.put(2, raw_digest(b"b"), b"b")
    files.drop_account(1)
    assert files.get(1, raw_digest(b"a")) is None
    assert files.get(2, raw_digest(b"b")) == b"b"
