"""The outbox's queued rows in the order they are sent (oldest first): an index on (state, id), so a claim reads
the next few rows instead of sorting every queued one (a 10,000-row payroll queues 10,000 at once)."""
from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outbox_state_id", "outbox", ["state", "id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_state_id", table_name="outbox")
