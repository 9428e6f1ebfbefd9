"""Bulk payouts: a checked spreadsheet becomes a batch, a second person approves it, and it goes out through the
outbox, each row paid at most once; its results are read back per row and exported.

A batch's rows get their outbox ids (`request_ref`) when the batch is written, so whoever hands them to the outbox
(`merchant.payouts.runner`), however often and in however many processes, can never make a second payment for a
row: the outbox keeps one request per id. On v1 each row is one PAY payment to its recipient (found, or made at K2
once per destination); on v2 rows go out `SEND_MONEY_CHUNK` at a time as one send_money with several destinations.
Pausing holds rows not yet sent; cancelling takes them back for good; sent rows settle from K2's results."""
from __future__ import annotations

import csv
import io
import json
import secrets
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Connection, Engine, Row, Table, and_, func, insert, select, update

from k2.phones import written

from ..access import AuditAction, Permission, Role, User, can, exported, list_users, record, require
from ..db import writing
from ..db.tables import PaymentRecord, PayoutBatch, PayoutRow, Recipient, SendMoneyRecord
from ..errors import InputError
from ..money import from_cents, to_cents
from ..money_in.filters import BUSINESS_TIMEZONE
from ..outbound import FINAL, NOT_PAID, OutboxState
from ..outbound.outbox import OUTBOX
from ..preferences import load_preferences
from ..spreadsheet import spreadsheet_text, xlsx_bytes
from .recipients import RecipientType
from .sheet import CheckedSheet, SheetRow

if TYPE_CHECKING:
    from ..runtime import Runtime

__all__ = [
    "BATCHES",
    "DUPLICATE_WINDOW",
    "ROWS",
    "SEND_MONEY_CHUNK",
    "BatchCheck",
    "BatchRowView",
    "BatchState",
    "BatchView",
    "NeedsConfirmation",
    "OwnBatch",
    "RowState",
    "RowStatus",
    "approve_batch",
    "batch_rows",
    "cancel_batch",
    "check_batch",
    "decline_batch",
    "get_batch",
    "list_batches",
    "may_self_approve",
    "pause_batch",
    "RESULT_COLUMNS",
    "destination_words",
    "export_results",
    "result_table",
    "resume_batch",
    "retry_failed",
    "submit_batch",
]

BATCHES: Table = PayoutBatch.__table__  # type: ignore[attr-defined]
ROWS: Table = PayoutRow.__table__  # type: ignore[attr-defined]
_RECIPIENTS: Table = Recipient.__table__  # type: ignore[attr-defined]
_PAYMENTS: Table = PaymentRecord.__table__  # type: ignore[attr-defined]
_SEND_MONEY: Table = SendMoneyRecord.__table__  # type: ignore[attr-defined]

SEND_MONEY_CHUNK = 50  # destinations in one v2 send_money: a failed request costs at most this many rows a retry
DUPLICATE_WINDOW = timedelta(days=30)  # the same amount to the same destination this recently is flagged


class BatchState(StrEnum):
    """Where a batch stands; stored as its value. A sending batch is done when every row is (see `BatchView`)."""

    AWAITING_APPROVAL = "awaiting_approval"
    DECLINED = "declined"
    SENDING = "sending"
    PAUSED = "paused"
    CANCELLED = "cancelled"


class RowState(StrEnum):
    """Where a row stands before the outbox takes over; stored as its value."""

    WAITING = "waiting"  # its recipient is being found or made at K2; not yet handed to the outbox
    ENQUEUED = "enqueued"  # handed to the outbox: the outbox request says how it went
    CANCELLED = "cancelled"  # the batch was cancelled or declined before this row was handed over
    REFUSED = "refused"  # K2 refused its recipient: nothing was sent


class RowStatus(StrEnum):
    """What a person reads about one row."""

    AWAITING_APPROVAL = "Waiting for approval"
    PREPARING = "Getting ready"
    QUEUED = "Queued"
    PAUSED = "Paused"
    SENDING = "Sending"
    SENT = "Sent, waiting for M-Pesa"
    PAID = "Paid"
    FAILED = "Failed"
    NOT_SENT = "Not sent"
    NEEDS_REVIEW = "Needs review"
    CANCELLED = "Cancelled"


