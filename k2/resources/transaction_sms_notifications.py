"""v1: text the payer a receipt for a received payment."""

from __future__ import annotations

from .._base import StatusResource
from ..types import SmsNotification
from ..types.notice_params import SmsNotificationParams

__all__ = ["TransactionSmsNotifications"]


class TransactionSmsNotifications(StatusResource[SmsNotification]):
    _path = "transaction_sms_notifications"
    _model = SmsNotification

    def create(self, *, webhook_event_reference: str, message: str, callback_url: str) -> str:
        """Send `message` to the payer of the webhook event `webhook_event_reference`; returns the Location."""
        params = SmsNotificationParams(
            webhook_event_reference=webhook_event_reference, message=message, callback_url=callback_url
        )
        return self._create(params.wire())
