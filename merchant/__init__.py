"""The application: settings, database, webhook ingestion and the reads pages need (never Streamlit)."""
from __future__ import annotations

from .config import Settings, load_settings
from .db import make_engine, open_database, upgrade
from .money import from_cents, to_cents
from .phones import to_e164
from .deliveries import UNREAD_COLUMNS, StoreCounts, counts, unread_events
from .store import reprocess_failed

__all__ = [
    "UNREAD_COLUMNS",
    "Settings",
    "StoreCounts",
    "counts",
    "from_cents",
    "load_settings",
    "make_engine",
    "open_database",
    "reprocess_failed",
    "to_cents",
    "to_e164",
    "unread_events",
    "upgrade",
]
