"""The one runtime of a server process: settings, the engine, the K2 client and every background worker.

The server's lifespan starts it (`app.py`, or the standalone receiver in `merchant.webhooks`) and stops it at
shutdown. Pages and command-line tools reach it through `current()`: the lifespan's, or, in a process that has
no server lifespan (a page under AppTest, a CLI), one started on first use from the environment's settings."""
from __future__ import annotations

import gc
import logging
import threading
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from k2 import K2Client

from .access import new_setup_code
from .config import Settings, load_settings
from .db import open_database
from .inbox import WEBHOOK_PATH, IngestWorker, WebhookReceiver
from .money_in.backfill import DailyCheck
from .outbound import OutboxWorker

if TYPE_CHECKING:
    from .payouts.runner import BatchRunner

__all__ = ["Runtime", "current", "open_client", "release"]

log = logging.getLogger(__name__)


def open_client(settings: Settings) -> K2Client:
    """A K2 client for these settings: one connection pool and token per process, held by the runtime."""
    return K2Client(
        settings.k2_base_url, settings.k2_client_id, settings.k2_client_secret, api_key=settings.k2_api_key or None
    )


class Runtime:
    """What a process holds once. `start()` opens the database (migrating it), starts ingestion and, when K2
    credentials are set, the outbox worker and the daily check of yesterday's payments; `stop()` ends them in
    reverse."""

    def __init__(
        self,
        settings: Settings,
        *,
        receiver: WebhookReceiver | None = None,
        client: K2Client | None = None,
        lock_timeout: float = 5.0,
        check_after: timedelta = timedelta(seconds=20),
    ) -> None:
        self.settings = settings
        self.receiver = receiver
        self._given_client = client  # tests lend one (short timeouts); otherwise made from the settings
        self._lock_timeout = lock_timeout
        self._check_after = check_after
        self.engine: Engine | None = None
        self.client: K2Client | None = None
        self.ingest: IngestWorker | None = None
        self.outbox: OutboxWorker | None = None
        self.daily_check: DailyCheck | None = None
        self.batches: BatchRunner | None = None

    @property
    def callback_url(self) -> str:
        """Where K2 posts results for our requests: this server's webhook route ('' when the URL is not set)."""
        base = self.settings.public_base_url.rstrip("/")
        return f"{base}{WEBHOOK_PATH}" if base else ""

    def open(self) -> Runtime:
        """Open and migrate the database only, starting no worker: a command-line tool that sends nothing itself
        (its requests are sent by the server's workers). Returns itself."""
        if self.engine is None:
            self.engine = open_database(self.settings.database_url, lock_timeout=self._lock_timeout)
        return self

    def start(self) -> Runtime:
        """Open, migrate and start everything; idempotent per object. Returns itself."""
        if self.ingest is not None:
            return self
        self.open()
        assert self.engine is not None
        code = new_setup_code(self.engine)
        if code is not None:  # the console and the log: only whoever runs the server can claim it
            print(f"No owner account yet. Open the dashboard and create it with the setup code {code}", flush=True)
            log.warning("No owner account yet: the one-time setup code is %s", code)
        # Full collections over everything imported so far were the ingest p99 (pauses of 40-80 ms under load):
        # startup objects leave the collector's view, and young ones are collected less often.
        gc.freeze()
        gc.set_threshold(10_000, 10, 10)
        self.ingest = IngestWorker(self.engine)
        self.ingest.start()
        if self.receiver is not None:
            self.receiver.attach(self.ingest, self.settings.k2_api_key)
        if self._given_client is not None or (self.settings.k2_client_id and self.settings.k2_client_secret):
            self.client = self._given_client or open_client(self.settings)
            if not self.callback_url:
                log.warning("PUBLIC_BASE_URL is not set: K2 cannot post results; late requests are queried instead")
            self.outbox = OutboxWorker(
                self.engine, self.client, callback_url=self.callback_url, check_after=self._check_after,
                concurrency=self.settings.outbox_concurrency, per_second=self.settings.outbox_per_second,
            )
            self.outbox.start()
            from .payouts.runner import BatchRunner  # here: the payouts services take this runtime as argument

            self.batches = BatchRunner(self.engine, self.client, concurrency=self.settings.outbox_concurrency,
                                       handed_over=self.outbox.wake)
            self.batches.start()
            self.daily_check = DailyCheck(self.engine, self.client, callback_url=self.callback_url)
            self.daily_check.start()
        return self

    def stop(self) -> None:
        """Stop taking work, finish what is under way, close the database and the K2 client."""
        if self.receiver is not None:
            self.receiver.detach()
        if self.daily_check is not None:
            self.daily_check.stop()
        if self.batches is not None:
            self.batches.stop()
        if self.outbox is not None:
            self.outbox.stop()
        if self.ingest is not None:
            self.ingest.stop()
        if self.client is not None and self.client is not self._given_client:
            self.client.close()
        if self.engine is not None:
            self.engine.dispose()
        self.engine = self.client = self.ingest = self.outbox = self.daily_check = self.batches = None

    def install(self) -> None:
        """Make this the runtime `current()` answers in this process (the server's lifespan calls it)."""
        global _installed
        with _lock:
            _installed = self

    def uninstall(self) -> None:
        """`current()` no longer answers this runtime (it is stopping)."""
        global _installed
        with _lock:
            if _installed is self:
                _installed = None


_lock = threading.Lock()
_installed: Runtime | None = None
_fallback: Runtime | None = None


def current() -> Runtime:
    """The server's runtime; without a server lifespan, one started here from the environment's settings
    (replaced, and the old one stopped, when those settings change, as they do between tests)."""
    global _fallback
    with _lock:
        if _installed is not None:
            return _installed
        settings = load_settings()
        if _fallback is None or _fallback.settings != settings:
            if _fallback is not None:
                _fallback.stop()
            _fallback = Runtime(settings).start()
        return _fallback


def release() -> None:
    """Stop the runtime `current()` started on its own, if any (a test's end, a command-line tool's exit)."""
    global _fallback
    with _lock:
        if _fallback is not None:
            _fallback.stop()
            _fallback = None
