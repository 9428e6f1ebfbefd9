"""The outbox table's reads and writes: insert-or-ignore by our id, and conditional moves along `TRANSITIONS`.

Every move is one UPDATE whose WHERE names the states it may come from, so two writers (a worker and a callback,
two replicas) can never both win, and a final row is never touched again."""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import CompoundSelect, Connection, Engine, Row, Table, bindparam, literal_column, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ..db import writing
from ..db.tables import OUTCOME_TABLES, OutboxRequest
from ..money import from_cents, to_cents
from .states import OPEN, OutboxState, sources, state_for_k2_status

__all__ = [
    "OUTBOX",
    "OutboxRow",
    "approve",
    "claim_due_checks",
    "claim_queued",
    "decline",
    "enqueue",
    "enqueue_all",
    "find",
    "queued",
    "k2_id_of",
    "move",
    "move_each",
    "record_location",
    "recover_interrupted",
    "settle_from_results",
]

OUTBOX: Table = OutboxRequest.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One request as stored; `params` is the K2 request body (amounts as text), without its callback URL."""

    request_ref: str
    kind: str
    state: OutboxState
    params: dict[str, Any]
    amount: Decimal
    phone_number: str | None
    note: str | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    location: str | None
    k2_status: str | None
    reason: str | None
    checks: int

    @classmethod
    def of(cls, row: Row) -> OutboxRow:
        return cls(
            request_ref=row.request_ref,
            kind=row.kind,
            state=OutboxState(row.state),
            params=json.loads(row.params_json),
            amount=from_cents(row.amount_cents),
            phone_number=row.phone_number,
            note=row.note,
            created_by=row.created_by,
            created_at=row.created_at,
            updated_at=row.updated_at,
            location=row.location,
            k2_status=row.k2_status,
            reason=row.reason,
            checks=row.checks,
        )


def _now() -> datetime:
    return datetime.now(UTC)


def queued(
    *,
    request_ref: str,
    kind: str,
    params: dict[str, Any],
    amount: Decimal,
    phone_number: str | None = None,
    note: str | None = None,
    created_by: str | None = None,
    needs_approval: bool = False,
    recipient_id: int | None = None,
    account_id: int | None = None,
) -> dict[str, Any]:
    """The outbox row of a request to be sent (or, `needs_approval`, to wait for a second person), for `enqueue`."""
    now = _now()
    return {
        "request_ref": request_ref, "kind": kind,
        "state": OutboxState.AWAITING_APPROVAL if needs_approval else OutboxState.QUEUED,
        "recipient_id": recipient_id, "account_id": account_id, "params_json": json.dumps(params, sort_keys=True),
        "amount_cents": to_cents(amount), "currency": "KES", "phone_number": phone_number, "note": note,
        "created_by": created_by, "created_at": now, "updated_at": now, "checks": 0,
    }


def enqueue(connection: Connection, request: dict[str, Any]) -> bool:
    """Write a request made by `queued`, unless its `request_ref` is there already (a repeat of the same
    submission): whether it is new."""
    statement = _insert_new(connection.dialect.name).returning(OUTBOX.c.id)
    return connection.execute(statement, request).first() is not None


def enqueue_all(connection: Connection, requests: Sequence[dict[str, Any]]) -> None:
    """`enqueue` for many (a batch hands over a thousand rows at a time): one prebuilt statement for them all."""
    if requests:
        connection.execute(_insert_new(connection.dialect.name), list(requests))


@cache
def _insert_new(dialect: str) -> Any:
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(OUTBOX).on_conflict_do_nothing(
        index_elements=["request_ref"])


def find(engine: Engine, request_ref: str) -> OutboxRow | None:
    """The request with our id `request_ref`, if any."""
    with engine.connect() as connection:
        row = connection.execute(select(OUTBOX).where(OUTBOX.c.request_ref == request_ref)).first()
    return None if row is None else OutboxRow.of(row)


def move(connection: Connection, request_refs: str | Sequence[str], to: OutboxState, **values: Any) -> int:
    """Move rows to `to` if the transition table allows it from where they are; returns how many moved."""
    refs = [request_refs] if isinstance(request_refs, str) else list(request_refs)
    result = connection.execute(
        update(OUTBOX)
        .where(OUTBOX.c.request_ref.in_(refs), OUTBOX.c.state.in_([state.value for state in sources(to)]))
        .values(state=to, updated_at=_now(), **values)
    )
    return result.rowcount


def move_each(connection: Connection, to: OutboxState, moves: Sequence[dict[str, Any]]) -> int:
    """`move` for many rows at once, each with its own values (`request_ref` and the same other keys in each):
    one statement executed for all, as a round of K2's answers is written. Returns how many moved."""
    if not moves:
        return 0
    names = [name for name in moves[0] if name != "request_ref"]
    return connection.execute(
        update(OUTBOX)
        # the states as SQL literals (our own enum values): an expanding IN parameter cannot be executed many times
        .where(OUTBOX.c.request_ref == bindparam("ref"),
               OUTBOX.c.state.in_([literal_column(f"'{state.value}'") for state in sources(to)]))
        .values(state=to, updated_at=_now(), **{name: bindparam(f"new_{name}") for name in names}),
        [{"ref": move["request_ref"], **{f"new_{name}": move[name] for name in names}} for move in moves],
    ).rowcount


