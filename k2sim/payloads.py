"""K2-shaped documents built from the emulator's records, keys in the order of Kopo Kopo's own fixtures.

Order matters: re-serialising verifiers (the Node SDK's `JSON.stringify(req.body)`) only agree with the
signature when the compact bytes we send keep this order.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from .models import Disbursement, Receipt, Resource

__all__ = [
    "NAIROBI",
    "dumps",
    "money_text",
    "money_number",
    "iso_ms",
    "iso_s",
    "document",
    "receipt_resource",
    "receipt_event",
    "webhook",
    "topic_of",
    "receipt_webhook",
    "daraja",
    "customer_created",
    "settlement_completed",
    "HUMAN_DESTINATION",
]

NAIROBI = timezone(timedelta(hours=3))

HUMAN_DESTINATION = {
    "mobile_wallet": "Mobile Wallet",
    "bank_account": "Bank Account",
    "till": "Till",
    "paybill": "Paybill",
    "kopo_kopo_merchant": "Kopo Kopo Merchant",
    "merchant_wallet": "Mobile Wallet",
    "merchant_bank_account": "Bank Account",
}

# (receipt kind, variant) -> topic, event.type, field order of event.resource
_RECEIPT_SHAPES: dict[tuple[str, str], tuple[str, str, tuple[str, ...]]] = {
    ("buygoods", "received"): ("buygoods_transaction_received", "Buygoods Transaction", (
        "id", "amount", "status", "system", "currency", "reference", "till_number", "sender_phone_number",
        "hashed_sender_phone", "origination_time", "sender_last_name", "sender_first_name", "sender_middle_name")),
    ("buygoods", "reversed"): ("buygoods_transaction_reversed", "Buygoods Transaction", (
        "id", "amount", "status", "system", "currency", "reference", "till_number", "origination_time",
        "sender_last_name", "sender_first_name", "sender_middle_name", "sender_phone_number", "reversal_time")),
    ("buygoods", "polled"): ("buygoods_transaction_received", "Buygoods Transaction", (
        "id", "amount", "status", "system", "currency", "reference", "till_number", "origination_time",
        "sender_last_name", "sender_first_name", "sender_middle_name", "sender_phone_number")),
    ("b2b", "received"): ("b2b_transaction_received", "External Till to Till Transaction", (
        "id", "amount", "status", "system", "currency", "reference", "till_number", "sending_till",
        "origination_time")),
    ("b2b", "reversed"): ("b2b_transaction_reversed", "External Till To Till Reversal Transaction", (
        "id", "reference", "origination_time", "sending_till", "amount", "currency", "till_number", "system",
        "status")),
    ("m2m", "received"): ("m2m_transaction_received", "Merchant to Merchant Transaction", (
        "id", "amount", "status", "currency", "origination_time", "sending_merchant")),
}
_RESOURCE_LINK = {"buygoods": "financial_transaction", "b2b": "financial_transaction", "m2m": "payment_batches"}
_STATUS = {("buygoods", False): "Received", ("b2b", False): "Complete", ("m2m", False): "Received"}
_SYSTEM = {("buygoods", "received"): "Lipa Na M-PESA", ("buygoods", "reversed"): "Lipa Na M-PESA",
           ("buygoods", "polled"): "Lipa Na M-PESA", ("b2b", "received"): "Lipa Na Mpesa",
           ("b2b", "reversed"): "M-PESA"}


def dumps(document: Any) -> bytes:
    """Compact JSON, unescaped unicode: the exact bytes K2 sends and signs."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def money_text(value: Decimal) -> str:
    """An amount as K2 writes it inside resources: "100.0", "1234.5"."""
    text = format(value.normalize(), "f")
    return text if "." in text else f"{text}.0"


def money_number(value: Decimal) -> int | str:
    """An `amount.value`: a JSON integer when whole, else the exact decimal text (never a float)."""
    return int(value) if value == value.to_integral_value() else format(value.normalize(), "f")


def iso_ms(moment: datetime) -> str:
    """Nairobi time with milliseconds, as in `initiation_time`/`created_at`."""
    local = moment.astimezone(NAIROBI)
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}" + "+03:00"


def iso_s(moment: datetime) -> str:
    """Nairobi time to the second, as in `origination_time`."""
    return moment.astimezone(NAIROBI).strftime("%Y-%m-%dT%H:%M:%S+03:00")


