"""Who paid, in words: shared by Transactions and the Overview's top payers (apart, so neither imports the other
for it)."""
from __future__ import annotations

__all__ = ["payer_name"]


def payer_name(first: str | None, middle: str | None, last: str | None, merchant: str | None,
               till: str | None) -> str | None:
    """Who paid: the person's names, else the paying merchant (m2m), else `Till <number>` (b2b)."""
    name = " ".join(part.strip() for part in (first, middle, last) if part and part.strip())
    return name or merchant or (f"Till {till}" if till else None)
