"""crm records threads links privacy web auth

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), server_default="", nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_table(
        "blocked_addresses",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("pattern", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_blocked_addresses_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "pattern", name=op.f("pk_blocked_addresses")),
    )
    op.create_table(
        "organisations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("owner_user_id", sa.Integer(), nullable=True),
        sa.Column("visibility", sa.String(length=10), server_default="company", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_user_id"],
            ["users.id"],
            name=op.f("fk_organisations_owner_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisations")),
        sa.UniqueConstraint("name", name=op.f("uq_organisations_name")),
    )
    op.create_table(
        "organisation_domains",
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_organisation_domains_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("domain", name=op.f("pk_organisation_domains")),
    )
    with op.batch_alter_table("organisation_domains", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_organisation_domains_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "deals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("value", sa.Numeric(precision=14, scale=2), server_default="0", nullable=False),
        sa.Column("currency", sa.String(length=3), server_default="EUR", nullable=False),
        sa.Column("status", sa.String(length=4), server_default="open", nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("owner_user_id", sa.Integer(), nullable=True),
        sa.Column("visibility", sa.String(length=10), server_default="company", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_deals_organisation_id_organisations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["owner_user_id"],
            ["users.id"],
            name=op.f("fk_deals_owner_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_deals_person_id_persons"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deals")),
    )
    with op.batch_alter_table("deals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deals_organisation_id"), ["organisation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_deals_person_id"), ["person_id"], unique=False)

    op.create_table(
        "threads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.Text(), server_default="", nullable=False),
        sa.Column("sharing", sa.String(length=10), server_default="private", nullable=False),
        sa.Column("deal_id", sa.Integer(), nullable=True),
        sa.Column("deal_link_manual", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("deal_link_reason", sa.Text(), nullable=True),
        sa.Column("last_message_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_threads_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["deal_id"], ["deals.id"], name=op.f("fk_threads_deal_id_deals"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_threads")),
    )
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_threads_account_id_last_message_at"),
            ["account_id", "last_message_at"],
            unique=False,
        )

    op.create_table(
        "thread_links",
        sa.Column("thread_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("manual", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("removed", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["thread_id"],
            ["threads.id"],
            name=op.f("fk_thread_links_thread_id_threads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("thread_id", "kind", "target_id", name=op.f("pk_thread_links")),
    )
    with op.batch_alter_table("thread_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_thread_links_kind_target_id"), ["kind", "target_id"], unique=False
        )

    op.create_table(
        "message_references",
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=1000), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_message_references_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("message_id", "ref", name=op.f("pk_message_references")),
    )
    with op.batch_alter_table("message_references", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_message_references_ref"), ["ref"], unique=False)

    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "default_sharing", sa.String(length=10), server_default="private", nullable=False
            )
        )
        batch_op.add_column(
            sa.Column("progress_done", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("progress_total", sa.Integer(), server_default="0", nullable=False)
        )

    # 0001 kept a placeholder thread id (a message id) here; the threader rebuilds
    # threads (`emailsync threads rebuild`), so clear it before it becomes a foreign key.
    op.execute("UPDATE messages SET thread_id = NULL")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("provider_thread_id", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("subject_key", sa.String(length=300), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("thread_manual", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.create_index(
            batch_op.f("ix_messages_account_id_subject_key"), ["account_id", "subject_key"]
        )
        batch_op.create_index(
            batch_op.f("ix_messages_account_id_provider_thread_id"),
            ["account_id", "provider_thread_id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_messages_thread_id_threads"),
            "threads",
            ["thread_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("persons", schema=None) as batch_op:
        batch_op.add_column(sa.Column("organisation_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("owner_user_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("visibility", sa.String(length=10), server_default="company", nullable=False)
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_persons_owner_user_id_users"),
            "users",
            ["owner_user_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_persons_organisation_id_organisations"),
            "organisations",
            ["organisation_id"],
            ["id"],
            ondelete="SET NULL",
        )
    # The free-text organisation of 0001 becomes an organisation record.
    op.execute(
        "INSERT INTO organisations (name, visibility, created_at) "
        "SELECT DISTINCT org, 'company', CURRENT_TIMESTAMP FROM persons WHERE org <> ''"
    )
    op.execute(
        "UPDATE persons SET organisation_id = "
        "(SELECT o.id FROM organisations o WHERE o.name = persons.org) WHERE org <> ''"
    )
    with op.batch_alter_table("persons", schema=None) as batch_op:
        batch_op.drop_column("org")

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("role", sa.String(length=10), server_default="member", nullable=False)
        )
        batch_op.add_column(sa.Column("password_hash", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("password_hash")
        batch_op.drop_column("role")

    with op.batch_alter_table("persons", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("org", sa.VARCHAR(length=200), server_default=sa.text("('')"), nullable=False)
        )
        batch_op.drop_constraint(
            batch_op.f("fk_persons_organisation_id_organisations"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("fk_persons_owner_user_id_users"), type_="foreignkey")
        batch_op.drop_column("visibility")
        batch_op.drop_column("owner_user_id")
        batch_op.drop_column("organisation_id")

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_messages_thread_id_threads"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_messages_account_id_provider_thread_id"))
        batch_op.drop_index(batch_op.f("ix_messages_account_id_subject_key"))
        batch_op.drop_column("thread_manual")
        batch_op.drop_column("subject_key")
        batch_op.drop_column("provider_thread_id")

    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("progress_total")
        batch_op.drop_column("progress_done")
        batch_op.drop_column("default_sharing")

    with op.batch_alter_table("message_references", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_message_references_ref"))

    op.drop_table("message_references")
    with op.batch_alter_table("thread_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_thread_links_kind_target_id"))

    op.drop_table("thread_links")
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_threads_account_id_last_message_at"))

    op.drop_table("threads")
    with op.batch_alter_table("deals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deals_person_id"))
        batch_op.drop_index(batch_op.f("ix_deals_organisation_id"))

    op.drop_table("deals")
    with op.batch_alter_table("organisation_domains", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organisation_domains_organisation_id"))

    op.drop_table("organisation_domains")
    op.drop_table("organisations")
    op.drop_table("blocked_addresses")
    op.drop_table("api_tokens")
