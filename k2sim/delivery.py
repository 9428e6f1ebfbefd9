"""Sending result callbacks and webhooks: serialised once, those bytes signed, POSTed with retry and backoff.

Runs on the server's event loop as scheduled tasks; every attempt goes into the delivery log. The POST is
a small HTTP/1.1 sender on asyncio streams rather than httpx: a burst of 200 callbacks due at once takes
~25 ms with it and 170-700 ms with httpx.AsyncClient on this machine, which is the whole lateness budget.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from .config import SimConfig
from .faults import DELIVERY_FAULTS, Faults
from .log import DeliveryAttempt, DeliveryRecord, SimLog
from .models import Outbound
from .payloads import NAIROBI, dumps

__all__ = ["SIGNATURE_HEADER", "Poster", "DeliveryError", "sign", "post", "Dispatcher"]

SIGNATURE_HEADER = "X-KopoKopo-Signature"

# (url, body, headers) -> HTTP status; raises OSError/TimeoutError/DeliveryError when there is no answer
Poster = Callable[[str, bytes, Mapping[str, str]], Awaitable[int]]


class DeliveryError(Exception):
    """The receiver answered something that is not HTTP."""


_TLS = ssl.create_default_context()


def sign(body: bytes, api_key: str) -> str:
    """Lowercase hex HMAC-SHA256 of the exact body bytes, keyed with the API key, as K2 signs."""
    return hmac.new(api_key.encode(), body, hashlib.sha256).hexdigest()


async def post(url: str, body: bytes, headers: Mapping[str, str]) -> int:
    """POST `body` once over a fresh connection (`Connection: close`) and return the status code."""
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    head = [f"POST {target} HTTP/1.1", f"Host: {parts.netloc.rsplit('@', 1)[-1]}",
            f"Content-Length: {len(body)}", "Connection: close", *(f"{k}: {v}" for k, v in headers.items())]
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port or (443 if secure else 80),
                                                   ssl=_TLS if secure else None)
    try:
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()
        while True:
            words = (await reader.readline()).split()
            if len(words) < 2 or not words[0].startswith(b"HTTP/") or not words[1].isdigit():
                raise DeliveryError("the receiver's answer is not an HTTP response")
            if not words[1].startswith(b"1"):
                return int(words[1])
            while (await reader.readline()).strip():
                pass
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


class Dispatcher:
    """Owns the delayed resolutions and the outgoing POSTs; implements the state's `Effects`."""

    def __init__(self, config: SimConfig, log: SimLog, faults: Faults, *, poster: Poster = post) -> None:
        self._config = config
        self._log = log
        self._faults = faults
        self._post_once = poster
        self._tasks: dict[asyncio.Task[None], float] = {}
        self._held: list[DeliveryRecord] = []

    async def stop(self) -> None:
        """Cancel pending resolutions and deliveries."""
        await self.cancel_all()

    async def cancel_all(self) -> None:
        """Drop every pending resolution and delivery (stop, reset)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._held.clear()

    async def drain(self, timeout_s: float) -> bool:
        """Wait until all work due within `timeout_s` has run (tasks spawn tasks, so loop); False if some
        due work was still running at the deadline. Resolutions scheduled later than that are not waited for."""
        deadline = time.monotonic() + timeout_s
        while due := [task for task, at in self._tasks.items() if at <= deadline]:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            await asyncio.wait(due, timeout=remaining)
        return True

    def _spawn(self, work: Coroutine[Any, Any, None], delay_s: float = 0.0) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks[task] = time.monotonic() + delay_s
        task.add_done_callback(lambda done: self._tasks.pop(done, None))

    def later(self, action: Callable[[], object]) -> None:
        """Run `action` after the configured callback delay."""
        delay = self._config.callback_delay_s
        self._spawn(self._after(delay, action), delay)

    async def _after(self, delay_s: float, action: Callable[[], object]) -> None:
        await asyncio.sleep(delay_s)
        action()

    def send(self, message: Outbound) -> None:
        """Serialise, sign and log a document, then POST it, honouring any delivery fault."""
        body = dumps(message.document)
        record = DeliveryRecord(
            id=str(uuid.uuid4()), kind=message.kind, topic=message.topic, resource_id=message.resource_id,
            url=message.url, body=body, signature=sign(body, self._config.api_key or ""),
            created_at=datetime.now(NAIROBI))
        fault = self._faults.take(DELIVERY_FAULTS)
        self._log.delivery(record)
        if fault is not None:
            record.fault = fault.kind
        if fault is not None and fault.kind == "out_of_order":
            record.state = "held"
            self._held.append(record)
            return
        released, self._held = self._held, []
        if fault is not None and fault.kind == "drop":
            record.state = "dropped"  # never sent; what it held back goes out now, as after any delivery
            for held in released:
                self._spawn(self._post(held, []))
            return
        self._spawn(self._post(record, released))
        if fault is not None and fault.kind == "duplicate":
            self._spawn(self._post(self._log.delivery(replace(record, id=str(uuid.uuid4()), attempts=[])), []))

    async def _post(self, record: DeliveryRecord, release: list[DeliveryRecord]) -> None:
        """POST with retries; held (out-of-order) deliveries go out right after the first attempt."""
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: record.signature, "User-Agent": "k2sim"}
        record.state = "pending"
        for number in range(1, self._config.delivery_max_attempts + 1):
            started = time.perf_counter()
            at = datetime.now(NAIROBI)
            status: int | None = None
            error: str | None = None
            try:
                async with asyncio.timeout(self._config.delivery_timeout_s):
                    status = await self._post_once(record.url, record.body, headers)
            except (OSError, TimeoutError, DeliveryError) as err:
                error = type(err).__name__
            record.attempts.append(DeliveryAttempt(number, at, status, error, (time.perf_counter() - started) * 1000))
            if number == 1:
                for held in release:
                    self._spawn(self._post(held, []))
            if status is not None and 200 <= status < 300:
                record.state = "delivered"
                return
            if number < self._config.delivery_max_attempts:
                await asyncio.sleep(self._config.delivery_backoff_s * 2 ** (number - 1))
        record.state = "failed"
