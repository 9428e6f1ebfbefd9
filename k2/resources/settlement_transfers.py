"""v1 settlement transfers: move the merchant's balance to its own accounts, targeted or blind."""

from __future__ import annotations

from decimal import Decimal

from .._base import StatusResource
from ..types import SettlementTransfer
from ..types.transfer_params import MerchantAccountType, SettlementTransferParams, SweepParams

__all__ = ["SettlementTransfers"]


class SettlementTransfers(StatusResource[SettlementTransfer]):
    _path = "settlement_transfers"
    _model = SettlementTransfer

    def create(
        self,
        *,
        amount: Decimal,
        destination_type: MerchantAccountType,
        destination_reference: str,
        callback_url: str,
        metadata: dict[str, str] | None = None,
    ) -> str:
        """Transfer `amount` to one merchant account (its `account_reference`); returns the Location."""
        params = SettlementTransferParams(
            amount=amount,
            destination_type=destination_type,
            destination_reference=destination_reference,
            callback_url=callback_url,
            metadata=metadata,
        )
        return self._create(params.wire())

    def sweep(self, *, callback_url: str, metadata: dict[str, str] | None = None) -> str:
        """Blind transfer: the whole available balance to the preferred settlement accounts."""
        return self._create(SweepParams(callback_url=callback_url, metadata=metadata).wire())
