"""The v2 API under `client.v2`: send_money, external recipients, reversals, payment links, and v2 paths."""

from __future__ import annotations

from functools import cached_property

from .._base import BaseClient
from .incoming_payments import IncomingPayments
from .merchant_accounts import MerchantBankAccounts, MerchantWallets
from .pay_recipients import ExternalRecipients
from .payment_links import PaymentLinks
from .polling import PollingRequests
from .reversals import Reversals
from .send_money import SendMoneyRequests
from .webhook_subscriptions import WebhookSubscriptions

__all__ = ["V2"]


class V2:
    """Resources at `/api/v2/`; they share the client's pool, token and retry rules."""

    def __init__(self, client: BaseClient) -> None:
        self._client = client

    def __repr__(self) -> str:
        return "<V2>"

    @cached_property
    def send_money(self) -> SendMoneyRequests:
        return SendMoneyRequests(self._client, version="v2")

    @cached_property
    def external_recipients(self) -> ExternalRecipients:
        return ExternalRecipients(self._client, version="v2")

    @cached_property
    def reversals(self) -> Reversals:
        return Reversals(self._client, version="v2")

    @cached_property
    def payment_links(self) -> PaymentLinks:
        return PaymentLinks(self._client, version="v2")

    @cached_property
    def incoming_payments(self) -> IncomingPayments:
        return IncomingPayments(self._client, version="v2")

    @cached_property
    def webhook_subscriptions(self) -> WebhookSubscriptions:
        return WebhookSubscriptions(self._client, version="v2")

    @cached_property
    def polling(self) -> PollingRequests:
        return PollingRequests(self._client, version="v2")

    @cached_property
    def merchant_bank_accounts(self) -> MerchantBankAccounts:
        return MerchantBankAccounts(self._client, version="v2")

    @cached_property
    def merchant_wallets(self) -> MerchantWallets:
        return MerchantWallets(self._client, version="v2")
