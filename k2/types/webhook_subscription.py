"""A webhook subscription as K2 stored it (note: the GET names the endpoint `webhook_uri`)."""

from __future__ import annotations

from typing import ClassVar

from ._common import OptionalText, StatusDocument

__all__ = ["WebhookSubscription"]


class WebhookSubscription(StatusDocument):
    """Which events K2 posts to which endpoint, for a till or the whole company."""

    resource_type: ClassVar[str] = "webhook_subscription"

    event_type: str | None = None
    webhook_uri: str | None = None
    scope: str | None = None
    scope_reference: OptionalText = None
    enable_daraja_payload: bool | None = None
