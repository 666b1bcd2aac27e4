"""a message's fingerprint beside its Message-ID: distinct mail under one id stays two

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A message is its Message-ID and its fingerprint (mime/fingerprint.py): new rows
    # get both, and their dedup_key holds both, so the unique (account_id, dedup_key)
    # is unique (account, Message-ID, fingerprint) with no table copy. Rows already
    # stored keep their dedup_key and a NULL fingerprint: computing it needs their raw
    # bytes, which may lie in pack files this migration cannot see, so it is filled in
    # from the bytes when another copy under their Message-ID arrives (store/messages.py)
    # and, where the bytes cannot be read, NULL matches any copy (the old rule).
    op.add_column("messages", sa.Column("fingerprint", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("fingerprint")
