"""History from K2's polling API: ask K2 which payments it holds for some days and store the ones we lack.

Each Nairobi day is one polling request: K2 documents no longest range (its own examples ask for a week), and a
day keeps one result to what a busy till takes in a day (a few thousand items, stored as one event), stops a failure
from costing more than a day's work, and is exactly what the daily check asks. Its result (fetched by GET on the
Location; K2 also posts it to our webhook route) is recorded through the inbox exactly as that callback would be:
one `webhook_events` row keyed `polling:<id>:<status>` and its transactions written insert-or-ignore by reference.
So a payment that came by webhook is kept as it came, a missing one is stored once, and the callback and the GET
of one request agree. A payment whose row was written by a polling result is one K2 had and no webhook brought:
the daily check's findings are exactly those rows."""
from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Table, func, select

from k2 import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    InvalidPayloadError,
    K2Client,
    K2Error,
    RateLimitError,
)
from k2 import statuses
from k2.types import Polling

from ..access import CONSOLE, AuditAction, Permission, User, audit_log, record, require
from ..db.tables import Transaction, WebhookEvent
from ..errors import InputError
from ..inbox import Delivered, event_key, map_event, write_batch
from ..inbox.mapping import OUTCOME_FAILED
from ..loop import Loop
from .filters import BUSINESS_TIMEZONE, day_range
from .transactions import _NEWEST_FIRST, _ROW_COLUMNS, Payment, _payment  # one payment reads alike everywhere

__all__ = [
    "DAILY_CHECK",
    "MAX_DAYS",
    "POLLING_KIND",
    "Check",
    "DailyCheck",
    "Filled",
    "Found",
    "Waits",
    "check_yesterday",
    "fill_in",
    "found_by_polling",
    "last_check",
]

log = logging.getLogger(__name__)

_T: Table = Transaction.__table__  # type: ignore[attr-defined]
_EVENTS: Table = WebhookEvent.__table__  # type: ignore[attr-defined]

POLLING_KIND = "polling"  # the `webhook_events.kind` of a polling result (its `data.type`)
MAX_DAYS = 731  # two years at a time: a mistyped year would otherwise send thousands of requests
# Who the scheduled check acts as: the server itself, as the console does (it needs no sign-in).
DAILY_CHECK = replace(CONSOLE, username="daily-check", name="Daily check")


@dataclass(frozen=True, slots=True)
class Waits:
    """How long to wait for K2 to finish listing a day: the pauses between GETs, then give up."""

    pauses: Sequence[float] = (0.2, 0.5, 1.0, 2.0)  # the last one repeats
    give_up_after: float = 120.0


@dataclass(frozen=True, slots=True)
class Filled:
    """What one run did: days asked of K2 (`days_done` of `days`), payments K2 listed in them, how many of those
    were missing and are now stored, how many we already had, and why it stopped early (`failure`, in words)."""

    first: date
    last: date
    days: int
    days_done: int = 0
    listed: int = 0
    stored: int = 0
    already_had: int = 0
    failure: str | None = None

    @property
    def complete(self) -> bool:
        return self.failure is None and self.days_done == self.days


class _Stopped(Exception):
    """K2 could not give one day's list; the message says why, in words."""


def fill_in(
    engine: Engine,
    client: K2Client,
    actor: User,
    first: date,
    last: date,
    *,
    callback_url: str,
    source: str | None = None,
    progress: Callable[[Filled], None] | None = None,
    waits: Waits = Waits(),
    action: AuditAction = AuditAction.HISTORY_FILLED,
) -> Filled:
    """Ask K2 for every payment from `first` to `last` (Nairobi days, both included), day by day, and store the
    missing ones; audited once at the end, with what it found. `InputError` for dates that cannot be asked.

    A day is written in one transaction or not at all, so a K2 failure stops the run between days: the days
    before it are complete, and running it again stores only what is still missing."""
    require(actor, Permission.FILL_HISTORY)
    _check_dates(first, last)
    if not callback_url:
        raise InputError("PUBLIC_BASE_URL", "K2 needs an address to send its list to: set PUBLIC_BASE_URL (the "
                                            "address K2 reaches this server at) and try again.")
    filled = Filled(first, last, days=(last - first).days + 1)
    day = first
    while day <= last:
        try:
            listed, stored = _fill_day(engine, client, day, callback_url, waits)
        except _Stopped as stop:
            filled = replace(filled, failure=f"Stopped at {day:%a %-d %b %Y}: {stop}. The days before it are "
                                             "filled in; nothing of that day was stored. Try again later: days "
                                             "already filled in are only checked again, never doubled.")
            break
        filled = replace(filled, days_done=filled.days_done + 1, listed=filled.listed + listed,
                         stored=filled.stored + stored, already_had=filled.already_had + listed - stored)
        if progress is not None:
            progress(filled)
        day += timedelta(days=1)
    detail = {"days": filled.days_done, "listed": filled.listed, "stored": filled.stored,
              "already_had": filled.already_had, "failure": filled.failure}
    with engine.begin() as connection:
        record(connection, action, actor=actor.username, target=f"{first.isoformat()}/{last.isoformat()}",
               detail=detail, source=source)
    return filled


