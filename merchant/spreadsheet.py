"""The one guard for every file a spreadsheet opens: text that could run as a formula is kept as text."""
from __future__ import annotations

import re

__all__ = ["spreadsheet_text"]

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
