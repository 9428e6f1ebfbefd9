"""Transactions: one page of payments for a filter, read on the server; one payment in full; streamed exports.

The filter's totals come first (how many rows, what stayed, what was reversed: from the rollups unless there is a
search); the page is then `LIMIT`/`OFFSET` over `occurred_at DESC, id DESC`, read by walking the range newest first
when the filter holds many payments, so neither Python nor the browser ever holds more than a page. A search typed
as a whole M-Pesa reference (or K2 id) is looked up in the unique `reference` index first; only when no payment has
it does it become a search by words over the range. Exports read the filter through a streaming cursor and yield
the file in chunks: memory stays flat at a million rows.

An export's "Amount" column is money that stayed; a reversed or voided payment keeps its row, with its amount
under "Reversed" and nothing under "Amount". Summing "Amount" gives the page's total received."""
from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import xlsxwriter
from sqlalchemy import ColumnElement, Connection, Engine, Row, Table, case, func, select

from ..access import User, exported
from ..db.tables import Transaction, TransactionReversal, WebhookEvent
from ..money import from_cents
from ..spreadsheet import spreadsheet_text
from ._payer import payer_name
from .filters import BUSINESS_TIMEZONE, MoneyInFilter, conditions, indexed_count, reference_searched
from .overview import status_sums

__all__ = [
    "EXPORT_COLUMNS",
    "PAGE_SIZE",
    "Payment",
    "PaymentDetail",
    "Reversal",
    "Totals",
    "TransactionsPage",
    "Wording",
    "export",
    "payer_name",
    "payment_detail",
    "totals",
    "transactions",
]

PAGE_SIZE = 50
EXPORT_COLUMNS = (
    "Time (Nairobi)", "Reference", "Kind", "Status", "Amount", "Reversed", "Currency", "Payer", "Phone", "Till",
)
ExportFormat = Literal["csv", "xlsx"]

_T: Table = Transaction.__table__  # type: ignore[attr-defined]
_REVERSALS: Table = TransactionReversal.__table__  # type: ignore[attr-defined]
_EVENTS: Table = WebhookEvent.__table__  # type: ignore[attr-defined]
_RECEIVED = "received"
_CHUNK_ROWS = 2_000  # rows fetched and written per chunk: a few hundred kilobytes of CSV
_XLSX_SHEET_ROWS = 1_000_000  # Excel's sheet holds 1,048,576 rows; a longer export goes on to a second sheet
_READ_BACK = 1 << 20
_ROW_COLUMNS = (
    _T.c.id, _T.c.occurred_at, _T.c.reference, _T.c.kind, _T.c.status, _T.c.amount_cents, _T.c.currency,
    _T.c.sender_first_name, _T.c.sender_middle_name, _T.c.sender_last_name, _T.c.sender_merchant,
    _T.c.sender_till, _T.c.sender_phone, _T.c.till_number, _T.c.resource_id,
)
_UUID = re.compile(r"[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}", re.IGNORECASE)
_NEWEST_FIRST = (_T.c.occurred_at.desc(), _T.c.id.desc())
_WALKED_FROM = 5_000  # payments in a filter from which its page walks the range (see `conditions`)
_RANGE_FIRST_UP_TO = timedelta(days=120)  # the longest range whose search totals may walk it (see `_range_first`)


@dataclass(frozen=True, slots=True)
class Payment:
    """One payment as a table row: `occurred_at` aware UTC, `payer` a name (see `payer_name`), phone E.164;
    `reference` is the stored key, K2's resource id (`k2_id`) where M-Pesa gave none (see `mpesa_reference`)."""

    id: int
    occurred_at: datetime
    reference: str
    kind: str
    status: str
    amount: Decimal
    currency: str
    payer: str | None
    sender_phone: str | None
    till_number: str | None
    k2_id: str | None = None

    @property
    def mpesa_reference(self) -> str | None:
        """The M-Pesa reference a customer and an accountant know; None for an m2m payment, whose key is K2's id."""
        return None if self.reference == self.k2_id or _UUID.fullmatch(self.reference) else self.reference


