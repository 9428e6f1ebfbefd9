"""STK push: ask a customer to pay from their phone, then follow the request to Success or Failed."""

from __future__ import annotations

from decimal import Decimal

from .._base import StatusResource
from ..types import IncomingPayment
from ..types.incoming_payment_params import IncomingPaymentParams

__all__ = ["IncomingPayments"]


class IncomingPayments(StatusResource[IncomingPayment]):
    _path = "incoming_payments"
    _model = IncomingPayment

    def create(
        self,
        *,
        till_number: str,
        phone_number: str,
        amount: Decimal,
        callback_url: str,
        first_name: str | None = None,
        last_name: str | None = None,
        email: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> str:
        """Ask a customer to pay (STK push); returns the Location URL of the request."""
        params = IncomingPaymentParams(
            till_number=till_number,
            phone_number=phone_number,
            amount=amount,
            callback_url=callback_url,
            first_name=first_name,
            last_name=last_name,
            email=email,
            metadata=metadata,
        )
        return self._create(params.wire())
