"""The outbox and stored webhook rejections; Ask to pay's requests move from `incoming_payments` to the outbox.

Before this, a request we made lived in `incoming_payments` beside K2's results, with our own words in `status`
(Requested, Unknown, Rejected, Not sent) and four columns of ours. Each becomes an outbox row in the state it
meant; `incoming_payments` keeps only what K2 told us, so a row that held nothing but our request (no K2 id) moves
entirely. A row left `Requested` was interrupted mid-send: it becomes `unknown`, never sent again."""
from __future__ import annotations

import json
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

from merchant.db.tables import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The state each old status meant (the outbox's states, as stored).
_STATES = {
    "Requested": "unknown",
    "Pending": "accepted",
    "Success": "succeeded",
    "Failed": "failed",
    "Unknown": "unknown",
    "Rejected": "rejected",
    "Not sent": "not_sent",
}
_OURS_ONLY = ("Requested", "Unknown", "Rejected", "Not sent")


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_ref", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("params_json", sa.Text(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(), nullable=False),
        sa.Column("phone_number", sa.String(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("due_at", UTCDateTime(), nullable=True),
        sa.Column("checks", sa.Integer(), server_default="0", nullable=False),
        sa.Column("location", sa.String(), nullable=True),
        sa.Column("k2_id", sa.String(), nullable=True),
        sa.Column("k2_status", sa.String(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.create_index("ix_outbox_k2_id", ["k2_id"], unique=False)
        batch_op.create_index("ix_outbox_phone_number", ["phone_number"], unique=False)
        batch_op.create_index("ix_outbox_request_ref", ["request_ref"], unique=True)
        batch_op.create_index("ix_outbox_state_due", ["state", "due_at"], unique=False)

    op.create_table(
        "webhook_rejections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("minute", UTCDateTime(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("last_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("webhook_rejections") as batch_op:
        batch_op.create_index("ux_webhook_rejections_minute", ["minute", "source", "reason"], unique=True)

    _move_requests()

    with op.batch_alter_table("incoming_payments") as batch_op:
        batch_op.drop_column("requested_cents")
        batch_op.drop_column("requested_at")
        batch_op.drop_column("first_name")
        batch_op.drop_column("note")


def _move_requests() -> None:
    connection = op.get_bind()
    old = sa.table(
        "incoming_payments",
        *(sa.column(name) for name in (
            "k2_id", "location", "request_ref", "status", "errors", "metadata_json", "phone_number", "till_number",
            "first_name", "note", "updated_at",
        )),
        sa.column("requested_at", UTCDateTime()),
        sa.column("updated_at", UTCDateTime()),
        sa.column("requested_cents", sa.BigInteger()),
    )
    outbox = sa.table(
        "outbox",
        *(sa.column(name) for name in (
            "request_ref", "kind", "state", "params_json", "amount_cents", "currency", "phone_number", "note",
            "checks", "location", "k2_id", "k2_status", "reason",
        )),
        *(sa.column(name, UTCDateTime()) for name in ("created_at", "updated_at", "sent_at", "due_at")),
    )
    requests = connection.execute(
        sa.select(old).where(old.c.requested_at.is_not(None), old.c.request_ref.is_not(None))
    ).all()
    for row in requests:
        metadata = json.loads(row.metadata_json) if row.metadata_json else {"request_ref": row.request_ref}
        params = {
            "till_number": row.till_number,
            "phone_number": row.phone_number,
            "amount": str(Decimal(row.requested_cents or 0) / 100),
            "first_name": row.first_name,
            "metadata": metadata,
        }
        state = _STATES.get(row.status or "Requested", "unknown")
        connection.execute(
            sa.insert(outbox).values(
                request_ref=row.request_ref,
                kind="incoming_payment",
                state=state,
                params_json=json.dumps(params, sort_keys=True),
                amount_cents=row.requested_cents or 0,
                currency="KES",
                phone_number=row.phone_number,
                note=row.note,
                created_at=row.requested_at,
                updated_at=row.updated_at or row.requested_at,
                sent_at=row.requested_at,
                due_at=row.updated_at if state == "accepted" else None,  # a pending one is asked about at once
                checks=0,
                location=row.location,
                k2_id=row.k2_id,
                k2_status=None if row.status in _OURS_ONLY else row.status,
                reason=row.errors if row.status != "Requested" else "Sending was interrupted.",
            )
        )
    connection.execute(sa.delete(old).where(old.c.k2_id.is_(None), old.c.status.in_(_OURS_ONLY)))


def downgrade() -> None:
    raise NotImplementedError("moving requests back is not supported: restore a backup instead")