@dataclass(frozen=True, slots=True)
class Totals:
    """What a filter holds: `count` rows of every status; `received` is money that stayed, `reversed` is
    reversed or voided money, summed apart."""

    count: int
    received: Decimal
    received_count: int
    reversed: Decimal
    reversed_count: int


@dataclass(frozen=True, slots=True)
class TransactionsPage:
    """Rows `offset + 1` to `offset + len(rows)` of `totals.count`, newest first."""

    rows: tuple[Payment, ...]
    offset: int
    totals: Totals


@dataclass(frozen=True, slots=True)
class Reversal:
    """A reversal or void of a payment, with the body K2 sent for it (pretty JSON; None if not kept)."""

    status: str
    reversed_at: datetime
    event_id: str
    raw_body: str | None


@dataclass(frozen=True, slots=True)
class PaymentDetail:
    """Everything stored for one payment: the row's fields by column name, the webhook body that recorded it
    (pretty JSON; None when that event is not kept, e.g. a row written by an import) and its reversal."""

    payment: Payment
    stored: dict[str, Any]
    raw_body: str | None
    reversal: Reversal | None


@dataclass(frozen=True, slots=True)
class Wording:
    """How an export writes codes and phones: the display layer passes its words (identity by default)."""

    kind: Callable[[str], str] = str
    status: Callable[[str], str] = str
    phone: Callable[[str | None], str] = lambda e164: e164 or ""


def totals(engine: Engine, filter: MoneyInFilter) -> Totals:  # noqa: A002 - the shared filter's name
    """How many payments the filter holds, what stayed and what was reversed."""
    with engine.connect() as connection:
        return _totals(connection, filter)


def _totals(connection: Connection, filter: MoneyInFilter) -> Totals:  # noqa: A002
    """Without a search, from the rollups (kind, status and till are keys there, so a range costs its days and its
    ragged edges' payments, as on the Overview); with one, one aggregate over the payments found (the rollups
    cannot count a search: a name one payment in eight carries is 125,000 of a million, read by id)."""
    if filter.search or "" in filter.tills:  # the rollups keep "no till" as "", where payments hold NULL
        return _counted(connection, filter, walked=_range_first(connection, filter))
    sums = status_sums(connection, filter)
    kept = sums[sums["status"] == _RECEIVED]
    undone = sums[sums["status"] != _RECEIVED]
    return Totals(int(sums["payments"].sum()), from_cents(int(kept["cents"].sum())), int(kept["payments"].sum()),
                  from_cents(int(undone["cents"].sum())), int(undone["payments"].sum()))


def _range_first(connection: Connection, filter: MoneyInFilter) -> bool:  # noqa: A002
    """Whether a search's totals on SQLite should walk the range, reading amounts and statuses from the index on
    `occurred_at` (it holds them) and testing each payment against the search index's list, rather than read each
    payment on that list by id: so when the range holds at most twice as many payments as the index finds over all
    time. A common name over the last 30 days of a million payments: 115 -> 41 ms. Ranges longer than a few
    months are not weighed (walking them seldom pays, and weighing costs two counts). PostgreSQL's planner weighs
    this itself, from its statistics."""
    short = filter.end - filter.start <= _RANGE_FIRST_UP_TO
    counted = indexed_count(filter.search) if short and connection.dialect.name == "sqlite" else None
    if counted is None:
        return False
    found = connection.execute(counted).scalar_one()
    return _totals(connection, replace(filter, search="")).count <= 2 * found


def _counted(connection: Connection, filter: MoneyInFilter, *, walked: bool = False) -> Totals:  # noqa: A002
    """One aggregate over the filter's payments: how many, and what stayed and what was reversed, summed apart."""
    kept = _T.c.status == _RECEIVED
    summed = connection.execute(select(
        func.count().label("payments"),
        func.sum(case((kept, _T.c.amount_cents))).label("received_cents"),
        func.count(case((kept, 1))).label("received_count"),
        func.sum(case((~kept, _T.c.amount_cents))).label("reversed_cents"),
    ).where(*_where(connection, filter, walked=walked))).one()
    return Totals(summed.payments, from_cents(int(summed.received_cents or 0)), summed.received_count,
                  from_cents(int(summed.reversed_cents or 0)), summed.payments - summed.received_count)


