"""What each K2 body means for our tables: pure functions from a parsed body to rows, no database."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from k2 import InvalidPayloadError
from k2.types import (
    B2BTransaction,
    BuygoodsTransaction,
    CardTransaction,
    Customer,
    DarajaEvent,
    IncomingPayment,
    M2MTransaction,
    Payment,
    Polling,
    SettlementTransferCompleted,
    StatusDocument,
    WebhookEvent,
)
from k2.webhooks import parse

from ..money import to_cents
from k2.phones import to_e164

__all__ = [
    "OUTCOME_FAILED",
    "OUTCOME_MAPPED",
    "OUTCOME_UNMAPPED",
    "REQUEST_REF_KEY",
    "EventKey",
    "Mapped",
    "ResultRow",
    "event_key",
    "map_event",
    "raw_key",
]

OUTCOME_MAPPED = "mapped"
OUTCOME_UNMAPPED = "unmapped"  # stored and shown, nothing in it for our tables (an unknown topic or result type)
OUTCOME_FAILED = "failed"  # stored, could not be mapped; `reprocess_failed` maps it again after a fix
REQUEST_REF_KEY = "request_ref"  # the metadata key our own requests carry, echoed back in their result callbacks

ReceivedTransaction = BuygoodsTransaction | B2BTransaction | M2MTransaction | CardTransaction
_RECEIVED_MODELS = (BuygoodsTransaction, B2BTransaction, M2MTransaction, CardTransaction)
_RECEIVED_KINDS: dict[str, str] = {
    "buygoods_transaction_received": "buygoods",
    "b2b_transaction_received": "b2b",
    "m2m_transaction_received": "m2m",
    "card_transaction_received": "card",
}
_UNDONE: dict[str, str] = {
    "buygoods_transaction_reversed": "reversed",
    "b2b_transaction_reversed": "reversed",
    "card_transaction_reversed": "reversed",
    "card_transaction_voided": "voided",
}
_POLLED_KINDS: dict[type[ReceivedTransaction], str] = {
    BuygoodsTransaction: "buygoods", B2BTransaction: "b2b", M2MTransaction: "m2m",
}
# A Daraja payload is only sent for buygoods and b2b subscriptions; these are the TransactionType values seen.
_DARAJA_KINDS: dict[str, str] = {
    "Buygoods": "buygoods",
    "Pay Bill": "buygoods",
    "Business Payment": "b2b",
    "Organization To Organization Transfer": "b2b",
}


@dataclass(frozen=True, slots=True)
class EventKey:
    """The dedup key of a delivery and its kind, derived from the body alone so a redelivery gets the same key."""

    id: str
    kind: str


def event_key(body: Mapping[str, Any], raw: bytes) -> EventKey:
    """Classic: its `id`; Daraja: `daraja:<TransID>`; results: `<type>:<id>:<status>`; else the body's hash.

    An id or kind the tables' indexes cannot hold (too long, control characters, lone surrogates) gives way to
    the body's hash and `unknown`: the delivery is still kept, and a redelivery still gets the same key."""
    topic = body.get("topic")
    if isinstance(topic, str) and isinstance(body.get("id"), str):
        return _usable_key(body["id"], topic, raw)
    daraja_type, trans_id = body.get("TransactionType"), body.get("TransID")
    if isinstance(daraja_type, str) and isinstance(trans_id, str):
        return _usable_key(f"daraja:{trans_id}", f"daraja:{daraja_type}", raw)
    data = body.get("data")
    if isinstance(data, dict) and isinstance(data.get("type"), str) and isinstance(data.get("id"), str):
        attributes = data.get("attributes")
        status = attributes.get("status") if isinstance(attributes, dict) else None
        if isinstance(status, (list, dict)):  # K2's is text; a structure has no key (and may nest too deep to print)
            return raw_key(raw, data["type"])
        return _usable_key(f"{data['type']}:{data['id']}:{status}", data["type"], raw)
    return raw_key(raw, str(topic) if isinstance(topic, str) else "unknown")


