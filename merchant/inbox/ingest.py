"""The ingestion thread: drains a bounded queue, writes each batch in one transaction, then releases its senders."""
from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import Engine

from ..db import is_transient
from .rejections import RejectionCounter
from .store import Delivered, write_batch

__all__ = ["IngestWorker", "QueueFull", "Ticket"]

log = logging.getLogger(__name__)


class QueueFull(Exception):
    """The queue is at its bound: the sender should retry later (503)."""


@dataclass(slots=True)
class Ticket:
    """A delivery waiting for its commit; `future` (of `loop`) becomes True once durable, False if refused."""

    delivered: Delivered
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[bool] = field(init=False)

    def __post_init__(self) -> None:
        self.future = self.loop.create_future()


_STOP = object()


class IngestWorker:
    """One writer per process: group commit turns many concurrent deliveries into one transaction.

    `submit` never blocks; a ticket's future becomes True after its batch committed, False when the database
    was unavailable (nothing of that batch is stored, so K2's retry is safe). The same thread adds the route's
    counted refusals (`rejections`) to `webhook_rejections` about every `flush_every` seconds."""

    def __init__(
        self, engine: Engine, *, queue_size: int = 10_000, batch_size: int = 1_000, flush_every: float = 1.0
    ) -> None:
        self.engine = engine
        self.batch_size = batch_size
        self.flush_every = flush_every
        self.rejections = RejectionCounter()
        self._queue: queue.Queue[Ticket | object] = queue.Queue(maxsize=queue_size)
        self._thread: threading.Thread | None = None
        self._flushed_at = time.monotonic()

    def start(self) -> None:
        """Start the thread; call once, from the server's lifespan."""
        self._thread = threading.Thread(target=self._run, name="k2-ingest", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, then end the thread (waiting at most `timeout` seconds)."""
        if self._thread is None:
            return
        self._queue.put(_STOP, timeout=timeout)
        self._thread.join(timeout)
        self._thread = None

    @property
    def running(self) -> bool:
        """True while the thread accepts work."""
        return self._thread is not None and self._thread.is_alive()

    def submit(self, ticket: Ticket) -> None:
        """Queue a delivery; `QueueFull` when the bound is reached."""
        try:
            self._queue.put_nowait(ticket)
        except queue.Full:
            raise QueueFull from None

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch: list[Ticket] = []
            try:
                item = self._queue.get(timeout=self.flush_every)
            except queue.Empty:
                self._flush_rejections()
                continue
            while True:
                if item is _STOP:
                    stopping = True
                else:
                    batch.append(item)  # type: ignore[arg-type]
                if stopping or len(batch) >= self.batch_size:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._commit(batch)
            if stopping or time.monotonic() - self._flushed_at >= self.flush_every:
                self._flush_rejections()

    def _flush_rejections(self) -> None:
        self._flushed_at = time.monotonic()
        try:
            self.rejections.flush(self.engine)
        except Exception as err:  # kept in memory for the next flush; deliveries matter more
            log.warning("refused deliveries not counted in the database yet: %s", str(err).split("\n", 1)[0])

    def _commit(self, batch: list[Ticket]) -> None:
        try:
            write_batch(self.engine, [ticket.delivered for ticket in batch])
            durable = True
        except Exception as err:  # the worker must outlive any one batch; senders get 503 and retry
            durable = False
            if is_transient(err):
                log.warning("database unavailable, %d deliveries refused for retry: %s", len(batch), err)
            else:
                log.exception("batch of %d deliveries failed", len(batch))
        waiting: defaultdict[asyncio.AbstractEventLoop, list[asyncio.Future[bool]]] = defaultdict(list)
        for ticket in batch:
            waiting[ticket.loop].append(ticket.future)
        for loop, futures in waiting.items():
            try:
                loop.call_soon_threadsafe(_resolve, futures, durable)
            except RuntimeError:  # that server's loop has closed; its senders are gone
                log.warning("%d deliveries committed after their server stopped", len(futures))


def _resolve(futures: list[asyncio.Future[bool]], durable: bool) -> None:
    for future in futures:
        if not future.done():
            future.set_result(durable)