def transactions(engine: Engine, filter: MoneyInFilter, *, offset: int = 0,  # noqa: A002
                 limit: int = PAGE_SIZE) -> TransactionsPage:
    """One page of the filter's payments, newest first, with the filter's totals."""
    if offset < 0 or limit < 1:
        raise ValueError(f"a page starts at row 1 or later and holds at least one row (offset {offset}, "
                         f"limit {limit})")
    with engine.connect() as connection:
        found = _totals(connection, filter)
        if offset >= found.count:  # past the end, or nothing to show: no page to read
            return TransactionsPage((), offset, found)
        # Many payments: walking the range newest first reaches a page's worth soon. Few: read just those.
        where = _where(connection, filter, walked=found.count >= _WALKED_FROM)
        query = select(*_ROW_COLUMNS).where(*where).order_by(*_NEWEST_FIRST).offset(offset).limit(limit)
        return TransactionsPage(tuple(_payment(row) for row in connection.execute(query)), offset, found)


def _where(connection: Connection, filter: MoneyInFilter, *,  # noqa: A002
           walked: bool = False) -> list[ColumnElement[bool]]:
    """The filter's WHERE (`walked`: see `conditions`); a search that reads as a whole reference held by some
    payment is that payment alone (one look-up in the unique index: a search by words would read every payment
    in the range)."""
    spellings = reference_searched(filter.search)
    if spellings:
        held = connection.execute(select(_T.c.reference).where(_T.c.reference.in_(spellings)).limit(1)).scalar()
        if held is not None:
            return [*conditions(replace(filter, search="")), _T.c.reference == held]
    return conditions(filter, walked=walked)


def payment_detail(engine: Engine, payment_id: int) -> PaymentDetail | None:
    """One payment in full, by its row id; None if there is no such row."""
    with engine.connect() as connection:
        row = connection.execute(select(_T).where(_T.c.id == payment_id)).one_or_none()
        if row is None:
            return None
        reversal = connection.execute(select(_REVERSALS).where(_REVERSALS.c.reference == row.reference)).one_or_none()
        wanted = [row.event_id] + ([reversal.event_id] if reversal else [])
        bodies = dict(connection.execute(select(_EVENTS.c.id, _EVENTS.c.payload).where(_EVENTS.c.id.in_(wanted))).all())
    stored = row._asdict()
    payment = _payment(row)
    return PaymentDetail(
        payment, stored, _pretty(bodies.get(row.event_id)),
        Reversal(reversal.status, reversal.reversed_at, reversal.event_id, _pretty(bodies.get(reversal.event_id)))
        if reversal else None,
    )


def export(engine: Engine, actor: User, filter: MoneyInFilter, *, format: ExportFormat,  # noqa: A002
           wording: Wording = Wording(), source: str | None = None) -> Iterator[bytes]:
    """The filter's payments as a CSV or Excel file, newest first, in chunks of bytes.

    Refused (`NotAllowed`) unless `actor` may export, and recorded on the audit trail before the first byte.
    CSV is UTF-8 with a BOM (so Excel on Windows reads names right) and CRLF lines; every text cell goes through
    `spreadsheet_text`, so nothing K2 sent can run as a formula."""
    exported(engine, actor, what=f"transactions ({format})", detail=_described(filter), source=source)
    rows = _export_rows(engine, filter, wording)
    return _csv(rows) if format == "csv" else _xlsx(rows)


def _payment(row: Row[Any]) -> Payment:
    return Payment(
        row.id, row.occurred_at, row.reference, row.kind, row.status, from_cents(row.amount_cents), row.currency,
        payer_name(row.sender_first_name, row.sender_middle_name, row.sender_last_name, row.sender_merchant,
                   row.sender_till),
        row.sender_phone, row.till_number, row.resource_id,
    )


def _pretty(payload: str | None) -> str | None:
    """A stored body as indented JSON; kept as it came when it is not JSON (it is evidence, never dropped)."""
    if payload is None:
        return None
    try:
        return json.dumps(json.loads(payload), indent=2, ensure_ascii=False)
    except ValueError:
        return payload


