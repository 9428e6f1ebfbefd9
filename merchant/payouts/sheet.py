"""Bulk payouts from a spreadsheet: read the file as spreadsheets really write it (CSV or .xlsx) and check every row
by the rules a single payment and a recipient have. Pure: no database, no K2.

`read_sheet` turns the upload into text records by header (what a data editor shows) or refuses the whole file
(`SheetRefused`); `check_sheet` checks every record and returns the payable rows beside every problem, each as
`row N, column C: what is wrong` with N the row number the spreadsheet app shows and C the header as written.

Decided here: a blank Type is an M-Pesa payment (in Kopo Kopo's bank layout, with no Type or Phone column, each row
pays a bank's paybill); a bank row with no Settlement method column or cell settles by EFT; a blank Description is a
problem, as it is for a single payment (no made-up default: the recipient's statement shows it); a Name with one
word is a problem for M-Pesa, which needs a first and a last name.

After a person fixes cells on the page, check `sheet.with_edits(records, numbers)`: it keeps the upload's `file_hash`
and says `edited=True`, and each record keeps its row number in the file (a new row gets the next one)."""
from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from functools import lru_cache
from itertools import islice
from pathlib import PurePath
from typing import Any

import openpyxl
import pandas as pd
import xlsxwriter

from ..errors import InputError
from .branches import branch_reference
from .payments import checked_amount, checked_description, checked_reference
from .recipients import FIELD_LABELS, RecipientType, checked_details, checked_nickname, destination_key

__all__ = [
    "MAX_BYTES",
    "MAX_COLUMNS",
    "MAX_ROWS",
    "TEMPLATE_COLUMNS",
    "CheckedSheet",
    "Problem",
    "Sheet",
    "SheetRefused",
    "SheetRow",
    "TypeTotal",
    "check_sheet",
    "read_sheet",
    "template_csv",
    "template_xlsx",
]

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 10_000  # payment rows in one file (blank rows are not counted)
MAX_COLUMNS = 100  # cells further right are not read
_MAX_UNPACKED = 50 * 1024 * 1024  # what an .xlsx may hold unzipped: a zip bomb is refused before it is opened
_HEADER_SEARCH = 10  # rows a file may have above its header (a title, a date)
_DELIMITERS = (",", ";", "\t")

TEMPLATE_COLUMNS = ("Type", "Name", "Phone", "Bank branch", "Account number", "Till number", "Paybill number",
                    "Amount", "Description", "Reference")

# Our name for each column, as the template (or a message about a missing column) writes it.
_COLUMN = {"type": "Type", "name": "Name", "nickname": "Nickname", "phone": "Phone", "branch": "Bank branch",
           "account": "Account number", "till": "Till number", "paybill": "Paybill number", "amount": "Amount",
           "description": "Description", "reference": "Reference", "settlement": "Settlement method"}

# Headers people write, by their words (case, spaces and punctuation aside), including Kopo Kopo's own bank
# bulk-payment layout: Account Name, Account Number, Bank Paybill Number, Amount, Nickname, Reason.
_HEADERS: dict[str, tuple[str, ...]] = {
    "type": ("type", "payment type", "recipient type", "pay to", "channel"),
    "name": ("name", "full name", "recipient", "recipient name", "payee", "payee name", "beneficiary",
             "beneficiary name", "employee name", "supplier name", "business name", "account name", "till name",
             "paybill name"),
    "nickname": ("nickname", "nick name"),
    "phone": ("phone", "phone number", "phone no", "mobile", "mobile number", "mobile no", "msisdn",
              "m pesa number", "mpesa number", "m pesa phone", "mpesa phone", "telephone"),
    "branch": ("bank branch", "branch", "bank branch reference", "bank branch ref", "branch reference"),
    "account": ("account number", "account no", "account", "acc no", "a c no", "a c number", "bank account",
                "bank account number", "paybill account", "paybill account number"),
    "till": ("till number", "till", "till no", "buy goods till", "buy goods number", "buygoods till"),
    "paybill": ("paybill number", "paybill", "paybill no", "pay bill", "pay bill number", "business number",
                "bank paybill number", "bank paybill"),
    "amount": ("amount", "amount kes", "amount ksh", "amount kshs", "kes", "ksh", "amount to pay", "net pay"),
    "description": ("description", "reason", "narration", "narrative", "purpose", "details", "payment details",
                    "payment description"),
    "reference": ("reference", "ref", "your reference", "our reference", "payment reference", "invoice",
                  "invoice number", "invoice no"),
    "settlement": ("settlement method", "settlement", "eft or rts"),
}
_FIELD_OF_HEADER = {words: name for name, headers in _HEADERS.items() for words in headers}

