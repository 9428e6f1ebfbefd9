"""The emulator's records: what was asked, what happened, and what must be sent; plain data, no logic."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from .outcomes import Outcome

__all__ = ["Token", "Resource", "Disbursement", "Sender", "Receipt", "Outbound", "ReceiptKind"]

ReceiptKind = Literal["buygoods", "b2b", "m2m"]


@dataclass(frozen=True)
class Token:
    """An issued bearer token; times are epoch seconds."""

    value: str
    client_id: str
    issued_at: float
    expires_at: float


@dataclass
class Disbursement:
    """One leg of a payout or transfer: planned at acceptance, settled at resolution."""

    amount: Decimal
    destination_type: str
    destination_reference: str | None
    outcome: Outcome | None = None
    status: str = "Pending"
    transaction_reference: str | None = None
    origination_time: datetime | None = None
    error: str | None = None
    echo: dict[str, Any] = field(default_factory=dict)


@dataclass(kw_only=True)
class Sender:
    """Who paid: a customer's phone and names (buygoods), another till (b2b) or a merchant (m2m)."""

    phone_number: str | None = None
    first_name: str | None = None
    middle_name: str | None = None
    last_name: str | None = None
    sending_till: str | None = None
    sending_merchant: str | None = None


@dataclass
class Receipt(Sender):
    """Money received on a till (buygoods, b2b) or from another merchant (m2m); the sender fields are keywords."""

    id: str
    kind: ReceiptKind
    reference: str
    amount: Decimal
    till_number: str
    origination_time: datetime
    base_url: str
    reversal_time: datetime | None = None
    reversing: bool = False

    @property
    def reversed(self) -> bool:
        """Whether a reversal has completed."""
        return self.reversal_time is not None


@dataclass
class Resource:
    """Anything created by a POST and read back by GET on its Location."""

    id: str
    kind: str
    version: int
    self_url: str
    base_url: str
    created_at: datetime
    fields: dict[str, Any]
    status: str
    callback_url: str | None = None
    outcome: Outcome | None = None
    final: bool = False
    error: str | None = None
    disbursements: list[Disbursement] = field(default_factory=list)
    receipt: Receipt | None = None
    transactions: list[Receipt] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Outbound:
    """A document to POST: a result callback to `callback_url` or a webhook to a subscriber."""

    kind: Literal["callback", "webhook"]
    topic: str
    url: str
    document: dict[str, Any]
    resource_id: str
