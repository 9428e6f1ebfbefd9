"""The database tables (sqlmodel); `transactions` and `webhook_events` are public: BI tools read them."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Index, Text
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

__all__ = [
    "UTCDateTime",
    "WebhookEvent",
    "Transaction",
    "TransactionReversal",
    "Customer",
    "Settlement",
    "IncomingPaymentRequest",
    "OutboxRequest",
    "WebhookRejection",
    "UserAccount",
    "AuditEntry",
    "AppSecret",
    "AppSetting",
    "BankBranch",
    "Recipient",
    "SettlementAccount",
    "PaymentRecord",
    "TransferRecord",
    "SendMoneyRecord",
    "WebhookSubscriptionRecord",
    "PayoutBatch",
    "PayoutRow",
    "OUTCOME_TABLES",
    "MoneyInHour",
    "MoneyInDay",
    "MoneyInPayerDay",
    "MoneyInDayPayers",
    "MoneyInPayer",
    "MoneyInVersion",
]


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC out; stored as UTC (naive text in SQLite, timestamptz in PostgreSQL)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("a naive datetime reached the database; times must be aware")
        utc = value.astimezone(timezone.utc)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _utc(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


class WebhookEvent(SQLModel, table=True):
    """One row per distinct delivery: the exact body as received and what mapping it produced."""

    __tablename__ = "webhook_events"

    id: str = Field(primary_key=True)
    kind: str = Field(index=True)
    received_at: datetime = _utc(index=True)
    payload: str = Field(sa_type=Text)
    outcome: str = Field(index=True)
    error: str | None = Field(default=None, sa_type=Text)


class Transaction(SQLModel, table=True):
    """One row per money-in payment, keyed by its M-Pesa reference (the K2 resource id where there is none)."""

    __tablename__ = "transactions"
    __table_args__ = (
        Index("ux_transactions_reference", "reference", unique=True),
        # Covers the money-in reads by range (sums by status, till and kind) without touching the rows.
        Index("ix_transactions_money_in", "occurred_at", "status", "till_number", "kind", "amount_cents"),
    )

    id: int | None = Field(default=None, primary_key=True)
    reference: str
    kind: str = Field(index=True)
    till_number: str | None = None
    amount_cents: int = Field(sa_type=BigInteger)
    currency: str
    status: str
    occurred_at: datetime = _utc(index=True)
    sender_phone: str | None = Field(default=None, index=True)
    sender_phone_hash: str | None = None
    sender_first_name: str | None = None
    sender_middle_name: str | None = None
    sender_last_name: str | None = None
    sender_till: str | None = None
    sender_merchant: str | None = None
    resource_id: str | None = None
    reversed_at: datetime | None = _utc(nullable=True)
    event_id: str
    recorded_at: datetime = _utc()


class TransactionReversal(SQLModel, table=True):
    """A reversal or void by the reference it undoes; kept even when the original has not arrived yet."""

    __tablename__ = "transaction_reversals"

    reference: str = Field(primary_key=True)
    status: str
    reversed_at: datetime = _utc()
    event_id: str


class Customer(SQLModel, table=True):
    """Someone who paid or was announced by `customer_created`, by E.164 phone number."""

    __tablename__ = "customers"

    phone_number: str = Field(primary_key=True)
    first_name: str | None = None
    middle_name: str | None = None
    last_name: str | None = None
    first_seen_at: datetime = _utc()
    event_id: str


class Settlement(SQLModel, table=True):
    """Money K2 moved to the merchant's own bank account or wallet (`settlement_transfer_completed`)."""

    __tablename__ = "settlements"

    id: str = Field(primary_key=True)
    amount_cents: int = Field(sa_type=BigInteger)
    currency: str
    status: str
    destination_type: str | None = None
    destination_reference: str | None = None
    occurred_at: datetime | None = _utc(nullable=True)
    event_id: str


class _Outcome(SQLModel):
    """A request we made to K2, settled by its result callback: matched by K2 id (the Location's last part)
    or by our own `request_ref` metadata."""

    id: int | None = Field(default=None, primary_key=True)
    k2_id: str | None = Field(default=None, unique=True, index=True)
    location: str | None = None
    request_ref: str | None = Field(default=None, unique=True, index=True)
    status: str | None = None
    errors: str | None = Field(default=None, sa_type=Text)
    metadata_json: str | None = Field(default=None, sa_type=Text)
    amount_cents: int | None = Field(default=None, sa_type=BigInteger)
    currency: str | None = None
    result_event_id: str | None = None
    updated_at: datetime | None = _utc(nullable=True)


