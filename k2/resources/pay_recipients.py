"""Who may be paid: v1 PAY recipients and their v2 successor, external recipients."""

from __future__ import annotations

from typing import ClassVar

from .._base import StatusResource
from ..types.account_params import RecipientParams
from ..types.pay_recipient import PayRecipient

__all__ = ["PayRecipients", "ExternalRecipients"]


class PayRecipients(StatusResource[PayRecipient]):
    _path = "pay_recipients"
    _model = PayRecipient
    _key: ClassVar[str] = "pay_recipient"

    def create(self, recipient: RecipientParams) -> str:
        """Register a wallet, bank account, till or paybill; returns the Location (GET it for the reference)."""
        fields = recipient.wire()
        return self._create({"type": fields.pop("type"), self._key: fields})


class ExternalRecipients(PayRecipients):
    """v2: the same recipients, under `external_recipient`."""

    _path = "external_recipients"
    _key = "external_recipient"