_TYPES: dict[str, RecipientType] = {
    **dict.fromkeys(("m pesa", "mpesa", "mobile", "mobile wallet", "mobile money", "wallet", "phone", "safaricom"),
                    RecipientType.MOBILE_WALLET),
    **dict.fromkeys(("bank", "bank account", "bank transfer"), RecipientType.BANK_ACCOUNT),
    **dict.fromkeys(("till", "till number", "buy goods", "buygoods", "buy goods till"), RecipientType.TILL),
    **dict.fromkeys(("paybill", "pay bill", "paybill number"), RecipientType.PAYBILL),
}
_TYPE_WORDS = {RecipientType.MOBILE_WALLET: "M-Pesa", RecipientType.BANK_ACCOUNT: "bank",
               RecipientType.TILL: "till", RecipientType.PAYBILL: "paybill"}

# The columns a payment of each type needs, beside Name and Amount; and the K2 field each column becomes.
_NEEDS = {RecipientType.MOBILE_WALLET: ("phone",), RecipientType.BANK_ACCOUNT: ("branch", "account"),
          RecipientType.TILL: ("till",), RecipientType.PAYBILL: ("paybill", "account")}
_COLUMN_OF_FIELD = {"first_name": "name", "last_name": "name", "phone_number": "phone", "account_name": "name",
                    "account_number": "account", "bank_branch_ref": "branch", "settlement_method": "settlement",
                    "till_name": "name", "till_number": "till", "paybill_name": "name", "paybill_number": "paybill",
                    "paybill_account_number": "account", "amount": "amount", "description": "description",
                    "reference": "reference", "nickname": "nickname"}
_WHERE = {"mobile_wallet": ("phone", "phone"), "bank_account": ("account", "bank account"),
          "till": ("till", "till"), "paybill": ("account", "paybill and account")}  # duplicate warnings
_ENTER = {"name": "enter who is paid (a person's first and last name, or the business's name)",
          "phone": "enter the M-Pesa phone number, e.g. 0712 345 678",
          "branch": "enter the bank branch: its name as the owner listed it in Settings, or its K2 reference",
          "account": "enter the account number", "till": "enter the till number",
          "paybill": "enter the paybill number"}
_EXAMPLE_BRANCH = "3f2b8c1e-0a4d-4c5e-9b7a-1d2e3f4a5b6c"


class SheetRefused(InputError):
    """The whole file cannot be used (too large, not CSV or .xlsx, no header, a column missing); the message says
    what and how to fix it."""

    def __init__(self, message: str) -> None:
        super().__init__("file", message)


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong (or, as a warning, worth a second look) in one cell."""

    row: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column}: {self.message}"


@dataclass(frozen=True, slots=True)
class SheetRow:
    """A payable row: the recipient as K2 takes it (`details` named as `RECIPIENT_FIELDS` names them) and the
    payment."""

    number: int
    type: RecipientType
    nickname: str
    details: dict[str, str]
    destination_key: str
    amount: Decimal
    description: str
    reference: str | None


@dataclass(frozen=True, slots=True)
class Sheet:
    """A file as text: `records` by header as written, `numbers` their row numbers in the file (header = 1 when it
    is the first row), `file_hash` the sha256 of the bytes uploaded; `edited` once a person changed cells."""

    columns: tuple[str, ...]
    records: list[dict[str, str]]
    numbers: list[int]
    file_hash: str
    edited: bool = False

    def with_edits(self, records: Sequence[Mapping[str, Any]], numbers: Sequence[int | None]) -> Sheet:
        """These records after a person changed them: `numbers` are their row numbers in the file, None for a row
        added on the page (numbered after the last). Keeps the upload's `file_hash`."""
        next_number = max((n for n in (*self.numbers, *numbers) if n is not None), default=1)
        assigned: list[int] = []
        for number in numbers:
            if number is None:
                next_number += 1
                number = next_number
            assigned.append(number)
        return Sheet(self.columns, [{column: _text(record.get(column)) for column in self.columns}
                                    for record in records], assigned, self.file_hash, edited=True)


