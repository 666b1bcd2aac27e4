"""Fixtures for integration tests that need real servers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Helpers live in tests/support and are imported as `support.*` (pyproject.toml puts
# tests/ on pytest's pythonpath).
from support.dovecot import DovecotServer
from support.harness import Harness
from support.postgres import PostgresServer, find_postgres_bindir


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A private PostgreSQL cluster for this test session (one per xdist worker).

    Without PostgreSQL installed the test is skipped, except in CI (env CI set), where a
    missing PostgreSQL is a failure: the PostgreSQL tests must not go quietly missing there.
    """
    bindir = find_postgres_bindir()
    if bindir is None:
        reason = (
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb); "
            "./scripts/test installs it"
        )
        if _in_ci():
            pytest.fail(f"{reason}. In CI (CI is set) this is an error.", pytrace=False)
        pytest.skip(reason)
    with PostgresServer(bindir) as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """SQLAlchemy URL (postgresql+psycopg://...) of a new, empty database for this test."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url.rsplit("/", 1)[1])


@pytest.fixture(params=["sqlite", "postgres"])
def harness(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    dovecot: DovecotServer,
) -> Harness:
    """A fresh emailsync installation next to the shared Dovecot, once on the default
    SQLite store and once on PostgreSQL (EMAILSYNC_DATABASE_URL)."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    return Harness(monkeypatch, tmp_path / "data", url, dovecot.cafile)


@pytest.fixture
def sqlite_harness(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, dovecot: DovecotServer
) -> Harness:
    """The default installation only: for tests about the SQLite file itself."""
    return Harness(monkeypatch, tmp_path / "data", None, dovecot.cafile)


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new store's URL, once SQLite and once PostgreSQL: for tests of SQL of our own
    that go below the CLI (support/store.py's bare_store)."""
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'db.sqlite'}"