def _described(filter: MoneyInFilter) -> dict[str, str]:  # noqa: A002
    """The filter as the audit trail keeps it."""
    detail = {field.name: getattr(filter, field.name) for field in fields(filter)}
    return {name: (value.isoformat() if isinstance(value, datetime) else ", ".join(value)
                   if isinstance(value, tuple) else value)
            for name, value in detail.items() if value}


# One export row: Nairobi time (naive), then the text and money cells in EXPORT_COLUMNS order.
_ExportRow = tuple[datetime, str, str, str, Decimal | None, Decimal | None, str, str, str, str]


def _export_rows(engine: Engine, filter: MoneyInFilter, wording: Wording) -> Iterator[list[_ExportRow]]:  # noqa: A002
    """The filter's rows in chunks, read through a server-side cursor (PostgreSQL) or SQLite's lazy one."""
    with engine.connect() as connection:
        query = select(*_ROW_COLUMNS).where(*_where(connection, filter)).order_by(*_NEWEST_FIRST)
        result = connection.execution_options(stream_results=True, yield_per=_CHUNK_ROWS).execute(query)
        for chunk in result.partitions():
            yield [_export_row(_payment(row), wording) for row in chunk]


def _export_row(payment: Payment, wording: Wording) -> _ExportRow:
    kept = payment.status == _RECEIVED
    return (
        payment.occurred_at.astimezone(BUSINESS_TIMEZONE).replace(tzinfo=None),
        spreadsheet_text(payment.mpesa_reference), spreadsheet_text(wording.kind(payment.kind)),
        spreadsheet_text(wording.status(payment.status)),
        payment.amount if kept else None, None if kept else payment.amount, spreadsheet_text(payment.currency),
        spreadsheet_text(payment.payer), spreadsheet_text(wording.phone(payment.sender_phone)),
        spreadsheet_text(payment.till_number),
    )


def _csv(chunks: Iterator[list[_ExportRow]]) -> Iterator[bytes]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    yield out.getvalue().encode("utf-8-sig")
    for chunk in chunks:
        out.seek(0)
        out.truncate()
        writer.writerows(
            (f"{row[0]:%Y-%m-%d %H:%M:%S}", *row[1:4], _plain(row[4]), _plain(row[5]), *row[6:]) for row in chunk
        )
        yield out.getvalue().encode("utf-8")


def _plain(amount: Decimal | None) -> str:
    return "" if amount is None else f"{amount:f}"


def _xlsx(chunks: Iterator[list[_ExportRow]]) -> Iterator[bytes]:
    """XlsxWriter in constant-memory mode writes each row to a temporary file as it goes; the finished workbook
    is then read back in chunks and its file removed."""
    handle, path = tempfile.mkstemp(suffix=".xlsx")
    os.close(handle)
    try:
        workbook = xlsxwriter.Workbook(path, {"constant_memory": True, "strings_to_formulas": False,
                                              "strings_to_urls": False, "strings_to_numbers": False})
        header = workbook.add_format({"bold": True})
        when = workbook.add_format({"num_format": "dd/mm/yyyy hh:mm:ss"})
        money = workbook.add_format({"num_format": "#,##0.00"})
        sheet, line = None, _XLSX_SHEET_ROWS
        for chunk in chunks:
            for row in chunk:
                if line == _XLSX_SHEET_ROWS:
                    sheet = workbook.add_worksheet(f"Transactions {len(workbook.worksheets()) + 1}"
                                                   if workbook.worksheets() else "Transactions")
                    sheet.write_row(0, 0, EXPORT_COLUMNS, header)
                    sheet.set_column(0, 0, 19)
                    sheet.set_column(1, len(EXPORT_COLUMNS) - 1, 14)
                    line = 0
                line += 1
                assert sheet is not None
                sheet.write_datetime(line, 0, row[0], when)
                for column, cell in enumerate(row[1:], start=1):
                    if isinstance(cell, Decimal):
                        sheet.write_number(line, column, float(cell), money)
                    elif cell:  # blanks for nothing
                        sheet.write_string(line, column, cell)
        if sheet is None:
            workbook.add_worksheet("Transactions").write_row(0, 0, EXPORT_COLUMNS, header)
        workbook.close()
        with open(path, "rb") as file:
            while block := file.read(_READ_BACK):
                yield block
    finally:
        os.remove(path)
