"""Bulk payouts: batches from a spreadsheet and their rows."""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from merchant.db.tables import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payout_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(), nullable=False),
        sa.Column("file_name", sa.String(), nullable=False),
        sa.Column("file_hash", sa.String(), nullable=False),
        sa.Column("api", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("total_cents", sa.BigInteger(), nullable=False),
        sa.Column("retry_of", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("decided_by", sa.String(), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["retry_of"], ["payout_batches.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token"),
    )
    with op.batch_alter_table("payout_batches") as batch_op:
        batch_op.create_index("ix_payout_batches_file_hash", ["file_hash"], unique=False)
    op.create_table(
        "payout_rows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("nickname", sa.String(), nullable=False),
        sa.Column("details_json", sa.Text(), nullable=False),
        sa.Column("destination_key", sa.String(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("description", sa.String(), nullable=False),
        sa.Column("reference", sa.String(), nullable=True),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("recipient_id", sa.Integer(), nullable=True),
        sa.Column("request_ref", sa.String(), nullable=True),
        sa.Column("leg", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["payout_batches.id"]),
        sa.ForeignKeyConstraint(["recipient_id"], ["recipients.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("payout_rows") as batch_op:
        batch_op.create_index("ix_payout_rows_batch_state", ["batch_id", "state"], unique=False)
        batch_op.create_index("ix_payout_rows_destination_key", ["destination_key"], unique=False)
        batch_op.create_index("ix_payout_rows_request_ref", ["request_ref"], unique=False)


def downgrade() -> None:
    op.drop_table("payout_rows")
    op.drop_table("payout_batches")
