"""Phone numbers in E.164, the one form they are stored in."""
from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

__all__ = ["to_e164"]

# What K2 sends for nearly every Kenyan payer, already in E.164; anything else goes through `phonenumbers`.
_KENYAN_MOBILE = re.compile(r"\+254[17]\d{8}")


@lru_cache(maxsize=65536)
def to_e164(raw: str | None, region: str = "KE") -> str | None:
    """`07…`, `01…`, `2547…` or `+2547…` as `+2547…`; None when it is not a phone number (e.g. a hashed MSISDN)."""
    if not raw:
        return None
    if _KENYAN_MOBILE.fullmatch(raw):
        return raw
    try:
        number = phonenumbers.parse(raw if not raw.isdigit() or raw.startswith("0") else f"+{raw}", region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