@dataclass(frozen=True, slots=True)
class TypeTotal:
    """How many rows of one type, and their sum."""

    count: int
    total: Decimal


@dataclass(frozen=True, slots=True)
class CheckedSheet:
    """Every payable row, and every problem (a row with one is not in `rows`); `warnings` (such as the same amount
    to the same destination twice) do not stop a row."""

    sheet: Sheet
    rows: list[SheetRow]
    problems: list[Problem]
    warnings: list[Problem]

    @property
    def count(self) -> int:
        return len(self.rows)

    @property
    def total(self) -> Decimal:
        return sum((row.amount for row in self.rows), Decimal(0))

    def by_type(self) -> dict[RecipientType, TypeTotal]:
        """Count and sum of the payable rows, per type, in `RecipientType` order (types with no row left out)."""
        totals: dict[RecipientType, TypeTotal] = {}
        for kind in RecipientType:
            amounts = [row.amount for row in self.rows if row.type is kind]
            if amounts:
                totals[kind] = TypeTotal(len(amounts), sum(amounts, Decimal(0)))
        return totals


# ---------------------------------------------------------------------------------------------- reading


def read_sheet(data: bytes, filename: str) -> Sheet:
    """The file's records as text by header; `SheetRefused` when the file as a whole cannot be used."""
    name = PurePath(filename).name or "The file"
    if len(data) > MAX_BYTES:
        raise SheetRefused(f"{name} is {len(data) / 1_048_576:.1f} MB; a payout file can be at most "
                           f"{MAX_BYTES // 1_048_576} MB. Split it into smaller files.")
    if not data.strip():
        raise SheetRefused(f"{name} is empty: fill in the template, one payment a row.")
    suffix = PurePath(filename).suffix.lower()
    if data.startswith(b"PK\x03\x04"):
        tables = _workbook(data, name)
    elif data.startswith(b"\xd0\xcf\x11\xe0"):
        raise SheetRefused(f"{name} is an old Excel file (.xls): in Excel choose Save As, then Excel Workbook "
                           "(.xlsx) or CSV, and upload that.")
    elif suffix in (".xlsx", ".xlsm"):
        raise SheetRefused(f"{name} is not a real Excel file: open it in Excel and save it again as .xlsx or CSV.")
    elif suffix not in ("", ".csv", ".txt", ".tsv"):
        raise SheetRefused(f"{name} is not a spreadsheet: upload a CSV or an Excel (.xlsx) file.")
    else:
        tables = _delimited(_decoded(data, name), name)
    for rows in tables:
        sheet = _sheet(rows, hashlib.sha256(data).hexdigest(), name)
        if sheet is not None:
            return sheet
    raise SheetRefused(f"{name} has no header row: one of its first rows should name the columns, with one "
                       "called Amount. Download the template to see them all.")


def _decoded(data: bytes, name: str) -> str:
    """Text as spreadsheets save it: UTF-8 (with or without a BOM), UTF-16 ("Unicode text"), or Windows' own."""
    try:
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return data.decode("utf-16")
        if b"\x00" not in data:
            try:
                return data.decode("utf-8-sig")
            except UnicodeDecodeError:
                return data.decode("cp1252")
    except UnicodeDecodeError:
        pass
    raise SheetRefused(f"{name} is not a CSV file a spreadsheet saved: save it as CSV UTF-8 or Excel (.xlsx).")


