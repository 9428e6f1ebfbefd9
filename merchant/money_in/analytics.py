"""Money in, as a shop owner or accountant reads it: payments in a range, totals, per-day and per-hour shape, exports.

Every function takes the same filter: `start` (inclusive) and `end` (exclusive) as aware datetimes, optional
`kinds` (`KINDS`) and a `search` text. Sums are integer cents in SQL and `Decimal` here. Totals count money that
stayed (`status == "received"`); reversed and voided payments are listed with their status and summed apart.
Days and hours are Nairobi's (`BUSINESS_TIMEZONE`), not UTC's."""
from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pandas as pd
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Engine,
    Integer,
    Table,
    case,
    cast,
    func,
    literal_column,
    select,
)

from ..money import from_cents
from ..db.tables import Transaction
from ..spreadsheet import spreadsheet_text
from .filters import BUSINESS_TIMEZONE, KINDS, MoneyInFilter, conditions, day_range

__all__ = [
    "BUSINESS_TIMEZONE",
    "DAILY_COLUMNS",
    "HOURLY_COLUMNS",
    "KINDS",
    "RECEIVED_COLUMNS",
    "TOP_PAYER_COLUMNS",
    "Summary",
    "daily_totals",
    "day_range",
    "export_csv",
    "hourly_pattern",
    "received",
    "summary",
    "top_payers",
]

RECEIVED_COLUMNS = (
    "occurred_at", "reference", "kind", "status", "amount", "currency", "sender", "sender_phone", "till_number",
)
DAILY_COLUMNS = ("date", "kind", "amount", "count")
HOURLY_COLUMNS = ("hour", "amount", "count")
TOP_PAYER_COLUMNS = ("payer", "sender_phone", "amount", "count", "last_paid_at")

_T: Table = Transaction.__table__  # type: ignore[attr-defined]
_RECEIVED = "received"
_UNDONE = ("reversed", "voided")
_CENT = Decimal("0.01")
# One payer: a real phone, else the hashed one K2 gives, else the paying business (m2m merchant, b2b till).
_PAYER = func.coalesce(_T.c.sender_phone, _T.c.sender_phone_hash, _T.c.sender_merchant, _T.c.sender_till)


@dataclass(frozen=True, slots=True)
class Summary:
    """Headline figures for a filter; `total`, `count`, `average` and `payers` leave reversed/voided money out."""

    total: Decimal
    count: int
    average: Decimal  # total / count to the cent (half up); 0.00 when nothing came in
    payers: int
    reversed_total: Decimal
    reversed_count: int


def received(
    engine: Engine, *, start: datetime, end: datetime, kinds: Sequence[str] | None = None, search: str | None = None
) -> pd.DataFrame:
    """Every payment in the filter, newest first, reversed and voided ones too (see `status`).

    Columns `RECEIVED_COLUMNS`: `occurred_at` aware UTC, `amount` `Decimal`, `sender` the payer's name (or the
    paying merchant, or `Till <number>` for b2b), `sender_phone` E.164 or None."""
    query = (
        select(
            _T.c.occurred_at, _T.c.reference, _T.c.kind, _T.c.status, _T.c.amount_cents, _T.c.currency,
            _T.c.sender_first_name, _T.c.sender_middle_name, _T.c.sender_last_name, _T.c.sender_merchant,
            _T.c.sender_till, _T.c.sender_phone, _T.c.till_number,
        )
        .where(*_filter(start, end, kinds, search))
        .order_by(_T.c.occurred_at.desc(), _T.c.reference)
    )
    with engine.connect() as connection:
        found = connection.execute(query).all()
    frame = pd.DataFrame(
        [
            (row.occurred_at, row.reference, row.kind, row.status, from_cents(row.amount_cents), row.currency,
             _display_name(row.sender_first_name, row.sender_middle_name, row.sender_last_name,
                           row.sender_merchant, row.sender_till),
             row.sender_phone, row.till_number)
            for row in found
        ],
        columns=list(RECEIVED_COLUMNS),
    )
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True)
    return frame


