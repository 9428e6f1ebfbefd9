from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from pydantic import Field, field_validator

from ._common import Money, StatusDocument, TransferBatch

__all__ = ["Payment"]


class Payment(StatusDocument):
    """A v1 PAY payment to one recipient: `Scheduled`/`Pending`, then `Processed` or `Failed`."""

    resource_type: ClassVar[str] = "payment"

    created_at: datetime | None = None
    amount: Money | None = None
    transfer_batches: list[TransferBatch] = Field(default_factory=list)

    @field_validator("transfer_batches", mode="before")
    @classmethod
    def _null_batches(cls, value: Any) -> Any:
        """A scheduled send_money has `transfer_batches: null` until K2 batches it."""
        return [] if value is None else value
