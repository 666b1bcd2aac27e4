"""raw messages in pack files: where each message's bytes lie

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL: the bytes are in message_raw, or in a one-file-per-message copy from before
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("raw_pack", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("raw_offset", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("raw_length", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("raw_length")
        batch_op.drop_column("raw_offset")
        batch_op.drop_column("raw_pack")