# Rows whose money is settled one way or the other; a batch with only these is done.
_SETTLED = frozenset({RowStatus.PAID, RowStatus.FAILED, RowStatus.NOT_SENT, RowStatus.CANCELLED})
# Rows a retry batch takes: nothing moved for them, or K2 says the payment failed.
_RETRYABLE = frozenset({RowStatus.FAILED, RowStatus.NOT_SENT})
_FROM_OUTBOX = {
    OutboxState.QUEUED: RowStatus.QUEUED,
    OutboxState.HELD: RowStatus.PAUSED,
    OutboxState.SENDING: RowStatus.SENDING,
    OutboxState.ACCEPTED: RowStatus.SENT,
    OutboxState.SUCCEEDED: RowStatus.PAID,
    OutboxState.FAILED: RowStatus.FAILED,
    OutboxState.UNKNOWN: RowStatus.NEEDS_REVIEW,
    OutboxState.REJECTED: RowStatus.NOT_SENT,
    OutboxState.NOT_SENT: RowStatus.NOT_SENT,
    OutboxState.CANCELLED: RowStatus.CANCELLED,
}
_LEG_FAILED = ("failed", "cancelled", "reversed")


class OwnBatch(InputError):
    """The person who submitted a batch tried to approve it: a second person must (or, in a shop with one owner who
    allowed it, the owner after a second confirmation)."""

    def __init__(self, message: str) -> None:
        super().__init__("batch", message)


class NeedsConfirmation(InputError):
    """The batch can be submitted, but something in `check` deserves a second look first (the same file again,
    a payment that looks like one already made): submit again with `confirmed=True` once a person has looked."""

    def __init__(self, check: BatchCheck) -> None:
        super().__init__("batch", check.summary())
        self.check = check


@dataclass(frozen=True, slots=True)
class BatchCheck:
    """What to look at before submitting: the same file submitted before, and rows that repeat one another
    (`within_file`, from the sheet) or a payout of the same amount to the same destination in the last 30 days
    (`recent`, as `(row number, what it repeats)`)."""

    same_file: BatchView | None
    within_file: list[str]
    recent: list[tuple[int, str]]

    @property
    def clear(self) -> bool:
        return self.same_file is None and not self.within_file and not self.recent

    def summary(self) -> str:
        parts = []
        if self.same_file is not None:
            parts.append(f"this file was already submitted as batch {self.same_file.id} "
                         f"({self.same_file.status_words})")
        if self.within_file:
            parts.append(f"{len(self.within_file)} rows repeat another row of the file")
        if self.recent:
            parts.append(f"{len(self.recent)} rows repeat a payout of the last 30 days")
        return "Check before submitting: " + "; ".join(parts) + "."


@dataclass(frozen=True, slots=True)
class BatchView:
    """A batch and how far it got: `counts` of rows per `RowStatus`, `paid` the shillings paid so far."""

    id: int
    file_name: str
    api: Literal["v1", "v2"]
    state: BatchState
    row_count: int
    total: Decimal
    created_by: str
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    note: str | None
    retry_of: int | None
    counts: dict[RowStatus, int] = field(default_factory=dict)
    paid: Decimal = Decimal(0)

    @property
    def done(self) -> bool:
        """Every row settled (paid, failed, not sent or cancelled): nothing more will happen to it."""
        return self.settled == self.row_count

    @property
    def moving(self) -> int:
        """Rows that will still move on their own: being prepared, queued, sending or sent (not paused ones, not
        ones that need review: a person looks at those)."""
        return sum(self.counts.get(status, 0) for status in (RowStatus.PREPARING, RowStatus.QUEUED,
                                                             RowStatus.SENDING, RowStatus.SENT))

    @property
    def settled(self) -> int:
        return sum(self.counts.get(status, 0) for status in _SETTLED)

    @property
    def status_words(self) -> str:
        """The batch in a few words: 'waiting for approval', 'sending', 'done: 480 paid, 20 failed'."""
        if self.state is BatchState.AWAITING_APPROVAL:
            return "waiting for approval"
        if self.state is BatchState.DECLINED:
            return f"declined by {self.decided_by}"
        outcome = ", ".join(f"{count:,} {status.value.lower()}" for status, count in self.counts.items() if count)
        if self.done:
            return f"done: {outcome}"
        if self.state is BatchState.PAUSED:
            return f"paused: {outcome}"
        if self.state is BatchState.CANCELLED:
            return f"cancelled: {outcome}"
        return f"sending: {outcome}"


@dataclass(frozen=True, slots=True)
class BatchRowView:
    """One row as a person reads it: where the money went, how much, and how it went."""

    number: int
    type: str
    nickname: str
    details: dict[str, str]
    destination_key: str
    amount: Decimal
    description: str
    reference: str | None
    status: RowStatus
    reason: str | None
    transaction_reference: str | None
    updated_at: datetime | None
    request_ref: str  # our id in K2's metadata (a v2 chunk's rows share it)


