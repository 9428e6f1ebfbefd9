"""Classic K2 webhooks (`topic`, `event.resource`): the resource typed by topic, unknown topics kept raw."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pydantic
from pydantic import Field, model_validator

from ._common import K2Model, describe_error
from .b2b_transaction import B2BTransaction
from .buygoods_transaction import BuygoodsTransaction
from .card_transaction import CardTransaction
from .customer import Customer
from .m2m_transaction import M2MTransaction
from .settlement_transfer_completed import SettlementTransferCompleted

__all__ = ["WebhookEvent", "WebhookResource", "RESOURCE_BY_TOPIC"]

WebhookResource = (
    BuygoodsTransaction
    | B2BTransaction
    | M2MTransaction
    | CardTransaction
    | SettlementTransferCompleted
    | Customer
)

RESOURCE_BY_TOPIC: dict[str, type[K2Model]] = {
    "buygoods_transaction_received": BuygoodsTransaction,
    "buygoods_transaction_reversed": BuygoodsTransaction,
    "b2b_transaction_received": B2BTransaction,
    "b2b_transaction_reversed": B2BTransaction,
    "m2m_transaction_received": M2MTransaction,
    "card_transaction_received": CardTransaction,
    "card_transaction_voided": CardTransaction,
    "card_transaction_reversed": CardTransaction,
    "settlement_transfer_completed": SettlementTransferCompleted,
    "customer_created": Customer,
}


class WebhookEvent(K2Model):
    """A classic K2 webhook (`topic`, `id`, `event.resource`); unknown topics keep `raw_resource` and no `resource`."""

    id: str
    topic: str
    created_at: datetime
    event_type: str | None = None
    resource: WebhookResource | None = None
    raw_resource: dict[str, Any] | None = None
    links: dict[str, str] = Field(default_factory=dict)

    @property
    def is_known_topic(self) -> bool:
        return self.topic in RESOURCE_BY_TOPIC

    @model_validator(mode="before")
    @classmethod
    def _unwrap(cls, value: Any) -> Any:
        if not isinstance(value, dict) or "event" not in value:
            return value
        event = value.get("event")
        if not isinstance(event, dict):
            raise ValueError("event must be an object")
        raw_resource = event.get("resource")
        if raw_resource is not None and not isinstance(raw_resource, dict):
            raise ValueError("event.resource must be an object or null")
        model = RESOURCE_BY_TOPIC.get(str(value.get("topic")))
        resource = None
        if model is not None and raw_resource is not None:
            try:
                resource = model.model_validate(raw_resource)
            except pydantic.ValidationError as err:
                raise ValueError(describe_error(err, within="event.resource")) from None
        links = value.get("_links") or {}
        return {
            "id": value.get("id"),
            "topic": value.get("topic"),
            "created_at": value.get("created_at"),
            "event_type": event.get("type"),
            "resource": resource,
            "raw_resource": raw_resource,
            "links": {str(k): str(v) for k, v in links.items() if v is not None},
        }