def _check_dates(first: date, last: date) -> None:
    today = datetime.now(BUSINESS_TIMEZONE).date()
    if first > last:
        raise InputError("dates", f"The first day ({first:%d/%m/%Y}) is after the last ({last:%d/%m/%Y}).")
    if last > today:
        raise InputError("dates", f"The last day ({last:%d/%m/%Y}) is after today: K2 has no payments from the "
                                  "future.")
    if (last - first).days + 1 > MAX_DAYS:
        raise InputError("dates", f"Choose at most two years ({MAX_DAYS:,} days) at a time; fill in longer "
                                  "history in parts.")


def _fill_day(engine: Engine, client: K2Client, day: date, callback_url: str, waits: Waits) -> tuple[int, int]:
    """(payments K2 listed for `day`, how many of them this result stored)."""
    start, end = day_range(day, day)
    end = min(end, datetime.now(UTC).replace(microsecond=0))  # today: up to now, the rest is not history yet
    try:
        location = client.polling.create(scope="company", from_time=start, to_time=end, callback_url=callback_url)
        raw = _final_result(client, location, waits)
    except K2Error as err:
        raise _Stopped(_k2_failure(err)) from err
    document = json.loads(raw)
    key = event_key(document, raw)
    received_at = datetime.now(UTC)
    mapped = map_event(document, event_id=key.id, received_at=received_at)
    if mapped.outcome == OUTCOME_FAILED:  # kept (the event log shows it, reprocessing maps it after a fix)
        write_batch(engine, [Delivered(key.id, key.kind, received_at, raw.decode(), mapped)])
        raise _Stopped(f"K2's list could not be read ({mapped.error})")
    # K2 includes a payment on either edge of the range; each day counts only its own.
    references = {row["reference"] for row in mapped.transactions if start <= row["occurred_at"] < end}
    write_batch(engine, [Delivered(key.id, key.kind, received_at, raw.decode(), mapped)])
    with engine.connect() as connection:
        stored = connection.execute(
            select(func.count()).select_from(_T).where(
                _T.c.occurred_at >= start, _T.c.occurred_at < end, _T.c.event_id == key.id)
        ).scalar_one()
    return len(references), stored


def _final_result(client: K2Client, location: str, waits: Waits) -> bytes:
    """The polling result's body once K2 has finished listing (GET on the Location, pausing between tries)."""
    url = client.resolve(location, collection=f"{client.base_url}/api/v1/polling")
    deadline = time.monotonic() + waits.give_up_after
    for attempt in itertools.count():
        response = client.request("GET", url, idempotent=True)
        polling = client.parse(Polling, response)
        if polling.status not in statuses.IN_PROGRESS:
            if polling.status not in statuses.SUCCEEDED:
                raise _Stopped(f"K2 could not list the payments (it answered {polling.status}"
                               + (f": {'; '.join(polling.errors)}" if polling.errors else "") + ")")
            return response.content
        pause = waits.pauses[min(attempt, len(waits.pauses) - 1)]
        if time.monotonic() + pause > deadline:
            break
        time.sleep(pause)
    raise _Stopped(f"K2 was still preparing the list after {waits.give_up_after:g} seconds")


def _k2_failure(error: K2Error) -> str:
    """What went wrong with K2, as the owner or the finance clerk can act on it (no secrets, no raw bodies)."""
    if isinstance(error, AuthenticationError):
        return ("K2 refused this dashboard's credentials (401): check K2_CLIENT_ID and K2_CLIENT_SECRET on "
                "Settings and health")
    if isinstance(error, APITimeoutError):
        return "K2 did not answer in time"
    if isinstance(error, APIConnectionError):
        return "K2 could not be reached (no connection)"
    if isinstance(error, RateLimitError):
        return "K2 asked us to slow down (429)"
    if isinstance(error, APIStatusError) and error.status_code >= 500:
        return f"K2 had a fault on its side (error {error.status_code})"
    if isinstance(error, APIStatusError):
        return f"K2 refused the request (error {error.status_code}: {error.error_message or 'no reason given'})"
    if isinstance(error, InvalidPayloadError):
        return "K2's answer could not be read"
    return "K2 could not be asked"


