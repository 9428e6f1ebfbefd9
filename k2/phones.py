"""Phone numbers in E.164, the one form K2 takes and we store; one parser for every reader and writer.

`to_e164` reads what K2 reports (any possible number, None for a hash); `kenyan_mobile` is the stricter rule
for a number M-Pesa must reach (a valid Kenyan mobile); `written` writes one as Kenyans do."""
from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

__all__ = ["kenyan_mobile", "to_e164", "written"]

# What K2 sends for nearly every Kenyan payer, already in E.164; anything else goes through `phonenumbers`.
_KENYAN_MOBILE = re.compile(r"\+254[17]\d{8}")
_MOBILE_TYPES = frozenset({phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE})


def _parse(raw: str) -> phonenumbers.PhoneNumber | None:
    """`07…`, `01…`, `7…`, `2547…`, `+2547…`, with spaces or dashes, as a parsed number (Kenya by default)."""
    text = "".join(raw.split()).replace("-", "")
    if text.isdigit() and text.startswith("254"):
        text = f"+{text}"
    elif text.isdigit() and len(text) == 9 and text[0] in "17":
        text = f"0{text}"  # a spreadsheet dropped the leading zero
    try:
        return phonenumbers.parse(text, "KE")
    except phonenumbers.NumberParseException:
        return None


@lru_cache(maxsize=65536)
def to_e164(raw: str | None) -> str | None:
    """Any possible phone number as `+…`; None when it is not one (e.g. a hashed MSISDN)."""
    if not raw:
        return None
    if _KENYAN_MOBILE.fullmatch(raw):
        return raw
    number = _parse(raw)
    if number is None or not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def kenyan_mobile(raw: str) -> str | None:
    """A valid Kenyan mobile number (what M-Pesa reaches) as `+2547…`/`+2541…`; None for anything else."""
    number = _parse(raw)
    if (
        number is None
        or phonenumbers.region_code_for_number(number) != "KE"
        or not phonenumbers.is_valid_number(number)
        or phonenumbers.number_type(number) not in _MOBILE_TYPES
    ):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def written(e164: str | None) -> str:
    """`+254712345678` as Kenyans write it: `0712 345 678` (a masked `+254712***678` reads `0712 *** 678`); other
    countries' numbers as stored; blank for none."""
    if not e164:
        return ""
    if e164.startswith("+254") and len(e164) == 13:
        local = "0" + e164[4:]
        return f"{local[:4]} {local[4:7]} {local[7:]}"
    return e164