def summary(
    engine: Engine, *, start: datetime, end: datetime, kinds: Sequence[str] | None = None, search: str | None = None
) -> Summary:
    """Total received, payments, average, distinct payers, and what was reversed or voided: one query."""
    kept = _T.c.status == _RECEIVED
    undone = _T.c.status.in_(_UNDONE)
    query = select(
        func.sum(case((kept, _T.c.amount_cents))),
        func.count(case((kept, 1))),
        func.count(case((kept, _PAYER)).distinct()),
        func.sum(case((undone, _T.c.amount_cents))),
        func.count(case((undone, 1))),
    ).where(*_filter(start, end, kinds, search))
    with engine.connect() as connection:
        total, count, payers, undone_total, undone_count = connection.execute(query).one()
    total_money = from_cents(int(total or 0))
    average = (total_money / count).quantize(_CENT, ROUND_HALF_UP) if count else from_cents(0)
    return Summary(total_money, int(count), average, int(payers), from_cents(int(undone_total or 0)),
                   int(undone_count))


def daily_totals(
    engine: Engine, *, start: datetime, end: datetime, kinds: Sequence[str] | None = None, search: str | None = None
) -> pd.DataFrame:
    """Money received per Nairobi day and kind, every day of the range and every kind present (zeros included).

    Columns `DAILY_COLUMNS`: `date` a `datetime.date`, `amount` `Decimal`, `count` int."""
    found = _hourly_buckets(engine, start, end, kinds, search)
    days: dict[tuple[date, str], list[int]] = {}
    for moment, kind, cents, count in found:
        slot = days.setdefault((moment.date(), kind), [0, 0])
        slot[0] += cents
        slot[1] += count
    shown = list(kinds) if kinds else list(KINDS)
    shown += sorted({kind for _, kind in days} - set(shown))
    first = start.astimezone(BUSINESS_TIMEZONE).date()
    last = (end - timedelta(microseconds=1)).astimezone(BUSINESS_TIMEZONE).date()
    rows = []
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        for kind in shown:
            cents, count = days.get((day, kind), (0, 0))
            rows.append((day, kind, from_cents(cents), count))
    return pd.DataFrame(rows, columns=list(DAILY_COLUMNS))


def hourly_pattern(
    engine: Engine, *, start: datetime, end: datetime, kinds: Sequence[str] | None = None, search: str | None = None
) -> pd.DataFrame:
    """When customers pay: money received per Nairobi hour of day over the range, hours 0 to 23 all present.

    Columns `HOURLY_COLUMNS`: `hour` int, `amount` `Decimal`, `count` int."""
    hours = [[0, 0] for _ in range(24)]
    for moment, _kind, cents, count in _hourly_buckets(engine, start, end, kinds, search):
        hours[moment.hour][0] += cents
        hours[moment.hour][1] += count
    return pd.DataFrame(
        [(hour, from_cents(cents), count) for hour, (cents, count) in enumerate(hours)], columns=list(HOURLY_COLUMNS)
    )


def top_payers(
    engine: Engine,
    *,
    start: datetime,
    end: datetime,
    kinds: Sequence[str] | None = None,
    search: str | None = None,
    limit: int = 10,
) -> pd.DataFrame:
    """Who paid most (reversed and voided money left out), largest total first.

    Columns `TOP_PAYER_COLUMNS`: `payer` a name as in `received`, `amount` `Decimal`, `last_paid_at` aware UTC.
    A payer is a phone number, else K2's hashed phone, else the paying merchant or till."""
    total = func.sum(_T.c.amount_cents)
    count = func.count()
    query = (
        select(
            _PAYER.label("payer_key"),
            func.max(_T.c.sender_first_name), func.max(_T.c.sender_middle_name), func.max(_T.c.sender_last_name),
            func.max(_T.c.sender_merchant), func.max(_T.c.sender_till), func.max(_T.c.sender_phone),
            total, count, func.max(_T.c.occurred_at),
        )
        .where(*_filter(start, end, kinds, search), _T.c.status == _RECEIVED, _PAYER.is_not(None))
        .group_by(_PAYER)
        .order_by(total.desc(), count.desc(), _PAYER)
        .limit(limit)
    )
    with engine.connect() as connection:
        found = connection.execute(query).all()
    frame = pd.DataFrame(
        [
            (_display_name(first, middle, last, merchant, till), phone, from_cents(int(cents)), int(n), latest)
            for _key, first, middle, last, merchant, till, phone, cents, n, latest in found
        ],
        columns=list(TOP_PAYER_COLUMNS),
    )
    frame["last_paid_at"] = pd.to_datetime(frame["last_paid_at"], utc=True)
    return frame


