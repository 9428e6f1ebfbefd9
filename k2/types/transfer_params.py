"""What moves the merchant's own money: v1 settlement transfers, targeted or blind (a sweep)."""

from __future__ import annotations

from typing import Any, Literal

from ._request import CallbackUrl, Currency, KesAmount, RequestMetadata, RequestModel, Text, links, money, present

__all__ = ["SettlementTransferParams", "SweepParams", "MerchantAccountType"]

MerchantAccountType = Literal["merchant_bank_account", "merchant_wallet"]


class SettlementTransferParams(RequestModel):
    """Body of a targeted `POST /api/v1/settlement_transfers`: an amount to one of the merchant's accounts."""

    amount: KesAmount
    currency: Currency = "KES"
    destination_type: MerchantAccountType
    destination_reference: Text
    callback_url: CallbackUrl
    metadata: RequestMetadata | None = None

    def wire(self) -> dict[str, Any]:
        flat = super().wire()
        return {
            "amount": money(flat),
            "destination_type": flat["destination_type"],
            "destination_reference": flat["destination_reference"],
            **present(flat, "metadata"),
            "_links": links(flat),
        }


class SweepParams(RequestModel):
    """A blind transfer: everything available goes to the preferred settlement accounts."""

    callback_url: CallbackUrl
    metadata: RequestMetadata | None = None

    def wire(self) -> dict[str, Any]:
        flat = super().wire()
        return {**present(flat, "metadata"), "_links": links(flat)}
