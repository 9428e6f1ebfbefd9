"""Deliveries the route refused before storing anything: counted in memory, written in batches, logged by sample.

A flood of refusals (bad signatures, stalled bodies) must cost the database one small upsert per second and the
log a few lines per minute, never a write or a line per request. The route calls `RejectionCounter.note`; the
ingestion thread calls `flush` about once a second; pages read `rejections`."""
from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pandas as pd
from sqlalchemy import Engine, Table, case, select
from sqlalchemy.dialects import postgresql, sqlite

from ..db.tables import WebhookRejection

__all__ = [
    "REJECTION_COLUMNS",
    "REASON_BAD_SIGNATURE",
    "REASON_DISCONNECTED",
    "REASON_NOT_JSON",
    "REASON_NOT_OBJECT",
    "REASON_NO_SIGNATURE",
    "REASON_READ_TIMEOUT",
    "REASON_TOO_LARGE",
    "RejectionCounter",
    "rejections",
]

log = logging.getLogger(__name__)

_TABLE: Table = WebhookRejection.__table__  # type: ignore[attr-defined]

REASON_NO_SIGNATURE = "missing signature"
REASON_BAD_SIGNATURE = "signature mismatch"
REASON_TOO_LARGE = "body too large"
REASON_NOT_JSON = "body is not JSON"
REASON_NOT_OBJECT = "body is not a JSON object"
REASON_READ_TIMEOUT = "body not received in time"
REASON_DISCONNECTED = "client disconnected before its body arrived"

OTHER_SOURCES = "(other sources)"  # where counts go once `max_keys` distinct keys wait in one flush interval


@dataclass(slots=True)
class _Pending:
    count: int
    last_at: datetime


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


class RejectionCounter:
    """Refusals per (UTC minute, source address, reason), kept until `flush` adds them to `webhook_rejections`.

    Thread-safe: event loops note, the ingestion thread flushes. The log gets the first refusal of each reason
    in a minute and, once the minute is over, one summary line with its totals."""

    def __init__(self, *, clock: Callable[[], datetime] = _now, max_keys: int = 10_000) -> None:
        self._clock = clock
        self._max_keys = max_keys
        self._lock = threading.Lock()
        self._pending: dict[tuple[datetime, str, str], _Pending] = {}
        self._minute: datetime | None = None  # the minute the log is sampling
        self._reasons: Counter[str] = Counter()  # that minute's refusals by reason
        self._sources: set[str] = set()  # that minute's sources (up to max_keys)

    def note(self, source: str, reason: str) -> None:
        """Count one refusal (the route calls this; cheap, and never touches the database)."""
        now = self._clock()
        minute = _minute(now)
        with self._lock:
            if minute != self._minute:
                self._summarize()
                self._minute = minute
            key = (minute, source, reason)
            if key not in self._pending and len(self._pending) >= self._max_keys:
                key = (minute, OTHER_SOURCES, reason)
            pending = self._pending.get(key)
            if pending is None:
                self._pending[key] = _Pending(1, now)
            else:
                pending.count += 1
                pending.last_at = now
            first = not self._reasons[reason]
            self._reasons[reason] += 1
            if len(self._sources) < self._max_keys:
                self._sources.add(source)
        if first:
            log.warning("webhook refused from %s: %s (more this minute are counted, not logged)", source, reason)

    @property
    def pending(self) -> int:
        """Refusals counted and not yet written."""
        with self._lock:
            return sum(item.count for item in self._pending.values())

    def flush(self, engine: Engine) -> int:
        """Add what was counted to `webhook_rejections` in one statement (count += n); returns the rows touched.

        Summarizes a finished minute in the log first. If the database fails, the counts are kept for the next
        flush and the error propagates."""
        with self._lock:
            if self._minute is not None and _minute(self._clock()) != self._minute:
                self._summarize()
                self._minute = None
            taken, self._pending = self._pending, {}
        if not taken:
            return 0
        rows = [
            {"minute": minute, "source": source, "reason": reason, "count": item.count, "last_at": item.last_at}
            for (minute, source, reason), item in taken.items()
        ]
        try:
            with engine.begin() as connection:
                connection.execute(_upsert(connection.dialect.name), rows)
        except BaseException:
            with self._lock:
                for key, item in taken.items():
                    pending = self._pending.get(key)
                    if pending is None:
                        self._pending[key] = item
                    else:
                        pending.count += item.count
                        pending.last_at = max(pending.last_at, item.last_at)
            raise
        return len(rows)

    def _summarize(self) -> None:
        """Log the sampled minute's totals, if it refused more than its first lines showed (lock held)."""
        total = sum(self._reasons.values())
        if self._minute is not None and total > len(self._reasons):
            reasons = ", ".join(f"{reason} {count:,}" for reason, count in self._reasons.most_common())
            log.warning("webhook refusals in the minute from %s UTC: %s (%s) from %s source address%s",
                        self._minute.strftime("%Y-%m-%d %H:%M"), f"{total:,}", reasons, f"{len(self._sources):,}",
                        "" if len(self._sources) == 1 else "es")
        self._reasons = Counter()
        self._sources = set()


def _upsert(dialect_name: str) -> Any:
    insert = postgresql.insert if dialect_name == "postgresql" else sqlite.insert
    statement = insert(_TABLE)
    added = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=["minute", "source", "reason"],
        set_={
            "count": _TABLE.c.count + added["count"],
            "last_at": case((added.last_at > _TABLE.c.last_at, added.last_at), else_=_TABLE.c.last_at),
        },
    )


REJECTION_COLUMNS = ("minute", "source", "reason", "count", "last_at")


def rejections(engine: Engine, *, since: datetime | None = None, limit: int = 1_000) -> pd.DataFrame:
    """Stored refusals, newest minute first: columns `REJECTION_COLUMNS`.

    `minute` is the UTC minute they happened in and `last_at` the last one in it (both aware UTC), `source` the
    client address as the server saw it, `reason` one of the `REASON_*` texts, `count` how many. `since` keeps
    minutes at or after it (aware). Refusals still counted in some process's memory (up to a second's worth)
    are not here yet."""
    query = select(*(_TABLE.c[name] for name in REJECTION_COLUMNS))
    if since is not None:
        if since.tzinfo is None:
            raise ValueError("since must be an aware datetime")
        query = query.where(_TABLE.c.minute >= _minute(since.astimezone(timezone.utc)))
    query = query.order_by(_TABLE.c.minute.desc(), _TABLE.c.count.desc(), _TABLE.c.source).limit(limit)
    with engine.connect() as connection:
        found = connection.execute(query).all()
    frame = pd.DataFrame(found, columns=list(REJECTION_COLUMNS))
    frame["minute"] = pd.to_datetime(frame["minute"], utc=True)
    frame["last_at"] = pd.to_datetime(frame["last_at"], utc=True)
    frame["count"] = frame["count"].astype("int64")
    return frame
