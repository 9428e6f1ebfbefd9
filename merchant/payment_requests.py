"""Ask a customer to pay (STK push) and follow the request to its outcome, never asking for the money twice.

Our row is written before anything is sent, so a crash or a timeout leaves a trace. A POST that got no answer is
`Unknown` and is never sent again: its result callback, matched by our `request_ref` metadata, settles it.
A request K2 accepted is `Pending` until its callback, or a status query (`refresh_pending`), settles it, both
recorded by the same code (`merchant.store`)."""
from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

import pandas as pd
from sqlalchemy import Connection, Engine, Row, Table, func, insert, select, update

from k2 import (
    APIConnectionError,
    APIStatusError,
    K2Client,
    K2Error,
    OutcomeUnknownError,
    RequestValidationError,
)
from k2.types import IncomingPaymentParams

from .config import Settings
from .errors import InputError
from .mapping import REQUEST_REF_KEY, event_key, map_event
from .money import from_cents, to_cents
from .store import Delivered, write_batch
from .tables import IncomingPaymentRequest
from .webhooks import WEBHOOK_PATH

__all__ = [
    "MAX_AMOUNT",
    "NOT_SENT",
    "PENDING",
    "RECENT_COLUMNS",
    "REJECTED",
    "REQUESTED",
    "UNKNOWN",
    "K2Client",
    "PaymentRequest",
    "open_client",
    "recent_requests",
    "refresh_pending",
    "request_payment",
    "shown_status",
]

log = logging.getLogger(__name__)

_TABLE: Table = IncomingPaymentRequest.__table__  # type: ignore[attr-defined]

# Our own statuses, before K2 has one (K2's are Pending, Success and Failed).
REQUESTED = "Requested"  # our row is written, the POST is under way (or the process died during it)
PENDING = "Pending"  # K2 accepted it (we hold its Location); the customer has the prompt
UNKNOWN = "Unknown"  # sent, no answer: it may have reached the customer; the result callback settles it
REJECTED = "Rejected"  # K2 refused it (4xx); nothing reached the customer
NOT_SENT = "Not sent"  # K2 could not be reached; nothing was sent

MAX_AMOUNT = Decimal(250000)  # M-Pesa's limit for one payment; K2 fails anything above it
NO_ANSWER_AFTER = timedelta(minutes=2)  # M-Pesa's prompt is long gone by then
_GIVE_UP_AFTER = timedelta(days=1)  # `refresh_pending` stops asking about a request this old
_NO_ANSWER_WORDS = ("did not respond", "no response", "timed out", "timeout", "cannot be reached")
_LABELS = {"phone_number": "Phone number", "amount": "Amount", "first_name": "First name"}
_SETTINGS = {"till_number": "K2_TILL_NUMBER", "callback_url": "PUBLIC_BASE_URL"}


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    """One request as stored: our `request_ref`, K2's status (or ours), and what the shop owner is shown."""

    request_ref: str | None  # None on a row a callback created (a request another system made to our till)
    status: str | None
    shown_status: str
    reason: str | None
    phone_number: str | None
    amount: Decimal | None
    requested_at: datetime | None
    k2_id: str | None


def open_client(settings: Settings) -> K2Client:
    """A K2 client for these settings (pages get one, cached, from `ui.k2_client()`)."""
    return K2Client(
        settings.k2_base_url, settings.k2_client_id, settings.k2_client_secret, api_key=settings.k2_api_key or None
    )


