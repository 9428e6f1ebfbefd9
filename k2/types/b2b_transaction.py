"""`b2b_transaction_received`/`_reversed` resource: another business's till paid ours."""

from __future__ import annotations

from ._common import OptionalText
from ._received import ReceivedTransaction

__all__ = ["B2BTransaction"]


class B2BTransaction(ReceivedTransaction):
    """Another business's till paid ours."""

    sending_till: OptionalText = None
