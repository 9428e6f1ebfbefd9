"""What the owner sets on a page rather than in the environment: the approval threshold for payouts, and which
K2 API generation pays out (v1 PAY and settlement transfers, or v2 send_money). Each change is audited."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Literal

from sqlalchemy import Engine, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from .access import AuditAction, Permission, User, record, require
from .db.tables import AppSetting
from .errors import InputError

__all__ = ["Preferences", "load_preferences", "set_approval_threshold", "set_payout_api", "set_self_approval"]

_SETTINGS: Table = AppSetting.__table__  # type: ignore[attr-defined]
_THRESHOLD = "approval_threshold_kes"
_PAYOUT_API = "payout_api"
_SELF_APPROVAL = "self_approval"


@dataclass(frozen=True, slots=True)
class Preferences:
    """`approval_threshold`: a payout above it waits for a second person (None: none waits);
    `payout_api`: "v1" (PAY, settlement transfers) or "v2" (send_money, external recipients);
    `self_approval`: a shop with a single owner lets the owner approve their own batch, after a second yes."""

    approval_threshold: Decimal | None = None
    payout_api: Literal["v1", "v2"] = "v1"
    self_approval: bool = False


def load_preferences(engine: Engine) -> Preferences:
    """The owner's settings, defaults where none was set."""
    with engine.connect() as connection:
        stored = dict(connection.execute(select(_SETTINGS.c.name, _SETTINGS.c.value)).all())
    threshold = stored.get(_THRESHOLD)
    return Preferences(
        approval_threshold=Decimal(threshold) if threshold else None,
        payout_api="v2" if stored.get(_PAYOUT_API) == "v2" else "v1",
        self_approval=stored.get(_SELF_APPROVAL) == "on",
    )


def _store(engine: Engine, actor: User, name: str, value: str, *, source: str | None) -> None:
    require(actor, Permission.MANAGE_SETTINGS)
    now = datetime.now(UTC)
    with engine.begin() as connection:
        insert = (postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert)(_SETTINGS)
        statement = insert.values(name=name, value=value, changed_by=actor.username, changed_at=now)
        connection.execute(statement.on_conflict_do_update(
            index_elements=["name"], set_={"value": value, "changed_by": actor.username, "changed_at": now}))
        record(connection, AuditAction.SETTINGS_CHANGED, actor=actor.username, target=name,
               detail={"value": value}, source=source)


def set_approval_threshold(engine: Engine, actor: User, amount: str | None, *, source: str | None = None) -> None:
    """Payouts above `amount` KES wait for a second person; blank means none waits."""
    text = (amount or "").replace(",", "").strip()
    if text:
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise InputError("approval_threshold", f"Approval threshold: {text!r} is not an amount in KES.") from None
        if not value.is_finite() or value < 0 or value != value.to_integral_value():
            raise InputError("approval_threshold", "Approval threshold: a whole number of shillings, 0 or more.")
        text = str(int(value))
    _store(engine, actor, _THRESHOLD, text, source=source)


def set_payout_api(engine: Engine, actor: User, api: str, *, source: str | None = None) -> None:
    """Pay out through K2's v1 calls (the default) or v2 send_money."""
    if api not in ("v1", "v2"):
        raise InputError("payout_api", "Payout API: choose v1 or v2.")
    _store(engine, actor, _PAYOUT_API, api, source=source)


def set_self_approval(engine: Engine, actor: User, allowed: bool, *, source: str | None = None) -> None:
    """Let the single owner approve their own payout batches (after a second confirmation), or not."""
    _store(engine, actor, _SELF_APPROVAL, "on" if allowed else "off", source=source)
