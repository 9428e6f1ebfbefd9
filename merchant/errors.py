"""`InputError`: a problem the person at the keyboard can fix, named by field or row.

It lives alone, importing nothing, so every service (payment requests now, payout CSVs next) raises the same
class and a page catches that one class without importing the service that raised it, or `k2`."""
from __future__ import annotations

__all__ = ["InputError"]


class InputError(ValueError):
    """Bad input: `field` names the field or row (or the setting) to fix; the message is shown as is."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
