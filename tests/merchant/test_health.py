"""The settings page's reads (mode, settings without secrets, last webhook, database, refusals) and "test the
connection", on SQLite and PostgreSQL."""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa

from k2 import K2Client
from k2sim import RunningSim
from merchant import health
from merchant.access import CONSOLE, AuditAction, NotAllowed, Role, audit_log
from merchant.config import Settings
from merchant.db import open_database
from merchant.db.tables import WebhookRejection
from merchant.health import ConnectionOutcome, Mode
from merchant.inbox.store import record_deliveries
from merchant.runtime import Runtime

from .conftest import buygoods, delivered

SECRET, API_KEY = "s3cret-client-secret-value", "s3cret-signing-key-value"


@pytest.mark.parametrize(
    ("settings", "mode"),
    [
        (Settings(), Mode.DEMO),
        (Settings(k2_client_id="id"), Mode.DEMO),  # half the credentials: still the emulator
        (Settings(k2_client_id="id", k2_client_secret="x", emulated=True), Mode.DEMO),
        (Settings(k2_client_id="id", k2_client_secret="x"), Mode.SANDBOX),  # the default base URL
        (Settings(k2_base_url="http://127.0.0.1:8787", k2_client_id="id", k2_client_secret="x"), Mode.SANDBOX),
        (Settings(k2_base_url="https://api.kopokopo.com", k2_client_id="id", k2_client_secret="x"), Mode.PRODUCTION),
        (Settings(k2_base_url="https://API.KopoKopo.com/", k2_client_id="id", k2_client_secret="x"), Mode.PRODUCTION),
        (Settings(k2_base_url="https://api.kopokopo.com.evil.example", k2_client_id="id", k2_client_secret="x"),
         Mode.SANDBOX),
    ],
)
def test_mode_is_demo_sandbox_or_production(settings: Settings, mode: Mode) -> None:
    assert health.mode(settings) is mode


def test_k2_setup_shows_addresses_and_reduces_secrets_to_set_or_not() -> None:
    settings = Settings(
        k2_base_url="https://api.kopokopo.com", k2_client_id="client-id-value", k2_client_secret=SECRET,
        k2_api_key=API_KEY, k2_till_number="K514459", public_base_url="https://shop.example",
        database_url="postgresql+psycopg://merchant:db-pass-value@db.example/merchant",
    )
    setup = health.k2_setup(settings)
    assert (setup.mode, setup.base_url, setup.till_number, setup.public_base_url) == (
        Mode.PRODUCTION, "https://api.kopokopo.com", "K514459", "https://shop.example")
    assert setup.client_id_set and setup.client_secret_set and setup.api_key_set and setup.database_password_set
    for secret in ("client-id-value", SECRET, API_KEY, "db-pass-value"):
        assert secret not in repr(setup)
    unset = health.k2_setup(Settings(database_url="sqlite:///x.db"))
    assert not (unset.client_id_set or unset.client_secret_set or unset.api_key_set or unset.database_password_set)
    assert (unset.till_number, unset.public_base_url) == ("", "")


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    """The test database, migrated."""
    made = open_database(database_url)
    yield made
    made.dispose()


def test_last_webhook_is_none_before_the_first_then_the_newest_received(engine: sa.Engine) -> None:
    assert health.last_webhook_at(engine) is None
    newest = datetime(2026, 11, 21, 6, 30, 15, tzinfo=UTC)
    with engine.begin() as connection:
        record_deliveries(connection, [replace(delivered(buygoods(1)), received_at=newest),
                                       delivered(buygoods(2)),
                                       replace(delivered(buygoods(3)), received_at=newest - timedelta(days=3))])
    assert health.last_webhook_at(engine) == newest
    assert health.last_webhook_at(engine).tzinfo is not None  # type: ignore[union-attr]


def test_database_kind_and_size(engine: sa.Engine) -> None:
    found = health.database(engine)
    assert found.kind == engine.dialect.name
    assert found.size_bytes is not None and found.size_bytes > 0
    if found.kind == "sqlite":
        path = engine.url.database
        assert path is not None and os.path.exists(f"{path}-wal")  # WAL mode: recent writes live here
        assert found.size_bytes == os.path.getsize(path) + os.path.getsize(f"{path}-wal")
    else:
        assert found.kind == "postgresql"


def test_database_in_memory_has_no_size() -> None:
    memory = sa.create_engine("sqlite://")
    assert health.database(memory) == health.Database("sqlite", None)
    memory.dispose()


def test_refusals_are_summed_by_reason_over_a_day_and_a_week(engine: sa.Engine) -> None:
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    table = WebhookRejection.__table__  # type: ignore[attr-defined]

    def at(ago: timedelta, source: str, reason: str, count: int) -> dict[str, object]:
        minute = (now - ago).replace(second=0)
        return {"minute": minute, "source": source, "reason": reason, "count": count,
                "last_at": minute + timedelta(seconds=42)}

    with engine.begin() as connection:
        connection.execute(table.insert(), [
            at(timedelta(hours=2), "10.0.0.1", "signature mismatch", 3),
            at(timedelta(days=3), "10.0.0.1", "signature mismatch", 4),
            at(timedelta(days=8), "10.0.0.1", "signature mismatch", 100),  # older than a week: left out
            at(timedelta(minutes=30), "10.0.0.2", "missing signature", 1),
            at(timedelta(minutes=30), "10.0.0.3", "missing signature", 1),
            at(timedelta(days=6), "10.0.0.4", "body too large", 9),
        ])
    found = health.refusals(engine, now=now)
    assert [(item.reason, item.last_day, item.last_week) for item in found] == [
        ("body too large", 0, 9), ("signature mismatch", 3, 7), ("missing signature", 2, 2)]
    assert found[1].last_at == (now - timedelta(hours=2)).replace(second=42)
    assert all(item.last_at.tzinfo is not None for item in found)
    assert health.refusals(engine, now=now + timedelta(days=30)) == []