def _engine(runtime: Runtime) -> Engine:
    engine = runtime.engine
    assert engine is not None, "the runtime is not started"
    return engine


def _now() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------------------------------------- submitting


def check_batch(runtime: Runtime, actor: User, checked: CheckedSheet) -> BatchCheck:
    """What deserves a second look before `checked` is submitted (see `BatchCheck`); nothing is written."""
    require(actor, Permission.PAY_OUT)
    with _engine(runtime).connect() as connection:
        return _check(connection, checked)


def _check(connection: Connection, checked: CheckedSheet) -> BatchCheck:
    same = connection.execute(
        select(BATCHES).where(BATCHES.c.file_hash == checked.sheet.file_hash,
                             BATCHES.c.state.not_in([BatchState.DECLINED, BatchState.CANCELLED]))
        .order_by(BATCHES.c.id.desc()).limit(1)
    ).first()
    return BatchCheck(
        same_file=None if same is None else _batch_view(connection, same),
        within_file=[str(warning) for warning in checked.warnings],
        recent=_recent_repeats(connection, checked.rows),
    )


def _recent_repeats(connection: Connection, rows: list[SheetRow]) -> list[tuple[int, str]]:
    """Rows paying the same amount to the same destination as a payout (single or in a batch) not known to have
    failed in the last `DUPLICATE_WINDOW`."""
    wanted: dict[tuple[str, int], list[int]] = {}  # every row of a key: a repeat within the file repeats it too
    for row in rows:
        wanted.setdefault((row.destination_key, to_cents(row.amount)), []).append(row.number)
    if not wanted:
        return []
    since = _now() - DUPLICATE_WINDOW
    keys = sorted({key for key, _ in wanted})
    earlier: dict[tuple[str, int], str] = {}
    for start in range(0, len(keys), 500):  # SQLite's limit on bound parameters
        some = keys[start:start + 500]
        singles = connection.execute(
            select(_RECIPIENTS.c.destination_key, OUTBOX.c.amount_cents, OUTBOX.c.created_at)
            .join(_RECIPIENTS, _RECIPIENTS.c.id == OUTBOX.c.recipient_id)
            .where(_RECIPIENTS.c.destination_key.in_(some), OUTBOX.c.created_at >= since,
                   OUTBOX.c.state.not_in([state.value for state in NOT_PAID]))
        ).all()
        for key, cents, at in singles:
            earlier.setdefault((key, cents), f"a payment entered {at.astimezone(BUSINESS_TIMEZONE):%-d %b}")
        batched = connection.execute(
            select(ROWS.c.destination_key, ROWS.c.amount_cents, ROWS.c.batch_id, ROWS.c.number)
            .join(BATCHES, BATCHES.c.id == ROWS.c.batch_id)
            .where(ROWS.c.destination_key.in_(some), ROWS.c.created_at >= since,
                   BATCHES.c.state.not_in([BatchState.DECLINED, BatchState.CANCELLED]),
                   ROWS.c.state.not_in([RowState.CANCELLED, RowState.REFUSED]))
        ).all()
        for key, cents, batch_id, number in batched:  # a batch row's own payment counts once, as the batch's
            earlier[(key, cents)] = f"row {number} of batch {batch_id}"
    return sorted((number, earlier[key]) for key, numbers in wanted.items() if key in earlier for number in numbers)


def submit_batch(
    runtime: Runtime,
    actor: User,
    checked: CheckedSheet,
    *,
    token: str,
    file_name: str,
    confirmed: bool = False,
    retry_of: int | None = None,
    source: str | None = None,
) -> BatchView:
    """Write a checked sheet as a batch waiting for a second person's approval, if `actor` may pay out.

    Refused (`InputError`) while any row has a problem or the sheet has no rows; `NeedsConfirmation` when
    `check_batch` finds something and `confirmed` is not set. The same `token` again returns the batch already
    written. The batch, its rows (each with the outbox id that will pay it) and the audit entry commit together."""
    require(actor, Permission.PAY_OUT)
    existing = _by_token(_engine(runtime), token)
    if existing is not None:
        return existing
    if checked.problems:
        raise InputError("file", f"{len(checked.problems):,} problems in the file: fix them (on the page or in the "
                                 "file) before submitting.")
    if not checked.rows:
        raise InputError("file", "There are no payments in the file.")
    return _write(runtime, actor, checked.rows, checked=checked, token=token, file_name=file_name,
                  file_hash=checked.sheet.file_hash, confirmed=confirmed, retry_of=None, source=source)


