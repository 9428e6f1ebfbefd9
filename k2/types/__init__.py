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
