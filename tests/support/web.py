"""Helpers of the web tests: a site (app over a fresh store), users, signing in."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sqlalchemy as sa
from fastapi.testclient import TestClient

from emailsync.config import Settings
from emailsync.services import users
from emailsync.services import users as auth
from emailsync.store.directory import User
from emailsync.web.app import create_app
from support.dovecot import DovecotServer

PASSWORD = "correct horse battery"


@dataclass
class Site:
    settings: Settings
    engine: sa.Engine
    woken: list[int] = field(default_factory=list)

    def client(self) -> TestClient:
        app = create_app(self.settings, self.engine, wake=self.woken.append)
        return TestClient(app, follow_redirects=False)

    def user(self, email: str) -> User:
        user = users.add_user(self.engine, email)
        auth.set_password(self.engine, user.id, PASSWORD)
        return user

    def signed_in(self, email: str) -> tuple[TestClient, User]:
        user = self.user(email)
        client = self.client()
        sign_in(client, email)
        return client, user


def csrf_of(client: TestClient, path: str = "/login") -> str:
    page = client.get(path, follow_redirects=True).text
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> None:
    token = csrf_of(client)
    response = client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token}
    )
    assert response.status_code == 303, response.text


def account_form(dovecot: DovecotServer, login: str, csrf: str, **changes: str) -> dict:
    form = {
        "csrf_token": csrf,
        "provider": "custom",
        "email": "me@example.com",
        "username": login,
        "password": "secret",
        "imap_host": dovecot.host,
        "imap_port": str(dovecot.tls_port),
        "imap_security": "ssl",
        "smtp_host": "",
        "smtp_port": "587",
        "smtp_security": "starttls",
    }
    form.update(changes)
    return form
