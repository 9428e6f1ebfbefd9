"""Reads about what K2 delivered, for pages: how much is stored, and what was kept but not mapped."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine, Table, func, select

from .mapping import OUTCOME_FAILED, OUTCOME_UNMAPPED
from ..db.tables import Transaction, WebhookEvent

__all__ = ["UNREAD_COLUMNS", "StoreCounts", "Unread", "counts", "unread_counts", "unread_events"]

_EVENTS: Table = WebhookEvent.__table__  # type: ignore[attr-defined]
_TRANSACTIONS: Table = Transaction.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class StoreCounts:
    """Row counts for a status line: payments received, deliveries stored, and those kept but not mapped."""

    transactions: int
    webhook_events: int
    failed_events: int
    unmapped_events: int


def counts(engine: Engine) -> StoreCounts:
    """How much is stored; cheap enough for a page header."""
    with engine.connect() as connection:
        transactions = connection.execute(select(func.count()).select_from(_TRANSACTIONS)).scalar_one()
        by_outcome: dict[str, int] = dict(
            connection.execute(select(_EVENTS.c.outcome, func.count()).group_by(_EVENTS.c.outcome)).all()
        )
    return StoreCounts(
        transactions, sum(by_outcome.values()), by_outcome.get(OUTCOME_FAILED, 0), by_outcome.get(OUTCOME_UNMAPPED, 0)
    )


@dataclass(frozen=True, slots=True)
class Unread:
    """Deliveries kept but not turned into rows: those that failed to map, and those of kinds we do not map."""

    failed: int
    unmapped: int


def unread_counts(engine: Engine) -> Unread:
    """`Unread`, counted through the index on `outcome`: it costs those deliveries, not every one stored (Home
    asks on every visit; `counts` reads every payment and delivery)."""
    query = (select(_EVENTS.c.outcome, func.count()).where(_EVENTS.c.outcome.in_((OUTCOME_FAILED, OUTCOME_UNMAPPED)))
             .group_by(_EVENTS.c.outcome))
    with engine.connect() as connection:
        found: dict[str, int] = dict(connection.execute(query).all())
    return Unread(found.get(OUTCOME_FAILED, 0), found.get(OUTCOME_UNMAPPED, 0))


UNREAD_COLUMNS = ("received_at", "kind", "outcome", "error", "id")


def unread_events(engine: Engine, *, limit: int = 100) -> pd.DataFrame:
    """The newest deliveries kept but not turned into rows (unknown topics, bodies that failed to map).

    Columns `UNREAD_COLUMNS`; `received_at` is UTC."""
    with engine.connect() as connection:
        found = connection.execute(
            select(*(_EVENTS.c[name] for name in UNREAD_COLUMNS))
            .where(_EVENTS.c.outcome.in_((OUTCOME_FAILED, OUTCOME_UNMAPPED)))
            .order_by(_EVENTS.c.received_at.desc())
            .limit(limit)
        ).all()
    frame = pd.DataFrame(found, columns=list(UNREAD_COLUMNS))
    frame["received_at"] = pd.to_datetime(frame["received_at"], utc=True)
    return frame
