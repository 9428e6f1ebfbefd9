"""`buygoods_transaction_received`/`_reversed` resource, also the items of a polling result."""

from __future__ import annotations

from ._received import ReceivedTransaction

__all__ = ["BuygoodsTransaction"]


class BuygoodsTransaction(ReceivedTransaction):
    """A customer paid the till (Lipa Na M-PESA), or that payment was reversed."""
