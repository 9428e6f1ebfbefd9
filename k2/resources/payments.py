"""v1 PAY: send money to one registered recipient."""

from __future__ import annotations

from decimal import Decimal

from .._base import StatusResource
from ..types import Payment
from ..types.payment_params import PaymentParams, RecipientType

__all__ = ["Payments"]


class Payments(StatusResource[Payment]):
    _path = "payments"
    _model = Payment

    def create(
        self,
        *,
        destination_type: RecipientType,
        destination_reference: str,
        amount: Decimal,
        description: str,
        callback_url: str,
        category: str | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, str] | None = None,
    ) -> str:
        """Pay a recipient by its `recipient_reference`; never retried once sent. Returns the Location."""
        params = PaymentParams(
            destination_type=destination_type,
            destination_reference=destination_reference,
            amount=amount,
            description=description,
            callback_url=callback_url,
            category=category,
            tags=tags,
            metadata=metadata,
        )
        return self._create(params.wire())
