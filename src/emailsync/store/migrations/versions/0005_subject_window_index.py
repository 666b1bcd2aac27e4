"""subject candidates found by subject and date in one index range

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The subject rule looks for messages of a subject within a date window
    # (store/threads.py); with the date in the index that is one range, and finding
    # one message of a big thread in the window stops at the first row.
    # Plain index operations: no table copy, on SQLite either.
    op.drop_index("ix_messages_account_id_subject_key", table_name="messages")
    op.create_index(
        "ix_messages_account_id_subject_key_internaldate",
        "messages",
        ["account_id", "subject_key", "internaldate"],
    )


def downgrade() -> None:
    op.drop_index("ix_messages_account_id_subject_key_internaldate", table_name="messages")
    op.create_index("ix_messages_account_id_subject_key", "messages", ["account_id", "subject_key"])
