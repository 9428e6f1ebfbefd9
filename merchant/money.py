"""The one place money crosses between `Decimal` (Python) and integer cents (database)."""
from __future__ import annotations

from decimal import Decimal

__all__ = ["from_cents", "to_cents"]

_CENT = Decimal("0.01")


def to_cents(amount: Decimal) -> int:
    """Exact cents for a K2 amount; a fraction of a cent is an error, never rounded away."""
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise ValueError(f"amount {amount} has a fraction of a cent")
    return int(cents)


def from_cents(cents: int) -> Decimal:
    """The `Decimal` amount for stored cents, with two places."""
    return (Decimal(cents) / 100).quantize(_CENT)
