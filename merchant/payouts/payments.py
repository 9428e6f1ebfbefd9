"""Pay one recipient: check the payment, write it to the outbox (waiting for a second person when it is above the
owner's approval threshold), let a second person approve or decline it, and read how payments went.

The outbox worker sends it (v1 `payments`, or v2 `send_money` when the owner chose v2) and K2's result settles it
(`merchant.outbound`); this module never talks to K2. One submission is one payment: the page's token becomes our
`request_ref`, and the same token again returns the payment already written, whatever was typed the second time."""
from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import pandas as pd
from sqlalchemy import Connection, Engine, Row, Select, Table, func, select

from k2 import RequestValidationError
from k2.types.payment_params import PaymentParams
from k2.types.send_money_params import SendMoneyParams

from ..db import writing
from ..access import AuditAction, Permission, User, exported, record, require
from ..db.tables import PaymentRecord, Recipient, SendMoneyRecord
from ..errors import InputError
from ..inbox import REQUEST_REF_KEY
from ..money import to_cents
from ..money_in.filters import BUSINESS_TIMEZONE
from ..outbound import NOT_PAID, OutboxRow, OutboxState, approve, decline, enqueue, queued
from ..outbound.outbox import OUTBOX
from ..preferences import load_preferences
from ..runtime import Runtime
from ..spreadsheet import spreadsheet_text
from .recipients import RecipientView, get_recipient

__all__ = [
    "EXPORT_COLUMNS",
    "HISTORY_COLUMNS",
    "KINDS",
    "MAX_MOBILE_AMOUNT",
    "REFERENCE_KEY",
    "SAME_PAYMENT_WINDOW",
    "OwnPayment",
    "PaymentDraft",
    "Payout",
    "approve_payment",
    "awaiting_approval",
    "check_payment",
    "checked_amount",
    "checked_description",
    "checked_reference",
    "decline_payment",
    "destination_fields",
    "export_payments",
    "get_payment",
    "pay",
    "payment_history",
]

KINDS = ("payment", "send_money")  # v1 PAY, v2 send_money: both are payouts here when they name a recipient
REFERENCE_KEY = "reference"  # the merchant's own optional reference, kept in K2's metadata beside our request_ref
MAX_MOBILE_AMOUNT = Decimal(250000)  # M-Pesa's limit for one payment to a phone; K2 fails anything above it
SAME_PAYMENT_WINDOW = timedelta(minutes=10)  # the same amount to the same recipient this recently is flagged
MAX_DESCRIPTION = 100
MAX_REFERENCE = 50
_WHOLE_SHILLINGS = frozenset({"mobile_wallet", "till", "paybill"})  # M-Pesa moves no cents; banks do
_PAYMENTS: Table = PaymentRecord.__table__  # type: ignore[attr-defined]
_SEND_MONEY: Table = SendMoneyRecord.__table__  # type: ignore[attr-defined]
_RECIPIENTS: Table = Recipient.__table__  # type: ignore[attr-defined]
_LABELS = {"amount": "Amount", "description": "Description", "metadata": "Reference",
           "destination_reference": "Recipient", "destinations": "Recipient"}


class OwnPayment(InputError):
    """The person who entered a payment tried to approve it: a second person must."""

    def __init__(self) -> None:
        super().__init__("payment", "You entered this payment, so you cannot approve it: another finance user or "
                                    "the owner must. You can still decline it.")


@dataclass(frozen=True, slots=True)
class PaymentDraft:
    """A checked payment not yet written: what the confirmation step shows before anything is sent.

    `needs_approval` when `amount` is above the owner's `threshold`; `earlier` is a payment of the same amount to
    the same recipient within `SAME_PAYMENT_WINDOW` that has not failed (a second one may be a mistake)."""

    recipient: RecipientView
    amount: Decimal
    description: str
    reference: str | None
    api: Literal["v1", "v2"]
    threshold: Decimal | None
    needs_approval: bool
    earlier: Payout | None


