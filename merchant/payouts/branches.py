"""Bank branches the owner names once, each with the K2 reference read in K2's web dashboard, so whoever adds a bank
recipient picks "Equity, Moi Avenue" instead of pasting a UUID."""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, Row, Table, delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from ..access import AuditAction, Permission, User, record, require
from ..db.tables import BankBranch
from ..errors import InputError

__all__ = ["BankBranchView", "add_branch", "branch_reference", "list_branches", "remove_branch"]

BRANCHES: Table = BankBranch.__table__  # type: ignore[attr-defined]
_UUID = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")
_NAME_MAX = 80


@dataclass(frozen=True, slots=True)
class BankBranchView:
    """A named branch and its K2 reference (the `bank_branch_ref` of a bank recipient)."""

    id: int
    name: str
    reference: str
    created_by: str
    created_at: datetime

    @classmethod
    def of(cls, row: Row) -> BankBranchView:
        return cls(row.id, row.name, row.reference, row.created_by, row.created_at)


def branch_reference(text: str) -> str:
    """A pasted K2 branch reference in its one stored form (lower-case UUID); `InputError` if it is not one."""
    value = text.strip()
    if not _UUID.fullmatch(value):
        raise InputError("reference", "Reference: paste the branch reference from the K2 dashboard "
                                      "(like 3f2b8c1e-0a4d-4c5e-9b7a-1d2e3f4a5b6c).")
    return str(uuid.UUID(value))


def list_branches(engine: Engine) -> list[BankBranchView]:
    """Every named branch, by name."""
    with engine.connect() as connection:
        rows = connection.execute(select(BRANCHES).order_by(func.lower(BRANCHES.c.name), BRANCHES.c.id))
        return [BankBranchView.of(row) for row in rows]


def add_branch(
    engine: Engine, actor: User, *, name: str, reference: str, source: str | None = None
) -> BankBranchView:
    """The owner names a branch (`NotAllowed` for anyone else); a name or reference already listed is refused."""
    require(actor, Permission.MANAGE_SETTINGS)
    label = " ".join(name.split())
    if not label:
        raise InputError("name", "Branch name: enter one, e.g. Equity Bank, Moi Avenue.")
    if len(label) > _NAME_MAX:
        raise InputError("name", f"Branch name: at most {_NAME_MAX} characters.")
    ref = branch_reference(reference)
    try:
        with engine.begin() as connection:
            row = connection.execute(
                insert(BRANCHES).values(name=label, reference=ref, created_by=actor.username,
                                        created_at=datetime.now(UTC)).returning(*BRANCHES.c)
            ).one()
            record(connection, AuditAction.SETTINGS_CHANGED, actor=actor.username, target="bank branches",
                   detail={"added": label, "reference": ref}, source=source)
    except IntegrityError:
        with engine.connect() as connection:
            same_name = connection.execute(select(BRANCHES.c.id).where(BRANCHES.c.name == label)).first()
        if same_name is not None:
            raise InputError("name", f"Branch name: {label} is listed already.") from None
        raise InputError("reference", "Reference: that branch reference is listed already, under another "
                                      "name.") from None
    return BankBranchView.of(row)


def remove_branch(engine: Engine, actor: User, branch_id: int, *, source: str | None = None) -> None:
    """Take a branch off the list (recipients already added keep their reference)."""
    require(actor, Permission.MANAGE_SETTINGS)
    with engine.begin() as connection:
        row = connection.execute(delete(BRANCHES).where(BRANCHES.c.id == branch_id).returning(*BRANCHES.c)).first()
        if row is None:
            raise InputError("branch", "That branch is not on the list any more.")
        record(connection, AuditAction.SETTINGS_CHANGED, actor=actor.username, target="bank branches",
               detail={"removed": row.name, "reference": row.reference}, source=source)
