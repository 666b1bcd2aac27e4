"""The newest schema revision, read from the migration files' names (NNNN_*.py).

Its own module, free of SQLAlchemy and Alembic: store/db.py asks it before deciding to
import Alembic, and the quick no-change check (sync/quick_check.py) compares it with
the database's alembic_version through sqlite3 alone.
"""

from __future__ import annotations

from pathlib import Path

MIGRATIONS = Path(__file__).parent / "migrations"


def head_revision() -> str:
    """The newest migration, from the file names alone."""
    names = sorted(p.name for p in (MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
    return names[-1].split("_", 1)[0]
