"""Users' sign-in secrets in the database: password hashes and API token digests.

Hashing and token making live in services.users; this module only reads and writes
rows, on the caller's connection (the caller owns the transaction)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from emailsync.domain.addresses import normalize_email
from emailsync.store.directory import User
from emailsync.store.tables import api_tokens, users


@dataclass(frozen=True, slots=True)
class Credentials:
    user: User
    password_hash: str  # "" when the user has no password yet


def credentials_by_email(conn: sa.Connection, email: str) -> Credentials | None:
    row = conn.execute(sa.select(users).where(users.c.email == normalize_email(email))).first()
    if row is None:
        return None
    return Credentials(User(row.id, row.email, row.name), row.password_hash or "")


def set_password_hash(conn: sa.Connection, user_id: int, password_hash: str) -> bool:
    """False when there is no such user."""
    done = conn.execute(
        users.update().where(users.c.id == user_id).values(password_hash=password_hash)
    )
    return done.rowcount > 0


def get_user(conn: sa.Connection, user_id: int) -> User | None:
    row = conn.execute(sa.select(users).where(users.c.id == user_id)).first()
    return None if row is None else User(row.id, row.email, row.name)


def user_exists(conn: sa.Connection, user_id: int) -> bool:
    return conn.execute(sa.select(users.c.id).where(users.c.id == user_id)).first() is not None


def add_token(conn: sa.Connection, user_id: int, name: str, token_hash: str) -> None:
    conn.execute(
        api_tokens.insert().values(
            user_id=user_id, name=name, token_hash=token_hash, created_at=datetime.now(UTC)
        )
    )


def use_token(conn: sa.Connection, token_hash: str) -> User | None:
    """The owner of the token with this digest, noting that it was used now; or None."""
    row = conn.execute(
        sa.select(users.c.id, users.c.email, users.c.name, api_tokens.c.id.label("token_id"))
        .join(api_tokens, api_tokens.c.user_id == users.c.id)
        .where(api_tokens.c.token_hash == token_hash)
    ).first()
    if row is None:
        return None
    conn.execute(
        api_tokens.update()
        .where(api_tokens.c.id == row.token_id)
        .values(last_used_at=datetime.now(UTC))
    )
    return User(row.id, row.email, row.name)