@dataclass(frozen=True, slots=True)
class Payout:
    """One payment as stored: where it stands (`state`, K2's own word, the reason), to whom and how much, who
    entered and who approved it, and the first disbursement's transaction reference (M-Pesa's, or the bank's)."""

    request_ref: str
    api: Literal["v1", "v2"]
    state: OutboxState
    k2_status: str | None
    reason: str | None
    recipient_id: int
    recipient_nickname: str | None
    recipient_type: str | None
    recipient_details: dict[str, Any]
    amount: Decimal
    description: str
    reference: str | None
    created_by: str | None
    created_at: datetime
    approved_by: str | None
    approved_at: datetime | None
    transaction_reference: str | None


def _engine(runtime: Runtime) -> Engine:
    engine = runtime.engine
    assert engine is not None, "the runtime is not started"
    return engine


def check_payment(
    runtime: Runtime,
    actor: User,
    *,
    recipient_id: int | None,
    amount: Decimal | str,
    description: str,
    reference: str | None = None,
) -> PaymentDraft:
    """The payment as it would be sent, if `actor` may pay out (`NotAllowed`); `InputError` names the field when
    the input is bad. Nothing is written: the page shows this for a yes before `pay`."""
    require(actor, Permission.PAY_OUT)
    engine = _engine(runtime)
    recipient = get_recipient(engine, recipient_id) if recipient_id is not None else None
    if recipient is None:
        raise InputError("recipient", "Recipient: choose who to pay (add them on the Recipients page first).")
    if recipient.disabled:
        raise InputError("recipient", f"Recipient: {recipient.nickname} is disabled; enable them first.")
    value = checked_amount(amount, recipient.type.value)
    text = checked_description(description)
    ours = checked_reference(reference)
    if not runtime.callback_url:
        raise InputError("PUBLIC_BASE_URL", "PUBLIC_BASE_URL is not set: K2 could not tell us the outcome.")
    preferences = load_preferences(engine)
    threshold = preferences.approval_threshold
    _params(runtime, "check", recipient, value, text, ours, preferences.payout_api)  # K2's own rules, before a yes
    with engine.connect() as connection:
        earlier = _earlier(connection, recipient.id, value)
    return PaymentDraft(
        recipient=recipient, amount=value, description=text, reference=ours, api=preferences.payout_api,
        threshold=threshold, needs_approval=threshold is not None and value > threshold,
        earlier=None if earlier is None else _payout(earlier),
    )


def pay(
    runtime: Runtime,
    actor: User,
    *,
    request_ref: str,
    recipient_id: int | None,
    amount: Decimal | str,
    description: str,
    reference: str | None = None,
    source: str | None = None,
) -> Payout:
    """Queue a payment to one recipient (or, above the owner's threshold, hold it for a second person's approval),
    checked as `check_payment` checks it; nothing is stored when it refuses. The payment and its audit entry
    (`MONEY_REQUESTED`) commit together.

    The same `request_ref` again returns the payment already written, whatever was typed the second time."""
    require(actor, Permission.PAY_OUT)
    engine = _engine(runtime)
    existing = get_payment(engine, request_ref)
    if existing is not None:
        return existing
    draft = check_payment(runtime, actor, recipient_id=recipient_id, amount=amount, description=description,
                          reference=reference)
    recipient = draft.recipient
    kind, params = _params(runtime, request_ref, recipient, draft.amount, draft.description, draft.reference,
                           draft.api)
    with engine.connect().execution_options(sqlite_immediate=True) as connection, connection.begin():
        if enqueue(connection, queued(
            request_ref=request_ref,
            kind=kind,
            params=params,
            amount=draft.amount,
            phone_number=recipient.details.get("phone_number") if recipient.type == "mobile_wallet" else None,
            note=draft.reference,
            created_by=actor.username,
            needs_approval=draft.needs_approval,
            recipient_id=recipient.id,
        )):
            record(connection, AuditAction.MONEY_REQUESTED, actor=actor.username, target=request_ref,
                   detail={"kind": kind, "amount": str(draft.amount), "recipient": recipient.nickname,
                           "recipient_id": recipient.id, "needs_approval": draft.needs_approval},
                   source=source)
    if runtime.outbox is not None and not draft.needs_approval:
        runtime.outbox.wake()
    written = get_payment(engine, request_ref)
    assert written is not None
    return written


