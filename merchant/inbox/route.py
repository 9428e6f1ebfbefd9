"""`POST /api/k2/webhooks`: verify the raw bytes, hand the event to the ingestion thread, answer 200 once durable.

The same route runs inside the app's own server (`app.py`) and on its own (`merchant.inbox.server`)."""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable
from datetime import datetime, timezone
from typing import Any, TypeVar, cast

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from k2.webhooks import SIGNATURE_HEADER, verify_signature

from .ingest import IngestWorker, QueueFull, Ticket
from .mapping import OUTCOME_FAILED, Mapped, event_key, map_event, raw_key
from .rejections import (
    REASON_BAD_SIGNATURE,
    REASON_DISCONNECTED,
    REASON_NO_SIGNATURE,
    REASON_NOT_JSON,
    REASON_NOT_OBJECT,
    REASON_READ_TIMEOUT,
    REASON_TOO_LARGE,
)
from .store import Delivered

__all__ = ["WEBHOOK_PATH", "WebhookReceiver"]

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/api/k2/webhooks"
_EXPIRED = -1.0  # a request's deadline once the sweep has cancelled what it awaited
_T = TypeVar("_T")


def _json(status: int, body: bytes, *, close: bool = False) -> Response:
    headers = {"Connection": "close"} if close else None  # a body left unread must not hold the connection
    return Response(body, status_code=status, media_type="application/json", headers=headers)


_REFUSALS: dict[str, tuple[int, bytes]] = {
    REASON_NO_SIGNATURE: (401, b'{"error":"invalid signature"}'),
    REASON_BAD_SIGNATURE: (401, b'{"error":"invalid signature"}'),
    REASON_TOO_LARGE: (413, b'{"error":"body too large"}'),
    REASON_NOT_JSON: (400, b'{"error":"body is not JSON"}'),
    REASON_NOT_OBJECT: (400, b'{"error":"body is not a JSON object"}'),
    REASON_READ_TIMEOUT: (408, b'{"error":"body not received in time"}'),
    REASON_DISCONNECTED: (400, b'{"error":"body incomplete"}'),  # nobody is left to read it
}


class WebhookReceiver:
    """The webhook route in front of the ingestion worker; the runtime attaches the worker at start.

    Created unstarted (so a launcher can list its route before the server starts); answers 503 until started.
    A body must arrive within `read_timeout` seconds of its headers (408 otherwise). Refusals are counted by the
    worker's `rejections` (stored per minute, source and reason; sampled in the log), never logged one by one."""

    def __init__(self, *, max_body: int = 256 * 1024, wait_timeout: float = 30.0, read_timeout: float = 10.0) -> None:
        self.max_body = max_body
        self.wait_timeout = wait_timeout
        self.read_timeout = read_timeout
        self.worker: IngestWorker | None = None
        self._api_key = ""
        self._sweep_every = min(1.0, read_timeout / 4, wait_timeout / 4)
        self._waiting: dict[asyncio.AbstractEventLoop, dict[asyncio.Task[Any], float]] = {}  # deadline per request

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
        """Size limit (413), read deadline (408), signature over the exact bytes (401), JSON (400), then 200 only
        once committed. A signed body is never answered 5xx for what it holds: what cannot be mapped or written
        is stored `failed` with its reason."""
        worker = self.worker
        if worker is None:
            return _json(503, b'{"error":"not ready"}')
        declared = request.headers.get("content-length", "0")
        if not declared.isdigit() or len(declared) > 15 or int(declared) > self.max_body:
            return self._refuse(request, worker, REASON_TOO_LARGE, close=True)
        try:
            body = await self._in_time(self._read(request), self.read_timeout)
        except TimeoutError:
            return self._refuse(request, worker, REASON_READ_TIMEOUT, close=True)
        except ClientDisconnect:
            return self._refuse(request, worker, REASON_DISCONNECTED, close=True)
        if body is None:
            return self._refuse(request, worker, REASON_TOO_LARGE, close=True)
        signature = request.headers.get(SIGNATURE_HEADER)
        if not verify_signature(body, signature, self._api_key):
            return self._refuse(request, worker, REASON_NO_SIGNATURE if not signature else REASON_BAD_SIGNATURE)
        received_at = datetime.now(timezone.utc)
        try:
            payload = body.decode("utf-8")
            document = json.loads(payload)
        except ValueError:  # UnicodeDecodeError and JSONDecodeError both are
            return self._refuse(request, worker, REASON_NOT_JSON)
        except RecursionError:  # valid JSON nested deeper than we read: signed, so kept (failed), never lost
            key = raw_key(body)
            failed = Mapped(outcome=OUTCOME_FAILED, error="body is nested too deeply to read")
            delivered = Delivered(key.id, key.kind, received_at, payload, failed)
        else:
            if not isinstance(document, dict):
                return self._refuse(request, worker, REASON_NOT_OBJECT)
            key = event_key(document, body)
            delivered = Delivered(key.id, key.kind, received_at, payload, _map(document, key.id, received_at))
        ticket = Ticket(delivered, asyncio.get_running_loop())
        try:
            worker.submit(ticket)
        except QueueFull:
            return _json(503, b'{"error":"busy, retry later"}')
        try:
            durable = await self._in_time(ticket.future, self.wait_timeout)
        except TimeoutError:
            durable = False
        if not durable:
            return _json(503, b'{"error":"not stored, retry later"}')
        return _json(200, b'{"status":"stored"}')

    async def _in_time(self, awaitable: Awaitable[_T], seconds: float) -> _T:
        """`await awaitable`, or `TimeoutError` once `seconds` have passed (noticed up to `_sweep_every` late).

        One timer per event loop sweeps every request's deadline: `asyncio.timeout` makes a timer per request,
        ~5 µs each, and a request needs two (its body, then its commit): a few percent of a whole delivery."""
        loop = asyncio.get_running_loop()
        task = cast("asyncio.Task[Any]", asyncio.current_task())  # a handler always runs in a task
        waiting = self._waiting.get(loop)
        if waiting is None:
            waiting = self._waiting[loop] = {}
            loop.call_later(self._sweep_every, self._sweep, loop)
        waiting[task] = loop.time() + seconds
        try:
            return await awaitable
        except asyncio.CancelledError:
            if waiting.get(task) == _EXPIRED and task.uncancel() == 0:  # our cancel, and nobody else's
                raise TimeoutError from None
            raise
        finally:
            waiting.pop(task, None)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        waiting = self._waiting[loop]
        now = loop.time()
        for task, due in list(waiting.items()):
            if due != _EXPIRED and due <= now:
                waiting[task] = _EXPIRED
                task.cancel()
        if waiting:
            loop.call_later(self._sweep_every, self._sweep, loop)
        else:
            del self._waiting[loop]

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

    @staticmethod
    def _refuse(request: Request, worker: IngestWorker, reason: str, *, close: bool = False) -> Response:
        worker.rejections.note(request.client.host if request.client else "unknown", reason)
        status, body = _REFUSALS[reason]
        return _json(status, body, close=close)


def _map(document: dict[str, object], event_id: str, received_at: datetime) -> Mapped:
    """`map_event`, and a mapping bug is a stored `failed` event (kept for `reprocess_failed`), never a 500."""
    try:
        return map_event(document, event_id=event_id, received_at=received_at)
    except Exception as err:
        log.exception("event %.80s could not be mapped", event_id)
        return Mapped(outcome=OUTCOME_FAILED, error=f"mapping raised {type(err).__name__}")