@pytest.fixture
def runtime_with(database_url: str) -> Iterator[Callable[..., Runtime]]:
    """A started runtime on the test database whose K2 client is the one given (None: no credentials)."""
    started: list[Runtime] = []

    def start(client: K2Client | None, base_url: str = "http://k2.test") -> Runtime:
        settings = Settings(k2_base_url=base_url, database_url=database_url,
                            **({"k2_client_id": "id", "k2_client_secret": SECRET} if client else {}))
        runtime = Runtime(settings, client=client).start()
        started.append(runtime)
        return runtime

    yield start
    for runtime in started:
        runtime.stop()


def connection_entries(runtime: Runtime) -> list[dict[str, str]]:
    """The CONNECTION_TESTED entries, newest first."""
    assert runtime.engine is not None
    entries = audit_log(runtime.engine, actions=[AuditAction.CONNECTION_TESTED])
    return entries.to_dict("records")


def test_connection_ok_against_k2sim_is_audited(runtime_with: Callable[..., Runtime], live_k2sim: RunningSim) -> None:
    client = K2Client(live_k2sim.base_url, live_k2sim.client_id, live_k2sim.client_secret, retry_backoff=0)
    runtime = runtime_with(client, live_k2sim.base_url)
    check = health.check_connection(runtime, CONSOLE, source="10.1.2.3")
    assert check.outcome is ConnectionOutcome.OK and check.base_url == live_k2sim.base_url
    assert check.status_code is None and check.elapsed < timedelta(seconds=10)
    [entry] = connection_entries(runtime)
    assert (entry["actor"], entry["target"], entry["source"]) == ("console", live_k2sim.base_url, "10.1.2.3")
    assert '"outcome": "ok"' in entry["detail"]
    client.close()


def test_connection_with_wrong_credentials_is_refused(
    runtime_with: Callable[..., Runtime], live_k2sim: RunningSim
) -> None:
    client = K2Client(live_k2sim.base_url, live_k2sim.client_id, "not-the-secret", retry_backoff=0)
    check = health.check_connection(runtime_with(client, live_k2sim.base_url), CONSOLE)
    assert check.outcome is ConnectionOutcome.REFUSED and check.status_code == 401
    client.close()


def answering(handler: Callable[[httpx.Request], httpx.Response]) -> K2Client:
    return K2Client("http://k2.test", "id", SECRET, transport=httpx.MockTransport(handler), retry_backoff=0)


def refuse_connection(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def never_answer(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("timed out", request=request)


@pytest.mark.parametrize(
    ("handler", "outcome", "status"),
    [
        (refuse_connection, ConnectionOutcome.UNREACHABLE, None),
        (never_answer, ConnectionOutcome.TIMED_OUT, None),
        (lambda request: httpx.Response(400, json={"error": "invalid_client"}), ConnectionOutcome.REFUSED, 400),
        (lambda request: httpx.Response(503, text="down"), ConnectionOutcome.K2_FAILED, 503),
        (lambda request: httpx.Response(404, text="<html>not found</html>"), ConnectionOutcome.UNEXPECTED, 404),
        (lambda request: httpx.Response(200, text="<html>a router's login page</html>"),
         ConnectionOutcome.UNEXPECTED, None),
    ],
    ids=["unreachable", "timeout", "invalid-client", "server-error", "not-found", "not-a-token"],
)
def test_connection_failures_become_plain_outcomes(
    runtime_with: Callable[..., Runtime], handler: Callable[[httpx.Request], httpx.Response],
    outcome: ConnectionOutcome, status: int | None,
) -> None:
    calls: list[httpx.Request] = []

    def counted(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return handler(request)

    runtime = runtime_with(answering(counted))
    check = health.check_connection(runtime, CONSOLE)
    assert (check.outcome, check.status_code) == (outcome, status)
    assert len(calls) == 1  # asked once, never retried: a person is waiting
    [entry] = connection_entries(runtime)
    assert f'"outcome": "{outcome.value}"' in entry["detail"] and SECRET not in entry["detail"]


def test_connection_without_credentials_says_so_and_is_audited(runtime_with: Callable[..., Runtime]) -> None:
    runtime = runtime_with(None)
    assert health.check_connection(runtime, CONSOLE).outcome is ConnectionOutcome.NO_CREDENTIALS
    assert len(connection_entries(runtime)) == 1


@pytest.mark.parametrize("role", [Role.FINANCE, Role.CASHIER, Role.VIEWER])
def test_connection_needs_manage_settings(runtime_with: Callable[..., Runtime], role: Role) -> None:
    asked: list[httpx.Request] = []
    runtime = runtime_with(answering(lambda request: asked.append(request) or httpx.Response(500)))
    with pytest.raises(NotAllowed):
        health.check_connection(runtime, replace(CONSOLE, username="someone", role=role))
    assert asked == [] and connection_entries(runtime) == []
    with pytest.raises(NotAllowed):  # a disabled owner neither
        health.check_connection(runtime, replace(CONSOLE, disabled=True))
