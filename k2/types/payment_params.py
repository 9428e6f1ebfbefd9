"""What a v1 PAY payment needs: a recipient reference and exact KES."""

from __future__ import annotations

from typing import Any, Literal

from ._request import CallbackUrl, Currency, KesAmount, RequestMetadata, RequestModel, Text, links, money, present

__all__ = ["PaymentParams", "RecipientType"]

RecipientType = Literal["mobile_wallet", "bank_account", "till", "paybill"]


class PaymentParams(RequestModel):
    """Body of `POST /api/v1/payments`; `destination_reference` is the recipient's `recipient_reference`."""

    destination_type: RecipientType
    destination_reference: Text
    amount: KesAmount
    currency: Currency = "KES"
    description: Text
    callback_url: CallbackUrl
    category: Text | None = None
    tags: list[Text] | None = None
    metadata: RequestMetadata | None = None

    def wire(self) -> dict[str, Any]:
        flat = super().wire()
        return {
            "destination_type": flat["destination_type"],
            "destination_reference": flat["destination_reference"],
            "amount": money(flat),
            "description": flat["description"],
            **present(flat, "category", "tags", "metadata"),
            "_links": links(flat),
        }