def request_payment(
    engine: Engine,
    client: K2Client,
    settings: Settings,
    *,
    phone_number: str,
    amount: Decimal | str,
    note: str | None = None,
    first_name: str | None = None,
) -> PaymentRequest:
    """Send the customer an M-Pesa prompt for `amount` KES; `InputError` names the field when the input is bad.

    Returns the request as stored once K2 answered: `Pending` (or already final, if its callback was quicker),
    `Unknown`, `Rejected` or `Not sent`. Nothing is stored or sent for bad input."""
    request_ref = uuid.uuid4().hex
    params = _checked(settings, request_ref, phone_number, amount, (first_name or "").strip() or None)
    cents = to_cents(params.amount)
    now = _now()
    with engine.begin() as connection:
        _refuse_repeat(connection, params, cents, now)
        connection.execute(
            insert(_TABLE).values(
                request_ref=request_ref,
                status=REQUESTED,
                metadata_json=json.dumps(params.metadata, sort_keys=True),
                amount_cents=cents,
                requested_cents=cents,
                currency=params.currency,
                phone_number=params.phone_number,
                till_number=params.till_number,
                first_name=params.first_name,
                note=(note or "").strip() or None,
                requested_at=now,
                updated_at=now,
            )
        )
    try:
        location = client.incoming_payments.create(
            till_number=params.till_number,
            phone_number=params.phone_number,
            amount=params.amount,
            callback_url=params.callback_url,
            first_name=params.first_name,
            metadata=params.metadata,
        )
    except OutcomeUnknownError:  # before APIConnectionError: it is one, but the POST was sent
        _settle(engine, request_ref, UNKNOWN, "K2 did not answer in time; the customer may have the prompt.")
    except APIConnectionError:
        _settle(engine, request_ref, NOT_SENT, "K2 could not be reached; nothing was sent.")
    except APIStatusError as err:
        if err.status_code >= 500:  # a gateway's 502/504 may have passed the request on
            _settle(engine, request_ref, UNKNOWN, f"K2 answered {err.status_code}; the customer may have the prompt.")
        else:
            _settle(engine, request_ref, REJECTED, err.error_message or f"K2 refused it ({err.status_code}).")
    except K2Error:  # accepted, but no usable Location: only the callback can settle it now
        log.exception("payment request %s: K2's answer could not be read", request_ref)
        _settle(engine, request_ref, UNKNOWN, "K2's answer could not be read; the customer may have the prompt.")
    except Exception:
        _settle(engine, request_ref, UNKNOWN, "Interrupted while sending; the customer may have the prompt.")
        raise
    else:
        _accepted(engine, request_ref, location)
    return _load(engine, request_ref)


def _checked(
    settings: Settings, request_ref: str, phone_number: str, amount: Decimal | str, first_name: str | None
) -> IncomingPaymentParams:
    """The request as K2 will get it, checked by the same rules `k2` applies; problems become `InputError`."""
    if isinstance(amount, str):
        text = amount.replace(",", "").strip()
        try:  # "KES 250", "Ksh 250" and "250" all mean 250 shillings
            amount = Decimal(text.upper().removeprefix("KES").removeprefix("KSH").strip())
        except InvalidOperation:
            raise InputError("amount", f"Amount: {text!r} is not a number of shillings (e.g. 250 or 99.50).") from None
    if isinstance(amount, Decimal) and amount.is_finite() and amount > MAX_AMOUNT:
        raise InputError("amount", f"Amount: M-Pesa takes at most KES {MAX_AMOUNT:,} in one payment.")
    if not settings.k2_till_number:
        raise InputError("K2_TILL_NUMBER", "K2_TILL_NUMBER is not set: the till customers pay is unknown.")
    if not settings.public_base_url:
        raise InputError("PUBLIC_BASE_URL", "PUBLIC_BASE_URL is not set: K2 could not tell us the outcome.")
    try:
        return IncomingPaymentParams(
            till_number=settings.k2_till_number,
            phone_number=(phone_number or "").strip(),
            amount=amount,
            callback_url=settings.public_base_url.rstrip("/") + WEBHOOK_PATH,
            first_name=first_name,
            metadata={REQUEST_REF_KEY: request_ref},
        )
    except RequestValidationError as err:
        field = err.field.split(".")[0]
        detail = str(err).removeprefix(f"{err.field}: ")
        if field in _SETTINGS:
            raise InputError(_SETTINGS[field], f"{_SETTINGS[field]}: {detail}") from None
        raise InputError(field, f"{_LABELS.get(field, field)}: {detail}") from None


