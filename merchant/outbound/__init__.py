"""The outbox: every request that moves money is written here before it is sent, sent once by one worker, and
settled from K2's result callback or a status query."""
from __future__ import annotations

from .outbox import OutboxRow, approve, decline, enqueue, enqueue_all, find, queued
from .states import FINAL, NOT_PAID, OPEN, TRANSITIONS, OutboxState, state_for_k2_status
from .worker import OutboxWorker

__all__ = [
    "FINAL",
    "NOT_PAID",
    "OPEN",
    "TRANSITIONS",
    "OutboxRow",
    "OutboxState",
    "OutboxWorker",
    "approve",
    "decline",
    "enqueue",
    "enqueue_all",
    "find",
    "queued",
    "state_for_k2_status",
]