_THOUSANDS = re.compile(r"\d{1,3}(,\d{3})+(\.\d*)?")
_CURRENCY = re.compile(r"^(KES|KSHS?|SHS?)\.?|/[=-]$")  # "KES 1,500", "Ksh. 1500", "Shs 1500", "1500/="


def checked_amount(amount: Decimal | str, recipient_type: str) -> Decimal:
    """A positive amount: whole shillings to M-Pesa (phones, tills, paybills), cents allowed to a bank.

    Text may carry a currency ("KES 1,500", "Ksh. 1500", "1500/=") and thousands separators; a comma anywhere
    else ("1500,50") is refused, never read as 150,050."""
    if isinstance(amount, str):
        text = re.sub(r"\s", "", amount).upper()
        if not text:
            raise InputError("amount", "Amount: enter how many shillings to pay, e.g. 1500.")
        number = _CURRENCY.sub("", text)
        if "," in number and not _THOUSANDS.fullmatch(number):
            number = "not a number"
        try:
            amount = Decimal(number.replace(",", ""))
        except InvalidOperation:
            raise InputError("amount", f"Amount: {amount.strip()!r} is not a number of shillings (e.g. 1500 or "
                                       "1,500).") from None
    if not amount.is_finite() or amount <= 0:
        raise InputError("amount", "Amount: pay at least KES 1.")
    if amount.adjusted() >= 15:  # no payment is this large, and Decimal's context cannot round it to cents
        raise InputError("amount", f"Amount: {amount} shillings is not an amount one payment can be.")
    whole = recipient_type in _WHOLE_SHILLINGS
    if whole and amount != amount.to_integral_value():
        raise InputError("amount", f"Amount: M-Pesa moves whole shillings; pay {int(amount)} or {int(amount) + 1}, "
                                   f"not {amount}.")
    if amount != amount.quantize(Decimal("0.01")):
        raise InputError("amount", f"Amount: shillings and cents at most (e.g. 1500.50), not {amount}.")
    if amount < 1:
        raise InputError("amount", "Amount: pay at least KES 1.")
    if recipient_type == "mobile_wallet" and amount > MAX_MOBILE_AMOUNT:
        raise InputError("amount", f"Amount: M-Pesa takes at most KES {MAX_MOBILE_AMOUNT:,} in one payment to a "
                                   "phone.")
    return amount.quantize(Decimal(1) if whole else Decimal("0.01"))


def checked_description(description: str | None) -> str:
    """What the payment is for, spaces folded; `InputError` when blank or longer than K2 takes."""
    text = " ".join((description or "").split())
    if not text:
        raise InputError("description", "Description: say what the payment is for, e.g. 'Stock, invoice 114'.")
    if len(text) > MAX_DESCRIPTION:
        raise InputError("description", f"Description: at most {MAX_DESCRIPTION} characters.")
    return text


def checked_reference(reference: str | None) -> str | None:
    """The merchant's own optional reference, spaces folded; None when blank."""
    text = " ".join((reference or "").split()) or None
    if text is not None and len(text) > MAX_REFERENCE:
        raise InputError("reference", f"Reference: at most {MAX_REFERENCE} characters.")
    return text


def destination_fields(type: str, details: dict[str, Any], nickname: str) -> dict[str, Any]:
    """The v2 send_money destination for a recipient of `type` with K2 fields `details`, less the amount and
    description."""
    fields: dict[str, tuple[str, ...]] = {
        "mobile_wallet": ("phone_number", "network"),
        "bank_account": ("account_name", "account_number", "bank_branch_ref"),
        "till": ("till_number",),
        "paybill": ("paybill_number", "paybill_account_number"),
    }
    destination = {"type": type, **{name: details.get(name) for name in fields.get(type, ())}}
    if type in ("mobile_wallet", "bank_account"):
        destination["nickname"] = nickname
    if type == "mobile_wallet" and not destination.get("network"):
        destination["network"] = "Safaricom"
    return destination