def k2_id_of(location: str) -> str:
    """K2's id for a resource: the last part of its Location."""
    return location.rstrip("/").rsplit("/", 1)[-1]


def record_location(connection: Connection, locations: dict[str, str]) -> None:
    """Keep K2's Location (by our id) on rows their result settled before K2's answer to our POST came back; a row
    that has one already is left as it is."""
    if locations:
        connection.execute(
            update(OUTBOX)
            .where(OUTBOX.c.request_ref == bindparam("ref"), OUTBOX.c.location.is_(None))
            .values(location=bindparam("new_location"), k2_id=bindparam("new_k2_id")),
            [{"ref": ref, "new_location": location, "new_k2_id": k2_id_of(location)}
             for ref, location in locations.items()],
        )


def approve(connection: Connection, request_ref: str, approver: str) -> bool:
    """Let a request that waits for approval go, if `approver` is not who entered it; whether it moved."""
    moved = connection.execute(
        update(OUTBOX)
        .where(OUTBOX.c.request_ref == request_ref, OUTBOX.c.state == OutboxState.AWAITING_APPROVAL,
               OUTBOX.c.created_by != approver)
        .values(state=OutboxState.QUEUED, approved_by=approver, approved_at=_now(), updated_at=_now())
    )
    return moved.rowcount == 1


def decline(connection: Connection, request_ref: str, approver: str, reason: str | None = None) -> bool:
    """Refuse a request that waits for approval (anyone allowed to approve, its maker included); whether it moved."""
    return move(connection, request_ref, OutboxState.DECLINED, approved_by=approver, approved_at=_now(),
                reason=reason or f"Declined by {approver}.") == 1


def recover_interrupted(engine: Engine) -> int:
    """At start: rows left `sending` by a process that died may have reached K2. They become `unknown` and are
    never sent again; their result callback (matched by our id) settles them."""
    with engine.begin() as connection:
        return connection.execute(
            update(OUTBOX)
            .where(OUTBOX.c.state == OutboxState.SENDING)
            .values(state=OutboxState.UNKNOWN, updated_at=_now(), reason="Sending was interrupted.")
        ).rowcount


def claim_queued(engine: Engine, limit: int) -> list[OutboxRow]:
    """Take up to `limit` queued rows, oldest first, in one conditional UPDATE: each is claimed once, whoever
    else is claiming (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite's one writer serialises claims)."""
    now = _now()
    # Materialised once: PostgreSQL may run a LIMIT subquery of an UPDATE again per row, claiming more than
    # `limit` rows (every queued one, past the rate limit and the worker's concurrency).
    chosen = (
        select(OUTBOX.c.id)
        .where(OUTBOX.c.state == OutboxState.QUEUED)
        .order_by(OUTBOX.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("chosen")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    with engine.begin() as connection:
        rows = connection.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id.in_(select(chosen.c.id)), OUTBOX.c.state == OutboxState.QUEUED)
            .values(state=OutboxState.SENDING, sent_at=now, updated_at=now)
            .returning(*OUTBOX.c)
        ).all()
    return sorted((OutboxRow.of(row) for row in rows), key=lambda row: row.created_at)


