"""The batch runner: one thread per process that hands approved batches' rows to the outbox.

On v1 a row needs its K2 recipient first: one already confirmed for the same destination is reused, otherwise one
is made at K2, once per destination (the recipient row is written, and the batch's rows point at it, before K2 is
asked; a process that dies meanwhile leaves it to be asked again, which costs a duplicate recipient at K2 at worst,
never money). On v2 rows go as send_money chunks with inline destinations. Handing over is insert-or-ignore by the
row's outbox id fixed at submission, under the batch's lock, only while the batch is sending: however often it runs,
in however many processes, each row becomes at most one request, and the outbox sends each at most once."""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, Row, insert, select, update

from k2 import APIStatusError, K2Client, K2Error

from ..db import writing
from ..db.tables import Recipient
from ..inbox import REQUEST_REF_KEY
from ..loop import Loop
from ..money import from_cents
from ..outbound import enqueue
from .batches import BATCHES, ROWS, BatchState, RowState
from .payments import REFERENCE_KEY, destination_fields
from .recipients import _ask_k2, _fetch_reference, _refusal, checked_details

__all__ = ["BatchRunner"]

log = logging.getLogger(__name__)

_RECIPIENTS = Recipient.__table__  # type: ignore[attr-defined]
_HAND_OVER_AT_ONCE = 1_000  # rows per transaction: the batch's lock is held briefly, pause and cancel get a turn
BATCH_KEY = "batch"  # our batch id in K2's metadata, beside request_ref
ROW_KEY = "row"  # the row's number in the file


