"""STK push status and result: the outcome lives in `event.resource` / `event.errors`."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from pydantic import model_validator

from ._common import Amount, K2Model, OptionalText, StatusDocument, flatten_document

__all__ = ["IncomingPayment", "IncomingPaymentResource"]


class IncomingPaymentResource(K2Model):
    """The M-Pesa payment an STK push produced; present only on success."""

    id: str | None = None
    reference: OptionalText = None
    amount: Amount
    currency: str = "KES"
    till_number: OptionalText = None
    system: OptionalText = None
    status: str | None = None
    origination_time: datetime | None = None
    sender_phone_number: OptionalText = None
    sender_first_name: OptionalText = None
    sender_middle_name: OptionalText = None
    sender_last_name: OptionalText = None


class IncomingPayment(StatusDocument):
    """An STK push request: `Pending`, then `Success` (with `resource`) or `Failed` (with `errors`)."""

    resource_type: ClassVar[str] = "incoming_payment"

    initiation_time: datetime | None = None
    resource: IncomingPaymentResource | None = None

    @model_validator(mode="before")
    @classmethod
    def _lift_event(cls, value: Any) -> Any:
        """`event.resource` and `event.errors` carry the outcome; lift them beside `status`."""
        value = flatten_document(value, cls.resource_type)
        if isinstance(value, dict) and isinstance(value.get("event"), dict):
            event = value["event"]
            return {**value, "resource": event.get("resource"), "errors": event.get("errors")}
        return value
