"""v2: give a received payment back to the payer."""

from __future__ import annotations

from .._base import StatusResource
from ..types import Reversal
from ..types.notice_params import ReversalParams

__all__ = ["Reversals"]


class Reversals(StatusResource[Reversal]):
    _path = "reversals"
    _model = Reversal

    def create(
        self, *, transaction_reference: str, reason: str, callback_url: str, metadata: dict[str, str] | None = None
    ) -> str:
        """Reverse the payment with M-Pesa reference `transaction_reference`; returns the Location."""
        params = ReversalParams(
            transaction_reference=transaction_reference, reason=reason, callback_url=callback_url, metadata=metadata
        )
        return self._create(params.wire())
