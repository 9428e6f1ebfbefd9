"""Typed K2 documents: status documents and result callbacks, webhooks, and request models."""

from __future__ import annotations

from ._common import Disbursement, K2Model, Money, StatusDocument, TransferBatch
from .b2b_transaction import B2BTransaction
from .buygoods_transaction import BuygoodsTransaction
from .card_transaction import CardTransaction
from .customer import Customer
from .daraja_event import DarajaEvent
from .incoming_payment import IncomingPayment, IncomingPaymentResource
from .m2m_transaction import M2MTransaction
from .payment import Payment
from .payment_link import PaymentLink
from .polling import Polling
from .reversal import Reversal
from .send_money import SendMoney
from .settlement_transfer import SettlementTransfer
from .settlement_transfer_completed import SettlementTransferCompleted
from .sms_notification import SmsNotification
from .webhook_event import RESOURCE_BY_TOPIC, WebhookEvent, WebhookResource

from .account_params import (
    BankAccountDetails,
    BankAccountRecipient,
    MobileWalletDetails,
    MobileWalletRecipient,
    PaybillRecipient,
    RecipientParams,
    TillRecipient,
)
from .incoming_payment_params import IncomingPaymentParams
from .merchant_account import MerchantBankAccount, MerchantWallet
from .notice_params import PaymentLinkParams, ReversalParams, SmsNotificationParams
from .pay_recipient import PayRecipient
from .payment_params import PaymentParams, RecipientType
from .send_money_params import (
    BankAccountDestination,
    Destination,
    MerchantBankAccountDestination,
    MerchantWalletDestination,
    MobileWalletDestination,
    PaybillDestination,
    SendMoneyParams,
    TillDestination,
)
from .subscription_params import EventType, PollingParams, WebhookSubscriptionParams
from .token import AccessToken, TokenInfo, TokenIntrospection
from .transfer_params import MerchantAccountType, SettlementTransferParams, SweepParams
from .webhook_subscription import WebhookSubscription

__all__ = [
    "B2BTransaction",
    "BuygoodsTransaction",
    "CardTransaction",
    "Customer",
    "DarajaEvent",
    "Disbursement",
    "IncomingPayment",
    "IncomingPaymentResource",
    "K2Model",
    "M2MTransaction",
    "Money",
    "Payment",
    "PaymentLink",
    "Polling",
    "RESOURCE_BY_TOPIC",
    "Reversal",
    "SendMoney",
    "SettlementTransfer",
    "SettlementTransferCompleted",
    "SmsNotification",
    "StatusDocument",
    "TransferBatch",
    "WebhookEvent",
    "WebhookResource",
]

# Request models and the client's own status documents (k2 client).
__all__ += [
    "AccessToken",
    "BankAccountDestination",
    "BankAccountDetails",
    "BankAccountRecipient",
    "Destination",
    "EventType",
    "IncomingPaymentParams",
    "MerchantAccountType",
    "MerchantBankAccount",
    "MerchantBankAccountDestination",
    "MerchantWallet",
    "MerchantWalletDestination",
    "MobileWalletDestination",
    "MobileWalletDetails",
    "MobileWalletRecipient",
    "PayRecipient",
    "PaybillDestination",
    "PaybillRecipient",
    "PaymentLinkParams",
    "PaymentParams",
    "PollingParams",
    "RecipientParams",
    "RecipientType",
    "ReversalParams",
    "SendMoneyParams",
    "SettlementTransferParams",
    "SmsNotificationParams",
    "SweepParams",
    "TillDestination",
    "TillRecipient",
    "TokenInfo",
    "TokenIntrospection",
    "WebhookSubscription",
    "WebhookSubscriptionParams",
]
