"""The webhook inbox: the signed route, the ingestion thread, mapping K2's bodies to rows, idempotent writes,
and the stored count of deliveries refused before anything was stored."""
from __future__ import annotations

from .deliveries import UNREAD_COLUMNS, StoreCounts, Unread, counts, unread_counts, unread_events
from .ingest import IngestWorker
from .mapping import REQUEST_REF_KEY, event_key, map_event
from .rejections import REJECTION_COLUMNS, RejectionCounter, rejections
from .route import WEBHOOK_PATH, WebhookReceiver
from .store import Delivered, reprocess_failed, write_batch

__all__ = [
    "REJECTION_COLUMNS",
    "REQUEST_REF_KEY",
    "UNREAD_COLUMNS",
    "WEBHOOK_PATH",
    "Delivered",
    "IngestWorker",
    "RejectionCounter",
    "StoreCounts",
    "Unread",
    "WebhookReceiver",
    "counts",
    "event_key",
    "map_event",
    "rejections",
    "reprocess_failed",
    "unread_counts",
    "unread_events",
    "write_batch",
]
