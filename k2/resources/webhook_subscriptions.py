"""Tell K2 where to post events (buygoods received, settlement completed, ...)."""

from __future__ import annotations

from .._base import StatusResource
from .._exceptions import RequestValidationError
from ..types._request import EventScope
from ..types.subscription_params import EventType, WebhookSubscriptionParams
from ..types.webhook_subscription import WebhookSubscription

__all__ = ["WebhookSubscriptions"]


class WebhookSubscriptions(StatusResource[WebhookSubscription]):
    _path = "webhook_subscriptions"
    _model = WebhookSubscription

    def create(
        self,
        *,
        event_type: EventType,
        url: str,
        scope: EventScope,
        scope_reference: str | None = None,
        enable_daraja_payload: bool | None = None,
    ) -> str:
        """Subscribe `url` to `event_type`; `scope_reference` is the till for a till scope. Returns the Location."""
        if enable_daraja_payload is not None and self._version == "v1":
            raise RequestValidationError("enable_daraja_payload", "is v2 only: use client.v2.webhook_subscriptions")
        params = WebhookSubscriptionParams(
            event_type=event_type,
            url=url,
            scope=scope,
            scope_reference=scope_reference,
            enable_daraja_payload=enable_daraja_payload,
        )
        return self._create(params.wire())
