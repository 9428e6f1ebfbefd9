"""The merchant's own settlement accounts (bank and mobile wallet), v1 and v2."""

from __future__ import annotations

from .._base import StatusResource
from ..types._request import SettlementMethod
from ..types.account_params import BankAccountDetails, MobileWalletDetails
from ..types.merchant_account import MerchantBankAccount, MerchantWallet

__all__ = ["MerchantBankAccounts", "MerchantWallets"]


class MerchantBankAccounts(StatusResource[MerchantBankAccount]):
    _path = "merchant_bank_accounts"
    _model = MerchantBankAccount

    def create(
        self,
        *,
        account_name: str,
        account_number: str,
        bank_branch_ref: str,
        settlement_method: SettlementMethod,
        nickname: str | None = None,
    ) -> str:
        """Add a bank account settlements may go to; returns the Location."""
        params = BankAccountDetails(
            account_name=account_name,
            account_number=account_number,
            bank_branch_ref=bank_branch_ref,
            settlement_method=settlement_method,
            nickname=nickname,
        )
        return self._create(params.wire())


class MerchantWallets(StatusResource[MerchantWallet]):
    _path = "merchant_wallets"
    _model = MerchantWallet

    def create(
        self,
        *,
        first_name: str,
        last_name: str,
        phone_number: str,
        network: str = "Safaricom",
        nickname: str | None = None,
    ) -> str:
        """Add a mobile wallet settlements may go to; returns the Location."""
        params = MobileWalletDetails(
            first_name=first_name, last_name=last_name, phone_number=phone_number, network=network, nickname=nickname
        )
        return self._create(params.wire())
