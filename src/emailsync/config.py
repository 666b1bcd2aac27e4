"""Every setting emailsync takes from the environment, read once, in this module only.

EMAILSYNC_HOME            data directory (default ./emailsync-data): SQLite file, keys, raw
EMAILSYNC_DATABASE_URL    SQLAlchemy URL; default sqlite:///$EMAILSYNC_HOME/emailsync.db
EMAILSYNC_SECRET_KEYS     comma-separated Fernet keys, newest first (else $HOME/secret.key)
EMAILSYNC_CA_FILE         extra CA bundle trusted for IMAP/SMTP TLS (private CAs, tests)
EMAILSYNC_RAW_STORE       where raw messages live: "files" ($EMAILSYNC_HOME/raw, the default
                          with SQLite) or "database" (the default with PostgreSQL, so every
                          machine of a multi-machine setup sees them)
EMAILSYNC_SESSION_KEY     key that signs the web app's session cookies (else
                          $EMAILSYNC_HOME/web-session.key, created on first use); set it
                          to the same value on every web server behind one address
EMAILSYNC_SECURE_COOKIES  "1" adds the Secure flag to the session cookie (behind TLS)
CI                        set (by CI services): no progress bars, even on a terminal

Nothing else in src/ reads the environment. This module imports only the standard
library and errors.py, so the quick no-change check (sync/quick_check.py) can use it
without loading SQLAlchemy.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from emailsync.errors import UsageError

HOME = "EMAILSYNC_HOME"
DATABASE_URL = "EMAILSYNC_DATABASE_URL"
SECRET_KEYS = "EMAILSYNC_SECRET_KEYS"
CA_FILE = "EMAILSYNC_CA_FILE"
RAW_STORE = "EMAILSYNC_RAW_STORE"
SESSION_KEY = "EMAILSYNC_SESSION_KEY"
SECURE_COOKIES = "EMAILSYNC_SECURE_COOKIES"
RAW_STORES = ("files", "database")


@dataclass(frozen=True, slots=True)
class Settings:
    home: Path
    database_url: str
    ca_file: str | None
    raw_store: str = "files"
    secret_keys: tuple[str, ...] = ()  # newest first; empty: $home/secret.key
    session_key: str | None = None  # None: $home/web-session.key
    secure_cookies: bool = False

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        home = Path(env.get(HOME) or "emailsync-data").resolve()
        url = env.get(DATABASE_URL) or f"sqlite:///{home / 'emailsync.db'}"
        raw_store = env.get(RAW_STORE) or ("files" if url.startswith("sqlite") else "database")
        if raw_store not in RAW_STORES:
            raise UsageError(f"{RAW_STORE} must be files or database, not {raw_store!r}")
        keys = tuple(part.strip() for part in env.get(SECRET_KEYS, "").split(",") if part.strip())
        return cls(
            home=home,
            database_url=url,
            ca_file=env.get(CA_FILE) or None,
            raw_store=raw_store,
            secret_keys=keys,
            session_key=env.get(SESSION_KEY, "").strip() or None,
            secure_cookies=env.get(SECURE_COOKIES, "") == "1",
        )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def in_ci(environ: Mapping[str, str] | None = None) -> bool:
    """True under a CI service ($CI set): the CLI draws no progress bars there."""
    env = os.environ if environ is None else environ
    return bool(env.get("CI"))
