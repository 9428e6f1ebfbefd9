"""Webhook subscriptions: have K2 post every event type to this server's webhook route, and remember what was made.

K2 offers no way to list subscriptions, so each one made here is recorded (event type, URL, till, K2's Location,
when, by whom) per K2 account; "missing" means no record for this account, URL and till. Making them is
idempotent: a row is claimed (insert-or-ignore on its key) before K2 is asked, so two clicks never make two."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, get_args
from urllib.parse import urlsplit

import pandas as pd
from sqlalchemy import Connection, Engine, Table, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from k2 import APIConnectionError, APIStatusError, AuthenticationError, K2Client, K2Error
from k2.types.subscription_params import EventType

from .access import AuditAction, Permission, User, record, require
from .config import Settings
from .db.tables import WebhookSubscriptionRecord
from .errors import InputError
from .runtime import Runtime

__all__ = [
    "COMPANY_EVENTS",
    "EVENT_TYPES",
    "SUBSCRIPTION_COLUMNS",
    "Subscribed",
    "missing_events",
    "subscribe_webhooks",
    "subscriptions",
    "webhook_url",
]

EVENT_TYPES: tuple[str, ...] = get_args(EventType)  # every event K2 can post, in K2's order
COMPANY_EVENTS = frozenset({"settlement_transfer_completed", "m2m_transaction_received", "customer_created"})
SUBSCRIPTIONS: Table = WebhookSubscriptionRecord.__table__  # type: ignore[attr-defined]
_STALE_CLAIM = timedelta(minutes=2)  # a claim with no Location after this was interrupted: it may be made again


@dataclass(frozen=True, slots=True)
class Subscribed:
    """What one request to subscribe did: the URL, event types subscribed now, and those K2 refused or could not
    be asked about (event type to what K2 said; once K2 is unreachable the rest are left for the next try)."""

    url: str
    created: tuple[str, ...] = ()
    failed: dict[str, str] = field(default_factory=dict)


def webhook_url(runtime: Runtime) -> str:
    """Where K2 should post events: PUBLIC_BASE_URL's webhook route, HTTPS outside demo mode (`InputError`)."""
    url = runtime.callback_url
    if not url:
        raise InputError("PUBLIC_BASE_URL", "PUBLIC_BASE_URL is not set: K2 needs the address it can reach this "
                                            "server at, e.g. https://shop.example.co.ke.")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError("PUBLIC_BASE_URL", f"PUBLIC_BASE_URL ({runtime.settings.public_base_url}) is not a web "
                                            "address; set it to https://<the address K2 can reach>.")
    if parts.scheme != "https" and not runtime.settings.demo_mode:
        raise InputError("PUBLIC_BASE_URL", f"PUBLIC_BASE_URL ({runtime.settings.public_base_url}) must start "
                                            "with https://: K2 sends payments only to a secure address.")
    return url


def subscriptions(runtime: Runtime) -> pd.DataFrame:
    """The subscriptions made at this K2 account, newest first: columns `SUBSCRIPTION_COLUMNS` (`created_at` UTC,
    `scope_reference` the till or "" for company-wide)."""
    account = _account(runtime.settings)
    with _engine(runtime).connect() as connection:
        rows = connection.execute(
            select(*(SUBSCRIPTIONS.c[name] for name in SUBSCRIPTION_COLUMNS))
            .where(SUBSCRIPTIONS.c.account == account, SUBSCRIPTIONS.c.location.is_not(None))
            .order_by(SUBSCRIPTIONS.c.created_at.desc(), SUBSCRIPTIONS.c.id.desc())
        ).all()
    frame = pd.DataFrame(rows, columns=list(SUBSCRIPTION_COLUMNS))
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
    return frame


SUBSCRIPTION_COLUMNS = ("event_type", "scope", "scope_reference", "url", "location", "created_at", "created_by")


def missing_events(runtime: Runtime) -> list[str]:
    """Event types with no subscription at this K2 account for this server's webhook URL (and till), K2's order."""
    url = runtime.callback_url
    account = _account(runtime.settings)
    with _engine(runtime).connect() as connection:
        made = {
            (row.event_type, row.scope_reference)
            for row in connection.execute(
                select(SUBSCRIPTIONS.c.event_type, SUBSCRIPTIONS.c.scope_reference).where(
                    SUBSCRIPTIONS.c.account == account, SUBSCRIPTIONS.c.url == url,
                    SUBSCRIPTIONS.c.location.is_not(None),
                )
            )
        }
    till = runtime.settings.k2_till_number
    return [event for event in EVENT_TYPES if (event, _scope(event, till)[1]) not in made]


