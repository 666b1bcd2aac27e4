"""initial schema

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "persons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), server_default="", nullable=False),
        sa.Column("org", sa.String(length=200), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_persons")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("imap_host", sa.String(length=255), nullable=False),
        sa.Column("imap_port", sa.Integer(), nullable=False),
        sa.Column("imap_security", sa.String(length=10), nullable=False),
        sa.Column("smtp_host", sa.String(length=255), nullable=True),
        sa.Column("smtp_port", sa.Integer(), nullable=True),
        sa.Column("smtp_security", sa.String(length=10), nullable=True),
        sa.Column("username", sa.String(length=320), nullable=False),
        sa.Column("password_secret", sa.Text(), nullable=False),
        sa.Column("aliases", sa.JSON(), nullable=False),
        sa.Column("sync_from", sa.String(length=4), nullable=False),
        sa.Column("past_scope", sa.String(length=10), nullable=False),
        sa.Column("folders", sa.JSON(), nullable=False),
        sa.Column("future_mode", sa.String(length=10), nullable=False),
        sa.Column("track_opens", sa.Boolean(), nullable=False),
        sa.Column("track_links", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("sync_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_sync_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_accounts_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("user_id", "email", name=op.f("uq_accounts_user_id_email")),
    )
    op.create_table(
        "person_emails",
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_person_emails_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("email", name=op.f("pk_person_emails")),
    )
    with op.batch_alter_table("person_emails", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_person_emails_person_id"), ["person_id"], unique=False)

    op.create_table(
        "folders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("role", sa.String(length=10), server_default="", nullable=False),
        sa.Column("server_messages", sa.Integer(), nullable=True),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=True),
        sa.Column("uid_cursor", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("uidnext", sa.BigInteger(), nullable=True),
        sa.Column("highestmodseq", sa.BigInteger(), nullable=True),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("remapping", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("last_sync_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_folders_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_folders")),
        sa.UniqueConstraint("account_id", "name", name=op.f("uq_folders_account_id_name")),
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("dedup_key", sa.String(length=1000), nullable=False),
        sa.Column("message_id", sa.String(length=1000), nullable=False),
        sa.Column("in_reply_to", sa.String(length=1000), nullable=False),
        sa.Column("reference_ids", sa.JSON(), nullable=False),
        sa.Column("thread_id", sa.Integer(), nullable=True),
        sa.Column("date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("internaldate", sa.DateTime(timezone=True), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("from_email", sa.String(length=320), nullable=False),
        sa.Column("from_name", sa.String(length=500), nullable=False),
        sa.Column("addresses", sa.JSON(), nullable=False),
        sa.Column("text_body", sa.Text(), nullable=False),
        sa.Column("html_body", sa.Text(), nullable=False),
        sa.Column("attachments", sa.JSON(), nullable=False),
        sa.Column("defects", sa.JSON(), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("raw_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_messages_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint(
            "account_id", "dedup_key", name=op.f("uq_messages_account_id_dedup_key")
        ),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_messages_account_id_message_id"),
            ["account_id", "message_id"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_messages_thread_id"), ["thread_id"], unique=False)

    op.create_table(
        "message_addresses",
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=8), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_message_addresses_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("message_id", "field", "email", name=op.f("pk_message_addresses")),
    )
    with op.batch_alter_table("message_addresses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_message_addresses_email"), ["email"], unique=False)

    op.create_table(
        "message_locations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("folder_id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.BigInteger(), nullable=False),
        sa.Column("flags", sa.String(length=1000), server_default="", nullable=False),
        sa.Column("modseq", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["folder_id"],
            ["folders.id"],
            name=op.f("fk_message_locations_folder_id_folders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_message_locations_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_locations")),
        sa.UniqueConstraint("folder_id", "uid", name=op.f("uq_message_locations_folder_id_uid")),
    )
    with op.batch_alter_table("message_locations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_message_locations_message_id"), ["message_id"], unique=False
        )

    op.create_table(
        "message_raw",
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_message_raw_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_message_raw")),
    )


def downgrade() -> None:
    op.drop_table("message_raw")
    with op.batch_alter_table("message_locations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_message_locations_message_id"))

    op.drop_table("message_locations")
    with op.batch_alter_table("message_addresses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_message_addresses_email"))

    op.drop_table("message_addresses")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_messages_thread_id"))
        batch_op.drop_index(batch_op.f("ix_messages_account_id_message_id"))

    op.drop_table("messages")
    op.drop_table("folders")
    with op.batch_alter_table("person_emails", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_person_emails_person_id"))

    op.drop_table("person_emails")
    op.drop_table("accounts")
    op.drop_table("users")
    op.drop_table("persons")