def raw_key(raw: bytes, kind: str = "unknown") -> EventKey:
    """The key of a body by its hash (`sha256:<hex>`): for bodies with no usable id, or none that can be read."""
    return EventKey(f"sha256:{hashlib.sha256(raw).hexdigest()}", kind if _usable(kind, _MAX_KIND) else "unknown")


_MAX_ID = 200  # K2's ids are UUIDs and M-Pesa receipts; an index cannot hold just any length (PostgreSQL: ~2.7 kB)
_MAX_KIND = 100


def _usable(text: str, limit: int) -> bool:
    return 0 < len(text) <= limit and text.isprintable()


def _usable_key(event_id: str, kind: str, raw: bytes) -> EventKey:
    if _usable(event_id, _MAX_ID) and _usable(kind, _MAX_KIND):
        return EventKey(event_id, kind)
    return raw_key(raw, kind)


@dataclass(frozen=True, slots=True)
class ResultRow:
    """A result callback's values for one outcome table, matched by `k2_id` or `request_ref`."""

    kind: str
    values: dict[str, Any]


@dataclass(slots=True)
class Mapped:
    """Everything one event writes; each list holds plain rows for insert-or-ignore (or upsert, for results)."""

    outcome: str = OUTCOME_UNMAPPED
    error: str | None = None
    transactions: list[dict[str, Any]] = field(default_factory=list)
    reversals: list[dict[str, Any]] = field(default_factory=list)
    customers: list[dict[str, Any]] = field(default_factory=list)
    settlements: list[dict[str, Any]] = field(default_factory=list)
    results: list[ResultRow] = field(default_factory=list)


def map_event(body: Mapping[str, Any], *, event_id: str, received_at: datetime) -> Mapped:
    """Rows for one delivered body; a body that does not parse or map is `failed`, with the reason."""
    try:
        event = parse(body)
        mapped = _map(event, event_id, received_at)
    except (InvalidPayloadError, ValueError, ArithmeticError) as err:  # ArithmeticError: decimal's own signals
        return Mapped(outcome=OUTCOME_FAILED, error=_plain(str(err)))
    except RecursionError:
        return Mapped(outcome=OUTCOME_FAILED, error="body is nested too deeply to map")
    has_rows = mapped.transactions or mapped.reversals or mapped.customers or mapped.settlements or mapped.results
    mapped.outcome = OUTCOME_MAPPED if has_rows else OUTCOME_UNMAPPED
    return mapped


_MAX_CENTS = 2**63 - 1  # what a BIGINT column holds


def _cents(amount: Decimal) -> int:
    """Integer cents of an amount K2 says moved, or `ValueError` saying plainly why it is not money: not a
    finite number, not positive, a fraction of a cent, or more cents than the database holds."""
    if not amount.is_finite():
        raise ValueError(f"amount {_shown(amount)} is not a finite number")
    if amount <= 0:
        raise ValueError(f"amount {_shown(amount)} is not positive")
    # Decided from the digits, before any arithmetic: 1e999999 * 100 overflows Decimal's context, and a product
    # of more than 28 significant digits would be rounded (a fraction of a cent quietly kept as whole cents).
    _sign, digits, exponent = amount.as_tuple()
    magnitude = amount.adjusted()  # the power of ten of its first digit
    if magnitude > 17:  # 10^18 units is 10^20 cents, past any BIGINT
        raise ValueError(f"amount {_shown(amount)} is too large to store")
    below_cent = -2 - int(exponent)  # how many of its digits are below a cent (an int: the amount is finite)
    if magnitude < -2 or (below_cent > 0 and any(digits[-below_cent:])):
        raise ValueError(f"amount {_shown(amount)} has a fraction of a cent")
    cents = to_cents(amount)  # exact here: at most 20 significant digits remain, the rest are zeros
    if cents > _MAX_CENTS:
        raise ValueError(f"amount {_shown(amount)} is too large to store")
    return cents


def _shown(amount: Decimal) -> str:
    text = str(amount)
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} characters)"


