"""The audit trail: who did what, when, from where; appended inside the same transaction as the act itself."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, Table, insert, select

from ..db.tables import AuditEntry

__all__ = ["AUDIT", "AUDIT_COLUMNS", "AuditAction", "audit_log", "record"]

AUDIT: Table = AuditEntry.__table__  # type: ignore[attr-defined]


class AuditAction(StrEnum):
    """What was done; stored as its value."""

    SIGNED_IN = "signed_in"
    SIGN_IN_FAILED = "sign_in_failed"
    SIGN_IN_REFUSED = "sign_in_refused"  # while locked out, or a disabled account
    SIGNED_OUT = "signed_out"
    SIGNED_OUT_EVERYWHERE = "signed_out_everywhere"
    SESSION_EXPIRED = "session_expired"
    OWNER_CREATED = "owner_created"
    USER_ADDED = "user_added"
    ROLE_CHANGED = "role_changed"
    USER_DISABLED = "user_disabled"
    USER_ENABLED = "user_enabled"
    PASSWORD_RESET = "password_reset"
    SETTINGS_CHANGED = "settings_changed"
    CONNECTION_TESTED = "connection_tested"
    WEBHOOKS_SUBSCRIBED = "webhooks_subscribed"
    MONEY_REQUESTED = "money_requested"
    APPROVED = "approved"
    EXPORTED = "exported"
    REPROCESSED = "reprocessed"


def record(
    connection: Connection,
    action: AuditAction,
    *,
    actor: str | None,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
    source: str | None = None,
) -> None:
    """Append one entry (in the caller's transaction, so the act and its record commit together)."""
    connection.execute(
        insert(AUDIT).values(
            at=datetime.now(UTC),
            actor=actor,
            action=action,
            target=target,
            detail=json.dumps(detail, sort_keys=True, default=str) if detail else None,
            source=source,
        )
    )


AUDIT_COLUMNS = ("at", "actor", "action", "target", "detail", "source")


def audit_log(
    engine: Engine,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    actor: str | None = None,
    actions: list[AuditAction] | None = None,
    limit: int = 1_000,
) -> pd.DataFrame:
    """The newest entries first, columns `AUDIT_COLUMNS` (`at` UTC, `action` an `AuditAction`'s value)."""
    query = select(*(AUDIT.c[name] for name in AUDIT_COLUMNS)).order_by(AUDIT.c.at.desc(), AUDIT.c.id.desc())
    if since is not None:
        query = query.where(AUDIT.c.at >= since)
    if until is not None:
        query = query.where(AUDIT.c.at < until)
    if actor:
        query = query.where(AUDIT.c.actor == actor)
    if actions:
        query = query.where(AUDIT.c.action.in_([action.value for action in actions]))
    with engine.connect() as connection:
        rows = connection.execute(query.limit(limit)).all()
    frame = pd.DataFrame(rows, columns=list(AUDIT_COLUMNS))
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    return frame