def _write(
    runtime: Runtime, actor: User, rows: list[SheetRow], *, checked: CheckedSheet | None, token: str, file_name: str,
    file_hash: str, confirmed: bool, retry_of: int | None, source: str | None,
) -> BatchView:
    engine = _engine(runtime)
    api = load_preferences(engine).payout_api
    now = _now()
    total = sum((row.amount for row in rows), Decimal(0))
    with writing(engine) as connection:
        if connection.dialect.name == "postgresql":  # one writer per submission, as SQLite's IMMEDIATE makes it
            connection.execute(select(func.pg_advisory_xact_lock(func.hashtext(token))))
        written = connection.execute(select(BATCHES.c.id).where(BATCHES.c.token == token)).scalar()
        if written is not None:  # the same submission, written meanwhile by another click or tab
            return _batch_view(connection, connection.execute(select(BATCHES).where(BATCHES.c.id == written)).one())
        check = None if checked is None else _check(connection, checked)
        if check is not None and not check.clear and not confirmed:
            raise NeedsConfirmation(check)
        batch_id = connection.execute(
            insert(BATCHES).values(
                token=token, file_name=file_name, file_hash=file_hash, api=api,
                state=BatchState.AWAITING_APPROVAL, row_count=len(rows), total_cents=to_cents(total),
                retry_of=retry_of, created_by=actor.username, created_at=now,
            ).returning(BATCHES.c.id)
        ).scalar_one()
        connection.execute(insert(ROWS), list(_row_values(batch_id, rows, api, now)))
        detail: dict[str, Any] = {"file": file_name, "rows": len(rows), "total": str(total), "api": api}
        if check is not None and not check.clear:
            detail["confirmed"] = check.summary()
        if retry_of is not None:
            detail["failed rows of batch"] = retry_of
        record(connection, AuditAction.BATCH_SUBMITTED, actor=actor.username, target=f"batch {batch_id}",
               detail=detail, source=source)
    return _fetched(engine, batch_id)


def _row_values(batch_id: int, rows: list[SheetRow], api: str, now: datetime) -> Iterator[dict[str, Any]]:
    """The rows as stored, each with the outbox id that pays it: its own on v1, its chunk's on v2."""
    chunk_ref = ""
    for index, row in enumerate(rows):
        if api == "v2":
            if index % SEND_MONEY_CHUNK == 0:
                chunk_ref = secrets.token_hex(16)
            request_ref, leg = chunk_ref, index % SEND_MONEY_CHUNK
        else:
            request_ref, leg = secrets.token_hex(16), None
        yield {
            "batch_id": batch_id, "number": row.number, "type": row.type.value, "nickname": row.nickname,
            "details_json": json.dumps(row.details, sort_keys=True), "destination_key": row.destination_key,
            "amount_cents": to_cents(row.amount), "description": row.description, "reference": row.reference,
            "state": RowState.WAITING, "request_ref": request_ref, "leg": leg, "created_at": now,
        }


# ---------------------------------------------------------------------------------------------- deciding


def approve_batch(
    runtime: Runtime, actor: User, batch_id: int, *, self_approval: bool = False, source: str | None = None
) -> BatchView:
    """Let a batch waiting for approval go, if `actor` may approve (`NotAllowed`) and is not who submitted it
    (`OwnBatch`), unless the shop's single owner allowed self-approval and confirms it (`self_approval`).
    Audited `APPROVED` in the same transaction; the batch runner starts on it at once."""
    require(actor, Permission.APPROVE)
    engine = _engine(runtime)
    with writing(engine) as connection:
        batch = _waiting_batch(connection, batch_id)
        own = batch.created_by == actor.username
        if own:
            _check_self_approval(engine, actor, confirmed=self_approval)
        _decide(connection, batch_id, BatchState.SENDING, actor)
        record(connection, AuditAction.APPROVED, actor=actor.username, target=f"batch {batch_id}",
               detail={"decision": "approved", "rows": batch.row_count, "total": str(from_cents(batch.total_cents)),
                       "entered_by": batch.created_by, "self_approved": own}, source=source)
    if runtime.batches is not None:
        runtime.batches.wake()
    return _fetched(engine, batch_id)


def may_self_approve(engine: Engine, actor: User) -> bool:
    """Whether `actor` may approve a batch they submitted: the owner of a shop where nobody else may approve, who
    switched self-approval on (a second confirmation is still asked for)."""
    if actor.role is not Role.OWNER or not load_preferences(engine).self_approval:
        return False
    return not any(user.username != actor.username and not user.disabled and can(user.role, Permission.APPROVE)
                   for user in list_users(engine))


