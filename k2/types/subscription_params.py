"""What webhook subscriptions and polling requests need: an event or a time range, and a scope."""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import AwareDatetime, model_validator

from .._exceptions import RequestValidationError
from ._request import CallbackUrl, EventScope, RequestModel, Text, links, require_scope_reference

__all__ = ["EventType", "WebhookSubscriptionParams", "PollingParams"]

EventType = Literal[
    "buygoods_transaction_received",
    "buygoods_transaction_reversed",
    "b2b_transaction_received",
    "b2b_transaction_reversed",
    "m2m_transaction_received",
    "settlement_transfer_completed",
    "customer_created",
    "card_transaction_received",
    "card_transaction_voided",
    "card_transaction_reversed",
]
_COMPANY_ONLY = frozenset({"settlement_transfer_completed", "m2m_transaction_received", "customer_created"})
_DARAJA_CAPABLE = frozenset({"buygoods_transaction_received", "b2b_transaction_received"})


class WebhookSubscriptionParams(RequestModel):
    """Body of `POST /api/v{1,2}/webhook_subscriptions`; the wire name of the endpoint is `url`."""

    event_type: EventType
    url: CallbackUrl
    scope: EventScope
    scope_reference: Text | None = None
    enable_daraja_payload: bool | None = None

    @model_validator(mode="after")
    def _scope_fits_event(self) -> Self:
        require_scope_reference(self.scope, self.scope_reference)
        if self.scope == "till" and self.event_type in _COMPANY_ONLY:
            raise RequestValidationError("scope", f"{self.event_type} is a company-wide event; use 'company'")
        if self.enable_daraja_payload and self.event_type not in _DARAJA_CAPABLE:
            raise RequestValidationError(
                "enable_daraja_payload", "only buygoods_transaction_received and b2b_transaction_received offer it"
            )
        return self


class PollingParams(RequestModel):
    """Body of `POST /api/v{1,2}/polling`: ask K2 for every transaction in a time range."""

    scope: EventScope
    scope_reference: Text | None = None
    from_time: AwareDatetime
    to_time: AwareDatetime
    callback_url: CallbackUrl

    @model_validator(mode="after")
    def _range_and_scope(self) -> Self:
        require_scope_reference(self.scope, self.scope_reference)
        if self.from_time >= self.to_time:
            raise RequestValidationError("to_time", "must be after from_time")
        return self

    def wire(self) -> dict[str, Any]:
        flat = super().wire()
        return {
            "scope": flat["scope"],
            "scope_reference": flat.get("scope_reference", ""),
            "from_time": flat["from_time"],
            "to_time": flat["to_time"],
            "_links": links(flat),
        }
