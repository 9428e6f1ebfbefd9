"""What a v2 send_money needs: typed destinations, each with the fields its type requires."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from ._request import (
    CallbackUrl,
    Currency,
    KenyanPhone,
    KesAmount,
    Network,
    RequestMetadata,
    RequestModel,
    Text,
    TillNumber,
    links,
    present,
    refuse,
)

__all__ = [
    "MobileWalletDestination",
    "BankAccountDestination",
    "TillDestination",
    "PaybillDestination",
    "MerchantWalletDestination",
    "MerchantBankAccountDestination",
    "Destination",
    "SendMoneyParams",
]


class _Payout(RequestModel):
    """Every destination carries an exact KES amount."""

    amount: KesAmount


class _ExternalPayout(_Payout):
    """Money leaving the merchant says why; K2 can remember the destination as a favourite."""

    description: Text
    nickname: Text | None = None
    favourite: bool | None = None


class MobileWalletDestination(_ExternalPayout):
    """Pay a phone's M-Pesa wallet."""

    type: Literal["mobile_wallet"] = "mobile_wallet"
    phone_number: KenyanPhone
    network: Network = "Safaricom"


class BankAccountDestination(_ExternalPayout):
    """Pay a bank account; `bank_branch_ref` is the branch UUID from the K2 dashboard."""

    type: Literal["bank_account"] = "bank_account"
    account_name: Text
    account_number: Text
    bank_branch_ref: Text


class TillDestination(_ExternalPayout):
    """Pay a business's Buy Goods till."""

    type: Literal["till"] = "till"
    till_number: TillNumber


class PaybillDestination(_ExternalPayout):
    """Pay a paybill, with the account number the business expects."""

    type: Literal["paybill"] = "paybill"
    paybill_number: TillNumber
    paybill_account_number: Text


class MerchantWalletDestination(_Payout):
    """One of the merchant's own wallets; `reference` is its `account_reference`."""

    type: Literal["merchant_wallet"] = "merchant_wallet"
    reference: Text


class MerchantBankAccountDestination(_Payout):
    """One of the merchant's own bank accounts; `reference` is its `account_reference`."""

    type: Literal["merchant_bank_account"] = "merchant_bank_account"
    reference: Text


Destination = Annotated[
    MobileWalletDestination
    | BankAccountDestination
    | TillDestination
    | PaybillDestination
    | MerchantWalletDestination
    | MerchantBankAccountDestination,
    Field(discriminator="type"),
]


def _not_empty(destinations: list[Destination]) -> list[Destination]:
    if not destinations:
        raise refuse("needs at least one destination (an empty list would sweep the whole balance; use sweep())")
    return destinations


class SendMoneyParams(RequestModel):
    """Body of `POST /api/v2/send_money` with at least one destination (an empty list would sweep everything)."""

    destinations: Annotated[list[Destination], AfterValidator(_not_empty)]
    currency: Currency = "KES"
    source_identifier: Text | None = None
    callback_url: CallbackUrl
    metadata: RequestMetadata | None = None

    def wire(self) -> dict[str, Any]:
        flat = super().wire()
        return {
            "destinations": flat["destinations"],
            "currency": flat["currency"],
            **present(flat, "source_identifier", "metadata"),
            "_links": links(flat),
        }
