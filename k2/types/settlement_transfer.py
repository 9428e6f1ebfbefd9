"""v1 settlement transfer status and result (shaped like a payment, without metadata)."""

from __future__ import annotations

from typing import ClassVar

from .payment import Payment

__all__ = ["SettlementTransfer"]


class SettlementTransfer(Payment):
    """A v1 transfer to the merchant's own account; same shape as a payment, no metadata, null amount when blind."""

    resource_type: ClassVar[str] = "settlement_transfer"
