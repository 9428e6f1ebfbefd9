"""One inspectable record of every API request received and every callback or webhook sent."""
from __future__ import annotations

import itertools
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

__all__ = ["RequestRecord", "DeliveryAttempt", "DeliveryRecord", "SimLog", "REDACTED"]

REDACTED = "[redacted]"
_SECRET_FIELDS = frozenset({"client_secret", "token", "access_token"})

DeliveryState = Literal["pending", "delivered", "failed", "dropped", "held"]


@dataclass
class RequestRecord:
    """One API request: what came in and how it was answered."""

    seq: int
    at: datetime
    method: str
    path: str
    body: Any
    status: int | None = None
    resource_id: str | None = None


@dataclass
class DeliveryAttempt:
    """One POST of a delivery: the HTTP status, or the connection error's name."""

    number: int
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: float


@dataclass
class DeliveryRecord:
    """One callback or webhook: the exact bytes signed and sent, and every attempt to send them."""

    id: str
    kind: Literal["callback", "webhook"]
    topic: str
    resource_id: str
    url: str
    body: bytes
    signature: str
    created_at: datetime
    state: DeliveryState = "pending"
    fault: str | None = None
    attempts: list[DeliveryAttempt] = field(default_factory=list)


class SimLog:
    """Bounded, thread-safe lists of requests and deliveries, oldest first."""

    def __init__(self, limit: int) -> None:
        self._lock = threading.Lock()
        self._seq = itertools.count(1)
        self.requests: deque[RequestRecord] = deque(maxlen=limit)
        self.deliveries: deque[DeliveryRecord] = deque(maxlen=limit)

    def request(self, at: datetime, method: str, path: str, body: Any) -> RequestRecord:
        """Start a record for an incoming request, secrets replaced."""
        record = RequestRecord(next(self._seq), at, method, path, _redact(body))
        with self._lock:
            self.requests.append(record)
        return record

    def delivery(self, record: DeliveryRecord) -> DeliveryRecord:
        """Add a delivery record."""
        with self._lock:
            self.deliveries.append(record)
        return record

    def snapshot(self) -> tuple[list[RequestRecord], list[DeliveryRecord]]:
        """Copies of both lists, safe to read while the server runs."""
        with self._lock:
            return list(self.requests), list(self.deliveries)

    def clear(self) -> None:
        """Forget everything (reset)."""
        with self._lock:
            self.requests.clear()
            self.deliveries.clear()


def _redact(body: Any) -> Any:
    if isinstance(body, dict):
        return {key: REDACTED if key in _SECRET_FIELDS else _redact(value) for key, value in body.items()}
    return body