class IncomingPaymentRequest(_Outcome, table=True):
    """K2's result for an STK push (ours, matched by `request_ref`, or another system's to our till)."""

    __tablename__ = "incoming_payments"

    phone_number: str | None = None
    till_number: str | None = None
    mpesa_reference: str | None = None


class _Disbursed(_Outcome):
    """Money we sent out; `disbursements_json` holds K2's legs with their M-Pesa or bank references."""

    disbursements_json: str | None = Field(default=None, sa_type=Text)


class PaymentRecord(_Disbursed, table=True):
    """A v1 PAY payment to one recipient."""

    __tablename__ = "payments"


class TransferRecord(_Disbursed, table=True):
    """A v1 settlement transfer to the merchant's own account."""

    __tablename__ = "transfers"


class SendMoneyRecord(_Disbursed, table=True):
    """A v2 send_money request (several destinations, or a sweep)."""

    __tablename__ = "send_money"


class OutboxRequest(SQLModel, table=True):
    """A request that moves money, written before anything is sent; `merchant.outbound` owns its life.

    `request_ref` is our own id, sent to K2 as metadata and echoed in its result; a form's submission token
    becomes it, so one submission is one row whatever reruns. `params_json` is the K2 request as it will be sent."""

    __tablename__ = "outbox"
    # the next queued rows to send, in order, without sorting them all (migration 0009)
    __table_args__ = (Index("ix_outbox_state_due", "state", "due_at"), Index("ix_outbox_state_id", "state", "id"))

    id: int | None = Field(default=None, primary_key=True)
    request_ref: str = Field(unique=True, index=True)
    kind: str  # the K2 result type it becomes: incoming_payment, payment, settlement_transfer, send_money, ...
    state: str
    params_json: str = Field(sa_type=Text)
    amount_cents: int = Field(sa_type=BigInteger)
    currency: str = "KES"
    phone_number: str | None = Field(default=None, index=True)
    note: str | None = Field(default=None, sa_type=Text)
    created_by: str | None = None
    created_at: datetime = _utc()
    updated_at: datetime = _utc()
    sent_at: datetime | None = _utc(nullable=True)
    due_at: datetime | None = _utc(nullable=True)  # when the worker next looks at it: a status query, if late
    checks: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    location: str | None = None
    k2_id: str | None = Field(default=None, index=True)
    k2_status: str | None = None
    reason: str | None = Field(default=None, sa_type=Text)
    recipient_id: int | None = Field(default=None, foreign_key="recipients.id", index=True)
    account_id: int | None = Field(default=None, foreign_key="settlement_accounts.id", index=True)
    approved_by: str | None = None  # the second person who let a request above the threshold go
    approved_at: datetime | None = _utc(nullable=True)


