"""Engine factory and schema upgrades.

SQLite is the default (one file in the data directory, WAL so readers never block the
sync writer); PostgreSQL when EMAILSYNC_DATABASE_URL says so. Migrations run on open:
a cheap look at alembic_version first, so a CLI call that finds the schema current
never imports Alembic. Several processes may open a fresh database at once (workers
started together): the migration runs under a database-wide lock, PostgreSQL's
transaction-level advisory lock or SQLite's write lock (BEGIN IMMEDIATE), and Alembic
reads alembic_version again once it holds it, so a process that waited finds the schema
current and does nothing.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from emailsync.config import Settings
from emailsync.store.revision import MIGRATIONS, head_revision


def create_engine(url: str) -> sa.Engine:
    """`hide_parameters`: a failed statement's error (logged, or shown in a traceback)
    quotes the SQL but never its values, which hold subjects, addresses and bodies."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url, connect_args={"timeout": 30}, json_serializer=json_text, hide_parameters=True
        )
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        sa.event.listen(engine, "begin", _sqlite_begin)
        return engine
    return sa.create_engine(
        url, pool_pre_ping=True, json_serializer=json_text, hide_parameters=True
    )


def json_text(value: object) -> str:
    """JSON columns' text: orjson (a big sync writes four JSON values per message, and
    json.dumps took ten times as long), json.dumps for anything orjson refuses (lone
    surrogates, integers past 64 bits, non-string keys, types json.dumps refuses too),
    so both accept exactly the same values and read back the same. orjson is imported
    on first use: loading it is a sizeable share of a no-change `sync --once` (figures
    in bench/README.md, "Figures quoted")."""
    import orjson

    try:
        return orjson.dumps(
            value, option=orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
        ).decode()
    except TypeError:
        return json.dumps(value)


def _sqlite_begin(conn: sa.Connection) -> None:
    """Writers take SQLite's write lock when their transaction starts (BEGIN IMMEDIATE):
    a transaction that reads and then writes can otherwise fail at once with "database
    is locked" when another writer committed meanwhile. Readers opened with `reading()`
    begin deferred, so under WAL they never wait for a writer."""
    if conn.get_execution_options().get("emailsync_reading"):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def reading(engine: sa.Engine) -> sa.Connection:
    """A connection for reads only: `with reading(engine) as conn: ...`."""
    return engine.connect().execution_options(emailsync_reading=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (see above)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # 16 MB of page cache (the default is 2 MB): a big sync's index updates then find
    # their pages here instead of reading them back from the file (less system time for
    # a little more memory; the 60k-message figures are in bench/README.md)
    cursor.execute("PRAGMA cache_size=-16000")
    # a checkpoint (and its fsync of the database file) every ~40 MB of WAL instead of
    # every 4 MB: a big sync commits a few MB at a time (faster; see bench/README.md)
    cursor.execute("PRAGMA wal_autocheckpoint=10000")
    cursor.close()


def current_revision(engine: sa.Engine) -> str | None:
    with reading(engine) as conn:  # no write lock: a sync may be writing
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


# The advisory lock's key: any constant of our own ("emailsync" in ASCII, in 63 bits).
MIGRATION_LOCK = 0x656D61696C73796E


def upgrade(engine: sa.Engine) -> None:
    """Bring the schema to the newest migration; a no-op when it is there already."""
    if current_revision(engine) == head_revision():
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:  # SQLite: BEGIN IMMEDIATE, the write lock (see above)
        if conn.dialect.name == "postgresql":
            # held to the end of the transaction; a second process waits here
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def open_database(settings: Settings) -> sa.Engine:
    """The engine for these settings, with the schema brought up to date."""
    if settings.is_sqlite:
        settings.home.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.database_url)
    upgrade(engine)
    return engine


def allocate_ids(conn: sa.Connection, table: sa.Table, count: int) -> list[int]:
    """Primary keys for `count` rows about to be inserted in one executemany: with the
    ids known up front a batch needs no RETURNING, which SQLite would otherwise answer
    one INSERT per row. SQLite: the writer holds the database lock (BEGIN IMMEDIATE), so
    the ids after the largest are free. PostgreSQL: taken from the column's sequence."""
    if count == 0:
        return []
    if conn.dialect.name == "sqlite":
        top = conn.execute(sa.select(sa.func.max(table.c.id))).scalar() or 0
        return list(range(top + 1, top + 1 + count))
    return list(
        conn.execute(
            sa.text(
                "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"
            ),
            {"table": table.name, "n": count},
        ).scalars()
    )
