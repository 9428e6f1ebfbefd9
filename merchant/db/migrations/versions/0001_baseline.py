"""Baseline: the schema of release d74f602 (webhook inbox, money in, result tables, Ask to pay's own columns)."""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from merchant.db.tables import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('customers',
    sa.Column('phone_number', sa.String(), nullable=False),
    sa.Column('first_name', sa.String(), nullable=True),
    sa.Column('middle_name', sa.String(), nullable=True),
    sa.Column('last_name', sa.String(), nullable=True),
    sa.Column('first_seen_at', UTCDateTime(), nullable=False),
    sa.Column('event_id', sa.String(), nullable=False),
    sa.PrimaryKeyConstraint('phone_number')
    )
    op.create_table('incoming_payments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('k2_id', sa.String(), nullable=True),
    sa.Column('location', sa.String(), nullable=True),
    sa.Column('request_ref', sa.String(), nullable=True),
    sa.Column('status', sa.String(), nullable=True),
    sa.Column('errors', sa.Text(), nullable=True),
    sa.Column('metadata_json', sa.Text(), nullable=True),
    sa.Column('amount_cents', sa.BigInteger(), nullable=True),
    sa.Column('currency', sa.String(), nullable=True),
    sa.Column('result_event_id', sa.String(), nullable=True),
    sa.Column('updated_at', UTCDateTime(), nullable=True),
    sa.Column('phone_number', sa.String(), nullable=True),
    sa.Column('till_number', sa.String(), nullable=True),
    sa.Column('mpesa_reference', sa.String(), nullable=True),
    sa.Column('requested_at', UTCDateTime(), nullable=True),
    sa.Column('requested_cents', sa.BigInteger(), nullable=True),
    sa.Column('first_name', sa.String(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('incoming_payments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incoming_payments_k2_id'), ['k2_id'], unique=True)
        batch_op.create_index(batch_op.f('ix_incoming_payments_request_ref'), ['request_ref'], unique=True)

    op.create_table('payments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('k2_id', sa.String(), nullable=True),
    sa.Column('location', sa.String(), nullable=True),
    sa.Column('request_ref', sa.String(), nullable=True),
    sa.Column('status', sa.String(), nullable=True),
    sa.Column('errors', sa.Text(), nullable=True),
    sa.Column('metadata_json', sa.Text(), nullable=True),
    sa.Column('amount_cents', sa.BigInteger(), nullable=True),
    sa.Column('currency', sa.String(), nullable=True),
    sa.Column('result_event_id', sa.String(), nullable=True),
    sa.Column('updated_at', UTCDateTime(), nullable=True),
    sa.Column('disbursements_json', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payments_k2_id'), ['k2_id'], unique=True)
        batch_op.create_index(batch_op.f('ix_payments_request_ref'), ['request_ref'], unique=True)

    op.create_table('send_money',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('k2_id', sa.String(), nullable=True),
    sa.Column('location', sa.String(), nullable=True),
    sa.Column('request_ref', sa.String(), nullable=True),
    sa.Column('status', sa.String(), nullable=True),
    sa.Column('errors', sa.Text(), nullable=True),
    sa.Column('metadata_json', sa.Text(), nullable=True),
    sa.Column('amount_cents', sa.BigInteger(), nullable=True),
    sa.Column('currency', sa.String(), nullable=True),
    sa.Column('result_event_id', sa.String(), nullable=True),
    sa.Column('updated_at', UTCDateTime(), nullable=True),
    sa.Column('disbursements_json', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('send_money', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_send_money_k2_id'), ['k2_id'], unique=True)
        batch_op.create_index(batch_op.f('ix_send_money_request_ref'), ['request_ref'], unique=True)

    op.create_table('settlements',
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(), nullable=False),
    sa.Column('status', sa.String(), nullable=False),
    sa.Column('destination_type', sa.String(), nullable=True),
    sa.Column('destination_reference', sa.String(), nullable=True),
    sa.Column('occurred_at', UTCDateTime(), nullable=True),
    sa.Column('event_id', sa.String(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('transaction_reversals',
    sa.Column('reference', sa.String(), nullable=False),
    sa.Column('status', sa.String(), nullable=False),
    sa.Column('reversed_at', UTCDateTime(), nullable=False),
    sa.Column('event_id', sa.String(), nullable=False),
    sa.PrimaryKeyConstraint('reference')
    )
    op.create_table('transactions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(), nullable=False),
    sa.Column('kind', sa.String(), nullable=False),
    sa.Column('till_number', sa.String(), nullable=True),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(), nullable=False),
    sa.Column('status', sa.String(), nullable=False),
    sa.Column('occurred_at', UTCDateTime(), nullable=False),
    sa.Column('sender_phone', sa.String(), nullable=True),
    sa.Column('sender_phone_hash', sa.String(), nullable=True),
    sa.Column('sender_first_name', sa.String(), nullable=True),
    sa.Column('sender_middle_name', sa.String(), nullable=True),
    sa.Column('sender_last_name', sa.String(), nullable=True),
    sa.Column('sender_till', sa.String(), nullable=True),
    sa.Column('sender_merchant', sa.String(), nullable=True),
    sa.Column('resource_id', sa.String(), nullable=True),
    sa.Column('reversed_at', UTCDateTime(), nullable=True),
    sa.Column('event_id', sa.String(), nullable=False),
    sa.Column('recorded_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_transactions_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_transactions_occurred_at'), ['occurred_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_transactions_sender_phone'), ['sender_phone'], unique=False)
        batch_op.create_index('ux_transactions_reference', ['reference'], unique=True)

    op.create_table('transfers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('k2_id', sa.String(), nullable=True),
    sa.Column('location', sa.String(), nullable=True),
    sa.Column('request_ref', sa.String(), nullable=True),
    sa.Column('status', sa.String(), nullable=True),
    sa.Column('errors', sa.Text(), nullable=True),
    sa.Column('metadata_json', sa.Text(), nullable=True),
    sa.Column('amount_cents', sa.BigInteger(), nullable=True),
    sa.Column('currency', sa.String(), nullable=True),
    sa.Column('result_event_id', sa.String(), nullable=True),
    sa.Column('updated_at', UTCDateTime(), nullable=True),
    sa.Column('disbursements_json', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('transfers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_transfers_k2_id'), ['k2_id'], unique=True)
        batch_op.create_index(batch_op.f('ix_transfers_request_ref'), ['request_ref'], unique=True)

    op.create_table('webhook_events',
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('kind', sa.String(), nullable=False),
    sa.Column('received_at', UTCDateTime(), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('outcome', sa.String(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('webhook_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_events_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_webhook_events_outcome'), ['outcome'], unique=False)
        batch_op.create_index(batch_op.f('ix_webhook_events_received_at'), ['received_at'], unique=False)


def downgrade() -> None:
    raise NotImplementedError("the baseline is not undone: restore a backup instead")
