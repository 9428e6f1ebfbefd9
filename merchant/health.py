"""What the settings page reads: the mode, the K2 settings (secrets only as set or not), the last webhook, the
database's kind and size, deliveries refused by reason, and a checked, audited "test the connection"."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit

from sqlalchemy import Engine, Table, case, func, select, text
from sqlalchemy.engine import make_url

from k2 import APIConnectionError, APIStatusError, APITimeoutError, AuthenticationError, K2Error
from k2 import PermissionDeniedError as K2PermissionDenied

from .access import AuditAction, Permission, User, record, require
from .config import Settings
from .db.tables import WebhookEvent, WebhookRejection
from .runtime import Runtime

__all__ = [
    "PRODUCTION_HOST",
    "ConnectionCheck",
    "ConnectionOutcome",
    "Database",
    "K2Setup",
    "Mode",
    "Refusals",
    "database",
    "k2_setup",
    "last_webhook_at",
    "mode",
    "refusals",
    "check_connection",
]

PRODUCTION_HOST = "api.kopokopo.com"  # K2 Connect's live host; any other real host is the sandbox
_TEST_TIMEOUT = 10.0  # seconds: a person is waiting for the answer
_EVENTS: Table = WebhookEvent.__table__  # type: ignore[attr-defined]
_REJECTIONS: Table = WebhookRejection.__table__  # type: ignore[attr-defined]


class Mode(StrEnum):
    """Where money requests go: the emulator (demo), Kopo Kopo's sandbox, or production (real money)."""

    DEMO = "demo"
    SANDBOX = "sandbox"
    PRODUCTION = "production"


def mode(settings: Settings) -> Mode:
    """Demo without real credentials (or on the emulator); production on K2's live host; else the sandbox."""
    if settings.demo_mode:
        return Mode.DEMO
    host = (urlsplit(settings.k2_base_url).hostname or "").lower()
    return Mode.PRODUCTION if host == PRODUCTION_HOST else Mode.SANDBOX


@dataclass(frozen=True, slots=True)
class K2Setup:
    """The K2 settings as an owner may see them: addresses in full, secrets only as set or not."""

    mode: Mode
    base_url: str
    till_number: str  # "" when not set
    public_base_url: str  # "" when not set
    client_id_set: bool
    client_secret_set: bool
    api_key_set: bool  # the webhook signing key
    database_password_set: bool  # a password inside DATABASE_URL


def k2_setup(settings: Settings) -> K2Setup:
    """The settings with every secret reduced to whether it is set."""
    return K2Setup(
        mode=mode(settings),
        base_url=settings.k2_base_url,
        till_number=settings.k2_till_number,
        public_base_url=settings.public_base_url,
        client_id_set=bool(settings.k2_client_id),
        client_secret_set=bool(settings.k2_client_secret),
        api_key_set=bool(settings.k2_api_key),
        database_password_set=bool(make_url(settings.database_url).password),
    )


def last_webhook_at(engine: Engine) -> datetime | None:
    """When the newest stored delivery arrived (aware UTC); None before the first."""
    with engine.connect() as connection:
        return connection.execute(select(func.max(_EVENTS.c.received_at))).scalar()


@dataclass(frozen=True, slots=True)
class Database:
    """The database's kind (`"sqlite"` or `"postgresql"`) and size in bytes (None for an in-memory SQLite)."""

    kind: str
    size_bytes: int | None


def database(engine: Engine) -> Database:
    """Kind and size: SQLite's file with its write-ahead log, or PostgreSQL's `pg_database_size`."""
    kind = engine.dialect.name
    if kind == "postgresql":
        with engine.connect() as connection:
            size = connection.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
        return Database(kind, int(size))
    path = engine.url.database
    if not path or path == ":memory:":
        return Database(kind, None)
    files = (path, f"{path}-wal")
    return Database(kind, sum(os.path.getsize(name) for name in files if os.path.exists(name)))


