"""K2's status words on a request's result, by what they mean for the money: one reading for every caller."""
from __future__ import annotations

__all__ = ["FAILED", "IN_PROGRESS", "SUCCEEDED"]

IN_PROGRESS = frozenset({"Pending", "Scheduled"})  # K2 holds it; a later document will say how it ended
SUCCEEDED = frozenset({"Success", "Processed", "Transferred", "Complete", "Completed"})
FAILED = frozenset({"Failed", "Cancelled", "Canceled", "Reversed", "Expired"})
