"""Raw messages, byte for byte: the source every parsed field can be rebuilt from.

Two homes, chosen by `Settings.raw_store`:
  * packs (the default with SQLite): `<home>/raw/<account>/<pack>.pack`, the messages of
    one fetched batch written one after the other into one new file; the database row
    of each message says where its bytes lie (pack, offset, length). Half a gigabyte of
    mail written through SQLite's WAL is written twice (WAL, then the checkpoint) by the
    one process that also does everything else; packs are written once, by a thread
    that would otherwise wait. One file per batch rather than per message: creating a
    file is what costs on a busy file system (ext4 looks for a free inode past every
    recently deleted one; the bench machine's figures for 12,000 files against 120
    packs are in bench/README.md). Dovecot's mdbox and git's packs
    are the same idea.
  * the `message_raw` table (the default with PostgreSQL): workers and web servers on
    several machines all see it.

Order of writes, so that a kill at any instant loses nothing: a pack is complete before
the transaction that references it commits. A kill in between leaves a pack nothing
references; the replayed batch writes a new one, and `sweep` removes the old one once it
has stayed unreferenced for an hour. Packs are not fsynced, the same promise as SQLite's
`synchronous=NORMAL` that the database runs with: a process crash loses nothing
committed. Deleted messages leave dead bytes behind; `compact_plan` finds packs that are
mostly dead, and store/raw_upkeep.py rewrites their live messages into new packs.

Databases written before packs keep their one-file-per-message copies
(`<account>/<sha[:2]>/<sha256>`): they are still read, and swept the same way.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from emailsync.config import Settings

SWEEP_MIN_AGE = 3600.0  # seconds
PACK_SUFFIX = ".pack"


def raw_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class RawSpot(NamedTuple):
    """Where one message's bytes lie (a tuple: thousands cross a process boundary)."""

    pack: str
    offset: int
    length: int


def raw_files(settings: Settings) -> RawFiles | None:
    """Where raw messages are written as files; None: in the database."""
    if settings.raw_store != "files":
        return None
    return RawFiles(settings.home / "raw")


@dataclass(frozen=True, slots=True)
class RawFiles:
    """Raw messages in pack files; picklable, so another process can write them too."""

    root: Path

    def pack_path(self, account_id: int, pack: str) -> Path:
        return self.root / str(account_id) / (pack + PACK_SUFFIX)

    def legacy_path(self, account_id: int, digest: str) -> Path:
        """A copy written before packs: one file per message, named by its SHA-256."""
        return self.root / str(account_id) / digest[:2] / digest

    def write_pack(self, account_id: int, raws: Sequence[bytes]) -> list[RawSpot]:
        """Write the messages into a new pack; where each one lies, in order."""
        if not raws:
            return []
        pack = f"{time.time_ns():x}-{secrets.token_hex(6)}"
        target = self.pack_path(account_id, pack)
        try:
            out = open(target, "xb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            target.parent.mkdir(parents=True, exist_ok=True)
            out = open(target, "xb")  # noqa: SIM115
        spots = []
        offset = 0
        with out:
            for data in raws:
                out.write(data)
                spots.append(RawSpot(pack, offset, len(data)))
                offset += len(data)
        return spots

    def read(self, account_id: int, spot: RawSpot) -> bytes | None:
        """The bytes at `spot`; None when the pack is gone or shorter than promised."""
        try:
            with open(self.pack_path(account_id, spot.pack), "rb") as pack:
                pack.seek(spot.offset)
                data = pack.read(spot.length)
        except FileNotFoundError:
            return None
        return data if len(data) == spot.length else None

    def read_legacy(self, account_id: int, digest: str) -> bytes | None:
        try:
            return self.legacy_path(account_id, digest).read_bytes()
        except FileNotFoundError:
            return None

    def pack_sizes(self, account_id: int) -> dict[str, tuple[int, float]]:
        """Every pack of the account: name → (size in bytes, modification time)."""
        base = self.root / str(account_id)
        if not base.is_dir():
            return {}
        found = {}
        for entry in os.scandir(base):
            if entry.is_file() and entry.name.endswith(PACK_SUFFIX):
                stat = entry.stat()
                found[entry.name.removesuffix(PACK_SUFFIX)] = (stat.st_size, stat.st_mtime)
        return found

    def sweep(
        self, account_id: int, referenced_packs: set[str], referenced_digests: set[str]
    ) -> int:
        """Delete the account's packs (and pre-pack files) that no message references:
        packs of batches killed before they committed, packs compacted away, copies of
        deleted messages. Recent ones are left alone: another process may be about to
        commit the batch that holds them."""
        removed = 0
        settled = time.time() - SWEEP_MIN_AGE
        for pack, (_size, mtime) in self.pack_sizes(account_id).items():
            if pack not in referenced_packs and mtime < settled:
                self.pack_path(account_id, pack).unlink(missing_ok=True)
                removed += 1
        base = self.root / str(account_id)
        for shard in base.iterdir() if base.is_dir() else ():
            if not shard.is_dir():
                continue
            for file in shard.iterdir():
                if file.name not in referenced_digests and file.stat().st_mtime < settled:
                    file.unlink(missing_ok=True)
                    removed += 1
        return removed

    def drop_account(self, account_id: int) -> None:
        shutil.rmtree(self.root / str(account_id), ignore_errors=True)


def compact_plan(
    live: Iterable[tuple[str, int]], packs: dict[str, tuple[int, float]], *, now: float
) -> list[str]:
    """The packs worth rewriting: at least half of their bytes belong to no message any
    more (deleted, or a copy the batch already held), and they are settled (older than
    SWEEP_MIN_AGE, so no batch that wrote them can still be committing).

    `live`: (pack, live bytes) per referenced pack; `packs`: RawFiles.pack_sizes."""
    live_bytes = dict(live)
    settled = now - SWEEP_MIN_AGE
    return sorted(
        pack
        for pack, (size, mtime) in packs.items()
        if pack in live_bytes and mtime < settled and live_bytes[pack] * 2 <= size
    )
