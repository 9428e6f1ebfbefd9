"""Ask K2 for every transaction in a time range: how missed webhooks are recovered."""

from __future__ import annotations

from datetime import datetime

from .._base import StatusResource
from ..types import Polling
from ..types._request import EventScope
from ..types.subscription_params import PollingParams

__all__ = ["PollingRequests"]


class PollingRequests(StatusResource[Polling]):
    _path = "polling"
    _model = Polling

    def create(
        self,
        *,
        scope: EventScope,
        from_time: datetime,
        to_time: datetime,
        callback_url: str,
        scope_reference: str | None = None,
    ) -> str:
        """Request the transactions between two aware datetimes; results arrive at `callback_url`."""
        params = PollingParams(
            scope=scope,
            scope_reference=scope_reference,
            from_time=from_time,
            to_time=to_time,
            callback_url=callback_url,
        )
        return self._create(params.wire())