def _plain(message: str, limit: int = 500) -> str:
    """An error for the `error` column: bounded, and free of what a database refuses (NUL, lone surrogates)."""
    text = message.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
    return text if len(text) <= limit else f"{text[:limit]}..."


def _map(event: WebhookEvent | DarajaEvent | StatusDocument, event_id: str, received_at: datetime) -> Mapped:
    mapped = Mapped()
    if isinstance(event, WebhookEvent):
        _map_webhook(event, event_id, received_at, mapped)
    elif isinstance(event, DarajaEvent):
        _map_daraja(event, event_id, received_at, mapped)
    elif isinstance(event, Polling):
        for resource in event.transactions:
            _add_received(mapped, resource, _POLLED_KINDS[type(resource)], event_id, received_at)
            if resource.status == "Reversed":  # both its webhooks may have been missed: it must not count as takings
                _add_undone(mapped, resource, "reversed", event_id)
    elif event.type in _RESULT_KINDS:
        _map_result(event, event_id, received_at, mapped)
    return mapped


def _map_webhook(event: WebhookEvent, event_id: str, received_at: datetime, mapped: Mapped) -> None:
    resource = event.resource
    if isinstance(resource, _RECEIVED_MODELS) and event.topic in _RECEIVED_KINDS:
        _add_received(mapped, resource, _RECEIVED_KINDS[event.topic], event_id, received_at)
    elif isinstance(resource, _RECEIVED_MODELS) and event.topic in _UNDONE:
        _add_undone(mapped, resource, _UNDONE[event.topic], event_id)
    elif isinstance(resource, Customer):
        _add_customer(
            mapped, to_e164(resource.phone_number), resource.first_name, resource.middle_name, resource.last_name,
            event_id, received_at,
        )
    elif isinstance(resource, SettlementTransferCompleted):
        mapped.settlements.append(
            {
                "id": resource.id or event_id,
                "amount_cents": _cents(resource.amount),
                "currency": resource.currency,
                "status": resource.status,
                "destination_type": resource.destination_type,
                "destination_reference": resource.destination_reference,
                "occurred_at": resource.origination_time,
                "event_id": event_id,
            }
        )


def _add_undone(mapped: Mapped, resource: ReceivedTransaction, status: str, event_id: str) -> None:
    mapped.reversals.append(
        {
            "reference": _reference(resource),
            "status": status,
            "reversed_at": resource.reversal_time or resource.origination_time,
            "event_id": event_id,
        }
    )


def _map_daraja(event: DarajaEvent, event_id: str, received_at: datetime, mapped: Mapped) -> None:
    phone = to_e164(event.msisdn)
    mapped.transactions.append(
        _transaction(
            reference=event.trans_id,
            kind=_DARAJA_KINDS.get(event.transaction_type, "other"),
            till_number=event.business_short_code,
            amount_cents=_cents(event.amount),
            currency="KES",
            occurred_at=event.trans_time,
            sender_phone=phone,
            sender_phone_hash=None if phone else event.msisdn,
            sender_first_name=event.first_name,
            sender_middle_name=event.middle_name,
            sender_last_name=event.last_name,
            event_id=event_id,
            recorded_at=received_at,
        )
    )
    _add_customer(mapped, phone, event.first_name, event.middle_name, event.last_name, event_id, received_at)


def _transaction(
    *,
    reference: str,
    kind: str,
    till_number: str | None,
    amount_cents: int,
    currency: str,
    occurred_at: datetime,
    event_id: str,
    recorded_at: datetime,
    sender_phone: str | None = None,
    sender_phone_hash: str | None = None,
    sender_first_name: str | None = None,
    sender_middle_name: str | None = None,
    sender_last_name: str | None = None,
    sender_till: str | None = None,
    sender_merchant: str | None = None,
    resource_id: str | None = None,
) -> dict[str, Any]:
    """A `transactions` row with every column present, so one executemany statement writes a whole batch."""
    return {
        "reference": reference,
        "kind": kind,
        "till_number": till_number,
        "amount_cents": amount_cents,
        "currency": currency,
        "status": "received",
        "occurred_at": occurred_at,
        "sender_phone": sender_phone,
        "sender_phone_hash": sender_phone_hash,
        "sender_first_name": sender_first_name,
        "sender_middle_name": sender_middle_name,
        "sender_last_name": sender_last_name,
        "sender_till": sender_till,
        "sender_merchant": sender_merchant,
        "resource_id": resource_id,
        "reversed_at": None,
        "event_id": event_id,
        "recorded_at": recorded_at,
    }


