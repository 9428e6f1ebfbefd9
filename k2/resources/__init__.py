"""Resource namespaces, one class per K2 collection; `K2Client` builds them."""

from __future__ import annotations

from .incoming_payments import IncomingPayments
from .merchant_accounts import MerchantBankAccounts, MerchantWallets
from .pay_recipients import ExternalRecipients, PayRecipients
from .payment_links import PaymentLinks
from .payments import Payments
from .polling import PollingRequests
from .reversals import Reversals
from .send_money import SendMoneyRequests
from .settlement_transfers import SettlementTransfers
from .tokens import Tokens
from .transaction_sms_notifications import TransactionSmsNotifications
from .v2 import V2
from .webhook_subscriptions import WebhookSubscriptions

__all__ = [
    "ExternalRecipients",
    "IncomingPayments",
    "MerchantBankAccounts",
    "MerchantWallets",
    "PayRecipients",
    "PaymentLinks",
    "Payments",
    "PollingRequests",
    "Reversals",
    "SendMoneyRequests",
    "SettlementTransfers",
    "Tokens",
    "TransactionSmsNotifications",
    "V2",
    "WebhookSubscriptions",
]
