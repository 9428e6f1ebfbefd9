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
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, Row, bindparam, insert, select, update

from k2 import APIStatusError, K2Client, K2Error

from ..db import writing
from ..db.tables import Recipient
from ..inbox import REQUEST_REF_KEY
from ..loop import Loop
from ..money import from_cents
from ..outbound import enqueue_all, queued
from .batches import BATCHES, ROWS, BatchState, RowState
from .payments import REFERENCE_KEY, destination_fields
from .recipients import _ask_k2, _fetch_reference, _refusal, checked_details

__all__ = ["BatchRunner"]

log = logging.getLogger(__name__)

_RECIPIENTS = Recipient.__table__  # type: ignore[attr-defined]
_HAND_OVER_AT_ONCE = 1_000  # rows per transaction: the batch's lock is held briefly, pause and cancel get a turn
_MAKE_AT_ONCE = 256  # recipients asked of K2 between two writes (a process that dies loses at most these answers)
BATCH_KEY = "batch"  # our batch id in K2's metadata, beside request_ref
ROW_KEY = "row"  # the row's number in the file


class _ToAsk(NamedTuple):
    """A recipient to ask K2 for: its row here, its K2 fields, and the Location K2 gave if it answered before."""

    recipient_id: int
    type: str
    details_json: str
    k2_location: str | None


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
        self._loop = Loop("k2-batches", self._round, poll_interval)

    def start(self) -> None:
        self._loop.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._loop.stop(timeout)

    def wake(self) -> None:
        """Look at the batches now (one was just approved or resumed)."""
        self._loop.wake()

    def _round(self) -> None:
        """A round of the thread: the count `run_once` returns is not a wait (the Loop would sleep that long)."""
        self.run_once()

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
            handed += self._hand_over_all(batch_id, api)
            if api == "v1":
                to_make = self._point_at_recipients(batch_id)
                with ThreadPoolExecutor(self.concurrency, thread_name_prefix="k2-recipients") as pool:
                    for start in range(0, len(to_make), _MAKE_AT_ONCE):
                        if self._loop.stopping.is_set():
                            break
                        answers = list(pool.map(self._ask, to_make[start:start + _MAKE_AT_ONCE]))
                        self._keep(batch_id, answers)
                        handed += self._hand_over_all(batch_id, api)  # their payments go while K2 makes the rest
        return handed

    def _hand_over_all(self, batch_id: int, api: str) -> int:
        handed = 0
        while not self._loop.stopping.is_set():
            count = self._hand_over(batch_id, api)
            handed += count
            if count and self._handed_over is not None:
                self._handed_over()
            if count < _HAND_OVER_AT_ONCE:
                break
        return handed

    # ------------------------------------------------------------------------------------------ recipients

    def _point_at_recipients(self, batch_id: int) -> list[_ToAsk]:
        """Point every waiting row without a confirmed recipient at one: confirmed for its destination if there is
        one, else the one this batch started making before (a process died), else a new one. The recipients still
        to be asked of K2, one row each (with the Location K2 gave, if it answered before)."""
        with writing(self.engine) as connection:
            batch = connection.execute(select(BATCHES).where(BATCHES.c.id == batch_id)).one()
            waiting = connection.execute(
                select(ROWS.c.destination_key, ROWS.c.type, ROWS.c.nickname, ROWS.c.details_json,
                       ROWS.c.recipient_id, _RECIPIENTS.c.k2_reference, _RECIPIENTS.c.k2_location)
                .join(_RECIPIENTS, _RECIPIENTS.c.id == ROWS.c.recipient_id, isouter=True)
                .where(ROWS.c.batch_id == batch_id, ROWS.c.state == RowState.WAITING,
                       _RECIPIENTS.c.k2_reference.is_(None))
            ).all()
            unmade = {row.destination_key: row for row in waiting}
            confirmed = _confirmed_for(connection, list(unmade))
            new = [row for key, row in unmade.items() if key not in confirmed and row.recipient_id is None]
            made = _new_recipients(connection, new, batch.created_by)
            pointing = {key: confirmed.get(key) or made.get(key) or row.recipient_id for key, row in unmade.items()}
            changed = [{"key": key, "recipient": recipient} for key, recipient in pointing.items()
                       if recipient != unmade[key].recipient_id]
            if changed:
                connection.execute(
                    update(ROWS).where(ROWS.c.batch_id == batch_id, ROWS.c.destination_key == bindparam("key"),
                                       ROWS.c.state == RowState.WAITING).values(recipient_id=bindparam("recipient")),
                    changed)
        return [_ToAsk(pointing[key], row.type, row.details_json, row.k2_location)
                for key, row in unmade.items() if key not in confirmed]

    def _ask(self, row: _ToAsk) -> tuple[int, str | None, str | None, str | None]:
        """Ask K2 for one recipient (again, if an earlier try never heard back): (recipient id, Location,
        reference, K2's refusal in words). Location and reference None: K2 did not answer; asked again later."""
        location = row.k2_location
        try:
            if location is None:
                _, params = checked_details(row.type, json.loads(row.details_json))
                location = _ask_k2(self.client, params, "v1")
            return row.recipient_id, location, _fetch_reference(self.client, location, "v1"), None
        except APIStatusError as err:
            if err.status_code in (400, 409, 422):
                return row.recipient_id, None, None, _refusal(err).message
            log.warning("batches: K2 could not make recipient %s (%s); asked again later", row.recipient_id, err)
        except K2Error as err:
            log.warning("batches: K2 could not make recipient %s (%s); asked again later", row.recipient_id, err)
        return row.recipient_id, location, None, None

    def _keep(self, batch_id: int, answers: list[tuple[int, str | None, str | None, str | None]]) -> None:
        """What K2 said of a round of recipients, in one transaction; rows paying a refused one are refused."""
        with self.engine.begin() as connection:
            for recipient_id, location, reference, refusal in answers:
                if refusal is not None:
                    connection.execute(
                        update(ROWS).where(ROWS.c.batch_id == batch_id, ROWS.c.recipient_id == recipient_id,
                                           ROWS.c.state == RowState.WAITING)
                        .values(state=RowState.REFUSED, reason=refusal))
                elif location is not None:
                    connection.execute(update(_RECIPIENTS).where(_RECIPIENTS.c.id == recipient_id)
                                       .values(k2_location=location, k2_reference=reference))

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
            enqueue_all(connection, [_payment(batch, row) for row in rows] if api == "v1"
                        else [_send_money(batch, chunk) for chunk in _chunks(rows)])
            handed = [row.id for row in rows]
            for start in range(0, len(handed), 500):
                connection.execute(update(ROWS).where(ROWS.c.id.in_(handed[start:start + 500]))
                                   .values(state=RowState.ENQUEUED))
        return len(handed)


