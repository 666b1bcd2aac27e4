"""Where emailsync keeps its data, read once from the environment.

EMAILSYNC_HOME          data directory (default ./emailsync-data): SQLite file, secret key
EMAILSYNC_DATABASE_URL  SQLAlchemy URL; default sqlite:///$EMAILSYNC_HOME/emailsync.db
EMAILSYNC_SECRET_KEYS   comma-separated Fernet keys, newest first (else $HOME/secret.key)
EMAILSYNC_CA_FILE       extra CA bundle trusted for IMAP/SMTP TLS (private CAs, tests)
EMAILSYNC_RAW_STORE     where raw messages live: "files" ($EMAILSYNC_HOME/raw, the default
                        with SQLite) or "database" (the default with PostgreSQL, so every
                        machine of a multi-machine setup sees them)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from emailsync.errors import UsageError


@dataclass(frozen=True, slots=True)
class Settings:
    home: Path
    database_url: str
    ca_file: str | None
    raw_store: str = "files"

    @classmethod
    def from_environment(cls) -> Settings:
        home = Path(os.environ.get("EMAILSYNC_HOME") or "emailsync-data").resolve()
        url = os.environ.get("EMAILSYNC_DATABASE_URL") or f"sqlite:///{home / 'emailsync.db'}"
        raw_store = os.environ.get("EMAILSYNC_RAW_STORE") or (
            "files" if url.startswith("sqlite") else "database"
        )
        if raw_store not in ("files", "database"):
            raise UsageError(f"EMAILSYNC_RAW_STORE must be files or database, not {raw_store!r}")
        return cls(
            home=home,
            database_url=url,
            ca_file=os.environ.get("EMAILSYNC_CA_FILE"),
            raw_store=raw_store,
        )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
