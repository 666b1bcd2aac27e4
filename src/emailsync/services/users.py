"""Who is asking: passwords, API tokens and the login throttle.

Passwords are hashed with Argon2id (argon2-cffi's defaults); a hash made with older
parameters is accepted and can be upgraded by the caller (`needs_rehash`). API tokens are
random strings shown once; only their SHA-256 is stored (api_tokens.token_hash), so a
copy of the database does not hand out working tokens.

The login throttle lives in memory: right for the single-process default (`emailsync
serve`); several web processes would each count on their own (up to N x the limit).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import deque
from datetime import UTC, datetime

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from emailsync.domain.addresses import normalize_email
from emailsync.errors import UsageError
from emailsync.store.db import reading
from emailsync.store.directory import User
from emailsync.store.tables import api_tokens, users

MIN_PASSWORD_LENGTH = 8
TOKEN_PREFIX = "es_"

_hasher = PasswordHasher()
# Verified against when the email is unknown, so a wrong email costs as long as a wrong
# password and response times do not tell which addresses have an account.
_DUMMY_HASH = _hasher.hash("not a real password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def set_password(engine: sa.Engine, user_id: int, password: str) -> None:
    """Give a user a (new) password. Raises UsageError when it is too short."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UsageError(f"Choose a password of at least {MIN_PASSWORD_LENGTH} characters")
    with engine.begin() as conn:
        done = conn.execute(
            users.update()
            .where(users.c.id == user_id)
            .values(password_hash=hash_password(password))
        )
        if done.rowcount == 0:
            raise UsageError(f"No user with id {user_id}")


def authenticate(engine: sa.Engine, email: str, password: str) -> User | None:
    """The user with this email and password, or None (the same for either mistake)."""
    with reading(engine) as conn:
        row = conn.execute(sa.select(users).where(users.c.email == normalize_email(email))).first()
    if row is None or not row.password_hash:
        verify_password(_DUMMY_HASH, password)
        return None
    if not verify_password(row.password_hash, password):
        return None
    if _hasher.check_needs_rehash(row.password_hash):
        with engine.begin() as conn:
            conn.execute(
                users.update()
                .where(users.c.id == row.id)
                .values(password_hash=hash_password(password))
            )
    return User(row.id, row.email, row.name)


def get_user(engine: sa.Engine, user_id: int) -> User | None:
    with reading(engine) as conn:
        row = conn.execute(sa.select(users).where(users.c.id == user_id)).first()
    return None if row is None else User(row.id, row.email, row.name)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_api_token(engine: sa.Engine, user_id: int, name: str) -> str:
    """A new bearer token for the user. Returned once; only its hash is kept."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with engine.begin() as conn:
        if conn.execute(sa.select(users.c.id).where(users.c.id == user_id)).first() is None:
            raise UsageError(f"No user with id {user_id}")
        conn.execute(
            api_tokens.insert().values(
                user_id=user_id,
                name=name,
                token_hash=_token_hash(token),
                created_at=datetime.now(UTC),
            )
        )
    return token


def user_for_token(engine: sa.Engine, token: str) -> User | None:
    """The owner of a bearer token, or None. Notes when the token was last used."""
    if not token or not token.startswith(TOKEN_PREFIX):
        return None
    digest = _token_hash(token)
    with engine.begin() as conn:
        row = conn.execute(
            sa.select(users.c.id, users.c.email, users.c.name, api_tokens.c.id.label("token_id"))
            .join(api_tokens, api_tokens.c.user_id == users.c.id)
            .where(api_tokens.c.token_hash == digest)
        ).first()
        if row is None:
            return None
        conn.execute(
            api_tokens.update()
            .where(api_tokens.c.id == row.token_id)
            .values(last_used_at=datetime.now(UTC))
        )
    return User(row.id, row.email, row.name)


class LoginThrottle:
    """At most `limit` failed logins per (email, client address) in `window` seconds."""

    def __init__(self, limit: int = 5, window: float = 300.0) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()
        self._clock = time.monotonic

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        now = self._clock()
        failures = self._failures.setdefault(key, deque())
        while failures and now - failures[0] > self.window:
            failures.popleft()
        return failures

    def blocked_for(self, email: str, client: str) -> float:
        """Seconds until another try is allowed; 0 when it is allowed now."""
        key = (normalize_email(email) or email, client)
        with self._lock:
            failures = self._recent(key)
            if len(failures) < self.limit:
                return 0.0
            return max(0.0, self.window - (self._clock() - failures[0]))

    def failed(self, email: str, client: str) -> None:
        key = (normalize_email(email) or email, client)
        with self._lock:
            self._recent(key).append(self._clock())

    def succeeded(self, email: str, client: str) -> None:
        with self._lock:
            self._failures.pop((normalize_email(email) or email, client), None)
