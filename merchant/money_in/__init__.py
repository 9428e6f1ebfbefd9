"""Money in, as the shop owner and the accountant read it: payments in a range, totals, shapes, exports."""
from __future__ import annotations

from .analytics import *  # noqa: F403
from .analytics import __all__ as _analytics_names
from .filters import *  # noqa: F403
from .filters import __all__ as _filter_names

__all__ = [*dict.fromkeys([*_filter_names, *_analytics_names])]
