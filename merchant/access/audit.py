"""The audit trail: who did what, when, from where; appended inside the same transaction as the act itself."""
from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import Connection, Engine, Table, insert, select

from ..db.tables import AuditEntry
from ..money_in.filters import BUSINESS_TIMEZONE
from ..spreadsheet import spreadsheet_text
from .roles import Permission

if TYPE_CHECKING:
    from .users import User

__all__ = ["AUDIT", "AUDIT_COLUMNS", "EXPORT_LIMIT", "AuditAction", "audit_log", "export_audit", "record"]

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
    SETTLEMENT_ACCOUNT_ADDED = "settlement_account_added"
    APPROVED = "approved"
    DECLINED = "declined"
    EXPORTED = "exported"
    REPROCESSED = "reprocessed"
    RECIPIENT_CHANGED = "recipient_changed"  # a payout recipient added, confirmed, renamed or disabled
    BATCH_SUBMITTED = "batch_submitted"  # a spreadsheet of payouts, waiting for a second person
    BATCH_CHANGED = "batch_changed"  # a batch paused, resumed or cancelled
    HISTORY_FILLED = "history_filled"  # payments K2 listed for a range, the missing ones stored
    HISTORY_CHECKED = "history_checked"  # the daily check of yesterday against K2's list


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


EXPORT_LIMIT = 1_000_000  # entries in one file; far beyond a shop's years, still bounded


def export_audit(
    engine: Engine,
    actor: User,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    who: str | None = None,
    actions: list[AuditAction] | None = None,
    source: str | None = None,
) -> bytes:
    """The filtered trail as CSV bytes (UTF-8 with BOM, oldest first), the export itself recorded as `EXPORTED`.

    Columns `AUDIT_COLUMNS`; `at` in Nairobi time with its offset, `action` the stored value, and every text cell
    that a spreadsheet would run as a formula (a username or address is typed by whoever signs in) is guarded."""
    from .users import require  # users imports this module: a late import, not a cycle

    require(actor, Permission.SEE_AUDIT)
    entries = audit_log(engine, since=since, until=until, actor=who, actions=actions, limit=EXPORT_LIMIT)
    entries = entries.iloc[::-1]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(AUDIT_COLUMNS)
    moments = entries["at"].dt.tz_convert(BUSINESS_TIMEZONE)
    for moment, row in zip(moments, entries.itertuples(index=False), strict=True):
        cells = (spreadsheet_text(getattr(row, name)) for name in AUDIT_COLUMNS[1:])
        writer.writerow([moment.isoformat(" ", "seconds"), *cells])
    filters = {"since": since, "until": until, "who": who, "actions": [action.value for action in actions or []]}
    with engine.begin() as connection:
        record(connection, AuditAction.EXPORTED, actor=actor.username, target="audit trail",
               detail={"rows": len(entries), **{key: value for key, value in filters.items() if value}}, source=source)
    return out.getvalue().encode("utf-8-sig")
