"""v2 reversal status and result."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from ._common import StatusDocument

__all__ = ["Reversal"]


class Reversal(StatusDocument):
    """A v2 reversal of a received payment: `Received`, then `Processed` or `Failed`."""

    resource_type: ClassVar[str] = "reversal"

    created_at: datetime | None = None
    transaction_reference: str | None = None
    reason: str | None = None
    reversal_bulk_payment: dict[str, Any] | None = None
