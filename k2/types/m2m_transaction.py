"""`m2m_transaction_received` resource: another Kopo Kopo merchant paid us."""

from __future__ import annotations

from ._common import OptionalText
from ._received import ReceivedTransaction

__all__ = ["M2MTransaction"]


class M2MTransaction(ReceivedTransaction):
    """Another Kopo Kopo merchant paid us; K2 gives no M-Pesa reference, only the resource id."""

    sending_merchant: OptionalText = None
