"""Exports leave the dashboard with customers' data: only roles that may export do, and each is audited."""
from __future__ import annotations

from sqlalchemy import Engine

from .audit import AuditAction, record
from .roles import Permission
from .users import User, require

__all__ = ["exported"]


def exported(engine: Engine, actor: User, *, what: str, detail: dict[str, str] | None = None,
             source: str | None = None) -> None:
    """Check that `actor` may export, and record that they took `what` (`NotAllowed` otherwise)."""
    require(actor, Permission.EXPORT)
    with engine.begin() as connection:
        record(connection, AuditAction.EXPORTED, actor=actor.username, target=what, detail=detail, source=source)