def check_yesterday(
    engine: Engine,
    client: K2Client,
    actor: User = DAILY_CHECK,
    *,
    callback_url: str,
    source: str | None = None,
    waits: Waits = Waits(),
) -> Filled:
    """The daily check: K2's list for yesterday (Nairobi) against ours, the missing payments filled in; run by the
    runtime each night (as `DAILY_CHECK`) or on demand by an owner or finance clerk."""
    yesterday = datetime.now(BUSINESS_TIMEZONE).date() - timedelta(days=1)
    return fill_in(engine, client, actor, yesterday, yesterday, callback_url=callback_url, source=source,
                   waits=waits, action=AuditAction.HISTORY_CHECKED)


@dataclass(frozen=True, slots=True)
class Check:
    """One run of the daily check (or of a fill-in), as the audit trail kept it."""

    at: datetime
    first: date
    last: date
    listed: int
    stored: int
    already_had: int
    failure: str | None


def last_check(engine: Engine, action: AuditAction = AuditAction.HISTORY_CHECKED) -> Check | None:
    """The newest daily check (or, with `action=HISTORY_FILLED`, fill-in), or None if none ran yet."""
    entries = audit_log(engine, actions=[action], limit=1)
    if entries.empty:
        return None
    entry = entries.iloc[0]
    detail: dict[str, Any] = json.loads(entry["detail"] or "{}")
    first, _, last = str(entry["target"]).partition("/")
    return Check(entry["at"].to_pydatetime(), date.fromisoformat(first), date.fromisoformat(last),
                 int(detail.get("listed", 0)), int(detail.get("stored", 0)), int(detail.get("already_had", 0)),
                 detail.get("failure"))


@dataclass(frozen=True, slots=True)
class Found:
    """A payment K2 listed that no webhook had brought, and when this dashboard stored it (UTC)."""

    payment: Payment
    found_at: datetime


def found_by_polling(engine: Engine, start: datetime, end: datetime, *, limit: int = 500) -> tuple[list[Found], int]:
    """Payments in `[start, end)` whose row came from a polling result (K2 listed them; no webhook brought them
    before): the newest `limit`, and how many in all."""
    found = (
        select(*_ROW_COLUMNS, _T.c.recorded_at)
        .join(_EVENTS, _EVENTS.c.id == _T.c.event_id)
        .where(_T.c.occurred_at >= start, _T.c.occurred_at < end, _EVENTS.c.kind == POLLING_KIND)
    )
    with engine.connect() as connection:
        total = connection.execute(select(func.count()).select_from(found.subquery())).scalar_one()
        rows = connection.execute(found.order_by(*_NEWEST_FIRST).limit(limit)).all()
    return [Found(_payment(row), row.recorded_at) for row in rows], total


class DailyCheck:
    """The daily check as a background thread: once a day, soon after Nairobi midnight (and once soon after the
    server starts), checks yesterday; a failed check is tried again every `retry_after`."""

    def __init__(
        self,
        engine: Engine,
        client: K2Client,
        *,
        callback_url: str,
        first_after: timedelta = timedelta(minutes=1),
        retry_after: timedelta = timedelta(hours=1),
        past_midnight: timedelta = timedelta(minutes=30),
    ) -> None:
        self.engine = engine
        self.client = client
        self.callback_url = callback_url
        self._retry_after = retry_after
        self._past_midnight = past_midnight  # late webhooks of the day before have had time to come
        self._checked: date | None = None
        self._loop = Loop("k2-daily-check", self._once, retry_after.total_seconds(),
                          first_wait=first_after.total_seconds())

    def start(self) -> None:
        self._loop.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._loop.stop(timeout)

    def _once(self) -> float:
        """Check yesterday unless done; seconds until the next look."""
        now = datetime.now(BUSINESS_TIMEZONE)
        yesterday = now.date() - timedelta(days=1)
        if self._checked != yesterday:
            try:
                filled = check_yesterday(self.engine, self.client, callback_url=self.callback_url)
            except InputError as err:  # a setting is missing (PUBLIC_BASE_URL): said once an hour, plainly
                log.warning("daily check of %s cannot run: %s", yesterday, err.message)
                return self._retry_after.total_seconds()
            except Exception:  # the thread keeps running; the log says what failed (no sign of it in the audit)
                log.exception("daily check of %s failed", yesterday)
                return self._retry_after.total_seconds()
            if not filled.complete:
                log.warning("daily check of %s: %s", yesterday, filled.failure)
                return self._retry_after.total_seconds()
            self._checked = yesterday
            if filled.stored:
                log.warning("daily check: %d payments of %s were missing (no webhook came) and are now stored",
                            filled.stored, yesterday)
        tomorrow, _ = day_range(now.date() + timedelta(days=1), now.date() + timedelta(days=1))
        return max(1.0, (tomorrow + self._past_midnight - now).total_seconds())