def _delimited(text: str, name: str) -> Iterator[Iterator[list[str]]]:
    """The rows of a CSV, split by whichever of `,` `;` and tab makes the header name the most known columns."""
    def rows(delimiter: str) -> Iterator[list[str]]:
        try:
            yield from csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        except csv.Error as err:
            raise SheetRefused(f"{name} could not be read as CSV ({err}): save it again from the spreadsheet as "
                               "CSV, or as Excel (.xlsx).") from None

    def known(delimiter: str) -> int:
        head = list(islice(rows(delimiter), _HEADER_SEARCH))
        return max((len(_fields(row)) for row in head), default=0)

    yield rows(max(_DELIMITERS, key=known))


def _workbook(data: bytes, name: str) -> Iterator[Iterator[list[str]]]:
    """The rows of each worksheet, values as text (a file has its header on the first sheet that has one)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if "xl/workbook.xml" not in archive.namelist():
                raise SheetRefused(f"{name} is not an Excel workbook: save it as Excel (.xlsx) or CSV.")
            if sum(info.file_size for info in archive.infolist()) > _MAX_UNPACKED:
                raise SheetRefused(f"{name} holds too much to read: keep only the payments sheet, or split it.")
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        worksheets = book.worksheets
    except SheetRefused:
        raise
    except Exception:  # openpyxl raises many kinds on a broken file; every one means the same to the person
        raise _unreadable(name) from None
    return (_worksheet_rows(worksheet, name) for worksheet in worksheets)


def _worksheet_rows(worksheet: Any, name: str) -> Iterator[list[str]]:
    try:
        worksheet.reset_dimensions()  # a stated size is not trusted: rows are read as far as they really go
        for row in worksheet.iter_rows(max_col=MAX_COLUMNS, values_only=True):
            yield [_text(value) for value in row]
    except Exception:
        raise _unreadable(name) from None


def _unreadable(name: str) -> SheetRefused:
    return SheetRefused(f"{name} could not be opened as an Excel workbook: open it in Excel and save it again as "
                        ".xlsx or CSV.")


def _text(value: Any) -> str:
    """A cell as the person reads it: Excel's 254712345678.0 is 254712345678, 1500.5 stays 1500.5, and a formula's
    3.3000000000000003 is the 3.3 Excel shows (it keeps 15 significant digits)."""
    if isinstance(value, str):
        return value.strip()
    if value is None or pd.isna(value):  # a data editor's empty cell: None, NaN or pandas.NA
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else format(value, ".15g")
    if isinstance(value, (datetime, date, time)):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    return str(value).strip()


def _words(header: str) -> str:
    return " ".join(re.sub(r"[^0-9a-z]+", " ", header.casefold()).split())


def _fields(header: list[str]) -> dict[str, str]:
    """Our field for each known header in a row (header as written → field)."""
    return {cell: _FIELD_OF_HEADER[words] for cell in header if (words := _words(cell)) in _FIELD_OF_HEADER}


def _sheet(rows: Iterator[list[str]], file_hash: str, name: str) -> Sheet | None:
    """The records under the first row (of the first few) that names an Amount column; None when none does."""
    number = 0
    for number, row in enumerate(rows, start=1):
        if "amount" in _fields([cell.strip() for cell in row]).values():
            break
        if number >= _HEADER_SEARCH:
            return None
    else:
        return None
    headers = _headers(row)
    _Plan.of(tuple(header for _, header in headers), name)  # refuse a file missing a column before reading on
    records: list[dict[str, str]] = []
    numbers: list[int] = []
    for number, row in enumerate(rows, start=number + 1):
        record = {header: (row[index].strip() if index < len(row) else "") for index, header in headers}
        if not any(record.values()):
            continue  # blank rows (between payments, or trailing) are not payments
        if len(records) == MAX_ROWS:
            raise SheetRefused(f"{name} has more than {MAX_ROWS:,} payments; one file can have at most "
                               f"{MAX_ROWS:,}. Split it into smaller files.")
        records.append(record)
        numbers.append(number)
    return Sheet(tuple(header for _, header in headers), records, numbers, file_hash)


def _headers(row: list[str]) -> list[tuple[int, str]]:
    """Each named column's position and header (spaces trimmed); a header written twice gets "(2)", "(3)"."""
    headers: list[tuple[int, str]] = []
    seen: set[str] = set()
    for index, cell in enumerate(row):
        header = cell.strip()
        if not header:
            continue  # a column with no header is nobody's data
        unique, count = header, 1
        while unique in seen:
            count += 1
            unique = f"{header} ({count})"
        seen.add(unique)
        headers.append((index, unique))
    return headers


