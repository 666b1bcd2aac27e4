"""The tables. Alembic migrations in store/migrations create them; this module is what
the code queries. Keep the two in step (a test compares them).

Why the shape:
  * messages are unique per (account, dedup_key): the same mail in two folders is one
    message with two rows in message_locations; dedup_key is the Message-ID, or the
    SHA-256 of the raw bytes when there is none.
  * message_locations are unique per (folder, uid): replaying a batch cannot double it.
  * the folder cursor (folders.uid_cursor) moves in the same transaction as the
    messages it covers, so a killed sync resumes exactly where it committed.
  * raw bytes live in message_raw, apart from the metadata, so listings stay small.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite (no zone support) too."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

persons = sa.Table(
    "persons",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    sa.Column("org", sa.String(200), nullable=False, server_default=""),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

person_emails = sa.Table(
    "person_emails",
    metadata,
    sa.Column("email", sa.String(320), primary_key=True),
    sa.Column(
        "person_id", sa.Integer, sa.ForeignKey("persons.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Index(None, "person_id"),
)

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("imap_host", sa.String(255), nullable=False),
    sa.Column("imap_port", sa.Integer, nullable=False),
    sa.Column("imap_security", sa.String(10), nullable=False),
    sa.Column("smtp_host", sa.String(255)),
    sa.Column("smtp_port", sa.Integer),
    sa.Column("smtp_security", sa.String(10)),
    sa.Column("username", sa.String(320), nullable=False),
    sa.Column("password_secret", sa.Text, nullable=False),
    sa.Column("aliases", sa.JSON, nullable=False),
    # sync conditions (domain.conditions.SyncConditions)
    sa.Column("sync_from", sa.String(4), nullable=False),
    sa.Column("past_scope", sa.String(10), nullable=False),
    sa.Column("folders", sa.JSON, nullable=False),
    sa.Column("future_mode", sa.String(10), nullable=False),
    sa.Column("track_opens", sa.Boolean, nullable=False),
    sa.Column("track_links", sa.Boolean, nullable=False),
    # state
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("sync_started_at", UtcDateTime()),
    sa.Column("last_sync_at", UtcDateTime()),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("user_id", "email"),
)

folders = sa.Table(
    "folders",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "account_id", sa.Integer, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("name", sa.String(500), nullable=False),
    sa.Column("role", sa.String(10), nullable=False, server_default=""),
    sa.Column("server_messages", sa.Integer),
    sa.Column("uidvalidity", sa.BigInteger),
    sa.Column("uid_cursor", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("uidnext", sa.BigInteger),
    sa.Column("highestmodseq", sa.BigInteger),
    sa.Column("window_start", UtcDateTime()),
    sa.Column("remapping", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("last_sync_at", UtcDateTime()),
    sa.Column("last_error", sa.Text),
    sa.UniqueConstraint("account_id", "name"),
)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "account_id", sa.Integer, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("dedup_key", sa.String(1000), nullable=False),
    sa.Column("message_id", sa.String(1000), nullable=False),
    sa.Column("in_reply_to", sa.String(1000), nullable=False),
    sa.Column("reference_ids", sa.JSON, nullable=False),
    sa.Column("thread_id", sa.Integer),
    sa.Column("date", UtcDateTime()),
    sa.Column("internaldate", UtcDateTime(), nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("from_email", sa.String(320), nullable=False),
    sa.Column("from_name", sa.String(500), nullable=False),
    sa.Column("addresses", sa.JSON, nullable=False),  # {"to": [[email, name]], "cc": ...}
    sa.Column("text_body", sa.Text, nullable=False),
    sa.Column("html_body", sa.Text, nullable=False),
    sa.Column("attachments", sa.JSON, nullable=False),
    sa.Column("defects", sa.JSON, nullable=False),
    sa.Column("direction", sa.String(8), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("raw_sha256", sa.String(64), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("account_id", "dedup_key"),
    sa.Index(None, "account_id", "message_id"),
    sa.Index(None, "thread_id"),
)

message_raw = sa.Table(
    "message_raw",
    metadata,
    sa.Column(
        "message_id",
        sa.Integer,
        sa.ForeignKey("messages.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("data", sa.LargeBinary, nullable=False),
)

message_locations = sa.Table(
    "message_locations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "message_id", sa.Integer, sa.ForeignKey("messages.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column(
        "folder_id", sa.Integer, sa.ForeignKey("folders.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("uid", sa.BigInteger, nullable=False),
    sa.Column("flags", sa.String(1000), nullable=False, server_default=""),
    sa.Column("modseq", sa.BigInteger),
    sa.UniqueConstraint("folder_id", "uid"),
    sa.Index(None, "message_id"),
)

# Who takes part in a message, one row per address and header: what contact matching,
# linking and search join on. Links to persons are derived from it, so a contact added
# later is linked to the mail already synced.
message_addresses = sa.Table(
    "message_addresses",
    metadata,
    sa.Column(
        "message_id",
        sa.Integer,
        sa.ForeignKey("messages.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("field", sa.String(8), primary_key=True),
    sa.Column("email", sa.String(320), primary_key=True),
    sa.Index(None, "email"),
)
