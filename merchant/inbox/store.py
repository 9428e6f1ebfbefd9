"""Writes of what K2 told us: idempotent (unique keys and insert-or-ignore), a batch per transaction."""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache
from typing import Any

from sqlalchemy import (
    Connection,
    Dialect,
    Engine,
    Table,
    bindparam,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from k2 import statuses

from .mapping import OUTCOME_FAILED, Mapped, ResultRow, _plain, map_event, raw_key
from ..db.engine import is_transient
from ..db.tables import (
    OUTCOME_TABLES,
    Customer,
    Settlement,
    Transaction,
    TransactionReversal,
    UTCDateTime,
    WebhookEvent,
)

__all__ = [
    "Delivered", "record_deliveries", "reprocess_failed", "write_batch",
]

log = logging.getLogger(__name__)

_EVENTS: Table = WebhookEvent.__table__  # type: ignore[attr-defined]
_TRANSACTIONS: Table = Transaction.__table__  # type: ignore[attr-defined]
_REVERSALS: Table = TransactionReversal.__table__  # type: ignore[attr-defined]
_CUSTOMERS: Table = Customer.__table__  # type: ignore[attr-defined]
_SETTLEMENTS: Table = Settlement.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Delivered:
    """One verified delivery and its rows: `id` is its dedup key, `payload` the body exactly as received."""

    id: str
    kind: str
    received_at: datetime
    payload: str
    mapped: Mapped


def write_batch(engine: Engine, deliveries: Sequence[Delivered]) -> None:
    """Commit a batch in one transaction of one statement per table (no savepoint: the hot path's cost is per
    statement); if the database refuses it, roll back and store it again event by event, so one bad row never
    refuses its neighbours. Only a database that is unavailable (`is_transient`) raises."""
    try:
        with engine.begin() as connection:
            _write(connection, deliveries)
        return
    except _ROW_ERRORS as err:
        if _transient(err):
            raise
        log.warning("a batch of %d deliveries was refused (%s); storing it event by event", len(deliveries),
                    _reason(err))
    with engine.begin() as connection:
        _write_each(connection, deliveries)


def record_deliveries(connection: Connection, deliveries: Sequence[Delivered]) -> None:
    """Write a batch inside the caller's transaction; an event that breaks a constraint is isolated and stored `failed`.

    Transient errors (locked, unavailable) propagate: the caller rolls back and answers 503."""
    try:
        with connection.begin_nested():
            _write(connection, deliveries)
    except _ROW_ERRORS as err:
        if _transient(err):
            raise
        _write_each(connection, deliveries)


# What one event's rows can make a write raise: the database refusing them (DataError, IntegrityError, an index
# row too large), or the driver before it sends them (an int past SQLite's 64 bits, text with a lone surrogate).
_ROW_ERRORS = (DBAPIError, ArithmeticError, ValueError, TypeError)
# SQLSTATE classes that are about the rows, never the database's health: data exception, integrity constraint,
# program limit exceeded (PostgreSQL reports an index row too large as an OperationalError, which
# `is_transient` would retry forever, each time refusing the batch's neighbours).
_ROW_SQLSTATES = ("22", "23", "54")


def _transient(error: BaseException) -> bool:
    if not isinstance(error, DBAPIError):
        return False
    sqlstate = getattr(error.orig, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate[:2] in _ROW_SQLSTATES:
        return False
    return is_transient(error)


def _reason(error: BaseException) -> str:
    """What the database or driver said, without the statement or its parameters."""
    return _plain(str(error.orig if isinstance(error, DBAPIError) else error).split("\n", 1)[0], limit=300)


def _write_each(connection: Connection, deliveries: Sequence[Delivered]) -> None:
    """Each event in a savepoint of its own; one the database refuses is stored `failed` with the reason, under
    its own id or, if even that is refused (an id no index holds), under its body's hash."""
    for delivery in deliveries:
        try:
            with connection.begin_nested():
                _write(connection, [delivery])
            continue
        except _ROW_ERRORS as single:
            if _transient(single):
                raise
            reason = _reason(single)
        log.error("event %.80s could not be stored as mapped: %s", delivery.id, reason)
        failed = Mapped(outcome=OUTCOME_FAILED, error=f"database refused its rows: {reason}")
        kept = Delivered(delivery.id, delivery.kind, delivery.received_at, delivery.payload, failed)
        try:
            with connection.begin_nested():
                _write(connection, [kept])
            continue
        except _ROW_ERRORS as again:
            if _transient(again):
                raise
            failed.error = f"database refused its rows ({reason}) and its id ({_reason(again)})"
        key = raw_key(delivery.payload.encode("utf-8", "surrogatepass"))
        with connection.begin_nested():
            _write(connection, [Delivered(key.id, key.kind, delivery.received_at, delivery.payload, failed)])


def _write(connection: Connection, deliveries: Sequence[Delivered]) -> None:
    unique = list({delivery.id: delivery for delivery in reversed(deliveries)}.values())[::-1]
    events = [
        {
            "id": d.id,
            "kind": d.kind,
            "received_at": d.received_at,
            "payload": d.payload,
            "outcome": d.mapped.outcome,
            "error": d.mapped.error,
        }
        for d in unique
    ]
    _bulk(connection, "events", events)
    mapped = [d.mapped for d in unique]
    transactions = _first_by(mapped, "transactions", "reference")
    reversals = _first_by(mapped, "reversals", "reference")
    _bulk(connection, "transactions", transactions)
    _bulk(connection, "reversals", reversals)
    _bulk(connection, "customers", _first_by(mapped, "customers", "phone_number"))
    _bulk(connection, "settlements", _first_by(mapped, "settlements", "id"))
    touched = [row["reference"] for row in transactions + reversals]
    if touched:
        _apply_reversals(connection, touched)
    _record_results(connection, [result for item in mapped for result in item.results])


def _first_by(mapped: Sequence[Mapped], attribute: str, key: str) -> list[dict[str, Any]]:
    """Rows of one kind across the batch, the first per key: a batch is deduplicated before it is written."""
    rows: dict[Any, dict[str, Any]] = {}
    for item in mapped:
        for row in getattr(item, attribute):
            rows.setdefault(row[key], row)
    return list(rows.values())


def _bulk_statements(insert: Any) -> dict[str, tuple[Table, Any]]:
    """The hot-path writes: insert-or-ignore by each table's unique key (webhook_events heals a failed row)."""
    upsert = insert(_EVENTS)
    return {
        # A redelivery heals an event that failed before (after a fix); otherwise the first row stands.
        "events": (
            _EVENTS,
            upsert.on_conflict_do_update(
                index_elements=["id"],
                set_={"outcome": upsert.excluded.outcome, "error": upsert.excluded.error},
                where=_EVENTS.c.outcome == OUTCOME_FAILED,
            ),
        ),
        "transactions": (_TRANSACTIONS, insert(_TRANSACTIONS).on_conflict_do_nothing(index_elements=["reference"])),
        "reversals": (_REVERSALS, insert(_REVERSALS).on_conflict_do_nothing(index_elements=["reference"])),
        "customers": (_CUSTOMERS, insert(_CUSTOMERS).on_conflict_do_nothing(index_elements=["phone_number"])),
        "settlements": (_SETTLEMENTS, insert(_SETTLEMENTS).on_conflict_do_nothing(index_elements=["id"])),
    }


@dataclass(frozen=True, slots=True)
class _Compiled:
    """An insert compiled once per dialect and split around its VALUES group, so a batch is one statement."""

    head: str
    group: str
    tail: str
    names: tuple[str, ...]
    converters: tuple[Callable[[Any], Any] | None, ...]
    tail_values: tuple[Any, ...]


# Bound parameters per statement: under SQLite's default limit (32766) and PostgreSQL's (65535).
_MAX_PARAMETERS = 30_000


@cache
def _compiled(dialect_name: str, name: str, columns: tuple[str, ...]) -> _Compiled:
    positional = _POSITIONAL_DIALECTS[dialect_name]()
    table, statement = _bulk_statements(postgresql.insert if dialect_name == "postgresql" else sqlite.insert)[name]
    compiled = statement.compile(dialect=positional, column_keys=list(columns))
    sql = compiled.string
    start = sql.index(" VALUES (") + len(" VALUES ")
    end = sql.index(")", start) + 1
    names = tuple(compiled.positiontup or ())[: len(columns)]
    converters = tuple(_converter(table.c[key].type, positional) for key in names)
    tail_values = tuple(compiled.params[key] for key in (compiled.positiontup or ())[len(columns) :])
    return _Compiled(sql[:start], sql[start:end], sql[end:], names, converters, tail_values)


def _converter(column_type: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    if dialect.name == "sqlite" and isinstance(column_type, UTCDateTime):
        return _sqlite_utc_text
    return column_type.dialect_impl(dialect).bind_processor(dialect)


def _sqlite_utc_text(value: datetime | None) -> str | None:
    """`UTCDateTime` for SQLite in one call, the text SQLAlchemy writes (`2026-11-01 06:30:00.000000`):
    its three-layer bind processor was a third of the batch's Python time."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("a naive datetime reached the database; times must be aware")
    return value.astimezone(timezone.utc).isoformat(" ", "microseconds")[:26]


_POSITIONAL_DIALECTS: dict[str, Callable[[], Dialect]] = {
    "sqlite": lambda: sqlite.pysqlite.dialect(paramstyle="qmark"),
    "postgresql": lambda: postgresql.psycopg.dialect(paramstyle="format"),
}


def _bulk(connection: Connection, name: str, rows: list[dict[str, Any]]) -> None:
    """Insert rows with one multi-row statement per chunk, its parameters converted here.

    SQLAlchemy's per-row machinery costs more than SQLite's insert, and one statement releases the GIL once
    per chunk rather than once per row (the event loop thread wants it back meanwhile)."""
    if not rows:
        return
    plan = _compiled(connection.dialect.name, name, tuple(rows[0]))
    steps = list(zip(plan.names, plan.converters, strict=True))
    per_statement = max(1, _MAX_PARAMETERS // len(steps))
    for first in range(0, len(rows), per_statement):
        chunk = rows[first : first + per_statement]
        values = [convert(row[key]) if convert else row[key] for row in chunk for key, convert in steps]
        values.extend(plan.tail_values)
        connection.exec_driver_sql(f"{plan.head}{', '.join([plan.group] * len(chunk))}{plan.tail}", tuple(values))


# Reversal and receipt can arrive in either order; driven from the (small) reversals table by primary key.
_MARK_REVERSED = (
    update(_TRANSACTIONS)
    .where(
        _REVERSALS.c.reference == _TRANSACTIONS.c.reference,
        _REVERSALS.c.reference.in_(bindparam("references", expanding=True)),
    )
    .values(status=_REVERSALS.c.status, reversed_at=_REVERSALS.c.reversed_at)
)


def _apply_reversals(connection: Connection, references: list[str]) -> None:
    """Mark reversed every touched transaction that has a reversal, whichever of the two arrived first."""
    connection.execute(_MARK_REVERSED, {"references": references})


def _record_results(connection: Connection, results: Sequence[ResultRow]) -> None:
    """Attach each result to the row our request wrote (by `request_ref`), then upsert it by K2 id: one prebuilt
    statement executed for every result of a kind, in arrival order within it (a batch of callbacks is written in
    a few statements, not two built per result).

    A pending document never overwrites a final one, so redeliveries in any order end in the final state."""
    groups: dict[tuple[str, tuple[str, ...], bool], list[dict[str, Any]]] = {}
    for result in results:
        pending = result.values["status"] in statuses.IN_PROGRESS
        groups.setdefault((result.kind, tuple(result.values), pending), []).append(result.values)
    dialect = connection.dialect.name
    for (kind, names, pending), rows in groups.items():
        attach, upsert = _result_statements(dialect, kind, names, pending)
        attached = [{"ref": row["request_ref"], "new_k2_id": row["k2_id"], "new_location": row["location"]}
                    for row in rows if row["request_ref"]]
        if attached:
            connection.execute(attach, attached)
        connection.execute(upsert, rows)


@cache
def _result_statements(dialect: str, kind: str, names: tuple[str, ...], pending: bool) -> tuple[Any, Any]:
    """The two statements `_record_results` runs for results of one kind with these columns."""
    table: Table = OUTCOME_TABLES[kind].__table__  # type: ignore[attr-defined]
    attach = (
        update(table)
        .where(table.c.request_ref == bindparam("ref"), table.c.k2_id.is_(None))
        .values(k2_id=bindparam("new_k2_id"), location=bindparam("new_location"))
    )
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    upsert = statement.on_conflict_do_update(
        index_elements=["k2_id"],
        set_={name: statement.excluded[name] for name in names if name not in ("k2_id", "request_ref")},
        where=table.c.status.in_(statuses.IN_PROGRESS) | table.c.status.is_(None) if pending else None,
    )
    return attach, upsert


def reprocess_failed(engine: Engine, *, batch_size: int = 500) -> int:
    """Map again every stored event whose mapping failed (after a fix); returns how many are now mapped."""
    fixed = 0
    after = ""
    while True:
        with engine.begin() as connection:
            rows = connection.execute(
                select(_EVENTS.c.id, _EVENTS.c.kind, _EVENTS.c.received_at, _EVENTS.c.payload)
                .where(_EVENTS.c.outcome == OUTCOME_FAILED, _EVENTS.c.id > after)
                .order_by(_EVENTS.c.id)
                .limit(batch_size)
            ).all()
            if not rows:
                return fixed
            after = rows[-1].id
            deliveries = [_remap(row.id, row.kind, row.received_at, row.payload) for row in rows]
            record_deliveries(connection, deliveries)
            fixed += sum(d.mapped.outcome != OUTCOME_FAILED for d in deliveries)


def _remap(event_id: str, kind: str, received_at: datetime, payload: str) -> Delivered:
    try:
        body = json.loads(payload)
    except (ValueError, RecursionError) as err:  # stored unreadable (nested too deeply): still unreadable
        reason = str(err) if isinstance(err, ValueError) else "body is nested too deeply to read"
        return Delivered(event_id, kind, received_at, payload, Mapped(outcome=OUTCOME_FAILED, error=reason))
    if not isinstance(body, dict):
        return Delivered(event_id, kind, received_at, payload,
                         Mapped(outcome=OUTCOME_FAILED, error="body is not a JSON object"))
    return Delivered(event_id, kind, received_at, payload, map_event(body, event_id=event_id, received_at=received_at))
