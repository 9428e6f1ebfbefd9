"""What the smaller v1/v2 requests need: an SMS receipt, a reversal, a payment link."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator

from ._request import (
    CallbackUrl,
    Currency,
    KesAmount,
    RequestMetadata,
    RequestModel,
    Text,
    links,
    present,
    refuse,
)

__all__ = ["SmsNotificationParams", "ReversalParams", "PaymentLinkParams"]


class SmsNotificationParams(RequestModel):
    """Body of `POST /api/v1/transaction_sms_notifications`: a receipt for one received payment."""

    webhook_event_reference: Text
    message: Text
    callback_url: CallbackUrl

    def wire(self) -> dict[str, Any]:
        flat = super().wire()
        return {**present(flat, "webhook_event_reference", "message"), "_links": links(flat)}


class ReversalParams(RequestModel):
    """Body of `POST /api/v2/reversals`: give back a received payment, by its M-Pesa reference."""

    transaction_reference: Text
    reason: Text
    callback_url: CallbackUrl
    metadata: RequestMetadata | None = None

    def wire(self) -> dict[str, Any]:
        flat = super().wire()
        return {**present(flat, "transaction_reference", "reason", "metadata"), "_links": links(flat)}


def _link_till(value: str) -> str:
    """Payment links name the receiving till, with or without the online-payments K prefix."""
    if not value.upper().removeprefix("K").isdigit():
        raise refuse(f"{value!r} is not a till number (digits, optionally after K)")
    return value.upper()


class PaymentLinkParams(RequestModel):
    """Body of `POST /api/v2/payment_links`: a link a customer opens to pay a fixed amount."""

    till_number: Annotated[str, AfterValidator(_link_till)]
    amount: KesAmount
    currency: Currency = "KES"
    payment_reference: Text
    note: Text | None = None
    callback_url: CallbackUrl
    metadata: RequestMetadata | None = None

    def wire(self) -> dict[str, Any]:
        flat = super().wire()
        return {
            **present(flat, "till_number", "currency", "amount", "payment_reference", "note", "metadata"),
            "_links": links(flat),
        }
