"""Raw messages, byte for byte: the source every parsed field can be rebuilt from.

Two homes, chosen by `Settings.raw_store`:
  * files (the default with SQLite): `<home>/raw/<account>/<sha[:2]>/<sha256>`. Half a
    gigabyte of mail written through SQLite's WAL is written twice (WAL, then the
    checkpoint) by the one process that also does everything else; files are written
    once, by whichever process holds the bytes (the parser process on big passes).
  * the `message_raw` table (the default with PostgreSQL): workers and web servers on
    several machines all see it.

Order of writes, so that a kill at any instant loses nothing: a file is complete
before the transaction that references it commits. A kill in between leaves a file
nothing references yet, whole or cut short: the replayed batch finds it (same name)
and writes it again unless it is whole, and `sweep` removes any that stay
unreferenced. Files are not fsynced, the same promise as SQLite's `synchronous=NORMAL`
that the database runs with: a process crash loses nothing committed.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

SWEEP_MIN_AGE = 3600.0  # seconds


def raw_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class RawFiles:
    """Raw messages as files; picklable, so the parser process can write them too."""

    root: Path

    def path(self, account_id: int, digest: str) -> Path:
        return self.root / str(account_id) / digest[:2] / digest

    def put(self, account_id: int, digest: str, data: bytes) -> None:
        """Write the file unless a whole copy is there. One open() in the common case:
        a write cut short (a kill) leaves a file of the wrong size, which the replayed
        batch finds and writes again; nothing references it before that."""
        target = self.path(account_id, digest)
        try:
            out = open(target, "xb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            target.parent.mkdir(parents=True, exist_ok=True)
            out = open(target, "xb")  # noqa: SIM115
        except FileExistsError:
            if target.stat().st_size == len(data):
                return
            out = open(target, "wb")  # noqa: SIM115
        with out:
            out.write(data)

    def put_many(self, account_id: int, items: Iterable[tuple[str, bytes]]) -> None:
        for digest, data in items:
            self.put(account_id, digest, data)

    def get(self, account_id: int, digest: str) -> bytes | None:
        try:
            return self.path(account_id, digest).read_bytes()
        except FileNotFoundError:
            return None

    def sweep(self, account_id: int, referenced: set[str]) -> int:
        """Delete the account's files that no message references (deleted messages,
        batches killed before they committed and never replayed). Recent files are
        left alone: another process may be about to commit the batch that holds them."""
        removed = 0
        base = self.root / str(account_id)
        if not base.is_dir():
            return 0
        settled = time.time() - SWEEP_MIN_AGE
        for shard in base.iterdir():
            for file in shard.iterdir():
                if file.name not in referenced and file.stat().st_mtime < settled:
                    file.unlink(missing_ok=True)
                    removed += 1
        return removed

    def drop_account(self, account_id: int) -> None:
        shutil.rmtree(self.root / str(account_id), ignore_errors=True)
