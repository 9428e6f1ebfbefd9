"""Per-resource request parsing: the body of each POST checked and normalised, field by field, as K2 does."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .errors import Invalid
from .validate import amount, choice, currency, flag, get, metadata, phone, text, till, timestamp, url

__all__ = ["PARSERS", "EVENT_TYPES", "COMPANY_EVENTS", "DARAJA_EVENTS", "recipient_identifier"]

Parser = Callable[[dict[str, Any], int], dict[str, Any]]

_CHANNELS = {name: "M-PESA STK Push" for name in ("m-pesa stk push", "mpesa stk push", "m-pesa", "mpesa", "stk push")}
_METHODS = {"eft": "EFT", "rts": "RTS"}
_SCOPES = {"till": "till", "company": "company"}
EVENT_TYPES = (
    "buygoods_transaction_received", "buygoods_transaction_reversed", "b2b_transaction_received",
    "b2b_transaction_reversed", "m2m_transaction_received", "settlement_transfer_completed", "customer_created",
    "card_transaction_received", "card_transaction_voided", "card_transaction_reversed",
)
COMPANY_EVENTS = frozenset({"settlement_transfer_completed", "m2m_transaction_received", "customer_created"})
DARAJA_EVENTS = frozenset({"buygoods_transaction_received", "b2b_transaction_received"})

# recipient type -> (field, reader) in the order K2 echoes them; the first phone/account/till drives the rules
_RECIPIENT_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "mobile_wallet": (("first_name", "text"), ("last_name", "text"), ("phone_number", "phone"),
                      ("network", "network"), ("email", "optional")),
    "bank_account": (("account_name", "text"), ("account_number", "text"), ("bank_branch_ref", "text"),
                     ("settlement_method", "method")),
    "till": (("till_name", "text"), ("till_number", "till")),
    "paybill": (("paybill_name", "text"), ("paybill_number", "text"), ("paybill_account_number", "text")),
    "kopo_kopo_merchant": (("till_number", "till"), ("alias_name", "text")),
}
_IDENTIFIER = {"mobile_wallet": "phone_number", "bank_account": "account_number", "till": "till_number",
               "paybill": "paybill_account_number", "kopo_kopo_merchant": "till_number"}
_RECIPIENT_TYPES = {name: name for name in _RECIPIENT_FIELDS}
# send_money destinations: the inline recipient fields, without names for wallets, plus own accounts
_DESTINATION_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "mobile_wallet": (("phone_number", "phone"), ("network", "network")),
    "bank_account": _RECIPIENT_FIELDS["bank_account"][:3],
    "paybill": (("paybill_number", "text"), ("paybill_account_number", "text")),
    "till": (("till_number", "till"),),
    "merchant_wallet": (("reference", "text"),),
    "merchant_bank_account": (("reference", "text"),),
}
_DESTINATION_TYPES = {name: name for name in _DESTINATION_FIELDS}
_OWN_ACCOUNTS = {"merchant_wallet": "merchant_wallet", "merchant_bank_account": "merchant_bank_account"}


def _read(data: Mapping[str, Any], path: str, reader: str) -> Any:
    if reader == "phone":
        return phone(data, path)
    if reader == "till":
        return till(data, path)
    if reader == "method":
        return choice(data, path, _METHODS)
    if reader == "network":
        return text(data, path, required=False) or "Safaricom"
    return text(data, path, required=reader == "text")


def _fields(data: Mapping[str, Any], prefix: str, spec: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    return {name: _read(data, f"{prefix}{name}", reader) for name, reader in spec}


def recipient_identifier(kind: str, details: Mapping[str, Any]) -> str | None:
    """The phone, account, till or paybill account number whose suffix drives the forcing rules."""
    return details.get(_IDENTIFIER.get(kind, "reference"))


def _incoming_payment(body: dict[str, Any], version: int) -> dict[str, Any]:
    return {
        "payment_channel": choice(body, "payment_channel", _CHANNELS, required=False) or "M-PESA STK Push",
        "till_number": till(body, "till_number"),
        "phone_number": phone(body, "subscriber.phone_number"),
        "first_name": text(body, "subscriber.first_name", required=False),
        "middle_name": text(body, "subscriber.middle_name", required=False),
        "last_name": text(body, "subscriber.last_name", required=False),
        "email": text(body, "subscriber.email", required=False),
        "amount": amount(body, "amount.value"),
        "currency": currency(body, "amount.currency"),
        "metadata": metadata(body),
        "callback_url": url(body, "_links.callback_url"),
    }


def _recipient(body: dict[str, Any], version: int) -> dict[str, Any]:
    kind = choice(body, "type", _RECIPIENT_TYPES)
    wrapper = "pay_recipient" if version == 1 else "external_recipient"
    get(body, wrapper)
    details = _fields(body, f"{wrapper}.", _RECIPIENT_FIELDS[kind])
    if version == 2:
        details["nickname"] = text(body, f"{wrapper}.nickname", required=False)
    return {"type": kind, "details": details}


def _payment(body: dict[str, Any], version: int) -> dict[str, Any]:
    tags = body.get("tags")
    if tags is not None and not (isinstance(tags, list) and all(isinstance(tag, str) for tag in tags)):
        raise Invalid("tags", "must be a list of strings")
    return {
        "destination_type": choice(body, "destination_type", _RECIPIENT_TYPES),
        "destination_reference": text(body, "destination_reference"),
        "amount": amount(body, "amount.value"),
        "currency": currency(body, "amount.currency"),
        "description": text(body, "description"),
        "category": text(body, "category", required=False),
        "tags": tags,
        "metadata": metadata(body),
        "callback_url": url(body, "_links.callback_url"),
    }


def _destination(item: Any, index: int) -> dict[str, Any]:
    prefix = f"destinations[{index}]."
    if not isinstance(item, Mapping):
        raise Invalid(f"destinations[{index}]", "must be an object")
    try:
        kind = choice(item, "type", _DESTINATION_TYPES)
        details = _fields(item, "", _DESTINATION_FIELDS[kind])
        value = amount(item, "amount")
        description = text(item, "description", required=kind not in _OWN_ACCOUNTS)
    except Invalid as err:
        raise err.within(prefix) from None
    favourite = item.get("favourite")
    return {"type": kind, "details": details, "amount": value, "description": description,
            "nickname": item.get("nickname"), "favourite": favourite if isinstance(favourite, bool) else None}


def _send_money(body: dict[str, Any], version: int) -> dict[str, Any]:
    raw = body.get("destinations")
    if raw is not None and not isinstance(raw, list):
        raise Invalid("destinations", "must be a list")
    return {
        "destinations": raw or None,
        "legs": [_destination(item, index) for index, item in enumerate(raw or [])],
        "source_identifier": text(body, "source_identifier", required=False),
        "currency": currency(body, "currency"),
        "metadata": metadata(body),
        "callback_url": url(body, "_links.callback_url"),
    }


def _merchant_bank_account(body: dict[str, Any], version: int) -> dict[str, Any]:
    fields = _fields(body, "", _RECIPIENT_FIELDS["bank_account"])
    fields["nickname"] = text(body, "nickname", required=False)
    return fields


def _merchant_wallet(body: dict[str, Any], version: int) -> dict[str, Any]:
    fields = _fields(body, "", _RECIPIENT_FIELDS["mobile_wallet"][:4])
    fields["nickname"] = text(body, "nickname", required=False)
    return fields


def _settlement_transfer(body: dict[str, Any], version: int) -> dict[str, Any]:
    destination_type = choice(body, "destination_type", _OWN_ACCOUNTS, required=False)
    value = get(body, "amount.value", required=False)
    return {
        "destination_type": destination_type,
        "destination_reference": text(body, "destination_reference", required=destination_type is not None),
        "amount": None if value is None else amount(body, "amount.value"),
        "currency": currency(body, "amount.currency"),
        "metadata": metadata(body),
        "callback_url": url(body, "_links.callback_url"),
    }


def _webhook_subscription(body: dict[str, Any], version: int) -> dict[str, Any]:
    event_type = choice(body, "event_type", {name: name for name in EVENT_TYPES})
    scope = choice(body, "scope", _SCOPES)
    if scope == "till" and event_type in COMPANY_EVENTS:
        raise Invalid("scope", f"{event_type} is a company event; use scope company")
    daraja = flag(body, "enable_daraja_payload") if version == 2 else False
    if daraja and event_type not in DARAJA_EVENTS:
        raise Invalid("enable_daraja_payload", "is only allowed for buygoods and b2b received events")
    return {
        "event_type": event_type,
        "url": url(body, "webhook_uri" if body.get("url") is None and body.get("webhook_uri") else "url"),
        "scope": scope,
        "scope_reference": text(body, "scope_reference") if scope == "till" else None,
        "enable_daraja_payload": daraja,
    }


def _polling(body: dict[str, Any], version: int) -> dict[str, Any]:
    scope = choice(body, "scope", _SCOPES)
    start, end = timestamp(body, "from_time"), timestamp(body, "to_time")
    if end < start:
        raise Invalid("to_time", "must not be before from_time")
    return {
        "scope": scope,
        "scope_reference": text(body, "scope_reference") if scope == "till" else None,
        "from_time": start,
        "to_time": end,
        "callback_url": url(body, "_links.callback_url"),
    }


def _sms(body: dict[str, Any], version: int) -> dict[str, Any]:
    return {
        "webhook_event_reference": text(body, "webhook_event_reference"),
        "message": text(body, "message"),
        "callback_url": url(body, "_links.callback_url"),
    }


def _reversal(body: dict[str, Any], version: int) -> dict[str, Any]:
    return {
        "transaction_reference": text(body, "transaction_reference"),
        "reason": text(body, "reason", required=False),
        "metadata": metadata(body),
        "callback_url": url(body, "_links.callback_url"),
    }


def _payment_link(body: dict[str, Any], version: int) -> dict[str, Any]:
    return {
        "till_number": till(body, "till_number"),
        "currency": currency(body, "currency"),
        "amount": amount(body, "amount"),
        "payment_reference": text(body, "payment_reference", required=False),
        "note": text(body, "note", required=False),
        "metadata": metadata(body),
        "callback_url": url(body, "_links.callback_url"),
    }


PARSERS: dict[str, Parser] = {
    "incoming_payment": _incoming_payment,
    "pay_recipient": _recipient,
    "external_recipient": _recipient,
    "payment": _payment,
    "send_money": _send_money,
    "merchant_bank_account": _merchant_bank_account,
    "merchant_wallet": _merchant_wallet,
    "settlement_transfer": _settlement_transfer,
    "webhook_subscription": _webhook_subscription,
    "polling": _polling,
    "transaction_sms_notification": _sms,
    "reversal": _reversal,
    "payment_link": _payment_link,
}
