"""v2 send_money: pay several destinations in one request, or sweep the balance to own accounts."""

from __future__ import annotations

from collections.abc import Sequence

from .._base import StatusResource
from ..types import SendMoney
from ..types.send_money_params import Destination, SendMoneyParams
from ..types.transfer_params import SweepParams

__all__ = ["SendMoneyRequests"]


class SendMoneyRequests(StatusResource[SendMoney]):
    _path = "send_money"
    _model = SendMoney

    def create(
        self,
        *,
        destinations: Sequence[Destination],
        callback_url: str,
        source_identifier: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> str:
        """Pay each destination (external or the merchant's own accounts); returns the Location.

        An empty list is refused: K2 reads it as a sweep, which `sweep` asks for by name."""
        params = SendMoneyParams(
            destinations=list(destinations),
            callback_url=callback_url,
            source_identifier=source_identifier,
            metadata=metadata,
        )
        return self._create(params.wire())

    def sweep(self, *, callback_url: str, metadata: dict[str, str] | None = None) -> str:
        """Move the whole available balance to the preferred merchant accounts; returns the Location."""
        return self._create({"currency": "KES", **SweepParams(callback_url=callback_url, metadata=metadata).wire()})