@dataclass(frozen=True, slots=True)
class _Plan:
    """Which header holds each field, and the type of a row whose Type is blank."""

    columns: dict[str, str]  # field → header as written
    default_type: RecipientType

    @classmethod
    def of(cls, headers: tuple[str, ...], name: str) -> _Plan:
        columns: dict[str, str] = {}
        for header, field_name in _fields(list(headers)).items():
            if field_name in columns:
                raise SheetRefused(f"{name} has two columns for the {_COLUMN[field_name].lower()}: "
                                   f"{columns[field_name]} and {header}. Keep one of them.")
            columns[field_name] = header
        for needed, what in (("amount", "how many shillings to pay"),
                             ("name", "who is paid: a person's first and last name, or a business's name"),
                             ("description", "what each payment is for, e.g. Salary November")):
            if needed not in columns:
                raise SheetRefused(f"{name} has no {_COLUMN[needed]} column ({what}). Add it, or start from the "
                                   "template.")
        if not {"phone", "account", "till", "paybill"} & columns.keys():
            raise SheetRefused(f"{name} has no Phone, Account number, Till number or Paybill number column, so no "
                               "payment has anywhere to go. Start from the template.")
        # Kopo Kopo's bank bulk layout has no Type and no Phone: each row pays a bank's paybill.
        paybills = "type" not in columns and "phone" not in columns and "paybill" in columns
        return cls(columns, RecipientType.PAYBILL if paybills else RecipientType.MOBILE_WALLET)

    def header(self, field_name: str) -> str:
        return self.columns.get(field_name, _COLUMN[field_name])


# ---------------------------------------------------------------------------------------------- checking


def check_sheet(sheet: Sheet, branches: Mapping[str, str] = {}) -> CheckedSheet:
    """Check every record; `branches` are the merchant's named bank branches (name → K2 reference), matched
    whatever the case. Duplicates (same destination, same amount) are warnings: two invoices can be real."""
    checker = _Checker.of(_Plan.of(sheet.columns, "The file"), branches)
    rows: list[SheetRow] = []
    problems: list[Problem] = []
    warnings: list[Problem] = []
    first: dict[tuple[str, Decimal], int] = {}
    for record, number in zip(sheet.records, sheet.numbers, strict=True):
        row = _Row(checker, record, number)
        checked = row.check()
        problems.extend(row.problems)
        if checked is None:
            continue
        rows.append(checked)
        seen = first.setdefault((checked.destination_key, checked.amount), number)
        if seen != number:
            column, what = _WHERE[checked.type.value]
            warnings.append(Problem(number, checker.plan.header(column), f"KES {checked.amount:,} to the same "
                                    f"{what} as row {seen}: keep both only if both payments are meant."))
    order = {header: index for index, header in enumerate(sheet.columns)}
    problems.sort(key=lambda problem: (problem.row, order.get(problem.column, len(order))))
    return CheckedSheet(sheet, rows, problems, warnings)


@lru_cache(maxsize=4 * MAX_ROWS)
def _recipient(kind: RecipientType, details: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...] | InputError:
    """K2's fields as `add_recipient` stores them (phone in E.164, network set), or what is wrong. Kept across
    checks: the page checks the whole file again after each fix, and K2's phone rule costs ~40 µs a number."""
    try:
        _, params = checked_details(kind.value, dict(details))
    except InputError as err:
        return err
    return tuple((name, str(value)) for name, value in params.wire().items() if name not in ("type", "nickname"))


