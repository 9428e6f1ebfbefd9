"""Databases (SQLite and a real PostgreSQL, one fresh schema per test) and a real receiver on loopback."""
from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import uvicorn

from k2.webhooks import sign
from k2sim import RunningSim, SimConfig, start_in_thread
from merchant.config import Settings
from merchant.inbox.mapping import event_key, map_event
from merchant.inbox.store import Delivered
from merchant.inbox import WEBHOOK_PATH, WebhookReceiver
from merchant.webhooks import create_app

KEY = "test-signing-key"
NOW = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)


class Executed:
    """The statements an engine sends from now on, kept to read their query plans."""

    def __init__(self, engine: sa.Engine) -> None:
        self._seen: list[tuple[str, Any, bool]] = []
        sa.event.listen(engine, "before_cursor_execute", self._keep)

    def _keep(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, many: bool) -> None:
        self._seen.append((statement, parameters, many))

    def holding(self, text: str) -> list[tuple[str, Any]]:
        """Those whose SQL holds `text`, each with its parameters (an executemany's first set)."""
        return [(sql, given[0] if many else given) for sql, given, many in self._seen if text in sql]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own for each test: a SQLite file, or a fresh schema on the CI PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'merchant.db'}"
        return
    server = os.environ.get("TEST_POSTGRES_URL")
    if not server:
        pytest.fail("TEST_POSTGRES_URL is not set: run `source .ci/postgres.sh` first (it starts PostgreSQL)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server)
    with admin.begin() as connection:
        connection.execute(sa.text(f"CREATE SCHEMA {schema}"))
    yield f"{server}?options=-csearch_path%3D{schema}"
    with admin.begin() as connection:
        connection.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    """An engine on the test database, for reading what the receiver wrote."""
    made = sa.create_engine(database_url)
    yield made
    made.dispose()


def count(engine: sa.Engine, table: str, where: str = "1=1") -> int:
    """Rows in `table` matching `where`."""
    with engine.connect() as connection:
        return connection.execute(sa.text(f"SELECT count(*) FROM {table} WHERE {where}")).scalar_one()


def rows(engine: sa.Engine, sql: str, **params: object) -> list[sa.Row]:
    """The rows of one query."""
    with engine.connect() as connection:
        return list(connection.execute(sa.text(sql), params))


@dataclass
class Receiver:
    """A running receiver: its URL, the object behind the route, and helpers to post signed bodies."""

    url: str
    receiver: WebhookReceiver
    client: httpx.Client

    def post(self, body: bytes, signature: str | None = None, *, key: str = KEY) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if signature is not None or key:
            headers["X-KopoKopo-Signature"] = signature if signature is not None else sign(body, key)
        return self.client.post(self.url, content=body, headers=headers)


def serve(app: object) -> Iterator[str]:
    """Run an ASGI app under uvicorn in a thread on 127.0.0.1; yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            pytest.fail("the receiver did not start")
        threading.Event().wait(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def receiver_factory(database_url: str) -> Iterator[object]:
    """Start receivers on the test database (keyword arguments go to `WebhookReceiver`)."""
    stack: list[Iterator[str]] = []
    clients: list[httpx.Client] = []

    def start(api_key: str = KEY, lock_timeout: float = 5.0, **options: object) -> Receiver:
        receiver = WebhookReceiver(**options)  # type: ignore[arg-type]
        settings = Settings(k2_api_key=api_key, database_url=database_url)
        app = create_app(settings, receiver=receiver, lock_timeout=lock_timeout)
        running = serve(app)
        base = next(running)
        stack.append(running)
        client = httpx.Client(timeout=30)
        clients.append(client)
        return Receiver(base + WEBHOOK_PATH, receiver, client)

    yield start
    for client in clients:
        client.close()
    for running in stack:
        next(running, None)


@pytest.fixture
def receiver(receiver_factory: object) -> Receiver:
    """One receiver with default limits."""
    return receiver_factory()  # type: ignore[operator]


@pytest.fixture(scope="session")
def signed_cases(shared_fixtures: Path) -> list[tuple[str, bytes, str, str]]:
    """(file, exact bytes, Kopo Kopo's signature, kind) for every fixture body, read in place."""
    vectors = json.loads((shared_fixtures / "webhooks" / "signatures.json").read_text())
    return [
        (case["file"], (shared_fixtures / "webhooks" / case["file"]).read_bytes(), case["signature"], case["kind"])
        for case in vectors["cases"]
    ]


@pytest.fixture(scope="session")
def fixture_key(shared_fixtures: Path) -> str:
    """The API key Kopo Kopo's fixture signatures were made with."""
    return json.loads((shared_fixtures / "webhooks" / "signatures.json").read_text())["api_key"]


def buygoods(n: int, *, topic: str = "buygoods_transaction_received", reference: str | None = None,
             amount: str = "250.00") -> bytes:
    """A compact, distinct buygoods webhook body number `n`."""
    body = {
        "topic": topic,
        "id": f"evt-{topic}-{n}",
        "created_at": "2026-11-20T10:43:20+03:00",
        "event": {
            "type": "Buygoods Transaction",
            "resource": {
                "id": f"res-{n}",
                "amount": amount,
                "status": "Reversed" if topic.endswith("reversed") else "Received",
                "system": "Lipa Na M-PESA",
                "currency": "KES",
                "reference": reference or f"REF{n:07d}",
                "till_number": "514459",
                "sender_phone_number": f"07{n % 100_000_000:08d}",
                "origination_time": "2026-11-20T10:43:19+03:00",
                "sender_first_name": "Wanjiru",
                "sender_middle_name": None,
                "sender_last_name": "Kamau",
            },
        },
    }
    return json.dumps(body, separators=(",", ":")).encode()


def delivered(body: bytes) -> Delivered:
    """A verified delivery of `body` as the route would hand it to the store, received at NOW."""
    document = json.loads(body)
    key = event_key(document, body)
    return Delivered(key.id, key.kind, NOW, body.decode(), map_event(document, event_id=key.id, received_at=NOW))


T = TypeVar("T")


def eventually(read: Callable[[], T], until: Callable[[T], bool] = bool, *, timeout: float = 10.0) -> T:
    """`read()` once `until` holds for it, polled every 20 ms: for what a background thread writes a little later."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if until(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def server_logs() -> Iterator[list[logging.LogRecord]]:
    """Every record logged meanwhile, ours and uvicorn's (whose loggers do not propagate to the root, where caplog
    listens): an application error that uvicorn logs with its traceback shows up here."""
    kept = _Kept()
    loggers = [logging.getLogger(), logging.getLogger("uvicorn")]
    for logger in loggers:
        logger.addHandler(kept)
    try:
        yield kept.records
    finally:
        for logger in loggers:
            logger.removeHandler(kept)


@pytest.fixture
def start_sim() -> Iterator[Callable[..., RunningSim]]:
    """Start k2sims that sign with KEY and send results at once, retried without waiting (other SimConfig options
    pass through); each is stopped after the test."""
    running: list[RunningSim] = []

    def start(**options: object) -> RunningSim:
        defaults: dict[str, object] = {"api_key": KEY, "callback_delay_s": 0.0, "delivery_backoff_s": 0.0}
        sim = start_in_thread(SimConfig(**(defaults | options)))  # type: ignore[arg-type]
        running.append(sim)
        return sim

    yield start
    for sim in running:
        sim.stop()


@pytest.fixture
def sim(start_sim: Callable[..., RunningSim]) -> RunningSim:
    """One k2sim for the test."""
    return start_sim()
