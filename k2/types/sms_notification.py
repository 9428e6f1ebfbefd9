"""v1 transaction SMS notification status and result."""

from __future__ import annotations

from typing import ClassVar

from ._common import StatusDocument

__all__ = ["SmsNotification"]


class SmsNotification(StatusDocument):
    """A v1 SMS receipt sent to the payer of a received transaction."""

    resource_type: ClassVar[str] = "transaction_sms_notification"

    message: str | None = None
    webhook_event_reference: str | None = None
