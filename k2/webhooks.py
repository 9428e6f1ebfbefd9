"""Verify and parse what K2 posts to us: webhooks and result callbacks share one signature and one entry point."""

from __future__ import annotations

import hashlib
import hmac
import json
import string
from collections.abc import Mapping
from typing import Any, cast

import pydantic

from ._exceptions import InvalidPayloadError
from .types import (
    DarajaEvent,
    IncomingPayment,
    Payment,
    PaymentLink,
    Polling,
    Reversal,
    SendMoney,
    SettlementTransfer,
    SmsNotification,
    StatusDocument,
    WebhookEvent,
)
from .types._common import describe_error

__all__ = ["Event", "SIGNATURE_HEADER", "parse", "sign", "verify_signature"]

SIGNATURE_HEADER = "X-KopoKopo-Signature"

Event = WebhookEvent | DarajaEvent | StatusDocument

_STATUS_MODELS: dict[str, type[StatusDocument]] = {
    model.resource_type: model
    for model in (
        IncomingPayment,
        Payment,
        SettlementTransfer,
        SendMoney,
        Polling,
        Reversal,
        PaymentLink,
        SmsNotification,
    )
    if model.resource_type is not None
}
_HEX = frozenset(string.hexdigits)


def sign(raw_body: bytes, api_key: str) -> str:
    """The `X-KopoKopo-Signature` K2 sends: lowercase hex HMAC-SHA256 of the exact body bytes."""
    return hmac.new(api_key.encode(), raw_body, hashlib.sha256).hexdigest()


def verify_signature(raw_body: bytes, header: str | None, api_key: str) -> bool:
    """True only when `header` is the signature of these exact bytes; never raises.

    An empty `api_key` verifies nothing: an unset key must not make forgeries cheap."""
    if not api_key or not header:
        return False
    candidate = header.strip().lower()
    if len(candidate) != 64 or not _HEX.issuperset(candidate):
        return False
    return hmac.compare_digest(sign(raw_body, api_key), candidate)


def parse(raw: bytes | str | Mapping[str, Any]) -> Event:
    """Turn a webhook or result body into its typed model; `InvalidPayloadError` says what is wrong.

    Classic webhooks carry `topic`, Daraja ones `TransactionType`, result callbacks `data.type`.
    An unknown topic or result type still parses (kept, never dropped)."""
    body = _load(raw)
    model = _model_for(body)
    try:
        return cast(Event, model.model_validate(body))
    except pydantic.ValidationError as err:
        raise InvalidPayloadError(describe_error(err)) from None


def _load(raw: bytes | str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(raw, Mapping):
        return dict(raw)
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidPayloadError(f"body is not JSON: {err}") from None
    if not isinstance(body, dict):
        raise InvalidPayloadError("body is not a JSON object")
    return body


def _model_for(body: dict[str, Any]) -> type[pydantic.BaseModel]:
    if "topic" in body:
        return WebhookEvent
    if "TransactionType" in body:
        return DarajaEvent
    data = body.get("data")
    if isinstance(data, dict) and "type" in data:
        return _STATUS_MODELS.get(str(data["type"]), StatusDocument)
    raise InvalidPayloadError(
        "body is neither a K2 webhook (topic), a Daraja payload (TransactionType) nor a result (data.type)"
    )