def _check_self_approval(engine: Engine, actor: User, *, confirmed: bool) -> None:
    if not may_self_approve(engine, actor):
        raise OwnBatch("You submitted this batch, so you cannot approve it: another finance user or the owner must. "
                       "You can still decline it.")
    if not confirmed:
        raise OwnBatch("You submitted this batch yourself. Confirm a second time that you approve it.")


def decline_batch(
    runtime: Runtime, actor: User, batch_id: int, *, reason: str | None = None, source: str | None = None
) -> BatchView:
    """Refuse a batch waiting for approval: none of it is ever sent. Whoever may approve may decline, its maker
    too (taking it back); audited `DECLINED` with the reason."""
    require(actor, Permission.APPROVE)
    engine = _engine(runtime)
    why = " ".join((reason or "").split()) or None
    with writing(engine) as connection:
        batch = _waiting_batch(connection, batch_id)
        _decide(connection, batch_id, BatchState.DECLINED, actor, note=why)
        connection.execute(update(ROWS).where(ROWS.c.batch_id == batch_id).values(state=RowState.CANCELLED))
        record(connection, AuditAction.DECLINED, actor=actor.username, target=f"batch {batch_id}",
               detail={"rows": batch.row_count, "total": str(from_cents(batch.total_cents)),
                       "entered_by": batch.created_by, "reason": why}, source=source)
    return _fetched(engine, batch_id)


def _waiting_batch(connection: Connection, batch_id: int) -> Row:
    batch = _locked(connection, batch_id)
    if batch.state != BatchState.AWAITING_APPROVAL:
        who = f" by {batch.decided_by}" if batch.decided_by else ""
        raise InputError("batch", f"Batch {batch_id} was already {_DECIDED[BatchState(batch.state)]}{who}; "
                                  "nothing changed.")
    return batch


_DECIDED = {BatchState.DECLINED: "declined", BatchState.SENDING: "approved", BatchState.PAUSED: "approved",
            BatchState.CANCELLED: "cancelled", BatchState.AWAITING_APPROVAL: "submitted"}


def _locked(connection: Connection, batch_id: int) -> Row:
    """The batch row, locked until the transaction ends (PostgreSQL; SQLite's writer lock does the same once the
    transaction writes), so a decision and the runner handing rows over never interleave."""
    batch = connection.execute(select(BATCHES).where(BATCHES.c.id == batch_id).with_for_update()).first()
    if batch is None:
        raise InputError("batch", f"There is no batch {batch_id}.")
    return batch


def _decide(connection: Connection, batch_id: int, state: BatchState, actor: User, note: str | None = None) -> None:
    connection.execute(update(BATCHES).where(BATCHES.c.id == batch_id)
                       .values(state=state, decided_by=actor.username, decided_at=_now(), note=note))


# ---------------------------------------------------------------------------------------------- while sending


def pause_batch(runtime: Runtime, actor: User, batch_id: int, *, source: str | None = None) -> BatchView:
    """Hold the rows not yet sent (rows already with K2 settle as they will); `resume_batch` lets them go."""
    return _change(runtime, actor, batch_id, BatchState.PAUSED, source=source)


def resume_batch(runtime: Runtime, actor: User, batch_id: int, *, source: str | None = None) -> BatchView:
    """Send the rows a pause held."""
    return _change(runtime, actor, batch_id, BatchState.SENDING, source=source)


def cancel_batch(runtime: Runtime, actor: User, batch_id: int, *, source: str | None = None) -> BatchView:
    """Take back every row not yet sent, for good; rows already with K2 settle as they will."""
    return _change(runtime, actor, batch_id, BatchState.CANCELLED, source=source)


_ALLOWED_FROM = {BatchState.PAUSED: (BatchState.SENDING,), BatchState.SENDING: (BatchState.PAUSED,),
                 BatchState.CANCELLED: (BatchState.SENDING, BatchState.PAUSED)}
_CHANGE_WORDS = {BatchState.PAUSED: "paused", BatchState.SENDING: "resumed", BatchState.CANCELLED: "cancelled"}