@lru_cache(maxsize=4 * MAX_ROWS)
def _amount(text: str, kind: RecipientType) -> Decimal | InputError:
    try:
        return checked_amount(text, kind.value)
    except InputError as err:
        return err


@dataclass(frozen=True, slots=True)
class _Checker:
    """What every row of one check shares: the columns and the named branches (by folded name)."""

    plan: _Plan
    branches: dict[str, str]
    listed: str

    @classmethod
    def of(cls, plan: _Plan, branches: Mapping[str, str]) -> _Checker:
        return cls(plan, {" ".join(name.split()).casefold(): reference for name, reference in branches.items()},
                   ", ".join(sorted(branches)))


class _Row:
    """One record being checked: its cells by field, and every problem found."""

    __slots__ = ("checker", "plan", "record", "number", "problems")

    def __init__(self, checker: _Checker, record: Mapping[str, Any], number: int) -> None:
        self.checker = checker
        self.plan = checker.plan
        self.record = record
        self.number = number
        self.problems: list[Problem] = []

    def cell(self, field_name: str) -> str:
        header = self.plan.columns.get(field_name)
        if header is None:
            return ""
        value = self.record.get(header)
        return value.strip() if type(value) is str else _text(value)

    def wrong(self, field_name: str, message: str) -> None:
        self.problems.append(Problem(self.number, self.plan.header(field_name), message))

    def refused(self, err: InputError, field_name: str) -> None:
        label = FIELD_LABELS.get(err.field, err.field.capitalize())
        self.wrong(field_name, err.message.removeprefix(f"{label}: "))

    def check(self) -> SheetRow | None:
        kind = self.kind()
        # A row of an unknown type has its amount checked as loosely as any (a bank's): a number is still a number.
        amount = _amount(self.cell("amount"), kind or RecipientType.BANK_ACCOUNT)
        if isinstance(amount, InputError):
            self.refused(amount, "amount")
        description = reference = None
        try:
            description = checked_description(self.cell("description"))
        except InputError as err:
            self.refused(err, "description")
        try:
            reference = checked_reference(self.cell("reference"))
        except InputError as err:
            self.refused(err, "reference")
        recipient = None if kind is None else self.recipient(kind)
        if self.problems or kind is None or recipient is None or isinstance(amount, InputError) \
                or description is None:
            return None
        nickname, details = recipient
        return SheetRow(self.number, kind, nickname, details, destination_key(kind, details), amount, description,
                        reference)

    def kind(self) -> RecipientType | None:
        written = self.cell("type")
        if not written:
            return self.plan.default_type
        kind = _TYPES.get(_words(written))
        if kind is None:
            self.wrong("type", f"{written!r} is not a type of payment: write M-Pesa, bank, till or paybill "
                               "(blank means M-Pesa).")
        return kind

    def recipient(self, kind: RecipientType) -> tuple[str, dict[str, str]] | None:
        """The nickname and K2's fields of this row's recipient, or None with the problems noted."""
        before = len(self.problems)
        cells = {name: self.cell(name) for name in ("name", *_NEEDS[kind])}
        for name, text in cells.items():
            if text:
                continue
            if name in self.plan.columns:
                self.wrong(name, f"{_ENTER[name]}.")
            else:
                self.wrong(name, f"a {_TYPE_WORDS[kind]} payment needs it, and the file has no {_COLUMN[name]} "
                                 "column: add one.")
        if kind is RecipientType.BANK_ACCOUNT and cells["branch"]:
            cells["branch"] = self.branch(cells["branch"]) or ""
        first, *others = cells["name"].split() or [""]
        last = " ".join(others)
        if kind is RecipientType.MOBILE_WALLET and first and not last:
            self.wrong("name", "write the first and last name (M-Pesa needs both), e.g. Jane Wanjiru.")
        if len(self.problems) > before:
            return None
        if kind is RecipientType.MOBILE_WALLET:
            details = {"first_name": first, "last_name": last, "phone_number": cells["phone"]}
        elif kind is RecipientType.BANK_ACCOUNT:
            details = {"account_name": cells["name"], "account_number": cells["account"],
                       "bank_branch_ref": cells["branch"], "settlement_method": self.cell("settlement") or "EFT"}
        elif kind is RecipientType.TILL:
            details = {"till_name": cells["name"], "till_number": cells["till"]}
        else:
            details = {"paybill_name": cells["name"], "paybill_number": cells["paybill"],
                       "paybill_account_number": cells["account"]}
        checked = _recipient(kind, tuple(details.items()))
        if isinstance(checked, InputError):
            self.refused(checked, _COLUMN_OF_FIELD.get(checked.field, "name"))
            return None
        fields = dict(checked)
        nickname = self.cell("nickname")
        try:
            return checked_nickname(nickname, kind, fields), fields
        except InputError as err:
            self.refused(err, "nickname" if nickname else "name")
            return None

    def branch(self, written: str) -> str | None:
        """The K2 reference of a named branch (any case) or of a pasted reference; None with the problem noted."""
        reference = self.checker.branches.get(" ".join(written.split()).casefold())
        if reference is not None:
            return reference
        try:
            return branch_reference(written)
        except InputError:
            listed = self.checker.listed
            named = (f"the branches named in Settings are: {listed}" if listed
                     else "no branch is named in Settings yet: the owner adds them there")
            self.wrong("branch", f"{written!r} is not a named branch ({named}), nor a K2 branch reference.")
            return None


