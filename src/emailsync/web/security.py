"""Sessions, CSRF and who the caller is.

Pages use a signed session cookie (Starlette SessionMiddleware: HttpOnly, SameSite=Lax,
signed with a key kept in the data directory like store/crypto.py's). Every state change
from a session carries the session's CSRF token, as a form field or as the X-CSRF-Token
header htmx sends (hx-headers on <body>). The API also takes `Authorization: Bearer`
tokens (auth.create_api_token); a bearer request needs no CSRF token because browsers
never attach that header on their own.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from fastapi import HTTPException, Request

from emailsync.services import users as auth
from emailsync.store.directory import User

SESSION_KEY_FILE = "web-session.key"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


def session_secret(home: Path, configured: str | None = None) -> str:
    """The cookie-signing key: EMAILSYNC_SESSION_KEY, else home/web-session.key (0600)."""
    if configured:
        return configured
    path = Path(home) / SESSION_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            try:
                os.write(fd, secrets.token_urlsafe(48).encode("ascii") + b"\n")
            finally:
                os.close(fd)
    return path.read_text(encoding="ascii").strip()


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


class LoginRequired(Exception):
    """A page was asked for without a session: send the browser to the sign-in page."""


def session_user(request: Request) -> User | None:
    user_id = request.session.get("user_id")
    if not isinstance(user_id, int):
        return None
    user = auth.get_user(request.app.state.engine, user_id)
    if user is None:
        request.session.clear()
    return user


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


async def check_csrf(request: Request) -> None:
    """Refuse a state change from a session that lacks the session's CSRF token."""
    expected = request.session.get("csrf") or ""
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        sent = str(form.get(CSRF_FIELD, ""))
    if not expected or not hmac.compare_digest(str(sent), str(expected)):
        raise HTTPException(
            403, "This form has expired or did not come from this site. Reload and try again."
        )


async def page_user(request: Request) -> User:
    """Dependency of every page: the signed-in user; POSTs must carry the CSRF token."""
    user = session_user(request)
    if user is None:
        raise LoginRequired()
    request.state.user = user
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        await check_csrf(request)
    return user


async def api_user(request: Request) -> User:
    """Dependency of every API route: bearer token, or session (+ CSRF on changes)."""
    token = _bearer(request)
    if token is not None:
        user = auth.user_for_token(request.app.state.engine, token)
        if user is None:
            raise HTTPException(
                401, "This API token is not valid", headers={"WWW-Authenticate": "Bearer"}
            )
        return user
    user = session_user(request)
    if user is None:
        raise HTTPException(
            401,
            "Sign in or send an API token (Authorization: Bearer ...)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        await check_csrf(request)
    return user
