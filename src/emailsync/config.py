"""Where emailsync keeps its data, read once from the environment.

EMAILSYNC_HOME          data directory (default ./emailsync-data): SQLite file, secret key
EMAILSYNC_DATABASE_URL  SQLAlchemy URL; default sqlite:///$EMAILSYNC_HOME/emailsync.db
EMAILSYNC_SECRET_KEYS   comma-separated Fernet keys, newest first (else $HOME/secret.key)
EMAILSYNC_CA_FILE       extra CA bundle trusted for IMAP/SMTP TLS (private CAs, tests)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Settings:
    home: Path
    database_url: str
    ca_file: str | None

    @classmethod
    def from_environment(cls) -> Settings:
        home = Path(os.environ.get("EMAILSYNC_HOME") or "emailsync-data").resolve()
        url = os.environ.get("EMAILSYNC_DATABASE_URL") or f"sqlite:///{home / 'emailsync.db'}"
        return cls(home=home, database_url=url, ca_file=os.environ.get("EMAILSYNC_CA_FILE"))

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