def _params(
    runtime: Runtime,
    request_ref: str,
    recipient: RecipientView,
    amount: Decimal,
    description: str,
    reference: str | None,
    api: Literal["v1", "v2"],
) -> tuple[str, dict[str, Any]]:
    """The outbox kind and the K2 request as it will be sent (less the callback URL), checked by `k2`'s own rules."""
    metadata = {REQUEST_REF_KEY: request_ref} | ({REFERENCE_KEY: reference} if reference else {})
    try:
        if api == "v2":
            destination = destination_fields(recipient.type.value, recipient.details, recipient.nickname) | {
                "amount": amount, "description": description}
            checked = SendMoneyParams(destinations=[destination], callback_url=runtime.callback_url,
                                      metadata=metadata)
            wire = checked.model_dump(mode="json", exclude={"callback_url"}, exclude_none=True)
            return "send_money", {"destinations": wire["destinations"], "metadata": metadata}
        if not recipient.k2_reference:
            raise InputError("recipient", f"Recipient: K2 has not confirmed {recipient.nickname} yet, so it cannot "
                                          "pay them; check them on the Recipients page.")
        params = PaymentParams(destination_type=recipient.type.value, destination_reference=recipient.k2_reference,
                               amount=amount, description=description, callback_url=runtime.callback_url,
                               metadata=metadata)
    except RequestValidationError as err:
        field = err.field.split(".")[0].split("[")[0]
        detail = str(err).removeprefix(f"{err.field}: ")
        raise InputError(field, f"{_LABELS.get(field, field)}: {detail}") from None
    return "payment", params.model_dump(mode="json", include={"destination_type", "destination_reference", "amount",
                                                               "description", "metadata"})


# ---------------------------------------------------------------------------------------------- approvals


def approve_payment(runtime: Runtime, actor: User, request_ref: str, *, source: str | None = None) -> Payout:
    """Let a payment waiting for approval go (it is sent next), if `actor` may approve (`NotAllowed`) and did not
    enter it (`OwnPayment`); audited `APPROVED` in the same transaction. `InputError` when it no longer waits."""
    require(actor, Permission.APPROVE)
    engine = _engine(runtime)
    with writing(engine) as connection:
        waiting = _waiting(connection, request_ref)
        if approve(connection, request_ref, actor.username):
            record(connection, AuditAction.APPROVED, actor=actor.username, target=request_ref,
                   detail={"decision": "approved", "amount": str(waiting.amount), "entered_by": waiting.created_by},
                   source=source)
        elif waiting.created_by == actor.username:
            raise OwnPayment
        else:
            raise _already_decided(connection, request_ref)
    if runtime.outbox is not None:
        runtime.outbox.wake()
    return _fetched(engine, request_ref)


def decline_payment(
    runtime: Runtime, actor: User, request_ref: str, *, reason: str | None = None, source: str | None = None
) -> Payout:
    """Refuse a payment waiting for approval: it is never sent. Anyone who may approve may decline, its maker too
    (taking back their own); audited as `APPROVED` with the decision `declined` and the reason."""
    require(actor, Permission.APPROVE)
    engine = _engine(runtime)
    why = " ".join((reason or "").split()) or None
    with writing(engine) as connection:
        waiting = _waiting(connection, request_ref)
        said = f"Declined by {actor.name or actor.username}" + (f": {why}" if why else ".")
        if not decline(connection, request_ref, actor.username, said):
            raise _already_decided(connection, request_ref)
        record(connection, AuditAction.DECLINED, actor=actor.username, target=request_ref,
               detail={"amount": str(waiting.amount), "entered_by": waiting.created_by, "reason": why},
               source=source)
    return _fetched(engine, request_ref)


def _waiting(connection: Connection, request_ref: str) -> OutboxRow:
    row = connection.execute(_query().where(OUTBOX.c.request_ref == request_ref)).first()
    if row is None:
        raise InputError("payment", "There is no such payment.")
    return OutboxRow.of(row)


def _already_decided(connection: Connection, request_ref: str) -> InputError:
    now = _payout(connection.execute(_query().where(OUTBOX.c.request_ref == request_ref)).one())
    if now.state is OutboxState.DECLINED:
        return InputError("payment", f"This payment was already declined by {now.approved_by}; nothing changed.")
    if now.approved_by:
        return InputError("payment", f"This payment was already approved by {now.approved_by}; nothing changed.")
    return InputError("payment", "This payment does not need an approval; nothing changed.")


