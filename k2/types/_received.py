"""Fields every money-in resource (buygoods, b2b, m2m, card) shares."""
from __future__ import annotations

from datetime import datetime

from ._common import Amount, K2Model, OptionalText

__all__ = ["ReceivedTransaction"]


class ReceivedTransaction(K2Model):
    """Money that reached the merchant; `reference` is the M-Pesa receipt where K2 gives one."""

    id: str | None = None
    reference: OptionalText = None
    amount: Amount
    currency: str = "KES"
    status: str
    origination_time: datetime
    till_number: OptionalText = None
    system: OptionalText = None
    sender_phone_number: OptionalText = None
    hashed_sender_phone: OptionalText = None
    sender_first_name: OptionalText = None
    sender_middle_name: OptionalText = None
    sender_last_name: OptionalText = None
    reversal_time: datetime | None = None