def _confirmed_for(connection: Connection, keys: list[str]) -> dict[str, int]:
    """For each destination, a recipient K2 confirmed and nobody disabled: the oldest, so every batch reuses it."""
    found: dict[str, int] = {}
    for start in range(0, len(keys), 500):  # SQLite's limit on bound parameters
        rows = connection.execute(
            select(_RECIPIENTS.c.destination_key, _RECIPIENTS.c.id).where(
                _RECIPIENTS.c.destination_key.in_(keys[start:start + 500]), _RECIPIENTS.c.disabled.is_(False),
                _RECIPIENTS.c.k2_reference.is_not(None), _RECIPIENTS.c.k2_reference.not_like("adding:%"),
                _RECIPIENTS.c.api_version == "v1",
            ).order_by(_RECIPIENTS.c.id.desc())
        ).all()
        found.update(rows)  # the oldest last, so it wins
    return found


def _new_recipients(connection: Connection, rows: list[Row], created_by: str) -> dict[str, int]:
    """Recipient rows for destinations K2 is about to be asked for, written before it is asked."""
    if not rows:
        return {}
    now = datetime.now(UTC)
    written = connection.execute(
        insert(_RECIPIENTS).returning(_RECIPIENTS.c.destination_key, _RECIPIENTS.c.id, sort_by_parameter_order=True),
        [{"type": row.type, "nickname": row.nickname, "details_json": row.details_json,
          "destination_key": row.destination_key, "api_version": "v1", "k2_reference": None, "k2_location": None,
          "disabled": False, "created_by": created_by, "created_at": now} for row in rows],
    ).all()
    return dict(written)


def _metadata(batch: Row, row: Row) -> dict[str, str]:
    metadata = {REQUEST_REF_KEY: row.request_ref, BATCH_KEY: str(batch.id)}
    if row.leg is None:
        metadata[ROW_KEY] = str(row.number)
    return metadata


def _payment(batch: Row, row: Row) -> dict[str, Any]:
    """The outbox row paying one batch row (v1) to its recipient."""
    amount = from_cents(row.amount_cents)
    metadata = _metadata(batch, row) | ({REFERENCE_KEY: row.reference} if row.reference else {})
    details = json.loads(row.details_json)
    return queued(
        request_ref=row.request_ref, kind="payment",
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


def _send_money(batch: Row, chunk: list[Row]) -> dict[str, Any]:
    """The outbox row of one v2 send_money request carrying a chunk of the batch's rows."""
    destinations: list[dict[str, Any]] = []
    for row in sorted(chunk, key=lambda row: row.leg):
        destination = destination_fields(row.type, json.loads(row.details_json), row.nickname)
        destinations.append(destination | {"amount": f"{from_cents(row.amount_cents):f}",
                                           "description": row.description})
    return queued(
        request_ref=chunk[0].request_ref, kind="send_money",
        params={"destinations": destinations, "metadata": _metadata(batch, chunk[0])},
        amount=sum((from_cents(row.amount_cents) for row in chunk), Decimal(0)),
        note=f"Batch {batch.id}", created_by=batch.created_by,
    )
