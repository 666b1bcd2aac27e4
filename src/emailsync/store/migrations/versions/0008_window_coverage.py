"""per-folder coverage of the past: what a wider window or scope still has to fetch

Revision ID: 0008
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # No rows: a folder without one counts as covered from its window_start under the
    # account's current scope (store/coverage.py), which is what it was synced with.
    op.create_table(
        "folder_coverage",
        sa.Column("folder_id", sa.Integer(), nullable=False),
        sa.Column("covered_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("past_scope", sa.String(length=10), nullable=False),
        sa.ForeignKeyConstraint(["folder_id"], ["folders.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("folder_id"),
    )


def downgrade() -> None:
    op.drop_table("folder_coverage")
