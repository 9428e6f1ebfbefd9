"""v1 PAY payment status and result; settlement transfers and send_money share its shape."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import Field

from ._common import ListOrNull, Money, StatusDocument, TransferBatch

__all__ = ["Payment"]


class Payment(StatusDocument):
    """A v1 PAY payment to one recipient: `Scheduled`/`Pending`, then `Processed` or `Failed`."""

    resource_type: ClassVar[str] = "payment"

    created_at: datetime | None = None
    amount: Money | None = None
    # A scheduled send_money has `transfer_batches: null` until K2 batches it.
    transfer_batches: ListOrNull[TransferBatch] = Field(default_factory=list)