def subscribe_webhooks(runtime: Runtime, actor: User, *, source: str | None = None) -> Subscribed:
    """Subscribe this server's webhook URL to every event type it is not yet subscribed to, if `actor` may manage
    settings (`NotAllowed`). `InputError` names the setting to fix (no K2 account, no till, a public URL that is
    not HTTPS outside demo mode); nothing is asked of K2 then. The attempt is audited when K2 was asked.

    K2 refusing one event type does not stop the others; K2 unreachable, or refusing our credentials, does."""
    require(actor, Permission.MANAGE_SETTINGS)
    url = webhook_url(runtime)
    client = runtime.client
    if client is None:
        raise InputError("K2_CLIENT_ID", "K2_CLIENT_ID and K2_CLIENT_SECRET are not set: there is no K2 account "
                                         "to subscribe at.")
    settings = runtime.settings
    if not settings.k2_till_number:
        raise InputError("K2_TILL_NUMBER", "K2_TILL_NUMBER is not set: K2 needs the till whose payments to send.")
    engine = _engine(runtime)
    created: list[str] = []
    failed: dict[str, str] = {}
    for event in missing_events(runtime):
        claim = _claim(engine, settings, event, url, actor)
        if claim is None:  # someone else is making it right now
            continue
        try:
            location = _create(client, settings, event, url)
        except K2Error as err:
            with engine.begin() as connection:
                connection.execute(delete(SUBSCRIPTIONS).where(SUBSCRIPTIONS.c.id == claim,
                                                               SUBSCRIPTIONS.c.location.is_(None)))
            failed[event] = _why(err)
            if isinstance(err, (APIConnectionError, AuthenticationError)):
                break  # every other event type would fail the same way
            continue
        with engine.begin() as connection:
            connection.execute(update(SUBSCRIPTIONS).where(SUBSCRIPTIONS.c.id == claim).values(location=location))
        created.append(event)
    if created or failed:
        with engine.begin() as connection:
            record(connection, AuditAction.WEBHOOKS_SUBSCRIBED, actor=actor.username, target=url,
                   detail={"created": created, "failed": failed}, source=source)
    return Subscribed(url, tuple(created), failed)


def _engine(runtime: Runtime) -> Engine:
    assert runtime.engine is not None, "the runtime is not started"
    return runtime.engine


def _account(settings: Settings) -> str:
    """Which K2 account a subscription belongs to: K2's address and a hash of the client id (never the id)."""
    client = hashlib.sha256(settings.k2_client_id.encode()).hexdigest()[:16]
    return f"{settings.k2_base_url.rstrip('/')} {client}"


def _scope(event: str, till: str) -> tuple[str, str]:
    """(scope, scope_reference): company-wide events take no till."""
    return ("company", "") if event in COMPANY_EVENTS else ("till", till)


def _claim(engine: Engine, settings: Settings, event: str, url: str, actor: User) -> int | None:
    """Our row for this subscription, claimed before K2 is asked; None when another request holds it."""
    scope, reference = _scope(event, settings.k2_till_number)
    now = datetime.now(UTC)
    with engine.begin() as connection:
        claimed = connection.execute(
            _insert(connection)(SUBSCRIPTIONS)
            .values(account=_account(settings), event_type=event, scope=scope, scope_reference=reference, url=url,
                    location=None, created_at=now, created_by=actor.username)
            .on_conflict_do_nothing(index_elements=["account", "event_type", "url", "scope_reference"])
            .returning(SUBSCRIPTIONS.c.id)
        ).first()
        if claimed is None:  # a claim whose request never finished (the process died) may be taken over
            claimed = connection.execute(
                update(SUBSCRIPTIONS)
                .where(SUBSCRIPTIONS.c.account == _account(settings), SUBSCRIPTIONS.c.event_type == event,
                       SUBSCRIPTIONS.c.url == url, SUBSCRIPTIONS.c.scope_reference == reference,
                       SUBSCRIPTIONS.c.location.is_(None), SUBSCRIPTIONS.c.created_at < now - _STALE_CLAIM)
                .values(created_at=now, created_by=actor.username)
                .returning(SUBSCRIPTIONS.c.id)
            ).first()
    return None if claimed is None else int(claimed.id)


def _insert(connection: Connection) -> Any:
    return postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert


def _create(client: K2Client, settings: Settings, event: str, url: str) -> str:
    scope, reference = _scope(event, settings.k2_till_number)
    if scope == "company":
        return client.webhook_subscriptions.create(event_type=event, url=url, scope="company")  # type: ignore[arg-type]
    return client.webhook_subscriptions.create(event_type=event, url=url, scope="till",  # type: ignore[arg-type]
                                               scope_reference=reference)


def _why(error: K2Error) -> str:
    """What K2 said, or that it said nothing; never a secret (k2's messages carry none)."""
    if isinstance(error, APIStatusError):
        return error.error_message or f"K2 answered {error.status_code}"
    if isinstance(error, APIConnectionError):
        return "K2 could not be reached"
    return str(error)
