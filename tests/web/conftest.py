"""Fixtures for the web app: a fresh installation and a mailbox on the real Dovecot
(tests/conftest.py's `dovecot`). Helpers live in tests/support/web.py."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from emailsync.config import Settings
from emailsync.store.db import open_database
from support.dovecot import DovecotServer
from support.web import Site


@pytest.fixture
def site(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, dovecot: DovecotServer) -> Iterator[Site]:
    home = tmp_path / "data"
    monkeypatch.setenv("EMAILSYNC_HOME", str(home))
    monkeypatch.setenv("EMAILSYNC_CA_FILE", dovecot.cafile)
    monkeypatch.delenv("EMAILSYNC_SECRET_KEYS", raising=False)
    monkeypatch.delenv("EMAILSYNC_DATABASE_URL", raising=False)
    settings = Settings.from_environment()
    engine = open_database(settings)
    yield Site(settings, engine)
    engine.dispose()


@pytest.fixture
def mailbox(dovecot: DovecotServer) -> str:
    """A fresh Dovecot login (password "secret")."""
    return dovecot.add_user(f"w{uuid.uuid4().hex[:12]}")