# ---------------------------------------------------------------------------------------------- the template


def _examples(branch: str | None) -> list[tuple[str, ...]]:
    """One row of each type, in `TEMPLATE_COLUMNS` order; each passes `check_sheet`."""
    return [
        ("M-Pesa", "Jane Wanjiru", "0712 345 678", "", "", "", "", "1,500", "Salary November", "EMP-014"),
        ("Bank", "Baraka Properties Ltd", "", branch or _EXAMPLE_BRANCH, "0100 2000 300", "", "", "45,000.50",
         "Rent December", "INV-2291"),
        ("Till", "Mama Mboga Stores", "", "", "", "555555", "", "2,300", "Vegetables for the canteen", ""),
        ("Paybill", "Kenya Power", "", "", "144203311", "", "888880", "3,200", "Electricity, meter 144203311",
         ""),
    ]


def template_csv(*, branch: str | None = None) -> bytes:
    """The CSV template: the header and one example row per type (the bank row at `branch`, a branch name the
    merchant listed, else an example K2 reference). UTF-8 with a BOM, so Excel reads names like Zoë right."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(TEMPLATE_COLUMNS)
    writer.writerows(_examples(branch))
    return out.getvalue().encode("utf-8-sig")


def template_xlsx(*, branch: str | None = None) -> bytes:
    """The Excel template: the same header and rows, amounts as numbers; every other column formatted as text, so
    a phone or account number typed later keeps its leading zero; Type picked from a list."""
    out = io.BytesIO()
    with xlsxwriter.Workbook(out, {"in_memory": True}) as book:
        sheet = book.add_worksheet("Payouts")
        text, money = book.add_format({"num_format": "@"}), book.add_format({"num_format": "#,##0.00"})
        bold = book.add_format({"bold": True})
        amount = TEMPLATE_COLUMNS.index("Amount")
        for column, header in enumerate(TEMPLATE_COLUMNS):
            sheet.set_column(column, column, max(14, len(header) + 4), money if column == amount else text)
            sheet.write_string(0, column, header, bold)
        for number, example in enumerate(_examples(branch), start=1):
            for column, value in enumerate(example):
                if column == amount:
                    sheet.write_number(number, column, float(value.replace(",", "")), money)
                elif value:
                    sheet.write_string(number, column, value, text)
        sheet.data_validation(1, 0, MAX_ROWS, 0, {"validate": "list", "source": ["M-Pesa", "Bank", "Till",
                                                                                 "Paybill"]})
        sheet.freeze_panes(1, 0)
    return out.getvalue()
