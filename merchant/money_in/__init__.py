"""Money in, as the shop owner and the accountant read it: the shared filter here; `transactions` (pages of
payments, one in full, exports), `overview` and `backfill` are imported by name, since they reach
`merchant.access`, which itself reads Nairobi's days from here."""
from __future__ import annotations

from .filters import *  # noqa: F403
from .filters import __all__ as _filter_names

__all__ = [*_filter_names]
