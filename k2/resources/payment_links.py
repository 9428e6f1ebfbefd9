"""v2: a link a customer opens to pay a fixed amount; it can be cancelled until paid."""

from __future__ import annotations

from decimal import Decimal

from .._base import StatusResource
from ..types import PaymentLink
from ..types.notice_params import PaymentLinkParams

__all__ = ["PaymentLinks"]


class PaymentLinks(StatusResource[PaymentLink]):
    _path = "payment_links"
    _model = PaymentLink

    def create(
        self,
        *,
        till_number: str,
        amount: Decimal,
        payment_reference: str,
        callback_url: str,
        note: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> str:
        """Create a payment link for `amount` KES; returns its Location (GET it for the link itself)."""
        params = PaymentLinkParams(
            till_number=till_number,
            amount=amount,
            payment_reference=payment_reference,
            note=note,
            callback_url=callback_url,
            metadata=metadata,
        )
        return self._create(params.wire())

    def cancel(self, location: str) -> None:
        """Cancel the link at `location` (or with that id) so nobody can pay it any more."""
        url = self._client.resolve(location, collection=self._url())
        self._client.request("POST", f"{url}/cancel", json={}, idempotent=False)
