"""`card_transaction_*` resource; documented only, no sample body exists."""

from __future__ import annotations

from ._common import OptionalText
from ._received import ReceivedTransaction

__all__ = ["CardTransaction"]


class CardTransaction(ReceivedTransaction):
    """A card payment (received, voided or reversed); no sample body exists, so fields are the documented ones."""

    customer_cc_number: OptionalText = None
    settled: bool | None = None