def _change(runtime: Runtime, actor: User, batch_id: int, to: BatchState, *, source: str | None) -> BatchView:
    require(actor, Permission.PAY_OUT)
    engine = _engine(runtime)
    with writing(engine) as connection:
        batch = _locked(connection, batch_id)
        if batch.state not in _ALLOWED_FROM[to]:
            raise InputError("batch", f"Batch {batch_id} is {_STATE_WORDS[BatchState(batch.state)]}: it cannot be "
                                      f"{_CHANGE_WORDS[to]} now.")
        connection.execute(update(BATCHES).where(BATCHES.c.id == batch_id).values(state=to))
        held = {BatchState.PAUSED: (OutboxState.QUEUED, OutboxState.HELD),
                BatchState.SENDING: (OutboxState.HELD, OutboxState.QUEUED),
                BatchState.CANCELLED: (None, OutboxState.CANCELLED)}[to]
        moved = _move_unsent(connection, batch_id, *held)
        if to is BatchState.CANCELLED:
            moved += connection.execute(
                update(ROWS).where(ROWS.c.batch_id == batch_id, ROWS.c.state == RowState.WAITING)
                .values(state=RowState.CANCELLED)
            ).rowcount
        record(connection, AuditAction.BATCH_CHANGED, actor=actor.username, target=f"batch {batch_id}",
               detail={"change": _CHANGE_WORDS[to], "rows": moved}, source=source)
    if to is BatchState.SENDING and runtime.outbox is not None:
        runtime.outbox.wake()
    return _fetched(engine, batch_id)


def _move_unsent(connection: Connection, batch_id: int, source: OutboxState | None, to: OutboxState) -> int:
    """Move the batch's outbox requests not yet sent (queued or held, or just `source`) to `to`."""
    states = [source] if source is not None else [OutboxState.QUEUED, OutboxState.HELD]
    refs = select(ROWS.c.request_ref).where(ROWS.c.batch_id == batch_id, ROWS.c.state == RowState.ENQUEUED)
    return connection.execute(
        update(OUTBOX).where(OUTBOX.c.request_ref.in_(refs), OUTBOX.c.state.in_(states))
        .values(state=to, updated_at=_now())
    ).rowcount


def retry_failed(
    runtime: Runtime, actor: User, batch_id: int, *, token: str, source: str | None = None
) -> BatchView:
    """A new batch of the rows that failed or were not sent (nothing moved for them), waiting for approval like
    any batch. Rows that need review are left out: they may yet turn out paid."""
    require(actor, Permission.PAY_OUT)
    engine = _engine(runtime)
    existing = _by_token(engine, token)
    if existing is not None:
        return existing
    again = [row for row in batch_rows(engine, batch_id) if row.status in _RETRYABLE]
    if not again:
        raise InputError("batch", f"Batch {batch_id} has no failed rows to send again.")
    rows = [SheetRow(number=row.number, type=RecipientType(row.type), nickname=row.nickname, details=row.details,
                     destination_key=row.destination_key, amount=row.amount, description=row.description,
                     reference=row.reference) for row in again]
    return _write(runtime, actor, rows, checked=None, token=token, file_name=f"Failed rows of batch {batch_id}",
                  file_hash=f"failed rows of batch {batch_id}", confirmed=True, retry_of=batch_id, source=source)


# ---------------------------------------------------------------------------------------------- reads


def _by_token(engine: Engine, token: str) -> BatchView | None:
    with engine.connect() as connection:
        row = connection.execute(select(BATCHES).where(BATCHES.c.token == token)).first()
        return None if row is None else _batch_view(connection, row)


def get_batch(engine: Engine, batch_id: int) -> BatchView | None:
    """The batch with its progress, if there is one."""
    with engine.connect() as connection:
        row = connection.execute(select(BATCHES).where(BATCHES.c.id == batch_id)).first()
        return None if row is None else _batch_view(connection, row)


def _fetched(engine: Engine, batch_id: int) -> BatchView:
    view = get_batch(engine, batch_id)
    assert view is not None
    return view


def list_batches(engine: Engine, *, limit: int = 50) -> list[BatchView]:
    """The latest batches, newest first, with their progress."""
    with engine.connect() as connection:
        rows = connection.execute(select(BATCHES).order_by(BATCHES.c.id.desc()).limit(limit)).all()
        return [_batch_view(connection, row) for row in rows]