def _refuse_repeat(connection: Connection, params: IncomingPaymentParams, cents: int, now: datetime) -> None:
    """`InputError` if this customer already has an unsettled prompt for this amount from the last two minutes.

    A double click, or a second tab, would otherwise send a second prompt: the customer could pay twice."""
    earlier = connection.execute(
        select(_TABLE.c.id).where(
            _TABLE.c.till_number == params.till_number,
            _TABLE.c.phone_number == params.phone_number,
            _TABLE.c.requested_cents == cents,
            _TABLE.c.status.in_((REQUESTED, PENDING, UNKNOWN)),
            _TABLE.c.requested_at > now - NO_ANSWER_AFTER,
        ).limit(1)
    ).first()
    if earlier is not None:
        raise InputError(
            "phone_number",
            f"Phone number: {params.phone_number} was just asked for KES {from_cents(cents):,} and has not "
            "answered yet; wait for that request (at most two minutes) before asking again.",
        )


def _accepted(engine: Engine, request_ref: str, location: str) -> None:
    """Record K2's Location; a callback that came first (and settled the row) is left as it is."""
    with engine.begin() as connection:
        connection.execute(
            update(_TABLE)
            .where(_TABLE.c.request_ref == request_ref, _TABLE.c.status == REQUESTED)
            .values(k2_id=location.rstrip("/").rsplit("/", 1)[-1], location=location, status=PENDING, updated_at=_now())
        )


def _settle(engine: Engine, request_ref: str, status: str, reason: str) -> None:
    """Our own outcome for a request K2 gave no Location for, unless its callback already settled it."""
    with engine.begin() as connection:
        connection.execute(
            update(_TABLE)
            .where(_TABLE.c.request_ref == request_ref, _TABLE.c.status == REQUESTED)
            .values(status=status, errors=reason, updated_at=_now())
        )


def refresh_pending(
    engine: Engine, client: K2Client, *, older_than: timedelta = timedelta(seconds=20), limit: int = 20
) -> int:
    """Ask K2 about `Pending` requests with no news for `older_than`; record the final ones; returns how many.

    A status answer is the same document the callback carries and is stored like one (same key in
    `webhook_events`, same result and money-in rows), so a callback that still comes is a duplicate.
    A request K2 still calls pending is asked about again only after another `older_than` (its `updated_at` is
    moved on), however many pages are open. Requests older than a day are left alone: K2 settles an STK push
    within minutes, so one still pending is not going to change."""
    now = _now()
    with engine.connect() as connection:
        locations = connection.execute(
            select(_TABLE.c.location)
            .where(
                _TABLE.c.status == PENDING,
                _TABLE.c.location.is_not(None),
                _TABLE.c.updated_at < now - older_than,
                func.coalesce(_TABLE.c.requested_at, _TABLE.c.updated_at) > now - _GIVE_UP_AFTER,
            )
            .order_by(_TABLE.c.updated_at)
            .limit(limit)
        ).scalars().all()
    if locations:
        _asked(engine, locations, now)
    settled: list[Delivered] = []
    for location in locations:
        try:  # the body as K2 sent it (what `webhook_events.payload` keeps), through the client's retries
            response = client.request("GET", client.resolve(location, collection=_collection(client)), idempotent=True)
            document = json.loads(response.content)
        except (K2Error, ValueError):
            log.warning("status query for a pending payment request failed", exc_info=True)
            continue
        key = event_key(document, response.content)
        received_at = _now()
        mapped = map_event(document, event_id=key.id, received_at=received_at)
        if not mapped.results or mapped.results[0].values["status"] == PENDING:
            continue
        settled.append(Delivered(key.id, key.kind, received_at, response.text, mapped))
    if settled:
        write_batch(engine, settled)
    return len(settled)


