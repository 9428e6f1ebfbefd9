"""Money out: PAY recipients, named bank branches, settlement accounts, owner-set settings, and the outbox's
links to them with its approvals."""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from merchant.db.tables import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recipients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("nickname", sa.String(), nullable=False),
        sa.Column("details_json", sa.Text(), nullable=False),
        sa.Column("destination_key", sa.String(), nullable=False),
        sa.Column("api_version", sa.String(), nullable=False),
        sa.Column("k2_reference", sa.String(), nullable=True),
        sa.Column("k2_location", sa.String(), nullable=True),
        sa.Column("disabled", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("k2_reference"),
    )
    with op.batch_alter_table("recipients") as batch_op:
        batch_op.create_index("ix_recipients_destination_key", ["destination_key"], unique=False)
    op.create_table(
        "bank_branches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("reference", sa.String(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("reference"),
    )
    op.create_table(
        "settlement_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("nickname", sa.String(), nullable=False),
        sa.Column("details_json", sa.Text(), nullable=False),
        sa.Column("k2_reference", sa.String(), nullable=True),
        sa.Column("k2_location", sa.String(), nullable=True),
        sa.Column("k2_status", sa.String(), nullable=True),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("k2_reference"),
    )
    op.create_table(
        "app_settings",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("value", sa.String(), nullable=False),
        sa.Column("changed_by", sa.String(), nullable=False),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.add_column(sa.Column("recipient_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("account_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("approved_by", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("approved_at", UTCDateTime(), nullable=True))
        batch_op.create_index("ix_outbox_recipient_id", ["recipient_id"], unique=False)
        batch_op.create_index("ix_outbox_account_id", ["account_id"], unique=False)
        batch_op.create_foreign_key("fk_outbox_recipient", "recipients", ["recipient_id"], ["id"])
        batch_op.create_foreign_key("fk_outbox_account", "settlement_accounts", ["account_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_constraint("fk_outbox_account", type_="foreignkey")
        batch_op.drop_constraint("fk_outbox_recipient", type_="foreignkey")
        batch_op.drop_index("ix_outbox_account_id")
        batch_op.drop_index("ix_outbox_recipient_id")
        for column in ("approved_at", "approved_by", "account_id", "recipient_id"):
            batch_op.drop_column(column)
    for table in ("app_settings", "settlement_accounts", "bank_branches", "recipients"):
        op.drop_table(table)