def claim_due_checks(engine: Engine, limit: int, next_after: timedelta) -> list[OutboxRow]:
    """Take accepted rows whose status query is due, and push their next one `next_after` times their checks
    later (so a request K2 still calls pending is asked about less and less often, by one worker only)."""
    now = _now()
    with writing(engine) as connection:
        due = connection.execute(
            select(OUTBOX.c.id, OUTBOX.c.checks)
            .where(
                OUTBOX.c.state == OutboxState.ACCEPTED,
                OUTBOX.c.due_at.is_not(None),
                OUTBOX.c.due_at <= now,
                OUTBOX.c.location.is_not(None),
            )
            .order_by(OUTBOX.c.due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        claimed = []
        for row_id, checks in due:
            row = connection.execute(
                update(OUTBOX)
                .where(OUTBOX.c.id == row_id, OUTBOX.c.state == OutboxState.ACCEPTED, OUTBOX.c.due_at <= now)
                .values(checks=checks + 1, due_at=now + next_after * 2**checks)
                .returning(*OUTBOX.c)
            ).first()
            if row is not None:
                claimed.append(OutboxRow.of(row))
    return claimed


def settle_from_results(engine: Engine, *, check_after: timedelta) -> int:
    """Apply what K2 told us (stored by the inbox from a callback or a status query) to the open requests it
    answers, matched by our id; returns how many moved. One now known to be pending is asked about after
    `check_after` if no final result comes."""
    moves: dict[tuple[OutboxState, tuple[str, ...]], list[dict[str, Any]]] = {}  # by target and columns set
    # Read first, without the write lock (this runs four times a second in every process); each move is then a
    # conditional UPDATE, so a row another writer moved meanwhile is left where it went.
    with engine.connect() as connection:
        for kind in OUTCOME_TABLES:
            for request_ref, state, status, errors, k2_id, location in connection.execute(_answered(kind)):
                target = state_for_k2_status(status)
                values = {"request_ref": request_ref, "k2_status": status, "k2_id": k2_id, "location": location}
                if target is None:  # K2 holds it and says so: a request in doubt is no longer in doubt
                    if state == OutboxState.ACCEPTED:
                        continue
                    target, values["due_at"] = OutboxState.ACCEPTED, _now() + check_after
                else:
                    values |= {"reason": errors if target is OutboxState.FAILED else None, "due_at": None}
                moves.setdefault((target, tuple(values)), []).append(values)
    if not moves:
        return 0
    with engine.begin() as connection:
        return sum(move_each(connection, target, each) for (target, _), each in moves.items())


@cache
def _answered(kind: str) -> CompoundSelect:
    """Open requests of `kind` with a result stored: matched by our id in the metadata, or by K2's id where K2
    echoes no metadata (settlement transfers); two indexed lookups from the few open rows (one OR'd join condition
    would scan every result)."""
    results: Table = OUTCOME_TABLES[kind].__table__  # type: ignore[attr-defined]
    columns = (OUTBOX.c.request_ref, OUTBOX.c.state, results.c.status, results.c.errors, results.c.k2_id,
               results.c.location)
    still_open = (OUTBOX.c.kind == kind, OUTBOX.c.state.in_([state.value for state in OPEN]),
                  results.c.status.is_not(None))
    return (
        select(*columns).join(results, results.c.request_ref == OUTBOX.c.request_ref).where(*still_open)
        .union_all(
            select(*columns).join(results, (results.c.k2_id == OUTBOX.c.k2_id) & results.c.request_ref.is_(None))
            .where(*still_open)
        )
    )
