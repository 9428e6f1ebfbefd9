"""Account details shared by PAY recipients, v2 external recipients and the merchant's own accounts."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ._request import Email, KenyanPhone, Network, RequestModel, SettlementMethod, Text, TillNumber

__all__ = [
    "BankAccountDetails",
    "MobileWalletDetails",
    "MobileWalletRecipient",
    "BankAccountRecipient",
    "TillRecipient",
    "PaybillRecipient",
    "RecipientParams",
]


class BankAccountDetails(RequestModel):
    """A bank account; `bank_branch_ref` is the branch UUID from the K2 dashboard."""

    account_name: Text
    account_number: Text
    bank_branch_ref: Text
    settlement_method: SettlementMethod
    nickname: Text | None = None


class MobileWalletDetails(RequestModel):
    """An M-Pesa (or other network) wallet."""

    first_name: Text
    last_name: Text
    phone_number: KenyanPhone
    network: Network = "Safaricom"
    nickname: Text | None = None


class MobileWalletRecipient(MobileWalletDetails):
    """A person paid to their mobile wallet."""

    type: Literal["mobile_wallet"] = "mobile_wallet"
    email: Email | None = None


class BankAccountRecipient(BankAccountDetails):
    """A person or business paid to their bank account."""

    type: Literal["bank_account"] = "bank_account"


class TillRecipient(RequestModel):
    """A business paid to its Buy Goods till."""

    type: Literal["till"] = "till"
    till_name: Text
    till_number: TillNumber
    nickname: Text | None = None


class PaybillRecipient(RequestModel):
    """A business paid to its paybill, with the account number it expects."""

    type: Literal["paybill"] = "paybill"
    paybill_name: Text
    paybill_number: TillNumber
    paybill_account_number: Text
    nickname: Text | None = None


RecipientParams = Annotated[
    MobileWalletRecipient | BankAccountRecipient | TillRecipient | PaybillRecipient, Field(discriminator="type")
]
