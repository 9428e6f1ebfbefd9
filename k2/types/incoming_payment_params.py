"""What an STK push needs, checked before it reaches the customer's phone."""

from __future__ import annotations

from typing import Any

from ._request import (
    CallbackUrl,
    Currency,
    Email,
    KenyanPhone,
    KesAmount,
    OnlineTill,
    RequestMetadata,
    RequestModel,
    Text,
    links,
    money,
    present,
)

__all__ = ["IncomingPaymentParams"]


class IncomingPaymentParams(RequestModel):
    """Body of `POST /api/v{1,2}/incoming_payments`."""

    till_number: OnlineTill
    phone_number: KenyanPhone
    amount: KesAmount
    currency: Currency = "KES"
    callback_url: CallbackUrl
    first_name: Text | None = None
    last_name: Text | None = None
    email: Email | None = None
    metadata: RequestMetadata | None = None
    payment_channel: Text = "M-PESA STK Push"

    def wire(self) -> dict[str, Any]:
        flat = super().wire()
        return {
            "payment_channel": flat["payment_channel"],
            "till_number": flat["till_number"],
            "subscriber": present(flat, "first_name", "last_name", "phone_number", "email"),
            "amount": money(flat),
            **present(flat, "metadata"),
            "_links": links(flat),
        }