def _envelope(resource: Resource, attributes: dict[str, Any]) -> dict[str, Any]:
    return {"data": {"id": resource.id, "type": resource.kind, "attributes": attributes}}


def _links(resource: Resource) -> dict[str, str | None]:
    return {"callback_url": resource.callback_url, "self": resource.self_url}


def _incoming_payment(resource: Resource) -> dict[str, Any]:
    receipt = resource.receipt
    event_resource = None if receipt is None else {
        "id": receipt.id, "reference": receipt.reference, "origination_time": iso_s(receipt.origination_time),
        "sender_phone_number": receipt.phone_number, "amount": money_text(receipt.amount), "currency": "KES",
        "till_number": resource.fields["till_number"], "system": "Lipa Na M-PESA", "status": "Received",
        "sender_first_name": receipt.first_name, "sender_middle_name": receipt.middle_name,
        "sender_last_name": receipt.last_name,
    }
    return {
        "initiation_time": iso_ms(resource.created_at),
        "status": resource.status,
        "event": {"type": "Incoming Payment Request", "resource": event_resource, "errors": resource.error},
        "metadata": resource.fields["metadata"],
        "_links": _links(resource),
    }


def _v1_disbursement(leg: Disbursement) -> dict[str, Any]:
    return {
        "amount": money_text(leg.amount), "status": leg.status,
        "destination_type": HUMAN_DESTINATION[leg.destination_type],
        "origination_time": leg.origination_time and iso_ms(leg.origination_time),
        "destination_reference": leg.destination_reference, "transaction_reference": leg.transaction_reference,
    }


def _v2_disbursement(leg: Disbursement) -> dict[str, Any]:
    return {
        "amount": money_text(leg.amount), "status": leg.status, "destination_type": leg.destination_type,
        "destination_reference": leg.destination_reference,
        "origination_time": leg.origination_time and iso_ms(leg.origination_time),
        "transaction_reference": leg.transaction_reference, "errors": [leg.error] if leg.error else None,
        "nickname": leg.echo.get("nickname"), "favourite": leg.echo.get("favourite"),
        "phone_number": leg.echo.get("phone_number"),
    }


def _batch_status(resource: Resource) -> str:
    statuses = {leg.status for leg in resource.disbursements}
    return statuses.pop() if len(statuses) == 1 else "Partial"


def _v1_payout(resource: Resource) -> dict[str, Any]:
    batches = None if not resource.final else [
        {"status": _batch_status(resource), "disbursements": [_v1_disbursement(leg) for leg in resource.disbursements]}
    ]
    value = resource.fields.get("amount")
    attributes: dict[str, Any] = {
        "status": resource.status,
        "created_at": iso_ms(resource.created_at),
        "amount": {"currency": "KES", "value": None if value is None else money_number(value)},
        "transfer_batches": batches,
    }
    if resource.error:
        attributes["errors"] = [resource.error]
    if resource.kind == "payment":
        attributes["metadata"] = resource.fields["metadata"]
    attributes["_links"] = _links(resource)
    return attributes


def _send_money(resource: Resource) -> dict[str, Any]:
    batches = None if not resource.final else [{
        "status": _batch_status(resource),
        "amount": money_text(sum((leg.amount for leg in resource.disbursements), Decimal(0))),
        "disbursements": [_v2_disbursement(leg) for leg in resource.disbursements],
    }]
    return {
        "status": resource.status,
        "created_at": iso_ms(resource.created_at),
        "source_identifier": resource.fields["source_identifier"],
        "destinations": resource.fields["destinations"],
        "currency": "KES",
        "transfer_batches": batches,
        "errors": [resource.error] if resource.error else None,
        "metadata": resource.fields["metadata"],
        "_links": _links(resource),
    }


def _recipient(resource: Resource) -> dict[str, Any]:
    return {"recipient_type": HUMAN_DESTINATION[resource.fields["type"]], "status": resource.status,
            "recipient_reference": resource.id, **resource.fields["details"]}


def _merchant_bank_account(resource: Resource) -> dict[str, Any]:
    f = resource.fields
    return {"status": resource.status, "account_reference": resource.id, "bank_branch_ref": f["bank_branch_ref"],
            "account_name": f["account_name"], "account_number": f["account_number"],
            "settlement_method": f["settlement_method"], **_nickname(resource)}


