"""The outbox worker: one thread per process that sends queued requests, settles them from K2's results, and asks
K2 about those whose callback is late. Nothing else sends money."""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from k2 import K2Client, K2Error

from ..inbox import Delivered, event_key, map_event, write_batch
from ..loop import Loop
from .outbox import (
    OutboxRow,
    claim_due_checks,
    claim_queued,
    k2_id_of,
    move_each,
    record_location,
    recover_interrupted,
    settle_from_results,
)
from .senders import Answer, send

__all__ = ["OutboxWorker", "RateLimit"]

log = logging.getLogger(__name__)


class RateLimit:
    """A token bucket: at most `per_second` sends a second, bursts of at most `burst`.

    The worker claims a row only once it holds a token for it, so a claimed row is sent at once: the window in
    which a killed process leaves a row claimed but not yet sent (which then stays unknown) stays short."""

    def __init__(self, per_second: float, burst: int) -> None:
        self._per_second = per_second
        self._burst = float(burst)
        self._tokens = float(burst)
        self._at = time.monotonic()

    def take(self, wanted: int) -> int:
        """Up to `wanted` tokens available now (used up); 0 when the bucket is empty."""
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._per_second)
        self._at = now
        granted = min(wanted, int(self._tokens))
        self._tokens -= granted
        return granted

    def give_back(self, unused: int) -> None:
        """Return tokens taken for rows that were not there."""
        self._tokens = min(self._burst, self._tokens + unused)


class OutboxWorker:
    """Claims queued rows, sends each once with bounded concurrency and a rate limit, records K2's answer.

    At start every row left `sending` (a process died mid-send) becomes `unknown` and is never sent again.
    A request K2 accepted whose result has not come after `check_after` gets one status query, recorded through
    the inbox exactly as its callback would be; if K2 still calls it pending, the next query waits twice as long."""

    def __init__(
        self,
        engine: Engine,
        client: K2Client,
        *,
        callback_url: str,
        concurrency: int = 8,
        per_second: float = 20.0,
        poll_interval: float = 0.25,
        check_after: timedelta = timedelta(seconds=20),
        book_every: float = 0.1,
    ) -> None:
        self.engine = engine
        self.client = client
        self.callback_url = callback_url
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.check_after = check_after
        self._book_every = book_every  # K2's answers and results written at most this often: each write many rows
        self._booked_at = 0.0
        self._rate = RateLimit(per_second, burst=concurrency)
        self._busy = 0  # sends and status queries under way
        self._busy_lock = threading.Lock()
        self._answers: list[tuple[str, Answer]] = []  # K2's answers not yet written, by our id
        self._answers_lock = threading.Lock()
        self._loop = Loop("k2-outbox", self._tick, poll_interval)
        self._pool: ThreadPoolExecutor | None = None

    def start(self) -> None:
        """Recover what a dead process left mid-send, then start the thread; call once, at server start."""
        recovered = recover_interrupted(self.engine)
        if recovered:
            log.warning("outbox: %d requests were mid-send when the last process stopped; now unknown", recovered)
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="k2-outbox-send")
        self._loop.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop claiming, let sends under way finish (at most `timeout` seconds), end the thread."""
        if self._pool is None:
            return
        self._loop.stop(timeout)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = None
        self._record_answers()

    def wake(self) -> None:
        """Look at the outbox now rather than at the next poll (a page just queued something)."""
        self._loop.wake()

    @property
    def running(self) -> bool:
        """True while the thread is alive."""
        return self._loop.running

    def _tick(self) -> float | None:
        """Free senders get rows first (every answer wakes this round, and they wait on it); what K2 said is
        written every `book_every` seconds, so a round is mostly one claim (a round that wrote after every answer
        left most of 32 senders idle in a payroll). Returns how long until the answers waiting are due."""
        free = self._free_slots()
        tokens = self._rate.take(free) if free else 0
        if tokens:
            claimed = claim_queued(self.engine, tokens)
            self._rate.give_back(tokens - len(claimed))
            for row in claimed:
                self._submit(self._send, row)
            if len(claimed) == tokens:  # more may be waiting: come back as soon as a token is due
                self._loop.wake()
        if time.monotonic() - self._booked_at >= self._book_every:
            self._booked_at = time.monotonic()
            self._record_answers()
            settle_from_results(self.engine, check_after=self.check_after)
        free = self._free_slots()
        if free:
            for row in claim_due_checks(self.engine, free, self.check_after):
                self._submit(self._check, row)
        with self._answers_lock:
            waiting = bool(self._answers)
        return max(0.0, self._booked_at + self._book_every - time.monotonic()) if waiting else None

    def _free_slots(self) -> int:
        with self._busy_lock:
            return self.concurrency - self._busy

    def _submit(self, job: Callable[[OutboxRow], None], row: OutboxRow) -> None:
        assert self._pool is not None
        with self._busy_lock:
            self._busy += 1

        def run() -> None:
            try:
                job(row)
            except Exception:  # logged against our id; the row stays where it is, never sent again
                log.exception("outbox: request %s", row.request_ref)
            finally:
                with self._busy_lock:
                    self._busy -= 1

        self._pool.submit(run)

    def _send(self, row: OutboxRow) -> None:
        answer = send(self.client, row.kind, row.params, self.callback_url)
        with self._answers_lock:
            self._answers.append((row.request_ref, answer))
        self._loop.wake()

    def _record_answers(self) -> None:
        """Write the answers K2 gave since the last round, in one transaction: one commit (one fsync) for many
        sends, not one each. A process that dies first leaves those rows `sending`, so unknown at the next start
        and settled by their results: each was sent once, and is never sent again."""
        with self._answers_lock:
            answers, self._answers = self._answers, []
        if not answers:
            return
        due = datetime.now(UTC) + self.check_after
        moves: dict[tuple[OutboxState, bool], list[dict[str, object]]] = {}
        for request_ref, answer in answers:
            values: dict[str, object] = {"request_ref": request_ref, "reason": answer.reason}
            if answer.location:
                values |= {"location": answer.location, "k2_id": k2_id_of(answer.location), "due_at": due}
            moves.setdefault((answer.state, bool(answer.location)), []).append(values)
        with self.engine.begin() as connection:
            for (state, _), each in moves.items():
                move_each(connection, state, each)
            # a row whose result came first has moved on already: it keeps the Location K2 gave
            record_location(connection, {ref: answer.location for ref, answer in answers if answer.location})

    def _check(self, row: OutboxRow) -> None:
        """One status query, recorded through the inbox like the callback it stands in for."""
        assert row.location is not None
        try:
            url = self.client.resolve(row.location, collection=f"{self.client.base_url}/api/v1/{row.kind}s")
            response = self.client.request("GET", url, idempotent=True)
            document = json.loads(response.content)
        except (K2Error, ValueError):
            log.warning("outbox: status query for %s failed; asked again later", row.request_ref, exc_info=True)
            return
        if not isinstance(document, dict):
            return
        key = event_key(document, response.content)
        received_at = datetime.now(UTC)
        mapped = map_event(document, event_id=key.id, received_at=received_at)
        write_batch(self.engine, [Delivered(key.id, key.kind, received_at, response.text, mapped)])
        self._loop.wake()

