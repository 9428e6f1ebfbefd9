"""v2 payment link status and result: the link, its expiry and who paid it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from ._common import OptionalAmount, StatusDocument

__all__ = ["PaymentLink"]


class PaymentLink(StatusDocument):
    """A v2 payment link; `payment_link` holds the link, its expiry and its own status (key differs by SDK)."""

    resource_type: ClassVar[str] = "payment_link"

    created_at: datetime | None = None
    till_number: str | None = None
    till_name: str | None = None
    amount: OptionalAmount = None
    currency: str | None = None
    payment_reference: str | None = None
    note: str | None = None
    payment_link: dict[str, Any] | None = None