def _merchant_wallet(resource: Resource) -> dict[str, Any]:
    f = resource.fields
    return {"first_name": f["first_name"], "last_name": f["last_name"], "phone_number": f["phone_number"],
            "network": f["network"], "status": resource.status, "account_reference": resource.id,
            **_nickname(resource)}


def _nickname(resource: Resource) -> dict[str, Any]:
    return {"nickname": resource.fields.get("nickname")} if resource.version == 2 else {}


def _webhook_subscription(resource: Resource) -> dict[str, Any]:
    f = resource.fields
    attributes = {"event_type": f["event_type"], "webhook_uri": f["url"], "status": resource.status,
                  "scope": f["scope"], "scope_reference": f["scope_reference"]}
    if resource.version == 2:
        attributes["enable_daraja_payload"] = f["enable_daraja_payload"]
    return attributes


def _polling(resource: Resource) -> dict[str, Any]:
    f = resource.fields
    transactions = None if resource.transactions is None else [
        receipt_event(receipt, "polled" if receipt.kind == "buygoods" else "received")
        for receipt in resource.transactions
    ]
    return {"status": resource.status, "from_time": iso_s(f["from_time"]), "to_time": iso_s(f["to_time"]),
            "transactions": transactions, "scope": f["scope"].capitalize(), "scope_reference": f["scope_reference"],
            "_links": _links(resource)}


def _sms(resource: Resource) -> dict[str, Any]:
    return {"status": resource.status, "message": resource.fields["message"],
            "webhook_event_reference": resource.fields["webhook_event_reference"], "_links": _links(resource)}


def _reversal(resource: Resource) -> dict[str, Any]:
    f = resource.fields
    return {"status": resource.status, "created_at": iso_ms(resource.created_at),
            "transaction_reference": f["transaction_reference"], "reason": f["reason"],
            "reversal_bulk_payment": resource.extra.get("reversal_bulk_payment"),
            "errors": [resource.error] if resource.error else None, "metadata": f["metadata"],
            "_links": _links(resource)}


def _payment_link(resource: Resource) -> dict[str, Any]:
    f = resource.fields
    return {"status": resource.status, "created_at": iso_ms(resource.created_at), "till_name": f["till_name"],
            "till_number": f["till_number"], "amount": money_number(f["amount"]), "currency": "KES",
            "payment_reference": f["payment_reference"], "note": f["note"],
            "payment_link": resource.extra.get("payment_link"),
            "errors": [resource.error] if resource.error else None, "metadata": f["metadata"],
            "_links": _links(resource)}


_ATTRIBUTES = {
    "incoming_payment": _incoming_payment,
    "payment": _v1_payout,
    "settlement_transfer": _v1_payout,
    "send_money": _send_money,
    "pay_recipient": _recipient,
    "external_recipient": _recipient,
    "merchant_bank_account": _merchant_bank_account,
    "merchant_wallet": _merchant_wallet,
    "webhook_subscription": _webhook_subscription,
    "polling": _polling,
    "transaction_sms_notification": _sms,
    "reversal": _reversal,
    "payment_link": _payment_link,
}


def document(resource: Resource) -> dict[str, Any]:
    """The status document: the body of GET on the Location and of the result callback."""
    return _envelope(resource, _ATTRIBUTES[resource.kind](resource))


def receipt_resource(receipt: Receipt, variant: str) -> dict[str, Any]:
    """`event.resource` of a money-in webhook or polled transaction, in the fixture's key order."""
    _, _, order = _RECEIPT_SHAPES[(receipt.kind, variant)]
    reversed_now = variant == "reversed" or (variant == "polled" and receipt.reversed)
    values = {
        "id": receipt.id,
        "amount": money_text(receipt.amount),
        "status": "Reversed" if reversed_now else _STATUS[(receipt.kind, False)],
        "system": _SYSTEM.get((receipt.kind, variant)),
        "currency": "KES",
        "reference": receipt.reference,
        "till_number": receipt.till_number,
        "sender_phone_number": receipt.phone_number,
        "hashed_sender_phone": receipt.phone_number and hashlib.sha256(receipt.phone_number.encode()).hexdigest(),
        "origination_time": iso_s(receipt.origination_time),
        "sender_first_name": receipt.first_name,
        "sender_middle_name": receipt.middle_name,
        "sender_last_name": receipt.last_name,
        "sending_till": receipt.sending_till,
        "sending_merchant": receipt.sending_merchant,
        "reversal_time": receipt.reversal_time and iso_s(receipt.reversal_time),
    }
    return {key: values[key] for key in order}


