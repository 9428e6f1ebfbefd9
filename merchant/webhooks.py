"""`POST /api/k2/webhooks`: verify the raw bytes, hand the event to the ingestion thread, answer 200 once durable.

The same route runs inside the app's own server (`app.py`) and on its own, for scale-out:

    python -m merchant.webhooks --host 127.0.0.1 --port 8600
    uvicorn merchant.webhooks:app --workers 4      # with DATABASE_URL=postgresql+psycopg://... across machines
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
from collections import Counter, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timezone

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from k2.webhooks import SIGNATURE_HEADER, verify_signature

from .config import Settings, load_settings
from .db import open_database
from .ingest import IngestWorker, QueueFull, Ticket
from .mapping import event_key, map_event
from .store import Delivered, reprocess_failed

__all__ = ["WEBHOOK_PATH", "Rejection", "WebhookReceiver", "app", "create_app", "main"]

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
    """The webhook route and the ingestion worker behind it; `running()` wires them up in a server's lifespan.

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

    @asynccontextmanager
    async def running(
        self, settings: Settings, *, lock_timeout: float = 5.0, queue_size: int = 10_000, batch_size: int = 1_000
    ) -> AsyncIterator[IngestWorker]:
        """Open the database (upgrading its schema), start the ingestion thread; stop it on exit."""
        if not settings.k2_api_key:
            log.error("K2_API_KEY is not set: every webhook will be rejected")
        engine = await asyncio.to_thread(open_database, settings.database_url, lock_timeout=lock_timeout)
        # Full collections over everything imported so far were the ingest p99 (pauses of 40-80 ms under load):
        # startup objects leave the collector's view, and young ones are collected less often.
        gc.freeze()
        gc.set_threshold(10_000, 10, 10)
        worker = IngestWorker(engine, queue_size=queue_size, batch_size=batch_size)
        worker.start()
        self.worker, self._api_key = worker, settings.k2_api_key
        try:
            yield worker
        finally:
            self.worker = None
            await asyncio.to_thread(worker.stop)
            engine.dispose()

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


def create_app(
    settings: Settings | None = None, *, receiver: WebhookReceiver | None = None, lock_timeout: float = 5.0
) -> Starlette:
    """The standalone receiver: only the webhook route, its settings read at start from the usual environment."""
    receiver = receiver or WebhookReceiver()

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        async with receiver.running(settings or load_settings(), lock_timeout=lock_timeout):
            yield

    standalone = Starlette(routes=receiver.routes, lifespan=lifespan)
    standalone.state.receiver = receiver
    return standalone


app = create_app()


def main(argv: list[str] | None = None) -> None:
    """`python -m merchant.webhooks --host 127.0.0.1 --port 8600 [--workers N]`, or `--reprocess` and exit."""
    parser = argparse.ArgumentParser(prog="python -m merchant.webhooks", description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8600)
    parser.add_argument("--workers", type=int, default=1, help="processes; use PostgreSQL for more than one machine")
    parser.add_argument(
        "--reprocess", action="store_true", help="map again every stored delivery that failed to map, then exit"
    )
    options = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if options.reprocess:
        engine = open_database(load_settings().database_url)
        print(f"{reprocess_failed(engine)} stored deliveries that had failed to map are now mapped")
        engine.dispose()
        return
    uvicorn.run(
        "merchant.webhooks:app",
        host=options.host,
        port=options.port,
        workers=options.workers,
        loop="uvloop",
        http="httptools",
        access_log=False,
    )


if __name__ == "__main__":
    main()
