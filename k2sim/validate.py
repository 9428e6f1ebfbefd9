"""Reading request bodies as K2 does: tolerant of the SDKs' variants, strict about what matters."""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, overload
from urllib.parse import parse_qsl, urlparse

from .errors import Invalid, Missing, SimError

__all__ = [
    "json_body",
    "form_or_json",
    "get",
    "text",
    "amount",
    "phone",
    "till",
    "url",
    "choice",
    "currency",
    "metadata",
    "timestamp",
    "flag",
    "count",
]

_PHONE = re.compile(r"^(?:\+?254|0)(\d{9})$")
_TILL = re.compile(r"^K?\d{5,7}$", re.IGNORECASE)
_MAX_METADATA = 5


def json_body(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object (400 otherwise); fractional numbers stay exact text, never floats."""
    try:
        data = json.loads(raw or b"null", parse_float=str)
    except ValueError:
        raise SimError("body: is not valid JSON", status=400) from None
    if not isinstance(data, dict):
        raise SimError("body: must be a JSON object", status=400)
    return data


def form_or_json(raw: bytes) -> dict[str, str]:
    """OAuth fields whatever the content type says (Node v1 posts JSON under a form header)."""
    stripped = raw.strip()
    if stripped.startswith(b"{"):
        data = json_body(stripped)
        return {key: str(value) for key, value in data.items() if value is not None}
    return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))


def get(data: Mapping[str, Any], path: str, *, required: bool = True) -> Any:
    """The value at a dotted path; a required one may not be missing, null or blank."""
    value: Any = data
    walked: list[str] = []
    for part in path.split("."):
        walked.append(part)
        if value is None:
            break
        if not isinstance(value, Mapping):
            raise Invalid(".".join(walked[:-1]), "must be an object")
        value = value.get(part)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise Missing(path)
        return None
    return value


@overload
def text(data: Mapping[str, Any], path: str) -> str: ...
@overload
def text(data: Mapping[str, Any], path: str, *, required: bool) -> str | None: ...
def text(data: Mapping[str, Any], path: str, *, required: bool = True) -> str | None:
    """A string field; numbers are accepted and turned into text."""
    value = get(data, path, required=required)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise Invalid(path, "must be a string")
    return str(value).strip()


def amount(data: Mapping[str, Any], path: str) -> Decimal:
    """A positive KES amount with at most two decimals, sent as a number or a string."""
    value = get(data, path)
    if isinstance(value, bool):
        raise Invalid(path, "must be a number")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise Invalid(path, "must be a number") from None
    if not number.is_finite() or number <= 0:
        raise Invalid(path, "must be greater than zero")
    if number != number.quantize(Decimal("0.01")):
        raise Invalid(path, "must have at most two decimal places")
    return number


def phone(data: Mapping[str, Any], path: str) -> str:
    """A Kenyan mobile number in any of +2547…, 2547…, 07…, 01…, returned as E.164."""
    raw = re.sub(r"[\s-]", "", text(data, path))
    match = _PHONE.match(raw)
    if match is None:
        raise Invalid(path, "must be a Kenyan phone number such as +254712345678 or 0712345678")
    return f"+254{match.group(1)}"


def till(data: Mapping[str, Any], path: str) -> str:
    """A till number, with or without the online-payments `K` prefix."""
    value = text(data, path)
    if not _TILL.match(value):
        raise Invalid(path, "must be a till number such as K000000")
    return value.upper()


def url(data: Mapping[str, Any], path: str) -> str:
    """An absolute http(s) URL K2 can call back."""
    value = text(data, path)
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise Invalid(path, "must be an absolute http(s) URL")
    return value


@overload
def choice(data: Mapping[str, Any], path: str, options: Mapping[str, str]) -> str: ...
@overload
def choice(data: Mapping[str, Any], path: str, options: Mapping[str, str], *, required: bool) -> str | None: ...
def choice(data: Mapping[str, Any], path: str, options: Mapping[str, str], *, required: bool = True) -> str | None:
    """One of `options` (matched case-insensitively), returned as its canonical value."""
    value = text(data, path, required=required)
    if value is None:
        return None
    canonical = options.get(value.lower())
    if canonical is None:
        raise Invalid(path, f"must be one of {', '.join(sorted(set(options.values())))}")
    return canonical


def currency(data: Mapping[str, Any], path: str) -> str:
    """The currency, which may be omitted; K2 supports only KES."""
    value = text(data, path, required=False) or "KES"
    if value.upper() != "KES":
        raise Invalid(path, "only KES is supported")
    return "KES"


def metadata(data: Mapping[str, Any], path: str = "metadata") -> dict[str, Any] | None:
    """Optional metadata: an object of at most five pairs, or null."""
    value = data.get(path)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise Invalid(path, "must be an object")
    if len(value) > _MAX_METADATA:
        raise Invalid(path, f"may hold at most {_MAX_METADATA} keys")
    return {str(key): item for key, item in value.items()}


def timestamp(data: Mapping[str, Any], path: str) -> datetime:
    """An ISO 8601 time with its UTC offset."""
    value = text(data, path)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(path, "must be an ISO 8601 time such as 2021-04-12T08:50:22+03:00") from None
    if parsed.tzinfo is None:
        raise Invalid(path, "must include a UTC offset")
    return parsed


def flag(data: Mapping[str, Any], path: str) -> bool:
    """An optional boolean (JSON true/false or the strings "true"/"false"); absent is false."""
    value = data.get(path)
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise Invalid(path, "must be true or false")


def count(data: Mapping[str, Any], path: str, *, default: int, most: int | None = None) -> int:
    """A whole number from 1 (to `most`), `default` when absent."""
    value = data.get(path, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or (most is not None and value > most):
        raise Invalid(path, "must be a whole number from 1" + (f" to {most}" if most is not None else ""))
    return value