def receipt_event(receipt: Receipt, variant: str) -> dict[str, Any]:
    """`{"type", "resource"}` for a receipt: a webhook's `event` and a polling transaction."""
    return {"type": _RECEIPT_SHAPES[(receipt.kind, variant)][1], "resource": receipt_resource(receipt, variant)}


def webhook(event_id: str, topic: str, created_at: datetime, event: dict[str, Any], resource_link: str,
            base_url: str) -> dict[str, Any]:
    """The common webhook envelope."""
    return {"topic": topic, "id": event_id, "created_at": iso_s(created_at), "event": event,
            "_links": {"self": f"{base_url}/webhook_events/{event_id}", "resource": f"{base_url}/{resource_link}"}}


def topic_of(receipt: Receipt, variant: str) -> str:
    """The webhook topic of a receipt event."""
    return _RECEIPT_SHAPES[(receipt.kind, variant)][0]


def receipt_webhook(event_id: str, receipt: Receipt, variant: str, created_at: datetime) -> dict[str, Any]:
    """A money-in (or reversal) webhook for a receipt."""
    link = f"{_RESOURCE_LINK[receipt.kind]}/{receipt.id}"
    return webhook(event_id, topic_of(receipt, variant), created_at, receipt_event(receipt, variant), link,
                   receipt.base_url)


def daraja(receipt: Receipt, balance: Decimal) -> dict[str, Any]:
    """The flat Safaricom-style body sent to subscriptions with `enable_daraja_payload`."""
    return {
        "TransactionType": "Buygoods" if receipt.kind == "buygoods" else "Business Payment",
        "TransID": receipt.reference,
        "TransTime": receipt.origination_time.astimezone(NAIROBI).strftime("%Y%m%d%H%M%S"),
        "TransAmount": money_text(receipt.amount),
        "BusinessShortCode": receipt.till_number.lstrip("Kk"),
        "BillRefNumber": "",
        "InvoiceNumber": "",
        "OrgAccountBalance": money_text(balance),
        "ThirdPartyTransID": "",
        "MSISDN": receipt.phone_number or "",
        "FirstName": receipt.first_name,
        "MiddleName": receipt.middle_name,
        "LastName": receipt.last_name,
    }


def customer_created(event_id: str, customer_id: str, receipt: Receipt, created_at: datetime) -> dict[str, Any]:
    """The `customer_created` webhook for a phone number seen for the first time."""
    event = {"type": "Customer Created", "resource": {
        "last_name": receipt.last_name, "first_name": receipt.first_name, "middle_name": receipt.middle_name,
        "phone_number": receipt.phone_number}}
    return webhook(event_id, "customer_created", created_at, event, f"mobile_money_user/{customer_id}",
                   receipt.base_url)


def settlement_completed(event_id: str, resource: Resource, account: Resource, legs: list[Disbursement],
                         created_at: datetime) -> dict[str, Any]:
    """The `settlement_transfer_completed` webhook for the legs paid into one own account."""
    if account.kind == "merchant_bank_account":
        destination = {"type": "Bank Account", "resource": {
            "reference": account.id, "account_name": account.fields["account_name"],
            "account_number": account.fields["account_number"],
            "bank_branch_ref": account.fields["bank_branch_ref"],
            "settlement_method": account.fields["settlement_method"]}}
    else:
        destination = {"type": "Mobile Wallet", "resource": {
            "reference": account.id, "first_name": account.fields["first_name"],
            "last_name": account.fields["last_name"], "phone_number": account.fields["phone_number"],
            "network": account.fields["network"]}}
    event = {"type": "Settlement Transfer", "resource": {
        "id": resource.id,
        "amount": money_text(sum((leg.amount for leg in legs), Decimal(0))),
        "status": "Transferred",
        "currency": "KES",
        "destination": destination,
        "disbursements": [{"amount": money_text(leg.amount), "status": leg.status,
                           "origination_time": leg.origination_time and iso_ms(leg.origination_time),
                           "transaction_reference": leg.transaction_reference} for leg in legs],
        "origination_time": iso_ms(created_at),
    }}
    return webhook(event_id, "settlement_transfer_completed", created_at, event, f"transfer_batch/{resource.id}",
                   resource.base_url)
