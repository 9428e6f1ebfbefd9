"""The application: settings, database, webhook ingestion and the reads pages need (never Streamlit)."""
from __future__ import annotations

from .config import Settings, load_settings, use_settings
from .db import make_engine, open_database, upgrade
from .money import from_cents, to_cents
from .phones import to_e164
from .deliveries import UNREAD_COLUMNS, StoreCounts, counts, unread_events
from .store import reprocess_failed
from .errors import InputError
from .payment_requests import (
    RECENT_COLUMNS,
    PaymentRequest,
    open_client,
    recent_requests,
    refresh_pending,
    request_payment,
)

__all__ = [
    "RECENT_COLUMNS",
    "UNREAD_COLUMNS",
    "InputError",
    "PaymentRequest",
    "Settings",
    "StoreCounts",
    "counts",
    "from_cents",
    "load_settings",
    "make_engine",
    "open_client",
    "open_database",
    "recent_requests",
    "refresh_pending",
    "reprocess_failed",
    "request_payment",
    "to_cents",
    "to_e164",
    "unread_events",
    "upgrade",
    "use_settings",
]
