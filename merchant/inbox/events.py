"""The event log's reads (every stored delivery, a page at a time, newest first) and "process again" for one.

A busy till stores a million deliveries, so nothing here reads them all: pages are keyset-paged on
(`received_at`, `id`) and bodies are read one at a time."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import Engine, Row, Table, and_, func, or_, select

from ..db import writing
from ..access import AuditAction, Permission, User, record, require
from ..db.tables import WebhookEvent
from ..errors import InputError
from .mapping import OUTCOME_FAILED, OUTCOME_MAPPED, OUTCOME_UNMAPPED
from .store import _remap, record_deliveries

__all__ = [
    "EVENT_COLUMNS",
    "OUTCOMES",
    "Cursor",
    "EventPage",
    "StoredEvent",
    "event_kinds",
    "get_event",
    "list_events",
    "process_again",
]

_EVENTS: Table = WebhookEvent.__table__  # type: ignore[attr-defined]
OUTCOMES = (OUTCOME_MAPPED, OUTCOME_UNMAPPED, OUTCOME_FAILED)
EVENT_COLUMNS = ("received_at", "kind", "outcome", "error", "id")


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page ends: the last event shown; the next page holds the events stored before it."""

    received_at: datetime
    id: str


@dataclass(frozen=True, slots=True)
class EventPage:
    """One page of events, columns `EVENT_COLUMNS` (`received_at` UTC), and where the next (older) page starts
    (None: this is the last)."""

    events: pd.DataFrame
    older: Cursor | None


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One delivery as stored: the body exactly as received, and what mapping it made of it."""

    id: str
    kind: str
    received_at: datetime
    payload: str
    outcome: str
    error: str | None

    @classmethod
    def of(cls, row: Row) -> StoredEvent:
        return cls(row.id, row.kind, row.received_at, row.payload, row.outcome, row.error)


def list_events(
    engine: Engine,
    *,
    kinds: Sequence[str] | None = None,
    outcomes: Sequence[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    after: Cursor | None = None,
    limit: int = 50,
) -> EventPage:
    """Up to `limit` events, newest first, of these kinds and outcomes, received in [`start`, `end`) (aware), and
    older than `after` when it is given. Bodies are left out: `get_event` reads one."""
    query = select(*(_EVENTS.c[name] for name in EVENT_COLUMNS))
    if kinds:
        query = query.where(_EVENTS.c.kind.in_(list(kinds)))
    if outcomes:
        query = query.where(_EVENTS.c.outcome.in_(list(outcomes)))
    if start is not None:
        query = query.where(_EVENTS.c.received_at >= start)
    if end is not None:
        query = query.where(_EVENTS.c.received_at < end)
    if after is not None:  # `<=` first, so the received_at index bounds the scan; the id breaks ties
        query = query.where(
            _EVENTS.c.received_at <= after.received_at,
            or_(_EVENTS.c.received_at < after.received_at, and_(_EVENTS.c.received_at == after.received_at,
                                                                _EVENTS.c.id < after.id)),
        )
    query = query.order_by(_EVENTS.c.received_at.desc(), _EVENTS.c.id.desc()).limit(limit + 1)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    more = len(rows) > limit
    rows = rows[:limit]
    frame = pd.DataFrame(rows, columns=list(EVENT_COLUMNS))
    frame["received_at"] = pd.to_datetime(frame["received_at"], utc=True)
    older = Cursor(rows[-1].received_at, rows[-1].id) if more else None
    return EventPage(frame, older)


def event_kinds(engine: Engine, *, limit: int = 200) -> list[str]:
    """The distinct kinds stored, in order, found by skipping along the kind index (one probe per kind, never a
    scan of every event)."""
    kind = _EVENTS.c.kind
    found = select(func.min(kind).label("kind")).cte("found", recursive=True)
    step = select(func.min(kind)).where(kind > found.c.kind).scalar_subquery()
    found = found.union_all(select(step).where(found.c.kind.is_not(None)))
    query = select(found.c.kind).where(found.c.kind.is_not(None)).limit(limit)
    with engine.connect() as connection:
        return list(connection.execute(query).scalars())


def get_event(engine: Engine, event_id: str) -> StoredEvent | None:
    """The stored delivery with this id, body included."""
    with engine.connect() as connection:
        row = connection.execute(select(_EVENTS).where(_EVENTS.c.id == event_id)).first()
    return None if row is None else StoredEvent.of(row)


def process_again(engine: Engine, actor: User, event_id: str, *, source: str | None = None) -> StoredEvent:
    """Map a failed delivery again (after the cause is fixed), if `actor` may reprocess (`NotAllowed`); returns the
    event as it now stands, still `failed` with the new reason if it still cannot be mapped. Its rows, its new
    outcome and the audit entry commit together. One that is no longer failed is returned unchanged, unaudited."""
    require(actor, Permission.REPROCESS)
    with writing(engine) as connection:
        row = connection.execute(select(_EVENTS).where(_EVENTS.c.id == event_id).with_for_update()).first()
        if row is None:
            raise InputError("event", "That delivery is not stored here; refresh the event log.")
        if row.outcome != OUTCOME_FAILED:
            return StoredEvent.of(row)
        delivery = _remap(row.id, row.kind, row.received_at, row.payload)
        record_deliveries(connection, [delivery])
        now = connection.execute(select(_EVENTS).where(_EVENTS.c.id == event_id)).one()
        record(connection, AuditAction.REPROCESSED, actor=actor.username, target=event_id,
               detail={"kind": row.kind, "was": row.error, "outcome": now.outcome, "error": now.error},
               source=source)
    return StoredEvent.of(now)
