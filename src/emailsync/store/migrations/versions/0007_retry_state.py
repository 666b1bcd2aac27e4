"""accounts remember since when passes fail and when the next one starts (state retrying)

Revision ID: 0007
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The page and `accounts status` say "Cannot reach ... since 14:02; retrying in 40 s"
    # from these, not from a sentence written when the wait began. Nullable columns:
    # no table copy, on SQLite either.
    op.add_column("accounts", sa.Column("failing_since", sa.DateTime(timezone=True)))
    op.add_column("accounts", sa.Column("retry_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("retry_at")
        batch.drop_column("failing_since")
