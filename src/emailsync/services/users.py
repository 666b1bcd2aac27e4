"""Who is asking: passwords, API tokens and the login throttle (the rows: store.users).

Passwords are hashed with Argon2id (argon2-cffi's defaults); a hash made with older
parameters is accepted and can be upgraded by the caller (`needs_rehash`). API tokens are
random strings shown once; only their SHA-256 is stored (api_tokens.token_hash), so a
copy of the database does not hand out working tokens.

The login throttle lives in memory: right for the single-process default (`emailsync
serve`); several web processes would each count on their own (up to N x the limit).
"""

from __future__ import annotations

import functools
import hashlib
import secrets
import threading
import time
from collections import deque

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from emailsync.domain.addresses import normalize_email
from emailsync.errors import UsageError
from emailsync.store import directory
from emailsync.store import users as user_store
from emailsync.store.db import reading
from emailsync.store.directory import User

MIN_PASSWORD_LENGTH = 8
TOKEN_PREFIX = "es_"

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the email is unknown, so a wrong email costs as long as a
    wrong password and response times do not tell which addresses have an account. Made
    on first use: hashing at import cost every CLI command a quarter second."""
    return _hasher.hash("not a real password")


def add_user(engine: sa.Engine, email: str, name: str = "") -> User:
    with engine.begin() as conn:
        return directory.add_user(conn, email, name)


def find_user(engine: sa.Engine, email: str) -> User:
    with reading(engine) as conn:
        return directory.find_user(conn, email)


def list_users(engine: sa.Engine) -> list[User]:
    with reading(engine) as conn:
        return directory.list_users(conn)


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
        if not user_store.set_password_hash(conn, user_id, hash_password(password)):
            raise UsageError(f"No user with id {user_id}")


def authenticate(engine: sa.Engine, email: str, password: str) -> User | None:
    """The user with this email and password, or None (the same for either mistake)."""
    with reading(engine) as conn:
        found = user_store.credentials_by_email(conn, email)
    if found is None or not found.password_hash:
        verify_password(_dummy_hash(), password)
        return None
    if not verify_password(found.password_hash, password):
        return None
    if _hasher.check_needs_rehash(found.password_hash):
        with engine.begin() as conn:
            user_store.set_password_hash(conn, found.user.id, hash_password(password))
    return found.user


def get_user(engine: sa.Engine, user_id: int) -> User | None:
    with reading(engine) as conn:
        return user_store.get_user(conn, user_id)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_api_token(engine: sa.Engine, user_id: int, name: str) -> str:
    """A new bearer token for the user. Returned once; only its hash is kept."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with engine.begin() as conn:
        if not user_store.user_exists(conn, user_id):
            raise UsageError(f"No user with id {user_id}")
        user_store.add_token(conn, user_id, name, _token_hash(token))
    return token


def user_for_token(engine: sa.Engine, token: str) -> User | None:
    """The owner of a bearer token, or None. Notes when the token was last used."""
    if not token or not token.startswith(TOKEN_PREFIX):
        return None
    with engine.begin() as conn:
        return user_store.use_token(conn, _token_hash(token))


class LoginThrottle:
    """At most `limit` failed logins per (email, client address) in `window` seconds."""

    def __init__(self, limit: int = 5, window: float = 300.0) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()
        self._clock = time.monotonic
        _dummy_hash()  # made now, so that the first unknown email is not the slow one

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