def _batch_view(connection: Connection, batch: Row) -> BatchView:
    """The batch with its rows counted in SQL (a page polls this every second while 10,000 rows go out); on v2
    the legs of paid chunks are read to find a destination K2 failed inside a paid send_money."""
    state = BatchState(batch.state)
    counts: Counter[RowStatus] = Counter()
    paid = 0
    grouped = connection.execute(
        select(ROWS.c.state, OUTBOX.c.state.label("outbox_state"), func.count(), func.sum(ROWS.c.amount_cents))
        .join(OUTBOX, and_(OUTBOX.c.request_ref == ROWS.c.request_ref, ROWS.c.state == RowState.ENQUEUED),
              isouter=True)
        .where(ROWS.c.batch_id == batch.id)
        .group_by(ROWS.c.state, OUTBOX.c.state)
    ).all()
    for row in grouped:
        status = _row_status(state, row.state, row.outbox_state)
        counts[status] += row[2]
        if status is RowStatus.PAID:
            paid += row[3]
    if batch.api == "v2" and counts[RowStatus.PAID]:
        for amount_cents in _failed_legs(connection, batch.id):
            counts[RowStatus.PAID] -= 1
            counts[RowStatus.FAILED] += 1
            paid -= amount_cents
    return BatchView(
        id=batch.id, file_name=batch.file_name, api=batch.api, state=state,
        row_count=batch.row_count, total=from_cents(batch.total_cents), created_by=batch.created_by,
        created_at=batch.created_at, decided_by=batch.decided_by, decided_at=batch.decided_at, note=batch.note,
        retry_of=batch.retry_of, counts={status: counts[status] for status in RowStatus if counts[status]},
        paid=from_cents(paid),
    )


def _failed_legs(connection: Connection, batch_id: int) -> Iterator[int]:
    """The amounts of a v2 batch's rows whose own destination failed inside a send_money K2 calls paid."""
    chunks = connection.execute(
        select(_SEND_MONEY.c.request_ref, _SEND_MONEY.c.disbursements_json)
        .join(OUTBOX, OUTBOX.c.request_ref == _SEND_MONEY.c.request_ref)
        .where(OUTBOX.c.state == OutboxState.SUCCEEDED,
               OUTBOX.c.request_ref.in_(select(ROWS.c.request_ref).where(ROWS.c.batch_id == batch_id)))
    ).all()
    failed = {(ref, index) for ref, legs in chunks for index, leg in enumerate(json.loads(legs or "[]"))
              if str(leg.get("status", "")).lower() in _LEG_FAILED}
    if failed:
        rows = connection.execute(select(ROWS.c.request_ref, ROWS.c.leg, ROWS.c.amount_cents)
                                  .where(ROWS.c.batch_id == batch_id, ROWS.c.state == RowState.ENQUEUED)).all()
        yield from (cents for ref, leg, cents in rows if (ref, leg) in failed)


def batch_rows(engine: Engine, batch_id: int, *, unsettled: int | None = None) -> list[BatchRowView]:
    """Every row of a batch in file order, with how it went; or, `unsettled` given, at most that many of the rows
    not yet settled (what a page redrawing every second while 10,000 rows go out shows, read in one query)."""
    with engine.connect() as connection:
        batch = connection.execute(select(BATCHES).where(BATCHES.c.id == batch_id)).first()
        if batch is None:
            raise InputError("batch", f"There is no batch {batch_id}.")
        return list(_status_rows(connection, batch, unsettled))


def _status_rows(connection: Connection, batch: Row, unsettled: int | None = None) -> Iterator[BatchRowView]:
    legs = func.coalesce(_PAYMENTS.c.disbursements_json, _SEND_MONEY.c.disbursements_json)
    query = (
        select(ROWS, OUTBOX.c.state.label("outbox_state"), OUTBOX.c.reason.label("outbox_reason"),
               OUTBOX.c.updated_at.label("outbox_updated_at"), legs.label("legs"))
        .join(OUTBOX, and_(OUTBOX.c.request_ref == ROWS.c.request_ref, ROWS.c.state == RowState.ENQUEUED),
              isouter=True)
        .join(_PAYMENTS, _PAYMENTS.c.request_ref == OUTBOX.c.request_ref, isouter=True)
        .join(_SEND_MONEY, _SEND_MONEY.c.request_ref == OUTBOX.c.request_ref, isouter=True)
        .where(ROWS.c.batch_id == batch.id)
        .order_by(ROWS.c.number, ROWS.c.id)
    )
    if unsettled is not None:
        query = query.where(ROWS.c.state.in_([RowState.WAITING, RowState.ENQUEUED]),
                            OUTBOX.c.state.is_(None) | OUTBOX.c.state.not_in([state.value for state in FINAL]))
        query = query.limit(unsettled)
    found = connection.execute(query).all()
    parsed: dict[str, list[dict[str, Any]]] = {}  # a v2 chunk's legs, read once for its rows
    for row in found:
        status = _row_status(BatchState(batch.state), row.state, row.outbox_state)
        reason = row.outbox_reason if row.state == RowState.ENQUEUED else row.reason
        leg: dict[str, Any] = {}
        if row.legs:
            legs_of = parsed.get(row.request_ref)
            if legs_of is None:
                legs_of = parsed[row.request_ref] = json.loads(row.legs)
            leg = legs_of[row.leg or 0] if len(legs_of) > (row.leg or 0) else {}
        if status is RowStatus.PAID and str(leg.get("status", "")).lower() in _LEG_FAILED:
            status, reason = RowStatus.FAILED, _leg_error(leg)  # one destination of a v2 chunk failed
        yield BatchRowView(
            number=row.number, type=row.type, nickname=row.nickname, details=json.loads(row.details_json),
            destination_key=row.destination_key, amount=from_cents(row.amount_cents), description=row.description,
            reference=row.reference,
            status=status, reason=reason, transaction_reference=leg.get("transaction_reference") or None,
            updated_at=row.outbox_updated_at, request_ref=row.request_ref,
        )


