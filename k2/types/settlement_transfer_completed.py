"""`settlement_transfer_completed` resource: money K2 moved to the merchant's own account."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field, model_validator

from ._common import Amount, Disbursement, K2Model, ListOrNull

__all__ = ["SettlementTransferCompleted"]


class SettlementTransferCompleted(K2Model):
    """Money left for the merchant's own bank account or wallet (`settlement_transfer_completed`)."""

    id: str | None = None
    amount: Amount
    currency: str = "KES"
    status: str
    origination_time: datetime | None = None
    destination_type: str | None = None
    destination_reference: str | None = None
    destination: dict[str, Any] = Field(default_factory=dict)
    disbursements: ListOrNull[Disbursement] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _lift_destination(cls, value: Any) -> Any:
        """`destination: {type, resource: {reference, ...}}` becomes type, reference and the raw resource."""
        if not isinstance(value, dict):
            return value
        destination = value.get("destination") or {}
        resource = destination.get("resource") or {}
        return {
            **value,
            "destination_type": destination.get("type"),
            "destination_reference": resource.get("reference"),
            "destination": resource,
        }
