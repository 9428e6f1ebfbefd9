"""v2 send_money status and result: a payment with several destinations."""

from __future__ import annotations

from typing import Any, ClassVar

from .payment import Payment

__all__ = ["SendMoney"]


class SendMoney(Payment):
    """A v2 send_money request: several destinations (or a sweep when none), `Scheduled` then `Processed`."""

    resource_type: ClassVar[str] = "send_money"

    source_identifier: str | None = None
    currency: str | None = None
    destinations: list[dict[str, Any]] | None = None