def awaiting_approval(engine: Engine) -> list[Payout]:
    """Payments waiting for a second person, oldest first."""
    with engine.connect() as connection:
        rows = connection.execute(
            _query().where(OUTBOX.c.state == OutboxState.AWAITING_APPROVAL).order_by(OUTBOX.c.id)
        ).all()
    return [_payout(row) for row in rows]


# ---------------------------------------------------------------------------------------------- reads


def _query() -> Select:
    """Payouts to recipients (settlement transfers to the merchant's own accounts are not here), with the
    recipient and K2's legs from whichever result table answers them."""
    legs = func.coalesce(_PAYMENTS.c.disbursements_json, _SEND_MONEY.c.disbursements_json).label("legs")
    return (
        select(OUTBOX, _RECIPIENTS.c.nickname.label("recipient_nickname"),
               _RECIPIENTS.c.type.label("recipient_type"), _RECIPIENTS.c.details_json.label("recipient_details"),
               legs)
        .join(_RECIPIENTS, _RECIPIENTS.c.id == OUTBOX.c.recipient_id, isouter=True)
        .join(_PAYMENTS, _PAYMENTS.c.request_ref == OUTBOX.c.request_ref, isouter=True)
        .join(_SEND_MONEY, _SEND_MONEY.c.request_ref == OUTBOX.c.request_ref, isouter=True)
        .where(OUTBOX.c.kind.in_(KINDS), OUTBOX.c.recipient_id.is_not(None))
    )


def _earlier(connection: Connection, recipient_id: int, amount: Decimal) -> Row | None:
    since = datetime.now(UTC) - SAME_PAYMENT_WINDOW
    return connection.execute(
        _query().where(
            OUTBOX.c.recipient_id == recipient_id,
            OUTBOX.c.amount_cents == to_cents(amount),
            OUTBOX.c.state.not_in([state.value for state in NOT_PAID]),
            OUTBOX.c.created_at > since,
        ).order_by(OUTBOX.c.id.desc()).limit(1)
    ).first()


def get_payment(engine: Engine, request_ref: str) -> Payout | None:
    """The payment with our id `request_ref`, if any."""
    with engine.connect() as connection:
        row = connection.execute(_query().where(OUTBOX.c.request_ref == request_ref)).first()
    return None if row is None else _payout(row)


def _fetched(engine: Engine, request_ref: str) -> Payout:
    payout = get_payment(engine, request_ref)
    assert payout is not None
    return payout


HISTORY_COLUMNS = (
    "created_at", "recipient_id", "recipient_nickname", "recipient_type", "recipient_details", "amount",
    "description", "reference", "state", "k2_status", "reason", "transaction_reference", "created_by",
    "approved_by", "approved_at", "api", "request_ref",
)


def _filtered(
    query: Select,
    *,
    recipient_id: int | None,
    states: Collection[OutboxState] | None,
    since: datetime | None,
    until: datetime | None,
) -> Select:
    if recipient_id is not None:
        query = query.where(OUTBOX.c.recipient_id == recipient_id)
    if states:
        query = query.where(OUTBOX.c.state.in_([state.value for state in states]))
    if since is not None:
        query = query.where(OUTBOX.c.created_at >= since)
    if until is not None:
        query = query.where(OUTBOX.c.created_at < until)
    return query


def payment_history(
    engine: Engine,
    *,
    recipient_id: int | None = None,
    states: Collection[OutboxState] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 1_000,
) -> pd.DataFrame:
    """Payments newest first, filtered by recipient, states and entry time (`since` inclusive, `until` exclusive),
    columns `HISTORY_COLUMNS`: `created_at`/`approved_at` UTC, `amount` a `Decimal` KES, `state` an `OutboxState`,
    `recipient_details` the recipient's K2 fields (a dict), `transaction_reference` the first leg's."""
    query = _filtered(_query(), recipient_id=recipient_id, states=states, since=since, until=until)
    with engine.connect() as connection:
        rows = connection.execute(query.order_by(OUTBOX.c.created_at.desc(), OUTBOX.c.id.desc()).limit(limit)).all()
    payouts = [_payout(row) for row in rows]
    frame = pd.DataFrame([{column: getattr(payout, column) for column in HISTORY_COLUMNS} for payout in payouts],
                         columns=list(HISTORY_COLUMNS))
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
    frame["approved_at"] = pd.to_datetime(frame["approved_at"], utc=True)
    return frame


