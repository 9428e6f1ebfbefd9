"""Ask a customer to pay (STK push): check the request, write it to the outbox, and read how it is going.

The outbox worker sends it and K2's result settles it (`merchant.outbound`); this module never talks to K2.
One submission is one request: the form's token becomes our `request_ref`, and a repeat of it changes nothing."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

import pandas as pd
from sqlalchemy import Connection, Engine, Row, Select, Table, select

from k2 import RequestValidationError
from k2.types import IncomingPaymentParams

from .db import writing
from .access import AuditAction, Permission, User, record, require
from .db.tables import IncomingPaymentRequest
from .errors import InputError
from .inbox import REQUEST_REF_KEY
from .outbound import OutboxRow, OutboxState, enqueue, queued
from .outbound.outbox import OUTBOX
from .runtime import Runtime

__all__ = [
    "KIND",
    "MAX_AMOUNT",
    "NO_ANSWER_AFTER",
    "RECENT_COLUMNS",
    "PaymentRequest",
    "UnansweredPrompt",
    "get_request",
    "recent_requests",
    "request_payment",
]

KIND = "incoming_payment"
MAX_AMOUNT = Decimal(250000)  # M-Pesa's limit for one payment; K2 fails anything above it
NO_ANSWER_AFTER = timedelta(minutes=2)  # M-Pesa's prompt is long gone by then
_RESULTS: Table = IncomingPaymentRequest.__table__  # type: ignore[attr-defined]
_WAITING = (OutboxState.QUEUED, OutboxState.SENDING, OutboxState.ACCEPTED, OutboxState.UNKNOWN)
_LABELS = {"phone_number": "Phone number", "amount": "Amount", "first_name": "First name"}


class UnansweredPrompt(InputError):
    """This phone already has a prompt it has not answered; sending another needs the person to say so."""

    def __init__(self, earlier: PaymentRequest) -> None:
        super().__init__(
            "phone_number",
            f"Phone number: {earlier.phone_number} has an unanswered prompt for KES {earlier.amount:,.0f}; "
            "a second prompt could be paid twice.",
        )
        self.earlier = earlier


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    """One request as stored: where it stands (`state`, K2's own word, the reason) and what was asked."""

    request_ref: str
    state: OutboxState
    k2_status: str | None
    reason: str | None
    phone_number: str | None
    first_name: str | None
    amount: Decimal
    note: str | None
    requested_at: datetime
    mpesa_reference: str | None


def request_payment(
    runtime: Runtime,
    actor: User,
    *,
    request_ref: str,
    phone_number: str,
    amount: Decimal | str,
    first_name: str | None = None,
    note: str | None = None,
    repeat_ok: bool = False,
    source: str | None = None,
) -> PaymentRequest:
    """Queue an M-Pesa prompt for whole `amount` shillings, if `actor` may ask customers to pay (`NotAllowed`);
    `InputError` names the field when the input is bad, `UnansweredPrompt` when this phone has an unanswered one
    (unless `repeat_ok`). Nothing is stored for any of these. The request and its audit entry commit together.

    The same `request_ref` again returns the request already queued, whatever was typed the second time."""
    require(actor, Permission.ASK_TO_PAY)
    engine = runtime.engine
    assert engine is not None, "the runtime is not started"
    existing = get_request(engine, request_ref)
    if existing is not None:
        return existing
    params = _checked(runtime, request_ref, phone_number, amount, (first_name or "").strip() or None)
    with writing(engine) as connection:
        if not repeat_ok:
            earlier = _unanswered(connection, params.phone_number)
            if earlier is not None:
                raise UnansweredPrompt(_request(earlier))
        if enqueue(connection, queued(
            request_ref=request_ref,
            kind=KIND,
            params=params.model_dump(mode="json", exclude={"callback_url"}, exclude_none=True),
            amount=params.amount,
            phone_number=params.phone_number,
            note=(note or "").strip() or None,
            created_by=actor.username,
        )):
            record(connection, AuditAction.MONEY_REQUESTED, actor=actor.username, target=request_ref,
                   detail={"kind": KIND, "amount": str(params.amount), "phone_number": params.phone_number},
                   source=source)
    if runtime.outbox is not None:
        runtime.outbox.wake()
    request = get_request(engine, request_ref)
    assert request is not None
    return request


def _checked(
    runtime: Runtime, request_ref: str, phone_number: str, amount: Decimal | str, first_name: str | None
) -> IncomingPaymentParams:
    """The request as K2 will get it, checked by the same rules `k2` applies; problems become `InputError`."""
    shillings = _shillings(amount)
    settings = runtime.settings
    if not settings.k2_till_number:
        raise InputError("K2_TILL_NUMBER", "K2_TILL_NUMBER is not set: the till customers pay is unknown.")
    if not runtime.callback_url:
        raise InputError("PUBLIC_BASE_URL", "PUBLIC_BASE_URL is not set: K2 could not tell us the outcome.")
    if not (phone_number or "").strip():
        raise InputError("phone_number", "Phone number: enter the customer's M-Pesa number, e.g. 0712 345 678.")
    try:
        return IncomingPaymentParams(
            till_number=settings.k2_till_number,
            phone_number=phone_number.strip(),
            amount=shillings,
            callback_url=runtime.callback_url,
            first_name=first_name,
            metadata={REQUEST_REF_KEY: request_ref},
        )
    except RequestValidationError as err:
        field = err.field.split(".")[0]
        detail = str(err).removeprefix(f"{err.field}: ")
        raise InputError(field, f"{_LABELS.get(field, field)}: {detail}") from None


def _shillings(amount: Decimal | str) -> Decimal:
    """A whole number of shillings between 1 and M-Pesa's limit: M-Pesa moves no cents."""
    if isinstance(amount, str):
        text = amount.replace(",", "").strip()
        if not text:
            raise InputError("amount", "Amount: enter how many shillings to ask for, e.g. 250.")
        try:  # "KES 250", "Ksh 250" and "250" all mean 250 shillings
            amount = Decimal(text.upper().removeprefix("KES").removeprefix("KSH").strip())
        except InvalidOperation:
            raise InputError("amount", f"Amount: {text!r} is not a number of shillings (e.g. 250).") from None
    if not amount.is_finite() or amount < 1:
        raise InputError("amount", "Amount: ask for at least KES 1.")
    if amount != amount.to_integral_value():
        raise InputError("amount", f"Amount: M-Pesa moves whole shillings; ask for {int(amount)} or "
                                   f"{int(amount) + 1}, not {amount}.")
    if amount > MAX_AMOUNT:
        raise InputError("amount", f"Amount: M-Pesa takes at most KES {MAX_AMOUNT:,} in one payment.")
    return amount.quantize(Decimal(1))


def _query() -> Select:
    return select(OUTBOX, _RESULTS.c.mpesa_reference).join(
        _RESULTS, _RESULTS.c.request_ref == OUTBOX.c.request_ref, isouter=True
    ).where(OUTBOX.c.kind == KIND)


def _unanswered(connection: Connection, phone_number: str) -> Row | None:
    since = datetime.now(UTC) - NO_ANSWER_AFTER
    return connection.execute(
        _query().where(
            OUTBOX.c.phone_number == phone_number,
            OUTBOX.c.state.in_([state.value for state in _WAITING]),
            OUTBOX.c.created_at > since,
        ).order_by(OUTBOX.c.id.desc()).limit(1)
    ).first()


def get_request(engine: Engine, request_ref: str) -> PaymentRequest | None:
    """The request with our id `request_ref`, if any."""
    with engine.connect() as connection:
        row = connection.execute(_query().where(OUTBOX.c.request_ref == request_ref)).first()
    return None if row is None else _request(row)


RECENT_COLUMNS = (
    "requested_at", "first_name", "phone_number", "amount", "state", "k2_status", "reason", "mpesa_reference",
    "note", "request_ref",
)


def recent_requests(engine: Engine, *, limit: int = 20) -> pd.DataFrame:
    """The newest requests, columns `RECENT_COLUMNS`: `requested_at` UTC, `amount` a `Decimal` KES (what was
    asked), `state` an `OutboxState`, `k2_status` and `reason` as K2 or the worker gave them."""
    with engine.connect() as connection:
        rows = connection.execute(
            _query().order_by(OUTBOX.c.created_at.desc(), OUTBOX.c.id.desc()).limit(limit)
        ).all()
    requests = [_request(row) for row in rows]
    frame = pd.DataFrame(
        [{column: getattr(request, column) for column in RECENT_COLUMNS} for request in requests],
        columns=list(RECENT_COLUMNS),
    )
    frame["requested_at"] = pd.to_datetime(frame["requested_at"], utc=True)
    return frame


def _request(row: Row) -> PaymentRequest:
    stored = OutboxRow.of(row)
    return PaymentRequest(
        request_ref=stored.request_ref,
        state=stored.state,
        k2_status=stored.k2_status,
        reason=stored.reason,
        phone_number=stored.phone_number,
        first_name=stored.params.get("first_name"),
        amount=stored.amount,
        note=stored.note,
        requested_at=stored.created_at,
        mpesa_reference=row.mpesa_reference,
    )
