"""Polling status and result: the transactions K2 found over a time range."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from pydantic import Field, field_validator

from .buygoods_transaction import BuygoodsTransaction
from ._common import StatusDocument

__all__ = ["Polling"]


class Polling(StatusDocument):
    """Transactions K2 found over a time range: the way to backfill what webhooks missed."""

    resource_type: ClassVar[str] = "polling"

    from_time: datetime | None = None
    to_time: datetime | None = None
    scope: str | None = None
    scope_reference: str | None = None
    transactions: list[BuygoodsTransaction] = Field(default_factory=list)

    @field_validator("transactions", mode="before")
    @classmethod
    def _resources(cls, value: Any) -> Any:
        """Each item is `{type, resource}`; the resource is what we keep."""
        if value is None:
            return []
        if isinstance(value, list):
            return [item.get("resource") if isinstance(item, dict) and "resource" in item else item for item in value]
        return value
