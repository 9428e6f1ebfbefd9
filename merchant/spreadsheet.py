"""The one guard for every file a spreadsheet opens: text that could run as a formula is kept as text."""
from __future__ import annotations

import io
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import xlsxwriter

__all__ = ["spreadsheet_text", "xlsx_bytes"]

_FORMULA_STARTS = "=+-@\t\r\n\uff1d\uff0b\uff0d\uff20"  # and their full-width forms, which some spreadsheets fold
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


def spreadsheet_text(text: str | None) -> str:
    """Text a spreadsheet shows as text, never runs (CSV formula injection): one that starts (after any spaces)
    like a formula gets a leading `'`, unless it is a plain number such as an E.164 phone (`+254712345678`)."""
    if not text:
        return ""
    start = text.lstrip(" ")[:1]
    if start and start in _FORMULA_STARTS and not _PLAIN_NUMBER.fullmatch(text):
        return f"'{text}"
    return text


def xlsx_bytes(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, sheet: str = "Sheet1") -> bytes:
    """A one-sheet Excel workbook: a bold header, text always as text (never a formula, whatever it starts with),
    amounts (`Decimal`) as numbers with thousands separators, so the sum of a column is the total."""
    out = io.BytesIO()
    with xlsxwriter.Workbook(out, {"in_memory": True}) as workbook:
        worksheet = workbook.add_worksheet(sheet[:31])
        bold = workbook.add_format({"bold": True})
        money = workbook.add_format({"num_format": "#,##0.00"})
        for column, name in enumerate(columns):
            worksheet.write_string(0, column, name, bold)
        for number, row in enumerate(rows, start=1):
            for column, cell in enumerate(row):
                if isinstance(cell, Decimal):
                    worksheet.write_number(number, column, float(cell), money)
                elif isinstance(cell, (int, float)) and not isinstance(cell, bool):
                    worksheet.write_number(number, column, cell)
                elif cell not in (None, ""):
                    worksheet.write_string(number, column, str(cell))
    return out.getvalue()
