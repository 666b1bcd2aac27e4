"""message HTML read from the raw message when shown, not kept beside it

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The raw message is kept whole (store/raw.py); the HTML is taken from it when a
    # message is opened. Keeping a second copy made every sync write it through the
    # database (a third of the bytes of the messages table).
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("html_body")


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("html_body", sa.Text(), nullable=False, server_default=""))
