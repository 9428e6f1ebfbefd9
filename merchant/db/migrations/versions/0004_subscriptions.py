"""Webhook subscriptions this server made at K2 (K2 has no way to list them), so a page can list them and say
which event types are missing."""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from merchant.db.tables import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(), nullable=False),
        sa.Column("event_type", sa.String(), nullable=False),
        sa.Column("scope", sa.String(), nullable=False),
        sa.Column("scope_reference", sa.String(), nullable=False),
        sa.Column("url", sa.String(), nullable=False),
        sa.Column("location", sa.String(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("webhook_subscriptions") as batch_op:
        batch_op.create_index(
            "ux_webhook_subscriptions_key", ["account", "event_type", "url", "scope_reference"], unique=True
        )


def downgrade() -> None:
    op.drop_table("webhook_subscriptions")