def _reference(resource: ReceivedTransaction) -> str:
    reference = resource.reference or resource.id
    if not reference:
        raise ValueError("event.resource: neither reference nor id")
    return reference


def _add_received(
    mapped: Mapped, resource: ReceivedTransaction, kind: str, event_id: str, received_at: datetime
) -> None:
    phone = to_e164(resource.sender_phone_number)
    mapped.transactions.append(
        _transaction(
            reference=_reference(resource),
            kind=kind,
            till_number=resource.till_number,
            amount_cents=_cents(resource.amount),
            currency=resource.currency,
            occurred_at=resource.origination_time,
            sender_phone=phone,
            sender_phone_hash=resource.hashed_sender_phone,
            sender_first_name=resource.sender_first_name,
            sender_middle_name=resource.sender_middle_name,
            sender_last_name=resource.sender_last_name,
            sender_till=resource.sending_till if isinstance(resource, B2BTransaction) else None,
            sender_merchant=resource.sending_merchant if isinstance(resource, M2MTransaction) else None,
            resource_id=resource.id,
            event_id=event_id,
            recorded_at=received_at,
        )
    )
    _add_customer(
        mapped, phone, resource.sender_first_name, resource.sender_middle_name, resource.sender_last_name,
        event_id, received_at,
    )


def _add_customer(
    mapped: Mapped,
    phone: str | None,
    first_name: str | None,
    middle_name: str | None,
    last_name: str | None,
    event_id: str,
    received_at: datetime,
) -> None:
    """A payer becomes a customer when K2 gives a real phone number (never for a hashed one)."""
    if phone is None:
        return
    mapped.customers.append(
        {
            "phone_number": phone,
            "first_name": first_name,
            "middle_name": middle_name,
            "last_name": last_name,
            "first_seen_at": received_at,
            "event_id": event_id,
        }
    )


_RESULT_KINDS = frozenset({"incoming_payment", "payment", "settlement_transfer", "send_money"})


def _map_result(document: StatusDocument, event_id: str, received_at: datetime, mapped: Mapped) -> None:
    values: dict[str, Any] = {
        "k2_id": document.id,
        "location": document.self_url,
        "request_ref": document.metadata.get(REQUEST_REF_KEY),
        "status": document.status,
        "errors": "; ".join(document.errors) or None,
        "metadata_json": json.dumps(document.metadata, sort_keys=True) if document.metadata else None,
        "result_event_id": event_id,
        "updated_at": received_at,
    }
    if isinstance(document, IncomingPayment):
        resource = document.resource
        if resource is not None:
            values |= {
                "amount_cents": _cents(resource.amount),
                "currency": resource.currency,
                "phone_number": to_e164(resource.sender_phone_number),
                "till_number": resource.till_number,
                "mpesa_reference": resource.reference,
            }
            if resource.reference and resource.origination_time:
                # A paid STK push is money in like any till payment; a buygoods webhook for it is the same row.
                paid = BuygoodsTransaction.model_validate(resource.model_dump())
                _add_received(mapped, paid, "buygoods", event_id, received_at)
    elif isinstance(document, Payment):
        amount = document.amount
        if amount is not None and amount.value is not None:
            values |= {"amount_cents": _cents(amount.value), "currency": amount.currency}
        values["disbursements_json"] = json.dumps(
            [
                disbursement.model_dump(mode="json")
                for batch in document.transfer_batches
                for disbursement in batch.disbursements
            ]
        )
    mapped.results.append(ResultRow(document.type, values))