class WebhookRejection(SQLModel, table=True):
    """Deliveries refused before anything was stored, counted per minute, source address and reason (never a body)."""

    __tablename__ = "webhook_rejections"
    __table_args__ = (Index("ux_webhook_rejections_minute", "minute", "source", "reason", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    minute: datetime = _utc()
    source: str
    reason: str
    count: int
    last_at: datetime = _utc()


class UserAccount(SQLModel, table=True):
    """Someone who signs in: a bcrypt password hash (never the password), a role, and when they last signed in.

    `sessions_valid_after` ends every session begun before it ("sign out everywhere", a password reset)."""

    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(unique=True, index=True)
    name: str
    email: str | None = None
    role: str
    password_hash: str
    disabled: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = _utc()
    last_login_at: datetime | None = _utc(nullable=True)
    sessions_valid_after: datetime | None = _utc(nullable=True)


class AuditEntry(SQLModel, table=True):
    """Who did what, when, from where: appended, never changed."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _utc(index=True)
    actor: str | None = Field(default=None, index=True)  # a username, "console", or None before sign-in
    action: str = Field(index=True)
    target: str | None = None  # whom or what it was done to: a username, a request's id, ...
    detail: str | None = Field(default=None, sa_type=Text)
    source: str | None = Field(default=None, index=True)  # the address it came from


class AppSecret(SQLModel, table=True):
    """Secrets the server makes for itself on first start: the sign-in cookie key, and the one-time setup code
    until the owner account exists (whoever can read this table holds the server anyway)."""

    __tablename__ = "app_secrets"

    name: str = Field(primary_key=True)
    value: str
    created_at: datetime = _utc()


class WebhookSubscriptionRecord(SQLModel, table=True):
    """A webhook subscription this server made at K2, which offers no way to list them: one per K2 account, event
    type, URL and till. `location` is K2's Location for it, empty while it is being made (a claim, so two clicks
    never make two); `account` is K2's base URL and a hash of the client id (never the id itself)."""

    __tablename__ = "webhook_subscriptions"
    __table_args__ = (
        Index("ux_webhook_subscriptions_key", "account", "event_type", "url", "scope_reference", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    account: str
    event_type: str
    scope: str  # "till" or "company"
    scope_reference: str  # the till for a till scope, "" for company
    url: str
    location: str | None = None
    created_at: datetime = _utc()
    created_by: str | None = None


class Recipient(SQLModel, table=True):
    """Someone the business pays (PAY recipient / external recipient): created at K2 once, kept here with K2's
    reference. `destination_key` is the normalised destination (phone, bank branch + account, till, paybill +
    account) by which a second recipient for the same destination is flagged."""

    __tablename__ = "recipients"

    id: int | None = Field(default=None, primary_key=True)
    type: str  # mobile_wallet, bank_account, till, paybill
    nickname: str
    details_json: str = Field(sa_type=Text)  # the K2 fields, as sent
    destination_key: str = Field(index=True)
    api_version: str = "v1"  # pay_recipients (v1) or external_recipients (v2)
    k2_reference: str | None = Field(default=None, unique=True)  # recipient_reference: the payment's destination
    k2_location: str | None = None
    disabled: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    created_by: str
    created_at: datetime = _utc()


class BankBranch(SQLModel, table=True):
    """A bank branch the owner named once, with the K2 reference (a UUID read in K2's web dashboard)."""

    __tablename__ = "bank_branches"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    reference: str = Field(unique=True)
    created_by: str
    created_at: datetime = _utc()


class SettlementAccount(SQLModel, table=True):
    """The merchant's own bank account or M-Pesa wallet that settlements go to (K2's merchant accounts)."""

    __tablename__ = "settlement_accounts"

    id: int | None = Field(default=None, primary_key=True)
    kind: str  # merchant_bank_account or merchant_wallet
    nickname: str
    details_json: str = Field(sa_type=Text)
    k2_reference: str | None = Field(default=None, unique=True)  # account_reference
    k2_location: str | None = None
    k2_status: str | None = None
    created_by: str
    created_at: datetime = _utc()


class AppSetting(SQLModel, table=True):
    """A setting the owner changes on a page (the approval threshold, the payout API), not in the environment."""

    __tablename__ = "app_settings"

    name: str = Field(primary_key=True)
    value: str
    changed_by: str
    changed_at: datetime = _utc()


OUTCOME_TABLES: dict[str, type[_Outcome]] = {
    "incoming_payment": IncomingPaymentRequest,
    "payment": PaymentRecord,
    "settlement_transfer": TransferRecord,
    "send_money": SendMoneyRecord,
}


class PayoutBatch(SQLModel, table=True):
    """A spreadsheet of payouts as submitted: who entered it and who let it go, which API pays it, and where it
    stands (`merchant.payouts.batches`). `file_hash` stops the same file being submitted twice by accident."""

    __tablename__ = "payout_batches"

    id: int | None = Field(default=None, primary_key=True)
    token: str = Field(unique=True)  # the submission's token: the same submission again is this batch
    file_name: str
    file_hash: str = Field(index=True)
    api: str  # v1 (one PAY payment per row) or v2 (send_money, rows in chunks)
    state: str
    row_count: int
    total_cents: int = Field(sa_type=BigInteger)
    retry_of: int | None = Field(default=None, foreign_key="payout_batches.id")  # the batch whose failed rows these are
    created_by: str
    created_at: datetime = _utc()
    decided_by: str | None = None  # who approved or declined it
    decided_at: datetime | None = _utc(nullable=True)
    note: str | None = Field(default=None, sa_type=Text)  # why it was declined or cancelled


class PayoutRow(SQLModel, table=True):
    """One row of a batch: the destination and amount as checked, its recipient at K2 once found or made, and
    `request_ref`, the outbox request that pays it (one per row on v1; a chunk's, shared, on v2, with `leg` the
    row's place among its destinations)."""

    __tablename__ = "payout_rows"
    # a destination's rows found by key when they are pointed at its recipient (migration 0009)
    __table_args__ = (Index("ix_payout_rows_batch_state", "batch_id", "state"),
                      Index("ix_payout_rows_batch_destination", "batch_id", "destination_key"))

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="payout_batches.id")
    number: int  # the row's number in the file (header = 1)
    type: str
    nickname: str
    details_json: str = Field(sa_type=Text)
    destination_key: str = Field(index=True)
    amount_cents: int = Field(sa_type=BigInteger)
    description: str
    reference: str | None = None
    state: str  # before the outbox: waiting, enqueued, cancelled, refused
    reason: str | None = Field(default=None, sa_type=Text)
    recipient_id: int | None = Field(default=None, foreign_key="recipients.id")
    request_ref: str | None = Field(default=None, index=True)
    leg: int | None = None
    created_at: datetime = _utc()


class MoneyInHour(SQLModel, table=True):
    """Money in per hour, till, kind and status, kept by triggers on `transactions` (migration 0006), so it
    follows every write however made. `hour` counts whole hours since 1970-01-01 00:00 UTC: Nairobi's hours are
    UTC's, three ahead, so a Nairobi day is 24 of them."""

    __tablename__ = "money_in_hours"
    __table_args__ = {"sqlite_with_rowid": False}

    hour: int = Field(primary_key=True)
    till_number: str = Field(primary_key=True)  # "" for a payment that names no till
    kind: str = Field(primary_key=True)
    status: str = Field(primary_key=True)
    amount_cents: int = Field(sa_type=BigInteger)
    payments: int


class MoneyInDay(SQLModel, table=True):
    """`money_in_hours` per Nairobi day (days since 1970-01-01): long ranges, per-day charts and tiles read it."""

    __tablename__ = "money_in_days"
    __table_args__ = {"sqlite_with_rowid": False}

    day: int = Field(primary_key=True)
    till_number: str = Field(primary_key=True)
    kind: str = Field(primary_key=True)
    status: str = Field(primary_key=True)
    amount_cents: int = Field(sa_type=BigInteger)
    payments: int


class MoneyInPayerDay(SQLModel, table=True):
    """Money that stayed (status received) per Nairobi day, payer, till and kind, kept like `money_in_hours`:
    distinct and top payers without reading payments. `day` counts Nairobi days since 1970-01-01; a payer is the
    phone, else K2's hashed phone, else the paying merchant or till."""

    __tablename__ = "money_in_payer_days"
    # By payer first: each payer's first day, and top payers over long ranges read in payer order, covered.
    __table_args__ = (
        Index("ix_money_in_payer_days_payer", "payer", "day", "till_number", "kind", "amount_cents", "payments"),
        {"sqlite_with_rowid": False},
    )

    day: int = Field(primary_key=True)
    payer: str = Field(primary_key=True)
    till_number: str = Field(primary_key=True)
    kind: str = Field(primary_key=True)
    amount_cents: int = Field(sa_type=BigInteger)
    payments: int


class MoneyInDayPayers(SQLModel, table=True):
    """How many payers had money stay each Nairobi day (all tills and kinds), kept like `money_in_hours`: new and
    returning payers per day over long ranges without counting payer-days."""

    __tablename__ = "money_in_day_payers"

    day: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    payers: int


class MoneyInPayer(SQLModel, table=True):
    """Each payer's first Nairobi day with money that stayed (new or returning) and latest such payment (the name
    to show), kept like `money_in_hours`."""

    __tablename__ = "money_in_payers"

    payer: str = Field(primary_key=True)
    first_day: int = Field(index=True)
    last_at: datetime = _utc()
    last_id: int


class MoneyInVersion(SQLModel, table=True):
    """One row counting writes to `transactions` (bumped by its triggers): a page polls it to know, for one
    primary-key read, whether anything changed since it last drew."""

    __tablename__ = "money_in_version"

    id: int = Field(primary_key=True)
    changes: int = Field(sa_type=BigInteger)
