"""Field rules for request models: bad input is refused before anything is sent, naming the field."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import pydantic
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, PlainSerializer
from pydantic_core import PydanticCustomError

from .._exceptions import RequestValidationError
from ..phones import kenyan_mobile

__all__ = [
    "RequestModel",
    "KenyanPhone",
    "KesAmount",
    "Currency",
    "OnlineTill",
    "TillNumber",
    "Text",
    "Email",
    "CallbackUrl",
    "RequestMetadata",
    "Network",
    "SettlementMethod",
    "EventScope",
    "MAX_METADATA_KEYS",
    "require_scope_reference",
    "refuse",
    "money",
    "links",
    "present",
]

MAX_METADATA_KEYS = 5
_ONLINE_TILL = re.compile(r"K\d{4,10}")
_TILL = re.compile(r"\d{4,10}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_CENT = Decimal("0.01")


def refuse(message: str) -> PydanticCustomError:
    """The error a field rule raises: its message is shown as is, after the field's name."""
    return PydanticCustomError("k2_request", message)


def _kenyan_phone(value: Any) -> str:
    """M-Pesa reaches Kenyan mobiles only; K2 wants E.164 (+2547…, +2541…)."""
    if not isinstance(value, str):
        raise refuse("must be a string such as 0712345678 or +254712345678")
    e164 = kenyan_mobile(value)
    if e164 is None:
        raise refuse(f"{value!r} is not a Kenyan mobile number (write 07…, 01…, 2547… or +2547…)")
    return e164


def _kes_amount(value: Any) -> Decimal:
    """Money is exact: a Decimal (or int, or numeric string), positive, whole cents."""
    if isinstance(value, bool) or isinstance(value, float):
        raise refuse("pass a Decimal or a string such as '100.50', never a float")
    if isinstance(value, int):
        value = Decimal(value)
    elif isinstance(value, str):
        try:
            value = Decimal(value.strip())
        except InvalidOperation:
            raise refuse(f"{value!r} is not a number") from None
    if not isinstance(value, Decimal):
        raise refuse("must be a Decimal")
    if not value.is_finite() or value <= 0:
        raise refuse(f"must be a positive amount of KES, got {value}")
    try:
        cents = value.quantize(_CENT)
    except InvalidOperation:
        raise refuse(f"{value} is too large") from None
    if cents != value:
        raise refuse(f"{value} has more than 2 decimal places")
    return value if value.as_tuple().exponent in (0, -1, -2) else cents


def _online_till(value: str) -> str:
    """STK push goes to an Online Payments till, which K2 numbers with a K prefix (K000000)."""
    till = value.upper()
    if not _ONLINE_TILL.fullmatch(till):
        raise refuse(f"{value!r} is not an online payments till number (K followed by digits, e.g. K000000)")
    return till


def _till(value: str) -> str:
    if not _TILL.fullmatch(value):
        raise refuse(f"{value!r} is not a till number (digits only, e.g. 555555)")
    return value


def _text(value: str) -> str:
    if not value:
        raise refuse("must not be empty")
    return value


def _email(value: str) -> str:
    if not _EMAIL.fullmatch(value):
        raise refuse(f"{value!r} is not an email address")
    return value


def _callback_url(value: str) -> str:
    """K2 posts results here, so it must be an absolute http(s) URL it can reach."""
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise refuse(f"{value!r} is not an absolute http(s) URL")
    return value


def _metadata(value: dict[str, str]) -> dict[str, str]:
    if len(value) > MAX_METADATA_KEYS:
        raise refuse(f"has {len(value)} keys; K2 accepts at most {MAX_METADATA_KEYS}")
    if any(not key for key in value):
        raise refuse("keys must not be empty")
    return value


KenyanPhone = Annotated[str, BeforeValidator(_kenyan_phone)]
KesAmount = Annotated[
    Decimal, BeforeValidator(_kes_amount), PlainSerializer(lambda value: format(value, "f"), when_used="json")
]
Currency = Literal["KES"]
Text = Annotated[str, AfterValidator(_text)]
OnlineTill = Annotated[str, AfterValidator(_online_till)]
TillNumber = Annotated[str, AfterValidator(_till)]
Email = Annotated[str, AfterValidator(_email)]
CallbackUrl = Annotated[str, AfterValidator(_callback_url)]
RequestMetadata = Annotated[dict[str, str], AfterValidator(_metadata)]
Network = Annotated[str, AfterValidator(_text)]
SettlementMethod = Literal["EFT", "RTS"]
EventScope = Literal["till", "company"]


def require_scope_reference(scope: EventScope, scope_reference: str | None) -> None:
    """A till scope means one till, so K2 needs its number; a company scope takes none."""
    if scope == "till" and not scope_reference:
        raise RequestValidationError("scope_reference", "the till number is required when scope is 'till'")


class RequestModel(BaseModel):
    """A request body checked on construction; any problem raises `RequestValidationError` naming the field."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except pydantic.ValidationError as err:
            raise _request_error(err) from None

    def wire(self) -> dict[str, Any]:
        """The JSON K2 expects: wire names, amounts as exact strings, unset optionals left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


_MESSAGES = {"missing": "is required", "extra_forbidden": "is not a field of this request"}


def _request_error(err: pydantic.ValidationError) -> RequestValidationError:
    """The first problem, with its dotted path as the field; the count of any others."""
    problems = err.errors()
    first = problems[0]
    path = [str(part) for part in first["loc"]]
    raised = first.get("ctx", {}).get("error")
    if isinstance(raised, RequestValidationError):
        # Raised by a model validator or by a nested request model's own __init__: keep its field, add the path.
        path.append(raised.field)
        message = str(raised).removeprefix(f"{raised.field}: ")
    else:
        message = _MESSAGES.get(first["type"], first["msg"].removeprefix("Value error, "))
    field = ".".join(path) or "request"
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return RequestValidationError(field, f"{message}{more}")


def money(flat: dict[str, Any]) -> dict[str, Any]:
    """K2's `{"currency", "value"}` from a dumped model's `currency` and `amount`."""
    return {"currency": flat["currency"], "value": flat["amount"]}


def links(flat: dict[str, Any]) -> dict[str, Any]:
    """K2's `_links` block from a dumped model's `callback_url`."""
    return {"callback_url": flat["callback_url"]}


def present(flat: dict[str, Any], *keys: str) -> dict[str, Any]:
    """The optional fields that were given, under their own names."""
    return {key: flat[key] for key in keys if key in flat}
