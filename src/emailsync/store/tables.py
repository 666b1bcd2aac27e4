"""The tables. Alembic migrations in store/migrations create them; this module is what
the code queries. Keep the two in step (a test compares them).

Why the shape:
  * messages are unique per (account, dedup_key): the same mail in two folders is one
    message with two rows in message_locations. dedup_key is the Message-ID with the
    fingerprint (mime/fingerprint.py: From, To, Cc, Date, Subject, body; not what
    servers add), so two different messages that share a Message-ID stay two
    (store/messages.py, `identity_key`). Rows from before fingerprints hold "<id>", or
    "sha256:" and the raw bytes' SHA-256 for mail without a Message-ID, with a NULL
    fingerprint that is filled in when another copy under their Message-ID arrives.
  * message_locations are unique per (folder, uid): replaying a batch cannot double it.
  * the folder cursor (folders.uid_cursor) moves in the same transaction as the
    messages it covers, so a killed sync resumes exactly where it committed.
  * raw bytes live apart from the metadata, so listings stay small: in files under the
    data directory (packs, store/raw.py), or in message_raw (PostgreSQL's default).
"""

from __future__ import annotations

from collections.abc import Callable
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

    def bind_processor(self, dialect: sa.Dialect) -> Callable[[datetime | None], object] | None:
        """On SQLite, `process_bind_param` and SQLAlchemy's DATETIME string in one step
        (its text is what `isoformat(" ", "microseconds")` writes; a test holds the two
        equal): half the cost, and a big sync binds three datetimes per message."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def process(value: datetime | None) -> str | None:
            naive_utc = self.process_bind_param(value, dialect)
            return None if naive_utc is None else naive_utc.isoformat(" ", "microseconds")

        return process


users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    # "admin" manages users; it grants no access to anybody's mail (see domain.privacy)
    sa.Column("role", sa.String(10), nullable=False, server_default="member"),
    sa.Column("password_hash", sa.String(255)),
)

# Per-user API tokens: only a hash is stored; the token is shown once at creation.
api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("last_used_at", UtcDateTime()),
)

# CRM records. `visibility` is "company" (every user sees it) or "owner" (only its
# owner): what the privacy rule asks when it decides whether shared mail linked to the
# record may be shown to a colleague.
organisations = sa.Table(
    "organisations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("owner_user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
    sa.Column("visibility", sa.String(10), nullable=False, server_default="company"),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("name"),
)

organisation_domains = sa.Table(
    "organisation_domains",
    metadata,
    sa.Column("domain", sa.String(255), primary_key=True),
    sa.Column(
        "organisation_id",
        sa.Integer,
        sa.ForeignKey("organisations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Index(None, "organisation_id"),
)

persons = sa.Table(
    "persons",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    sa.Column(
        "organisation_id", sa.Integer, sa.ForeignKey("organisations.id", ondelete="SET NULL")
    ),
    sa.Column("owner_user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
    sa.Column("visibility", sa.String(10), nullable=False, server_default="company"),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

deals = sa.Table(
    "deals",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("value", sa.Numeric(14, 2), nullable=False, server_default="0"),
    sa.Column("currency", sa.String(3), nullable=False, server_default="EUR"),
    sa.Column("status", sa.String(4), nullable=False, server_default="open"),  # open|won|lost
    sa.Column("person_id", sa.Integer, sa.ForeignKey("persons.id", ondelete="SET NULL")),
    sa.Column(
        "organisation_id", sa.Integer, sa.ForeignKey("organisations.id", ondelete="SET NULL")
    ),
    sa.Column("owner_user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
    sa.Column("visibility", sa.String(10), nullable=False, server_default="company"),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("closed_at", UtcDateTime()),
    sa.Index(None, "person_id"),
    sa.Index(None, "organisation_id"),
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
    # SMTP login when it differs from the IMAP one (NULL: the IMAP username / password)
    sa.Column("smtp_username", sa.String(320)),
    sa.Column("smtp_password_secret", sa.Text),
    # the SMTP server's SIZE limit in bytes (RFC 1870) as last announced; NULL: unknown
    sa.Column("smtp_max_size", sa.BigInteger),
    # the provider files a copy of sent mail in Sent itself (Gmail, Microsoft 365):
    # emailsync must not APPEND a second one
    sa.Column("provider_files_sent", sa.Boolean, nullable=False, server_default=sa.false()),
    # two-way: read/unread/archive/delete in the CRM act on the mailbox (opt-in)
    sa.Column("two_way", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("archive_folder", sa.String(500)),  # NULL: the folder with the \Archive role
    sa.Column("aliases", sa.JSON, nullable=False),
    # sync conditions (domain.conditions.SyncConditions)
    sa.Column("sync_from", sa.String(4), nullable=False),
    sa.Column("past_scope", sa.String(10), nullable=False),
    sa.Column("folders", sa.JSON, nullable=False),
    sa.Column("future_mode", sa.String(10), nullable=False),
    sa.Column("track_opens", sa.Boolean, nullable=False),
    sa.Column("track_links", sa.Boolean, nullable=False),
    sa.Column("default_sharing", sa.String(10), nullable=False, server_default="private"),
    # messages looked at / to look at in the running pass: the UI's progress bar
    sa.Column("progress_done", sa.Integer, nullable=False, server_default="0"),
    sa.Column("progress_total", sa.Integer, nullable=False, server_default="0"),
    # state
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("sync_started_at", UtcDateTime()),
    sa.Column("last_sync_at", UtcDateTime()),
    sa.Column("last_error", sa.Text),
    # state "retrying": since when passes fail, and when the next one starts
    sa.Column("failing_since", UtcDateTime()),
    sa.Column("retry_at", UtcDateTime()),
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

# What past a folder's store has been filled from (store/coverage.py): the oldest
# INTERNALDATE looked at and the people scope it was read under. A wider "Sync from", a
# folder newly selected or "all people" after "contacts" is fetched from here.
folder_coverage = sa.Table(
    "folder_coverage",
    metadata,
    sa.Column(
        "folder_id", sa.Integer, sa.ForeignKey("folders.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("covered_from", UtcDateTime(), nullable=False),
    sa.Column("past_scope", sa.String(10), nullable=False),
)

# A conversation. Its owner is the owner of the account the mail came from; `sharing`
# decides whether colleagues may see it (domain.privacy). `deal_id` with
# `deal_link_manual` tells whether the user or the linker chose the deal.
threads = sa.Table(
    "threads",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "account_id", sa.Integer, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("subject", sa.Text, nullable=False, server_default=""),
    sa.Column("sharing", sa.String(10), nullable=False, server_default="private"),
    sa.Column("deal_id", sa.Integer, sa.ForeignKey("deals.id", ondelete="SET NULL")),
    sa.Column("deal_link_manual", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("deal_link_reason", sa.Text),
    sa.Column("last_message_at", UtcDateTime()),
    sa.Column("message_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Index(None, "account_id", "last_message_at"),
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
    # mime/fingerprint.py; NULL: stored before fingerprints, not computed yet
    sa.Column("fingerprint", sa.String(32)),
    sa.Column("in_reply_to", sa.String(1000), nullable=False),
    sa.Column("reference_ids", sa.JSON, nullable=False),
    sa.Column("thread_id", sa.Integer, sa.ForeignKey("threads.id", ondelete="SET NULL")),
    sa.Column("provider_thread_id", sa.String(64)),
    # cleaned subject (domain.threading.subject_key), for the subject + participants rule
    sa.Column("subject_key", sa.String(300), nullable=False, server_default=""),
    # set when the user moved the message (split): the threader leaves it where it is
    sa.Column("thread_manual", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("date", UtcDateTime()),
    sa.Column("internaldate", UtcDateTime(), nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("from_email", sa.String(320), nullable=False),
    sa.Column("from_name", sa.String(500), nullable=False),
    sa.Column("addresses", sa.JSON, nullable=False),  # {"to": [[email, name]], "cc": ...}
    sa.Column("text_body", sa.Text, nullable=False),
    sa.Column("attachments", sa.JSON, nullable=False),
    sa.Column("defects", sa.JSON, nullable=False),
    sa.Column("direction", sa.String(8), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("raw_sha256", sa.String(64), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    # where the raw bytes lie in a pack file (store/raw.py); NULL: in message_raw, or a
    # one-file-per-message copy from before packs
    sa.Column("raw_pack", sa.String(40)),
    sa.Column("raw_offset", sa.BigInteger),
    sa.Column("raw_length", sa.Integer),
    sa.UniqueConstraint("account_id", "dedup_key"),
    sa.Index(None, "account_id", "message_id"),
    sa.Index(None, "thread_id"),
    sa.Index(None, "account_id", "subject_key", "internaldate"),
    sa.Index(None, "account_id", "provider_thread_id"),
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

# Message-IDs a message points at (In-Reply-To and References): the threader's edges,
# indexed both ways so a reply that arrives before its parent still finds it.
message_references = sa.Table(
    "message_references",
    metadata,
    sa.Column(
        "message_id",
        sa.Integer,
        sa.ForeignKey("messages.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("ref", sa.String(1000), primary_key=True),
    sa.Index(None, "ref"),
)

# Links of a thread to CRM records, automatic (with the reason, in words) or made by
# the user. A row with `removed` set is a user's unlink: the linker must not re-add it.
thread_links = sa.Table(
    "thread_links",
    metadata,
    sa.Column(
        "thread_id",
        sa.Integer,
        sa.ForeignKey("threads.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("kind", sa.String(12), primary_key=True),  # person | organisation
    sa.Column("target_id", sa.Integer, primary_key=True),
    sa.Column("manual", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("removed", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Index(None, "kind", "target_id"),
)

# A user's blocked addresses and domains (a domain covers its subdomains): mail whose
# every other participant is blocked is not synced.
blocked_addresses = sa.Table(
    "blocked_addresses",
    metadata,
    sa.Column(
        "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("pattern", sa.String(320), primary_key=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

# Mail sent from the CRM, one row per message (send/outbox.py holds the state machine).
# `wire` is what SMTP gets (tracking in its HTML, no Bcc header); `copy` what the Sent
# folder gets (no tracking; NULL when the provider files sent mail itself). `state`:
# queued → sending (committed right before DATA) → sent | failed | unknown; a row left in
# `sending` by a dead process is decided by looking for its Message-ID in Sent, never by
# sending again. `message_pk` is the CRM message the send created (the user's view of it).
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "account_id", sa.Integer, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("message_pk", sa.Integer, sa.ForeignKey("messages.id", ondelete="SET NULL")),
    sa.Column("message_id", sa.String(1000), nullable=False),  # without <>
    sa.Column("subject", sa.Text, nullable=False, server_default=""),
    sa.Column("envelope_from", sa.String(320), nullable=False),
    sa.Column("recipients", sa.JSON, nullable=False),  # RCPT TO: to + cc + bcc
    sa.Column("wire", sa.LargeBinary),
    sa.Column("copy", sa.LargeBinary),
    # pending | done | provider (the provider files it) | none (nowhere to put it)
    sa.Column("copy_state", sa.String(10), nullable=False, server_default="pending"),
    sa.Column("track_opens", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("track_links", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("state", sa.String(10), nullable=False),  # queued|sending|sent|failed|unknown
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text),
    sa.Column("next_attempt_at", UtcDateTime()),
    # which process works on the row (host:pid:start), so a dead one's claim can be told
    sa.Column("claimed_by", sa.String(200)),
    sa.Column("claimed_at", UtcDateTime()),
    sa.Column("attempt_started_at", UtcDateTime()),  # when the row entered `sending`
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("sent_at", UtcDateTime()),
    sa.UniqueConstraint("account_id", "message_id"),
    sa.Index(None, "state", "next_attempt_at"),
    sa.Index(None, "message_pk"),
)

# The links of a sent message's HTML that were rewritten for click tracking: a click
# token names a row, and the redirect goes to its `url` only.
tracked_links = sa.Table(
    "tracked_links",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "outbox_id", sa.Integer, sa.ForeignKey("outbox.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("url", sa.Text, nullable=False),
    sa.Index(None, "outbox_id"),
)

# Opens and clicks of sent mail. `automated`: not a person (an image proxy, a link
# scanner, a HEAD request, a fetch right after sending), with the reason in words.
tracking_events = sa.Table(
    "tracking_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "outbox_id", sa.Integer, sa.ForeignKey("outbox.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("kind", sa.String(5), nullable=False),  # open | click
    sa.Column("link_id", sa.Integer, sa.ForeignKey("tracked_links.id", ondelete="CASCADE")),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Column("ip", sa.String(45), nullable=False, server_default=""),
    sa.Column("user_agent", sa.String(500), nullable=False, server_default=""),
    sa.Column("automated", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("automated_reason", sa.String(100), nullable=False, server_default=""),
    sa.Index(None, "outbox_id"),
)

# Two-way: what the user did to a message in the CRM, to be done in the mailbox
# (send/actions.py applies them, each once; repeating one is harmless).
mailbox_actions = sa.Table(
    "mailbox_actions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "account_id", sa.Integer, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column(
        "message_pk", sa.Integer, sa.ForeignKey("messages.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("action", sa.String(10), nullable=False),  # read | unread | archive | delete
    sa.Column("target_folder", sa.String(500)),  # archive/delete: where it goes
    sa.Column("state", sa.String(10), nullable=False),  # queued | done | failed
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text),
    sa.Column("next_attempt_at", UtcDateTime()),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("done_at", UtcDateTime()),
    sa.Index(None, "account_id", "state"),
)