def _asked(engine: Engine, locations: Sequence[str], now: datetime) -> None:
    """Note that these pending requests were asked about now; a callback that settled one meanwhile is kept."""
    with engine.begin() as connection:
        connection.execute(
            update(_TABLE)
            .where(_TABLE.c.location.in_(list(locations)), _TABLE.c.status == PENDING)
            .values(updated_at=now)
        )


def shown_status(status: str | None, errors: str | None, age: timedelta) -> tuple[str, str | None]:
    """K2's word (or ours) as the shop owner reads it, and the reason when there is one."""
    reason = errors or None
    if status == "Success":
        return "Paid", None
    if status == "Failed":
        words = (errors or "").lower()
        if "cancel" in words:
            return "Cancelled", reason
        if any(phrase in words for phrase in _NO_ANSWER_WORDS):
            return "No answer", reason
        return "Failed", reason or "K2 gave no reason."
    if status == PENDING:
        return ("No answer yet" if age > NO_ANSWER_AFTER else "Waiting for customer"), None
    if status == REQUESTED:
        if age > NO_ANSWER_AFTER:  # the process stopped while sending
            return "Outcome unknown", "Sending was interrupted; the customer may have had the prompt."
        return "Sending", None
    if status == UNKNOWN:
        return "Outcome unknown", f"{errors or 'K2 did not answer.'} Wait for the result before asking again."
    if status == REJECTED:
        return "Rejected", reason
    if status == NOT_SENT:
        return "Not sent", reason
    return status or "Outcome unknown", reason


RECENT_COLUMNS = (
    "requested_at", "phone_number", "first_name", "amount", "shown_status", "reason", "mpesa_reference", "note",
    "status", "request_ref",
)


def recent_requests(engine: Engine, *, limit: int = 20) -> pd.DataFrame:
    """The newest payment requests, columns `RECENT_COLUMNS`: `requested_at` UTC, `amount` a `Decimal` KES
    (what was asked), `shown_status` and `reason` in the owner's words, `status` the stored one."""
    when = func.coalesce(_TABLE.c.requested_at, _TABLE.c.updated_at)
    with engine.connect() as connection:
        found = connection.execute(
            select(_TABLE, when.label("moment")).order_by(when.desc(), _TABLE.c.id.desc()).limit(limit)
        ).all()
    now = _now()
    records = []
    for row in found:
        request = _request(row, now)
        records.append(
            {
                "requested_at": request.requested_at,
                "phone_number": request.phone_number,
                "first_name": row.first_name,
                "amount": request.amount,
                "shown_status": request.shown_status,
                "reason": request.reason,
                "mpesa_reference": row.mpesa_reference,
                "note": row.note,
                "status": request.status,
                "request_ref": request.request_ref,
            }
        )
    frame = pd.DataFrame(records, columns=list(RECENT_COLUMNS))
    frame["requested_at"] = pd.to_datetime(frame["requested_at"], utc=True)
    return frame


def _load(engine: Engine, request_ref: str) -> PaymentRequest:
    with engine.connect() as connection:
        row = connection.execute(select(_TABLE).where(_TABLE.c.request_ref == request_ref)).one()
    return _request(row, _now())


def _request(row: Row, now: datetime) -> PaymentRequest:
    requested_at = row.requested_at or row.updated_at
    cents = row.requested_cents if row.requested_cents is not None else row.amount_cents
    shown, reason = shown_status(row.status, row.errors, now - requested_at if requested_at else timedelta(0))
    return PaymentRequest(
        request_ref=row.request_ref,
        status=row.status,
        shown_status=shown,
        reason=reason,
        phone_number=row.phone_number,
        amount=None if cents is None else from_cents(cents),
        requested_at=requested_at,
        k2_id=row.k2_id,
    )


def _collection(client: K2Client) -> str:
    return f"{client.base_url}/api/v1/incoming_payments"  # only for a bare id; ours are always Location URLs


def _now() -> datetime:
    return datetime.now(UTC)
