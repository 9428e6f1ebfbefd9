"""Polling status and result: the transactions K2 found over a time range."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from pydantic import Field, field_validator

from .b2b_transaction import B2BTransaction
from .buygoods_transaction import BuygoodsTransaction
from .m2m_transaction import M2MTransaction
from ._common import StatusDocument

__all__ = ["Polling"]

# An item's `type` says which money-in resource it is, as in the webhook of the same payment; K2 documents only
# buygoods items, so any other type reads as one.
_ITEM_MODELS: dict[str, type[BuygoodsTransaction | B2BTransaction | M2MTransaction]] = {
    "Buygoods Transaction": BuygoodsTransaction,
    "External Till to Till Transaction": B2BTransaction,
    "Merchant to Merchant Transaction": M2MTransaction,
}


class Polling(StatusDocument):
    """Transactions K2 found over a time range: the way to backfill what webhooks missed."""

    resource_type: ClassVar[str] = "polling"

    from_time: datetime | None = None
    to_time: datetime | None = None
    scope: str | None = None
    scope_reference: str | None = None
    transactions: list[BuygoodsTransaction | B2BTransaction | M2MTransaction] = Field(default_factory=list)

    @field_validator("transactions", mode="before")
    @classmethod
    def _resources(cls, value: Any) -> Any:
        """Each item is `{type, resource}`; the resource is what we keep, typed by the item's `type`."""
        if value is None:
            return []
        if isinstance(value, list):
            return [_item(item) for item in value]
        return value


def _item(item: Any) -> Any:
    if not (isinstance(item, dict) and "resource" in item):
        return item
    kind = item.get("type")
    return _ITEM_MODELS.get(kind if isinstance(kind, str) else "", BuygoodsTransaction).model_validate(item["resource"])
