"""The CRM's users, as the command line and the web manage them: each call one
transaction over store/directory.py."""

from __future__ import annotations

import sqlalchemy as sa

from emailsync.store import directory
from emailsync.store.db import reading
from emailsync.store.directory import User


def add_user(engine: sa.Engine, email: str, name: str = "") -> User:
    with engine.begin() as conn:
        return directory.add_user(conn, email, name)


def find_user(engine: sa.Engine, email: str) -> User:
    with reading(engine) as conn:
        return directory.find_user(conn, email)


def list_users(engine: sa.Engine) -> list[User]:
    with reading(engine) as conn:
        return directory.list_users(conn)