@dataclass(frozen=True, slots=True)
class Refusals:
    """Deliveries refused for one reason (one of `merchant.inbox.rejections`' `REASON_*` texts)."""

    reason: str
    last_day: int
    last_week: int
    last_at: datetime  # the latest one, aware UTC


def refusals(engine: Engine, *, now: datetime | None = None) -> list[Refusals]:
    """Refused deliveries over the last 24 hours and 7 days by reason, most in the week first.

    Summed in the database: a flood stores a row per minute, source and reason, more than a page should fetch."""
    now = now or datetime.now(UTC)
    day, week = now - timedelta(days=1), now - timedelta(days=7)
    table = _REJECTIONS
    in_week = func.sum(table.c.count)
    query = (
        select(table.c.reason, func.sum(case((table.c.minute >= day, table.c.count), else_=0)), in_week,
               func.max(table.c.last_at))  # max() keeps the column's type: aware UTC on both databases
        .where(table.c.minute >= week)
        .group_by(table.c.reason)
        .order_by(in_week.desc(), table.c.reason)
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return [Refusals(reason, int(day_count), int(week_count), last_at) for reason, day_count, week_count, last_at
            in rows]


class ConnectionOutcome(StrEnum):
    """What asking K2 for a token came to."""

    OK = "ok"
    NO_CREDENTIALS = "no_credentials"  # K2_CLIENT_ID or K2_CLIENT_SECRET is not set
    UNREACHABLE = "unreachable"  # no connection (wrong address, no network)
    TIMED_OUT = "timed_out"  # connected, no answer in time
    REFUSED = "refused"  # K2 refused the client id and secret
    K2_FAILED = "k2_failed"  # K2 answered with a server error
    UNEXPECTED = "unexpected"  # another answer: most likely K2_BASE_URL is not K2


@dataclass(frozen=True, slots=True)
class ConnectionCheck:
    """One "test the connection": the outcome, the K2 address asked, how long it took, K2's status if it answered."""

    outcome: ConnectionOutcome
    base_url: str
    elapsed: timedelta
    status_code: int | None = None


def check_connection(runtime: Runtime, actor: User, *, source: str | None = None) -> ConnectionCheck:
    """Ask K2 for a fresh token with the running settings (no retries, a short timeout); audited either way."""
    require(actor, Permission.MANAGE_SETTINGS)
    base_url = runtime.settings.k2_base_url
    started = time.monotonic()
    status: int | None = None
    if runtime.client is None:
        outcome = ConnectionOutcome.NO_CREDENTIALS
    else:
        base_url = runtime.client.base_url
        try:
            runtime.client.with_options(timeout=_TEST_TIMEOUT, max_retries=0).tokens.create()
            outcome = ConnectionOutcome.OK
        except APITimeoutError:
            outcome = ConnectionOutcome.TIMED_OUT
        except APIConnectionError:
            outcome = ConnectionOutcome.UNREACHABLE
        except APIStatusError as err:
            status = err.status_code
            outcome = _status_outcome(err)
        except K2Error:  # an answer that is not a token: not K2 at that address
            outcome = ConnectionOutcome.UNEXPECTED
    check = ConnectionCheck(outcome, base_url, timedelta(seconds=time.monotonic() - started), status)
    engine = runtime.engine
    assert engine is not None, "the runtime is not started"
    with engine.begin() as connection:
        detail: dict[str, object] = {"outcome": outcome.value}
        if status is not None:
            detail["status"] = status
        record(connection, AuditAction.CONNECTION_TESTED, actor=actor.username, target=base_url, detail=detail,
               source=source)
    return check


def _status_outcome(err: APIStatusError) -> ConnectionOutcome:
    """OAuth refuses bad client credentials with 401 (K2) or 400/403 `invalid_client` (some gateways)."""
    if isinstance(err, AuthenticationError | K2PermissionDenied) or err.error_code in ("invalid_client",
                                                                                       "unauthorized_client"):
        return ConnectionOutcome.REFUSED
    if err.status_code >= 500:
        return ConnectionOutcome.K2_FAILED
    return ConnectionOutcome.UNEXPECTED
