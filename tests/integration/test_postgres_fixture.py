"""The private PostgreSQL fixture: it starts, and each test gets its own empty database."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.postgres

_seen_databases: list[str] = []


@pytest.mark.parametrize("run", [1, 2])
def test_each_test_gets_a_fresh_database(postgres_url: str, run: int) -> None:
    assert postgres_url.startswith("postgresql+psycopg://postgres@127.0.0.1:")
    engine = sa.create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            name = conn.execute(sa.text("SELECT current_database()")).scalar_one()
            # Empty at the start, whichever of the two runs first: nothing leaks between tests.
            assert sa.inspect(conn).get_table_names() == []
            conn.execute(sa.text("CREATE TABLE note (id serial PRIMARY KEY, body text)"))
            conn.execute(sa.text("INSERT INTO note (body) VALUES ('hello')"))
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT body FROM note")).scalar_one() == "hello"
    finally:
        engine.dispose()
    assert name not in _seen_databases
    _seen_databases.append(name)


def test_server_settings(postgres_server) -> None:
    import psycopg

    with psycopg.connect(postgres_server.dsn()) as conn:
        settings = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN "
                "('fsync', 'full_page_writes', 'synchronous_commit', 'listen_addresses')"
            ).fetchall()
        )
    assert settings == {
        "fsync": "off",
        "full_page_writes": "off",
        "synchronous_commit": "off",
        "listen_addresses": "127.0.0.1",
    }


def test_create_database_gives_distinct_urls(postgres_server) -> None:
    first = postgres_server.create_database()
    second = postgres_server.create_database()
    try:
        assert first != second
    finally:
        for url in (first, second):
            postgres_server.drop_database(url.rsplit("/", 1)[1])