def _leg_error(leg: dict[str, Any]) -> str:
    errors = leg.get("errors")
    return "; ".join(map(str, errors)) if errors else "K2 reports this payment failed."


def _row_status(batch: BatchState, row_state: str, outbox_state: str | None) -> RowStatus:
    if row_state == RowState.CANCELLED:
        return RowStatus.CANCELLED
    if row_state == RowState.REFUSED:
        return RowStatus.NOT_SENT
    if row_state == RowState.WAITING:
        if batch is BatchState.AWAITING_APPROVAL:
            return RowStatus.AWAITING_APPROVAL
        return RowStatus.PAUSED if batch is BatchState.PAUSED else RowStatus.PREPARING
    return _FROM_OUTBOX[OutboxState(outbox_state)]


_STATE_WORDS = {BatchState.AWAITING_APPROVAL: "waiting for approval", BatchState.DECLINED: "declined",
                BatchState.SENDING: "sending", BatchState.PAUSED: "paused", BatchState.CANCELLED: "cancelled"}


# ---------------------------------------------------------------------------------------------- results


RESULT_COLUMNS = ("Row", "Paid to", "Type", "Destination", "Amount (KES)", "Description", "Reference", "Status",
                  "Reason", "M-Pesa or bank reference", "Last change (Nairobi)")
_TYPE_WORDS = {"mobile_wallet": "M-Pesa", "bank_account": "Bank account", "till": "Till", "paybill": "Paybill"}


def destination_words(type: str, details: dict[str, str]) -> str:
    """Where a row's money goes, as a person writes it: `0712 345 678`, `Till 123456`, `Paybill 247247, account
    0123456789`, `Account 0123456789 (Jane Wanjiru)`."""
    if type == "mobile_wallet":
        return written(details.get("phone_number"))
    if type == "till":
        return f"Till {details.get('till_number', '')}"
    if type == "paybill":
        return f"Paybill {details.get('paybill_number', '')}, account {details.get('paybill_account_number', '')}"
    return f"Account {details.get('account_number', '')} ({details.get('account_name', '')})"


def result_table(rows: list[BatchRowView]) -> list[list[Any]]:
    """The results as a spreadsheet reads them (`RESULT_COLUMNS`): typed words guarded against formulas, amounts
    as numbers, times in Nairobi."""
    return [
        [row.number, spreadsheet_text(row.nickname), _TYPE_WORDS.get(row.type, row.type),
         spreadsheet_text(destination_words(row.type, row.details)), row.amount, spreadsheet_text(row.description),
         spreadsheet_text(row.reference or ""), row.status.value, spreadsheet_text(row.reason or ""),
         row.transaction_reference or "",
         row.updated_at.astimezone(BUSINESS_TIMEZONE).strftime("%Y-%m-%d %H:%M") if row.updated_at else ""]
        for row in rows
    ]


def export_results(
    engine: Engine, actor: User, batch_id: int, *, format: Literal["csv", "xlsx"], source: str | None = None
) -> bytes:
    """A batch's per-row results as CSV (UTF-8 with BOM) or Excel, if `actor` may export; audited `EXPORTED`."""
    require(actor, Permission.EXPORT)
    table = result_table(batch_rows(engine, batch_id))
    exported(engine, actor, what=f"results of batch {batch_id}", detail={"rows": len(table), "format": format},
             source=source)
    if format == "xlsx":
        return xlsx_bytes(RESULT_COLUMNS, table, sheet=f"Batch {batch_id}")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(RESULT_COLUMNS)
    writer.writerows([[f"{cell:f}" if isinstance(cell, Decimal) else cell for cell in line] for line in table])
    return out.getvalue().encode("utf-8-sig")
