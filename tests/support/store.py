"""A bare store for tests of the write path: one user, one account and its INBOX, made
with plain inserts (no IMAP, no CLI), on SQLite or PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from emailsync.store.db import create_engine, upgrade
from emailsync.store.tables import accounts, folders, users

CREATED = datetime(2026, 11, 1, tzinfo=UTC)


def bare_store(url: str, *, email: str = "me@x") -> tuple[sa.Engine, int, int]:
    """A migrated store at `url` (a SQLAlchemy URL) with one account; returns the engine,
    the account id and the id of its INBOX folder."""
    engine = create_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        user = conn.execute(users.insert().values(email="u@x", created_at=CREATED))
        account = conn.execute(
            accounts.insert().values(
                user_id=user.inserted_primary_key[0],
                email=email,
                imap_host="h",
                imap_port=1,
                imap_security="ssl",
                username="me",
                password_secret="",
                aliases=[],
                sync_from="3m",
                past_scope="all",
                folders=[],
                future_mode="selected",
                track_opens=True,
                track_links=True,
                state="active",
                created_at=CREATED,
            )
        ).inserted_primary_key[0]
        folder = conn.execute(folders.insert().values(account_id=account, name="INBOX"))
    return engine, account, folder.inserted_primary_key[0]
