"""`POST /api/k2/webhooks`: verify the raw bytes, hand the event to the ingestion thread, answer 200 once durable.

The same route runs inside the app's own server (`app.py`) and on its own (`merchant.inbox.server`)."""
from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter, deque
from dataclasses import dataclass
from datetime import datetime, timezone

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from k2.webhooks import SIGNATURE_HEADER, verify_signature

from .ingest import IngestWorker, QueueFull, Ticket
from .mapping import event_key, map_event
from .store import Delivered

__all__ = ["WEBHOOK_PATH", "Rejection", "WebhookReceiver"]

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/api/k2/webhooks"


def _json(status: int, body: bytes) -> Response:
    return Response(body, status_code=status, media_type="application/json")


@dataclass(frozen=True, slots=True)
class Rejection:
    """A delivery refused before anything was stored: when, from where, why (never its body)."""

    at: datetime
    source: str
    reason: str


class WebhookReceiver:
    """The webhook route in front of the ingestion worker; the runtime attaches the worker at start.

    Created unstarted (so a launcher can list its route before the server starts); answers 503 until started."""

    def __init__(self, *, max_body: int = 256 * 1024, wait_timeout: float = 30.0, keep_rejections: int = 200) -> None:
        self.max_body = max_body
        self.wait_timeout = wait_timeout
        self.rejected: Counter[str] = Counter()
        self.recent_rejections: deque[Rejection] = deque(maxlen=keep_rejections)
        self.worker: IngestWorker | None = None
        self._api_key = ""

    @property
    def routes(self) -> list[BaseRoute]:
        """The route to mount: `POST /api/k2/webhooks`."""
        return [Route(WEBHOOK_PATH, self.handle, methods=["POST"])]

    def attach(self, worker: IngestWorker, api_key: str) -> None:
        """Start answering: deliveries verified with `api_key` go to `worker` (the runtime calls this at start)."""
        if not api_key:
            log.error("K2_API_KEY is not set: every webhook will be rejected")
        self.worker, self._api_key = worker, api_key

    def detach(self) -> None:
        """Answer 503 again (the runtime is stopping)."""
        self.worker = None

    async def handle(self, request: Request) -> Response:
        """Size limit (413), signature over the exact bytes (401), JSON (400), then 200 only once committed."""
        worker = self.worker
        if worker is None:
            return _json(503, b'{"error":"not ready"}')
        declared = request.headers.get("content-length", "0")
        if not declared.isdigit() or int(declared) > self.max_body:
            return _json(413, b'{"error":"body too large"}')
        body = await self._read(request)
        if body is None:
            return _json(413, b'{"error":"body too large"}')
        signature = request.headers.get(SIGNATURE_HEADER)
        if not verify_signature(body, signature, self._api_key):
            self._reject(request, "missing signature" if not signature else "signature mismatch")
            return _json(401, b'{"error":"invalid signature"}')
        try:
            payload = body.decode("utf-8")
            document = json.loads(payload)
        except ValueError:  # UnicodeDecodeError and JSONDecodeError both are
            return _json(400, b'{"error":"body is not JSON"}')
        if not isinstance(document, dict):
            return _json(400, b'{"error":"body is not a JSON object"}')
        key = event_key(document, body)
        received_at = datetime.now(timezone.utc)
        delivered = Delivered(
            key.id, key.kind, received_at, payload, map_event(document, event_id=key.id, received_at=received_at)
        )
        ticket = Ticket(delivered, asyncio.get_running_loop())
        try:
            worker.submit(ticket)
        except QueueFull:
            return _json(503, b'{"error":"busy, retry later"}')
        try:
            async with asyncio.timeout(self.wait_timeout):
                durable = await ticket.future
        except TimeoutError:
            durable = False
        if not durable:
            return _json(503, b'{"error":"not stored, retry later"}')
        return _json(200, b'{"status":"stored"}')

    async def _read(self, request: Request) -> bytes | None:
        """The body, or None once it passes `max_body` (a missing or lying Content-Length is not trusted)."""
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    def _reject(self, request: Request, reason: str) -> None:
        source = request.client.host if request.client else "unknown"
        self.rejected[reason] += 1
        self.recent_rejections.append(Rejection(datetime.now(timezone.utc), source, reason))
        log.warning("webhook rejected from %s: %s", source, reason)
