"""Indexes for sending a 10,000-row payroll: the outbox's queued rows in the order they are sent, on (state, id), so
a claim reads the next few instead of sorting every queued one; a batch's rows by destination, on (batch_id,
destination_key), so pointing each destination's rows at its recipient is a look-up: SQLite's planner preferred the
(batch_id, state) index to destination_key's own, and 10,000 destinations took 10,000 passes over the batch, under
the write lock."""
from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outbox_state_id", "outbox", ["state", "id"])
    op.create_index("ix_payout_rows_batch_destination", "payout_rows", ["batch_id", "destination_key"])


def downgrade() -> None:
    op.drop_index("ix_payout_rows_batch_destination", table_name="payout_rows")
    op.drop_index("ix_outbox_state_id", table_name="outbox")