def export_csv(frame: pd.DataFrame) -> bytes:
    """`received`'s rows as a CSV file for a spreadsheet: UTF-8 with a BOM, CRLF lines, a header of column names.

    The BOM is what makes Excel (on Windows, what most accountants use) read the file as UTF-8 rather than the
    local code page, so a payer's accented name survives a double-click; LibreOffice, Google Sheets and
    `pandas.read_csv(encoding="utf-8-sig")` read it too. Times are Nairobi's with their offset
    (`2026-11-20 10:43:19+03:00`), amounts exact with two places (`1250.50`), and every text cell (all of them
    come from K2's bodies, currency and kind included) that a spreadsheet would run as a formula is prefixed
    with `'`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(RECEIVED_COLUMNS)
    moments = frame["occurred_at"].dt.tz_convert(BUSINESS_TIMEZONE)
    for moment, row in zip(moments, frame.itertuples(index=False), strict=True):
        writer.writerow(
            [
                moment.isoformat(" ", "seconds"), spreadsheet_text(row.reference), spreadsheet_text(row.kind), spreadsheet_text(row.status),
                f"{Decimal(row.amount).quantize(_CENT):f}", spreadsheet_text(row.currency), spreadsheet_text(row.sender),
                spreadsheet_text(row.sender_phone), spreadsheet_text(row.till_number),
            ]
        )
    return out.getvalue().encode("utf-8-sig")


def _display_name(
    first: str | None, middle: str | None, last: str | None, merchant: str | None, till: str | None
) -> str | None:
    name = " ".join(part.strip() for part in (first, middle, last) if part and part.strip())
    return name or merchant or (f"Till {till}" if till else None)


def _filter(
    start: datetime, end: datetime, kinds: Sequence[str] | None, search: str | None
) -> list[ColumnElement[bool]]:
    return conditions(MoneyInFilter(start, end, kinds=tuple(kinds or ()), search=search or ""))


def _hourly_buckets(
    engine: Engine, start: datetime, end: datetime, kinds: Sequence[str] | None, search: str | None
) -> list[tuple[datetime, str, int, int]]:
    """(Nairobi start of hour, kind, cents, count) for received money, summed in SQL per UTC hour and kind.

    An hour is the same span in every zone with a whole-hour offset (Nairobi's is +03:00), so per-hour sums
    regroup exactly into Nairobi days and hours here; a 30-day range is at most 720 rows per kind."""
    column = _T.c.occurred_at
    if engine.dialect.name == "sqlite":  # naive UTC text; strftime('%s') reads it as UTC seconds
        hour: Any = cast(func.strftime(literal_column("'%s'"), column), Integer) // literal_column("3600", Integer)
    else:  # literals, not parameters: PostgreSQL matches GROUP BY to the select list by text
        hour = cast(func.floor(func.extract("epoch", column) / literal_column("3600", Integer)), BigInteger)
    query = (
        select(hour, _T.c.kind, func.sum(_T.c.amount_cents), func.count())
        .where(*_filter(start, end, kinds, search), _T.c.status == _RECEIVED)
        .group_by(hour, _T.c.kind)
    )
    with engine.connect() as connection:
        found = connection.execute(query).all()
    return [
        (datetime.fromtimestamp(int(bucket) * 3600, UTC).astimezone(BUSINESS_TIMEZONE), kind, int(cents),
         int(count))
        for bucket, kind, cents, count in found
    ]