class BatchRunner:
    """Finds or makes recipients and hands rows to the outbox for every batch that is sending."""

    def __init__(
        self,
        engine: Engine,
        client: K2Client,
        *,
        concurrency: int = 8,
        poll_interval: float = 0.5,
        handed_over: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        self.client = client
        self.concurrency = concurrency
        self._handed_over = handed_over  # wakes the outbox worker
        self._loop = Loop("k2-batches", self.run_once, poll_interval)

    def start(self) -> None:
        self._loop.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._loop.stop(timeout)

    def wake(self) -> None:
        """Look at the batches now (one was just approved or resumed)."""
        self._loop.wake()

    def run_once(self) -> int:
        """One pass over every sending batch with rows still waiting; how many rows went to the outbox."""
        with self.engine.connect() as connection:
            batches = connection.execute(
                select(BATCHES.c.id, BATCHES.c.api).where(
                    BATCHES.c.state == BatchState.SENDING,
                    select(ROWS.c.id).where(ROWS.c.batch_id == BATCHES.c.id, ROWS.c.state == RowState.WAITING)
                    .exists(),
                ).order_by(BATCHES.c.id)
            ).all()
        handed = 0
        for batch_id, api in batches:
            if api == "v1":
                self._find_or_make_recipients(batch_id)
            while not self._loop.stopping.is_set():
                count = self._hand_over(batch_id, api)
                handed += count
                if count and self._handed_over is not None:
                    self._handed_over()
                if count < _HAND_OVER_AT_ONCE:
                    break
        return handed

    # ------------------------------------------------------------------------------------------ recipients

    def _find_or_make_recipients(self, batch_id: int) -> None:
        """Point every waiting row at a recipient: one confirmed for its destination if there is one, else the
        one this batch already started making, else a new one; then ask K2 for those not yet confirmed."""
        with writing(self.engine) as connection:
            batch = connection.execute(select(BATCHES).where(BATCHES.c.id == batch_id)).one()
            waiting = connection.execute(
                select(ROWS.c.destination_key, ROWS.c.type, ROWS.c.nickname, ROWS.c.details_json,
                       ROWS.c.recipient_id, _RECIPIENTS.c.k2_reference)
                .join(_RECIPIENTS, _RECIPIENTS.c.id == ROWS.c.recipient_id, isouter=True)
                .where(ROWS.c.batch_id == batch_id, ROWS.c.state == RowState.WAITING)
            ).all()
            to_make: dict[int, Row] = {}
            seen: set[str] = set()
            for row in waiting:
                if row.destination_key in seen or row.k2_reference is not None:
                    continue
                seen.add(row.destination_key)
                recipient_id = _confirmed_for(connection, row.destination_key) or row.recipient_id
                if recipient_id is None:
                    recipient_id = _new_recipient(connection, row, batch.created_by)
                connection.execute(
                    update(ROWS).where(ROWS.c.batch_id == batch_id, ROWS.c.destination_key == row.destination_key,
                                       ROWS.c.state == RowState.WAITING).values(recipient_id=recipient_id))
                if _confirmed_for(connection, row.destination_key) != recipient_id:
                    to_make[recipient_id] = row
        if to_make:
            with ThreadPoolExecutor(self.concurrency, thread_name_prefix="k2-recipients") as pool:
                list(pool.map(lambda item: self._make(batch_id, *item), to_make.items()))

    def _make(self, batch_id: int, recipient_id: int, row: Row) -> None:
        """Ask K2 for the recipient (again, if an earlier try never heard back) and keep its reference; K2 refusing
        its details refuses the rows that pay it, in K2's words."""
        with self.engine.connect() as connection:
            location = connection.execute(
                select(_RECIPIENTS.c.k2_location).where(_RECIPIENTS.c.id == recipient_id)).scalar_one()
        try:
            if location is None:
                _, params = checked_details(row.type, json.loads(row.details_json))
                location = _ask_k2(self.client, params, "v1")
                with self.engine.begin() as connection:
                    connection.execute(update(_RECIPIENTS).where(_RECIPIENTS.c.id == recipient_id)
                                       .values(k2_location=location))
            reference = _fetch_reference(self.client, location, "v1")
        except APIStatusError as err:
            if err.status_code not in (400, 409, 422):
                log.warning("batches: K2 could not make recipient %s (%s); asked again later", recipient_id, err)
                return
            with self.engine.begin() as connection:
                connection.execute(
                    update(ROWS).where(ROWS.c.batch_id == batch_id, ROWS.c.recipient_id == recipient_id,
                                       ROWS.c.state == RowState.WAITING)
                    .values(state=RowState.REFUSED, reason=_refusal(err).message))
            return
        except K2Error as err:
            log.warning("batches: K2 could not make recipient %s (%s); asked again later", recipient_id, err)
            return
        if reference:
            with self.engine.begin() as connection:
                connection.execute(update(_RECIPIENTS).where(_RECIPIENTS.c.id == recipient_id)
                                   .values(k2_reference=reference))

    # ------------------------------------------------------------------------------------------ handing over

    def _hand_over(self, batch_id: int, api: str) -> int:
        """Queue up to `_HAND_OVER_AT_ONCE` ready rows in the outbox, in the batch's own transaction and only while
        it is sending (a pause or a cancel waits for this, then finds them queued and holds or cancels them)."""
        with writing(self.engine) as connection:
            batch = connection.execute(select(BATCHES).where(BATCHES.c.id == batch_id).with_for_update()).one()
            if batch.state != BatchState.SENDING:
                return 0
            ready = select(ROWS, _RECIPIENTS.c.k2_reference).join(
                _RECIPIENTS, _RECIPIENTS.c.id == ROWS.c.recipient_id, isouter=True
            ).where(ROWS.c.batch_id == batch_id, ROWS.c.state == RowState.WAITING)
            if api == "v1":
                ready = ready.where(_RECIPIENTS.c.k2_reference.is_not(None),
                                    _RECIPIENTS.c.k2_reference.not_like("adding:%"))
            rows = connection.execute(ready.order_by(ROWS.c.id).limit(_HAND_OVER_AT_ONCE)).all()
            if api == "v1":
                for row in rows:
                    _enqueue_payment(connection, batch, row)
            else:
                for chunk in _chunks(rows):
                    _enqueue_send_money(connection, batch, chunk)
            handed = [row.id for row in rows]
            for start in range(0, len(handed), 500):
                connection.execute(update(ROWS).where(ROWS.c.id.in_(handed[start:start + 500]))
                                   .values(state=RowState.ENQUEUED))
        return len(handed)


def _confirmed_for(connection: Connection, destination_key: str) -> int | None:
    """A recipient K2 confirmed for this destination and nobody disabled: the oldest, so every batch reuses it."""
    return connection.execute(
        select(_RECIPIENTS.c.id).where(
            _RECIPIENTS.c.destination_key == destination_key, _RECIPIENTS.c.disabled.is_(False),
            _RECIPIENTS.c.k2_reference.is_not(None), _RECIPIENTS.c.k2_reference.not_like("adding:%"),
            _RECIPIENTS.c.api_version == "v1",
        ).order_by(_RECIPIENTS.c.id).limit(1)
    ).scalar()


def _new_recipient(connection: Connection, row: Row, created_by: str) -> int:
    return int(connection.execute(
        insert(_RECIPIENTS).values(
            type=row.type, nickname=row.nickname, details_json=row.details_json, destination_key=row.destination_key,
            api_version="v1", k2_reference=None, k2_location=None, disabled=False, created_by=created_by,
            created_at=datetime.now(UTC),
        ).returning(_RECIPIENTS.c.id)
    ).scalar_one())


def _metadata(batch: Row, row: Row) -> dict[str, str]:
    metadata = {REQUEST_REF_KEY: row.request_ref, BATCH_KEY: str(batch.id)}
    if row.leg is None:
        metadata[ROW_KEY] = str(row.number)
    return metadata


def _enqueue_payment(connection: Connection, batch: Row, row: Row) -> None:
    amount = from_cents(row.amount_cents)
    metadata = _metadata(batch, row) | ({REFERENCE_KEY: row.reference} if row.reference else {})
    details = json.loads(row.details_json)
    enqueue(
        connection, request_ref=row.request_ref, kind="payment",
        params={"destination_type": row.type, "destination_reference": row.k2_reference, "amount": f"{amount:f}",
                "description": row.description, "metadata": metadata},
        amount=amount, phone_number=details.get("phone_number") if row.type == "mobile_wallet" else None,
        note=row.reference, created_by=batch.created_by, recipient_id=row.recipient_id,
    )


def _chunks(rows: list[Row]) -> list[list[Row]]:
    """Rows grouped by the send_money request they share, in order."""
    chunks: dict[str, list[Row]] = {}
    for row in rows:
        chunks.setdefault(row.request_ref, []).append(row)
    return list(chunks.values())


def _enqueue_send_money(connection: Connection, batch: Row, chunk: list[Row]) -> None:
    destinations: list[dict[str, Any]] = []
    for row in sorted(chunk, key=lambda row: row.leg):
        destination = destination_fields(row.type, json.loads(row.details_json), row.nickname)
        destinations.append(destination | {"amount": f"{from_cents(row.amount_cents):f}",
                                           "description": row.description})
    enqueue(
        connection, request_ref=chunk[0].request_ref, kind="send_money",
        params={"destinations": destinations, "metadata": _metadata(batch, chunk[0])},
        amount=sum((from_cents(row.amount_cents) for row in chunk), Decimal(0)),
        note=f"Batch {batch.id}", created_by=batch.created_by,
    )
