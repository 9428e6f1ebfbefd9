"""Building blocks shared by K2's status documents and webhook resources."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, ClassVar, TypeVar

import pydantic
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

__all__ = [
    "Amount",
    "OptionalAmount",
    "Errors",
    "Metadata",
    "OptionalText",
    "ListOrNull",
    "K2Model",
    "Money",
    "Disbursement",
    "TransferBatch",
    "StatusDocument",
    "flatten_document",
    "describe_error",
]


def _to_decimal(value: Any) -> Any:
    """K2 sends amounts as "100.0", 780 or 780.5; all become exact Decimals."""
    if value is None or isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise ValueError("not a number")
    if isinstance(value, (int, float, str)):
        try:
            return Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError(f"not a number: {value!r}") from None
    raise ValueError(f"not a number: {value!r}")


def _to_optional_decimal(value: Any) -> Any:
    """A missing amount arrives as null or "" (a blind transfer, an empty Daraja balance)."""
    return None if value is None or value == "" else _to_decimal(value)


def _to_errors(value: Any) -> list[str]:
    """`errors` arrives as null, a plain string, or a list of strings or objects."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = [value]
    if isinstance(value, list):
        return [item if isinstance(item, str) else str(item) for item in value]
    raise ValueError(f"not an error list: {value!r}")


def _to_metadata(value: Any) -> dict[str, str]:
    """Metadata is ours, echoed back: null becomes {}, values become strings."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError("metadata must be an object")
    return {str(key): "" if item is None else str(item) for key, item in value.items()}


def _blank_to_none(value: Any) -> Any:
    return None if value == "" else value


def _null_to_empty(value: Any) -> Any:
    """K2 sends `null` for a list with nothing in it yet (no batches, no disbursements)."""
    return [] if value is None else value


ItemT = TypeVar("ItemT")


Amount = Annotated[Decimal, BeforeValidator(_to_decimal)]
OptionalAmount = Annotated[Decimal | None, BeforeValidator(_to_optional_decimal)]
Errors = Annotated[list[str], BeforeValidator(_to_errors)]
Metadata = Annotated[dict[str, str], BeforeValidator(_to_metadata)]
OptionalText = Annotated[str | None, BeforeValidator(_blank_to_none)]
ListOrNull = Annotated[list[ItemT], BeforeValidator(_null_to_empty)]


class K2Model(BaseModel):
    """Immutable, tolerant of fields K2 adds later."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class Money(K2Model):
    """`{"currency", "value"}`; both null in a blind settlement transfer."""

    value: OptionalAmount = None
    currency: str | None = None


class Disbursement(K2Model):
    """One payout leg inside a transfer batch."""

    amount: Amount
    status: str
    destination_type: str | None = None
    destination_reference: str | None = None
    transaction_reference: str | None = None
    origination_time: datetime | None = None
    errors: Errors = Field(default_factory=list)


class TransferBatch(K2Model):
    """A group of disbursements K2 sent together."""

    status: str
    amount: OptionalAmount = None
    disbursements: ListOrNull[Disbursement] = Field(default_factory=list)


class StatusDocument(K2Model):
    """`{"data": {"id", "type", "attributes"}}`: what a GET of a Location returns and what the result callback posts.

    Subclasses set `resource_type`; this base class also stands for result types K2 adds later."""

    resource_type: ClassVar[str | None] = None

    id: str
    type: str
    status: str
    metadata: Metadata = Field(default_factory=dict)
    callback_url: str | None = None
    self_url: str | None = None
    errors: Errors = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _flatten(cls, value: Any) -> Any:
        return flatten_document(value, cls.resource_type)


def flatten_document(value: Any, resource_type: str | None) -> Any:
    """Lift `data.attributes` and `_links` to the top so fields read plainly; idempotent."""
    if not isinstance(value, dict) or "data" not in value:
        return value
    data = value["data"]
    if not isinstance(data, dict):
        raise ValueError("data must be an object")
    attributes = data.get("attributes")
    if not isinstance(attributes, dict):
        raise ValueError("data.attributes must be an object")
    links = attributes.get("_links") or {}
    if resource_type is not None and data.get("type") != resource_type:
        raise ValueError(f"data.type is {data.get('type')!r}, expected {resource_type!r}")
    return {
        **attributes,
        "id": data.get("id"),
        "type": data.get("type"),
        "callback_url": links.get("callback_url"),
        "self_url": links.get("self"),
    }


def describe_error(err: pydantic.ValidationError, *, within: str = "") -> str:
    """The first problem of a parse, with its dotted path (under `within`), in words; the count of any others."""
    problems = err.errors()
    first = problems[0]
    where = ".".join(part for part in (within, *(str(part) for part in first["loc"])) if part)
    message = first["msg"].removeprefix("Value error, ")
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{where}: {message}{more}" if where else f"{message}{more}"
