"""The merchant's own settlement accounts, as K2 stored them; transfer to them by `account_reference`."""

from __future__ import annotations

from typing import ClassVar

from ._common import OptionalText, StatusDocument

__all__ = ["MerchantBankAccount", "MerchantWallet"]


class _MerchantAccount(StatusDocument):
    """Both kinds carry a status ("Approved") and the reference transfers use."""

    account_reference: str | None = None
    nickname: OptionalText = None


class MerchantBankAccount(_MerchantAccount):
    """A bank account the merchant settles to."""

    resource_type: ClassVar[str] = "merchant_bank_account"

    account_name: OptionalText = None
    account_number: OptionalText = None
    bank_branch_ref: OptionalText = None
    settlement_method: OptionalText = None


class MerchantWallet(_MerchantAccount):
    """A mobile wallet the merchant settles to."""

    resource_type: ClassVar[str] = "merchant_wallet"

    first_name: OptionalText = None
    last_name: OptionalText = None
    phone_number: OptionalText = None
    network: OptionalText = None