EXPORT_COLUMNS = (
    "entered_at", "recipient", "recipient_type", "destination", "amount", "currency", "description", "reference",
    "status", "k2_status", "reason", "transaction_reference", "entered_by", "approved_by", "approved_at",
    "request_ref",
)
EXPORT_LIMIT = 1_000_000
_DESTINATION_FIELDS = {
    "mobile_wallet": ("phone_number",),
    "bank_account": ("account_number", "account_name"),
    "till": ("till_number",),
    "paybill": ("paybill_number", "paybill_account_number"),
}


def export_payments(
    engine: Engine,
    actor: User,
    *,
    recipient_id: int | None = None,
    states: Collection[OutboxState] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    source: str | None = None,
) -> bytes:
    """The filtered payments as CSV bytes (UTF-8 with BOM, CRLF, oldest first), if `actor` may see payouts and
    export (`NotAllowed`); the export itself is audited (`EXPORTED`).

    Columns `EXPORT_COLUMNS`: times in Nairobi with their offset, amounts exact with two places, `status` our state's
    value, `destination` the recipient's phone (E.164), account, till or paybill; every text cell a spreadsheet would
    run as a formula (a description, a reference or a nickname is typed by a person) is kept as text."""
    require(actor, Permission.PAY_OUT)
    frame = payment_history(engine, recipient_id=recipient_id, states=states, since=since, until=until,
                            limit=EXPORT_LIMIT).iloc[::-1]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for row in frame.itertuples(index=False):
        details = row.recipient_details or {}
        destination = " ".join(str(details[name]) for name in _DESTINATION_FIELDS.get(row.recipient_type, ())
                               if details.get(name))
        approved = "" if pd.isna(row.approved_at) else row.approved_at.tz_convert(BUSINESS_TIMEZONE).isoformat(
            " ", "seconds")
        writer.writerow([
            row.created_at.tz_convert(BUSINESS_TIMEZONE).isoformat(" ", "seconds"),
            spreadsheet_text(row.recipient_nickname), spreadsheet_text(row.recipient_type),
            spreadsheet_text(destination), f"{row.amount:.2f}", "KES", spreadsheet_text(row.description),
            spreadsheet_text(row.reference), spreadsheet_text(row.state.value), spreadsheet_text(row.k2_status),
            spreadsheet_text(row.reason), spreadsheet_text(row.transaction_reference),
            spreadsheet_text(row.created_by), spreadsheet_text(row.approved_by), approved,
            spreadsheet_text(row.request_ref),
        ])
    filters = {"recipient_id": recipient_id, "states": sorted(state.value for state in states or ()),
               "since": since, "until": until}
    exported(engine, actor, what="payments",
             detail={"rows": str(len(frame)), **{key: str(value) for key, value in filters.items() if value}},
             source=source)
    return out.getvalue().encode("utf-8-sig")


def _payout(row: Row) -> Payout:
    stored = OutboxRow.of(row)
    params = stored.params
    metadata: dict[str, str] = params.get("metadata") or {}
    if stored.kind == "send_money":
        [destination] = params.get("destinations") or [{}]
        description = destination.get("description", "")
    else:
        description = params.get("description", "")
    legs = json.loads(row.legs) if row.legs else []
    return Payout(
        request_ref=stored.request_ref,
        api="v2" if stored.kind == "send_money" else "v1",
        state=stored.state,
        k2_status=stored.k2_status,
        reason=stored.reason,
        recipient_id=row.recipient_id,
        recipient_nickname=row.recipient_nickname,
        recipient_type=row.recipient_type,
        recipient_details=json.loads(row.recipient_details) if row.recipient_details else {},
        amount=stored.amount,
        description=description,
        reference=metadata.get(REFERENCE_KEY),
        created_by=stored.created_by,
        created_at=stored.created_at,
        approved_by=row.approved_by,
        approved_at=row.approved_at,
        transaction_reference=next((leg.get("transaction_reference") for leg in legs
                                    if leg.get("transaction_reference")), None),
    )
